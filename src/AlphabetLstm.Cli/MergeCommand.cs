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
        var outDir = new Option<string?>("--out") { Description = "Write report.md, results.json and plots to DIR (for a sweep: sweep.md, sweep.json and its pictures)." };
        var missing = new Option<bool>("--missing-shards")
        {
            Description = "Write nothing; print the shards (K of K/N) that hold a run no part has, comma-separated (Slurm's --array form), or an empty line when none is missing.",
        };
        var command = new Command("merge", "Join the JSON of sharded experiment or sweep runs into one report and one JSON.")
        {
            parts, json, outDir, missing,
        };
        command.SetAction(parse => Execute(parse.GetValue(parts)!, parse.GetValue(json), parse.GetValue(outDir), stdout, parse.GetValue(missing)));
        return command;
    }

    public static int Execute(IReadOnlyList<string> paths, string? jsonFile, string? outDir, TextWriter stdout, bool missingShards = false)
    {
        if (missingShards && (jsonFile is not null || outDir is not null))
            throw new UsageException("--missing-shards only lists the shards to run again; drop --json and --out");
        if (SweepJson.FormatOf(paths[0]) == SweepJson.Format)
            return SweepCommand.Merge(paths, jsonFile, outDir, missingShards, stdout);
        // The parts first: a refused merge leaves nothing on disk, not even an empty --out folder.
        var files = paths.Select(p => (Path: p, Results: ResultsJson.Read(p))).ToList();
        if (missingShards)
        {
            stdout.WriteLine(string.Join(",", MissingShards(files)));
            return ExitCodes.Ok;
        }
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
        }
        return ExitCodes.Ok;
    }

    /// <summary>The merged plan and its runs in plan order; one-line errors when the parts do not belong together.</summary>
    public static (ResultsJson.SettingsDto Settings, IReadOnlyList<ResultsJson.RunDto> Runs) Merge(
        IReadOnlyList<(string Path, ResultsJson.ResultsDto Results)> files)
    {
        var (parts, difference, keys, planned) = Parts(files);
        return (files[0].Results.Settings, ShardJoin.Join(parts, difference, keys, r => r.Key, planned));
    }

    /// <summary>The shards (0-based) that hold a run none of <paramref name="files"/> has.</summary>
    public static IReadOnlyList<int> MissingShards(IReadOnlyList<(string Path, ResultsJson.ResultsDto Results)> files)
    {
        var (parts, difference, keys, planned) = Parts(files);
        return ShardJoin.MissingShards(parts, difference, keys, r => r.Key, planned);
    }

    private static (IReadOnlyList<ShardPart<ResultsJson.RunDto>> Parts, Func<int, string?> Difference, IReadOnlyList<string> Keys, string Planned) Parts(
        IReadOnlyList<(string Path, ResultsJson.ResultsDto Results)> files)
    {
        var first = files[0].Results;
        var parts = files.Select(f => new ShardPart<ResultsJson.RunDto>(f.Path, f.Results.Program, f.Results.Shard, f.Results.Runs)).ToList();
        var keys = new ExperimentPlan(first.Settings).Runs.Select(p => p.Key).ToList();
        var planned = $"experiments {string.Join(", ", first.Settings.Experiments)}; seeds {string.Join(", ", first.Settings.Seeds)}";
        return (parts, i => SettingsDifference(first.Settings, files[i].Results.Settings), keys, planned);
    }

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
