using System.Text;

namespace AlphabetLstm.Cli;

/// <summary>
/// Writes the report folder: the pictures (<see cref="Plots"/>), <c>results.json</c> and, last,
/// <c>report.md</c>, each file atomically. report.md is written for a learner: what each
/// experiment shows about LSTM state, with the evidence next to the claim.
/// </summary>
public static class Report
{

    public const string MarkdownFile = "report.md";

    /// <summary>A string a results file gave (a merge reads other people's files): its control characters escaped.</summary>
    private static string E(string text) => Display.Escape(text);
    public const string ResultsFile = "results.json";

    /// <summary>
    /// Writes the folder from the runs' records (the same records the JSON holds, so <c>merge</c>
    /// writes from shard files what one unsharded run writes). <paramref name="wallNote"/> follows
    /// the wall time (merge says it is a sum over shards).
    /// </summary>
    public static IReadOnlyList<string> Write(string dir, ResultsJson.SettingsDto settings, IReadOnlyList<ResultsJson.RunDto> runs, double wallSeconds, string wallNote = "")
    {
        Directory.CreateDirectory(dir);
        var written = new List<string>(Plots.Write(dir, runs));
        var results = Path.Combine(dir, ResultsFile);
        AtomicFile.WriteAllText(results, ResultsJson.Serialize(settings, runs));
        written.Add(results);
        // report.md goes last: when it exists, everything it links to exists too.
        var report = Path.Combine(dir, MarkdownFile);
        AtomicFile.WriteAllText(report, Markdown(runs, wallSeconds, wallNote, settings.Precision));
        written.Add(report);
        return written;
    }

    /// <summary>The last line a command that wrote a report prints: the folder, and the file to open first.</summary>
    public static string WhereLine(string dir) => $"the report is in {Display.Escape(dir)}: open {Display.Escape(Path.Combine(dir, MarkdownFile))}";

    /// <summary>Every file <see cref="Write"/> puts in <paramref name="dir"/> for <paramref name="runs"/>.</summary>
    public static IEnumerable<string> Files(string dir, IReadOnlyList<ResultsJson.RunDto> runs) =>
        Plots.FileNames(runs).Append(ResultsFile).Append(MarkdownFile).Select(name => Path.Combine(dir, name));

    /// <summary>The report's text; <paramref name="precision"/> ("float32", or null for the tutorial's float64) is named when given.</summary>
    public static string Markdown(IReadOnlyList<ResultsJson.RunDto> runs, double wallSeconds, string wallNote = "", string? precision = null)
    {
        var md = new StringBuilder();
        var seeds = runs.Select(r => r.Seed).Distinct().OrderBy(s => s).ToList();
        md.AppendLine("# AlphabetLstm: the tutorial's experiments, explained");
        md.AppendLine();
        md.AppendLine($"Seeds {SeedList(seeds)}{(precision is null ? "" : $"; trained in {precision}")}; total wall time {wallSeconds.ToString("0.0", Inv)} s{wallNote}; linear algebra: {LinearAlgebra.Select()}.");
        md.AppendLine();
        md.AppendLine("Accuracy is measured on the training patterns after training, as the tutorial's \"Model Accuracy\" is. "
                    + "With 25 (or 23) patterns it moves in steps of 4% (or 4.35%), and one seed can land a pattern or two away "
                    + "from another, so compare the median over seeds with the tutorial's single run.");
        md.AppendLine();
        md.AppendLine("How to read it: an LSTM carries a state, two vectors h and c, from one time step to the next, and "
                    + "predicts from h. A reset sets the state to zeros. The experiments differ in where the state is reset: "
                    + "before every sample (the stateless ones: whatever the model knows must come from the sample itself) "
                    + "or only once per pass over the alphabet (stateful: the state can carry the sequence).");
        md.AppendLine();
        md.AppendLine("## Summary");
        md.AppendLine();
        md.AppendLine("| experiment | tutorial | ours: min / median / max | seeds | training time (median per seed) |");
        md.AppendLine("|---|---|---|---|---|");
        foreach (var x in ExperimentSummary.Of(runs))
            md.AppendLine($"| [{x.Spec.Id}](#{x.Spec.Id}) | {Pct(x.Spec.TutorialAccuracy)} | {Pct(x.MinAccuracy)} / {Pct(x.MedianAccuracy)} / {Pct(x.MaxAccuracy)} | {x.Seeds} | {Seconds(x.MedianTrainSeconds)} |");
        md.AppendLine();

        foreach (var group in ByExperiment(runs))
            Section(md, group);
        return md.ToString();
    }

    private static List<List<ResultsJson.RunDto>> ByExperiment(IReadOnlyList<ResultsJson.RunDto> runs) =>
        runs.GroupBy(r => r.Experiment).Select(g => g.OrderBy(r => r.Seed).ToList()).ToList();

