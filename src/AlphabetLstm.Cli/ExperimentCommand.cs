using System.CommandLine;
using System.Diagnostics;

namespace AlphabetLstm.Cli;

/// <summary>
/// <c>experiment &lt;id&gt;|all [--seed S] [--seeds N] [--epochs E] [--units U] [--mask] [--json FILE] [--out DIR | --no-report] [--quiet] [--jobs N] [--shard K/N] [--threads N]</c>:
/// trains the tutorial's experiments, prints what the tutorial prints (and what it leaves out),
/// writes a report (to a fresh <see cref="DefaultReportFolder"/> unless <c>--out</c> names one) and
/// optionally JSON. <c>--jobs</c> trains several runs at a time;
/// <c>--shard</c> trains a share of them for <c>merge</c> to join.
/// </summary>
public static class ExperimentCommand
{
    public static Command Create(TextWriter stdout)
    {
        var id = new Argument<string>("id")
        {
            Description = $"One of {string.Join(", ", Experiments.Ids)}, or all.",
        };
        id.Validators.Add(result =>
        {
            var value = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (value != "all" && !Experiments.Ids.Contains(value))
                result.AddError($"{Experiments.UnknownMessage(value)}, all");
        });
        var seed = Cli.WholeNumber("--seed", "The first seed (default 1).");
        var seeds = Cli.PositiveInt("--seeds", "Run seeds S..S+N-1 (default 1).", Limits.MaxSeeds);
        var epochs = Cli.PositiveInt("--epochs", "Override the tutorial's number of epochs.", Limits.MaxEpochs);
        var units = Cli.PositiveInt("--units", "Override the tutorial's number of LSTM units.", Limits.MaxUnits);
        var mask = new Option<bool>("--mask") { Description = "Mask padded steps (they leave the state unchanged)." };
        var json = new Option<string?>("--json") { Description = "Write the results as JSON to FILE." };
        var outDir = new Option<string?>("--out")
        {
            Description = $"Write report.md, results.json and plots to DIR (default: a new folder {DefaultReportFolder}, or {DefaultReportFolder}-2, -3, ... when that exists).",
        };
        var noReport = new Option<bool>("--no-report") { Description = "Skip the report (the console and --json only)." };
        var quiet = new Option<bool>("--quiet") { Description = "Print only the results, no progress or patterns." };
        var jobs = Cli.PositiveInt("--jobs", "Train N runs at a time (default: the number of cores). Results do not depend on N.");
        var threads = Cli.PositiveInt("--threads", "Threads for one training step where the step is large enough to pay (default 1). Results do not depend on N.");
        var precision = Cli.Precision("float64 (default: the tutorial's numbers) or float32: the number type every run trains in.");
        var shard = new Option<string?>("--shard")
        {
            Description = "Run only share K of N (0 <= K < N) of the (experiment, seed) runs and write them with --json; `merge` joins the shards.",
        };

        var command = new Command("experiment", "Train and explain the tutorial's experiments.")
        {
            id, seed, seeds, epochs, units, mask, json, outDir, noReport, quiet, jobs, shard, threads, precision,
        };
        command.SetAction(parse =>
        {
            var which = parse.GetValue(id)!;
            var first = parse.GetValue(seed) ?? 1;
            var count = parse.GetValue(seeds) ?? 1;
            var settings = new ResultsJson.SettingsDto(
                which == "all" ? Experiments.Ids : [which],
                Cli.SeedRange(first, count),
                parse.GetValue(mask), parse.GetValue(epochs), parse.GetValue(units),
                ResultsJson.PrecisionSetting(parse.GetValue(precision) ?? Precision.Float64));
            var share = parse.GetValue(shard) is { } text ? ParseShard(text) : ((int, int)?)null;
            if (share is not null && parse.GetValue(json) is null)
                throw new UsageException("--shard needs --json FILE: a shard writes its runs there for `merge`");
            if (share is not null && parse.GetValue(outDir) is not null)
                throw new UsageException("--shard writes only its JSON; drop --out and run `merge SHARD.json... --out DIR` on all the shards");
            if (parse.GetValue(noReport) && parse.GetValue(outDir) is not null)
                throw new UsageException("--no-report and --out ask for opposite things; give one of them");
            var options = new RunOptions(parse.GetValue(jobs) ?? Environment.ProcessorCount, share, parse.GetValue(threads) ?? 1);
            var plan = new ExperimentPlan(settings);
            foreach (var s in plan.Specs) Safety.CheckTraining(s, $"experiment {s.Id} with {s.Units} units");
            // A shard is a part of a report, not one: merge writes the report from all the parts.
            var report = parse.GetValue(outDir) ?? (share is null && !parse.GetValue(noReport) ? FreshReportFolder(".") : null);
            return Execute(plan, options, parse.GetValue(json), report, parse.GetValue(quiet), stdout);
        });
        return command;
    }

    /// <summary>The report folder of a run without <c>--out</c>, made in the working folder.</summary>
    public const string DefaultReportFolder = "alphabet-lstm-report";

