using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using static AlphabetLstm.Cli.Tests.SweepFiles;

namespace AlphabetLstm.Cli.Tests;

/// <summary>
/// <c>sweep --text</c> end to end on a tiny text (a few KB, 8 units, 1 epoch): sharded and merged,
/// or on two jobs, it gives the numbers of one process; bad command lines and parts that do not
/// belong together are one line each; a killed shard leaves no JSON.
/// </summary>
public partial class TextSweepCliTests
{
    private static readonly string[] Grid =
        ["sweep", "--text", "fox.txt", "--units", "4,8", "--window", "3,6", "--epochs", "1", "--seeds", "2", "--batch-size", "16", "--quiet"];

    [Fact]
    public void A_sharded_text_sweep_merges_to_the_unsharded_one_and_two_jobs_give_the_numbers_of_one()
    {
        using var dir = WithText();
        var whole = Ok(dir.Path, [.. Grid, "--jobs", "1", "--out", "whole"]);
        Ok(dir.Path, [.. Grid, "--jobs", "2", "--json", "jobs2.json"]);
        for (var k = 0; k < 3; k++) Ok(dir.Path, [.. Grid, "--jobs", "2", "--shard", $"{k}/3", "--json", $"s{k}.json"]);
        var merged = Ok(dir.Path, "merge", "s2.json", "s0.json", "s1.json", "--out", "merged", "--json", "merged.json");

        var (a, b) = (Folder(dir["whole"]), Folder(dir["merged"]));
        Assert.Equal(["sweep-units.png", "sweep-window.png", "sweep.json", "sweep.md"], a.Keys.Order());
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var name in a.Keys) Assert.True(a[name] == b[name], $"{name} differs");
        Assert.Equal(File.ReadAllText(dir["merged/sweep.json"]), File.ReadAllText(dir["merged.json"]));
        Assert.Equal(Untimed(File.ReadAllText(dir["whole/sweep.json"])), Untimed(File.ReadAllText(dir["jobs2.json"])));

