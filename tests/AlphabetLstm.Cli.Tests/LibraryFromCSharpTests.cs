using AlphabetLstm.Core;

namespace AlphabetLstm.Cli.Tests;

/// <summary>
/// What a C# user of the library reaches for, on their own data: a model built from what they have
/// with every shape checked at once, training continued from a checkpoint (Adam's moments and the
/// generator included) exactly as an unbroken run, and results as plain arrays.
/// </summary>
public class LibraryFromCSharpTests
{
    private static readonly string[] Days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

    private static Dataset Week()
    {
        var vocabulary = Vocabulary.Create(Days);
        var sequence = Enumerable.Repeat(Days, 3).SelectMany(d => d).ToArray();
        return Datasets.Windows(vocabulary, SymbolEncoding.OneHot, Layout.TimeSteps, 2, sequence);
    }

    private static double[] Flat(Parameters p) => p.Blocks().SelectMany(b => b.Values).ToArray();

    [Fact]
    public void SavedModel_Create_takes_the_shapes_from_the_data_and_refuses_weights_that_do_not_fit_naming_the_field()
    {
        var data = Week();
        var fits = Parameters.Init(data.Features, 4, data.Vocabulary.Count, Rng.Create(1)).Value;
        var model = SavedModel.Create(data, fits, SymbolEncoding.OneHot);
        Assert.Equal(2, model.Input.TimeSteps);
        Assert.Equal(7, model.Input.Features);
        Assert.Equal(2, model.WindowLength);

        // Weights for one feature per step (the index encoding) against one-hot data: refused now, not in PredictNext.
        var narrow = Parameters.Init(1, 4, data.Vocabulary.Count, Rng.Create(1)).Value;
        var e = Assert.Throws<ArgumentException>(() => SavedModel.Create(data, narrow, SymbolEncoding.OneHot));
        Assert.StartsWith("input.features: expected 1 (the rows of lstm.kernel), found 7", e.Message);
        // Six classes for a vocabulary of seven symbols.
        var fewer = Parameters.Init(data.Features, 4, 6, Rng.Create(1)).Value;
        e = Assert.Throws<ArgumentException>(() => SavedModel.Create(data.Vocabulary, model.Input, fewer));
        Assert.StartsWith("dense.units: expected 7 (one class per symbol of the vocabulary), found 6", e.Message);
        // One-hot features that are no whole number of symbols.
        var odd = Parameters.Init(8, 4, 7, Rng.Create(1)).Value;
        e = Assert.Throws<ArgumentException>(() => SavedModel.Create(data.Vocabulary, InputSpec.Create(1, 8, SymbolEncoding.OneHot), odd));
        Assert.StartsWith("input.features: expected a multiple of 7", e.Message);
    }

    [Fact]
    public void Training_continued_from_a_checkpoint_written_and_read_back_gives_the_unbroken_runs_weights_bit_for_bit()
    {
        var data = Week();
        var init = Parameters.Init(data.Features, 5, data.Vocabulary.Count, Rng.Create(11));
        var config = FitConfig.Create(epochs: 3, batchSize: 4, shuffle: true);
        var start = Training.Start(config, init.Value, init.Next);

        var unbroken = Training.Continue(config, data, start, epochs: 5);
        Assert.Equal(5, unbroken.Epoch);

        var first = Training.Train(config, data, start);
        var text = TrainingCheckpoint.Create(SavedModel.Create(data, first.Parameters, SymbolEncoding.OneHot), first).Serialize();
        var resumed = TrainingCheckpoint.Parse(text);
        Assert.Equal(Days, resumed.Vocabulary.Symbols);
        Assert.Equal(3, resumed.State.Epoch);
        Assert.Equal(first.Optimizer.Step, resumed.State.Optimizer.Step);
        var continued = Training.Continue(config, data, resumed.State, epochs: 2);

        Assert.Equal(5, continued.Epoch);
        Assert.Equal(Flat(unbroken.Parameters), Flat(continued.Parameters));
        Assert.Equal(Flat(unbroken.Optimizer.M), Flat(continued.Optimizer.M));
        Assert.Equal(unbroken.Rng, continued.Rng);
        // Train with the same config on a state at its total trains nothing; Continue is "more epochs".
        Assert.Equal(3, Training.Train(config, data, first).Epoch);
        Assert.Throws<ArgumentException>(() => Training.Continue(config, data, first, epochs: 0));
    }

    [Fact]
    public void A_training_checkpoint_edited_by_hand_or_built_from_mismatched_moments_is_refused_with_one_line()
    {
        var data = Week();
        var init = Parameters.Init(data.Features, 3, data.Vocabulary.Count, Rng.Create(2));
        var config = FitConfig.Create(epochs: 1, batchSize: 7);
        var state = Training.Train(config, data, Training.Start(config, init.Value, init.Next));
        var model = SavedModel.Create(data, state.Parameters, SymbolEncoding.OneHot);
        var text = TrainingCheckpoint.Create(model, state).Serialize();

        var edited = text.Replace("\"epoch\": 1,", "\"epoch\": 0,");
        Assert.NotEqual(text, edited);
        Assert.False(TrainingCheckpoint.TryParse(edited, out _, out var error));
        Assert.StartsWith("sha256: the checkpoint's content does not match its checksum", error);
        Assert.DoesNotContain('\n', error);

        var otherShape = Parameters.Init(data.Features, 4, data.Vocabulary.Count, Rng.Create(2)).Value;
        var moments = new AdamState(state.Optimizer.Step, otherShape.ZerosLike(), otherShape.ZerosLike());
        var bad = new TrainingState(state.Parameters, moments, state.Rng, state.Epoch, state.Carried);
        var e = Assert.Throws<ArgumentException>(() => TrainingCheckpoint.Create(model, bad));
        Assert.StartsWith("state.Optimizer.M: expected the weights' shape (I 7, H 3, V 7), found (I 7, H 4, V 7)", e.Message);
    }

    [Fact]
    public void States_and_probabilities_come_out_as_plain_arrays_and_a_state_goes_back_in_from_them()
    {
        var data = Week();
        var p = Parameters.Init(data.Features, 3, data.Vocabulary.Count, Rng.Create(5)).Value;
        var model = SavedModel.Create(data, p, SymbolEncoding.OneHot);
        var first = model.PredictNext(LstmState.Zeros(1, model.Parameters.Units), ["Mon", "Tue"]);
        double[][] h = first.Final.HiddenRows, c = first.Final.CellRows;
        Assert.Equal(3, h[0].Length);
        Assert.Equal(first.Final.H[0, 2], h[0][2]);

        var again = model.PredictNext(LstmState.FromRows(h, c), ["Wed", "Thu"]);
        var carried = model.PredictNext(first.Final, ["Wed", "Thu"]);
        Assert.Equal(carried.Probabilities, again.Probabilities);

        var e = Assert.Throws<ArgumentException>(() => LstmState.FromRows(h, [[1.0]]));
        Assert.Contains("cell", e.Message);
        var evaluation = Training.Evaluate(p, data);
        Assert.Equal(data.Count, evaluation.ProbabilityRows.Length);
        Assert.Equal(evaluation.Probabilities[1, 3], evaluation.ProbabilityRows[1][3]);
    }
}