    /// <summary>
    /// <see cref="DefaultReportFolder"/>, or the first of its names with -2, -3, ... that nothing in
    /// <paramref name="parent"/> uses yet: a run without <c>--out</c> never writes into an earlier
    /// run's report, or over anything else.
    /// </summary>
    public static string FreshReportFolder(string parent)
    {
        for (var k = 1; ; k++)
        {
            var name = k == 1 ? DefaultReportFolder : $"{DefaultReportFolder}-{k.ToString(Inv)}";
            var path = Path.Combine(parent, name);
            if (!Directory.Exists(path) && !File.Exists(path) && new FileInfo(path).LinkTarget is null) return parent == "." ? name : path;
        }
    }

    /// <summary>How to spread the runs: jobs at a time on this machine, and which shard (index, count) of the plan to run.</summary>
    public sealed record RunOptions(int Jobs, (int Index, int Count)? Shard = null, int Threads = 1);

    /// <summary>Parses <c>--shard K/N</c> (0 &lt;= K &lt; N), or fails with a usage error naming the value.</summary>
    public static (int Index, int Count) ParseShard(string text)
    {
        var parts = text.Split('/');
        if (parts.Length == 2
            && int.TryParse(parts[0], System.Globalization.NumberStyles.None, CultureInfo.InvariantCulture, out var k)
            && int.TryParse(parts[1], System.Globalization.NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            && n >= 1 && k < n)
            return (k, n);
        throw new UsageException($"--shard expects K/N with whole numbers 0 <= K < N (K counts from 0, as Slurm's and Kubernetes' indices do), got '{text}'");
    }

    public static int Execute(ExperimentPlan plan, RunOptions options, string? jsonFile, string? outDir, bool quiet, TextWriter stdout)
    {
        // Check every destination before hours of training, so a typo fails at once.
        if (jsonFile is not null) AtomicFile.EnsureWritableFileTarget(jsonFile, "--json");
        if (outDir is not null)
        {
            AtomicFile.EnsureWritableFolder(outDir, "--out");
            if (Plots.Preflight() is { } warning) stdout.WriteLine($"warning: {warning}");
        }

        stdout.WriteLine($"linear algebra: {LinearAlgebra.Select()}");
        var planned = options.Shard is var (index, count) ? plan.Shard(index, count) : plan.Runs;
        if (options.Shard is var (k, n))
            stdout.WriteLine($"shard {k}/{n}: {planned.Count} of the plan's {plan.Runs.Count} runs");
        var wall = Stopwatch.StartNew();
        var records = RunScheduler.RunAll(planned, options.Jobs, options.Threads, stdout, quiet);
        var runs = records.Select(plan.ToDto).ToList();
        var seconds = wall.Elapsed.TotalSeconds;
        var printer = new RunPrinter(stdout, quiet);
        printer.Summary(runs, seconds);

        if (jsonFile is not null)
        {
            var shard = options.Shard is var (si, sn) ? new ResultsJson.ShardDto(si, sn, Math.Round(seconds, 3)) : null;
            AtomicFile.WriteAllText(jsonFile, ResultsJson.Serialize(plan.Settings, runs, shard));
            stdout.WriteLine($"wrote {Display.Escape(jsonFile)}");
        }
        if (outDir is not null)
        {
            foreach (var written in Report.Write(outDir, plan.Settings, runs, seconds))
                stdout.WriteLine($"wrote {Display.Escape(written)}");
            stdout.WriteLine(Report.WhereLine(outDir));
        }
        return ExitCodes.Ok;
    }
}

/// <summary>Console output for experiment runs: headers, progress, patterns, demos and the summary table.</summary>
public sealed class RunPrinter(TextWriter o, bool quiet)
{

    public static string Percent(double x) => (100 * x).ToString("0.00", Inv) + "%";

    public static string Describe(ExperimentSpec s, FitConfig? c = null)
    {
        var policy = s.Policy == StatePolicy.Stateless ? "stateless" : s.ResetEachEpoch ? "stateful, reset after every epoch" : "stateful";
        var data = s.Data switch
        {
            DataSpec.Window w => w.Layout == Layout.Features ? $"(samples, 1, {w.Length})" : $"(samples, {w.Length}, 1)",
            DataSpec.VariableLength v => $"({v.Count}, {v.MaxLength}, 1) pre-padded",
            _ => "",
        };
        return $"LSTM({s.Units}) + Dense(26, softmax), data {data}, {s.Epochs} epochs, batch {s.BatchSize}, "
             + $"{(s.Shuffle ? "shuffle" : "no shuffle")}, {policy}{(s.Masked ? ", masked padding" : "")}"
             + (s.LearningRate != AdamConfig.Keras.LearningRate ? $", learning rate {s.LearningRate.ToString("R", Inv)}" : "");
    }

