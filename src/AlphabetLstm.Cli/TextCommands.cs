using System.CommandLine;
using System.Security.Cryptography;
using System.Text;

namespace AlphabetLstm.Cli;

/// <summary>
/// Your own text: <c>train --text FILE</c> (windows, or streams with <c>--stateful</c>), its
/// <c>resume</c>, and <c>generate</c> for a text model. The text is read in blocks, twice (the first
/// pass finds its characters, the second stores each as a 2-byte index), decoded strictly as UTF-8 and
/// checked (length, distinct characters, the memory training would take) before anything is trained
/// or written.
/// </summary>
public static class TextCommands
{

    public const int DefaultWindow = 10;
    public const int DefaultUnits = 64;
    public const int DefaultEpochs = 50;
    public const int DefaultBatchSize = 32;
    public const double DefaultLearningRate = 0.01;
    public const int DefaultLayers = 1;
    /// <summary>A text run's precision unless <c>--precision</c> says otherwise: float32, where the work is real arithmetic.</summary>
    public const Precision DefaultPrecision = Precision.Float32;

    /// <summary>The options only a text run has, added to <c>train</c>.</summary>
    public sealed class TrainOptions
    {
        public Option<string?> Text { get; } = new("--text") { Description = "Train on this UTF-8 text file instead of an experiment: its distinct characters are the vocabulary." };
        public Option<int?> Window { get; } = Cli.PositiveInt("--window", $"With --text: T, the characters of one sample (default {DefaultWindow}).");
        public Option<int?> BatchSize { get; } = Cli.PositiveInt("--batch-size", $"With --text: samples per batch, the number of streams with --stateful (default {DefaultBatchSize}).");
        public Option<string?> Encoding { get; } = new Option<string?>("--encoding") { Description = "With --text: one-hot (default) or index (k / V, one feature)." }.AcceptOnlyFromAmong(ModelFile.TextEncodingNames);
        public Option<bool> Stateful { get; } = new("--stateful") { Description = "With --text: cut the text into batch-size streams and carry the state from chunk to chunk (reset each epoch), as char-rnn trains." };
        public Option<string?> Targets { get; } = new Option<string?>("--targets") { Description = "With --text: every (a target after every character; the default with --stateful) or last (one target after each sample; the default for windows)." }.AcceptOnlyFromAmong(ModelFile.TargetsNames);
        public Option<double?> Validation { get; } = ValidationOption();
        public Option<int?> Layers { get; } = Cli.PositiveInt("--layers", $"With --text: N, stacked LSTM layers, each reading the h of the layer below (default {DefaultLayers}).", Parameters.MaxLayers);
        public Option<string?> Json { get; } = new("--json") { Description = "With --text: write the run (settings, vocabulary size, loss and held-out loss per epoch, the best epoch) to this JSON file." };
        public Option<string?> Plot { get; } = new("--plot") { Description = "With --text: draw the training and held-out loss per epoch (bits per character) into this PNG file." };

        public IEnumerable<Option> All => [Text, Window, BatchSize, Encoding, Stateful, Targets, Validation, Layers, Json, Plot];

        /// <summary>Refuses the text-only options on an experiment run.</summary>
        public void RefuseWithExperiment(ParseResult parse)
        {
            foreach (var option in All.Skip(1))
                if (parse.GetResult(option) is { Implicit: false })
                    throw new UsageException($"{option.Name} goes with --text FILE, not with an experiment id");
        }

        /// <summary>The held-out fraction, parsed by the invariant number parser every number option uses.</summary>
        private static Option<double?> ValidationOption() =>
            Cli.Number("--validation",
                       $"With --text: hold out the last fraction F of the text, in [0, {TextRun.MaxValidation.ToString(Inv)}] (default {TextRun.DefaultValidation.ToString(Inv)}; 0: none), and report its loss after every epoch.",
                       $"a fraction in [0, {TextRun.MaxValidation.ToString(Inv)}]", f => f >= 0 && f <= TextRun.MaxValidation);
    }

    /// <summary>The options train shares with experiments, as the user gave them.</summary>
    public sealed record Shared(string Save, long Seed, int? Epochs, int? Units, double? LearningRate, bool Mask, string? CheckpointDir, int CheckpointEvery, bool Quiet, int Threads = 1,
                               Precision Precision = DefaultPrecision);

    // ---- train and resume ---------------------------------------------------------------------

