using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace AlphabetLstm.Cli;

/// <summary>
/// <c>sweep --text FILE [--units ..] [--learning-rate ..] [--window ..] [--batch-size ..] [--epochs ..]
/// [--stateful] [--encoding E] [--targets T] [--validation F] ...</c>: trains one text at every point
/// of a grid, each point once per seed, and compares the points by their held-out loss. The text is
/// read and checked once; every run is the core's text run (<see cref="TextRuns.Prepare"/>, then
/// <see cref="TextTraining.Fit"/>), its result stored at its place in the run list, so
/// <c>--jobs</c>, <c>--shard</c> and <c>merge</c> give the same numbers as one process.
/// </summary>
public static class TextSweepCommand
{
    /// <summary>What a text sweep's options say, parsed; the grid's axes and the seeds come separately.</summary>
    public sealed record Options(string Path, bool Stateful, SymbolEncoding Encoding, Targets Targets, double Validation);

    /// <summary>
    /// The value of every setting a point does not sweep: <c>train --text</c>'s defaults. One line per
    /// setting; a setting added to <see cref="SweepSetting"/> gets its default here.
    /// </summary>
    public static readonly IReadOnlyList<(SweepSetting Setting, double Value)> Defaults =
    [
        (SweepSetting.Units, TextCommands.DefaultUnits),
        (SweepSetting.LearningRate, TextCommands.DefaultLearningRate),
        (SweepSetting.Window, TextCommands.DefaultWindow),
        (SweepSetting.BatchSize, TextCommands.DefaultBatchSize),
        (SweepSetting.Epochs, TextCommands.DefaultEpochs),
        (SweepSetting.Layers, TextCommands.DefaultLayers),
    ];

    /// <summary>The held-out fraction must be above 0: the held-out loss is what a text sweep compares.</summary>
    public static void RefuseNoValidation(double validation)
    {
        if (validation == 0)
            throw new UsageException($"--validation 0 holds nothing out, but a text sweep compares the points by their held-out loss: give a fraction above 0, up to {TextRun.MaxValidation.ToString(Inv)} (default {TextRun.DefaultValidation.ToString(Inv)})");
    }

    public static int Execute(Options o, IReadOnlyList<SweepAxis> axes, IReadOnlyList<long> seeds, ExperimentCommand.RunOptions options,
                              string? gridFile, string? jsonFile, string? outDir, bool quiet, TextWriter stdout)
    {
        RefuseNoValidation(o.Validation);
        // The grid first (it needs no file), then the text: a bad grid is a usage error before anything is read.
        var shape = TextSweepPlan.CheckGrid(axes, seeds);
        OutputRule.Guard(
            [new("--json", jsonFile), .. outDir is null ? [] : SweepTable.Files(outDir, axes.Where(a => a.Values.Length > 1).Select(a => Sweep.NameOf(a.Setting))).Select(f => new OutputRule.Named("--out", f))],
            [new("--text", o.Path), new("--grid", gridFile)]);
        var scanned = TextCommands.ScanTextFile(o.Path, "--text");
        var settings = new TextSweepJson.SettingsDto(
            Path.GetFullPath(o.Path), scanned.Sha256, scanned.Scan.Length, scanned.Scan.Vocabulary.Count, o.Stateful,
            ModelFile.EncodingName(o.Encoding), ModelFile.TargetsName(o.Targets), o.Validation,
            Defaults.ToDictionary(d => Sweep.NameOf(d.Setting), d => d.Value),
            shape.Select(a => new SweepJson.AxisDto(Sweep.NameOf(a.Setting), a.Values)).ToList(), seeds);
        var plan = new TextSweepPlan(settings);
        // Every point checked against the text (long enough for its samples, within the memory limit) before any is trained.
        foreach (var point in plan.Points)
        {
            var s = plan.SettingsOf(point);
            try { TextCommands.CheckFits(plan.RunOf(point, scanned.Scan.Vocabulary), scanned.Scan, s.Units, s.Layers, o.Path); }
            catch (FailureException e) { throw new FailureException($"point {point.Index} ({Sweep.Describe(plan.Axes, point)}): {e.Message}"); }
        }
        var share = options.Shard;
        SweepOutput.Prepare(jsonFile, outDir, stdout);
        stdout.WriteLine($"linear algebra: {LinearAlgebra.Select()}");
        var planned = share is var (index, count) ? Sweep.Shard(index, count, plan.Runs) : plan.Runs;
        stdout.WriteLine($"sweep of '{Display.Escape(settings.Text)}' ({settings.Characters} characters, {settings.VocabularySize} distinct; {plan.Reading}): "
                       + $"{plan.Points.Length} points × {seeds.Count} seeds = {plan.Runs.Length} runs"
                       + (share is var (k, n) ? $"; shard {k}/{n}: {planned.Length} of them" : ""));
        var text = TextCommands.EncodeTextFile(o.Path, scanned, "--text");
        var wall = Stopwatch.StartNew();
        var runs = OrderedJobs.Run(planned.Length, options.Jobs,
            (k, stop) => plan.Train(planned[k], text, options.Threads, stop),
            (k, dto) => { if (!quiet) stdout.WriteLine(TextSweepTable.RunLine(plan, planned[k], dto)); });
        var seconds = wall.Elapsed.TotalSeconds;
        var shard = share is var (si, sn) ? new ResultsJson.ShardDto(si, sn, Math.Round(seconds, 3)) : null;
        return SweepOutput.Finish(TextSweepTable.Markdown(plan, runs, seconds), jsonFile, () => TextSweepJson.Serialize(settings, runs, shard),
                                  outDir, dir => TextSweepTable.Write(dir, plan, runs, seconds), stdout);
    }

