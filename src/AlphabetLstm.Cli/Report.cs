using System.Globalization;
using System.Text;

namespace AlphabetLstm.Cli;

/// <summary>
/// Writes <c>report.md</c> and <c>results.json</c> into a folder, each atomically.
/// </summary>
public static class Report
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static IReadOnlyList<string> Write(string dir, IReadOnlyList<RunRecord> runs, double wallSeconds)
    {
        Directory.CreateDirectory(dir);
        var written = new List<string>();
        var results = Path.Combine(dir, "results.json");
        AtomicFile.WriteAllText(results, ResultsJson.Serialize(runs));
        written.Add(results);
        var report = Path.Combine(dir, "report.md");
        AtomicFile.WriteAllText(report, Markdown(runs, wallSeconds));
        written.Add(report);
        return written;
    }

    public static string Markdown(IReadOnlyList<RunRecord> runs, double wallSeconds)
    {
        var md = new StringBuilder();
        var seeds = runs.Select(r => r.Seed).Distinct().OrderBy(s => s).ToList();
        md.AppendLine("# AlphabetLstm: the tutorial's experiments");
        md.AppendLine();
        md.AppendLine($"Seeds {string.Join(", ", seeds)}; total wall time {wallSeconds.ToString("0.0", Inv)} s; linear algebra: {LinearAlgebra.Select()}.");
        md.AppendLine();
        md.AppendLine("| experiment | tutorial | ours: min / median / max | train time (median) | what it shows |");
        md.AppendLine("|---|---|---|---|---|");
        foreach (var group in runs.GroupBy(r => r.Spec.Id))
        {
            var acc = group.Select(r => r.Result.Accuracy).OrderBy(x => x).ToList();
            var secs = group.Select(r => r.TrainSeconds).OrderBy(x => x).ToList();
            var spec = group.First().Spec;
            md.AppendLine($"| {group.Key} | {RunPrinter.Percent(spec.TutorialAccuracy)} | {RunPrinter.Percent(acc[0])} / {RunPrinter.Percent(Stats.Median(acc))} / {RunPrinter.Percent(acc[^1])} | {Stats.Median(secs).ToString("0.00", Inv)} s | {spec.Lesson} |");
        }
        return md.ToString();
    }
}
