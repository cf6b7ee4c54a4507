using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using static AlphabetLstm.Cli.Tests.SweepFiles;

namespace AlphabetLstm.Cli.Tests;

/// <summary>
/// <c>sweep</c> end to end: a sharded sweep merges to the unsharded one (table, JSON and pictures),
/// <c>--jobs</c> changes nothing but timings, and bad grids are refused with one line.
/// </summary>
public partial class SweepCliTests
{
    private static readonly string[] Grid = ["sweep", "one-char", "--units", "4,8", "--learning-rate", "0.01,0.003", "--epochs", "3", "--seeds", "2", "--quiet"];

    [Fact]
    public void A_sharded_sweep_merges_to_the_table_json_and_pictures_of_the_unsharded_one()
    {
        using var dir = new TempFolder();
        var whole = Ok(dir.Path, [.. Grid, "--jobs", "1", "--out", "whole"]);
        for (var k = 0; k < 3; k++) Ok(dir.Path, [.. Grid, "--jobs", "2", "--shard", $"{k}/3", "--json", $"s{k}.json"]);
        var merged = Ok(dir.Path, "merge", "s1.json", "s2.json", "s0.json", "--out", "merged", "--json", "merged.json");

        var (a, b) = (Folder(dir["whole"]), Folder(dir["merged"]));
        Assert.Equal(["sweep-learning-rate.png", "sweep-units.png", "sweep.json", "sweep.md"], a.Keys.Order());
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var name in a.Keys) Assert.True(a[name] == b[name], $"{name} differs");
        Assert.Equal(File.ReadAllText(dir["merged/sweep.json"]), File.ReadAllText(dir["merged.json"]));

        // Four points of two seeds, point by point; shard k holds runs k, k+3, ...
        var runs = JsonNode.Parse(File.ReadAllText(dir["merged.json"]))!["runs"]!.AsArray();
        Assert.Equal(8, runs.Count);
        Assert.Equal([0, 0, 1, 1, 2, 2, 3, 3], runs.Select(r => (int)r!["point"]!));
        Assert.Equal([4.0, 4, 4, 4, 8, 8, 8, 8], runs.Select(r => (double)r!["settings"]!["units"]!));
        Assert.Equal([0.01, 0.01, 0.003, 0.003, 0.01, 0.01, 0.003, 0.003], runs.Select(r => (double)r!["settings"]!["learning-rate"]!));
        var s1 = JsonNode.Parse(File.ReadAllText(dir["s1.json"]))!["runs"]!.AsArray();
        Assert.Equal([(0, 2L), (2, 1L), (3, 2L)], s1.Select(r => ((int)r!["point"]!, (long)r!["seed"]!)));

        // The console table is the same too, row for row.
        var table = new Regex(@"(?m)^\|.*\|$");
        Assert.Equal(table.Matches(Untimed(whole.Stdout)).Select(m => m.Value), table.Matches(Untimed(merged.Stdout)).Select(m => m.Value));
        Assert.Contains("| point | units | learning-rate | epochs | accuracy: min / median / max |", whole.Stdout);
    }

    [Fact]
    public void Merge_names_the_shards_to_run_again_and_refuses_a_sweep_with_another_grid()
    {
        using var dir = new TempFolder();
        for (var k = 0; k < 3; k++) Ok(dir.Path, [.. Grid, "--shard", $"{k}/3", "--json", $"s{k}.json"]);
        Assert.Equal("1\n", Ok(dir.Path, "merge", "--missing-shards", "s0.json", "s2.json").Stdout);
        Assert.Equal("\n", Ok(dir.Path, "merge", "--missing-shards", "s0.json", "s1.json", "s2.json").Stdout);
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "merge", "s0.json", "s2.json", "--out", "m"), 1,
            "run point 0 seed 2 (and 2 more) is missing: no part is shard 1/3");
        Assert.False(Directory.Exists(dir["m"]));

        Ok(dir.Path, "sweep", "one-char", "--units", "4,16", "--learning-rate", "0.01,0.003", "--epochs", "3", "--seeds", "2", "--quiet", "--shard", "1/3", "--json", "other.json");
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "merge", "s0.json", "other.json", "s2.json"), 1,
            "'other.json' and 's0.json' come from different runs: grid units 4, 16; learning-rate 0.01, 0.003; epochs 3 vs units 4, 8; learning-rate 0.01, 0.003; epochs 3");
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "merge", "--missing-shards", "s0.json", "--out", "m"), 2, "--missing-shards only lists");

        // A part whose run does not match its point, or names a point the grid lacks, is refused by name.
        var s1 = JsonNode.Parse(File.ReadAllText(dir["s1.json"]))!;
        s1["runs"]![0]!["settings"]!["units"] = 5;
        File.WriteAllText(dir["bad1.json"], s1.ToJsonString());
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "merge", "s0.json", "bad1.json", "s2.json"), 1,
            "'bad1.json': runs[0].settings: expected point 0's values: units 4, learning-rate 0.01, epochs 3");
        s1["runs"]![0]!["point"] = 4;
        File.WriteAllText(dir["bad1.json"], s1.ToJsonString());
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "merge", "s0.json", "bad1.json", "s2.json"), 1, "'bad1.json': runs[0].point: 4, expected 0 to 3");
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "merge", "s0.json", "s1.json", "s2.json", "--json", "s1.json"), 1, "--json 's1.json' is the file part 2 reads");
    }

    [Theory]
    [InlineData(new[] { "sweep", "one-char", "--units", "4,0", "--json", "s.json" }, "units expects a whole number from 1 to 100,000 for each value, got '0'")]
    [InlineData(new[] { "sweep", "one-char", "--learning-rate", "fast", "--json", "s.json" }, "learning-rate expects a positive number for each value, got 'fast'")]
    [InlineData(new[] { "sweep", "one-char", "--seeds", "2", "--json", "s.json" }, "a sweep needs at least one setting with values")]
    [InlineData(new[] { "sweep", "stateful", "--batch-size", "1,2", "--json", "s.json" }, "stateful is stateful: its 25 samples must be a multiple of the batch size")]
    [InlineData(new[] { "sweep", "all", "--units", "4", "--json", "s.json" }, "unknown experiment \"all\"")]
    [InlineData(new[] { "sweep", "one-char", "--units", "4", "--shard", "0/2" }, "--shard needs --json")]
    public void A_bad_sweep_is_one_usage_error_line_and_writes_nothing(string[] args, string fragment)
    {
        using var dir = new TempFolder();
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, args), 2, fragment);
        Assert.Empty(dir.Files());
    }

    [Fact]
    public void A_grid_file_sweeps_like_the_same_options_and_its_bad_line_is_named()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["grid.txt"], "# two by two\nunits = 4, 8\nlearning-rate = 0.01, 0.003\nepochs = 3\n");
        Ok(dir.Path, "sweep", "one-char", "--grid", "grid.txt", "--seeds", "2", "--quiet", "--json", "file.json");
        Ok(dir.Path, [.. Grid, "--json", "options.json"]);
        Assert.Equal(Untimed(File.ReadAllText(dir["options.json"])), Untimed(File.ReadAllText(dir["file.json"])));

        File.WriteAllText(dir["bad.txt"], "units = 4\nheads = 2\n");
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "sweep", "one-char", "--grid", "bad.txt"), 2, "--grid 'bad.txt': line 2: unknown setting 'heads'");
        File.WriteAllText(dir["stack.txt"], "units = 4\nlayers = 2\n");
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "sweep", "one-char", "--grid", "stack.txt"), 2, "--grid 'stack.txt': line 2: layers can be swept for a text only");
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "sweep", "one-char", "--grid", "grid.txt", "--json", "grid.txt"), 1, "--json 'grid.txt' is the file --grid reads");
        Assert.StartsWith("# two by two", File.ReadAllText(dir["grid.txt"]));
    }
}

