using AlphabetLstm.Core;
using AlphabetLstm.Onnx;
using MathNet.Numerics.LinearAlgebra;
using Xunit.Abstractions;

namespace AlphabetLstm.Cli.Tests;

/// <summary>Our export, run by ONNX Runtime, against our own predictions; and export → import round trips.</summary>
public class OnnxExportTests(ITestOutputHelper output)
{
    private const int Cases = 40;

    [Fact]
    public void ONNX_Runtime_running_our_export_gives_our_probabilities_and_final_state_for_random_shapes_weights_and_states()
    {
        var random = new RandomModels(seed: 101);
        double worst = 0;
        for (var n = 0; n < Cases; n++)
        {
            var k = random.Case(minT: 1, maxT: 5);
            using var ort = new OrtModel(OnnxModel.Export(k.Model));
            var theirs = ort.Run(k.Inputs, k.Start.H, k.Start.C);
            var d = Differences.Max(k.Ours(), theirs.Probabilities, theirs.H, theirs.C);
            Assert.True(d <= 1e-5, $"case {n} ({k.Shape}): max |difference| {d:E3}");
            worst = Math.Max(worst, d);
        }
        output.WriteLine($"export vs ONNX Runtime, {Cases} cases: largest |difference| {worst:E3}");
    }

    [Fact]
    public void One_step_calls_through_ONNX_Runtime_feeding_the_state_back_equal_our_multi_step_prediction()
    {
        var random = new RandomModels(seed: 202);
        double worst = 0;
        for (var n = 0; n < Cases; n++)
        {
            var k = random.Case(minT: 2, maxT: 6);
            using var ort = new OrtModel(OnnxModel.Export(k.Model));
            Matrix<double> h = k.Start.H, c = k.Start.C;
            for (var t = 0; t < k.Inputs.Length; t++)
            {
                var step = ort.Run([k.Inputs[t]], h, c);
                (h, c) = (step.H, step.C);
                // ours: the first t + 1 steps in one multi-step prediction from the same start
                var d = Differences.Max(k.Ours(t + 1), step.Probabilities, h, c);
                Assert.True(d <= 1e-5, $"case {n} step {t} ({k.Shape}): max |difference| {d:E3}");
                worst = Math.Max(worst, d);
            }
        }
        output.WriteLine($"one-step ONNX Runtime calls vs our multi-step prediction, {Cases} cases: largest |difference| {worst:E3}");
    }

    [Fact]
    public void ONNX_Runtime_running_a_stacked_export_one_LSTM_node_per_layer_gives_our_probabilities_and_every_layers_final_state()
    {
        var random = new RandomModels(seed: 404);
        double worst = 0;
        for (var n = 0; n < Cases; n++)
        {
            var layers = 2 + n % 2;
            var k = random.Case(minT: 1, maxT: 5, layers: layers);
            var bytes = OnnxModel.Export(k.Model);
            Assert.Equal(layers, global::Onnx.ModelProto.Parser.ParseFrom(bytes).Graph.Node.Count(node => node.OpType == "LSTM"));
            using var ort = new OrtModel(bytes);
            var theirs = ort.Run(k.Inputs, k.Start.H, k.Start.C);
            var d = Differences.Max(k.Ours(), theirs.Probabilities, theirs.H, theirs.C);
            Assert.True(d <= 1e-5, $"case {n} ({k.Shape}): max |difference| {d:E3}");
            worst = Math.Max(worst, d);
            // Import reads the stack back: the same layers and predictions.
            var back = OnnxModel.Import(bytes, new ImportOptions());
            Assert.Equal(layers, back.Parameters.Layers);
            var again = Model.Predict(back.Parameters, k.Start, k.Inputs, Masking.Unmasked);
            Assert.True(Differences.Max(k.Ours(), again.Probabilities, again.Final.H, again.Final.C) <= 1e-6, $"case {n}: the imported stack predicts differently");
        }
        output.WriteLine($"stacked export vs ONNX Runtime, {Cases} cases (2 and 3 layers): largest |difference| {worst:E3}");
    }

    [Fact]
    public void Export_then_import_keeps_the_vocabulary_the_input_and_the_predictions_within_1e_6()
    {
        var random = new RandomModels(seed: 303);
        double worst = 0;
        for (var n = 0; n < Cases; n++)
        {
            int H = random.Next(1, 5), V = random.Next(2, 6), B = random.Next(1, 3), T = random.Next(1, 5);
            var encoding = (SymbolEncoding)(n % 3);
            var I = encoding == SymbolEncoding.OneHot ? V : random.Next(1, 4);
            var model = random.Model(I, H, V, T, encoding, prePadded: encoding != SymbolEncoding.OneHot && I == 1 && n % 2 == 0);
            var back = OnnxModel.Import(OnnxModel.Export(model), new ImportOptions());
            Assert.Equal(model.Vocabulary, back.Vocabulary);
            Assert.Equal(model.Input, back.Input);
            var state = new LstmState(random.Matrix(B, H, 0.9), random.Matrix(B, H, 0.9));
            var inputs = random.Inputs(T, B, I);
            var a = Model.Predict(model.Parameters, state, inputs, Masking.Unmasked);
            var b = Model.Predict(back.Parameters, state, inputs, Masking.Unmasked);
            var d = Differences.Max(a, b.Probabilities, b.Final.H, b.Final.C);
            Assert.True(d <= 1e-6, $"case {n}: max |difference| {d:E3}");
            worst = Math.Max(worst, d);
        }
        output.WriteLine($"export -> import, {Cases} cases: largest |difference| {worst:E3}");
    }

    [Fact]
    public void The_metadata_holds_the_vocabulary_and_the_model_files_input()
    {
        var model = new RandomModels(seed: 404).Model(I: 1, H: 3, V: 4, T: 5, SymbolEncoding.Index, prePadded: true);
        using var ort = new OrtModel(OnnxModel.Export(model));
        Assert.Equal("[\"s0\",\"s1\",\"s2\",\"s3\"]", ort.Metadata["vocabulary"]);
        Assert.Equal("index", ort.Metadata["encoding"]);
        Assert.Equal("5", ort.Metadata["timeSteps"]);
        Assert.Equal("1", ort.Metadata["features"]);
        Assert.Equal("false", ort.Metadata["masked"]);
        Assert.Equal("pre", ort.Metadata["padding"]);
    }

    [Fact]
    public void A_masked_pre_padded_model_is_refused_with_the_reason()
    {
        var m = new RandomModels(seed: 505).Model(I: 1, H: 2, V: 26, T: 5, SymbolEncoding.Index, prePadded: true);
        var masked = new SavedModel(m.Vocabulary, InputSpec.Create(5, 1, SymbolEncoding.Index, true, true), m.Parameters, Precision.Float64);
        var e = Assert.Throws<OnnxConversionException>(() => OnnxModel.Export(masked));
        Assert.Contains("masked", e.Message);
        Assert.Contains("sequence_lens", e.Message);
    }
}