    private static void Section(StringBuilder md, IReadOnlyList<ResultsJson.RunDto> runs)
    {
        var spec = runs[0].Spec;
        // An explicit anchor, so the summary table's links work whatever the renderer does with headings.
        md.AppendLine($"<a id=\"{spec.Id}\"></a>");
        md.AppendLine();
        md.AppendLine($"## {spec.Id}: {spec.Title}");
        md.AppendLine();
        md.AppendLine($"Settings: {RunPrinter.Describe(spec)}.");
        md.AppendLine();
        md.AppendLine($"**What it shows about LSTM state.** {spec.Lesson}");
        md.AppendLine();
        md.AppendLine($"Accuracy by seed (tutorial {Pct(spec.TutorialAccuracy)}): "
                    + string.Join(", ", runs.Select(r => $"seed {r.Seed} {Pct(r.Accuracy)}")) + ".");
        md.AppendLine();
        if (!spec.Data.IsVariableLength)
        {
            md.AppendLine("Wrong predictions on the training patterns:");
            md.AppendLine();
            foreach (var run in runs)
            {
                var wrong = run.Predictions.Where(p => !p.Correct).ToList();
                md.AppendLine(wrong.Count == 0
                    ? $"- seed {run.Seed}: none, all {run.Predictions.Count} right"
                    : $"- seed {run.Seed}: {wrong.Count} of {run.Predictions.Count}: "
                      + string.Join(", ", wrong.Select(p => $"`{E(p.Input)} -> {E(p.Predicted)}` (expected {E(p.Expected)})")));
            }
            md.AppendLine();
        }
        md.AppendLine($"![{spec.Id}: loss and accuracy per epoch, every seed]({Plots.CurvesFile(spec.Id)})");
        md.AppendLine();
        if (EpochHistory.Note(runs.Select(r => (r.LossHistory.Count, r.Epochs))) is { } thinned)
        {
            md.AppendLine(thinned);
            md.AppendLine();
        }

        if (runs.Any(r => r.ShuffledAccuracy is not null)) BatchState(md, runs);
        if (runs.Any(r => r.Generation is not null)) Stateful(md, runs);
        if (spec.Data.IsVariableLength) VariableLength(md, runs);
    }

    private static void BatchState(StringBuilder md, IReadOnlyList<ResultsJson.RunDto> runs)
    {
        md.AppendLine("### Do the samples of one batch share state?");
        md.AppendLine();
        md.AppendLine("| seed | accuracy | accuracy on a shuffled copy | max \\|p(letter alone) − p(letter in the batch)\\| |");
        md.AppendLine("|---|---|---|---|");
        foreach (var run in runs)
            if (run is { ShuffledAccuracy: { } shuffled, BatchMaxDifference: { } difference })
                md.AppendLine($"| {run.Seed} | {Pct(run.Accuracy)} | {Pct(shuffled)} | {difference.ToString("G3", Inv)} |");
        md.AppendLine();
        md.AppendLine($"Each letter was predicted twice: alone, in a batch of one, and inside the full batch of {runs[0].BatchSize}. "
                    + "The probabilities are the same (a difference of 0, or rounding), so no sample in a batch ever sees another sample's state: "
                    + "every row of the batch starts from zeros and runs on its own. What the model learned is a letter-to-letter lookup, "
                    + "which is why it scores the same on a shuffled copy. The tutorial's \"state within a batch\" is not state shared across samples.");
        md.AppendLine();
    }

    private static void Stateful(StringBuilder md, IReadOnlyList<ResultsJson.RunDto> runs)
    {
        md.AppendLine("### Generation: feeding each prediction back in");
        md.AppendLine();
        md.AppendLine("| seed | from 'A' after a reset | from 'K' after a reset | from 'K' after warming up on A..J |");
        md.AppendLine("|---|---|---|---|");
        foreach (var run in runs)
            if (run.Generation is { } g)
                md.AppendLine($"| {run.Seed} | `{E(g.FromA)}` | `{E(Arrows(g.FromKAfterReset))}` | `{E(Arrows(g.FromKAfterWarmup))}` |");
        md.AppendLine();
        md.AppendLine("The tutorial reports the whole alphabet from 'A', K -> B after a reset and K -> L after the warm-up. "
                    + "Why: the model was trained on the alphabet always starting from a reset, so a fresh (zero) state means "
                    + "\"we are at the start of the alphabet\". After a reset the state, not the letter, drives the prediction: "
                    + "K is read as if it were A, and the model goes on B, C, D. Warmed up on A..J, the state says \"after J\", and K -> L.");
        md.AppendLine();

        if (Plots.TracedRun(runs) is not { Traces: { } dto } traced) return;
        var traces = new StateTraces(dto.FromA.ToCore(), dto.FromK.ToCore());
        md.AppendLine($"### The hidden state, seen (seed {traced.Seed})");
        md.AppendLine();
        md.AppendLine("Each column is h, the LSTM's hidden state (one value per unit, between −1 and 1), after the letter under it. "
                    + "The units are sorted by their value after 'A', so the first column of the top picture is a smooth ramp; "
                    + "both pictures use the same order and colour scale (white at 0, blue below, red above). "
                    + "Compare the outlined first columns: the state after the first letter of each run.");
        md.AppendLine();
        md.AppendLine($"![h along the alphabet from a reset]({Plots.HiddenFromAFile(traced.Seed)})");
        md.AppendLine();
        md.AppendLine($"![h along a run fed 'K' after a reset, then its own predictions]({Plots.HiddenFromKFile(traced.Seed)})");
        md.AppendLine();
        md.AppendLine(Resemblance(traces));
        md.AppendLine();
    }

