using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace AlphabetLstm.Cli.Tests;

/// <summary>
/// <c>experiment --jobs N</c>, <c>experiment --shard K/N</c> and <c>merge</c>, end to end: the files
/// are the same whatever the spread, except the timings, and parts that do not belong together
/// are refused with one line naming what is wrong.
/// </summary>
public partial class FanOutCliTests
{
    private static readonly string[] Plan = ["experiment", "all", "--epochs", "3", "--seeds", "2", "--quiet"];

    [GeneratedRegex(@"""(trainSeconds|wallSeconds)"": [0-9.E+-]+")]
    private static partial Regex JsonTiming();

    [GeneratedRegex(@"\d+(\.\d+)? s\b( \(the sum of \d+ shards' wall times\))?")]
    private static partial Regex SecondsInText();

    [GeneratedRegex(@"(?m)\| [0-9.]+ \|$")]
    private static partial Regex SecondsColumn();

    /// <summary>The progress lines' rate and time left: "69 steps/s  0.7s left".</summary>
    [GeneratedRegex(@"  [0-9,]+ steps/s|  (\?|[0-9][0-9hms. ]*) left")]
    private static partial Regex ProgressRate();

    /// <summary>Every file of a report folder, timings blanked in the text files, pictures as they are.</summary>
    private static Dictionary<string, string> Folder(string dir) =>
        Directory.GetFiles(dir).ToDictionary(
            f => Path.GetFileName(f),
            f => f.EndsWith(".png") ? Convert.ToBase64String(File.ReadAllBytes(f)) : Untimed(File.ReadAllText(f)));

    private static string Untimed(string text) =>
        ProgressRate().Replace(SecondsColumn().Replace(SecondsInText().Replace(JsonTiming().Replace(text, "\"$1\": T"), "T s"), "| T |"), "");

    private static void AssertSameFolders(string expected, string actual)
    {
        var (a, b) = (Folder(expected), Folder(actual));
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var name in a.Keys) Assert.True(a[name] == b[name], $"{name} differs");
    }

    private static CliResult Ok(string dir, params string[] args)
    {
        var r = CliProcess.Run(dir, args);
        Assert.True(r.ExitCode == 0, r.Stderr);
        return r;
    }

    [Fact]
    public void Two_jobs_write_the_same_report_json_pictures_and_console_lines_as_one()
    {
        using var dir = new TempFolder();
        string[] plan = ["experiment", "all", "--epochs", "3", "--seeds", "2"];
        var one = Ok(dir.Path, [.. plan, "--jobs", "1", "--out", "one"]);
        var two = Ok(dir.Path, [.. plan, "--jobs", "2", "--out", "two"]);
        AssertSameFolders(dir["one"], dir["two"]);
        Assert.Contains("\"timing\": \"trainSeconds is the wall time", File.ReadAllText(dir["two/results.json"]));
        // Each run's lines together, in plan order.
        Assert.Equal(Untimed(one.Stdout).Replace("one/", "DIR/").Replace("in one:", "in DIR:"), Untimed(two.Stdout).Replace("two/", "DIR/").Replace("in two:", "in DIR:"));
        Assert.Contains("== variable-length: Variable-length input to one char (seed 2)", two.Stdout);
    }

    private static void Shards(TempFolder dir, int count, params string[] extra)
    {
        for (var k = 0; k < count; k++)
            Ok(dir.Path, [.. Plan, .. extra, "--shard", $"{k}/{count}", "--json", $"s{k}.json"]);
    }

    [Fact]
    public void Merged_shards_give_the_report_and_json_of_one_unsharded_run()
    {
        using var dir = new TempFolder();
        Ok(dir.Path, [.. Plan, "--jobs", "1", "--out", "whole"]);
        Shards(dir, 3);
        var merged = Ok(dir.Path, "merge", "s2.json", "s0.json", "s1.json", "--out", "merged", "--json", "merged.json");
        AssertSameFolders(dir["whole"], dir["merged"]);
        Assert.Equal(File.ReadAllText(dir["merged/results.json"]), File.ReadAllText(dir["merged.json"]));
        Assert.Contains("| variable-length | 98.90% |", merged.Stdout);
        // A shard holds only its share: run k of the plan goes to shard k mod 3.
        var shard0 = JsonNode.Parse(File.ReadAllText(dir["s0.json"]))!;
        Assert.Equal(4, shard0["runs"]!.AsArray().Count);
        Assert.Equal("0", shard0["shard"]!["index"]!.ToJsonString());
    }

    [Fact]
    public void A_missing_shard_is_refused_naming_the_first_missing_run_and_the_shard()
    {
        using var dir = new TempFolder();
        Shards(dir, 3);
        var r = CliProcess.Run(dir.Path, "merge", "s0.json", "s2.json", "--out", "merged");
        CliProcess.AssertCleanError(r, 1, "run one-char seed 2 (and 3 more) is missing", "no part is shard 1/3");
        Assert.False(Directory.Exists(dir["merged"]), "nothing is written, not even the folder");
    }

    [Fact]
    public void A_shard_given_twice_and_a_run_in_two_parts_are_refused()
    {
        using var dir = new TempFolder();
        Shards(dir, 2);
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "merge", "s0.json", "s1.json", "s0.json"), 1, "shard 0/2 is given twice");

        // Shard 1 with one of shard 0's runs copied in.
        var s0 = JsonNode.Parse(File.ReadAllText(dir["s0.json"]))!;
        var s1 = JsonNode.Parse(File.ReadAllText(dir["s1.json"]))!;
        s1["runs"]!.AsArray().Add(s0["runs"]![1]!.DeepClone());
        File.WriteAllText(dir["s1.json"], s1.ToJsonString());
        var r = CliProcess.Run(dir.Path, "merge", "s0.json", "s1.json", "--json", "m.json");
        CliProcess.AssertCleanError(r, 1, "run feature-window seed 1 is doubled", "'s0.json'", "'s1.json'");
        Assert.False(File.Exists(dir["m.json"]));
    }

    [Fact]
    public void Parts_with_other_settings_or_another_program_version_are_refused()
    {
        using var dir = new TempFolder();
        Shards(dir, 2);
        Ok(dir.Path, "experiment", "all", "--epochs", "4", "--seeds", "2", "--quiet", "--shard", "1/2", "--json", "other.json");
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "merge", "s0.json", "other.json"), 1, "'other.json'", "different runs", "epochs 4 vs 3");

        var s1 = JsonNode.Parse(File.ReadAllText(dir["s1.json"]))!;
        s1["program"] = "alphabet-lstm 0.9.0";
        File.WriteAllText(dir["s1.json"], s1.ToJsonString());
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "merge", "s0.json", "s1.json"), 1, "'s1.json' was written by alphabet-lstm 0.9.0");
    }

    [Fact]
    public void A_file_that_is_not_a_results_file_is_refused_by_name()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["model.json"], "{ \"format\": \"alphabet-lstm-model\", \"version\": 1 }");
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "merge", "model.json"), 1, "'model.json'", "expected \"alphabet-lstm-results\"");
    }

    [Theory]
    [InlineData("3/3")]
    [InlineData("1")]
    [InlineData("-1/2")]
    [InlineData("a/b")]
    public void A_bad_shard_is_a_usage_error_naming_the_value(string shard)
    {
        using var dir = new TempFolder();
        var r = CliProcess.Run(dir.Path, "experiment", "one-char", "--shard", shard, "--json", "s.json");
        CliProcess.AssertCleanError(r, 2, "--shard", $"'{shard}'");
        Assert.Empty(dir.Files());
    }

    [Fact]
    public void A_shard_without_json_is_a_usage_error()
    {
        using var dir = new TempFolder();
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "experiment", "one-char", "--shard", "0/2"), 2, "--shard needs --json");
    }
}

/// <c>--threads N</c> end to end: a step split across threads trains the same model, byte for byte.
public class ThreadsCliTests
{
    // batch-state with 128 units: 25 rows × 4·128 × 128 multiply-adds per step, above the threshold
    // at which a step is split (the tutorial's own sizes never are).
    private static readonly string[] Large = ["batch-state", "--units", "128", "--epochs", "4", "--seed", "5"];

    [Fact]
    public void Train_with_two_threads_writes_the_model_file_of_one_thread_byte_for_byte()
    {
        using var dir = new TempFolder();
        var one = CliProcess.Run(dir.Path, ["train", .. Large, "--threads", "1", "--save", "one.json", "--quiet"]);
        var two = CliProcess.Run(dir.Path, ["train", .. Large, "--threads", "2", "--save", "two.json", "--quiet"]);
        Assert.True(one.ExitCode == 0, one.Stderr);
        Assert.True(two.ExitCode == 0, two.Stderr);
        Assert.Equal(File.ReadAllBytes(dir["one.json"]), File.ReadAllBytes(dir["two.json"]));
    }

    [Fact]
    public void A_text_run_with_two_threads_writes_the_model_file_of_one_thread_byte_for_byte()
    {
        using var dir = new TempFolder();
        // 16 streams of 64 units: 16 × 4·64 × 64 multiply-adds a step, split in two.
        File.WriteAllText(dir["t.txt"], string.Concat(Enumerable.Repeat("the quick brown fox jumps over the lazy dog. ", 40)));
        string[] run = ["train", "--text", "t.txt", "--units", "64", "--batch-size", "16", "--window", "5", "--epochs", "2", "--stateful", "--quiet"];
        var one = CliProcess.Run(dir.Path, [.. run, "--threads", "1", "--save", "one.json"]);
        var two = CliProcess.Run(dir.Path, [.. run, "--threads", "2", "--save", "two.json"]);
        Assert.True(one.ExitCode == 0, one.Stderr);
        Assert.True(two.ExitCode == 0, two.Stderr);
        Assert.Equal(File.ReadAllBytes(dir["one.json"]), File.ReadAllBytes(dir["two.json"]));
    }

    [Fact]
    public void Experiment_with_two_threads_writes_the_json_of_one_thread_except_the_timings()
    {
        using var dir = new TempFolder();
        static string Untimed(string path) =>
            System.Text.RegularExpressions.Regex.Replace(File.ReadAllText(path), @"""trainSeconds"": [0-9.E+-]+", "");
        var one = CliProcess.Run(dir.Path, ["experiment", .. Large, "--threads", "1", "--json", "one.json", "--quiet"]);
        var two = CliProcess.Run(dir.Path, ["experiment", .. Large, "--threads", "2", "--json", "two.json", "--quiet"]);
        Assert.True(one.ExitCode == 0, one.Stderr);
        Assert.True(two.ExitCode == 0, two.Stderr);
        Assert.Equal(Untimed(dir["one.json"]), Untimed(dir["two.json"]));
    }
}