    /// <summary><c>merge</c> of text sweep parts: the checks every merge makes (one text, one grid, every run once), then one sweep's table, JSON and pictures.</summary>
    public static int Merge(IReadOnlyList<(string Path, string Results)> texts, string? jsonFile, string? outDir, bool missingShards, TextWriter stdout)
    {
        var files = texts.Select(t => (t.Path, Sweep: TextSweepJson.Parse(t.Path, t.Results))).ToList();
        var first = files[0].Sweep;
        var plan = TextSweepJson.PlanOf(files[0].Path, first);
        var parts = files.Select(f => new ShardPart<TextSweepJson.RunDto>(f.Path, f.Sweep.Program, f.Sweep.Shard, f.Sweep.Runs)).ToList();
        var keys = plan.Runs.Select(r => SweepPlan.Key(r.Point.Index, r.Seed)).ToList();
        var planned = $"sweep of '{Display.Escape(first.Settings.Text)}' over {TextSweepJson.Grid(first.Settings)}; seeds {string.Join(", ", first.Settings.Seeds)}";
        string? Difference(int i) => TextSweepJson.Difference(first.Settings, files[i].Sweep.Settings);
        if (missingShards)
        {
            stdout.WriteLine(string.Join(",", ShardJoin.MissingShards(parts, Difference, keys, r => r.Key, planned)));
            return ExitCodes.Ok;
        }
        var runs = ShardJoin.Join(parts, Difference, keys, r => r.Key, planned);
        OutputRule.Guard(
            [new("--json", jsonFile), .. outDir is null ? [] : SweepTable.Files(outDir, plan.Settings.Axes.Where(a => a.Values.Count > 1).Select(a => a.Setting)).Select(f => new OutputRule.Named("--out", f))],
            files.Select((f, k) => new OutputRule.Named($"part {k + 1}", f.Path)));
        SweepOutput.Prepare(jsonFile, outDir, stdout);
        var (wall, note) = SweepOutput.ShardsWall(files.Select(f => f.Sweep.Shard));
        return SweepOutput.Finish(TextSweepTable.Markdown(plan, runs, wall, note), jsonFile, () => TextSweepJson.Serialize(plan.Settings, runs),
                                  outDir, dir => TextSweepTable.Write(dir, plan, runs, wall, note), stdout);
    }
}