    /// <summary>Which state of the alphabet run the state after 'K'-from-a-reset is nearest to, in words.</summary>
    public static string Resemblance(StateTraces traces)
    {
        var afterK = traces.FromK.Hidden.Row(0);
        var alphabet = traces.FromA;
        var distances = Enumerable.Range(0, alphabet.Hidden.RowCount)
            .Select(t => (Step: t, Distance: (alphabet.Hidden.Row(t) - afterK).L2Norm()))
            .ToList();
        var nearest = distances.MinBy(d => d.Distance);
        var kStep = alphabet.Inputs.IndexOf('K');
        var nearestLetter = alphabet.Inputs[nearest.Step];
        var next = traces.FromK.Inputs.Length > 1 ? traces.FromK.Inputs[1].ToString() : "?";
        var sb = new StringBuilder();
        sb.Append($"The state after 'K' from a reset is nearest to the state after '{nearestLetter}' in the alphabet run "
                + $"(distance {nearest.Distance.ToString("0.00", Inv)})");
        if (kStep >= 0 && kStep != nearest.Step)
            sb.Append($", and far from the state after 'K' there (distance {distances[kStep].Distance.ToString("0.00", Inv)})");
        sb.Append($"; the model predicts {next} from it.");
        if (nearestLetter == 'A')
            sb.Append(" That is why K -> B: the first column of the lower picture looks like the first column of the upper one, not like its 'K' column.");
        return sb.ToString();
    }

    private static void VariableLength(StringBuilder md, IReadOnlyList<ResultsJson.RunDto> runs)
    {
        var first = runs[0];
        md.AppendLine($"### 20 fresh random patterns (seed {first.Seed}, not seen in training)");
        md.AppendLine();
        var right = first.Predictions.Count(p => p.Correct);
        md.AppendLine($"{right} of {first.Predictions.Count} right.");
        md.AppendLine();
        md.AppendLine("| input | predicted | expected |");
        md.AppendLine("|---|---|---|");
        foreach (var p in first.Predictions)
            md.AppendLine($"| `{E(p.Input)}` | {E(p.Predicted)}{(p.Correct ? "" : " (wrong)")} | {E(p.Expected)} |");
        md.AppendLine();

        md.AppendLine("### The padding collision");
        md.AppendLine();
        md.AppendLine("| seed | masked | inputs | same padded numbers? | predictions | max \\|difference\\| of probabilities |");
        md.AppendLine("|---|---|---|---|---|---|");
        foreach (var run in runs)
            if (run.PaddingCollision is { } pc)
                md.AppendLine($"| {run.Seed} | {(pc.Masked ? "yes" : "no")} | `{E(pc.First)}`, `{E(pc.Second)}` | {(pc.SameEncoding ? "yes" : "no")} | "
                            + $"{E(pc.First)} -> {E(pc.FirstPredicted)}, {E(pc.Second)} -> {E(pc.SecondPredicted)} | {pc.MaxDifference.ToString("G3", Inv)} |");
        md.AppendLine();
        var masked = runs.Any(r => r.PaddingCollision?.Masked == true);
        md.AppendLine("Inputs are letter / 26, so 'A' is 0.0, and short runs are padded in front with 0.0: "
                    + "\"AB\" and \"B\" become the same numbers, so the unmasked model cannot tell them apart (a difference of 0). "
                    + "In this task both need the same answer, C, so it costs no accuracy; but the model has no way to know that a run "
                    + "started with 'A', and would fail any task where that matters (its length, say). "
                    + (masked
                        ? "With masking, padded steps leave the state untouched, so a real 'A' moves the state and padding does not: the model can tell the two apart."
                        : "Run with `--mask` to make padded steps leave the state untouched; then a real 'A' and padding differ."));
        md.AppendLine();
    }

    private static string SeedList(IReadOnlyList<long> seeds) =>
        seeds.Count > 2 && seeds[^1] - seeds[0] == seeds.Count - 1
            ? $"{seeds[0]}..{seeds[^1]}"
            : string.Join(", ", seeds);

    private static string Pct(double x) => RunPrinter.Percent(x);

    private static string Seconds(double s) => s.ToString("0.00", Inv) + " s";

    private static string Arrows(string letters) => string.Join(" -> ", letters.ToCharArray());
}
