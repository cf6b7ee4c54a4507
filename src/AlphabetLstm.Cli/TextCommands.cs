using System.CommandLine;
using System.Security.Cryptography;
using System.Text;

namespace AlphabetLstm.Cli;

/// <summary>
/// Your own text: <c>train --text FILE</c> (windows, or streams with <c>--stateful</c>), its
/// <c>resume</c>, and <c>generate</c> for a text model. The text is read whole, decoded strictly as
/// UTF-8 and checked (length, distinct characters, the memory training would take) before anything
/// is computed or written.
/// </summary>
public static class TextCommands
{

    public const int DefaultWindow = 10;
    public const int DefaultUnits = 64;
    public const int DefaultEpochs = 50;
    public const int DefaultBatchSize = 32;
    public const double DefaultLearningRate = 0.01;


    /// <summary>
    /// Bytes a character of the text costs while training, besides its samples: the file's bytes,
    /// the decoded string, each character as a string of its own (twice over while the vocabulary is
    /// made), and its index.
    /// </summary>
    public const long BytesPerCharacter = 72;

    /// <summary>The options only a text run has, added to <c>train</c>.</summary>
    public sealed class TrainOptions
    {
        public Option<string?> Text { get; } = new("--text") { Description = "Train on this UTF-8 text file instead of an experiment: its distinct characters are the vocabulary." };
        public Option<int?> Window { get; } = Cli.PositiveInt("--window", $"With --text: T, the characters of one sample (default {DefaultWindow}).");
        public Option<int?> BatchSize { get; } = Cli.PositiveInt("--batch-size", $"With --text: samples per batch, the number of streams with --stateful (default {DefaultBatchSize}).");
        public Option<string?> Encoding { get; } = new Option<string?>("--encoding") { Description = "With --text: one-hot (default) or index (k / V, one feature)." }.AcceptOnlyFromAmong("one-hot", "index");
        public Option<bool> Stateful { get; } = new("--stateful") { Description = "With --text: cut the text into batch-size streams and carry the state from chunk to chunk (reset each epoch), as char-rnn trains." };

        public IEnumerable<Option> All => [Text, Window, BatchSize, Encoding, Stateful];

        /// <summary>Refuses the text-only options on an experiment run.</summary>
        public void RefuseWithExperiment(ParseResult parse)
        {
            foreach (var option in All.Skip(1))
                if (parse.GetResult(option) is { Implicit: false })
                    throw new UsageException($"{option.Name} goes with --text FILE, not with an experiment id");
        }
    }

    /// <summary>The options train shares with experiments, as the user gave them.</summary>
    public sealed record Shared(string Save, long Seed, int? Epochs, int? Units, double? LearningRate, bool Mask, string? CheckpointDir, int CheckpointEvery, bool Quiet, int Threads = 1);

    // ---- train and resume ---------------------------------------------------------------------

    public static int Train(ParseResult parse, TrainOptions t, Shared s, TextWriter o)
    {
        if (s.Mask) throw new UsageException("--mask goes with an experiment id: a text run pads nothing");
        var window = parse.GetValue(t.Window) ?? DefaultWindow;
        var batch = parse.GetValue(t.BatchSize) ?? DefaultBatchSize;
        var stateful = parse.GetValue(t.Stateful);
        var encoding = parse.GetValue(t.Encoding) == "index" ? SymbolEncoding.Index : SymbolEncoding.OneHot;
        var path = parse.GetValue(t.Text)!;
        OutputRule.Guard([new("--save", s.Save), new("--checkpoint", s.CheckpointDir is { } d ? Path.Combine(d, ModelCommands.CheckpointFileName) : null)],
                         [new("--text", path)]);
        var file = ReadTextFile(path, "--text");
        var text = new TextRun(Path.GetFullPath(path), file.Sha256, window, batch, encoding, stateful, file.Vocabulary);
        CheckFits(text, file, path);
        AtomicFile.EnsureWritableFileTarget(s.Save, "--save");
        var run = RunSettings.ForText(text, s.Seed, s.Epochs ?? DefaultEpochs, s.Units ?? DefaultUnits,
                                      s.LearningRate ?? DefaultLearningRate, s.CheckpointEvery);
        int Train() => Run(CheckpointFile.PrepareText(run, file.Symbols).WithThreads(s.Threads), run, Path.GetFullPath(s.Save), file, s.CheckpointDir, s.Quiet, o);
        return s.CheckpointDir is { } dir ? ModelCommands.InCheckpointFolder(dir, s.Save, "train", Train) : Train();
    }

