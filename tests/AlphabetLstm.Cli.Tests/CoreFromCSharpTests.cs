using AlphabetLstm.Core;
using AlphabetLstm.Tutorial;
using MathNet.Numerics.LinearAlgebra;

namespace AlphabetLstm.Cli.Tests;

/// <summary>The core as a C# user meets it: train, predict, carry and reset the state, in a few lines.</summary>
public class CoreFromCSharpTests
{
    [Fact]
    public void A_CSharp_caller_trains_the_stateful_model_and_generates_the_alphabet_with_explicit_state()
    {
        var data = Datasets.Window(1, Layout.Features);
        var init = Parameters.Init(1, 50, 26, Rng.Create(1));
        var fit = FitConfig.Create(epochs: 300, batchSize: 1, shuffle: false, policy: StatePolicy.Stateful);
        var trained = Training.Train(fit, data, Training.Start(fit, init.Value, init.Next), betweenEpochs: LstmState.Zeros);

        // The state is a value: pass zeros to reset, pass the returned state to carry on.
        var model = new SavedModel(Vocabulary.Alphabet, Experiments.InputOf(Experiments.Find("stateful")), trained.Parameters, Precision.Float64);
        var state = LstmState.Zeros(1, model.Parameters.Units);
        var letter = "A";
        var text = "A";
        for (var k = 0; k < 25; k++)
        {
            var next = model.PredictNext(state, [letter]);
            state = next.Final;
            letter = next.Symbol;
            text += letter;
        }
        Assert.Equal(Alphabet.Letters, text);
    }

    [Fact]
    public void A_CSharp_caller_follows_training_every_ten_epochs_and_ends_where_Train_ends()
    {
        var data = Datasets.Window(1, Layout.Features);
        var init = Parameters.Init(1, 8, 26, Rng.Create(3));
        var fit = FitConfig.Create(epochs: 25, batchSize: 5);
        var start = Training.Start(fit, init.Value, init.Next);

        var seen = new List<int>();
        var reports = 0;
        TrainingState last = start;
        foreach (var stretch in Training.FitEvery(10, fit, data, start))
        {
            reports += stretch.Reports.Length;
            seen.Add(stretch.State.Epoch);
            last = stretch.State;
        }
        Assert.Equal(25, reports);
        Assert.Equal([10, 20, 25], seen);
        var trained = Training.Train(fit, data, start);
        Assert.Equal(trained.Parameters.Kernel.ToColumnMajorArray(), last.Parameters.Kernel.ToColumnMajorArray());
        Assert.Equal(trained.Rng, last.Rng);
    }

    [Fact]
    public void A_CSharp_caller_runs_one_step_and_backward_through_the_cache()
    {
        var p = Parameters.Init(2, 3, 4, Rng.Create(7)).Value;
        double[] x = [0.1, 0.2];
        var input = Matrix<double>.Build.DenseOfRowArrays(x);
        var step = Lstm.Step(p, LstmState.Zeros(1, 3), input);

        // From h = c = 0 the step is z = x·W + b; c' = σ(z_i) ⊙ tanh(z_c); h' = σ(z_o) ⊙ tanh(c').
        static double Sigma(double z) => 1.0 / (1.0 + Math.Exp(-z));
        for (var k = 0; k < 3; k++)
        {
            double Z(int block) => x[0] * p.Kernel[0, block * 3 + k] + x[1] * p.Kernel[1, block * 3 + k] + p.Bias[block * 3 + k];
            var c = Sigma(Z(0)) * Math.Tanh(Z(2));
            Assert.Equal(c, step.Next.C[0, k], 1e-14);
            Assert.Equal(Sigma(Z(3)) * Math.Tanh(c), step.Next.H[0, k], 1e-14);
        }

        // Backward from d loss / d h' = 1 (loss = Σ h'): each kernel gradient is the loss's slope along that weight.
        var grads = Lstm.Backward(p, step.Cache, new LstmState(Matrix<double>.Build.Dense(1, 3, 1.0), Matrix<double>.Build.Dense(1, 3)));
        double Loss(Matrix<double> kernel) =>
            Lstm.Step(Parameters.Create(kernel, p.RecurrentKernel, p.Bias, p.DenseKernel, p.DenseBias), LstmState.Zeros(1, 3), input).Next.H.RowSums()[0];
        const double eps = 1e-6;
        for (var r = 0; r < 2; r++)
            for (var j = 0; j < 12; j++)
            {
                var up = p.Kernel.Clone(); up[r, j] += eps;
                var down = p.Kernel.Clone(); down[r, j] -= eps;
                Assert.Equal((Loss(up) - Loss(down)) / (2 * eps), grads.Parameters.Kernel[r, j], 1e-8);
            }
    }

    /// <summary>
    /// What the README's melody program printed when it was a README block: windows of a sequence that is
    /// not the alphabet, Keras' fit defaults followed epoch by epoch, an evaluation, and a bad file read
    /// as one line. The same calls and the same numbers, run here.
    /// </summary>
    [Fact]
    public void Windows_of_a_melody_train_with_fits_defaults_and_evaluate_to_the_numbers_the_README_showed()
    {
        var o = new StringWriter();
        var melody = "C C G G A A G F F E E D D C G G F F E E D G G F F E E D C C G G A A G F F E E D D C".Split(' ');
        var vocabulary = Vocabulary.Create(["C", "D", "E", "F", "G", "A"]);
        var data = Datasets.Windows(vocabulary, SymbolEncoding.OneHot, Layout.TimeSteps, 3, melody);
        o.WriteLine($"{data.Count} windows of {data.TimeSteps} steps × {data.Features} features");
        var config = FitConfig.Create(epochs: 300, batchSize: 8);
        var init = Parameters.Init(data.Features, 32, vocabulary.Count, Rng.Create(1));
        var state = Training.Start(config, init.Value, init.Next);
        foreach (var epoch in Training.Fit(config, data, state))
        {
            if (epoch.Report.Epoch % 100 == 0)
                o.WriteLine($"epoch {epoch.Report.Epoch}: loss {epoch.Report.Loss:F3}");
            state = epoch.State;
        }
        var evaluation = Training.Evaluate(state.Parameters, data);
        o.WriteLine($"accuracy {evaluation.Accuracy:P1}");
        for (var n = 0; n < 5; n++)
            o.WriteLine($"{data.Patterns[n]} -> {vocabulary[evaluation.Predicted[n]]} (expected {data.Expected[n]})");
        if (!SavedModel.TryParse("{ \"format\": \"alphabet-lstm-model\", \"version\": 9 }", out _, out var error))
            o.WriteLine(error);
        Assert.Equal("""
            39 windows of 3 steps × 6 features
            epoch 100: loss 0.313
            epoch 200: loss 0.201
            epoch 300: loss 0.180
            accuracy 92.3 %
            CCG -> G (expected G)
            CGG -> A (expected A)
            GGA -> A (expected A)
            GAA -> G (expected G)
            AAG -> F (expected F)
            version: expected 1 to 4, found 9: the file is from a newer alphabet-lstm
            """, o.ToString().ReplaceLineEndings("\n").TrimEnd());
    }
}
