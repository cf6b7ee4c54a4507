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
        var files = ReadParts(paths);
        var merged = Merge(files);
        OutputRule.Guard(
            [new("--json", jsonFile), .. outDir is null ? [] : Report.Files(outDir, merged.Runs).Select(f => new OutputRule.Named("--out", f))],
            paths.Select((p, k) => new OutputRule.Named($"part {k + 1}", p)));
        if (jsonFile is not null) AtomicFile.EnsureWritableFileTarget(jsonFile, "--json");
        if (outDir is not null)
        {
            Safety.CheckMemory($"merge --out (the pictures of {merged.Runs.Sum(r => r.LossHistory.Count):N0} epochs of history)", Plots.EstimateBytes(merged.Runs));
            AtomicFile.EnsureWritableFolder(outDir, "--out");
            if (Plots.Preflight() is { } warning) stdout.WriteLine($"warning: {warning}");
        }

        var wall = files.Sum(f => f.Results.Shard?.WallSeconds ?? 0);
        var note = $" (the sum of {files.Count} shards' wall times)";
        new RunPrinter(stdout, quiet: true).Summary(merged.Runs, wall, note);
        if (jsonFile is not null)
        {
            AtomicFile.WriteAllText(jsonFile, ResultsJson.Serialize(merged.Settings, merged.Runs));
            stdout.WriteLine($"wrote {Display.Escape(jsonFile)}");
        }
        if (outDir is not null)
        {
            foreach (var written in Report.Write(outDir, merged.Settings, merged.Runs, wall, note))
                stdout.WriteLine($"wrote {Display.Escape(written)}");
        }
        return ExitCodes.Ok;
    }

    /// <summary>
    /// Reads and checks every part. The parts share one budget, the cap of one file (a sixty-fourth
    /// of the memory limit): each is read against what the earlier ones left, so many parts cannot
    /// add up past it. A part whose figures are out of range is refused naming the part and the field.
    /// </summary>
    public static IReadOnlyList<(string Path, ResultsJson.ResultsDto Results)> ReadParts(IReadOnlyList<string> paths)
    {
        var budget = Safety.MaxFileBytes;
        var files = new List<(string, ResultsJson.ResultsDto)>();
        foreach (var path in paths)
        {
            var reason = paths.Count == 1 ? InputFile.Default.Reason
                : $"for the parts together (a sixty-fourth of {Safety.MaxMemoryVariable}, {Memory.Describe(Safety.MaxMemory)}; the earlier parts used {Memory.Describe(Safety.MaxFileBytes - budget)})";
            var bytes = InputFile.ReadBytes(path, "part", new InputFile.Cap(budget, reason));
            budget -= bytes.Length;
            var results = ResultsJson.Parse(path, InputFile.Decode(bytes));
            Validate(path, results);
            files.Add((path, results));
        }
        return files;
    }

    /// <summary>Refuses, naming the part and the field, any count or figure out of its range, before anything indexes with it.</summary>
    public static void Validate(string path, ResultsJson.ResultsDto r)
    {
        var part = Display.Escape(path);
        void Check(bool ok, string field, string problem)
        {
            if (!ok) throw new FailureException($"'{part}': {field}: {problem}");
        }
        static bool Fraction(double x) => x is >= 0 and <= 1;
        static string N(double x) => x.ToString("R", Inv);
        if (r.Shard is { } s)
        {
            Check(s.Count >= 1 && s.Index >= 0 && s.Index < s.Count, "shard",
                  $"{s.Index}/{s.Count} is no shard; expected K/N with N ≥ 1 and 0 ≤ K < N");
            Check(double.IsFinite(s.WallSeconds) && s.WallSeconds >= 0, "shard.wallSeconds", $"{N(s.WallSeconds)}, expected a finite number ≥ 0");
        }
        for (var k = 0; k < r.Runs.Count; k++)
        {
            var run = r.Runs[k];
            var at = $"runs[{k}]";
            Check(Experiments.Ids.Contains(run.Experiment), $"{at}.experiment", Experiments.UnknownMessage(run.Experiment));
            Check(run.Epochs >= 1 && run.Epochs <= Limits.MaxEpochs, $"{at}.epochs", $"{run.Epochs}, expected 1 to {Limits.MaxEpochs}");
            Check(run.Units >= 1 && run.Units <= Limits.MaxUnits, $"{at}.units", $"{run.Units}, expected 1 to {Limits.MaxUnits}");
            Check(run.BatchSize >= 1 && run.BatchSize <= Limits.MaxBatch, $"{at}.batchSize", $"{run.BatchSize}, expected 1 to {Limits.MaxBatch}");
            Check(Fraction(run.Accuracy), $"{at}.accuracy", $"{N(run.Accuracy)}, expected a fraction from 0 to 1");
            Check(Fraction(run.TutorialAccuracy), $"{at}.tutorialAccuracy", $"{N(run.TutorialAccuracy)}, expected a fraction from 0 to 1");
            Check(double.IsFinite(run.Loss) && run.Loss >= 0, $"{at}.loss", $"{N(run.Loss)}, expected a finite number ≥ 0");
            Check(double.IsFinite(run.TrainSeconds) && run.TrainSeconds >= 0, $"{at}.trainSeconds", $"{N(run.TrainSeconds)}, expected a finite number ≥ 0");
            var most = Math.Min(run.Epochs, EpochHistory.Limit + 1);
            Check(run.LossHistory.Count is >= 1 && run.LossHistory.Count <= most, $"{at}.lossHistory",
                  $"{run.LossHistory.Count:N0} entries, expected 1 to {most:N0} (one per epoch kept, at most {EpochHistory.Limit + 1:N0})");
            Check(run.AccuracyHistory.Count == run.LossHistory.Count, $"{at}.accuracyHistory",
                  $"{run.AccuracyHistory.Count:N0} entries, but lossHistory has {run.LossHistory.Count:N0}: expected one of each per epoch kept");
            for (var e = 0; e < run.LossHistory.Count; e++)
            {
                Check(double.IsFinite(run.LossHistory[e]) && run.LossHistory[e] >= 0, $"{at}.lossHistory[{e}]", $"{N(run.LossHistory[e])}, expected a finite number ≥ 0");
                Check(Fraction(run.AccuracyHistory[e]), $"{at}.accuracyHistory[{e}]", $"{N(run.AccuracyHistory[e])}, expected a fraction from 0 to 1");
            }
            if (run.ShuffledAccuracy is { } sa) Check(Fraction(sa), $"{at}.shuffledAccuracy", $"{N(sa)}, expected a fraction from 0 to 1");
            if (run.BatchMaxDifference is { } bd) Check(double.IsFinite(bd) && bd >= 0, $"{at}.batchMaxDifference", $"{N(bd)}, expected a finite number ≥ 0");
            if (run.PaddingCollision is { } pc) Check(double.IsFinite(pc.MaxDifference) && pc.MaxDifference >= 0, $"{at}.paddingCollision.maxDifference", $"{N(pc.MaxDifference)}, expected a finite number ≥ 0");
            if (run.Traces is { } t)
                foreach (var (name, trace) in new[] { ("fromA", t.FromA), ("fromK", t.FromK) })
                {
                    var field = $"{at}.traces.{name}.hidden";
                    Check(trace.Hidden.Count >= 1 && trace.Hidden.Count <= Limits.MaxSteps, field, $"{trace.Hidden.Count:N0} rows, expected at least 1 (one per step)");
                    for (var row = 0; row < trace.Hidden.Count; row++)
                    {
                        Check(trace.Hidden[row].Count == run.Units, $"{field}[{row}]",
                              $"{trace.Hidden[row].Count:N0} numbers, expected {run.Units} (the run's units): the trace must be rectangular");
                        foreach (var v in trace.Hidden[row])
                            Check(double.IsFinite(v), $"{field}[{row}]", $"holds {N(v)}, expected finite numbers");
                    }
                }
        }
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