/// <summary>What a text sweep runs: the core's grid and run list over one text, and each point's settings.</summary>
public sealed class TextSweepPlan
{
    public TextSweepPlan(TextSweepJson.SettingsDto settings)
    {
        Settings = settings;
        Axes = settings.Axes.Select(a => Sweep.ParseTextAxis(TextSweepJson.SettingOf(a.Setting), string.Join(",", a.Values.Select(Sweep.Format)))).ToArray();
        CheckGrid(Axes, settings.Seeds);
        var names = TextSweepCommand.Defaults.Select(d => Sweep.NameOf(d.Setting)).ToList();
        if (!settings.Defaults.Keys.Order().SequenceEqual(names.Order()))
            throw new FailureException($"defaults: expected a value for each of {string.Join(", ", names)}, found {string.Join(", ", settings.Defaults.Keys.Select(Display.Clip))}");
        // The defaults are read through the core's ApplyText, as a point of one value per setting: each checked as an axis value is.
        var defaults = names.Select(n => Sweep.ParseTextAxis(TextSweepJson.SettingOf(n), Sweep.Format(settings.Defaults[n]))).ToArray();
        var zero = new TextSweepSettings(0, 0, 0, 0, 0, 0);
        Base = Sweep.ApplyText(defaults, new SweepPoint(0, defaults.Select(a => a.Values[0]).ToArray()), zero);
        Encoding = ModelFile.ParseEncoding(settings.Encoding) ?? throw new FailureException($"encoding: expected {string.Join(" or ", ModelFile.TextEncodingNames)}, found \"{Display.Clip(settings.Encoding)}\"");
        Targets = ModelFile.ParseTargets(settings.Targets) ?? throw new FailureException($"targets: expected {string.Join(" or ", ModelFile.TargetsNames)}, found \"{Display.Clip(settings.Targets)}\"");
        if (!(settings.Validation > 0 && settings.Validation <= TextRun.MaxValidation))
            throw new FailureException($"validation: {settings.Validation.ToString("R", Inv)}, expected a fraction above 0, up to {TextRun.MaxValidation.ToString(Inv)}");
        Points = Sweep.Grid(Axes);
        Runs = Sweep.Runs(Axes, settings.Seeds.ToArray());
        PointSettings = Points.Select(p => Sweep.ApplyText(Axes, p, Base)).ToList();
    }

    /// <summary>The grid's axes and seeds checked as the core checks them (no setting twice, not too many runs); usage errors.</summary>
    public static SweepAxis[] CheckGrid(IReadOnlyList<SweepAxis> axes, IReadOnlyList<long> seeds)
    {
        try { Sweep.Check(axes.ToArray(), seeds.Count); }
        catch (ArgumentException e) { throw new UsageException(Display.WithoutParameter(e.Message)); }
        return axes.ToArray();
    }

    public TextSweepJson.SettingsDto Settings { get; }
    public SweepAxis[] Axes { get; }
    public SweepPoint[] Points { get; }
    public SweepRun[] Runs { get; }
    public SymbolEncoding Encoding { get; }
    public Targets Targets { get; }

    /// <summary>Every setting's value where the grid does not set it.</summary>
    public TextSweepSettings Base { get; }

    /// <summary>The settings each point trains with, by point index.</summary>
    public IReadOnlyList<TextSweepSettings> PointSettings { get; }

    public TextSweepSettings SettingsOf(SweepPoint point) => PointSettings[point.Index];

    /// <summary>How the text is read, in words.</summary>
    public string Reading =>
        $"{(Settings.Stateful ? "streams" : "windows")}, {Settings.Targets} targets, {Settings.Encoding}, the last {Settings.Validation.ToString(Inv)} held out";

    /// <summary>The text run of a point: how its window and batch cut the text.</summary>
    public TextRun RunOf(SweepPoint point, Vocabulary vocabulary)
    {
        var s = SettingsOf(point);
        return new TextRun(Settings.Text, Settings.Sha256, s.Window, s.BatchSize, Encoding, Settings.Stateful, vocabulary, Targets, Settings.Validation);
    }

