using System.CommandLine;
using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace AlphabetLstm.Cli;

/// <summary>
/// <c>sweep &lt;experiment&gt; | --text FILE [--units 16,32] [--learning-rate 0.01,0.003] [--window ..] [--batch-size ..]
/// [--epochs ..] [--grid FILE] [--seed S] [--seeds N] [--jobs N] [--shard K/N] [--threads N] [--json FILE]
/// [--out DIR] [--quiet]</c>: trains one experiment at every point of a grid of settings, each point
/// once per seed, and writes a table, JSON and a picture per swept setting. The grid and its run list
/// come from the core (<see cref="Sweep"/>); <c>--jobs</c>, <c>--shard</c> and <c>merge</c> work as for
/// <c>experiment</c>. A text's sweep is <see cref="TextSweepCommand"/>.
/// </summary>
public static class SweepCommand
{
    public static Command Create(TextWriter stdout)
    {
        var id = new Argument<string?>("experiment")
        {
            Description = $"The experiment to sweep: one of {string.Join(", ", Experiments.Ids)} (or none, with --text FILE).",
            Arity = ArgumentArity.ZeroOrOne,
        };
        id.Validators.Add(result =>
        {
            if (result.Tokens.Count > 0 && !Experiments.Ids.Contains(result.Tokens[0].Value))
                result.AddError(Experiments.UnknownMessage(result.Tokens[0].Value));
        });
        // A text's sweep: train --text's options for how the text is read (the window and batch size are axes here).
        var t = new TextCommands.TrainOptions();
        Option[] textReading = [t.Stateful, t.Encoding, t.Targets, t.Validation];
        var axes = Sweep.Settings.ToDictionary(s => s, s => new Option<string?>("--" + Sweep.NameOf(s))
        {
            Description = $"Values of {Sweep.NameOf(s)} to sweep, comma-separated{(s == SweepSetting.Window ? " (the window's n; the variable-length runs' longest; with --text, T, the characters of a sample)" : s == SweepSetting.Layers ? " (with --text only)" : "")}.",
        });
        var grid = new Option<string?>("--grid") { Description = "A file of 'setting = v1, v2' lines (units, learning-rate, window, batch-size, epochs; with --text, layers too); # starts a comment." };
        var seed = Cli.WholeNumber("--seed", "The first seed (default 1).");
        var seeds = Cli.PositiveInt("--seeds", "Run every point with seeds S..S+N-1 (default 1).", Limits.MaxSeeds);
        var json = new Option<string?>("--json") { Description = "Write the sweep's runs as JSON to FILE." };
        var outDir = new Option<string?>("--out") { Description = "Write sweep.md, sweep.json and a picture per swept setting to DIR." };
        var quiet = new Option<bool>("--quiet") { Description = "Print only the results, no progress or patterns." };
        var jobs = Cli.PositiveInt("--jobs", "Train N runs at a time (default: the number of cores). Results do not depend on N.");
        var threads = Cli.PositiveInt("--threads", "Threads for one training step where the step is large enough to pay (default 1).");
        var shard = new Option<string?>("--shard") { Description = "Run only share K of N (0 <= K < N) of the sweep's runs and write them with --json; `merge` joins the shards." };

        var command = new Command("sweep", "Train one experiment, or one text (--text FILE), over a grid of settings (units, learning rate, window, batch size, epochs) and seeds.")
        {
            id, t.Text, grid, seed, seeds, json, outDir, quiet, jobs, shard, threads,
        };
        foreach (var option in axes.Values) command.Options.Add(option);
        foreach (var option in textReading) command.Options.Add(option);
        command.SetAction(parse =>
        {
            var textFile = parse.GetValue(t.Text);
            var experiment = parse.GetValue(id);
            if (textFile is not null && experiment is not null)
                throw new UsageException($"sweep takes an experiment id or --text FILE, not both (got {experiment} and --text '{Display.Escape(textFile)}')");
            if (textFile is null && experiment is null)
                throw new UsageException($"sweep needs an experiment id (one of {string.Join(", ", Experiments.Ids)}) or --text FILE");
            if (textFile is null && textReading.FirstOrDefault(o => parse.GetResult(o) is { Implicit: false }) is { } textOnly)
                throw new UsageException($"{textOnly.Name} goes with --text FILE, not with an experiment id");
            var list = new List<SweepAxis>();
            Func<string, SweepAxis[]> parseGrid = textFile is null ? Sweep.ParseGrid : Sweep.ParseTextGrid;
            Func<SweepSetting, string, SweepAxis> parseAxis = textFile is null ? Sweep.ParseAxis : Sweep.ParseTextAxis;
            if (parse.GetValue(grid) is { } file) list.AddRange(Usage(() => parseGrid(InputFile.ReadText(file, "--grid")), $"--grid '{Display.Escape(file)}': "));
            foreach (var (setting, option) in axes)
                if (parse.GetValue(option) is { } text) list.Add(Usage(() => parseAxis(setting, text), ""));
            var share = parse.GetValue(shard) is { } s ? ExperimentCommand.ParseShard(s) : ((int, int)?)null;
            if (share is not null && parse.GetValue(json) is null)
                throw new UsageException("--shard needs --json FILE: a shard writes its runs there for `merge`");
            if (share is not null && parse.GetValue(outDir) is not null)
                throw new UsageException("--shard writes only its JSON; drop --out and run `merge SHARD.json... --out DIR` on all the shards");
            var seedList = Cli.SeedRange(parse.GetValue(seed) ?? 1, parse.GetValue(seeds) ?? 1);
            var options = new ExperimentCommand.RunOptions(parse.GetValue(jobs) ?? Environment.ProcessorCount, share, parse.GetValue(threads) ?? 1);
            if (textFile is not null)
            {
                var stateful = parse.GetValue(t.Stateful);
                var reading = new TextSweepCommand.Options(
                    textFile, stateful,
                    parse.GetValue(t.Encoding) is { } e ? ModelFile.ParseEncoding(e)!.Value : SymbolEncoding.OneHot,
                    parse.GetValue(t.Targets) is { } g ? ModelFile.ParseTargets(g)!.Value : TextRun.DefaultTargets(stateful),
                    parse.GetValue(t.Validation) ?? TextRun.DefaultValidation);
                return TextSweepCommand.Execute(reading, list, seedList, options, parse.GetValue(grid), parse.GetValue(json), parse.GetValue(outDir), parse.GetValue(quiet), stdout);
            }
            var settings = new SweepJson.SettingsDto(
                experiment!,
                list.Select(a => new SweepJson.AxisDto(Sweep.NameOf(a.Setting), a.Values)).ToList(),
                seedList);
            var plan = Usage(() => new SweepPlan(settings), "");
            foreach (var spec in plan.Specs.DistinctBy(x => (x.Units, x.BatchSize, x.Data)))
                Safety.CheckTraining(spec, $"sweep {spec.Id} with {spec.Units} units");
            OutputRule.Guard(
                [new("--json", parse.GetValue(json)), .. Outputs(parse.GetValue(outDir), plan)],
                [new("--grid", parse.GetValue(grid))]);
            return Execute(plan, options, parse.GetValue(json), parse.GetValue(outDir), parse.GetValue(quiet), stdout);
        });
        return command;
    }