        // The text's path and checksum, and four points of two seeds, point by point, each with its held-out losses.
        var json = JsonNode.Parse(File.ReadAllText(dir["merged.json"]))!;
        Assert.Equal("alphabet-lstm-text-sweep", (string)json["format"]!);
        Assert.Equal(Path.GetFullPath(dir["fox.txt"]), (string)json["settings"]!["text"]!);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(dir["fox.txt"]))), (string)json["settings"]!["sha256"]!);
        var runs = json["runs"]!.AsArray();
        Assert.Equal([0, 0, 1, 1, 2, 2, 3, 3], runs.Select(r => (int)r!["point"]!));
        Assert.Equal([3.0, 3, 6, 6, 3, 3, 6, 6], runs.Select(r => (double)r!["settings"]!["window"]!));
        Assert.Equal([1L, 2, 1, 2, 1, 2, 1, 2], runs.Select(r => (long)r!["seed"]!));
        foreach (var r in runs)
        {
            Assert.Equal((double)r!["heldOutLoss"]! / Math.Log(2), (double)r["heldOutBitsPerCharacter"]!, 12);
            Assert.Equal(1, (int)r["bestEpoch"]!);
            Assert.Equal((double)r["heldOutLoss"]!, (double)r["bestHeldOutLoss"]!);
        }
        // Different seeds and points train differently: the merge did not copy one run into every place.
        Assert.Equal(runs.Count, runs.Select(r => (double)r!["heldOutLoss"]!).Distinct().Count());

        var table = new Regex(@"(?m)^\|.*\|$");
        Assert.Equal(table.Matches(Untimed(whole.Stdout)).Select(m => m.Value), table.Matches(Untimed(merged.Stdout)).Select(m => m.Value));
        Assert.Contains("| point | units | window | batch-size | epochs | held-out bits/char: min / median / max |", whole.Stdout);
    }

    [Theory]
    [InlineData(new[] { "sweep", "--text", "fox.txt", "--units", "4", "--validation", "0", "--json", "s.json" }, "--validation 0 holds nothing out, but a text sweep compares the points by their held-out loss")]
    [InlineData(new[] { "sweep", "one-char", "--text", "fox.txt", "--units", "4", "--json", "s.json" }, "sweep takes an experiment id or --text FILE, not both")]
    [InlineData(new[] { "sweep", "--units", "4", "--json", "s.json" }, "sweep needs an experiment id (one of one-char, feature-window, timestep-window, batch-state, stateful, variable-length) or --text FILE")]
    [InlineData(new[] { "sweep", "one-char", "--units", "4", "--validation", "0.2", "--json", "s.json" }, "--validation goes with --text FILE, not with an experiment id")]
    [InlineData(new[] { "sweep", "--text", "fox.txt", "--units", "4", "--shard", "0/2" }, "--shard needs --json")]
    [InlineData(new[] { "sweep", "--text", "fox.txt", "--window", "3,0", "--json", "s.json" }, "window expects a whole number from 1 to 100,000,000 for each value, got '0'")]
    [InlineData(new[] { "sweep", "--text", "fox.txt", "--layers", "1,65", "--json", "s.json" }, "layers expects a whole number from 1 to 64 for each value, got '65'")]
    [InlineData(new[] { "sweep", "one-char", "--layers", "1,2", "--json", "s.json" }, "layers can be swept for a text only: the tutorial's experiments have one layer")]
    public void A_bad_text_sweep_command_line_is_one_usage_error_line_and_writes_nothing(string[] args, string fragment)
    {
        using var dir = WithText();
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, args), 2, fragment);
        Assert.Equal(["fox.txt"], dir.Files());
    }

    [Fact]
    public void A_layers_point_trains_the_stack_train_text_trains_with_the_same_settings()
    {
        using var dir = WithText();
        Ok(dir.Path, "sweep", "--text", "fox.txt", "--layers", "1,2", "--units", "4", "--epochs", "1", "--batch-size", "16", "--quiet", "--json", "s.json");
        var runs = JsonNode.Parse(File.ReadAllText(dir["s.json"]))!["runs"]!.AsArray();
        Assert.Equal([1.0, 2.0], runs.Select(r => (double)r!["settings"]!["layers"]!));
        // The two-layer point's held-out loss is the one train --text --layers 2 prints for the same settings.
        var train = Ok(dir.Path, "train", "--text", "fox.txt", "--layers", "2", "--units", "4", "--epochs", "1", "--batch-size", "16", "--save", "m.json");
        var loss = (double)runs[1]!["heldOutLoss"]!;
        Assert.Contains($"held-out {loss.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)} nats", train.Stdout);
        Assert.NotEqual(loss, (double)runs[0]!["heldOutLoss"]!);
    }

    [Fact]
    public void A_point_the_text_is_too_short_for_is_named_before_anything_trains()
    {
        using var dir = WithText();
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "sweep", "--text", "fox.txt", "--window", "3,2000", "--json", "s.json"), 1,
            "point 1 (window 2000): --text 'fox.txt': the training part has 1620 characters; a window of 2000 needs at least 2001");
        Assert.Equal(["fox.txt"], dir.Files());
    }

    [Fact]
    public void Merge_refuses_parts_of_another_text_and_names_the_missing_shard()
    {
        using var dir = WithText();
        File.WriteAllText(dir["dog.txt"], string.Concat(Enumerable.Repeat("the lazy dog sleeps. ", 80)));
        for (var k = 0; k < 3; k++) Ok(dir.Path, [.. Grid, "--shard", $"{k}/3", "--json", $"s{k}.json"]);
        string[] dog = [.. Grid.Select(a => a == "fox.txt" ? "dog.txt" : a), "--shard", "1/3", "--json", "dog1.json"];
        Ok(dir.Path, dog);

        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "merge", "s0.json", "dog1.json", "s2.json", "--out", "m"), 1,
            "'dog1.json' and 's0.json' come from different runs: another text:", "dog.txt' (SHA-256 ", "fox.txt' (SHA-256 ");
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "merge", "s0.json", "s2.json", "--out", "m"), 1,
            "run point 0 seed 2 (and 2 more) is missing: no part is shard 1/3");
        Assert.False(Directory.Exists(dir["m"]));
        Assert.Equal("1\n", Ok(dir.Path, "merge", "--missing-shards", "s0.json", "s2.json").Stdout);

        // The same grid read another way is another sweep; an experiment sweep's part is refused by its format.
        Ok(dir.Path, [.. Grid, "--stateful", "--shard", "1/3", "--json", "streams1.json"]);
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "merge", "s0.json", "streams1.json", "s2.json"), 1,
            "'streams1.json' and 's0.json' come from different runs: the text is read as streams, every targets");
        Ok(dir.Path, "sweep", "one-char", "--units", "4", "--epochs", "1", "--quiet", "--json", "experiment.json");
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "merge", "s0.json", "experiment.json"), 1,
            "'experiment.json': format: expected \"alphabet-lstm-text-sweep\"", "found \"alphabet-lstm-sweep\"");

        // A part whose run is not its point's is refused by name.
        var s1 = JsonNode.Parse(File.ReadAllText(dir["s1.json"]))!;
        s1["runs"]![0]!["settings"]!["window"] = 5;
        File.WriteAllText(dir["bad1.json"], s1.ToJsonString());
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "merge", "s0.json", "bad1.json", "s2.json"), 1,
            "'bad1.json': runs[0].settings: expected point 0's values: units 4, window 3, batch-size 16, epochs 1");
    }

    [Fact]
    public void A_text_sweep_shard_killed_mid_run_leaves_no_json_and_merge_names_it()
    {
        using var dir = WithText();
        // Shard 1's one run is long (many epochs), so it is killed while it trains.
        string[] plan = ["sweep", "--text", "fox.txt", "--units", "4", "--epochs", "1,2000", "--seeds", "1", "--jobs", "1", "--batch-size", "16"];
        Ok(dir.Path, [.. plan, "--quiet", "--shard", "0/2", "--json", "part-0.json"]);
        using (var p = CliProcess.Start(dir.Path, [.. plan, "--shard", "1/2", "--json", "part-1.json"]))
        {
            var started = false;
            while (!started && p.StandardOutput.ReadLine() is { } line)
                started = line.StartsWith("sweep of ", StringComparison.Ordinal);
            Assert.True(started, "the shard never started");
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
        }
        Assert.Equal(["part-0.json"], Directory.GetFiles(dir.Path, "*.json").Select(Path.GetFileName));
        Assert.Equal("1\n", Ok(dir.Path, "merge", "--missing-shards", "part-0.json").Stdout);
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "merge", "part-0.json", "--json", "merged.json"), 1, "is missing: no part is shard 1/2");
    }
}
