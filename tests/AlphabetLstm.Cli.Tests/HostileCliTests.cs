using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using AlphabetLstm.Core;
using AlphabetLstm.Tutorial;

namespace AlphabetLstm.Cli.Tests;

/// <summary>
/// Issue 13, hostile input: every crash and clobber the issue lists, run against the real CLI. Big
/// files are made on the fly in a temporary folder. Where memory is the point, the CLI runs under a
/// .NET GC heap limit (DOTNET_GCHeapHardLimit), so going past the bound fails the test (the old code
/// died there with "Out of memory.", exit 134).
/// </summary>
public class HostileCliTests(TrainedModel trained) : IClassFixture<TrainedModel>
{
    /// <summary>A 256 MiB managed heap: far above what a refused or streamed command needs.</summary>
    private static readonly Dictionary<string, string> Heap256M = new() { ["DOTNET_GCHeapHardLimit"] = "0x10000000" };

    private static string Zeros(int n) => "[" + string.Join(",", Enumerable.Repeat("0", n)) + "]";

    /// <summary>The trained model with the given changes to its JSON.</summary>
    private string ModelWith(TempFolder dir, string name, Action<JsonObject> change)
    {
        var root = (JsonObject)JsonNode.Parse(trained.Text)!;
        change(root);
        File.WriteAllText(dir[name], root.ToJsonString());
        return name;
    }

    private static string Repeat(string first, string rest, int count)
    {
        var sb = new StringBuilder("[").Append(first);
        for (var k = 1; k < count; k++) sb.Append(',').Append(rest);
        return sb.Append(']').ToString();
    }

    // ---- crashes ------------------------------------------------------------------------------

    [Fact]
    public void Generate_with_an_alphabet_model_whose_numbers_overflow_to_NaN_fails_in_one_line_printing_nothing()
    {
        using var dir = new TempFolder();
        // Finite in the file, NaN once summed: the bias and the head at 1e308.
        var model = ModelWith(dir, "big.json", m =>
        {
            m["lstm"]!["bias"] = JsonNode.Parse(Repeat("1e308", "1e308", m["lstm"]!["bias"]!.AsArray().Count));
            foreach (var row in m["dense"]!["kernel"]!.AsArray())
                for (var k = 0; k < row!.AsArray().Count; k++) row[k] = 1e308;
        });
        var r = CliProcess.Run(dir.Path, "generate", "--model", model, "--start", "A", "--steps", "5");
        CliProcess.AssertCleanError(r, 1, "--model 'big.json': the probabilities of the next letter became NaN (the model's numbers overflowed");
        Assert.Equal("", r.Stdout);
    }

    [Fact]
    public void A_model_claiming_100000_units_with_one_full_row_then_empty_rows_is_refused_at_the_first_empty_row()
    {
        using var dir = new TempFolder();
        var fullRow = Zeros(400000);
        var model = ModelWith(dir, "f.json", m =>
        {
            m["lstm"]!["units"] = 100000;
            m["lstm"]!["kernel"] = JsonNode.Parse("[" + fullRow + "]");
            m["lstm"]!["recurrentKernel"] = JsonNode.Parse(Repeat(fullRow, "[]", 100000));
        });
        var r = CliProcess.Run(dir.Path, Heap256M, "predict", "--model", model, "--sequence", "AB");
        CliProcess.AssertCleanError(r, 1, "--model 'f.json': lstm.recurrentKernel[1]: expected 400000 numbers (H × 4H with H = 100000), found 0");
    }

