using System.Diagnostics;
using System.Text;

namespace AlphabetLstm.Cli;

/// <summary>
/// The bench's text workload: <c>train --text --stateful</c> on a generated text (1 MB of words by
/// default, H = 128, T = 50, B = 32, one-hot, a target at every character, the last 10 % held out),
/// so the cost of real text is measured: seconds to index the text, seconds per epoch with its
/// held-out pass, characters per second (every training character read once per epoch), and where
/// one step goes. Beside the wall time, the process's CPU time per epoch: on a shared machine the wall
/// time grows with the other work, the CPU time much less.
/// </summary>
public static class BenchText
{

    /// <summary>Characters, H, B (streams) and T of one text workload.</summary>
    public sealed record Shape(int Characters, int Units, int Batch, int Window);

    public static readonly Shape Standard = new(1 << 20, 128, 32, 50);

    /// <summary>The longest generated text: 100,000,000 characters (a text file read for training holds far fewer).</summary>
    public const int MaxCharacters = 100_000_000;

    public sealed record Timing(
        int Characters, int Distinct, int Units, int Batch, int Window, int Samples, int StepsPerEpoch,
        double PrepareSeconds, double SecondsPerEpoch, double CharactersPerSecond, IReadOnlyList<double> EpochSeconds,
        double CpuSecondsPerEpoch, Phases StepPhases, string Precision = "float64");

    /// <summary>
    /// Where one training step goes (µs per call, each stage alone, the best of several rounds: see
    /// <see cref="BenchPhases"/>): building the batch from the indices, the LSTM forward (gather),
    /// the every-step head forward and backward, BPTT (scatter-add), Adam; and one held-out pass (seconds).
    /// </summary>
    public sealed record Phases(double Load, double Forward, double HeadForward, double HeadBackward, double Bptt, double Adam, double HeldOutSeconds)
    {
        public double Step => Load + Forward + HeadForward + HeadBackward + Bptt + Adam;
    }

    /// <summary>none, 1mb (the standard workload) or CHARSxHxBxT.</summary>
    public static Shape? Parse(string text)
    {
        switch (text.Trim())
        {
            case "none": return null;
            case "1mb": return Standard;
        }
        var d = text.Split('x');
        if (d.Length == 4 && d.All(p => int.TryParse(p, NumberStyles.None, Inv, out var v) && v > 0))
        {
            var shape = new Shape(int.Parse(d[0], Inv), int.Parse(d[1], Inv), int.Parse(d[2], Inv), int.Parse(d[3], Inv));
            // Checked here, with the user's numbers, before any size is computed from them.
            if (shape.Characters > MaxCharacters || shape.Units > Limits.MaxUnits || shape.Batch > Limits.MaxBatch || shape.Window > Limits.MaxTimeSteps)
                throw new UsageException(
                    $"--text '{Display.Clip(text)}': CHARS must be 1..{MaxCharacters:N0}, H 1..{Limits.MaxUnits:N0}, B 1..{Limits.MaxBatch:N0}, T 1..{Limits.MaxTimeSteps:N0}");
            // The memory, before the bench times anything or the text is generated.
            CheckMemory(shape);
            return shape;
        }
        throw new UsageException($"--text expects none, 1mb or CHARSxHxBxT with positive numbers, got '{Display.Clip(text)}'");
    }

