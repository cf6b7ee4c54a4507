using System.Text.Json;
using AlphabetLstm.Core;
using AlphabetLstm.Onnx;
using Google.Protobuf;
using MathNet.Numerics.LinearAlgebra;
using Onnx;
using Xunit.Abstractions;

namespace AlphabetLstm.Cli.Tests;

/// <summary>Graphs torch.onnx.export wrote (OnnxFixtures/, made by make_onnx_fixtures.py), and graphs the importer must refuse.</summary>
public class OnnxImportTests(ITestOutputHelper output)
{
    public static string Fixture(string name) => Path.Combine(Repo.Root, "tests", "AlphabetLstm.Cli.Tests", "OnnxFixtures", name);

    private static Matrix<double> Rows(JsonElement e) =>
        Matrix<double>.Build.DenseOfRowArrays(e.EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetDouble()).ToArray()));

    public static TheoryData<string, string?, int?> TorchCases => new()
    {
        { "torch_alphabet", null, null },        // V = 26: the alphabet; T from the graph's input
        { "torch_logits", "abcde", null },       // no Softmax in the graph; batch fixed
        { "torch_opset11", "do,re,mi,fa,so,la,ti", null },   // opset 11: Squeeze/Unsqueeze axes as attributes
        { "torch_dynamic_time", "wxyz", 2 },     // the time axis dynamic: T from --time-steps
        { "torch_two_layers", "a,b,c,d,e,f", null },   // nn.LSTM(num_layers=2): two LSTM nodes, the second reading the first's Y
    };

    [Theory]
    [MemberData(nameof(TorchCases))]
    public void A_torch_onnx_export_imports_and_predicts_PyTorchs_probabilities_and_final_state(string name, string? vocabulary, int? steps)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixture(name + ".json")));
        var e = doc.RootElement;
        var shape = e.GetProperty("shape");
        var options = new ImportOptions
        {
            Vocabulary = vocabulary is null ? null : OnnxCommands.ParseVocabulary(vocabulary),
            TimeSteps = steps,
        };
        var model = OnnxModel.Import(File.ReadAllBytes(Fixture(name + ".onnx")), options);
        Assert.Equal(shape.GetProperty("timeSteps").GetInt32(), model.Input.TimeSteps);
        Assert.Equal(shape.GetProperty("inputs").GetInt32(), model.Parameters.Inputs);
        Assert.Equal(shape.GetProperty("units").GetInt32(), model.Parameters.Units);
        Assert.Equal(shape.TryGetProperty("layers", out var layers) ? layers.GetInt32() : 1, model.Parameters.Layers);
        Assert.Equal(shape.GetProperty("classes").GetInt32(), model.Vocabulary.Count);

        var x = e.GetProperty("x").EnumerateArray().Select(Rows).ToArray();   // [batch] of (T, I)
        int T = x[0].RowCount, B = x.Length;
        var inputs = Enumerable.Range(0, T).Select(t => Matrix<double>.Build.DenseOfRowVectors(x.Select(s => s.Row(t)))).ToArray();
        var p = Model.Predict(model.Parameters, new LstmState(Rows(e.GetProperty("h0")), Rows(e.GetProperty("c0"))), inputs, Masking.Unmasked);
        double Worst(JsonElement expected) =>
            new[] { Differences.Max(Rows(expected.GetProperty("probabilities")), p.Probabilities), Differences.Max(Rows(expected.GetProperty("h")), p.Final.H),
                    Differences.Max(Rows(expected.GetProperty("c")), p.Final.C) }.Max();
        double d64 = Worst(e), d32 = Worst(e.GetProperty("float32"));
        output.WriteLine($"{name} (B={B}, T={T}): largest |difference| from PyTorch float64 {d64:E3}, from PyTorch float32 {d32:E3}");
        Assert.True(d64 <= 1e-5, $"{name}: max |difference| from PyTorch float64 {d64:E3}");
        Assert.True(d32 <= 1e-5, $"{name}: max |difference| from PyTorch float32 {d32:E3}");
    }

    [Fact]
    public void Without_a_vocabulary_or_time_steps_the_import_says_which_option_is_missing()
    {
        var logits = File.ReadAllBytes(Fixture("torch_logits.onnx"));
        Assert.Contains("--vocabulary with 5 symbols", Assert.Throws<OnnxConversionException>(() => OnnxModel.Import(logits, new ImportOptions())).Message);
        var wrong = new ImportOptions { Vocabulary = Vocabulary.Create(["a", "b", "c"]) };
        Assert.Contains("--vocabulary has 3 symbols", Assert.Throws<OnnxConversionException>(() => OnnxModel.Import(logits, wrong)).Message);
        var dynamic = File.ReadAllBytes(Fixture("torch_dynamic_time.onnx"));
        var noSteps = new ImportOptions { Vocabulary = Vocabulary.Create(["a", "b", "c", "d"]) };
        Assert.Contains("--time-steps", Assert.Throws<OnnxConversionException>(() => OnnxModel.Import(dynamic, noSteps)).Message);
        var disagree = new ImportOptions { Vocabulary = noSteps.Vocabulary, TimeSteps = 9 };
        Assert.Contains("--time-steps 9 disagrees", Assert.Throws<OnnxConversionException>(() => OnnxModel.Import(logits, disagree with { Vocabulary = Vocabulary.Create(["a", "b", "c", "d", "e"]) })).Message);
    }

    [Fact]
    public void A_dense_layer_written_as_MatMul_and_Add_imports_as_the_same_model()
    {
        var model = new RandomModels(seed: 10).Model(I: 2, H: 3, V: 4, T: 2);
        var bytes = Edit(OnnxModel.Export(model), m =>
        {
            var gemm = NodeOf(m, "Gemm");
            var at = m.Graph.Node.IndexOf(gemm);
            m.Graph.Node.RemoveAt(at);
            m.Graph.Node.Insert(at, new NodeProto { OpType = "MatMul", Name = "matmul", Input = { "h", "dense_kernel" }, Output = { "product" } });
            m.Graph.Node.Insert(at + 1, new NodeProto { OpType = "Add", Name = "add", Input = { "dense_bias", "product" }, Output = { "logits" } });
        });
        var back = OnnxModel.Import(bytes, new ImportOptions());
        Assert.Equal(model.Vocabulary, back.Vocabulary);
        var d = model.Parameters.Blocks().Zip(back.Parameters.Blocks())
                          .SelectMany(p => p.First.Values.Zip(p.Second.Values, (a, b) => Math.Abs(a - b))).Max();
        Assert.True(d <= 1e-7, $"weights differ by {d:E3} (float32 rounding is below 1e-7 for weights in [-1, 1])");
    }

    [Fact]
    public void The_last_step_picked_by_Slice_and_Squeeze_instead_of_Gather_imports_the_same_weights()
    {
        var logits = File.ReadAllBytes(Fixture("torch_logits.onnx"));
        TensorProto Ints(string name, params long[] values) => new() { Name = name, DataType = (int)TensorProto.Types.DataType.Int64, Dims = { values.Length }, Int64Data = { values } };
        var sliced = Edit(logits, m =>
        {
            var gather = NodeOf(m, "Gather");   // out[:, -1, :] on [batch, T, H]
            var at = m.Graph.Node.IndexOf(gather);
            m.Graph.Initializer.Add([Ints("starts", -1), Ints("ends", long.MaxValue), Ints("time_axis", 1)]);
            m.Graph.Node.RemoveAt(at);
            m.Graph.Node.Insert(at, new NodeProto { OpType = "Slice", Name = "last", Input = { gather.Input[0], "starts", "ends", "time_axis" }, Output = { "last_step" } });
            m.Graph.Node.Insert(at + 1, new NodeProto { OpType = "Squeeze", Name = "drop_time", Input = { "last_step", "time_axis" }, Output = { gather.Output[0] } });
        });
        var options = new ImportOptions { Vocabulary = Vocabulary.Create(["a", "b", "c", "d", "e"]) };
        var a = OnnxModel.Import(logits, options);
        var b = OnnxModel.Import(sliced, options);
        Assert.Equal(a.Serialize(), b.Serialize());
        var first = Edit(sliced, m => m.Graph.Initializer.Single(t => t.Name == "starts").Int64Data[0] = 0);
        Assert.Contains("node 'last' (Slice): slices the time steps from 0", Assert.Throws<OnnxConversionException>(() => OnnxModel.Import(first, options)).Message);
    }

    // ---- refused files ------------------------------------------------------------------------

    private static byte[] OurExport() =>
        OnnxModel.Export(new RandomModels(seed: 9).Model(I: 2, H: 3, V: 4, T: 2));

    private static byte[] Edit(byte[] bytes, Action<ModelProto> edit)
    {
        var m = ModelProto.Parser.ParseFrom(bytes);
        edit(m);
        return m.ToByteArray();
    }

    private static NodeProto NodeOf(ModelProto m, string op) => m.Graph.Node.First(n => n.OpType == op);

    /// <summary>Damaged or unsupported files, each with the fragments its one-line refusal must hold.</summary>
    public static IEnumerable<(string Name, byte[] Bytes, string[] Fragments)> Refused()
    {
        var ours = OurExport();
        yield return ("truncated", ours[..(ours.Length / 2)], ["not an ONNX model"]);
        yield return ("not-protobuf", "this is a text file, not an ONNX model\n"u8.ToArray(), ["not an ONNX model"]);
        yield return ("empty", [], ["not an ONNX model"]);
        yield return ("gru", File.ReadAllBytes(Fixture("torch_gru.onnx")), ["node '/rnn/GRU' (GRU)", "unsupported operator"]);
        yield return ("bidirectional", File.ReadAllBytes(Fixture("torch_bidirectional.onnx")), ["node '/rnn/LSTM' (LSTM)", "bidirectional"]);
        yield return ("second-layer-reads-x", Edit(File.ReadAllBytes(Fixture("torch_two_layers.onnx")), m =>
            m.Graph.Node.Where(n => n.OpType == "LSTM").Last().Input[0] = "/rnn/Transpose_output_0"),
            ["node '/rnn/LSTM_1' (LSTM)", "a second LSTM whose input X is not every step of the LSTM below's output Y"]);
        yield return ("peepholes", Edit(ours, m =>
        {
            var p = new TensorProto { Name = "P", DataType = (int)TensorProto.Types.DataType.Float, Dims = { 1, 9 } };
            p.FloatData.AddRange(new float[9]);
            m.Graph.Initializer.Add(p);
            NodeOf(m, "LSTM").Input.Add("P");
        }), ["node 'lstm' (LSTM)", "peepholes"]);
        yield return ("clip", Edit(ours, m => NodeOf(m, "LSTM").Attribute.Add(
            new AttributeProto { Name = "clip", Type = AttributeProto.Types.AttributeType.Float, F = 3 })), ["node 'lstm' (LSTM)", "clip"]);
        yield return ("activations", Edit(ours, m =>
        {
            var a = new AttributeProto { Name = "activations", Type = AttributeProto.Types.AttributeType.Strings };
            a.Strings.AddRange(new[] { "Sigmoid", "Relu", "Tanh" }.Select(ByteString.CopyFromUtf8));
            NodeOf(m, "LSTM").Attribute.Add(a);
        }), ["node 'lstm' (LSTM)", "activations [Sigmoid, Relu, Tanh]"]);
        yield return ("relu-in-path", Edit(ours, m =>
        {
            var relu = new NodeProto { OpType = "Relu", Name = "relu", Input = { "h" }, Output = { "h_relu" } };
            m.Graph.Node.Insert(m.Graph.Node.IndexOf(NodeOf(m, "Gemm")), relu);
            NodeOf(m, "Gemm").Input[0] = "h_relu";
        }), ["node 'relu' (Relu)", "unsupported operator"]);
        yield return ("first-step", Edit(File.ReadAllBytes(Fixture("torch_logits.onnx")), m =>
        {
            var gather = NodeOf(m, "Gather");
            var constant = m.Graph.Node.First(n => n.Output.Contains(gather.Input[1]));
            constant.Attribute[0].T = new TensorProto { DataType = (int)TensorProto.Types.DataType.Int64, Int64Data = { 0 } };
        }), ["node '/Gather' (Gather)", "picks time step 0"]);
        yield return ("newline-in-a-name", Edit(ours, m =>
        {
            var relu = new NodeProto { OpType = "Relu", Name = "two\nlines", Input = { "h" }, Output = { "h_relu" } };
            m.Graph.Node.Insert(m.Graph.Node.IndexOf(NodeOf(m, "Gemm")), relu);
            NodeOf(m, "Gemm").Input[0] = "h_relu";
        }), ["node 'two\\u000alines' (Relu)"]);
        yield return ("second-dense", Edit(ours, m =>
        {
            var gemm = NodeOf(m, "Gemm");
            var again = new NodeProto { OpType = "Gemm", Name = "dense2", Input = { "logits", "dense_kernel2" }, Output = { "logits2" } };
            var w = new TensorProto { Name = "dense_kernel2", DataType = (int)TensorProto.Types.DataType.Float, Dims = { 4, 4 } };
            w.FloatData.AddRange(new float[16]);
            m.Graph.Initializer.Add(w);
            m.Graph.Node.Insert(m.Graph.Node.IndexOf(gemm) + 1, again);
            NodeOf(m, "Softmax").Input[0] = "logits2";
        }), ["node 'dense2' (Gemm)", "second dense layer"]);
    }

    /// <summary>
    /// Damage of every kind (cuts, flipped bytes, inserted and deleted bytes, and graph edits: nodes
    /// dropped, inputs dropped or renamed, attributes and dims changed) to our export and to PyTorch's:
    /// the import gives a valid model or one clean line, never another exception.
    /// </summary>
    [Fact]
    public void Damaged_files_give_a_valid_model_or_one_clean_line_never_another_exception()
    {
        var rng = new Random(20261129);
        var symbols = Vocabulary.Create(["a", "b", "c", "d", "e", "f", "g"]);
        var sources = new (byte[] Bytes, ImportOptions Options)[]
        {
            (OurExport(), new ImportOptions()),
            (File.ReadAllBytes(Fixture("torch_alphabet.onnx")), new ImportOptions()),
            (File.ReadAllBytes(Fixture("torch_logits.onnx")), new ImportOptions { Vocabulary = Vocabulary.Create(symbols.Symbols.Take(5)) }),
            (File.ReadAllBytes(Fixture("torch_opset11.onnx")), new ImportOptions { Vocabulary = symbols }),
        };
        const int Files = 1500;
        int refused = 0, imported = 0;
        for (var n = 0; n < Files; n++)
        {
            var (source, options) = sources[n % sources.Length];
            var bytes = n % 3 == 2 ? EditGraph(source, rng) : DamageBytes(source, rng);
            try
            {
                var model = OnnxModel.Import(bytes, options);
                Assert.False(string.IsNullOrEmpty(model.Serialize()));
                imported++;
            }
            catch (OnnxConversionException e)
            {
                Assert.DoesNotContain('\n', e.Message);
                Assert.False(string.IsNullOrWhiteSpace(e.Message));
                refused++;
            }
        }
        output.WriteLine($"{Files} damaged files: {refused} refused with one line, {imported} still a valid model");
        Assert.True(refused > 500, $"only {refused} of {Files} damaged files were refused");
    }

    private static byte[] DamageBytes(byte[] source, Random rng)
    {
        var b = source.ToList();
        switch (rng.Next(4))
        {
            case 0: return source[..rng.Next(source.Length)];
            case 1: for (var k = rng.Next(1, 4); k > 0; k--) { var at = rng.Next(b.Count); b[at] ^= (byte)(1 << rng.Next(8)); } break;
            case 2: b.InsertRange(rng.Next(b.Count), Enumerable.Range(0, rng.Next(1, 5)).Select(_ => (byte)rng.Next(256))); break;
            default: var from = rng.Next(b.Count); b.RemoveRange(from, Math.Min(b.Count - from, rng.Next(1, 5))); break;
        }
        return b.ToArray();
    }

    private static byte[] EditGraph(byte[] source, Random rng) => Edit(source, m =>
    {
        var g = m.Graph;
        var node = g.Node[rng.Next(g.Node.Count)];
        switch (rng.Next(8))
        {
            case 0: g.Node.Remove(node); break;
            case 1: if (node.Input.Count > 0) node.Input.RemoveAt(rng.Next(node.Input.Count)); break;
            case 2: if (node.Input.Count > 0) node.Input[rng.Next(node.Input.Count)] = "nowhere"; break;
            case 3: if (node.Output.Count > 0) node.Output.RemoveAt(rng.Next(node.Output.Count)); break;
            case 4: if (node.Attribute.Count > 0) { var a = node.Attribute[rng.Next(node.Attribute.Count)]; a.I = rng.Next(-3, 5); a.Ints.Clear(); a.Ints.Add(rng.Next(-3, 5)); } break;
            case 5: if (g.Initializer.Count > 0) { var t = g.Initializer[rng.Next(g.Initializer.Count)]; if (t.Dims.Count > 0) t.Dims[rng.Next(t.Dims.Count)] = rng.Next(-2, 40); } break;
            case 6: if (g.Initializer.Count > 0) { var t = g.Initializer[rng.Next(g.Initializer.Count)]; t.DataType = rng.Next(0, 17); } break;
            default: node.OpType = new[] { "Gather", "Slice", "Squeeze", "Unsqueeze", "Transpose", "Reshape", "Gemm", "MatMul", "Add", "Softmax", "LSTM" }[rng.Next(11)]; break;
        }
    });

    public static TheoryData<string> RefusedNames => new(Refused().Select(r => r.Name));

    [Theory]
    [MemberData(nameof(RefusedNames))]
    public void A_damaged_or_unsupported_file_is_refused_with_one_line_naming_the_problem(string name)
    {
        var (_, bytes, fragments) = Refused().Single(r => r.Name == name);
        var e = Assert.Throws<OnnxConversionException>(() => OnnxModel.Import(bytes, new ImportOptions { Vocabulary = Vocabulary.Create(["a", "b", "c", "d"]), TimeSteps = 3 }));
        Assert.DoesNotContain('\n', e.Message);
        foreach (var f in fragments) Assert.Contains(f, e.Message);
    }
}