    /// <summary>
    /// One run of the sweep: the point's text run prepared for its seed and trained to its last epoch
    /// (the one place a text sweep calls the core's text training); its final and best held-out loss.
    /// A held-out loss that is not finite stops the sweep with one line naming the run and the epoch.
    /// </summary>
    public TextSweepJson.RunDto Train(SweepRun run, IndexedText text, int threads, CancellationToken stop)
    {
        var s = SettingsOf(run.Point);
        var prepared = TextRuns.Prepare(RunOf(run.Point, text.Vocabulary), text, run.Seed, s.Units, s.Layers, s.Epochs, s.LearningRate).WithThreads(threads);
        var clock = Stopwatch.StartNew();
        TextEpoch? last = null, best = null;
        foreach (var epoch in TextTraining.Fit(prepared, _ => stop.ThrowIfCancellationRequested()))
        {
            if (!double.IsFinite(epoch.ValidationLoss) || !double.IsFinite(epoch.Report.Loss))
                throw new FailureException($"point {run.Point.Index} ({Sweep.Describe(Axes, run.Point)}), seed {run.Seed}: the loss is not finite at epoch {epoch.Report.Epoch}: the training diverged (a lower learning rate may help)");
            last = epoch;
            // The best epoch: the lowest held-out loss, the first of equals (as train --text keeps it).
            if (best is null || epoch.ValidationLoss < best.ValidationLoss) best = epoch;
        }
        var seconds = clock.Elapsed.TotalSeconds;
        return new TextSweepJson.RunDto(
            run.Point.Index,
            Axes.Select((a, k) => (Sweep.NameOf(a.Setting), run.Point.Values[k])).ToDictionary(x => x.Item1, x => x.Item2),
            run.Seed, last!.ValidationLoss, last.ValidationBitsPerCharacter, best!.ValidationLoss, best.ValidationBitsPerCharacter,
            best.Report.Epoch, last.Report.Loss, Math.Round(seconds, 3));
    }
}

/// <summary>
/// The machine-readable text sweep (<c>sweep --text --json</c>, its shards, <c>sweep.json</c>): the text
/// (path and SHA-256), how it is read, the defaults and the grid, and one record per run with its
/// final and best held-out loss in nats and bits per character.
/// </summary>
public static class TextSweepJson
{
    public const string Format = "alphabet-lstm-text-sweep";
    public const int FormatVersion = 1;

    public const string MetricNote =
        "heldOutLoss is the loss on the held-out end of the text after the last epoch, in nats per target (heldOutBitsPerCharacter = nats / ln 2); "
      + "bestHeldOutLoss is the lowest of any epoch, reached at bestEpoch (the first of equals); trainingLoss is the last epoch's mean loss on the training part; "
      + "trainSeconds is the wall time of the run's epochs (training and held-out passes). Settings a point does not sweep take the values in defaults.";

    public sealed record SettingsDto(
        string Text, string Sha256, long Characters, int VocabularySize, bool Stateful, string Encoding, string Targets, double Validation,
        IReadOnlyDictionary<string, double> Defaults, IReadOnlyList<SweepJson.AxisDto> Axes, IReadOnlyList<long> Seeds);

    public sealed record RunDto(
        int Point, IReadOnlyDictionary<string, double> Settings, long Seed,
        double HeldOutLoss, double HeldOutBitsPerCharacter, double BestHeldOutLoss, double BestHeldOutBitsPerCharacter, int BestEpoch,
        double TrainingLoss, double TrainSeconds)
    {
        [System.Text.Json.Serialization.JsonIgnore] public string Key => SweepPlan.Key(Point, Seed);
    }

    public sealed record TextSweepDto(
        string Format, int Version, string Program, SettingsDto Settings, string Metrics, IReadOnlyList<RunDto> Runs, ResultsJson.ShardDto? Shard = null);

    public static string Serialize(SettingsDto settings, IReadOnlyList<RunDto> runs, ResultsJson.ShardDto? shard = null) =>
        JsonSerializer.Serialize(new TextSweepDto(Format, FormatVersion, ResultsJson.Program, settings, MetricNote, runs, shard), ResultsJson.Options);

    /// <summary>The setting with this name, or a one-line failure naming it.</summary>
    public static SweepSetting SettingOf(string name) =>
        Sweep.Settings.FirstOrDefault(s => Sweep.NameOf(s) == name, (SweepSetting)(-1)) is var s && (int)s >= 0
            ? s : throw new FailureException($"unknown sweep setting '{Display.Clip(name)}'");

    /// <summary>The grid in words: "units 8, 16; window 5".</summary>
    public static string Grid(SettingsDto s) => string.Join("; ", s.Axes.Select(x => $"{x.Setting} {string.Join(", ", x.Values.Select(Sweep.Format))}"));

