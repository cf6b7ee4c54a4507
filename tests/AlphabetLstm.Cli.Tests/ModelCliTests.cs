using System.Text.Json;
using System.Text.Json.Nodes;
using AlphabetLstm.Core;
using AlphabetLstm.Tutorial;
using MathNet.Numerics.LinearAlgebra;

namespace AlphabetLstm.Cli.Tests;

/// <summary>One small stateful model, trained once by the real CLI, shared by the tests that read it.</summary>
public sealed class TrainedModel : IDisposable
{
    public TempFolder Folder { get; } = new();
    public string Path => Folder["stateful.json"];
    public string Text { get; }

    public TrainedModel()
    {
        var r = CliProcess.Run(Folder.Path, "train", "stateful", "--epochs", "40", "--save", "stateful.json", "--quiet");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Text = File.ReadAllText(Path);
    }

    public void Dispose() => Folder.Dispose();
}

/// <summary><c>train</c>, <c>predict</c>, <c>generate</c> and <c>resume</c> end to end, as a user runs them.</summary>
public class ModelCliTests(TrainedModel trained) : IClassFixture<TrainedModel>
{
    private static string ReferenceFile(string name) =>
        Path.Combine(Repo.Root, "tests", "AlphabetLstm.Core.Tests", "Reference", name);