/// <summary>
/// A shard that dies: it leaves no results file (the JSON is written whole, at the end, under a
/// temporary name first), <c>merge --missing-shards</c> names it, and running that shard again
/// completes the merge.
/// </summary>
public class ShardFailureCliTests
{
    [Fact]
    public void A_shard_killed_mid_run_leaves_no_json_and_rerunning_the_named_shard_completes_the_merge()
    {
        using var dir = new TempFolder();
        // One run per shard, long enough (100 epochs of 1000 samples) to be killed in its first epochs.
        string[] plan = ["experiment", "variable-length", "--epochs", "100", "--seeds", "2", "--jobs", "1", "--quiet"];
        Assert.Equal(0, CliProcess.Run(dir.Path, [.. plan, "--shard", "0/2", "--json", "part-0.json"]).ExitCode);

        // Shard 1, killed (SIGKILL: no chance to tidy up) as soon as its run has started.
        using (var p = CliProcess.Start(dir.Path, [.. plan, "--shard", "1/2", "--json", "part-1.json"]))
        {
            var started = false;
            while (!started && p.StandardOutput.ReadLine() is { } line)
                started = line.StartsWith("== variable-length", StringComparison.Ordinal);
            Assert.True(started, "the shard never started its run");
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
        }
        Assert.Equal(["part-0.json"], Directory.GetFiles(dir.Path, "*.json").Select(Path.GetFileName));

        var missing = CliProcess.Run(dir.Path, "merge", "--missing-shards", "part-0.json");
        Assert.Equal("1\n", missing.Stdout);
        Assert.Equal(0, CliProcess.Run(dir.Path, [.. plan, "--shard", $"{missing.Stdout.Trim()}/2", "--json", "part-1.json"]).ExitCode);
        Assert.Equal("\n", CliProcess.Run(dir.Path, "merge", "--missing-shards", "part-0.json", "part-1.json").Stdout);
        Assert.Equal(0, CliProcess.Run(dir.Path, "merge", "part-0.json", "part-1.json", "--json", "merged.json").ExitCode);
    }

    [Fact]
    public void A_cut_off_results_file_is_refused_by_name_not_merged_as_a_whole_one()
    {
        using var dir = new TempFolder();
        string[] plan = ["experiment", "one-char", "--epochs", "3", "--seeds", "2", "--quiet"];
        for (var k = 0; k < 2; k++) Assert.Equal(0, CliProcess.Run(dir.Path, [.. plan, "--shard", $"{k}/2", "--json", $"part-{k}.json"]).ExitCode);
        var text = File.ReadAllText(dir["part-1.json"]);
        File.WriteAllText(dir["part-1.json"], text[..(text.Length / 2)]);
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "merge", "part-0.json", "part-1.json", "--out", "m"), 1, "'part-1.json'", "not valid JSON");
        Assert.False(Directory.Exists(dir["m"]));
    }
}