    /// <summary>The files <c>--out DIR</c> will hold, for the check that no output is an input.</summary>
    private static IEnumerable<OutputRule.Named> Outputs(string? outDir, SweepPlan plan) =>
        outDir is null ? [] : SweepTable.Files(outDir, plan).Select(f => new OutputRule.Named("--out", f));

    /// <summary>The core's ArgumentException for a bad value, as a usage error (exit 2) with the option it came from.</summary>
    private static T Usage<T>(Func<T> f, string prefix)
    {
        try { return f(); }
        catch (ArgumentException e) { throw new UsageException(prefix + Display.WithoutParameter(e.Message)); }
    }

    public static int Execute(SweepPlan plan, ExperimentCommand.RunOptions options, string? jsonFile, string? outDir, bool quiet, TextWriter stdout)
    {
        SweepOutput.Prepare(jsonFile, outDir, stdout);
        stdout.WriteLine($"linear algebra: {LinearAlgebra.Select()}");
        var planned = options.Shard is var (index, count) ? Sweep.Shard(index, count, plan.Runs) : plan.Runs;
        stdout.WriteLine($"sweep of {plan.Settings.Experiment}: {plan.Points.Length} points × {plan.Settings.Seeds.Count} seeds = {plan.Runs.Length} runs"
                       + (options.Shard is var (k, n) ? $"; shard {k}/{n}: {planned.Length} of them" : ""));
        var wall = Stopwatch.StartNew();
        var records = RunScheduler.RunAll(planned.Select(r => new PlannedRun(plan.SpecOf(r), r.Seed)).ToList(), options.Jobs, options.Threads, stdout, quiet);
        var runs = planned.Zip(records, plan.ToDto).ToList();
        var seconds = wall.Elapsed.TotalSeconds;
        var shard = options.Shard is var (si, sn) ? new ResultsJson.ShardDto(si, sn, Math.Round(seconds, 3)) : null;
        return SweepOutput.Finish(SweepTable.Markdown(plan, runs, seconds), jsonFile, () => SweepJson.Serialize(plan.Settings, runs, shard),
                                  outDir, dir => SweepTable.Write(dir, plan, runs, seconds), stdout);
    }

