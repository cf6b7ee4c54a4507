using System.Globalization;
using System.Text.Json;

namespace AlphabetLstm.Cli.Tests;

/// <summary>
/// The <c>bench</c> command end to end on tiny work: what it prints and writes, and its errors. It checks
/// the shape of the output, never a speed (speed lives in the benchmark itself).
/// </summary>
public class BenchCliTests
{
    /// <summary>Runs <c>bench</c> with <paramref name="args"/> and <c>--json bench.json</c>; it must succeed.</summary>
    private static (CliResult Run, JsonDocument Json) Bench(TempFolder dir, params string[] args)
    {
        var r = CliProcess.Run(dir.Path, ["bench", .. args, "--json", "bench.json"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        return (r, JsonDocument.Parse(File.ReadAllText(dir["bench.json"])));
    }

    [Fact]
    public void A_tiny_bench_prints_both_tables_and_writes_json_with_every_figure()
    {
        using var dir = new TempFolder();
        var (r, json) = Bench(dir, "--experiments", "one-char", "--epochs", "2", "--grid", "1x4x2x3", "--repeats", "1", "--seconds", "0.01");
        using var _ = json;
        Assert.Contains("| one-char | 2 | 50 |", r.Stdout);
        Assert.Contains("| 1 | 4 | 2 | 3 |", r.Stdout);
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

    [Fact]
    public void Phases_break_a_step_into_its_stages_and_go_into_the_json()
    {
        using var dir = new TempFolder();
        var (r, json) = Bench(dir, "--experiments", "stateful", "--epochs", "1", "--grid", "none", "--repeats", "1", "--phases");
        using var _ = json;
        Assert.Contains("| experiment | I, H, B, T | params | forward | head fwd | head bwd | BPTT | Adam |", r.Stdout);
        var stages = json.RootElement.GetProperty("phases")[0];
        Assert.Equal("stateful", stages.GetProperty("id").GetString());
        Assert.Equal(11726, stages.GetProperty("parameters").GetInt32());
        foreach (var name in new[] { "forward", "headForward", "headBackward", "bptt", "adam", "sqrtDivide" })
            Assert.True(stages.GetProperty(name).GetDouble() > 0, name);
        // The table prints the JSON's figures, each under its own column of the header.
        string Figure(string name) => stages.GetProperty(name).GetDouble().ToString("0.0", CultureInfo.InvariantCulture);
        Assert.Contains($"| stateful | 1, 50, 1, 1 | 11,726 | {Figure("forward")} | {Figure("headForward")} | {Figure("headBackward")} | "
                      + $"{Figure("bptt")} | {Figure("adam")} | {Figure("sqrtDivide")} | {Figure("sum")} |", r.Stdout);
    }

    [Fact]
    public void The_kernel_step_is_timed_in_both_precisions_beside_the_fma_ceiling()
    {
        using var dir = new TempFolder();
        var (r, json) = Bench(dir, "--experiments", "none", "--grid", "3x8x4x3", "--repeats", "1", "--seconds", "0.01", "--threads", "1",
                              "--kernel-precision", "both");
        using var _ = json;
        Assert.Contains("| I | H | B | T | precision | steps/run | steps/s | ms/step | GFLOP/s | of the ceiling | × float64 |", r.Stdout);
        var kernels = json.RootElement.GetProperty("kernels");
        Assert.Equal(["float64", "float32"], kernels.GetProperty("ceilings").EnumerateArray().Select(c => c.GetProperty("precision").GetString()));
        Assert.Equal(["float64", "float32"], kernels.GetProperty("steps").EnumerateArray().Select(c => c.GetProperty("precision").GetString()));
        foreach (var step in kernels.GetProperty("steps").EnumerateArray())
        {
            Assert.Equal(8, step.GetProperty("units").GetInt32());
            Assert.True(step.GetProperty("stepsPerSecond").GetDouble() > 0);
            Assert.True(step.GetProperty("gigaflopsPerSecond").GetDouble() > 0);
        }
        Assert.Contains("| 3 | 8 | 4 | 3 | float32 |", r.Stdout);
    }

    [Fact]
    public void An_unknown_kernel_precision_is_a_command_line_error()
    {
        using var dir = new TempFolder();
        var r = CliProcess.Run(dir.Path, ["bench", "--experiments", "none", "--grid", "none", "--kernel-precision", "float16"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--kernel-precision expects none, float64, float32 or both, got 'float16'", r.Stderr);
    }

    [Fact]
    public void The_grid_is_timed_at_one_thread_and_at_the_threads_asked_for_and_says_so()
    {
        using var dir = new TempFolder();
        var (r, json) = Bench(dir, "--experiments", "none", "--grid", "1x4x2x3", "--repeats", "1", "--seconds", "0.01", "--threads", "3");
        using var _ = json;
        Assert.Contains("the grid on 1 and 3 thread(s) per step", r.Stdout);
        Assert.Equal([1, 3], json.RootElement.GetProperty("grid").EnumerateArray().Select(g => g.GetProperty("threads").GetInt32()));
        Assert.Contains("| 1 | 4 | 2 | 3 | 3 |", r.Stdout);
    }

    [Fact]
    public void The_text_workload_trains_stateful_streams_on_a_generated_text_and_reports_seconds_per_epoch()
    {
        using var dir = new TempFolder();
        var (r, json) = Bench(dir, "--experiments", "none", "--grid", "none", "--text", "3000x8x4x10", "--repeats", "2");
        using var _ = json;
        Assert.Contains("| characters | distinct | H | B | T | samples | steps/epoch | prepare s | s/epoch | characters/s | CPU s/epoch |", r.Stdout);
        var text = json.RootElement.GetProperty("text");
        Assert.Equal(3000, text.GetProperty("characters").GetInt32());
        // The last 300 characters held out; 4 streams of 675 characters, (675 − 1) / 10 = 67 chunks each.
        Assert.Equal(4 * 67, text.GetProperty("samples").GetInt32());
        Assert.Equal(67, text.GetProperty("stepsPerEpoch").GetInt32());
        Assert.Equal(2, text.GetProperty("epochSeconds").GetArrayLength());
        Assert.True(text.GetProperty("secondsPerEpoch").GetDouble() > 0);
        Assert.True(text.GetProperty("cpuSecondsPerEpoch").GetDouble() >= 0);
        Assert.Equal(268 * 10 / text.GetProperty("secondsPerEpoch").GetDouble(), text.GetProperty("charactersPerSecond").GetDouble(), 6);
    }

    [Fact]
    public void Precision_both_trains_the_grid_and_the_text_in_float64_and_in_float32()
    {
        using var dir = new TempFolder();
        var (r, json) = Bench(dir, "--experiments", "none", "--grid", "1x4x2x3", "--text", "3000x8x4x10", "--repeats", "1",
                              "--seconds", "0.01", "--threads", "1", "--precision", "both");
        using var _ = json;
        Assert.Equal(["float64", "float32"], json.RootElement.GetProperty("grid").EnumerateArray().Select(g => g.GetProperty("precision").GetString()));
        Assert.Contains("| 1 | 4 | 2 | 3 | 1 | float32 |", r.Stdout);
        Assert.Equal(["float64", "float32"], json.RootElement.GetProperty("texts").EnumerateArray().Select(t => t.GetProperty("precision").GetString()));
        Assert.Contains("text in float32: train --text --stateful", r.Stdout);
        Assert.Contains("each stage alone in float32", r.Stdout);
        foreach (var t in json.RootElement.GetProperty("texts").EnumerateArray())
            Assert.True(t.GetProperty("secondsPerEpoch").GetDouble() > 0);
    }

    [Fact]
    public void The_generated_text_has_exactly_the_length_asked_and_depends_only_on_the_seed()
    {
        Assert.Equal(5000, BenchText.Generate(5000, 3).Length);
        Assert.Equal(BenchText.Generate(5000, 3), BenchText.Generate(5000, 3));
        Assert.NotEqual(BenchText.Generate(5000, 3), BenchText.Generate(5000, 4));
        Assert.InRange(AlphabetLstm.Core.Vocabulary.OfText(BenchText.Generate(100_000, 1)).Count, 25, 60);
    }

    [Theory]
    [InlineData("--text", "2mb", "--text expects none, 1mb or CHARSxHxBxT")]
    [InlineData("--experiments", "alphabet-soup", "alphabet-soup")]
    [InlineData("--grid", "9", "1..4")]
    [InlineData("--grid", "1x0x1x1", "IxHxBxT")]
    [InlineData("--seconds", "-1", "--seconds")]
    [InlineData("--precision", "float16", "--precision expects float64, float32 or both, got 'float16'")]
    public void A_bad_choice_is_a_usage_error_naming_it(string option, string value, string fragment)
    {
        using var dir = new TempFolder();
        var r = CliProcess.Run(dir.Path, "bench", option, value);
        CliProcess.AssertCleanError(r, 2, fragment);
    }
}
