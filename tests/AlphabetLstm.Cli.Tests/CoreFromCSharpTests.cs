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
        var fit = new FitConfig(300, 1, false, StatePolicy.NewStateful(ResetPoint.EveryEpoch), false, AdamConfig.Keras, 1);
        var trained = Training.Train(fit, data, Training.Start(init.Value, init.Next));

        // The state is a value: pass zeros to reset, pass the returned state to carry on.
        var state = LstmState.Zeros(1, 50);
        var letter = 'A';
        var text = "A";
        for (var k = 0; k < 25; k++)
        {
            var prediction = Model.Predict(trained.Parameters, state, Datasets.EncodeWindow(Layout.Features, letter.ToString()), Masking.Unmasked);
            state = prediction.Final;
            letter = Alphabet.Letter(prediction.Probabilities.Row(0).MaximumIndex());
            text += letter;
        }
        Assert.Equal(Alphabet.Letters, text);
    }

    [Fact]
    public void A_CSharp_caller_follows_training_every_ten_epochs_and_ends_where_Train_ends()
    {
        var data = Datasets.Window(1, Layout.Features);
        var init = Parameters.Init(1, 8, 26, Rng.Create(3));
        var fit = new FitConfig(25, 5, true, StatePolicy.Stateless, false, AdamConfig.Keras, 1);
        var start = Training.Start(init.Value, init.Next);

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