    /// <summary><c>merge</c> of sweep parts: the same checks as for experiments, then the same table, JSON and pictures as one unsharded sweep.</summary>
    public static int Merge(IReadOnlyList<(string Path, string Results)> texts, string? jsonFile, string? outDir, bool missingShards, TextWriter stdout)
    {
        var files = texts.Select(t => (t.Path, Sweep: SweepJson.Parse(t.Path, t.Results).Dto)).ToList();
        var paths = files.Select(f => f.Path).ToList();
        var first = files[0].Sweep;
        var plan = SweepJson.PlanOf(files[0].Path, first);
        var parts = files.Select(f => new ShardPart<SweepJson.RunDto>(f.Path, f.Sweep.Program, f.Sweep.Shard, f.Sweep.Runs)).ToList();
        var keys = plan.Runs.Select(plan.KeyOf).ToList();
        var planned = $"sweep of {first.Settings.Experiment} over {string.Join("; ", first.Settings.Axes.Select(a => $"{a.Setting} {string.Join(", ", a.Values.Select(Sweep.Format))}"))}; seeds {string.Join(", ", first.Settings.Seeds)}";
        string? Difference(int i) => SweepJson.Difference(first.Settings, files[i].Sweep.Settings);
        if (missingShards)
        {
            stdout.WriteLine(string.Join(",", ShardJoin.MissingShards(parts, Difference, keys, r => r.Key, planned)));
            return ExitCodes.Ok;
        }
        var runs = ShardJoin.Join(parts, Difference, keys, r => r.Key, planned);
        OutputRule.Guard(
            [new("--json", jsonFile), .. Outputs(outDir, plan)],
            paths.Select((p, k) => new OutputRule.Named($"part {k + 1}", p)));
        SweepOutput.Prepare(jsonFile, outDir, stdout);
        var (wall, note) = SweepOutput.ShardsWall(files.Select(f => f.Sweep.Shard));
        return SweepOutput.Finish(SweepTable.Markdown(plan, runs, wall, note), jsonFile, () => SweepJson.Serialize(plan.Settings, runs),
                                  outDir, dir => SweepTable.Write(dir, plan, runs, wall, note), stdout);
    }
}

