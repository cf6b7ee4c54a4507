using System.Text.Json;
using System.Text.Json.Nodes;
using AlphabetLstm.Core;
using AlphabetLstm.Tutorial;

namespace AlphabetLstm.Cli.Tests;

/// <summary><c>train --text --layers N</c> end to end: the model file, the checkpoint, <c>predict</c>'s per-layer state, <c>generate</c>, and the refusals.</summary>
public class StackCliTests
{
    private static string Repeat(string s, int n) => string.Concat(Enumerable.Repeat(s, n));

    private static TempFolder TrainTwoLayers(out CliResult training)
    {
        var dir = new TempFolder();
        File.WriteAllText(dir["t.txt"], Repeat("one two three four five six seven. ", 8));
        training = CliProcess.Run(dir.Path, "train", "--text", "t.txt", "--stateful", "--layers", "2", "--units", "6", "--batch-size", "4",
                                  "--window", "5", "--epochs", "2", "--save", "m.json", "--checkpoint", "ck", "--quiet",
                                  // float64: the overflow cases below write numbers only a float64 file holds.
                                  "--precision", "float64");
        return dir;
    }

    [Fact]
    public void A_two_layer_stream_model_is_saved_as_version_3_with_its_upper_layer_and_checkpointed_with_both_layers_state()
    {
        using var dir = TrainTwoLayers(out var t);
        Assert.True(t.ExitCode == 0, t.Stderr);
        Assert.Contains("2 × LSTM(6) + Dense(", t.Stdout);
        using (var doc = JsonDocument.Parse(File.ReadAllText(dir["m.json"])))
        {
            Assert.Equal(3, doc.RootElement.GetProperty("version").GetInt32());
            var lstm = doc.RootElement.GetProperty("lstm");
            Assert.Equal(2, lstm.GetProperty("layers").GetInt32());
            var upper = lstm.GetProperty("upper").EnumerateArray().Single();
            Assert.Equal(6, upper.GetProperty("kernel").GetArrayLength());
            Assert.Equal(24, upper.GetProperty("kernel")[0].GetArrayLength());
        }
        var model = SavedModel.Parse(File.ReadAllText(dir["m.json"]));
        Assert.Equal(2, model.Parameters.Layers);
        var checkpoint = File.ReadAllText(Path.Combine(dir["ck"], "checkpoint.json"));
        Assert.Contains("\"units\": 6, \"layers\": 2,", checkpoint);
        var c = Checkpoint.Parse(checkpoint);
        Assert.Equal(2, c.Run.Layers);
        Assert.Equal(12, c.State.Carried.Units);
        Assert.Equal(2, c.State.Optimizer.M.Layers);
        var again = CliProcess.Run(dir.Path, "resume", "ck", "--quiet");
        Assert.True(again.ExitCode == 0, again.Stderr);
    }

    [Fact]
    public void Predict_prints_one_state_per_layer_and_reads_it_back_as_the_state_to_carry_on_from()
    {
        using var dir = TrainTwoLayers(out var t);
        Assert.True(t.ExitCode == 0, t.Stderr);
        var model = SavedModel.Parse(File.ReadAllText(dir["m.json"]));
        string Inputs(string symbols) =>
            JsonSerializer.Serialize(new[] { model.Encode(model.Vocabulary.SplitText(symbols)).Inputs.Select(step => step.Row(0).ToArray()).ToArray() });
        File.WriteAllText(dir["a.json"], Inputs("one t"));
        File.WriteAllText(dir["b.json"], Inputs("wo th"));
        var first = CliProcess.Run(dir.Path, "predict", "--model", "m.json", "--inputs", "a.json", "--json", "s.json");
        Assert.True(first.ExitCode == 0, first.Stderr);
        using (var doc = JsonDocument.Parse(File.ReadAllText(dir["s.json"])))
        {
            var layers = doc.RootElement.GetProperty("state").GetProperty("layers");
            Assert.Equal(2, layers.GetArrayLength());
            Assert.Equal(6, layers[1].GetProperty("c")[0].GetArrayLength());
            File.WriteAllText(dir["state.json"], doc.RootElement.GetProperty("state").GetRawText());
        }
        var second = CliProcess.Run(dir.Path, "predict", "--model", "m.json", "--inputs", "b.json", "--state", "state.json", "--json", "p.json");
        Assert.True(second.ExitCode == 0, second.Stderr);
        // The same ten symbols read in one go from zeros, by the library.
        var whole = Model.Predict(model.Parameters, LstmState.Zeros(1, 6, 2), model.Encode(model.Vocabulary.SplitText("one two th")).Inputs, Masking.Unmasked);
        using var p = JsonDocument.Parse(File.ReadAllText(dir["p.json"]));
        var probabilities = p.RootElement.GetProperty("probabilities")[0].EnumerateArray().Select(e => e.GetDouble()).ToArray();
        Assert.Equal(whole.ProbabilityRows[0], probabilities);

        var oneLayerState = CliProcess.Run(dir.Path, "predict", "--model", "m.json", "--inputs", "b.json", "--state", "s.json");
        CliProcess.AssertCleanError(oneLayerState, 1, "--state 's.json': state.layers: missing");
    }

