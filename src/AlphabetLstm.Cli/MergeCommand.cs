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
            Description = "Print the shards (K of K/N) that hold a run no part has, comma-separated (Slurm's --array form), or an empty line when none is missing; no file is written.",
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
        // The parts first: a refused merge leaves nothing on disk, not even an empty --out folder.
        // Each is read once, within one budget; the first one's format says whether they are an experiment sweep's or a text sweep's.
        var texts = ReadParts(paths, (_, text) => text);
        switch (SweepJson.FormatOf(texts[0].Results))
        {
            case SweepJson.Format: return SweepCommand.Merge(texts, jsonFile, outDir, missingShards, stdout);
            case TextSweepJson.Format: return TextSweepCommand.Merge(texts, jsonFile, outDir, missingShards, stdout);
        }
        var files = texts.Select(t => (t.Path, Results: ParseChecked(t.Path, t.Results))).ToList();
        if (missingShards)
        {
            stdout.WriteLine(string.Join(",", MissingShards(files)));
            return ExitCodes.Ok;
        }
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
            stdout.WriteLine(Report.WhereLine(outDir));
        }
        return ExitCodes.Ok;
    }

    /// <summary>
    /// Reads and checks every part. The parts share one budget, the cap of one file (a sixty-fourth
    /// of the memory limit): each is read against what the earlier ones left, so many parts cannot
    /// add up past it. A part whose figures are out of range is refused naming the part and the field.
    /// </summary>
    private static ResultsJson.ResultsDto ParseChecked(string path, string text)
    {
        var results = ResultsJson.Parse(path, text);
        Validate(path, results);
        return results;
    }

    /// <summary>The parts' files read within one budget for all of them together, each parsed (and checked) by <paramref name="parse"/>.</summary>
    public static IReadOnlyList<(string Path, T Results)> ReadParts<T>(IReadOnlyList<string> paths, Func<string, string, T> parse)
    {
        var budget = Safety.MaxFileBytes;
        var files = new List<(string, T)>();
        foreach (var path in paths)
        {
            var reason = paths.Count == 1 ? InputFile.Default.Reason
                : $"for the parts together (a sixty-fourth of {Safety.MaxMemoryVariable}, {Memory.Describe(Safety.MaxMemory)}; the earlier parts used {Memory.Describe(Safety.MaxFileBytes - budget)})";
            var bytes = InputFile.ReadBytes(path, "part", new InputFile.Cap(budget, reason));
            budget -= bytes.Length;
            files.Add((path, parse(path, InputFile.Decode(bytes))));
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
        if (a.Precision != b.Precision) return $"precision {b.Precision ?? "float64"} vs {a.Precision ?? "float64"}";
        return null;
    }
}
