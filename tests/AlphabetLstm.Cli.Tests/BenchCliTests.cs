using System.Text.Json;

namespace AlphabetLstm.Cli.Tests;

/// <summary>
/// The <c>bench</c> command end to end on tiny work: what it prints and writes, and its errors. It checks
/// the shape of the output, never a speed (speed lives in the benchmark itself).
/// </summary>
public class BenchCliTests
{
    [Fact]
    public void A_tiny_bench_prints_both_tables_and_writes_json_with_every_figure()
    {
        using var dir = new TempFolder();
        var r = CliProcess.Run(dir.Path, "bench", "--experiments", "one-char", "--epochs", "2", "--grid", "1x4x2x3",
                               "--repeats", "1", "--seconds", "0.01", "--json", "bench.json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("| one-char | 2 | 50 |", r.Stdout);
        Assert.Contains("| 1 | 4 | 2 | 3 |", r.Stdout);
        using var json = JsonDocument.Parse(File.ReadAllText(dir["bench.json"]));
        var experiment = json.RootElement.GetProperty("experiments")[0];
        Assert.Equal("one-char", experiment.GetProperty("id").GetString());
        Assert.Equal(50, experiment.GetProperty("steps").GetInt64());
        Assert.True(experiment.GetProperty("microsecondsPerStep").GetDouble() > 0);
        var point = json.RootElement.GetProperty("grid")[0];
        Assert.Equal(4, point.GetProperty("units").GetInt32());
        Assert.True(point.GetProperty("stepsPerSecond").GetDouble() > 0);
        Assert.True(point.GetProperty("bytesPerStep").GetDouble() >= 0);
        Assert.True(json.RootElement.GetProperty("machine").GetProperty("processorCount").GetInt32() >= 1);
    }

    [Theory]
    [InlineData("--experiments", "alphabet-soup", "alphabet-soup")]
    [InlineData("--grid", "9", "1..4")]
    [InlineData("--grid", "1x0x1x1", "IxHxBxT")]
    [InlineData("--seconds", "-1", "--seconds")]
    public void A_bad_choice_is_a_usage_error_naming_it(string option, string value, string fragment)
    {
        using var dir = new TempFolder();
        var r = CliProcess.Run(dir.Path, "bench", option, value);
        CliProcess.AssertCleanError(r, 2, fragment);
    }
}