/// <summary>What a sweep runs: the experiment, the core's grid and run list, and each run's settings.</summary>
public sealed class SweepPlan
{
    public SweepPlan(SweepJson.SettingsDto settings)
    {
        Settings = settings;
        if (!Experiments.Ids.Contains(settings.Experiment))
            throw new FailureException(Experiments.UnknownMessage(settings.Experiment));
        Base = Experiments.Find(settings.Experiment);
        Axes = settings.Axes.Select(a => new SweepAxis(
            Sweep.Settings.FirstOrDefault(s => Sweep.NameOf(s) == a.Setting, (SweepSetting)(-1)) is var s && (int)s >= 0
                ? s : throw new FailureException($"unknown sweep setting '{a.Setting}'"),
            a.Values.ToArray())).ToArray();
        Runs = Sweep.Runs(Axes, settings.Seeds.ToArray());
        Points = Sweep.Grid(Axes);
        Specs = Points.Select(p => Sweep.Apply(Axes, p, Base)).ToList();
    }

    public SweepJson.SettingsDto Settings { get; }
    public ExperimentSpec Base { get; }
    public SweepAxis[] Axes { get; }
    public SweepPoint[] Points { get; }
    public SweepRun[] Runs { get; }

    /// <summary>The experiment as each point trains it, by point index.</summary>
    public IReadOnlyList<ExperimentSpec> Specs { get; }

    public ExperimentSpec SpecOf(SweepRun run) => Specs[run.Point.Index];

    public string KeyOf(SweepRun run) => Key(run.Point.Index, run.Seed);

    public static string Key(int point, long seed) => $"point {point} seed {seed}";

    public SweepJson.RunDto ToDto(SweepRun run, RunRecord record)
    {
        var history = record.History.Select(h => h.Accuracy).ToList();
        var best = history.Count == 0 ? 0 : history.IndexOf(history.Max());
        return new SweepJson.RunDto(
            run.Point.Index,
            Axes.Select((a, k) => (Sweep.NameOf(a.Setting), run.Point.Values[k])).ToDictionary(x => x.Item1, x => x.Item2),
            run.Seed, record.Result.Accuracy, history.Count == 0 ? record.Result.Accuracy : history[best], best + 1,
            record.Result.Loss, Math.Round(record.TrainSeconds, 3));
    }
}

/// <summary>
/// The machine-readable sweep (<c>sweep --json</c>, a sweep shard, <c>sweep.json</c>): the plan's
/// settings and one record per run with its point's values, final and best accuracy and training time.
/// </summary>
public static class SweepJson
{
    public const string Format = "alphabet-lstm-sweep";
    public const int FormatVersion = 1;

    public const string MetricNote =
        "accuracy is the trained model's accuracy on the training patterns (what experiment reports); bestAccuracy is the highest "
      + "accuracy of any epoch during training, reached at bestEpoch; trainSeconds as in experiment's results (wall time of the training loop).";

    public sealed record AxisDto(string Setting, IReadOnlyList<double> Values);

    public sealed record SettingsDto(string Experiment, IReadOnlyList<AxisDto> Axes, IReadOnlyList<long> Seeds);

    public sealed record RunDto(
        int Point, IReadOnlyDictionary<string, double> Settings, long Seed,
        double Accuracy, double BestAccuracy, int BestEpoch, double Loss, double TrainSeconds)
    {
        [System.Text.Json.Serialization.JsonIgnore] public string Key => SweepPlan.Key(Point, Seed);
    }

    public sealed record SweepDto(
        string Format, int Version, string Program, SettingsDto Settings, string Metrics, IReadOnlyList<RunDto> Runs, ResultsJson.ShardDto? Shard = null);

    public static string Serialize(SettingsDto settings, IReadOnlyList<RunDto> runs, ResultsJson.ShardDto? shard = null) =>
        JsonSerializer.Serialize(new SweepDto(Format, FormatVersion, ResultsJson.Program, settings, MetricNote, runs, shard), ResultsJson.Options);