    public static int Resume(Checkpoint c, string folder, bool quiet, TextWriter o)
    {
        var t = c.Run.TextOrNull!;
        var file = ReadTextFile(t.Path, "the run's text");
        if (file.Sha256 != t.Sha256)
            throw new FailureException(
                $"the text '{t.Path}' has changed since the checkpoint was written (SHA-256 {file.Sha256[..12]}… now, {t.Sha256[..12]}… in the checkpoint); resume needs the same text");
        o.WriteLine($"resuming the text run on '{Display.Escape(t.Path)}' (seed {c.Run.Seed}) after epoch {c.State.Epoch} of {c.Run.Epochs}");
        return Run(CheckpointFile.ResumeText(c, file.Symbols), c.Run, c.Save, file, folder, quiet, o);
    }

    private static int Run(PreparedText prepared, RunSettings run, string save, TextFile file, string? dir, bool quiet, TextWriter o)
    {
        var t = prepared.Run;
        o.WriteLine($"train on '{Display.Escape(t.Path)}' (seed {run.Seed}): {file.Symbols.Length} characters, {t.Vocabulary.Count} distinct; {Describe(prepared, file.Symbols.Length, run)}");
        var progress = new ProgressLine(o, run.Epochs, quiet, prepared.StepsPerEpoch, prepared.Start.Epoch);
        var outcomes = TextRuns.FitEvery(1, prepared).Select(s => new EpochOutcome(s.Reports[0], s.State));
        var state = ModelCommands.RunEpochs(outcomes, prepared.Start, run, prepared.Input, save, dir, progress);
        AtomicFile.WriteAllText(save, new SavedModel(t.Vocabulary, prepared.Input, state.Parameters).Serialize());
        var evaluation = TextRuns.Evaluate(prepared, state.Parameters);
        o.WriteLine($"accuracy {RunPrinter.Percent(evaluation.Accuracy)} on the training data after {state.Epoch} epochs");
        o.WriteLine($"saved {Display.Escape(save)}");
        return ExitCodes.Ok;
    }

    private static string Describe(PreparedText p, int characters, RunSettings run)
    {
        var t = p.Run;
        var reading = t.Stateful
            ? $"{t.BatchSize} streams of {characters / t.BatchSize} characters read in chunks of {t.Window} → the next character"
            : $"every window of {t.Window} characters → the next one";
        var policy = t.Stateful ? "no shuffle, stateful, reset after every epoch" : "shuffle, stateless";
        return $"{reading}; {p.Data.Count} samples, LSTM({run.Units}) + Dense({t.Vocabulary.Count}, softmax), {ModelFile.EncodingName(t.Encoding)}, "
             + $"{run.Epochs} epochs, batch {t.BatchSize}, {policy}, learning rate {run.LearningRate.ToString(Inv)}";
    }

    // ---- the text file ------------------------------------------------------------------------

    /// <summary>A text file read and checked: its symbols, vocabulary and checksum.</summary>
    public sealed record TextFile(string[] Symbols, Vocabulary Vocabulary, string Sha256);

    /// <summary>The memory limit in bytes: the one every command has (<see cref="Safety.MaxMemory"/>).</summary>
    public static long MemoryLimitBytes() => Safety.MaxMemory;

    private static string Megabytes(double bytes) => (bytes / (1 << 20)).ToString("#,0", Inv) + " MB";

    private static string LimitNamed(long limit) => $"the limit of {Megabytes(limit)} (set {Safety.MaxMemoryVariable} to change it)";