    public static int Train(ParseResult parse, TrainOptions t, Shared s, TextWriter o)
    {
        if (s.Mask) throw new UsageException("--mask goes with an experiment id: a text run pads nothing");
        var window = parse.GetValue(t.Window) ?? DefaultWindow;
        var batch = parse.GetValue(t.BatchSize) ?? DefaultBatchSize;
        var stateful = parse.GetValue(t.Stateful);
        var encoding = parse.GetValue(t.Encoding) is { } e ? ModelFile.ParseEncoding(e)!.Value : SymbolEncoding.OneHot;
        var targets = parse.GetValue(t.Targets) is { } g ? ModelFile.ParseTargets(g)!.Value : TextRun.DefaultTargets(stateful);
        var validation = parse.GetValue(t.Validation) ?? TextRun.DefaultValidation;
        var units = s.Units ?? DefaultUnits;
        var layers = parse.GetValue(t.Layers) ?? DefaultLayers;
        var path = parse.GetValue(t.Text)!;
        var json = parse.GetValue(t.Json);
        var plot = parse.GetValue(t.Plot);
        OutputRule.Guard([new("--save", s.Save), new("--json", json), new("--plot", plot),
                          new("--checkpoint", s.CheckpointDir is { } d ? Path.Combine(d, RunFolder.CheckpointFileName) : null)],
                         [new("--text", path)]);
        var reading = System.Diagnostics.Stopwatch.StartNew();
        var scanned = ScanTextFile(path, "--text");
        var text = new TextRun(Path.GetFullPath(path), scanned.Sha256, window, batch, encoding, stateful, scanned.Scan.Vocabulary, targets, validation);
        CheckFits(text, scanned.Scan, units, layers, path);
        AtomicFile.EnsureWritableFileTarget(s.Save, "--save");
        if (json is not null) AtomicFile.EnsureWritableFileTarget(json, "--json");
        if (plot is not null)
        {
            AtomicFile.EnsureWritableFileTarget(plot, "--plot");
            if (Plots.Preflight() is { } warning) o.WriteLine($"warning: {warning}");
        }
        var run = RunSettings.ForText(text, s.Seed, s.Epochs ?? DefaultEpochs, units,
                                      s.LearningRate ?? DefaultLearningRate, s.CheckpointEvery, layers, s.Precision);
        var indexed = EncodeTextFile(path, scanned, "--text");
        var readSeconds = reading.Elapsed.TotalSeconds;
        int Train() => Run(CheckpointFile.PrepareText(run, indexed).WithThreads(s.Threads), run, Path.GetFullPath(s.Save), s.CheckpointDir, s.Quiet, json, plot, readSeconds, o);
        return s.CheckpointDir is { } dir ? RunFolder.InCheckpointFolder(dir, s.Save, "train", Train) : Train();
    }

    public static int Resume(Checkpoint c, string folder, bool quiet, TextWriter o)
    {
        var t = c.Run.TextOrNull!;
        var reading = System.Diagnostics.Stopwatch.StartNew();
        var scanned = ScanTextFile(t.Path, "the run's text");
        if (scanned.Sha256 != t.Sha256)
            throw new FailureException(
                $"the text '{t.Path}' has changed since the checkpoint was written (SHA-256 {scanned.Sha256[..12]}… now, {t.Sha256[..12]}… in the checkpoint); resume needs the same text");
        CheckFits(t, scanned.Scan, c.Run.Units, c.Run.Layers, t.Path);
        o.WriteLine($"resuming the text run on '{Display.Escape(t.Path)}' (seed {c.Run.Seed}) after epoch {c.State.Epoch} of {c.Run.Epochs}");
        var indexed = EncodeTextFile(t.Path, scanned, "the run's text");
        return Run(CheckpointFile.ResumeText(c, indexed), c.Run, c.Save, folder, quiet, null, null, reading.Elapsed.TotalSeconds, o);
    }

    /// <summary>One epoch of a text run as the JSON's history holds it.</summary>
    public sealed record EpochDto(int Epoch, double Loss, double Accuracy, double? ValidationLoss, double? ValidationBitsPerCharacter, double Seconds,
                                  double TrainingSeconds, double ValidationSeconds);