    /// <summary>The first setting in which two sweeps differ, in words, or null.</summary>
    public static string? Difference(SettingsDto a, SettingsDto b)
    {
        static string Axes(SettingsDto s) => string.Join("; ", s.Axes.Select(x => $"{x.Setting} {string.Join(", ", x.Values.Select(Sweep.Format))}"));
        if (a.Experiment != b.Experiment) return $"experiment {b.Experiment} vs {a.Experiment}";
        if (Axes(a) != Axes(b)) return $"grid {Axes(b)} vs {Axes(a)}";
        if (!a.Seeds.SequenceEqual(b.Seeds)) return $"seeds {string.Join(", ", b.Seeds)} vs {string.Join(", ", a.Seeds)}";
        return null;
    }

    /// <summary>The format a part's text says it is ("alphabet-lstm-results", "alphabet-lstm-sweep"), or null when it says none or is not JSON.</summary>
    public static string? FormatOf(string text)
    {
        try
        {
            using var doc = JsonDocument.Parse(text);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.String
                ? f.GetString() : null;
        }
        catch (JsonException) { return null; }
    }

    /// <summary>A parsed sweep file or shard, with its plan checked against its runs.</summary>
    public sealed record Part(SweepDto Dto);

    /// <summary>Parses a sweep file or shard and checks every figure; fails with one line naming the file and what is wrong.</summary>
    public static Part Parse(string path, string text)
    {
        var shown = Display.Escape(path);
        SweepDto dto;
        try
        {
            using var doc = JsonDocument.Parse(text);
            var root = doc.RootElement;
            var format = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null;
            if (format != Format)
                throw new FailureException($"'{shown}': format: expected \"{Format}\" (the JSON sweep --json writes), found {(format is null ? "none" : $"\"{Display.Clip(format)}\"")}");
            if (!root.TryGetProperty("version", out var v) || !v.TryGetInt32(out var version) || version != FormatVersion)
                throw new FailureException($"'{shown}': version: expected {FormatVersion}, found {(root.TryGetProperty("version", out var vv) ? Display.Clip(vv.GetRawText()) : "none")}");
            dto = root.Deserialize<SweepDto>(ResultsJson.Options) ?? throw new FailureException($"'{shown}': expected a JSON object");
        }
        catch (JsonException e)
        {
            throw new FailureException($"'{shown}': not a whole sweep file: {(e.Path is { Length: > 0 } p ? p + ": " : "")}{e.Message}");
        }
        var plan = PlanOf(path, dto);
        var seeds = dto.Settings.Seeds.ToHashSet();
        for (var k = 0; k < dto.Runs.Count; k++)
        {
            var run = dto.Runs[k];
            void Check(bool ok, string field, string problem)
            {
                if (!ok) throw new FailureException($"'{shown}': runs[{k}].{field}: {problem}");
            }
            static bool Fraction(double x) => x >= 0 && x <= 1;
            Check(run.Point >= 0 && run.Point < plan.Points.Length, "point", $"{run.Point}, expected 0 to {plan.Points.Length - 1} (the grid's points)");
            Check(seeds.Contains(run.Seed), "seed", $"{run.Seed}, which the sweep's seeds do not hold");
            var point = plan.Points[run.Point];
            var expected = plan.Settings.Axes.Select((a, i) => (a.Setting, Value: point.Values[i])).ToList();
            Check(run.Settings.Count == expected.Count && expected.All(x => run.Settings.TryGetValue(x.Setting, out var got) && got == x.Value), "settings",
                  $"expected point {run.Point}'s values: {Sweep.Describe(plan.Axes, point)}");
            Check(Fraction(run.Accuracy), "accuracy", $"{run.Accuracy.ToString("R", Inv)}, expected a fraction from 0 to 1");
            Check(Fraction(run.BestAccuracy), "bestAccuracy", $"{run.BestAccuracy.ToString("R", Inv)}, expected a fraction from 0 to 1");
            Check(run.BestEpoch >= 1 && run.BestEpoch <= plan.Specs[run.Point].Epochs, "bestEpoch", $"{run.BestEpoch}, expected 1 to {plan.Specs[run.Point].Epochs} (the point's epochs)");
            Check(double.IsFinite(run.Loss) && run.Loss >= 0, "loss", $"{run.Loss.ToString("R", Inv)}, expected a finite number ≥ 0");
            Check(double.IsFinite(run.TrainSeconds) && run.TrainSeconds >= 0, "trainSeconds", $"{run.TrainSeconds.ToString("R", Inv)}, expected a finite number ≥ 0");
        }
        return new Part(dto);
    }

    /// <summary>The plan a file's settings describe, every value checked as on the command line; one line naming the file when it is not a plan.</summary>
    public static SweepPlan PlanOf(string path, SweepDto dto)
    {
        try
        {
            foreach (var axis in dto.Settings.Axes)
            {
                var setting = Sweep.Settings.FirstOrDefault(s => Sweep.NameOf(s) == axis.Setting, (SweepSetting)(-1));
                if ((int)setting < 0) throw new FailureException($"unknown sweep setting '{Display.Clip(axis.Setting)}'");
                Sweep.ParseAxis(setting, string.Join(",", axis.Values.Select(Sweep.Format)));
            }
            if (dto.Settings.Seeds.Count < 1 || dto.Settings.Seeds.Count > Limits.MaxSeeds) throw new FailureException($"{dto.Settings.Seeds.Count} seeds, expected 1 to {Limits.MaxSeeds}");
            return new SweepPlan(dto.Settings);
        }
        catch (Exception e) when (e is ArgumentException or FailureException)
        {
            throw new FailureException($"'{Display.Escape(path)}': settings: {Display.WithoutParameter(e.Message)}");
        }
    }
}