    /// <summary>Reads a text file strictly (UTF-8, at least two distinct characters), or fails with one line.</summary>
    public static TextFile ReadTextFile(string path, string what)
    {
        var limit = MemoryLimitBytes();
        var bytes = InputFile.ReadBytes(path, what, new InputFile.Cap(limit / BytesPerCharacter,
            $"for a text to train on ({BytesPerCharacter} bytes of memory a character, {Safety.MaxMemoryVariable} = {Memory.Describe(limit)})"));
        if (bytes.Length == 0) throw new FailureException($"{what} '{Display.Escape(path)}' is empty: expected a text to learn from");
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var bom = bytes.AsSpan().StartsWith(new byte[] { 0xEF, 0xBB, 0xBF }) ? 3 : 0;
        string text;
        try { text = new UTF8Encoding(false, true).GetString(bytes, bom, bytes.Length - bom); }
        catch (DecoderFallbackException e)
        {
            var at = bom + Math.Max(0, e.Index) + 1;
            var shown = string.Join(" ", (e.BytesUnknown ?? []).Select(b => $"0x{b:X2}"));
            throw new FailureException($"{what} '{path}' is not UTF-8 text: the bytes {shown} at byte {at} (counting from 1) are no UTF-8 character");
        }
        if (text.Length == 0) throw new FailureException($"{what} '{path}' is empty: expected a text to learn from");
        var symbols = Vocabulary.Split(text);
        var distinct = symbols.Distinct().Take(2).ToList();
        if (distinct.Count < 2)
            throw new FailureException($"{what} '{path}' holds one distinct character ({Quote(distinct[0])}): a model needs at least two to choose between");
        return new TextFile(symbols, Vocabulary.OfText(text), sha);
    }

    /// <summary>Fails unless the text is long enough for the run's samples and they fit in memory.</summary>
    private static void CheckFits(TextRun t, TextFile file, string path)
    {
        var n = file.Symbols.Length;
        var samples = TextRuns.SampleCount(t, n);
        if (samples == 0)
            throw new FailureException(t.Stateful
                ? $"--text '{path}' has {n} characters; --stateful with {t.BatchSize} streams (--batch-size) of chunks of {t.Window} (--window) needs at least {t.BatchSize} × {t.Window + 1L} = {t.BatchSize * (t.Window + 1L)}: lower --batch-size or --window"
                : $"--text '{path}' has {n} characters; a window of {t.Window} needs at least {t.Window + 1L} (the window and the character after it): lower --window");
        var features = t.Vocabulary.FeaturesPerSymbol(t.Encoding);
        // Inputs and targets are held twice (the dataset and training's copy), plus each sample's pattern.
        var bytes = (double)n * BytesPerCharacter
                  + (double)samples * (t.Window * features + t.Vocabulary.Count) * 16
                  + (double)samples * (2 * t.Window + 40);
        var limit = MemoryLimitBytes();
        if (bytes > limit)
            throw new FailureException(
                $"--text '{path}': training would take about {Megabytes(bytes)} of memory ({samples} samples × {t.Window} steps × {features} features), over {LimitNamed(limit)}; {(t.Stateful ? "try --encoding index or a shorter text" : "try --stateful, --encoding index or a smaller --window")}");
    }

    private static string Quote(string s) => "'" + s.Replace("\n", "\\n").Replace("\r", "\\r").Replace("\t", "\\t") + "'";

    // ---- generate -----------------------------------------------------------------------------

    /// <summary>
    /// Continues <paramref name="start"/> by <paramref name="steps"/> characters the way the model
    /// reads (TextRuns.Generate) and prints one line: the start and what followed.
    /// </summary>
    public static int Generate(SavedModel model, string start, int steps, double temperature, long seed, TextWriter o)
    {
        string[] generated;
        try { generated = TextRuns.Generate(model, Vocabulary.Split(start), steps, temperature, Rng.Create(seed)); }
        catch (ArgumentException e) when (e.ParamName is "start" or "text")
        {
            throw new FailureException($"--start: {Display.WithoutParameter(e.Message)}");
        }
        o.WriteLine(start + string.Concat(generated));
        return ExitCodes.Ok;
    }

    /// <summary>An option for a temperature: a finite number ≥ 0, or a one-line error naming the value.</summary>
    public static Option<double?> TemperatureOption()
    {
        return Cli.Number("--temperature", "0 (default): the most likely character each step; τ > 0: sample from the softmax at temperature τ (with --seed).",
                          "a number ≥ 0", tau => tau >= 0);
    }
}