    private static int Run(PreparedText prepared, RunSettings run, string save, string? dir, bool quiet, string? json, string? plot, double readSeconds, TextWriter o)
    {
        var t = prepared.Run;
        var length = prepared.Training.Length + prepared.HeldOut.Length;
        o.WriteLine($"train on '{Display.Escape(t.Path)}' (seed {run.Seed}): {length} characters, {t.Vocabulary.Count} distinct; {Describe(prepared, run)}");
        var progress = new ProgressLine(o, run.Epochs, quiet, prepared.StepsPerEpoch, prepared.Start.Epoch);
        var history = new List<EpochDto>();
        TextEpoch? best = null;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var trained = TimeSpan.Zero;
        var validating = prepared.HeldOut.Length > 0;
        void OnBatch(TextBatchReport b)
        {
            progress.ReportBatch(b);
            // The last batch of an epoch: its training steps are done, the held-out pass comes next.
            if (b.Batch == b.Batches) trained = clock.Elapsed;
        }
        var outcomes = TextTraining.Fit(prepared, OnBatch).Select(e =>
        {
            var seconds = clock.Elapsed.TotalSeconds;
            var validationSeconds = seconds - trained.TotalSeconds;
            clock.Restart();
            double? held = validating ? e.ValidationLoss : null;
            history.Add(new EpochDto(e.Report.Epoch, e.Report.Loss, e.Report.Accuracy, held, validating ? e.ValidationBitsPerCharacter : null, seconds,
                                     trained.TotalSeconds, validationSeconds));
            // The best epoch: the lowest held-out loss (the last epoch when nothing is held out).
            if (best is null || !validating || e.ValidationLoss < best.ValidationLoss) best = e;
            progress.SetValidation(validating ? e.ValidationLoss : null);
            return new EpochOutcome(e.Report, e.State);
        });
        var state = RunFolder.RunEpochs(outcomes, prepared.Start, run, prepared.Input, save, dir, progress);
        var kept = best?.State ?? state;
        AtomicFile.WriteAllText(save, SavedModel.Create(t.Vocabulary, prepared.Input, kept.Parameters, run.Precision).Serialize());
        if (history.Count > 0)
        {
            var last = history[^1];
            o.WriteLine($"accuracy {RunPrinter.Percent(last.Accuracy)} per position on the training part in epoch {last.Epoch}"
                      + (validating && best is not null ? $"; best held-out loss {Nats(best.ValidationLoss)} at epoch {best.Report.Epoch}" : ""));
        }
        if (json is not null)
        {
            var dto = new
            {
                format = "alphabet-lstm-text-run",
                version = 1,
                settings = new
                {
                    text = t.Path, sha256 = t.Sha256, seed = run.Seed, epochs = run.Epochs, units = run.Units, layers = run.Layers, learningRate = run.LearningRate,
                    window = t.Window, batchSize = t.BatchSize, encoding = ModelFile.EncodingName(t.Encoding), stateful = t.Stateful,
                    targets = ModelFile.TargetsName(t.Targets), validation = t.Validation, precision = ModelFile.PrecisionName(run.Precision),
                    trainingCharacters = prepared.Training.Length, heldOutCharacters = prepared.HeldOut.Length,
                },
                vocabularySize = t.Vocabulary.Count,
                history,
                best = best is null ? null : new { epoch = best.Report.Epoch, validationLoss = validating ? best.ValidationLoss : (double?)null },
            };
            AtomicFile.WriteAllText(json, System.Text.Json.JsonSerializer.Serialize(dto, ResultsJson.Options) + "\n");
        }
        if (plot is not null && history.Count > 0)
        {
            AtomicFile.WriteAllBytes(plot, Plots.TextCurves($"{Path.GetFileName(t.Path)}: {Lstm(run)}, T = {t.Window}, B = {t.BatchSize}", history));
            o.WriteLine($"wrote {Display.Escape(plot)}");
        }
        o.WriteLine(validating && best is not null
            ? $"saved {Display.Escape(save)} (the model of epoch {best.Report.Epoch}, the best held-out loss)"
            : $"saved {Display.Escape(save)}");
        if (history.Count > 0)
            o.WriteLine($"time: reading the text {readSeconds.ToString("0.0", Inv)} s, training steps {history.Sum(h => h.TrainingSeconds).ToString("0.0", Inv)} s, held-out passes {history.Sum(h => h.ValidationSeconds).ToString("0.0", Inv)} s");
        return ExitCodes.Ok;
    }

    /// <summary>A loss in nats and in bits per character: "1.4123 nats (2.0375 bits/char)".</summary>
    public static string Nats(double loss) =>
        $"{loss.ToString("0.0000", Inv)} nats ({(loss / Math.Log(2)).ToString("0.0000", Inv)} bits/char)";

    /// <summary>"LSTM(64)", or "2 × LSTM(64)" for a stack.</summary>
    private static string Lstm(RunSettings run) => run.Layers > 1 ? $"{run.Layers} × LSTM({run.Units})" : $"LSTM({run.Units})";

