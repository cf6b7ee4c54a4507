using System.Text.Json;
using AlphabetLstm.Core;
using AlphabetLstm.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace AlphabetLstm.Cli.Tests;

/// <summary><c>export</c> and <c>import</c> run as real processes, and an exported model served by ONNX Runtime.</summary>
public class OnnxCliTests
{
    /// <summary>
    /// The README's serving loop: a model trained by <c>train stateful</c>, exported, then run by ONNX
    /// Runtime one step per call, the state fed back, each prediction the next input.
    /// </summary>
    [Fact]
    public void A_stateful_model_exported_and_served_one_step_per_call_by_ONNX_Runtime_generates_the_alphabet_from_A()
    {
        using var dir = new TempFolder();
        Assert.Equal(0, CliProcess.Run(dir.Path, "train", "stateful", "--save", "stateful.json", "--quiet").ExitCode);
        var r = CliProcess.Run(dir.Path, "export", "--model", "stateful.json", "--onnx", "stateful.onnx");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("wrote stateful.onnx", r.Stdout);

        using var session = new InferenceSession(dir["stateful.onnx"]);
        var meta = session.ModelMetadata.CustomMetadataMap;
        var vocabulary = JsonSerializer.Deserialize<string[]>(meta["vocabulary"])!;
        Assert.Equal("index", meta["encoding"]);
        var H = (int)session.InputMetadata["h0"].Dimensions[1];
        float[] h = new float[H], c = new float[H];
        var symbol = "A";
        var generated = symbol;
        for (var step = 0; step < 25; step++)
        {
            float[] x = [(float)Array.IndexOf(vocabulary, symbol) / vocabulary.Length];   // index encoding: k / V
            using var xv = OrtValue.CreateTensorValueFromMemory(x, [1, 1, 1]);
            using var hv = OrtValue.CreateTensorValueFromMemory(h, [1, H]);
            using var cv = OrtValue.CreateTensorValueFromMemory(c, [1, H]);
            using var run = new RunOptions();
            using var outputs = session.Run(run, ["x", "h0", "c0"], [xv, hv, cv], ["probabilities", "h", "c"]);
            var p = outputs[0].GetTensorDataAsSpan<float>();
            symbol = vocabulary[p.IndexOf(Max(p))];
            h = outputs[1].GetTensorDataAsSpan<float>().ToArray();   // the state, fed back as the next call's h0, c0
            c = outputs[2].GetTensorDataAsSpan<float>().ToArray();
            generated += symbol;
        }
        Assert.Equal("ABCDEFGHIJKLMNOPQRSTUVWXYZ", generated);
    }

    private static float Max(ReadOnlySpan<float> p)
    {
        var best = p[0];
        foreach (var v in p) best = Math.Max(best, v);
        return best;
    }

