using System.Text.Json;
using System.Text.Json.Serialization;
using AlphabetLstm.Core;

namespace AlphabetLstm.Cli;

/// <summary>The machine-readable results of <c>experiment --json</c> and <c>results.json</c> (camelCase, one entry per run).</summary>
public static class ResultsJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public sealed record PredictionDto(string Input, string Expected, string Predicted);

    public sealed record GenerationDto(string FromA, string FromKAfterReset, string FromKAfterWarmup);

    public sealed record RunDto(
        string Experiment, long Seed, int Epochs, int Units, int BatchSize, bool Masked,
        double Accuracy, double Loss, double TutorialAccuracy, double TrainSeconds,
        IReadOnlyList<PredictionDto> Predictions,
        double? ShuffledAccuracy,
        double? BatchMaxDifference,
        GenerationDto? Generation,
        IReadOnlyList<double> LossHistory,
        IReadOnlyList<double> AccuracyHistory);

    public sealed record ResultsDto(IReadOnlyList<RunDto> Runs);

    public static RunDto ToDto(RunRecord run)
    {
        var r = run.Result;
        var g = r.Generation?.Value;
        return new RunDto(
            r.Spec.Id, r.Seed, r.Config.Epochs, r.Spec.Units, r.Config.BatchSize, r.Config.Masked,
            r.Accuracy, r.Loss, r.Spec.TutorialAccuracy, Math.Round(run.TrainSeconds, 3),
            r.Predictions.Select(p => new PredictionDto(p.Input, p.Expected, p.Predicted)).ToList(),
            r.BatchIndependence?.Value.ShuffledAccuracy,
            r.BatchIndependence?.Value.MaxDifference,
            g is null ? null : new GenerationDto(g.FromA, g.FromKAfterReset, g.FromKAfterWarmup),
            run.History.Select(h => h.Loss).ToList(),
            run.History.Select(h => h.Accuracy).ToList());
    }

    public static string Serialize(IEnumerable<RunRecord> runs) =>
        JsonSerializer.Serialize(new ResultsDto(runs.Select(ToDto).ToList()), Options);
}