    private static string Describe(PreparedText p, RunSettings run)
    {
        var t = p.Run;
        var n = p.Training.Length;
        var reading = t.Stateful
            ? $"{t.BatchSize} streams of {n / t.BatchSize} characters read in chunks of {t.Window}"
            : $"every window of {t.Window} characters";
        var target = t.Targets == Targets.Every ? ", a target at every character" : " → the next one";
        var policy = t.Stateful ? "no shuffle, stateful (truncated BPTT), reset after every epoch" : "shuffle, stateless";
        var held = p.HeldOut.Length > 0 ? $"; the last {p.HeldOut.Length} characters ({t.Validation.ToString(Inv)}) held out" : "; nothing held out";
        return $"{reading}{target}; {p.Samples} samples{held}; {Lstm(run)} + Dense({t.Vocabulary.Count}, softmax), {ModelFile.EncodingName(t.Encoding)}, "
             + $"{run.Epochs} epochs, batch {t.BatchSize}, {policy}, learning rate {run.LearningRate.ToString(Inv)}, {ModelFile.PrecisionName(run.Precision)}";
    }

    // ---- the text file ------------------------------------------------------------------------

    /// <summary>
    /// A text file's first pass: its vocabulary and length, and the SHA-256 of its bytes. A pipe
    /// cannot be read twice, so its bytes are kept (<paramref name="Bytes"/>) for the second pass.
    /// </summary>
    public sealed record ScannedText(TextScan Scan, string Sha256, byte[]? Bytes);

    /// <summary>The bytes read at a time: the text is never held whole, only as 2-byte indices.</summary>
    private const int BlockBytes = 1 << 20;

    /// <summary>The memory limit in bytes: the one every command has (<see cref="Safety.MaxMemory"/>).</summary>
    public static long MemoryLimitBytes() => Safety.MaxMemory;

    /// <summary>
    /// The cap on a text file: a regular file is read in blocks and held as 2-byte indices (at most
    /// 2 bytes a byte read); a pipe is held whole for the second pass as well (at most 4 bytes a byte).
    /// </summary>
    private static InputFile.Cap TextCap(bool regular)
    {
        var perByte = regular ? 2 : 4;
        return new(MemoryLimitBytes() / perByte,
            $"for a text to train on (up to {perByte} bytes of memory a byte {(regular ? "of a file" : "from a pipe")}, {Safety.MaxMemoryVariable} = {Memory.Describe(MemoryLimitBytes())})");
    }

    /// <summary>
    /// The first pass over a text file: read in blocks, decoded strictly as UTF-8 (a byte-order mark
    /// skipped), its distinct characters counted and its bytes hashed; or one line naming the problem.
    /// The file goes through the one capped reader: no device, no socket, no FIFO that blocks, no more
    /// bytes than the memory limit allows.
    /// </summary>
    public static ScannedText ScanTextFile(string path, string what)
    {
        byte[]? kept = null;
        var stream = InputFile.ReadInBlocks(path, what, TextCap(regular: true), out var regular);
        if (!regular)
        {
            stream.Dispose();
            kept = InputFile.ReadBytes(path, what, TextCap(regular: false));
            stream = new MemoryStream(kept, writable: false);
        }
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        TextScan scan;
        using (stream)
        {
            try { scan = IndexedTexts.Scan(Pieces(stream, path, what, hash)); }
            catch (ArgumentException e)
            {
                if (stream.Position == 0) throw new FailureException($"{what} '{path}' is empty: expected a text to learn from");
                throw new FailureException($"{what} '{path}': {Display.WithoutParameter(e.Message)}");
            }
        }
        if (IndexedText.WidthProblem(scan.Vocabulary.Count) is { } problem)
            throw new FailureException($"{what} '{path}': {problem}");
        return new ScannedText(scan, Convert.ToHexStringLower(hash.GetHashAndReset()), kept);
    }

    /// <summary>The second pass: the text as symbol indices (2 bytes a character).</summary>
    public static IndexedText EncodeTextFile(string path, ScannedText scanned, string what)
    {
        using var stream = scanned.Bytes is { } b ? new MemoryStream(b, writable: false)
                                                  : InputFile.ReadInBlocks(path, what, TextCap(regular: true), out _);
        try { return IndexedTexts.Encode(scanned.Scan, Pieces(stream, path, what, null)); }
        catch (ArgumentException e) { throw new FailureException($"{what} '{path}': {Display.WithoutParameter(e.Message)}"); }
    }

