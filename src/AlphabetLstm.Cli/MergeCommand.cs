using System.CommandLine;

namespace AlphabetLstm.Cli;

/// <summary>
/// <c>merge PART.json... [--out DIR] [--json FILE]</c>: joins the JSON files of
/// <c>experiment --shard K/N</c> runs into exactly the report and JSON that one unsharded run
/// writes, after checking that the parts belong together: one program version, the same
/// experiments and settings, the same shard count, and every run of the plan exactly once.
/// </summary>
public static class MergeCommand
{
    public static Command Create(TextWriter stdout)
    {
        var parts = new Argument<string[]>("parts")
        {
            Description = "The shard files that `experiment ... --shard K/N --json FILE` wrote (one results file works too).",
            Arity = ArgumentArity.OneOrMore,
        };
        var json = new Option<string?>("--json") { Description = "Write the merged results as JSON to FILE." };
        var outDir = new Option<string?>("--out") { Description = "Write report.md, results.json and plots to DIR." };
        var command = new Command("merge", "Join the JSON of sharded experiment runs into one report and one JSON.")
        {
            parts, json, outDir,
        };
        command.SetAction(parse => Execute(parse.GetValue(parts)!, parse.GetValue(json), parse.GetValue(outDir), stdout));
        return command;
    }

    public static int Execute(IReadOnlyList<string> paths, string? jsonFile, string? outDir, TextWriter stdout)
    {
        // The parts first: a refused merge leaves nothing on disk, not even an empty --out folder.
        var files = paths.Select(p => (Path: p, Results: ResultsJson.Read(p))).ToList();
        var merged = Merge(files);
        if (jsonFile is not null) AtomicFile.EnsureWritableFileTarget(jsonFile, "--json");
        if (outDir is not null)
        {
            AtomicFile.EnsureWritableFolder(outDir, "--out");
            if (Plots.Preflight() is { } warning) stdout.WriteLine($"warning: {warning}");
        }

        var wall = files.Sum(f => f.Results.Shard?.WallSeconds ?? 0);
        var note = $" (the sum of {files.Count} shards' wall times)";
        new RunPrinter(stdout, quiet: true).Summary(merged.Runs, wall, note);
        if (jsonFile is not null)
        {
            AtomicFile.WriteAllText(jsonFile, ResultsJson.Serialize(merged.Settings, merged.Runs));
            stdout.WriteLine($"wrote {jsonFile}");
        }
        if (outDir is not null)
        {
            foreach (var written in Report.Write(outDir, merged.Settings, merged.Runs, wall, note))
                stdout.WriteLine($"wrote {written}");
            stdout.WriteLine(Report.WhereLine(outDir));
        }
        return ExitCodes.Ok;
    }

    /// <summary>The merged plan and its runs in plan order; one-line errors when the parts do not belong together.</summary>
    public static (ResultsJson.SettingsDto Settings, IReadOnlyList<ResultsJson.RunDto> Runs) Merge(
        IReadOnlyList<(string Path, ResultsJson.ResultsDto Results)> files)
    {
        var (firstPath, first) = files[0];
        foreach (var (path, r) in files.Skip(1))
        {
            if (r.Program != first.Program)
                throw new FailureException($"'{path}' was written by {r.Program}, but '{firstPath}' by {first.Program}: run every shard with one build");
            if (SettingsDifference(first.Settings, r.Settings) is { } difference)
                throw new FailureException($"'{path}' and '{firstPath}' come from different runs: {difference}");
            var (n, n0) = (r.Shard?.Count ?? 1, first.Shard?.Count ?? 1);
            if (n != n0)
                throw new FailureException($"'{path}' is {ShardName(r.Shard)} but '{firstPath}' is {ShardName(first.Shard)}: the parts were split into different numbers of shards");
        }
        var count = first.Shard?.Count ?? 1;
        var byShard = new Dictionary<int, string>();
        foreach (var (path, r) in files)
        {
            var index = r.Shard?.Index ?? 0;
            if (byShard.TryGetValue(index, out var other))
                throw new FailureException($"shard {index}/{count} is given twice: '{other}' and '{path}'");
            byShard[index] = path;
        }

        var plan = new ExperimentPlan(first.Settings);
        var planned = plan.Runs;
        var found = new Dictionary<string, (string Path, ResultsJson.RunDto Run)>();
        foreach (var (path, r) in files)
            foreach (var run in r.Runs)
            {
                var k = planned.ToList().FindIndex(p => p.Key == run.Key);
                if (k < 0)
                    throw new FailureException($"'{path}' holds run {run.Key}, which its settings do not plan (experiments {string.Join(", ", first.Settings.Experiments)}; seeds {string.Join(", ", first.Settings.Seeds)})");
                if (found.TryGetValue(run.Key, out var seen))
                    throw new FailureException($"run {run.Key} is doubled: it is in '{seen.Path}' and in '{path}'");
                var shardIndex = r.Shard?.Index ?? 0;
                if (ExperimentPlan.ShardOf(k, count) != shardIndex)
                    throw new FailureException($"'{path}' ({ShardName(r.Shard)}) holds run {run.Key}, which belongs to shard {ExperimentPlan.ShardOf(k, count)}/{count}");
                found[run.Key] = (path, run);
            }
        var missing = planned.Select((p, k) => (p, k)).Where(x => !found.ContainsKey(x.p.Key)).ToList();
        if (missing.Count > 0)
        {
            var shards = missing.Select(m => ExperimentPlan.ShardOf(m.k, count)).Distinct().Order().ToList();
            var absent = shards.Where(s => !byShard.ContainsKey(s)).ToList();
            var where = absent.Count > 0
                ? $"no part is shard {string.Join(", ", absent.Select(s => $"{s}/{count}"))}"
                : $"shard {string.Join(", ", shards.Select(s => $"{s}/{count}"))} lacks it";
            throw new FailureException($"run {missing[0].p.Key}{(missing.Count > 1 ? $" (and {missing.Count - 1} more)" : "")} is missing: {where}");
        }
        return (first.Settings, planned.Select(p => found[p.Key].Run).ToList());
    }

    private static string ShardName(ResultsJson.ShardDto? s) => s is null ? "a whole (unsharded) run" : $"shard {s.Index}/{s.Count}";

    /// <summary>The first setting in which two files differ, in words, or null.</summary>
    public static string? SettingsDifference(ResultsJson.SettingsDto a, ResultsJson.SettingsDto b)
    {
        static string Opt(int? x) => x?.ToString(CultureInfo.InvariantCulture) ?? "the tutorial's";
        if (!a.Experiments.SequenceEqual(b.Experiments))
            return $"experiments {string.Join(", ", b.Experiments)} vs {string.Join(", ", a.Experiments)}";
        if (!a.Seeds.SequenceEqual(b.Seeds))
            return $"seeds {string.Join(", ", b.Seeds)} vs {string.Join(", ", a.Seeds)}";
        if (a.Epochs != b.Epochs) return $"epochs {Opt(b.Epochs)} vs {Opt(a.Epochs)}";
        if (a.Units != b.Units) return $"units {Opt(b.Units)} vs {Opt(a.Units)}";
        if (a.Mask != b.Mask) return $"mask {b.Mask} vs {a.Mask}".ToLowerInvariant();
        return null;
    }
}
