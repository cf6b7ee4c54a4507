using AlphabetLstm.Core;
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
        var trained = Training.Train(fit, data, Training.Start(fit, init.Value, init.Next), betweenEpochs: Training.Reset);

        // The state is a value: pass zeros to reset, pass the returned state to carry on.
        var model = new SavedModel(Vocabulary.Alphabet, ModelFile.InputOf(Experiments.Find("stateful")), trained.Parameters);
        var state = model.ZeroState();
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
        var x = Matrix<double>.Build.DenseOfArray(new[,] { { 0.1, 0.2 } });
        var step = Lstm.Step(p, LstmState.Zeros(1, 3), x);
        var grads = Lstm.Backward(p, step.Cache, new LstmState(Matrix<double>.Build.Dense(1, 3, 1.0), Matrix<double>.Build.Dense(1, 3)));
        Assert.Equal(3, step.Next.Units);
        Assert.Equal(p.Kernel.RowCount, grads.Parameters.Kernel.RowCount);
        Assert.NotEqual(0.0, grads.Parameters.Kernel.L2Norm());
    }
}
