using AlphabetLstm.Core;

namespace AlphabetLstm.Cli.Tests;

/// <summary>A text run as a C# user writes it (the README's C# text example): no F#-only type in sight.</summary>
public class TextFromCSharpTests
{
    [Fact]
    public void A_CSharp_caller_trains_streams_with_a_target_at_every_character_reads_the_held_out_loss_and_generates()
    {
        var text = string.Concat(Enumerable.Range(0, 80).Select(k => $"{k} green bottles hanging on the wall.\n"));
        var indexed = IndexedTexts.OfString(text);
        var run = TextRun.Create(indexed.Vocabulary, window: 20, batchSize: 8, stateful: true);
        Assert.Equal(Targets.Every, run.Targets);
        Assert.Equal(0.1, run.Validation);
        var prepared = TextRuns.Prepare(run, indexed, seed: 1, units: 32, layers: 1, epochs: 8, learningRate: 0.01);
        var heldOut = new List<double>();
        var batches = 0;
        var state = prepared.Start;
        foreach (var epoch in TextTraining.Fit(prepared, b => batches++))
        {
            heldOut.Add(epoch.ValidationBitsPerCharacter);
            state = epoch.State;
        }
        Assert.Equal(8 * prepared.StepsPerEpoch, batches);
        Assert.True(heldOut[^1] < heldOut[0] / 4, $"the held-out loss went from {heldOut[0]} to {heldOut[^1]} bits/char");
        var model = new SavedModel(indexed.Vocabulary, prepared.Input, state.Parameters, Precision.Float64);
        var generated = string.Concat(TextRuns.Generate(model, Vocabulary.Split("41 green"), 40, temperature: 0, Rng.Create(1)));
        Assert.StartsWith(" bottles hanging on the wall.\n", generated);
    }
}