    private static readonly string[] Syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "an", "el", "or", "us", "be", "di", "fu", "gy", "ho", "ja", "qu", "wex", "zi", "pt", "ch", "st"];

    /// <summary>Every character <see cref="Generate"/> can write: a generated text's vocabulary is part of this one.</summary>
    public static readonly Vocabulary Symbols = Vocabulary.Create(
        Syllables.SelectMany(s => s.Concat(s[..1].ToUpperInvariant())).Concat(". ,\n").Distinct().Order().Select(c => c.ToString()));

    /// <summary>The run a text workload trains (stateful, one-hot, every-step targets, the default held-out part), over <paramref name="vocabulary"/>.</summary>
    private static TextRun RunOf(Shape shape, Vocabulary vocabulary) =>
        new("bench", new string('0', 64), shape.Window, shape.Batch, SymbolEncoding.OneHot, true, vocabulary, Targets.Every, TextRun.DefaultValidation);

    /// <summary>
    /// Refuses a workload whose memory exceeds the limit: the core's estimate of the text run (over
    /// every character the generator can write, at least as costly as the text's own vocabulary) plus
    /// the generated text and its builder (4 bytes a character), asked before anything is allocated.
    /// </summary>
    public static void CheckMemory(Shape shape) =>
        Safety.CheckMemory($"bench --text {shape.Characters}x{shape.Units}x{shape.Batch}x{shape.Window}",
                           TextRuns.MemoryEstimate(RunOf(shape, Symbols), shape.Characters, shape.Units, 1) + 4.0 * shape.Characters);

    /// <summary>
    /// A text of exactly <paramref name="characters"/> characters: sentences of words drawn from a
    /// fixed list of 64 made-up words, so it has the spread of a real text's letters (about 30 distinct
    /// characters) but is the same for the same seed.
    /// </summary>
    public static string Generate(int characters, long seed)
    {
        var rng = Rng.Create(seed);
        int Next(int high)
        {
            var d = rng.NextInt(0, high);
            rng = d.Next;
            return d.Value;
        }
        var words = Enumerable.Range(0, 64).Select(_ => string.Concat(Enumerable.Range(0, 1 + Next(3)).Select(_ => Syllables[Next(Syllables.Length)]))).ToArray();
        var sb = new StringBuilder(characters + 64);
        var line = 0;
        while (sb.Length < characters)
        {
            var length = 4 + Next(10);
            for (var w = 0; w < length; w++)
            {
                var word = words[Math.Min(Next(64), Next(64))];
                sb.Append(w == 0 ? char.ToUpperInvariant(word[0]) + word[1..] : word);
                sb.Append(w == length - 1 ? ". " : Next(8) == 0 ? ", " : " ");
            }
            if (sb.Length - line > 70)
            {
                sb.Append('\n');
                line = sb.Length;
            }
        }
        return sb.ToString(0, characters);
    }

    public static Timing Time(Shape shape, int repeats, long seed, TextWriter o, Precision precision = Precision.Float64)
    {
        CheckMemory(shape);
        var text = Generate(shape.Characters, seed);
        var clock = Stopwatch.StartNew();
        var indexed = IndexedTexts.OfString(text);
        var run = RunOf(shape, indexed.Vocabulary);
        var prepared = TextRuns.Prepare(run, indexed, seed, shape.Units, 1, repeats, TextCommands.DefaultLearningRate).WithPrecision(precision);
        var prepareSeconds = clock.Elapsed.TotalSeconds;
        var steps = prepared.StepsPerEpoch;
        var read = (double)prepared.Samples * shape.Window;
        var progress = new ProgressLine(o, repeats, false, steps);
        var seconds = new List<double>();
        var cpu = new List<double>();
        var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        clock.Restart();
        foreach (var epoch in TextTraining.Fit(prepared))
        {
            seconds.Add(clock.Elapsed.TotalSeconds);
            process.Refresh();
            cpu.Add((process.TotalProcessorTime - cpuBefore).TotalSeconds);
            progress.SetValidation(epoch.ValidationLoss);
            progress.Report(epoch.Report);
            cpuBefore = process.TotalProcessorTime;
            clock.Restart();
        }
        progress.Done(0);
        var median = Stats.Median(seconds.Order().ToList());
        var stages = new TextStepStages(run, indexed, seed, shape.Units, precision);
        // The better of two held-out passes: the first includes compiling it.
        var heldOutSeconds = double.MaxValue;
        for (var k = 0; k < 2; k++)
        {
            var heldOut = Stopwatch.StartNew();
            stages.HeldOut();
            heldOutSeconds = Math.Min(heldOutSeconds, heldOut.Elapsed.TotalSeconds);
        }
        var phases = new Phases(BenchPhases.Best(stages.Load), BenchPhases.Best(stages.Forward), BenchPhases.Best(stages.HeadForward),
                                BenchPhases.Best(stages.HeadBackward), BenchPhases.Best(stages.Bptt), BenchPhases.Best(stages.Adam),
                                heldOutSeconds);
        return new Timing(shape.Characters, run.Vocabulary.Count, shape.Units, shape.Batch, shape.Window, prepared.Samples, steps,
                          prepareSeconds, median, read / median, seconds, Stats.Median(cpu.Order().ToList()), phases, BenchCommand.Name(precision));
    }
}