/// <summary>The sweep's table (one row per point, over its seeds) and its pictures (the metric against each swept setting).</summary>
public static class SweepTable
{
    public const string MarkdownFile = "sweep.md";
    public const string JsonFile = "sweep.json";

    public static string PictureFile(string setting) => $"sweep-{setting}.png";

    public static string Markdown(SweepPlan plan, IReadOnlyList<SweepJson.RunDto> runs, double wallSeconds, string wallNote = "")
    {
        var names = plan.Settings.Axes.Select(a => a.Setting).ToList();
        var md = new StringBuilder();
        md.AppendLine();
        md.AppendLine($"| point | {string.Join(" | ", names)} | accuracy: min / median / max | best epoch's accuracy (median) | seeds | train s (median) |");
        md.AppendLine($"|---|{string.Concat(names.Select(_ => "---|"))}---|---|---|---|");
        foreach (var point in runs.GroupBy(r => r.Point).OrderBy(g => g.Key))
        {
            var acc = point.Select(r => r.Accuracy).Order().ToList();
            var best = point.Select(r => r.BestAccuracy).Order().ToList();
            var secs = point.Select(r => r.TrainSeconds).Order().ToList();
            var values = names.Select(n => Sweep.Format(point.First().Settings[n]));
            md.AppendLine($"| {point.Key} | {string.Join(" | ", values)} | {RunPrinter.Percent(acc[0])} / {RunPrinter.Percent(Stats.Median(acc))} / {RunPrinter.Percent(acc[^1])} | "
                        + $"{RunPrinter.Percent(Stats.Median(best))} | {acc.Count} | {Stats.Median(secs).ToString("0.00", Inv)} |");
        }
        md.AppendLine($"total wall time {wallSeconds.ToString("0.0", Inv)} s{wallNote}");
        return md.ToString();
    }

    /// <summary>Every file <see cref="Write"/> writes into <paramref name="dir"/>.</summary>
    public static IEnumerable<string> Files(string dir, SweepPlan plan) => Files(dir, Pictured(plan).Select(a => a.Setting));

    /// <summary>The files a sweep's <c>--out</c> holds: a picture per pictured setting, the JSON and the markdown.</summary>
    public static IEnumerable<string> Files(string dir, IEnumerable<string> pictured) =>
        pictured.Select(s => Path.Combine(dir, PictureFile(s))).Append(Path.Combine(dir, JsonFile)).Append(Path.Combine(dir, MarkdownFile));

