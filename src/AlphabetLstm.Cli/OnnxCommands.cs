using System.CommandLine;
using AlphabetLstm.Onnx;

namespace AlphabetLstm.Cli;

/// <summary>
/// <c>export</c> (a model file as an ONNX graph ONNX Runtime runs) and <c>import</c> (an ONNX LSTM
/// graph, ours or torch.onnx.export's, as a model file). The conversion is AlphabetLstm.Onnx's; this
/// file reads and writes the files, atomically and only after every check.
/// </summary>
public static class OnnxCommands
{
    public static IEnumerable<Command> Create(TextWriter stdout) => [Export(stdout), Import(stdout)];

    private static Command Export(TextWriter stdout)
    {
        var model = new Option<string>("--model") { Description = "The model file to export.", Required = true };
        var onnx = new Option<string>("--onnx") { Description = "The ONNX file to write.", Required = true };
        var command = new Command("export", "Write a model as ONNX (float32, one LSTM node per layer; the state h, c as graph inputs and outputs, a stack's layers side by side).") { model, onnx };
        command.SetAction(parse =>
        {
            var path = parse.GetValue(onnx)!;
            OutputRule.Guard([new("--onnx", path)], [new("--model", parse.GetValue(model))]);
            var m = ModelCommands.LoadModel(parse.GetValue(model)!);
            AtomicFile.EnsureWritableFileTarget(path, "--onnx");
            byte[] bytes;
            try { bytes = OnnxModel.Export(m); }
            catch (OnnxConversionException e) { throw new FailureException($"--model '{parse.GetValue(model)}': {e.Message}"); }
            AtomicFile.WriteAllBytes(path, bytes);
            var p = m.Parameters;
            stdout.WriteLine($"wrote {Display.Escape(path)}: {Stack(p)} + Dense({p.Classes}, softmax), opset {OnnxModel.Opset}, float32; "
                             + $"inputs x [batch, time, {p.Inputs}], h0, c0 [batch, {p.StateUnits}]{(p.Layers > 1 ? " (each layer's units side by side)" : "")}; outputs probabilities [batch, {p.Classes}], h, c");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Import(TextWriter stdout)
    {
        var onnx = new Option<string>("--onnx") { Description = "The ONNX file to read.", Required = true };
        var save = new Option<string>("--save") { Description = "The model file to write.", Required = true };
        var vocabulary = new Option<string?>("--vocabulary")
        {
            Description = "The symbols, one per class, when the file does not name them and V ≠ 26: "
                          + "comma-separated (do,re,mi) if the text holds a comma, else each character is a symbol (ABCDE).",
        };
        var steps = Cli.PositiveInt("--time-steps", "The time steps the model reads, when neither the file's metadata nor its input shape says.");
        var encoding = new Option<string?>("--encoding")
        {
            Description = "index, one-hot or features, when the metadata does not say (default: one-hot when the inputs are a multiple of V, else index).",
        };
        var command = new Command("import", "Read an ONNX LSTM (ours, or torch.onnx.export of nn.LSTM + nn.Linear) and save it as a model file.")
        {
            onnx, save, vocabulary, steps, encoding,
        };
        command.SetAction(parse =>
        {
            var options = new ImportOptions
            {
                Vocabulary = parse.GetValue(vocabulary) is { } v ? ParseVocabulary(v) : null,
                TimeSteps = parse.GetValue(steps),
                Encoding = parse.GetValue(encoding) is { } e ? ParseEncoding(e) : null,
                MemoryLimit = Safety.MaxMemory,
            };
            var input = parse.GetValue(onnx)!;
            var output = parse.GetValue(save)!;
            OutputRule.Guard([new("--save", output)], [new("--onnx", input)]);
            AtomicFile.EnsureWritableFileTarget(output, "--save");
            SavedModel m;
            try { m = OnnxModel.Import(InputFile.ReadBytes(input, "--onnx"), options); }
            catch (OnnxConversionException ex) when (ex.RequiredBytes is { } needed)
            {
                Safety.CheckMemory($"import --onnx '{input}' (the sizes its tensors declare)", needed);
                throw new FailureException($"--onnx '{input}': {ex.Message}");
            }
            catch (OnnxConversionException ex) { throw new FailureException($"--onnx '{input}': {ex.Message}"); }
            AtomicFile.WriteAllText(output, Loadable(m, input));
            var p = m.Parameters;
            string Count(int n, string what) => n == 1 ? $"1 {what}" : $"{n} {what}s";
            stdout.WriteLine($"imported {Display.Escape(input)}: {Stack(p)} + Dense({p.Classes}, softmax), {Count(m.Input.TimeSteps, "time step")} × {Count(p.Inputs, "feature")}, "
                             + $"encoding {ModelFile.EncodingName(m.Input.Encoding)}, {m.Vocabulary.Describe()}");
            stdout.WriteLine($"saved {Display.Escape(output)}");
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>
    /// The model file's text, only when the program's own loader (the one predict uses: the same size cap,
    /// the same parser) will read it back; else a one-line refusal and nothing is written.
    /// </summary>
    private static string Loadable(SavedModel m, string input)
    {
        string text;
        try { text = m.Serialize(); }
        catch (ArgumentException e) { throw new FailureException($"--onnx '{input}': the model it holds cannot be written: {Display.WithoutParameter(e.Message)}"); }
        var bytes = System.Text.Encoding.UTF8.GetByteCount(text);
        if (bytes > Safety.MaxFileBytes)
            throw new FailureException(
                $"--onnx '{input}': the model file would be {Memory.Describe(bytes)}, more than the {Memory.Describe(Safety.MaxFileBytes)} predict and generate read "
                + $"(a sixty-fourth of {Safety.MaxMemoryVariable}); nothing was written");
        if (!SavedModel.TryParse(text, out _, out var error))
            throw new FailureException($"--onnx '{input}': the model it holds would not load: {error}; nothing was written");
        return text;
    }

    /// <summary>"do,re,mi" (comma-separated, when the text holds a comma) or "ABCDE" (one symbol per character).</summary>
    public static Vocabulary ParseVocabulary(string text)
    {
        try
        {
            return Vocabulary.Create(text.Contains(Vocabulary.WordSeparator) ? text.Split(Vocabulary.WordSeparator) : Vocabulary.Split(text));
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--vocabulary: {Display.WithoutParameter(e.Message)}");
        }
    }

    private static SymbolEncoding ParseEncoding(string text)
    {
        foreach (var e in Enum.GetValues<SymbolEncoding>())
            if (ModelFile.EncodingName(e) == text) return e;
        throw new UsageException($"--encoding expects index, one-hot or features, got '{text}'");
    }

    /// <summary>"LSTM(H)", or "N × LSTM(H)" for a stack.</summary>
    private static string Stack(Parameters p) => p.Layers > 1 ? $"{p.Layers} × LSTM({p.Units})" : $"LSTM({p.Units})";
}