    private static double[][] Rows(JsonElement e) =>
        e.EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetDouble()).ToArray()).ToArray();

    [Fact]
    public void Train_writes_a_versioned_model_file_in_the_Keras_layout()
    {
        using var doc = JsonDocument.Parse(trained.Text);
        var root = doc.RootElement;
        Assert.Equal("alphabet-lstm-model", root.GetProperty("format").GetString());
        Assert.Equal(2, root.GetProperty("version").GetInt32());
        Assert.Equal(Alphabet.Letters.Select(c => c.ToString()), root.GetProperty("vocabulary").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal("index", root.GetProperty("input").GetProperty("encoding").GetString());
        var lstm = root.GetProperty("lstm");
        Assert.Equal(50, lstm.GetProperty("units").GetInt32());
        Assert.Equal(1, lstm.GetProperty("kernel").GetArrayLength());
        Assert.Equal(200, lstm.GetProperty("kernel")[0].GetArrayLength());
        Assert.Equal(50, lstm.GetProperty("recurrentKernel").GetArrayLength());
        Assert.Equal(200, lstm.GetProperty("bias").GetArrayLength());
        Assert.Equal(26, root.GetProperty("dense").GetProperty("kernel")[0].GetArrayLength());
    }

    [Fact]
    public void Predict_a_sequence_prints_the_next_letter_and_the_top_three_probabilities()
    {
        var r = CliProcess.Run(trained.Folder.Path, "predict", "--model", trained.Path, "--sequence", "A");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        Assert.Matches(@"^A -> [A-Z]$", lines[0]);
        var probabilities = lines.Skip(1).Select(l => double.Parse(l.Trim()[1..], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(probabilities.OrderByDescending(p => p), probabilities);
        Assert.Equal(lines[0][^1], lines[1].Trim()[0]);
    }

    [Fact]
    public void Generate_feeds_predictions_back_and_warmup_runs_the_letters_before_the_start()
    {
        var cold = CliProcess.Run(trained.Folder.Path, "generate", "--model", trained.Path, "--start", "K", "--steps", "4");
        var warm = CliProcess.Run(trained.Folder.Path, "generate", "--model", trained.Path, "--start", "K", "--steps", "4", "--warmup");
        Assert.True(cold.ExitCode == 0, cold.Stderr);
        Assert.True(warm.ExitCode == 0, warm.Stderr);
        // What the core generates from each starting state: zeros, and the state A..J leave behind.
        var m = SavedModel.Parse(trained.Text);
        var zeros = LstmState.Zeros(1, m.Parameters.Units);
        var warmed = Experiments.WarmUp(m.Parameters, zeros, "ABCDEFGHIJ", m.Precision);
        string Letters(LstmState from) => string.Join(" -> ", Experiments.Generate(m.Parameters, from, 'K', 4).Inputs.ToCharArray());
        Assert.Equal($"from the zero state: {Letters(zeros)}", cold.Stdout.Trim());
        Assert.Equal($"after warming the state on ABCDEFGHIJ: {Letters(warmed)}", warm.Stdout.Trim());
        // The two starts do lead to different letters, so a warm-up that did nothing would show.
        Assert.NotEqual(Letters(zeros), Letters(warmed));
    }

    [Fact]
    public void Predict_on_raw_inputs_chains_the_state_across_calls_like_one_stateful_run()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["x1.json"], "[[[0.0]], [[0.5]]]");
        File.WriteAllText(dir["x2.json"], "[[[0.0384615384615384615]], [[0.2]]]");
        var first = CliProcess.Run(dir.Path, "predict", "--model", trained.Path, "--inputs", "x1.json", "--json", "p1.json");
        Assert.True(first.ExitCode == 0, first.Stderr);
        using (var p1 = JsonDocument.Parse(File.ReadAllText(dir["p1.json"])))
            File.WriteAllText(dir["s1.json"], p1.RootElement.GetProperty("state").GetRawText());
        var second = CliProcess.Run(dir.Path, "predict", "--model", trained.Path, "--inputs", "x2.json", "--state", "s1.json");
        Assert.True(second.ExitCode == 0, second.Stderr);
        using var p2 = JsonDocument.Parse(second.Stdout);

        // The same two steps in this process, carrying the state as a value.
        var model = ModelCommands.LoadModel(trained.Path);
        Matrix<double> Col(double a, double b) => Matrix<double>.Build.DenseOfArray(new[,] { { a }, { b } });
        var s1 = Model.Predict(model.Parameters, LstmState.Zeros(2, 50), [Col(0.0, 0.5)], Masking.Unmasked).Final;
        var expected = Model.Predict(model.Parameters, s1, [Col(0.0384615384615384615, 0.2)], Masking.Unmasked);
        var probabilities = Rows(p2.RootElement.GetProperty("probabilities"));
        var h = Rows(p2.RootElement.GetProperty("state").GetProperty("h"));
        Assert.Equal(2, probabilities.Length);
        for (var b = 0; b < 2; b++)
        {
            Assert.Equal(expected.Probabilities.Row(b).ToArray(), probabilities[b]);
            Assert.Equal(expected.Final.H.Row(b).ToArray(), h[b]);
        }
    }

    [Fact]
    public void A_model_exported_from_PyTorch_predicts_PyTorch_numbers_through_the_CLI()
    {
        using var dir = new TempFolder();
        var r = CliProcess.Run(dir.Path, "predict", "--model", ReferenceFile("torch_model.json"),
            "--inputs", ReferenceFile("torch_inputs.json"), "--state", ReferenceFile("torch_state.json"), "--json", "out.json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var ours = JsonDocument.Parse(File.ReadAllText(dir["out.json"]));
        using var torch = JsonDocument.Parse(File.ReadAllText(ReferenceFile("torch_expected.json")));
        void Near(JsonElement expected, JsonElement actual)
        {
            var e = Rows(expected);
            var a = Rows(actual);
            Assert.Equal(e.Length, a.Length);
            for (var b = 0; b < e.Length; b++)
                for (var k = 0; k < e[b].Length; k++)
                    Assert.True(Math.Abs(e[b][k] - a[b][k]) <= 1e-12, $"[{b}][{k}]: PyTorch {e[b][k]:R}, ours {a[b][k]:R}");
        }
        Near(torch.RootElement.GetProperty("probabilities"), ours.RootElement.GetProperty("probabilities"));
        Near(torch.RootElement.GetProperty("h"), ours.RootElement.GetProperty("state").GetProperty("h"));
        Near(torch.RootElement.GetProperty("c"), ours.RootElement.GetProperty("state").GetProperty("c"));
    }

    // ---- bad input: one line, the right exit code, nothing written ----------------------------

    /// <summary>A bad file for --model, made from the trained model's text, and the words its error must hold.</summary>
    public static TheoryData<string, string> BadModels => new()
    {
        { "missing", "no such file" },
        { "empty", "the file is empty" },
        { "truncated", "not valid JSON" },
        { "not-json", "not valid JSON at line 1, column 1" },
        { "checkpoint-format", "format: expected \"alphabet-lstm-model\", found the string \"alphabet-lstm-checkpoint\"" },
        { "future-version", "version: expected 1 to 4, found 5: the file is from a newer alphabet-lstm" },
        { "wrong-shape", "lstm.recurrentKernel: expected 50 rows (H × 4H with H = 50), found 49" },
        { "nan", "found NaN, but every number must be finite" },
        { "infinite", "lstm.bias[0]: expected a finite number, found 1e999, too large for a 64-bit float" },
        { "string-weight", "dense.bias[0]: expected a number, found the string \"0.1\"" },
        { "folder", "is a folder, expected a file" },
    };

    private static void MakeBadModel(string kind, string good, TempFolder dir)
    {
        var path = dir["bad.json"];
        JsonObject Node() => JsonNode.Parse(good)!.AsObject();
        switch (kind)
        {
            case "missing": break;
            case "empty": File.WriteAllText(path, ""); break;
            case "truncated": File.WriteAllText(path, good[..(good.Length / 3)]); break;
            case "not-json": File.WriteAllText(path, "PK\u0003\u0004 this is a zip, not a model"); break;
            case "checkpoint-format": File.WriteAllText(path, good.Replace("\"alphabet-lstm-model\"", "\"alphabet-lstm-checkpoint\"")); break;
            case "future-version": File.WriteAllText(path, good.Replace("\"version\": 2", "\"version\": 5")); break;
            case "wrong-shape":
                var n = Node();
                n["lstm"]!["recurrentKernel"]!.AsArray().RemoveAt(49);
                File.WriteAllText(path, n.ToJsonString());
                break;
            case "nan": File.WriteAllText(path, ReplaceFirstBias(good, "NaN")); break;
            case "infinite": File.WriteAllText(path, ReplaceFirstBias(good, "1e999")); break;
            case "string-weight":
                var s = Node();
                s["dense"]!["bias"]![0] = "0.1";
                File.WriteAllText(path, s.ToJsonString());
                break;
            case "folder": Directory.CreateDirectory(path); break;
        }
    }

    private static string ReplaceFirstBias(string text, string value)
    {
        var at = text.IndexOf("\"bias\": [", StringComparison.Ordinal) + "\"bias\": [".Length;
        var end = text.IndexOf(',', at);
        return text[..at] + value + text[end..];
    }

    [Theory]
    [MemberData(nameof(BadModels))]
    public void A_bad_model_file_is_one_clean_error_and_no_output_file_is_written_or_overwritten(string kind, string expected)
    {
        using var dir = new TempFolder();
        MakeBadModel(kind, trained.Text, dir);
        File.WriteAllText(dir["out.json"], "keep me");
        var before = dir.Files();
        File.WriteAllText(dir["x.json"], "[[[0.0]]]");
        var r = CliProcess.Run(dir.Path, "predict", "--model", "bad.json", "--inputs", "x.json", "--json", "out.json");
        CliProcess.AssertCleanError(r, 1, "--model 'bad.json'", expected);
        Assert.Equal("keep me", File.ReadAllText(dir["out.json"]));
        Assert.Equal(before.Append("x.json").Order(StringComparer.Ordinal), dir.Files());

        var g = CliProcess.Run(dir.Path, "generate", "--model", "bad.json", "--start", "A", "--steps", "3");
        CliProcess.AssertCleanError(g, 1, expected);
    }

    /// <summary>Bad letters, windows, inputs and states for a good model, and the words each error must hold.</summary>
    public static TheoryData<string[], string, string> BadRequests => new()
    {
        { ["predict", "--sequence", "a"], "", "--sequence: \"a\" (position 1 of \"a\") is not a letter of the alphabet A..Z" },
        { ["predict", "--sequence", "A1"], "", "\"1\" (position 2 of \"A1\") is not a letter" },
        { ["predict", "--sequence", "ABC"], "", "--sequence: the model reads windows of 1 symbols (1 time steps × 1 per step), found 3 in \"ABC\"" },
        { ["predict", "--inputs", "x.json"], "[[[0.1, 0.2]]]", "--inputs 'x.json': inputs[0][0]: expected 1 features (the model's input.features), found 2" },
        { ["predict", "--inputs", "x.json"], "[[[0.1]], [[0.1], [0.2]]]", "inputs[1]: expected 1 time steps (the model's input.timeSteps), found 2" },
        { ["predict", "--inputs", "x.json"], "[[[\"A\"]]]", "inputs[0][0][0]: expected a number, found the string \"A\"" },
        { ["predict", "--inputs", "x.json"], "{\"inputs\": []}", "inputs: expected an array [batch][time step][feature], found an object" },
        { ["predict", "--inputs", "x.json", "--state", "s.json"], "[[[0.1]]]", "--state 's.json': state.h: expected 1 rows (batch 1 × units 50, to match the inputs and the model), found 2" },
        { ["predict", "--inputs", "x.json", "--state", "missing.json"], "[[[0.1]]]", "--state 'missing.json': no such file" },
        { ["predict", "--inputs", "missing.json"], "", "--inputs 'missing.json': no such file" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public void A_bad_request_for_a_good_model_is_one_clean_error_naming_the_problem(string[] args, string inputs, string expected)
    {
        using var dir = new TempFolder();
        if (inputs.Length > 0) File.WriteAllText(dir["x.json"], inputs);
        File.WriteAllText(dir["s.json"], "{\"h\": [[" + string.Join(",", Enumerable.Repeat("0", 50)) + "], [" + string.Join(",", Enumerable.Repeat("0", 50)) + "]], \"c\": []}");
        var before = dir.Files();
        var r = CliProcess.Run(dir.Path, [.. args, "--model", trained.Path, "--json", "out.json"]);
        CliProcess.AssertCleanError(r, 1, expected);
        Assert.Equal(before, dir.Files());
    }

    [Fact]
    public void Generate_refuses_a_model_that_does_not_read_one_letter_per_step()
    {
        var r = CliProcess.Run(trained.Folder.Path, "generate", "--model", ReferenceFile("torch_model.json"), "--start", "A", "--steps", "2");
        CliProcess.AssertCleanError(r, 1, "generate needs a model that reads one letter per call", "reads 4 time steps × 2 features");
    }

    [Theory]
    [InlineData("predict --sequence A --inputs x.json", "exactly one of --sequence LETTERS or --inputs FILE")]
    [InlineData("predict", "exactly one of --sequence LETTERS or --inputs FILE")]
    [InlineData("predict --sequence A --state s.json", "--state goes with --inputs")]
    [InlineData("generate --start KK --steps 3", "--start expects one letter A..Z, got 'KK'")]
    [InlineData("generate --start K --steps 0", "--steps expects a whole number from 1 to 100,000,000, got '0'")]
    public void A_bad_command_line_with_a_model_is_a_usage_error(string args, string expected)
    {
        using var dir = new TempFolder();
        var r = CliProcess.Run(dir.Path, [.. args.Split(' '), "--model", trained.Path]);
        CliProcess.AssertCleanError(r, 2, expected);
        Assert.Empty(dir.Files());
    }

    [Theory]
    [InlineData("train nope --save m.json", "unknown experiment \"nope\"")]
    [InlineData("train one-char", "--save")]
    [InlineData("train one-char --save m.json --checkpoint-every 2", "--checkpoint-every needs --checkpoint DIR")]
    [InlineData("train one-char --save m.json --learning-rate -1", "--learning-rate expects a positive number, got '-1'")]
    [InlineData("predict --sequence A", "--model")]
    [InlineData("resume", "resume")]
    public void Bad_train_resume_and_predict_command_lines_are_usage_errors(string args, string expected)
    {
        using var dir = new TempFolder();
        var r = CliProcess.Run(dir.Path, args.Split(' '));
        CliProcess.AssertCleanError(r, 2, expected);
        Assert.Empty(dir.Files());
    }

    // ---- checkpoints, divergence and resume -------------------------------------------------

    [Fact]
    public void Resume_refuses_a_folder_without_a_checkpoint_or_with_a_damaged_one()
    {
        using var dir = new TempFolder();
        Directory.CreateDirectory(dir["empty"]);
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "resume", "empty"), 1, "'empty' holds no checkpoint.json: nothing to resume");
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "resume", "nowhere"), 1, "'nowhere' is not a folder");
        Directory.CreateDirectory(dir["broken"]);
        File.WriteAllText(dir["broken/checkpoint.json"], "{\"format\": \"alphabet-lstm-checkpoint\", \"version\": 1, \"run\": ");
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "resume", "broken"), 1, "checkpoint '", "not valid JSON");
        File.WriteAllText(dir["broken/checkpoint.json"], trained.Text);
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "resume", "broken"), 1,
            "format: expected \"alphabet-lstm-checkpoint\", found the string \"alphabet-lstm-model\"");
        Assert.Equal(["broken/checkpoint.json"], dir.Files());
    }

    [Fact]
    public void Train_refuses_a_checkpoint_folder_that_already_holds_a_run()
    {
        using var dir = new TempFolder();
        Directory.CreateDirectory(dir["ck"]);
        File.WriteAllText(dir["ck/checkpoint.json"], "an earlier run");
        var r = CliProcess.Run(dir.Path, "train", "one-char", "--epochs", "1", "--save", "m.json", "--checkpoint", "ck");
        CliProcess.AssertCleanError(r, 1, "--checkpoint 'ck' already holds a checkpoint", "resume ck");
        Assert.Equal("an earlier run", File.ReadAllText(dir["ck/checkpoint.json"]));
        Assert.Equal(["ck/checkpoint.json"], dir.Files());
    }

    [Fact]
    public void A_diverging_run_stops_naming_the_epoch_and_saves_no_model()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["m.json"], "an older model");
        var r = CliProcess.Run(dir.Path, "train", "one-char", "--epochs", "3", "--learning-rate", "1e308", "--save", "m.json", "--checkpoint", "ck");
        CliProcess.AssertCleanError(r, 1, "the loss became NaN at epoch 1", "no model was saved", "no checkpoint had been written to 'ck' yet");
        Assert.Equal("an older model", File.ReadAllText(dir["m.json"]));
        Assert.Equal(["m.json"], dir.Files());
    }

    [Fact]
    public void A_resumed_run_that_diverges_keeps_the_last_good_checkpoint()
    {
        using var dir = new TempFolder();
        var ok = CliProcess.Run(dir.Path, "train", "timestep-window", "--epochs", "2", "--units", "8", "--save", "m.json", "--checkpoint", "ck", "--checkpoint-every", "1", "--quiet");
        Assert.True(ok.ExitCode == 0, ok.Stderr);
        var model = File.ReadAllBytes(dir["m.json"]);
        // Ask the checkpointed run for two more epochs at a learning rate that overflows.
        var edited = File.ReadAllText(dir["ck/checkpoint.json"])
            .Replace("\"epochs\": 2,", "\"epochs\": 4,")
            .Replace("\"learningRate\": 0.001,", "\"learningRate\": 1E+308,");
        edited = CheckpointFile.Seal(edited);   // edited on purpose: sealed again, or the checksum refuses it
        File.WriteAllText(dir["ck/checkpoint.json"], edited);
        var r = CliProcess.Run(dir.Path, "resume", "ck");
        CliProcess.AssertCleanError(r, 1, "at epoch 3", "the last good checkpoint (epoch 2) is kept in 'ck'");
        Assert.Equal(edited, File.ReadAllText(dir["ck/checkpoint.json"]));
        Assert.Equal(model, File.ReadAllBytes(dir["m.json"]));
    }

    private static int CheckpointEpoch(string file)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            return doc.RootElement.GetProperty("epoch").GetInt32();
        }
        catch (Exception e) when (e is IOException or JsonException) { return -1; }
    }

    /// <summary>Runs the CLI until its checkpoint reaches <paramref name="epoch"/>, then kills it with SIGKILL.</summary>
    private static void KillAt(string workingDirectory, string checkpoint, int epoch, params string[] args)
    {
        using var p = CliProcess.Start(workingDirectory, args);
        _ = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEndAsync();
        // A guard against a hung child, not a measurement: give up after two minutes.
        using var giveUp = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        while (CheckpointEpoch(checkpoint) < epoch)
        {
            if (p.HasExited)
                Assert.Fail($"alphabet-lstm {string.Join(' ', args)} exited ({p.ExitCode}) before epoch {epoch}");
            if (giveUp.IsCancellationRequested)
                Assert.Fail($"no checkpoint for epoch {epoch} after 2 minutes");
            p.WaitForExit(5);
        }
        p.Kill(entireProcessTree: true);   // SIGKILL: no chance to tidy up
        p.WaitForExit();
    }

    [Fact]
    public async Task A_run_killed_at_several_points_and_resumed_saves_the_same_bytes_as_an_unbroken_run()
    {
        using var dir = new TempFolder();
        // Variable-length data (made from the seed), shuffling (the generator), masking: all must resume exactly.
        string[] train = ["train", "variable-length", "--epochs", "24", "--units", "16", "--mask", "--seed", "9", "--checkpoint-every", "1", "--quiet"];
        using var unbroken = CliProcess.Start(dir.Path, [.. train, "--save", "unbroken.json", "--checkpoint", "ck-unbroken"]);
        var unbrokenOut = unbroken.StandardOutput.ReadToEndAsync();
        var unbrokenErr = unbroken.StandardError.ReadToEndAsync();

        var checkpoint = dir["ck/checkpoint.json"];
        KillAt(dir.Path, checkpoint, 2, [.. train, "--save", "resumed.json", "--checkpoint", "ck"]);
        // Each resume is killed three epochs past where the last kill left it (a kill can land an
        // epoch or two after the checkpoint it waited for, more so on a fast or a loaded machine).
        for (var k = 0; k < 2; k++)
        {
            Assert.False(File.Exists(dir["resumed.json"]), "the run finished before it could be killed");
            var from = CheckpointEpoch(checkpoint);
            Assert.True(from + 3 < 24, $"the kills landed too late to leave room for another (epoch {from})");
            KillAt(dir.Path, checkpoint, from + 3, "resume", "ck", "--quiet");
            Assert.True(CheckpointEpoch(checkpoint) > from, "the resumed run made no progress");
        }
        Assert.False(File.Exists(dir["resumed.json"]), "the run finished before it could be killed");
        var last = CliProcess.Run(dir.Path, "resume", "ck", "--quiet");
        Assert.True(last.ExitCode == 0, last.Stderr);

        Assert.True(unbroken.WaitForExit(TimeSpan.FromMinutes(3)), "the unbroken run did not finish");
        unbroken.WaitForExit();
        Assert.True(unbroken.ExitCode == 0, await unbrokenErr + await unbrokenOut);
        Assert.Equal(File.ReadAllBytes(dir["unbroken.json"]), File.ReadAllBytes(dir["resumed.json"]));
        Assert.Equal(24, CheckpointEpoch(checkpoint));
    }
}