    [Fact]
    public void Inputs_of_50000_samples_of_100000_features_whose_first_is_full_are_refused_at_the_second_sample()
    {
        using var dir = new TempFolder();
        // A valid model reading 100000 features (H = 1 keeps it at 1 MB).
        var model = new SavedModel(
            Vocabulary.Alphabet,
            InputSpec.Create(1, 100000, AlphabetLstm.Core.SymbolEncoding.Features, false, false),
            Parameters.Init(100000, 1, 26, Rng.Create(1)).Value, Precision.Float64);
        File.WriteAllText(dir["m.json"], model.Serialize());
        File.WriteAllText(dir["x.json"], Repeat("[" + Zeros(100000) + "]", "[]", 50000));
        var r = CliProcess.Run(dir.Path, Heap256M, "predict", "--model", "m.json", "--inputs", "x.json");
        CliProcess.AssertCleanError(r, 1, "--inputs 'x.json': inputs[1]: expected 1 time steps (the model's input.timeSteps), found 0");
    }

    [Fact]
    public void A_model_of_100000_time_steps_with_100000_empty_samples_is_refused_before_anything_is_allocated()
    {
        using var dir = new TempFolder();
        var model = ModelWith(dir, "t.json", m => m["input"]!["timeSteps"] = 100000);
        File.WriteAllText(dir["x.json"], Repeat("[]", "[]", 100000));
        var r = CliProcess.Run(dir.Path, Heap256M, "predict", "--model", model, "--inputs", "x.json");
        CliProcess.AssertCleanError(r, 1, "inputs[0]: expected 100000 time steps (the model's input.timeSteps), found 0");
    }

