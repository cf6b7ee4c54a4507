using System.Text.Json;

namespace AlphabetLstm.Cli.Tests;

/// <summary>The <c>experiment</c> command end to end: real process, exit codes, errors, files.</summary>
public class ExperimentCliTests
{
    [Fact]
    public void An_unknown_experiment_id_is_a_usage_error_that_lists_the_valid_ids()
    {
        using var dir = new TempFolder();
        var r = CliProcess.RunProcess(dir.Path, "experiment", "alphabet-soup");
        CliProcess.AssertCleanError(r, 2, "alphabet-soup", "one-char", "variable-length", "all");
    }

    [Theory]
    [InlineData("--epochs", "0")]
    [InlineData("--units", "-3")]
    [InlineData("--seeds", "0")]
    public void A_non_positive_count_is_a_usage_error_naming_the_value(string option, string value)
    {
        using var dir = new TempFolder();
        var r = CliProcess.Run(dir.Path, "experiment", "one-char", option, value);
        CliProcess.AssertCleanError(r, 2, option, value);
    }

    [Fact]
    public void A_missing_option_value_is_a_usage_error()
    {
        using var dir = new TempFolder();
        var r = CliProcess.Run(dir.Path, "experiment", "one-char", "--epochs");
        CliProcess.AssertCleanError(r, 2, "--epochs");
    }

    [Fact]
    public void An_unwritable_output_folder_fails_at_once_and_writes_nothing()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["blocker"], "a file where a folder should be");
        var r = CliProcess.Run(dir.Path, "experiment", "one-char", "--epochs", "2", "--out", Path.Combine(dir["blocker"], "report"));
        CliProcess.AssertCleanError(r, 1, "--out", "blocker");
        Assert.Equal(["blocker"], dir.Files());
        Assert.DoesNotContain("== one-char", r.Stdout);
    }

    [Fact]
    public void A_short_run_prints_the_seed_settings_and_patterns_and_writes_the_json_runs()
    {
        using var dir = new TempFolder();
        var r = CliProcess.Run(dir.Path, "experiment", "one-char", "--seed", "3", "--seeds", "2", "--epochs", "4", "--json", "out.json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("(seed 3)", r.Stdout);
        Assert.Contains("(seed 4)", r.Stdout);
        Assert.Contains("4 epochs, batch 1, shuffle", r.Stdout);
        Assert.Contains("tutorial 84.00%", r.Stdout);
        Assert.Matches(@"(?m)^\s+Y -> [A-Z]", r.Stdout);

        using var json = JsonDocument.Parse(File.ReadAllText(dir["out.json"]));
        var runs = json.RootElement.GetProperty("runs");
        Assert.Equal(2, runs.GetArrayLength());
        var first = runs[0];
        Assert.Equal("one-char", first.GetProperty("experiment").GetString());
        Assert.Equal(3, first.GetProperty("seed").GetInt64());
        Assert.Equal(4, first.GetProperty("epochs").GetInt32());
        Assert.Equal(32, first.GetProperty("units").GetInt32());
        Assert.Equal(25, first.GetProperty("predictions").GetArrayLength());
        Assert.InRange(first.GetProperty("accuracy").GetDouble(), 0.0, 1.0);
        Assert.False(first.TryGetProperty("generation", out _), "generation belongs to the stateful experiment only");
    }

    [Fact]
    public void The_same_seed_gives_the_same_numbers_in_two_processes()
    {
        using var dir = new TempFolder();
        var a = CliProcess.RunProcess(dir.Path, "experiment", "timestep-window", "--epochs", "3", "--json", "a.json", "--quiet");
        var b = CliProcess.RunProcess(dir.Path, "experiment", "timestep-window", "--epochs", "3", "--json", "b.json", "--quiet");
        Assert.Equal(0, a.ExitCode);
        Assert.Equal(0, b.ExitCode);
        static string Numbers(string path)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var run = doc.RootElement.GetProperty("runs")[0];
            return run.GetProperty("loss").GetRawText() + run.GetProperty("lossHistory").GetRawText();
        }
        Assert.Equal(Numbers(dir["a.json"]), Numbers(dir["b.json"]));
    }
}