    /// <summary>The first setting in which two text sweeps differ, in words, or null. The path only labels the text: its SHA-256 decides.</summary>
    public static string? Difference(SettingsDto a, SettingsDto b)
    {
        static string Read(SettingsDto s) => $"{(s.Stateful ? "streams" : "windows")}, {s.Targets} targets, {s.Encoding}, validation {s.Validation.ToString("R", Inv)}";
        static string Defaults(SettingsDto s) => string.Join(", ", s.Defaults.Select(d => $"{d.Key} {Sweep.Format(d.Value)}"));
        if (a.Sha256 != b.Sha256) return $"another text: '{Display.Escape(b.Text)}' (SHA-256 {b.Sha256}) vs '{Display.Escape(a.Text)}' (SHA-256 {a.Sha256})";
        if (Read(a) != Read(b)) return $"the text is read as {Read(b)} vs {Read(a)}";
        if (Defaults(a) != Defaults(b)) return $"defaults {Defaults(b)} vs {Defaults(a)}";
        if (Grid(a) != Grid(b)) return $"grid {Grid(b)} vs {Grid(a)}";
        if (!a.Seeds.SequenceEqual(b.Seeds)) return $"seeds {string.Join(", ", b.Seeds)} vs {string.Join(", ", a.Seeds)}";
        return null;
    }

    /// <summary>Parses a text sweep file or shard and checks every figure; fails with one line naming the file and what is wrong.</summary>
    public static TextSweepDto Parse(string path, string text)
    {
        var shown = Display.Escape(path);
        TextSweepDto dto;
        try
        {
            using var doc = JsonDocument.Parse(text);
            var root = doc.RootElement;
            var format = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null;
            if (format != Format)
                throw new FailureException($"'{shown}': format: expected \"{Format}\" (the JSON sweep --text --json writes), found {(format is null ? "none" : $"\"{Display.Clip(format)}\"")}");
            if (!root.TryGetProperty("version", out var v) || !v.TryGetInt32(out var version) || version != FormatVersion)
                throw new FailureException($"'{shown}': version: expected {FormatVersion}, found {(root.TryGetProperty("version", out var vv) ? Display.Clip(vv.GetRawText()) : "none")}");
            dto = root.Deserialize<TextSweepDto>(ResultsJson.Options) ?? throw new FailureException($"'{shown}': expected a JSON object");
        }
        catch (JsonException e)
        {
            throw new FailureException($"'{shown}': not a whole text sweep file: {(e.Path is { Length: > 0 } p ? p + ": " : "")}{e.Message}");
        }
        var plan = PlanOf(path, dto);
        var seeds = dto.Settings.Seeds.ToHashSet();
        if (dto.Shard is { } s && !(s.Count >= 1 && s.Index >= 0 && s.Index < s.Count && double.IsFinite(s.WallSeconds) && s.WallSeconds >= 0))
            throw new FailureException($"'{shown}': shard: {s.Index}/{s.Count} in {s.WallSeconds.ToString("R", Inv)} s is no shard; expected K/N with N ≥ 1, 0 ≤ K < N and a time ≥ 0");
        for (var k = 0; k < dto.Runs.Count; k++)
        {
            var run = dto.Runs[k];
            void Check(bool ok, string field, string problem)
            {
                if (!ok) throw new FailureException($"'{shown}': runs[{k}].{field}: {problem}");
            }
            static bool Loss(double x) => double.IsFinite(x) && x >= 0;
            Check(run.Point >= 0 && run.Point < plan.Points.Length, "point", $"{run.Point}, expected 0 to {plan.Points.Length - 1} (the grid's points)");
            Check(seeds.Contains(run.Seed), "seed", $"{run.Seed}, which the sweep's seeds do not hold");
            var point = plan.Points[run.Point];
            var expected = dto.Settings.Axes.Select((a, i) => (a.Setting, Value: point.Values[i])).ToList();
            Check(run.Settings.Count == expected.Count && expected.All(x => run.Settings.TryGetValue(x.Setting, out var got) && got == x.Value), "settings",
                  $"expected point {run.Point}'s values: {Sweep.Describe(plan.Axes, point)}");
            foreach (var (field, value) in new[] { ("heldOutLoss", run.HeldOutLoss), ("heldOutBitsPerCharacter", run.HeldOutBitsPerCharacter),
                                                   ("bestHeldOutLoss", run.BestHeldOutLoss), ("bestHeldOutBitsPerCharacter", run.BestHeldOutBitsPerCharacter),
                                                   ("trainingLoss", run.TrainingLoss), ("trainSeconds", run.TrainSeconds) })
                Check(Loss(value), field, $"{value.ToString("R", Inv)}, expected a finite number ≥ 0");
            Check(run.BestHeldOutLoss <= run.HeldOutLoss, "bestHeldOutLoss", $"{run.BestHeldOutLoss.ToString("R", Inv)}, above the final {run.HeldOutLoss.ToString("R", Inv)}: the best is the lowest of every epoch");
            Check(run.BestEpoch >= 1 && run.BestEpoch <= plan.SettingsOf(point).Epochs, "bestEpoch", $"{run.BestEpoch}, expected 1 to {plan.SettingsOf(point).Epochs} (the point's epochs)");
        }
        return dto;
    }

    /// <summary>The plan a file's settings describe, every value checked as on the command line; one line naming the file when it is not a plan.</summary>
    public static TextSweepPlan PlanOf(string path, TextSweepDto dto)
    {
        try
        {
            var s = dto.Settings;
            if (s.Seeds.Count < 1 || s.Seeds.Count > Limits.MaxSeeds) throw new FailureException($"{s.Seeds.Count} seeds, expected 1 to {Limits.MaxSeeds}");
            if (s.Sha256.Length != 64 || !s.Sha256.All(Uri.IsHexDigit)) throw new FailureException($"sha256: \"{Display.Clip(s.Sha256)}\", expected 64 hex digits");
            return new TextSweepPlan(s);
        }
        catch (Exception e) when (e is ArgumentException or FailureException or UsageException)
        {
            throw new FailureException($"'{Display.Escape(path)}': settings: {Display.WithoutParameter(e.Message)}");
        }
    }
}