    [Fact]
    public void Devices_and_files_over_the_size_limit_are_refused_before_they_are_read()
    {
        using var dir = new TempFolder();
        foreach (var device in new[] { "/dev/zero", "/dev/urandom" })
            CliProcess.AssertCleanError(CliProcess.Run(dir.Path, Heap256M, "predict", "--model", device, "--sequence", "B"), 1,
                $"--model '{device}' is a character device, not a regular file");
        // A 200 MB model (sparse: no disk is used) is refused by its size, before a byte is read.
        using (var big = new FileStream(dir["big.json"], FileMode.Create)) big.SetLength(200L << 20);
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, Heap256M, "predict", "--model", "big.json", "--sequence", "B"), 1,
            "--model 'big.json' is 200 MiB, more than the limit of 16 MiB for a file", "ALPHABET_LSTM_MAX_MEMORY");
        File.Delete(dir["big.json"]);
        // Raising the limit lets a 20 MiB file be read (and refused for what it holds), within the heap limit.
        using (var big = new FileStream(dir["big.json"], FileMode.Create)) big.SetLength(20L << 20);
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, Heap256M, "predict", "--model", "big.json", "--sequence", "B"), 1,
            "--model 'big.json' is 20 MiB, more than the limit of 16 MiB");
        var raised = new Dictionary<string, string>(Heap256M) { ["ALPHABET_LSTM_MAX_MEMORY"] = "2G" };
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, raised, "predict", "--model", "big.json", "--sequence", "B"), 1,
            "--model 'big.json': not valid JSON");
        File.Delete(dir["big.json"]);
        Assert.Empty(dir.Files());
    }

    [Fact]
    public void Generate_streams_its_letters_so_50000_steps_fit_in_a_32_MiB_heap()
    {
        using var dir = new TempFolder();
        var small = new Dictionary<string, string> { ["DOTNET_GCHeapHardLimit"] = "0x2000000" };
        var r = CliProcess.Run(dir.Path, small, "generate", "--model", trained.Path, "--start", "K", "--steps", "50000");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var line = r.Stdout.Trim();
        Assert.StartsWith("from the zero state: K -> ", line);
        Assert.Equal(50001, line["from the zero state: ".Length..].Split(" -> ").Length);
        // The first letters are what the five-step run prints.
        var five = CliProcess.Run(dir.Path, "generate", "--model", trained.Path, "--start", "K", "--steps", "5");
        Assert.StartsWith(five.Stdout.Trim(), line);
    }

    [Theory]
    [InlineData("generate --model M --start K --steps 2147483647", 2, "--steps expects a whole number from 1 to 100,000,000, got '2147483647'")]
    [InlineData("experiment one-char --epochs 2147483647", 2, "--epochs expects a whole number from 1 to 10,000,000, got '2147483647'")]
    [InlineData("bench --experiments none --grid 1x1x1x2147483647", 2, "--grid shape '1x1x1x2147483647': I must be 1..100000, H 1..100000, B 1..100000, T 1..100000")]
    [InlineData("bench --experiments none --grid 26x4096x512x50", 1, "bench grid point 26x4096x512x50 would need about", "more than the limit of 1 GiB")]
    [InlineData("train one-char --units 100000 --save u.json", 1, "train one-char with 100000 units would need about 3.2 TiB of memory, more than the limit of 1 GiB", "ALPHABET_LSTM_MAX_MEMORY")]
    [InlineData("train one-char --units 30000 --save u.json", 1, "would need about 295 GiB of memory")]
    [InlineData("experiment one-char --units 30000", 1, "experiment one-char with 30000 units would need about 295 GiB")]
    public void Sizes_past_the_limits_are_refused_up_front_with_the_range_or_the_memory_figure(string args, int exit, params string[] expected)
    {
        using var dir = new TempFolder();
        var r = CliProcess.Run(dir.Path, Heap256M, args.Replace("M", trained.Path, StringComparison.Ordinal).Split(' '));
        CliProcess.AssertCleanError(r, exit, expected);
        Assert.Empty(dir.Files());
    }

    [Fact]
    public void Experiment_history_stays_bounded_and_evenly_thinned_for_many_epochs()
    {
        var history = new EpochHistory(limit: 8);
        for (var e = 1; e <= 1000; e++) history.Add(new EpochReport(e, 1.0 / e, 0.5));
        var kept = history.Items.Select(r => r.Epoch).ToList();
        Assert.True(kept.Count <= 9, string.Join(",", kept));
        Assert.Equal(1000, kept[^1]);
        var stride = history.Stride;
        Assert.True(history.Thinned);
        Assert.All(kept.SkipLast(1), e => Assert.Equal(0, e % stride));
        Assert.Equal(Enumerable.Range(1, kept.Count - 1).Select(k => k * stride), kept.SkipLast(1));
        var few = new EpochHistory(limit: 8);
        for (var e = 1; e <= 5; e++) few.Add(new EpochReport(e, 1, 0));
        Assert.Equal([1, 2, 3, 4, 5], few.Items.Select(r => r.Epoch));
        Assert.False(few.Thinned);
        // The report says so when a history was thinned, and says nothing otherwise.
        Assert.Contains($"{history.Items.Count} of 1,000", EpochHistory.Note([(5, 5), (history.Items.Count, 1000)]));
        Assert.Null(EpochHistory.Note([(5, 5)]));
    }

    // ---- silent bad output --------------------------------------------------------------------

    [Fact]
    public void A_prediction_that_overflows_is_an_error_naming_the_input_and_nothing_is_written()
    {
        using var dir = new TempFolder();
        var model = ModelWith(dir, "m.json", m =>
        {
            var u = JsonNode.Parse("[" + string.Join(",", Enumerable.Repeat("[" + string.Join(",", Enumerable.Range(0, 200).Select(j => j % 2 == 0 ? "1e300" : "-1e300")) + "]", 50)) + "]");
            m["lstm"]!["recurrentKernel"] = u;
        });
        File.WriteAllText(dir["x.json"], "[[[0.0]]]");
        File.WriteAllText(dir["s.json"], "{\"h\": [" + Repeat("1e308", "-1e308", 50) + "], \"c\": [" + Repeat("1e308", "1e308", 50) + "]}");
        var r = CliProcess.Run(dir.Path, "predict", "--model", model, "--inputs", "x.json", "--state", "s.json", "--json", "p.json");
        CliProcess.AssertCleanError(r, 1, "--inputs 'x.json' with --state 's.json': the ", "of sample 0 (inputs[0]) became", "nothing was written");
        Assert.False(File.Exists(dir["p.json"]));
    }

    [Fact]
    public void NaN_in_inputs_or_states_says_numbers_must_be_finite_naming_the_file()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["x.json"], "[[[NaN]]]");
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "predict", "--model", trained.Path, "--inputs", "x.json"), 1,
            "--inputs 'x.json': not valid JSON at line 1: found NaN, but every number must be finite");
    }

    // ---- files clobbered ----------------------------------------------------------------------

    [Fact]
    public void Predict_refuses_to_write_its_json_over_a_file_it_reads()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["m.json"], trained.Text);
        File.WriteAllText(dir["x.json"], "[[[0.0]]]");
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "predict", "--model", "m.json", "--sequence", "BC", "--json", "m.json"), 1,
            "--json 'm.json' is the file --model reads");
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "predict", "--model", "m.json", "--inputs", "x.json", "--json", "./x.json"), 1,
            "--json './x.json' is the file --inputs reads");
        File.CreateSymbolicLink(dir["link.json"], dir["m.json"]);
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "predict", "--model", "link.json", "--sequence", "B", "--json", "m.json"), 1,
            "--json 'm.json' is the file --model reads");
        Assert.Equal(trained.Text, File.ReadAllText(dir["m.json"]));
    }

    [Fact]
    public void A_failing_command_leaves_no_folder_behind()
    {
        using var dir = new TempFolder();
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "predict", "--model", "missing.json", "--sequence", "B", "--json", "newdir/p.json"), 1,
            "--model 'missing.json': no such file");
        Assert.False(Directory.Exists(dir["newdir"]));
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    /// <summary>A small checkpointed run in <c>ck</c>, its model saved as <c>m.json</c>.</summary>
    private static void Checkpointed(TempFolder dir)
    {
        var ok = CliProcess.Run(dir.Path, "train", "one-char", "--epochs", "2", "--units", "4", "--save", "m.json", "--checkpoint", "ck", "--quiet");
        Assert.True(ok.ExitCode == 0, ok.Stderr);
    }

    /// <summary>The checkpoint with its recorded save path (and run length) changed, sealed so only the save path is in question.</summary>
    private static void EditSave(TempFolder dir, string save)
    {
        var text = File.ReadAllText(dir["ck/checkpoint.json"]);
        var start = text.IndexOf("\"save\": ", StringComparison.Ordinal);
        var end = text.IndexOf(" }", start, StringComparison.Ordinal);
        text = text[..start] + "\"save\": " + JsonValue.Create(save).ToJsonString() + text[end..];
        File.WriteAllText(dir["ck/checkpoint.json"], CheckpointFile.Seal(text.Replace("\"epochs\": 2,", "\"epochs\": 3,")));
    }

    [Fact]
    public void Resume_writes_its_recorded_save_path_only_when_that_is_a_model_file_or_absent()
    {
        using var dir = new TempFolder();
        Checkpointed(dir);
        File.WriteAllText(dir["notes.txt"], "precious");
        EditSave(dir, dir["notes.txt"]);
        var checkpoint = File.ReadAllText(dir["ck/checkpoint.json"]);
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "resume", "ck"), 1,
            "exists and is not an alphabet-lstm model file, so resume will not overwrite it", "pass --save FILE");
        Assert.Equal("precious", File.ReadAllText(dir["notes.txt"]));

        EditSave(dir, dir["ck/checkpoint.json"]);
        checkpoint = File.ReadAllText(dir["ck/checkpoint.json"]);
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "resume", "ck"), 1, "is a file of the checkpoint folder itself", "pass --save FILE");
        Assert.Equal(checkpoint, File.ReadAllText(dir["ck/checkpoint.json"]));
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "resume", "ck", "--save", "ck/checkpoint.json"), 1, "is the checkpoint file of 'ck'");

        // --save chooses another file; a model file of ours at the recorded path is fine to replace.
        var r = CliProcess.Run(dir.Path, "resume", "ck", "--save", "other.json", "--quiet");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.True(SavedModel.TryParse(File.ReadAllText(dir["other.json"]), out _, out var error), error);
        Assert.Equal("precious", File.ReadAllText(dir["notes.txt"]));
    }

    [Fact]
    public void Train_refuses_to_save_the_model_over_its_own_checkpoint()
    {
        using var dir = new TempFolder();
        var r = CliProcess.Run(dir.Path, "train", "one-char", "--epochs", "1", "--save", "sc/checkpoint.json", "--checkpoint", "sc");
        CliProcess.AssertCleanError(r, 1, "--save 'sc/checkpoint.json' is the checkpoint file of 'sc'");
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    // ---- one writer per checkpoint folder -----------------------------------------------------

    [Fact]
    public async Task A_resume_while_train_holds_the_folder_is_refused_naming_the_process_and_the_training_ends_byte_identical()
    {
        using var dir = new TempFolder();
        string[] train = ["train", "variable-length", "--epochs", "200", "--units", "16", "--seed", "3", "--quiet"];
        using var holder = CliProcess.Start(dir.Path, [.. train, "--save", "held.json", "--checkpoint", "ck", "--checkpoint-every", "1"]);
        var holderOut = holder.StandardOutput.ReadToEndAsync();
        var holderErr = holder.StandardError.ReadToEndAsync();
        // Wait (a guard, not a measurement) for the first checkpoint, so the folder is certainly held.
        using (var giveUp = new CancellationTokenSource(TimeSpan.FromMinutes(2)))
            while (!File.Exists(dir["ck/checkpoint.json"]))
            {
                Assert.False(holder.HasExited, "the training ended before its first checkpoint");
                Assert.False(giveUp.IsCancellationRequested, "no checkpoint after 2 minutes");
                holder.WaitForExit(5);
            }
        var second = CliProcess.Run(dir.Path, "resume", "ck", "--quiet");
        Assert.False(holder.HasExited, "the 200-epoch training ended before the second writer tried: make it longer");
        Assert.True(holder.WaitForExit(TimeSpan.FromMinutes(3)), "the training did not finish");
        holder.WaitForExit();
        Assert.True(holder.ExitCode == 0, await holderErr + await holderOut);
        CliProcess.AssertCleanError(second, 1, "the checkpoint folder 'ck' is in use by process "
            + holder.Id.ToString(CultureInfo.InvariantCulture) + " (alphabet-lstm train)", "only one train or resume");

        var unbroken = CliProcess.Run(dir.Path, [.. train, "--save", "unbroken.json"]);
        Assert.True(unbroken.ExitCode == 0, unbroken.Stderr);
        Assert.Equal(File.ReadAllBytes(dir["unbroken.json"]), File.ReadAllBytes(dir["held.json"]));
    }

    [Fact]
    public void A_lock_left_by_a_process_that_is_gone_never_blocks_and_a_held_one_always_does()
    {
        using var dir = new TempFolder();
        Checkpointed(dir);
        // A stale owner note from a killed run: the OS lock is gone with its process, so resume goes on.
        File.WriteAllText(dir["ck/.lock.owner"], "process 999999 (alphabet-lstm train)\n");
        EditSave(dir, dir["m.json"]);
        var r = CliProcess.Run(dir.Path, "resume", "ck", "--quiet");
        Assert.True(r.ExitCode == 0, r.Stderr);
        // Held by this test process: refused at once, naming the holder the note names.
        EditSave(dir, dir["m.json"]);
        using (var held = new FileStream(dir["ck/.lock"], FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            File.WriteAllText(dir["ck/.lock.owner"], "process 4242 (alphabet-lstm resume)\n");
            CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "resume", "ck", "--quiet"), 1,
                "the checkpoint folder 'ck' is in use by process 4242 (alphabet-lstm resume)");
            CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "train", "one-char", "--save", "n.json", "--checkpoint", "ck"), 1,
                "--checkpoint 'ck' already holds a checkpoint");
        }
    }

    // ---- messages -----------------------------------------------------------------------------

    [Fact]
    public void Command_lines_at_the_edges_are_refused_with_one_line_never_a_crash_or_a_type_name()
    {
        // Integers at the int and long edges, negative and zero sizes, unknown words.
        string[] edges = ["0", "-1", "2147483648", "-2147483649", "9223372036854775808", "-9223372036854775809", "1e3", "x"];
        var lines = new List<string[]>
        {
            new[] { "frobnicate" },
            new[] { "train", "nope", "--save", "m.json" },
            new[] { "experiment", "one-char", "--seed", "9223372036854775807", "--seeds", "2" },
            new[] { "experiment", "one-char", "--seeds", "10001" },
            new[] { "bench", "--grid", "0x1x1x1" },
            new[] { "bench", "--grid", "100001x1x1x1" },
            new[] { "predict", "--model", trained.Path, "--sequence", "\ud800" },
        };
        string[] seedEdges = ["9223372036854775808", "-9223372036854775809", "1e3"];   // -1 and 0 are seeds like any other
        var options = new[] { ("train one-char --save m.json", "--epochs", edges), ("train one-char --save m.json", "--units", edges),
                              ("experiment one-char", "--seeds", edges), ("generate --start K --model M", "--steps", edges),
                              ("train one-char --save m.json", "--seed", seedEdges), ("bench --experiments none --grid none", "--repeats", edges) };
        foreach (var (k, (command, option, values)) in options.Select((o, k) => (k, o)))
            foreach (var edge in values.Where((_, j) => (j + k) % 3 == 0 || values.Length <= 3))   // a spread of edges per option, to keep launches few
                lines.Add([.. command.Replace("M", trained.Path, StringComparison.Ordinal).Split(' '), option, edge]);

        using var dir = new TempFolder();
        foreach (var args in lines)
        {
            var r = CliProcess.Run(dir.Path, args);
            Assert.True(r.ExitCode is 1 or 2, $"{string.Join(' ', args)}: exit {r.ExitCode}: {r.Stderr}");
            CliProcess.AssertCleanError(r, r.ExitCode);
            Assert.DoesNotContain("System.", r.Stderr);
        }
        Assert.Empty(dir.Files());
    }

    [Theory]
    [InlineData("frobnicate", 2, "unknown command 'frobnicate'; the commands are experiment, sweep, merge, train, resume, predict, generate, export, import, bench")]
    [InlineData("train one-char --save m.json --seed 9223372036854775808", 2, "--seed expects a whole number from -9223372036854775808 to 9223372036854775807, got '9223372036854775808'")]
    [InlineData("experiment one-char --seed 9223372036854775807 --seeds 2", 2, "would pass the largest seed 9223372036854775807")]
    public void Messages_name_the_word_and_the_range(string args, int exit, string expected)
    {
        using var dir = new TempFolder();
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, args.Split(' ')), exit, expected);
    }

    [Fact]
    public void A_lone_surrogate_is_refused_naming_the_file_and_the_field()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["v.json"], trained.Text.Replace("\"vocabulary\": [\"A\"", "\"vocabulary\": [\"\\ud800\"", StringComparison.Ordinal));
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "predict", "--model", "v.json", "--sequence", "B"), 1,
            "--model 'v.json': vocabulary[0]: expected a string of Unicode text, found an escape of a lone UTF-16 surrogate");
        File.WriteAllText(dir["n.json"], trained.Text.Replace("\"version\": 2,", "\"version\": 2, \"\\udc00\": 1,", StringComparison.Ordinal));
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "predict", "--model", "n.json", "--sequence", "B"), 1,
            "--model 'n.json': the file: a field name is an escape of a lone UTF-16 surrogate");
    }

    [Fact]
    public void An_unexpected_exception_is_one_line_naming_the_command_and_exit_70()
    {
        using var dir = new TempFolder();
        var fault = new Dictionary<string, string> { ["ALPHABET_LSTM_TEST_FAULT"] = "predict" };
        var r = CliProcess.Run(dir.Path, fault, "predict", "--model", trained.Path, "--sequence", "A");
        CliProcess.AssertCleanError(r, 70, "error: predict: unexpected", "a fault injected by ALPHABET_LSTM_TEST_FAULT for testing");
        Assert.Equal("", r.Stdout);
    }
}