    [Fact]
    public void A_torch_export_imported_by_the_CLI_works_with_predict_and_generate()
    {
        using var dir = new TempFolder();
        var r = CliProcess.Run(dir.Path, "import", "--onnx", OnnxImportTests.Fixture("torch_alphabet.onnx"), "--save", "torch.json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("the alphabet A..Z", r.Stdout);
        var model = SavedModel.Parse(File.ReadAllText(dir["torch.json"]));
        var expected = model.PredictNext(LstmState.Zeros(1, model.Parameters.Units), ["K"]);

        var predict = CliProcess.Run(dir.Path, "predict", "--model", "torch.json", "--sequence", "K");
        Assert.True(predict.ExitCode == 0, predict.Stderr);
        Assert.StartsWith($"K -> {expected.Symbol}", predict.Stdout);
        var generate = CliProcess.Run(dir.Path, "generate", "--model", "torch.json", "--start", "K", "--steps", "3");
        Assert.True(generate.ExitCode == 0, generate.Stderr);
        Assert.StartsWith($"from the zero state: K -> {expected.Symbol} -> ", generate.Stdout);
    }

    [Fact]
    public void Import_takes_the_vocabulary_as_characters_or_comma_separated_and_refuses_a_wrong_one()
    {
        using var dir = new TempFolder();
        var logits = OnnxImportTests.Fixture("torch_logits.onnx");
        Assert.Equal(0, CliProcess.Run(dir.Path, "import", "--onnx", logits, "--save", "a.json", "--vocabulary", "abcde").ExitCode);
        Assert.Equal(["a", "b", "c", "d", "e"], SavedModel.Parse(File.ReadAllText(dir["a.json"])).Vocabulary.Symbols);
        Assert.Equal(0, CliProcess.Run(dir.Path, "import", "--onnx", logits, "--save", "b.json", "--vocabulary", "do,re,mi,fa,so").ExitCode);
        Assert.Equal(["do", "re", "mi", "fa", "so"], SavedModel.Parse(File.ReadAllText(dir["b.json"])).Vocabulary.Symbols);

        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "import", "--onnx", logits, "--save", "c.json"), 1, "--vocabulary with 5 symbols");
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "import", "--onnx", logits, "--save", "c.json", "--vocabulary", "abc"), 1, "--vocabulary has 3 symbols");
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "import", "--onnx", logits, "--save", "c.json", "--vocabulary", "abca"), 2, "--vocabulary", "appears twice");
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "import", "--onnx", logits, "--save", "c.json", "--vocabulary", "abcde", "--encoding", "ascii"), 2, "--encoding", "ascii");
        Assert.False(File.Exists(dir["c.json"]));
    }

    [Fact]
    public void A_word_vocabulary_takes_its_symbols_comma_separated_in_predict_and_generate_as_in_import()
    {
        using var dir = new TempFolder();
        var logits = OnnxImportTests.Fixture("torch_logits.onnx");   // 4 time steps of one-hot over 5 classes
        Assert.Equal(0, CliProcess.Run(dir.Path, "import", "--onnx", logits, "--save", "notes.json", "--vocabulary", "do,re,mi,fa,so").ExitCode);
        var model = SavedModel.Parse(File.ReadAllText(dir["notes.json"]));
        var expected = model.PredictNext(LstmState.Zeros(1, model.Parameters.Units), ["do", "re", "mi", "fa"]);
        Assert.Equal(["do", "re", "mi", "fa"], model.Vocabulary.SplitText("do,re,mi,fa"));
        Assert.Equal("do,re,mi", model.Vocabulary.Join(["do", "re", "mi"]));

        var r = CliProcess.Run(dir.Path, "predict", "--model", "notes.json", "--sequence", "do,re,mi,fa");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.StartsWith($"do,re,mi,fa -> {expected.Symbol}\n", r.Stdout);
        // Spaces are not the separator: the error says which one is.
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "predict", "--model", "notes.json", "--sequence", "do re mi fa"), 1,
            "--sequence: ", "\"do re mi fa\"", "the model's symbols are words: separate them with commas, as in do,re,mi");

        // generate reads its start the same way and writes the words it adds with the same separator.
        var g = CliProcess.Run(dir.Path, "generate", "--model", "notes.json", "--start", "do,re,mi,fa", "--steps", "3");
        Assert.True(g.ExitCode == 0, g.Stderr);
        var words = g.Stdout.TrimEnd('\n').Split(',');
        Assert.Equal(["do", "re", "mi", "fa", expected.Symbol], words[..5]);
        Assert.Equal(7, words.Length);
        Assert.All(words, w => Assert.Contains(w, model.Vocabulary.Symbols));
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "generate", "--model", "notes.json", "--start", "do re mi fa", "--steps", "3"), 1,
            "--start: ", "\"do re mi fa\"", "the model's symbols are words: separate them with commas, as in do,re,mi");
    }

    [Fact]
    public void Every_refused_file_exits_1_with_one_line_and_writes_nothing()
    {
        using var dir = new TempFolder();
        foreach (var (name, bytes, fragments) in OnnxImportTests.Refused())
        {
            File.WriteAllBytes(dir[name + ".onnx"], bytes);
            var r = CliProcess.Run(dir.Path, "import", "--onnx", name + ".onnx", "--save", name + ".json", "--vocabulary", "abcd", "--time-steps", "3");
            CliProcess.AssertCleanError(r, 1, [$"--onnx '{name}.onnx'", .. fragments]);
        }
        Assert.DoesNotContain(Directory.GetFiles(dir.Path), f => !f.EndsWith(".onnx", StringComparison.Ordinal));
    }

    [Fact]
    public void Exporting_a_masked_model_exits_1_with_the_reason_and_writes_nothing()
    {
        using var dir = new TempFolder();
        var m = new RandomModels(seed: 8).Model(I: 1, H: 2, V: 26, T: 5, SymbolEncoding.Index, prePadded: true);
        var masked = new SavedModel(Vocabulary.Alphabet, InputSpec.Create(5, 1, SymbolEncoding.Index, true, true), m.Parameters, Precision.Float64);
        File.WriteAllText(dir["masked.json"], masked.Serialize());
        var r = CliProcess.Run(dir.Path, "export", "--model", "masked.json", "--onnx", "masked.onnx");
        CliProcess.AssertCleanError(r, 1, "--model 'masked.json'", "masked", "sequence_lens");
        Assert.False(File.Exists(dir["masked.onnx"]));
        Assert.Single(Directory.GetFiles(dir.Path));
    }
}
