using AlphabetLstm.Core;
using AlphabetLstm.Onnx;
using MathNet.Numerics.LinearAlgebra;
using Microsoft.ML.OnnxRuntime;

namespace AlphabetLstm.Cli.Tests;

/// <summary>An exported graph run by ONNX Runtime: x (B, T, I), h0, c0 (B, H) in; probabilities (B, V), h, c out.</summary>
public sealed class OrtModel(byte[] bytes) : IDisposable
{
    private readonly InferenceSession session = new(bytes);

    public IReadOnlyDictionary<string, string> Metadata => session.ModelMetadata.CustomMetadataMap;

    public sealed record Output(Matrix<double> Probabilities, Matrix<double> H, Matrix<double> C);

    /// <summary>One run over the steps <paramref name="inputs"/> (T matrices of (B, I)), from the state (h0, c0).</summary>
    public Output Run(Matrix<double>[] inputs, Matrix<double> h0, Matrix<double> c0)
    {
        int T = inputs.Length, B = h0.RowCount, I = inputs[0].ColumnCount, H = h0.ColumnCount;
        var x = new float[B * T * I];
        for (var b = 0; b < B; b++)
            for (var t = 0; t < T; t++)
                for (var i = 0; i < I; i++)
                    x[(b * T + t) * I + i] = (float)inputs[t][b, i];
        using var xv = OrtValue.CreateTensorValueFromMemory(x, [B, T, I]);
        using var hv = OrtValue.CreateTensorValueFromMemory(Flat(h0), [B, H]);
        using var cv = OrtValue.CreateTensorValueFromMemory(Flat(c0), [B, H]);
        using var options = new RunOptions();
        using var results = session.Run(options, [OnnxModel.InputX, OnnxModel.InputH0, OnnxModel.InputC0], [xv, hv, cv],
                                        [OnnxModel.OutputProbabilities, OnnxModel.OutputH, OnnxModel.OutputC]);
        return new Output(Rows(results[0], B), Rows(results[1], B), Rows(results[2], B));
    }

    private static float[] Flat(Matrix<double> m) => Array.ConvertAll(m.ToRowMajorArray(), v => (float)v);

    private static Matrix<double> Rows(OrtValue v, int rows)
    {
        var data = v.GetTensorDataAsSpan<float>().ToArray();
        var cols = data.Length / rows;
        return Matrix<double>.Build.Dense(rows, cols, (r, c) => data[r * cols + c]);
    }

    public void Dispose() => session.Dispose();
}

/// <summary>Random small models, states and inputs, all drawn from one seeded generator.</summary>
public sealed class RandomModels(int seed)
{
    private readonly Random rng = new(seed);

    public int Next(int lo, int hi) => rng.Next(lo, hi + 1);

    /// <summary>A float32-representable number in [-a, a] (inputs and states go to ONNX Runtime as float32).</summary>
    public double Float(double a) => (float)((rng.NextDouble() * 2 - 1) * a);

    public Matrix<double> Matrix(int rows, int cols, double a) => Matrix<double>.Build.Dense(rows, cols, (_, _) => Float(a));

    /// <summary>Weights in [-1, 1] as doubles (not float32 numbers), as a trained model has them.</summary>
    public Parameters Parameters(int I, int H, int V, int layers = 1)
    {
        Matrix<double> M(int r, int c) => Matrix<double>.Build.Dense(r, c, (_, _) => rng.NextDouble() * 2 - 1);
        Vector<double> Vec(int n) => Vector<double>.Build.Dense(n, _ => rng.NextDouble() * 2 - 1);
        var p = AlphabetLstm.Core.Parameters.Create(M(I, 4 * H), M(H, 4 * H), Vec(4 * H), M(H, V), Vec(V));
        if (layers == 1) return p;
        // The layers above the first are drawn after the one-layer blocks, so one-layer cases keep their numbers.
        var upper = Enumerable.Range(1, layers - 1).Select(_ => new LstmLayer(M(H, 4 * H), M(H, 4 * H), Vec(4 * H))).ToArray();
        return AlphabetLstm.Core.Parameters.Create(p.Kernel, p.RecurrentKernel, p.Bias, p.DenseKernel, p.DenseBias, upper);
    }

    /// <summary>A model of <paramref name="layers"/> stacked layers reading T steps of I features over V symbols "s0", "s1", … (the features encoding: any I).</summary>
    public SavedModel Model(int I, int H, int V, int T, SymbolEncoding encoding = SymbolEncoding.Features, bool prePadded = false, int layers = 1)
    {
        var vocabulary = Vocabulary.Create(Enumerable.Range(0, V).Select(k => $"s{k}"));
        return new SavedModel(vocabulary, InputSpec.Create(T, I, encoding, false, prePadded), Parameters(I, H, V, layers), Precision.Float64);
    }

    public Matrix<double>[] Inputs(int T, int B, int I) => Enumerable.Range(0, T).Select(_ => Matrix(B, I, 1.0)).ToArray();

    /// <summary>One random case: I 1..4, H 1..5, V 2..6, batch 1..3, T in minT..maxT; a model, a start state and inputs.</summary>
    public RandomCase Case(int minT, int maxT, int layers = 1)
    {
        int I = Next(1, 4), H = Next(1, 5), V = Next(2, 6), B = Next(1, 3), T = Next(minT, maxT);
        return new RandomCase(Model(I, H, V, T, layers: layers), new LstmState(Matrix(B, layers * H, 0.9), Matrix(B, layers * H, 0.9)), Inputs(T, B, I),
                              $"I={I}, H={H}, V={V}, B={B}, T={T}, layers={layers}");
    }
}

public sealed record RandomCase(SavedModel Model, LstmState Start, Matrix<double>[] Inputs, string Shape)
{
    /// <summary>Our prediction over the first <paramref name="steps"/> steps (all by default) from the start state.</summary>
    public Prediction Ours(int? steps = null) =>
        AlphabetLstm.Core.Model.Predict(Model.Parameters, Start, Inputs[..(steps ?? Inputs.Length)], Masking.Unmasked);
}

public static class Differences
{
    public static double Max(Matrix<double> a, Matrix<double> b)
    {
        Assert.Equal(a.RowCount, b.RowCount);
        Assert.Equal(a.ColumnCount, b.ColumnCount);
        return (a - b).Enumerate().Select(Math.Abs).DefaultIfEmpty(0).Max();
    }

    /// <summary>The largest |difference| over the probabilities and the final h and c.</summary>
    public static double Max(Prediction ours, Matrix<double> probabilities, Matrix<double> h, Matrix<double> c) =>
        new[] { Max(ours.Probabilities, probabilities), Max(ours.Final.H, h), Max(ours.Final.C, c) }.Max();
}