    [Fact]
    public void Generate_continues_a_text_with_a_two_layer_model()
    {
        using var dir = TrainTwoLayers(out var t);
        Assert.True(t.ExitCode == 0, t.Stderr);
        var g = CliProcess.Run(dir.Path, "generate", "--model", "m.json", "--start", "one ", "--steps", "30", "--temperature", "0.5");
        Assert.True(g.ExitCode == 0, g.Stderr);
        // The start, then 30 generated characters and the end of the line.
        Assert.StartsWith("one ", g.Stdout);
        Assert.Equal("one ".Length + 30 + 1, g.Stdout.Length);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("0.5")]
    public void Generate_refuses_a_model_whose_numbers_overflow_to_NaN_with_nothing_printed(string temperature)
    {
        using var dir = TrainTwoLayers(out var t);
        Assert.True(t.ExitCode == 0, t.Stderr);
        // Every weight of the upper layer and the head at 1e308: finite in the file, NaN once summed.
        var root = (JsonObject)JsonNode.Parse(File.ReadAllText(dir["m.json"]))!;
        static void Fill(JsonNode? node)
        {
            if (node is not JsonArray a) return;
            for (var k = 0; k < a.Count; k++)
                if (a[k] is JsonArray) Fill(a[k]); else a[k] = 1e308;
        }
        var upper = root["lstm"]!["upper"]![0]!;
        Fill(upper["kernel"]); Fill(upper["recurrentKernel"]); Fill(upper["bias"]);
        Fill(root["dense"]!["kernel"]);
        File.WriteAllText(dir["big.json"], root.ToJsonString());
        var g = CliProcess.Run(dir.Path, "generate", "--model", "big.json", "--start", "one ", "--steps", "5", "--temperature", temperature);
        CliProcess.AssertCleanError(g, 1, "--model 'big.json': the probabilities for generated symbol 1 became NaN (the model's numbers overflowed");
        Assert.Equal("", g.Stdout);
    }

    [Theory]
    [InlineData("upper", "lstm.upper[0].kernel[1][2] is 1E+300")]
    [InlineData("dense", "dense.bias[3] is -1E+39")]
    public void Export_refuses_a_weight_beyond_float32_naming_it_and_writes_no_file(string where, string expected)
    {
        using var dir = TrainTwoLayers(out var t);
        Assert.True(t.ExitCode == 0, t.Stderr);
        var root = (JsonObject)JsonNode.Parse(File.ReadAllText(dir["m.json"]))!;
        if (where == "upper") root["lstm"]!["upper"]![0]!["kernel"]![1]![2] = 1e300;
        else root["dense"]!["bias"]![3] = -1e39;
        File.WriteAllText(dir["wide.json"], root.ToJsonString());
        var r = CliProcess.Run(dir.Path, "export", "--model", "wide.json", "--onnx", "m.onnx");
        CliProcess.AssertCleanError(r, 1, $"--model 'wide.json': {expected}, beyond float32's range");
        Assert.False(File.Exists(dir["m.onnx"]));
    }

    [Theory]
    [InlineData("--layers 0", 2, "--layers expects a whole number from 1 to 64, got '0'")]
    [InlineData("--layers 65", 2, "--layers expects a whole number from 1 to 64, got '65'")]
    [InlineData("--layers 40 --units 3000", 1, "training on --text 't.txt' (280 characters, 15 distinct, 40 layers of 3000 units, 15 features, batch 32, window 10) would need about")]
    public void A_bad_layer_count_is_refused_in_one_line_and_nothing_is_written(string args, int exitCode, string expected)
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["t.txt"], Repeat("one two three four five six seven. ", 8));
        var before = dir.Files();
        var r = CliProcess.Run(dir.Path, ["train", "--text", "t.txt", .. args.Split(' '), "--save", "m.json"]);
        CliProcess.AssertCleanError(r, exitCode, expected);
        Assert.Equal(before, dir.Files());
    }

    [Fact]
    public void Layers_go_with_a_text_run_only()
    {
        using var dir = new TempFolder();
        var r = CliProcess.Run(dir.Path, "train", "stateful", "--layers", "2", "--save", "m.json");
        CliProcess.AssertCleanError(r, 2, "--layers goes with --text FILE, not with an experiment id");
    }

    [Theory]
    [InlineData("--validation", "1e-400", "--validation expects a fraction in [0, 0.5], got '1e-400' (too small for a 64-bit float: it would read as 0)")]
    [InlineData("--validation", "0.5000001", "--validation expects a fraction in [0, 0.5], got '0.5000001'")]
    [InlineData("--validation", "NaN", "--validation expects a fraction in [0, 0.5], got 'NaN'")]
    [InlineData("--learning-rate", "-1e-999", "--learning-rate expects a positive number, got '-1e-999' (too small for a 64-bit float: it would read as 0)")]
    public void A_number_that_reads_as_0_only_by_underflowing_is_refused_not_taken_as_off(string option, string value, string expected)
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["t.txt"], Repeat("one two three. ", 8));
        var r = CliProcess.Run(dir.Path, "train", "--text", "t.txt", "--layers", "2", "--units", "2", "--window", "3", "--epochs", "1",
                               option, value, "--save", "m.json", "--quiet");
        CliProcess.AssertCleanError(r, 2, expected);
        Assert.False(File.Exists(dir["m.json"]));
    }
}