    public void Header(ExperimentSpec spec, long seed)
    {
        o.WriteLine();
        o.WriteLine($"== {spec.Id}: {spec.Title} (seed {seed})");
        o.WriteLine($"   {Describe(spec)}");
    }

    public ProgressLine Progress(ExperimentSpec spec) => new(o, spec.Epochs, quiet, spec.StepsPerEpoch);

    public void Result(RunRecord run)
    {
        var r = run.Result;
        o.WriteLine($"   accuracy {Percent(r.Accuracy)} (tutorial {Percent(r.Spec.TutorialAccuracy)}), loss {r.Loss.ToString("0.0000", Inv)}, trained in {run.TrainSeconds.ToString("0.00", Inv)} s");
        if (!quiet)
        {
            var title = r.Spec.Data.IsVariableLength ? "   20 fresh random patterns:" : "   patterns:";
            o.WriteLine(title);
            foreach (var p in r.Predictions)
                o.WriteLine($"     {p.Input,5} -> {p.Predicted}{(p.Correct ? "" : $"   wrong, expected {p.Expected}")}");
        }
        if (r.TryGetBatchIndependence(out var bi))
        {
            o.WriteLine($"   accuracy on a shuffled copy: {Percent(bi.ShuffledAccuracy)}");
            o.WriteLine($"   each letter predicted alone vs inside the batch of {r.Config.BatchSize}: max |difference| of probabilities = {bi.MaxDifference.ToString("G3", Inv)}");
            o.WriteLine("   So the samples of one batch never see each other's state: every row starts from zeros and runs alone.");
            o.WriteLine("   The model has learned a letter-to-letter lookup, not the sequence, which is why shuffling changes nothing.");
        }
        if (r.TryGetGeneration(out var g))
        {
            o.WriteLine($"   generate from A after a reset:   {Arrows(g.FromA)}");
            o.WriteLine($"   generate from K after a reset:   {Arrows(g.FromKAfterReset)}");
            o.WriteLine($"   generate from K after A..J:      {Arrows(g.FromKAfterWarmup)}");
            o.WriteLine("   After a reset the state says \"start of the alphabet\", so K is read as if it were A; warmed up on A..J, the state says \"after J\" and K -> L.");
        }
        if (r.TryGetPaddingCollision(out var pc))
        {
            var same = pc.SameEncoding ? "encode to the same padded numbers" : "encode differently";
            o.WriteLine($"   \"{pc.First}\" and \"{pc.Second}\" {same} (a leading A is 0.0, the padding value).");
            o.WriteLine(pc.Masked
                ? $"   With masking the model tells them apart: max |difference| of probabilities = {pc.MaxDifference.ToString("G3", Inv)} ({pc.First} -> {pc.FirstPredicted}, {pc.Second} -> {pc.SecondPredicted})."
                : $"   Without masking the model cannot tell them apart: max |difference| = {pc.MaxDifference.ToString("G3", Inv)}. Run with --mask to fix it.");
        }
    }

    private static string Arrows(string letters) => string.Join(" -> ", letters.ToCharArray());

    public void Summary(IReadOnlyList<ResultsJson.RunDto> runs, double wallSeconds, string wallNote = "")
    {
        o.WriteLine();
        o.WriteLine("| experiment | tutorial | ours: min / median / max | seeds | train s (median) |");
        o.WriteLine("|---|---|---|---|---|");
        foreach (var s in ExperimentSummary.Of(runs))
            o.WriteLine($"| {s.Spec.Id} | {Percent(s.Spec.TutorialAccuracy)} | {Percent(s.MinAccuracy)} / {Percent(s.MedianAccuracy)} / {Percent(s.MaxAccuracy)} | {s.Seeds} | {s.MedianTrainSeconds.ToString("0.00", Inv)} |");
        o.WriteLine($"total wall time {wallSeconds.ToString("0.0", Inv)} s{wallNote}");
    }
}

/// <summary>One experiment's runs over all seeds, as the summary tables show them.</summary>
public sealed record ExperimentSummary(
    ExperimentSpec Spec, int Seeds, double MinAccuracy, double MedianAccuracy, double MaxAccuracy, double MedianTrainSeconds)
{
    /// <summary>One summary per experiment, in the order the runs first name them.</summary>
    public static IReadOnlyList<ExperimentSummary> Of(IEnumerable<ResultsJson.RunDto> runs) =>
        runs.GroupBy(r => r.Experiment)
            .Select(g =>
            {
                var acc = g.Select(r => r.Accuracy).OrderBy(x => x).ToList();
                var secs = g.Select(r => r.TrainSeconds).OrderBy(x => x).ToList();
                return new ExperimentSummary(g.First().Spec, acc.Count, acc[0], Stats.Median(acc), acc[^1], Stats.Median(secs));
            })
            .ToList();
}

/// <summary>Small statistics helpers for summaries.</summary>
public static class Stats
{
    public static double Median(IReadOnlyList<double> sorted) =>
        sorted.Count == 0 ? double.NaN
        : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2]
        : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
}
