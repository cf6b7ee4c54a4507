using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using MathNet.Numerics.LinearAlgebra;

namespace AlphabetLstm.Cli;

/// <summary>
/// The machine-readable results of <c>experiment --json</c>, <c>results.json</c> and a shard's
/// JSON (camelCase, one entry per run). A file carries everything the report reads (histories,
/// predictions, demos, the hidden-state traces it draws), so <c>merge</c> can write from shard
/// files exactly the report and JSON that one unsharded run writes. The report itself is drawn
/// from these records, in both cases.
/// </summary>
public static class ResultsJson
{
    public const string Format = "alphabet-lstm-results";
    public const int FormatVersion = 1;

    /// <summary>What <c>trainSeconds</c> means, stated in every results file.</summary>
    public const string TimingNote =
        "trainSeconds is the wall time of one run's training loop (data and analysis excluded). "
      + "Runs trained side by side (--jobs above 1, or other programs on the machine) share its cores, caches and memory bandwidth, "
      + "so their trainSeconds include time spent waiting and are larger than the same run alone; compare training times only "
      + "between runs made with --jobs 1 on a quiet machine. The results themselves do not depend on --jobs, --shard or --threads.";

    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        // Plain '+' and apostrophes in the version and the notes; the files are not embedded in HTML.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };

    /// <summary>The program that wrote a file: name and informational version (with the commit it was built from).</summary>
    public static string Program { get; } =
        "alphabet-lstm " + (typeof(ResultsJson).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown");

    public sealed record PredictionDto(string Input, string Expected, string Predicted)
    {
        [JsonIgnore] public bool Correct => Expected == Predicted;
    }

    public sealed record GenerationDto(string FromA, string FromKAfterReset, string FromKAfterWarmup);

    public sealed record PaddingCollisionDto(
        string First, string Second, bool SameEncoding, bool Masked, string FirstPredicted, string SecondPredicted, double MaxDifference);

    /// <summary>h after each step, as rows (steps × H), and the letters fed.</summary>
    public sealed record TraceDto(string Inputs, IReadOnlyList<IReadOnlyList<double>> Hidden)
    {
        public StateTrace ToCore() =>
            new(Inputs, Matrix<double>.Build.DenseOfRowArrays(Hidden.Select(r => r.ToArray())));
    }

    public sealed record TracesDto(TraceDto FromA, TraceDto FromK);

    public sealed record RunDto(
        string Experiment, long Seed, int Epochs, int Units, int BatchSize, bool Masked,
        double Accuracy, double Loss, double TutorialAccuracy, double TrainSeconds,
        IReadOnlyList<PredictionDto> Predictions,
        IReadOnlyList<double> LossHistory,
        IReadOnlyList<double> AccuracyHistory,
        double? ShuffledAccuracy = null,
        double? BatchMaxDifference = null,
        GenerationDto? Generation = null,
        PaddingCollisionDto? PaddingCollision = null,
        TracesDto? Traces = null)
    {
        /// <summary>The experiment's settings as this run used them.</summary>
        [JsonIgnore]
        public ExperimentSpec Spec => Experiments.Ids.Contains(Experiment)
            ? Experiments.Find(Experiment).WithEpochs(Epochs).WithUnits(Units).WithMasked(Masked)
            : throw new FailureException(Experiments.UnknownMessage(Experiment));

        [JsonIgnore] public string Key => $"{Experiment} seed {Seed}";
    }

    /// <summary>
    /// What the user asked for: the experiments, the seeds and the overrides (null: the tutorial's value).
    /// <paramref name="Precision"/> is "float32" for a float32 plan and null (not written) for the
    /// tutorial's float64, so float64 results files read exactly as before.
    /// </summary>
    public sealed record SettingsDto(IReadOnlyList<string> Experiments, IReadOnlyList<long> Seeds, bool Mask, int? Epochs = null, int? Units = null,
                                     string? Precision = null);

    /// <summary>The settings' "precision" for a plan in <paramref name="precision"/>: null for float64 (the default, not written).</summary>
    public static string? PrecisionSetting(Precision precision) =>
        precision == AlphabetLstm.Core.Precision.Float64 ? null : ModelFile.PrecisionName(precision);

    /// <summary>The precision a results file's settings name (float64 when absent); one line for an unknown name.</summary>
    public static Precision PrecisionOf(SettingsDto settings) =>
        settings.Precision is null ? AlphabetLstm.Core.Precision.Float64
        : ModelFile.ParsePrecision(settings.Precision) ?? throw new FailureException(
            $"settings.precision: expected {string.Join(" or ", ModelFile.PrecisionNames.Select(n => $"\"{n}\""))}, found \"{Display.Clip(settings.Precision)}\"");

    /// <summary>Which share of the runs a shard file holds: <c>--shard Index/Count</c>, and its own wall time.</summary>
    public sealed record ShardDto(int Index, int Count, double WallSeconds);

    public sealed record ResultsDto(
        string Format, int Version, string Program, SettingsDto Settings, string Timing, IReadOnlyList<RunDto> Runs, ShardDto? Shard = null);

    /// <summary>
    /// One run as a record. The hidden-state traces are kept for the run the report pictures
    /// (<paramref name="traced"/>: the first seed of the stateful experiment) and left out elsewhere.
    /// </summary>
    public static RunDto ToDto(RunRecord run, bool traced)
    {
        var r = run.Result;
        var g = r.TryGetGeneration(out var generation) ? generation : null;
        var pc = r.TryGetPaddingCollision(out var collision) ? collision : null;
        var t = traced && r.TryGetTraces(out var traces) ? traces : null;
        var bi = r.TryGetBatchIndependence(out var independence) ? independence : null;
        return new RunDto(
            r.Spec.Id, r.Seed, r.Config.Epochs, r.Spec.Units, r.Config.BatchSize, r.Config.Masked,
            r.Accuracy, r.Loss, r.Spec.TutorialAccuracy, Math.Round(run.TrainSeconds, 3),
            r.Predictions.Select(p => new PredictionDto(p.Input, p.Expected, p.Predicted)).ToList(),
            run.History.Select(h => h.Loss).ToList(),
            run.History.Select(h => h.Accuracy).ToList(),
            bi?.ShuffledAccuracy,
            bi?.MaxDifference,
            g is null ? null : new GenerationDto(g.FromA, g.FromKAfterReset, g.FromKAfterWarmup),
            pc is null ? null : new PaddingCollisionDto(pc.First, pc.Second, pc.SameEncoding, pc.Masked, pc.FirstPredicted, pc.SecondPredicted, pc.MaxDifference),
            t is null ? null : new TracesDto(Trace(t.FromA), Trace(t.FromK)));
    }

    private static TraceDto Trace(StateTrace t) =>
        new(t.Inputs, t.Hidden.EnumerateRows().Select(row => (IReadOnlyList<double>)row.ToArray()).ToList());

    public static string Serialize(SettingsDto settings, IReadOnlyList<RunDto> runs, ShardDto? shard = null) =>
        JsonSerializer.Serialize(new ResultsDto(Format, FormatVersion, Program, settings, TimingNote, runs, shard), Options);

    /// <summary>Reads a results or shard file (through <see cref="InputFile"/>, capped by <paramref name="cap"/>); fails with one line naming the file and what is wrong.</summary>
    public static ResultsDto Read(string path, InputFile.Cap? cap = null) => Parse(path, InputFile.ReadText(path, "part", cap));

    /// <summary>A results or shard file's text as a record; fails with one line naming the file and what is wrong.</summary>
    public static ResultsDto Parse(string path, string text)
    {
        path = Display.Escape(path);
        if (text.Trim().Length == 0)
            throw new FailureException($"'{path}': the file is empty: expected the JSON that experiment --json writes");
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(text);
            root = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new FailureException($"'{path}': not valid JSON at line {e.LineNumber + 1}: {e.Message}");
        }
        var format = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null;
        if (format != Format)
            throw new FailureException($"'{path}': format: expected \"{Format}\" (the JSON experiment --json writes), found {(format is null ? "none" : $"\"{format}\"")}");
        if (!root.TryGetProperty("version", out var v) || !v.TryGetInt32(out var version) || version != FormatVersion)
            throw new FailureException($"'{path}': version: expected {FormatVersion}, found {(root.TryGetProperty("version", out var vv) ? vv.GetRawText() : "none")}");
        try
        {
            return root.Deserialize<ResultsDto>(Options) ?? throw new FailureException($"'{path}': expected a JSON object");
        }
        catch (JsonException e)
        {
            throw new FailureException($"'{path}': {(e.Path is { Length: > 0 } p ? p + ": " : "")}{e.Message}");
        }
    }
}