    /// <summary>Writes the pictures, sweep.json and, last, sweep.md into <paramref name="dir"/>; returns the paths written.</summary>
    public static IReadOnlyList<string> Write(string dir, SweepPlan plan, IReadOnlyList<SweepJson.RunDto> runs, double wallSeconds, string wallNote = "")
    {
        var written = new List<string>();
        foreach (var axis in Pictured(plan))
        {
            var path = Path.Combine(dir, PictureFile(axis.Setting));
            AtomicFile.WriteAllBytes(path, Picture(plan.Settings.Experiment, axis, runs));
            written.Add(path);
        }
        var json = Path.Combine(dir, JsonFile);
        AtomicFile.WriteAllText(json, SweepJson.Serialize(plan.Settings, runs));
        written.Add(json);
        var md = new StringBuilder();
        md.AppendLine($"# Sweep of {plan.Settings.Experiment}");
        md.AppendLine();
        md.AppendLine($"Seeds {string.Join(", ", plan.Settings.Seeds)}; every other setting as the tutorial has it. In {JsonFile}, {SweepJson.MetricNote}");
        md.Append(SweepTable.Markdown(plan, runs, wallSeconds, wallNote));
        md.AppendLine();
        foreach (var axis in Pictured(plan))
            md.AppendLine($"![accuracy against {axis.Setting}]({PictureFile(axis.Setting)})");
        var mdPath = Path.Combine(dir, MarkdownFile);
        AtomicFile.WriteAllText(mdPath, md.ToString());
        written.Add(mdPath);
        return written;
    }

    /// <summary>The settings that take more than one value: each gets a picture (one value is a fixed setting, not a sweep).</summary>
    private static IEnumerable<SweepJson.AxisDto> Pictured(SweepPlan plan) => plan.Settings.Axes.Where(a => a.Values.Count > 1);

    /// <summary>Accuracy against one setting (see <see cref="MetricPicture"/>).</summary>
    public static byte[] Picture(string experiment, SweepJson.AxisDto axis, IReadOnlyList<SweepJson.RunDto> runs) =>
        MetricPicture($"{experiment}: accuracy against {axis.Setting}", "accuracy after training", axis,
                      runs.Select(r => (r.Settings[axis.Setting], r.Accuracy)).ToList(), 1.05, ScottPlot.Alignment.LowerRight);

    /// <summary>
    /// A metric against one setting: every run as a dot, the median at each value joined by a line, the
    /// values at even steps, labelled; the metric's axis from 0 to <paramref name="top"/>.
    /// </summary>
    public static byte[] MetricPicture(string title, string metric, SweepJson.AxisDto axis, IReadOnlyList<(double Setting, double Metric)> runs,
                                       double top, ScottPlot.Alignment legend)
    {
        Plots.UseSansFont();
        var plot = new ScottPlot.Plot();
        var xs = new List<double>();
        var ys = new List<double>();
        var medians = new double[axis.Values.Count];
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (var k = 0; k < axis.Values.Count; k++)
        {
            var at = runs.Where(r => r.Setting == axis.Values[k]).Select(r => r.Metric).Order().ToList();
            xs.AddRange(at.Select(_ => (double)k));
            ys.AddRange(at);
            medians[k] = Stats.Median(at);
            ticks.AddMajor(k, Sweep.Format(axis.Values[k]));
        }
        var dots = plot.Add.ScatterPoints(xs.ToArray(), ys.ToArray());
        dots.LegendText = "each run";
        var line = plot.Add.Scatter(Enumerable.Range(0, medians.Length).Select(k => (double)k).ToArray(), medians);
        line.LegendText = "median";
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.SetLimits(-0.5, axis.Values.Count - 0.5, 0, top);
        plot.Title(title);
        plot.XLabel(axis.Setting);
        plot.YLabel(metric);
        plot.ShowLegend(legend);
        return plot.GetImageBytes(800, 420, ScottPlot.ImageFormat.Png);
    }
}