/// <summary>The text sweep's table (one row per point, over its seeds) and its pictures (held-out bits per character against each swept setting).</summary>
public static class TextSweepTable
{
    /// <summary>One run's result as the console shows it while the sweep goes on.</summary>
    public static string RunLine(TextSweepPlan plan, SweepRun run, TextSweepJson.RunDto r) =>
        $"point {run.Point.Index} ({Sweep.Describe(plan.Axes, run.Point)}) seed {run.Seed}: held-out {TextCommands.Nats(r.HeldOutLoss)}; "
      + $"best {r.BestHeldOutBitsPerCharacter.ToString("0.0000", Inv)} bits/char at epoch {r.BestEpoch}; trained in {r.TrainSeconds.ToString("0.00", Inv)} s";

    private static string Bits(double x) => x.ToString("0.0000", Inv);

    public static string Markdown(TextSweepPlan plan, IReadOnlyList<TextSweepJson.RunDto> runs, double wallSeconds, string wallNote = "")
    {
        var names = plan.Settings.Axes.Select(a => a.Setting).ToList();
        var md = new StringBuilder();
        md.AppendLine();
        md.AppendLine($"| point | {string.Join(" | ", names)} | held-out bits/char: min / median / max | held-out nats (median) | best epoch's bits/char (median) | best epoch (median) | seeds | train s (median) |");
        md.AppendLine($"|---|{string.Concat(names.Select(_ => "---|"))}---|---|---|---|---|---|");
        foreach (var point in runs.GroupBy(r => r.Point).OrderBy(g => g.Key))
        {
            var bits = point.Select(r => r.HeldOutBitsPerCharacter).Order().ToList();
            var nats = point.Select(r => r.HeldOutLoss).Order().ToList();
            var best = point.Select(r => r.BestHeldOutBitsPerCharacter).Order().ToList();
            var epochs = point.Select(r => (double)r.BestEpoch).Order().ToList();
            var secs = point.Select(r => r.TrainSeconds).Order().ToList();
            var values = names.Select(n => Sweep.Format(point.First().Settings[n]));
            md.AppendLine($"| {point.Key} | {string.Join(" | ", values)} | {Bits(bits[0])} / {Bits(Stats.Median(bits))} / {Bits(bits[^1])} | {Bits(Stats.Median(nats))} | "
                        + $"{Bits(Stats.Median(best))} | {Stats.Median(epochs).ToString("0.#", Inv)} | {bits.Count} | {Stats.Median(secs).ToString("0.00", Inv)} |");
        }
        md.AppendLine($"total wall time {wallSeconds.ToString("0.0", Inv)} s{wallNote}");
        return md.ToString();
    }

    /// <summary>Writes the pictures, sweep.json and, last, sweep.md into <paramref name="dir"/>; returns the paths written.</summary>
    public static IReadOnlyList<string> Write(string dir, TextSweepPlan plan, IReadOnlyList<TextSweepJson.RunDto> runs, double wallSeconds, string wallNote = "")
    {
        var s = plan.Settings;
        var pictured = s.Axes.Where(a => a.Values.Count > 1).ToList();
        var written = new List<string>();
        var name = Path.GetFileName(s.Text);
        foreach (var axis in pictured)
        {
            var path = Path.Combine(dir, SweepTable.PictureFile(axis.Setting));
            var points = runs.Select(r => (r.Settings[axis.Setting], r.HeldOutBitsPerCharacter)).ToList();
            AtomicFile.WriteAllBytes(path, SweepTable.MetricPicture($"{name}: held-out loss against {axis.Setting}", "held-out bits/char after training", axis, points,
                                                                   1.05 * Math.Max(1e-9, runs.Max(r => r.HeldOutBitsPerCharacter)), ScottPlot.Alignment.UpperRight));
            written.Add(path);
        }
        var json = Path.Combine(dir, SweepTable.JsonFile);
        AtomicFile.WriteAllText(json, TextSweepJson.Serialize(s, runs));
        written.Add(json);
        var md = new StringBuilder();
        md.AppendLine($"# Sweep of {name}");
        md.AppendLine();
        md.AppendLine($"The text '{s.Text}' (SHA-256 {s.Sha256}; {s.Characters} characters, {s.VocabularySize} distinct), read as {plan.Reading}. "
                    + $"Seeds {string.Join(", ", s.Seeds)}; the settings not swept: {string.Join(", ", s.Defaults.Where(d => !s.Axes.Any(a => a.Setting == d.Key)).Select(d => $"{d.Key} {Sweep.Format(d.Value)}"))}. "
                    + $"In {SweepTable.JsonFile}, {TextSweepJson.MetricNote}");
        md.Append(Markdown(plan, runs, wallSeconds, wallNote));
        md.AppendLine();
        foreach (var axis in pictured)
            md.AppendLine($"![held-out loss against {axis.Setting}]({SweepTable.PictureFile(axis.Setting)})");
        var mdPath = Path.Combine(dir, SweepTable.MarkdownFile);
        AtomicFile.WriteAllText(mdPath, md.ToString());
        written.Add(mdPath);
        return written;
    }
}

/// <summary>
/// Work items run <c>jobs</c> at a time, each on a thread of its own, every result stored at its
/// item's index: the results do not depend on the number of jobs. <c>inOrder</c> sees each result
/// in index order as soon as it and those before it are done. The first failure (in index order)
/// stops the rest and is rethrown.
/// </summary>
public static class OrderedJobs
{
    public static T[] Run<T>(int count, int jobs, Func<int, CancellationToken, T> work, Action<int, T> inOrder)
    {
        var results = new T[count];
        if (jobs <= 1 || count <= 1)
        {
            for (var k = 0; k < count; k++)
            {
                results[k] = work(k, CancellationToken.None);
                inOrder(k, results[k]);
            }
            return results;
        }
        var done = Enumerable.Range(0, count).Select(_ => new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        var next = -1;
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, Math.Min(jobs, count)).Select(w => new Thread(() =>
        {
            for (var k = Interlocked.Increment(ref next); k < count; k = Interlocked.Increment(ref next))
            {
                if (stop.IsCancellationRequested) { done[k].SetCanceled(); continue; }
                try { done[k].SetResult(work(k, stop.Token)); }
                catch (Exception e)
                {
                    stop.Cancel();
                    done[k].SetException(e);
                }
            }
        }) { IsBackground = true, Name = $"sweep worker {w}" }).ToList();
        foreach (var worker in workers) worker.Start();
        var finished = 0;
        try
        {
            for (; finished < count; finished++)
            {
                try { done[finished].Task.Wait(); }
                catch (AggregateException) { break; }
                results[finished] = done[finished].Task.Result;
                inOrder(finished, results[finished]);
            }
        }
        finally
        {
            stop.Cancel();
            foreach (var worker in workers) worker.Join();
        }
        if (finished < count)
        {
            // The first real failure in index order (items cancelled because of it are not failures).
            var failed = done.First(d => d.Task.IsFaulted && d.Task.Exception!.InnerException is not OperationCanceledException);
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failed.Task.Exception!.InnerException!);
        }
        return results;
    }
}