    /// <summary>The stream's characters in pieces of at most a block, decoded strictly as UTF-8.</summary>
    private static IEnumerable<string> Pieces(Stream stream, string path, string what, IncrementalHash? hash)
    {
        var decoder = new UTF8Encoding(false, true).GetDecoder();
        var bytes = new byte[BlockBytes];
        var chars = new char[BlockBytes + 1];
        long offset = 0;
        var first = true;
        while (true)
        {
            int read;
            try { read = stream.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new FailureException($"{what} '{path}' cannot be read: {e.Message}");
            }
            hash?.AppendData(bytes, 0, read);
            var skip = first && read >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0;
            first = false;
            int count;
            try { count = decoder.GetChars(bytes, skip, read - skip, chars, 0, flush: read == 0); }
            catch (DecoderFallbackException e)
            {
                var at = offset + skip + Math.Max(0, e.Index) + 1;
                var shown = string.Join(" ", (e.BytesUnknown ?? []).Select(b => $"0x{b:X2}"));
                throw new FailureException($"{what} '{path}' is not UTF-8 text: the bytes {shown} at byte {at} (counting from 1) are no UTF-8 character");
            }
            offset += read;
            if (count > 0) yield return new string(chars, 0, count);
            if (read == 0) break;
        }
    }

    /// <summary>Fails unless the text is long enough for the run's samples and the run fits in memory.</summary>
    public static void CheckFits(TextRun t, TextScan scan, int units, int layers, string path)
    {
        if (scan.Length > Array.MaxLength)
            throw new FailureException($"--text '{path}' has {scan.Length} characters, more than one array holds ({Array.MaxLength})");
        var n = (int)scan.Length;
        if (TextRuns.Problem(t, n) is { } reason)
        {
            var hint = t.Validation > 0 && TextRuns.SampleCount(t, n - TextRuns.HeldOutLength(t, n)) > 0
                ? "lower --window or raise --validation (0 turns it off)"
                : t.Stateful ? "lower --batch-size or --window" : "lower --window";
            throw new FailureException($"--text '{path}': {reason}: {hint}");
        }
        Safety.CheckMemory($"training on --text '{path}' ({n} characters, {t.Vocabulary.Count} distinct, {(layers > 1 ? $"{layers} layers of " : "")}{units} units, {t.Vocabulary.FeaturesPerSymbol(t.Encoding)} features, batch {t.BatchSize}, window {t.Window})",
                           TextRuns.MemoryEstimate(t, n, units, layers));
    }

    // ---- generate -----------------------------------------------------------------------------

    /// <summary>
    /// Continues <paramref name="start"/> by <paramref name="steps"/> characters the way the model
    /// reads (TextRuns.Generate) and prints one line: the start and what followed.
    /// </summary>
    public static int Generate(SavedModel model, string start, int steps, double temperature, long seed, TextWriter o)
    {
        // The start is read as predict reads --sequence: characters, or words separated by commas.
        IEnumerable<string> generated;
        try { generated = TextRuns.Generate(model, model.Vocabulary.SplitText(start), steps, temperature, Rng.Create(seed)); }
        catch (ArgumentException e) when (e.ParamName is "start" or "text")
        {
            throw new FailureException($"--start: {Display.WithoutParameter(e.Message)}{Display.WordsHint(model.Vocabulary)}");
        }
        // Printed as it is made, a buffer at a time, joined as the start was written: the output may be
        // far longer than memory should hold, and a reader that goes away (| head) stops the loop.
        var separator = model.Vocabulary.IsOneCharacter ? "" : Vocabulary.WordSeparator;
        // The first symbol is made before anything is printed: a model whose numbers overflow fails
        // there (one line, exit 1) with nothing on standard output.
        using var symbols = generated.GetEnumerator();
        var any = symbols.MoveNext();
        using var output = StandardOutput.Open(o);
        output.Write(start);
        if (any)
        {
            output.Write(separator + symbols.Current);
            while (symbols.MoveNext()) output.Write(separator + symbols.Current);
        }
        output.WriteLine();
        return ExitCodes.Ok;
    }

    /// <summary>An option for a temperature: a finite number ≥ 0, or a one-line error naming the value.</summary>
    public static Option<double?> TemperatureOption()
    {
        return Cli.Number("--temperature", "0 (default): the most likely character each step; τ > 0: sample from the softmax at temperature τ (with --seed).",
                          "a number ≥ 0", tau => tau >= 0);
    }
}
