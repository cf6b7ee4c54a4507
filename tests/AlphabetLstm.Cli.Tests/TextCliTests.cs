using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace AlphabetLstm.Cli.Tests;

/// <summary>A model trained once by the real CLI on a repeated English sentence, with the defaults.</summary>
public sealed class TrainedText : IDisposable
{
    public const string Sentence = "the quick brown fox jumps over the lazy dog. ";
    public TempFolder Folder { get; } = new();
    public string Model => Folder["fox.json"];
    public CliResult Training { get; }

    public TrainedText()
    {
        File.WriteAllText(Folder["fox.txt"], string.Concat(Enumerable.Repeat(Sentence, 12)));
        Training = CliProcess.Run(Folder.Path, "train", "--text", "fox.txt", "--save", "fox.json");
        Assert.True(Training.ExitCode == 0, Training.Stderr);
    }

    public void Dispose() => Folder.Dispose();
}

/// <summary><c>train --text</c>, <c>generate</c> and <c>predict</c> on your own text, end to end.</summary>
public class TextCliTests(TrainedText fox) : IClassFixture<TrainedText>
{
    private static string Repeat(string s, int n) => string.Concat(Enumerable.Repeat(s, n));

    [Fact]
    public void A_repeated_sentence_is_learnt_with_the_defaults_and_generate_continues_it_exactly()
    {
        Assert.Contains("28 distinct; every window of 10 characters → the next one", fox.Training.Stdout);
        Assert.Contains("accuracy 100.00% per position on the training part in epoch 50", fox.Training.Stdout);
        Assert.Contains("the last 54 characters (0.1) held out", fox.Training.Stdout);
        var r = CliProcess.Run(fox.Folder.Path, "generate", "--model", "fox.json", "--start", "the lazy d", "--steps", "80");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var expected = Repeat(TrainedText.Sentence, 4);
        var start = expected.IndexOf("the lazy d", StringComparison.Ordinal);
        Assert.Equal(expected.Substring(start, 90) + "\n", r.Stdout);
    }

    [Fact]
    public void Redirected_progress_is_plain_lines_with_loss_accuracy_steps_per_second_and_time_left()
    {
        var lines = fox.Training.Stdout.Split('\n').Where(l => l.TrimStart().StartsWith("epoch", StringComparison.Ordinal)).ToList();
        Assert.InRange(lines.Count, 5, 12);
        Assert.DoesNotContain('\r', fox.Training.Stdout);
        Assert.All(lines, l => Assert.Matches(@"^   epoch +\d+/50  loss \d\.\d{4}  accuracy \d+\.\d\d%  held-out \d\.\d{4} nats \(\d\.\d{4} bits/char\)  [\d,]+ steps/s  .+ left$", l));
    }

    [Fact]
    public void The_model_file_records_the_vocabulary_and_a_window_reading()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(fox.Model));
        var input = doc.RootElement.GetProperty("input");
        Assert.Equal("window", input.GetProperty("reading").GetString());
        Assert.Equal("one-hot", input.GetProperty("encoding").GetString());
        Assert.Equal(10, input.GetProperty("timeSteps").GetInt32());
        var vocabulary = doc.RootElement.GetProperty("vocabulary").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Equal(TrainedText.Sentence.Distinct().Select(c => c.ToString()).Order(StringComparer.Ordinal), vocabulary);
    }

    [Fact]
    public void Greek_text_is_learnt_and_continued_the_same_way()
    {
        using var dir = new TempFolder();
        const string sentence = "η γρήγορη καφέ αλεπού πηδά πάνω από τον τεμπέλη σκύλο. ";
        File.WriteAllText(dir["greek.txt"], Repeat(sentence, 12));
        var t = CliProcess.Run(dir.Path, "train", "--text", "greek.txt", "--save", "greek.json", "--quiet");
        Assert.True(t.ExitCode == 0, t.Stderr);
        var r = CliProcess.Run(dir.Path, "generate", "--model", "greek.json", "--start", "η γρήγορη ", "--steps", "100");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(Repeat(sentence, 3)[..110] + "\n", r.Stdout);
    }

    [Fact]
    public void A_symbol_outside_the_vocabulary_is_refused_with_its_position()
    {
        var g = CliProcess.Run(fox.Folder.Path, "generate", "--model", "fox.json", "--start", "the quick Ω", "--steps", "3");
        CliProcess.AssertCleanError(g, 1, "--start: \"Ω\" (position 11 of the start text) is not in the model's vocabulary of 28 symbols");
        var p = CliProcess.Run(fox.Folder.Path, "predict", "--model", "fox.json", "--sequence", "the quiQk ");
        CliProcess.AssertCleanError(p, 1, "\"Q\" (position 8 of \"the quiQk \")");
    }

    [Fact]
    public void Predict_reads_a_window_of_any_vocabulary()
    {
        var p = CliProcess.Run(fox.Folder.Path, "predict", "--model", "fox.json", "--sequence", "the quick ");
        Assert.True(p.ExitCode == 0, p.Stderr);
        Assert.StartsWith("the quick  -> b\n", p.Stdout);
    }

    [Fact]
    public void Sampling_at_a_temperature_is_seeded_and_zero_is_the_most_likely()
    {
        string Run(params string[] extra) =>
            CliProcess.Run(fox.Folder.Path, ["generate", "--model", "fox.json", "--start", "the quick ", "--steps", "60", .. extra]).Stdout;
        Assert.Equal(Run("--temperature", "2", "--seed", "5"), Run("--temperature", "2", "--seed", "5"));
        Assert.NotEqual(Run("--temperature", "2", "--seed", "5"), Run("--temperature", "2", "--seed", "6"));
        Assert.Equal(Run(), Run("--temperature", "0", "--seed", "9"));
    }

    [Theory]
    [InlineData("--text absent.txt", "--text 'absent.txt': no such file")]
    [InlineData("--text empty.txt", "--text 'empty.txt' is empty")]
    [InlineData("--text same.txt", "--text 'same.txt': the text holds 1 distinct character: a model needs at least two to choose between")]
    [InlineData("--text short.txt", "--text 'short.txt': the training part has 6 characters; a window of 10 needs at least 11 (the window and the character after it): lower --window")]
    [InlineData("--text short.txt --window 3 --stateful", "--text 'short.txt': the training part has 6 characters; 32 streams of chunks of 3 need at least 32 × 4 = 128: lower --batch-size or --window")]
    [InlineData("--text long.txt --window 30 --stateful --batch-size 2", "--text 'long.txt': the held-out part (the last 0.1 of the text) has 20 characters; one chunk of 30 needs at least 31: lower --window or raise --validation (0 turns it off)")]
    [InlineData("--text long.txt --stateful --batch-size 2 --encoding index --units 100000", "training on --text 'long.txt' (200 characters, 3 distinct, 100000 units, 1 features, batch 2, window 10) would need about")]
    [InlineData("--text latin1.txt", "--text 'latin1.txt' is not UTF-8 text: the bytes 0xE9 at byte 4")]
    [InlineData("--text short.txt --mask", "--mask goes with an experiment id")]
    public void Bad_text_input_is_one_line_and_nothing_is_written(string args, string expected)
    {
        using var dir = Inputs();
        var before = dir.Files();
        var r = CliProcess.Run(dir.Path, ["train", .. args.Split(' '), "--save", "m.json", "--checkpoint", "ck"]);
        CliProcess.AssertCleanError(r, args.Contains("--mask") ? 2 : 1, expected);
        Assert.Equal(before, dir.Files());
        Assert.False(Directory.Exists(dir["ck"]), "the checkpoint folder was made");
    }

    [Theory]
    [InlineData("train --text short.txt --save m.json --window 0", "--window expects a whole number from 1 to")]
    [InlineData("train --save m.json", "train needs an experiment id")]
    [InlineData("train one-char --text short.txt --save m.json", "train needs an experiment id")]
    [InlineData("train one-char --save m.json --stateful", "--stateful goes with --text FILE")]
    [InlineData("train --text short.txt --save m.json --encoding two-hot", "two-hot")]
    [InlineData("generate --model fox.json --start abc --steps 3 --temperature -1", "--temperature expects a number ≥ 0, got '-1'")]
    public void Bad_text_command_lines_are_usage_errors(string args, string expected)
    {
        using var dir = Inputs();
        File.Copy(fox.Model, dir["fox.json"]);
        var before = dir.Files();
        var r = CliProcess.Run(dir.Path, args.Split(' '));
        CliProcess.AssertCleanError(r, 2, expected);
        Assert.Equal(before, dir.Files());
    }

    [Fact]
    public void A_start_shorter_than_the_window_is_refused_with_the_number()
    {
        var r = CliProcess.Run(fox.Folder.Path, "generate", "--model", "fox.json", "--start", "the", "--steps", "3");
        CliProcess.AssertCleanError(r, 1, "the start text has 3 symbols, the model reads windows of 10: give at least 10");
    }

    private static TempFolder Inputs()
    {
        var dir = new TempFolder();
        File.WriteAllText(dir["empty.txt"], "");
        File.WriteAllText(dir["same.txt"], "aaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        File.WriteAllText(dir["short.txt"], "abcabc");
        File.WriteAllText(dir["long.txt"], string.Concat(Enumerable.Repeat("abcab", 40)));
        File.WriteAllBytes(dir["latin1.txt"], [.. "caf"u8, 0xE9, .. " au lait, caf"u8, 0xE9, .. " noir"u8]);
        return dir;
    }

    /// <summary>Runs the CLI with one environment variable set.</summary>
    private static CliResult RunWith(string dir, string variable, string value, params string[] args)
    {
        var info = new ProcessStartInfo(CliProcess.Dotnet)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dir, UseShellExecute = false,
        };
        info.ArgumentList.Add(CliProcess.Dll);
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment[variable] = value;
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return new CliResult(p.ExitCode, stdout.Result, stderr.Result);
    }

    [Fact]
    public void A_text_run_over_the_memory_limit_is_refused_up_front_naming_the_estimate_and_the_limit()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["big.txt"], Repeat("abcdefghij", 2000));
        // Reading a text takes a flag and an index per possible code point (5.6 MB) before its 2 bytes a character.
        var big = RunWith(dir.Path, "ALPHABET_LSTM_MAX_MEMORY", "4M", "train", "--text", "big.txt", "--save", "m.json");
        CliProcess.AssertCleanError(big, 1, "training on --text 'big.txt' (20000 characters, 10 distinct, 64 units, 10 features, batch 32, window 10) would need about",
                                    "more than the limit of 4 MiB; set ALPHABET_LSTM_MAX_MEMORY");
        var fits = RunWith(dir.Path, "ALPHABET_LSTM_MAX_MEMORY", "64M", "train", "--text", "big.txt", "--save", "m.json", "--epochs", "1", "--quiet");
        Assert.True(fits.ExitCode == 0, fits.Stderr);
        Assert.Equal(["big.txt", "m.json"], dir.Files());
    }

    /// <summary>Issue 18's three memory rows for <c>train --text</c>: each a one-line refusal at the default limit, nothing written.</summary>
    [Theory]
    [InlineData("--units 2000", "training on --text 'small.txt' (200 characters, 3 distinct, 2000 units, 3 features, batch 32, window 10) would need about 1.5 GiB of memory, more than the limit of 1 GiB")]
    [InlineData("--units 100000", "training on --text 'small.txt' (200 characters, 3 distinct, 100000 units, 3 features, batch 32, window 10) would need about")]
    [InlineData("--text wide.txt --stateful --encoding index --window 1000 --batch-size 1", "--text 'wide.txt': the text has 100000 distinct characters; a text is held as 2-byte symbol indices, which address at most 65536")]
    public void The_memory_rows_of_text_training_are_one_line_refusals(string args, string expected)
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["small.txt"], string.Concat(Enumerable.Repeat("abcab", 40)));
        // 100,000 distinct characters from U+4E00 on (CJK and beyond, all in the Basic and Supplementary planes), each twice.
        var wide = new StringBuilder();
        for (var k = 0; k < 200_000; k++) wide.Append(char.ConvertFromUtf32(0x4E00 + k % 100_000 + (0x4E00 + k % 100_000 >= 0xD800 ? 0x800 : 0)));
        File.WriteAllText(dir["wide.txt"], wide.ToString());
        var before = dir.Files();
        var all = args.StartsWith("--text", StringComparison.Ordinal) ? args : "--text small.txt " + args;
        var r = CliProcess.Run(dir.Path, ["train", .. all.Split(' '), "--save", "m.json"]);
        CliProcess.AssertCleanError(r, 1, expected);
        Assert.Equal(before, dir.Files());
    }

    [Fact]
    public void A_stream_run_records_every_epoch_with_its_held_out_loss_keeps_the_best_epoch_and_draws_the_curves()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["t.txt"], Repeat("one two three four five six seven. ", 12));
        var r = CliProcess.Run(dir.Path, "train", "--text", "t.txt", "--stateful", "--batch-size", "4", "--window", "5", "--epochs", "4",
                               "--units", "16", "--validation", "0.2", "--save", "m.json", "--json", "run.json", "--plot", "loss.png", "--quiet");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(File.ReadAllText(dir["run.json"]));
        var root = doc.RootElement;
        Assert.Equal("every", root.GetProperty("settings").GetProperty("targets").GetString());
        Assert.Equal(0.2, root.GetProperty("settings").GetProperty("validation").GetDouble());
        Assert.Equal(336, root.GetProperty("settings").GetProperty("trainingCharacters").GetInt32());
        Assert.Equal(84, root.GetProperty("settings").GetProperty("heldOutCharacters").GetInt32());
        Assert.Equal(15, root.GetProperty("vocabularySize").GetInt32());
        var history = root.GetProperty("history").EnumerateArray().ToList();
        Assert.Equal([1, 2, 3, 4], history.Select(h => h.GetProperty("epoch").GetInt32()));
        foreach (var h in history)
        {
            Assert.Equal(h.GetProperty("validationLoss").GetDouble() / Math.Log(2), h.GetProperty("validationBitsPerCharacter").GetDouble(), 12);
            Assert.True(h.GetProperty("seconds").GetDouble() >= h.GetProperty("trainingSeconds").GetDouble());
            Assert.InRange(h.GetProperty("accuracy").GetDouble(), 0, 1);
        }
        var best = history.MinBy(h => h.GetProperty("validationLoss").GetDouble());
        Assert.Equal(best.GetProperty("epoch").GetInt32(), root.GetProperty("best").GetProperty("epoch").GetInt32());
        Assert.Contains($"saved {dir["m.json"]} (the model of epoch {best.GetProperty("epoch").GetInt32()}, the best held-out loss)", r.Stdout);
        using (var model = JsonDocument.Parse(File.ReadAllText(dir["m.json"])))
        {
            // A text run's float32 default makes it version 4 (version 3 holds "targets" too).
            Assert.Equal(4, model.RootElement.GetProperty("version").GetInt32());
            Assert.Equal("float32", model.RootElement.GetProperty("precision").GetString());
            Assert.Equal("every", model.RootElement.GetProperty("input").GetProperty("targets").GetString());
        }
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(dir["loss.png"]).Take(4));
    }

    [Fact]
    public void A_stateful_text_run_resumes_from_its_checkpoint_and_refuses_a_changed_text()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["t.txt"], Repeat("one two three four five six seven. ", 8));
        var t = CliProcess.Run(dir.Path, "train", "--text", "t.txt", "--stateful", "--batch-size", "4", "--window", "5",
                               "--epochs", "3", "--save", "m.json", "--checkpoint", "ck", "--quiet");
        Assert.True(t.ExitCode == 0, t.Stderr);
        Assert.Contains("4 streams of 63 characters read in chunks of 5, a target at every character", t.Stdout);
        using (var doc = JsonDocument.Parse(File.ReadAllText(dir["m.json"])))
            Assert.Equal("stream", doc.RootElement.GetProperty("input").GetProperty("reading").GetString());
        var checkpoint = File.ReadAllText(Path.Combine(dir["ck"], "checkpoint.json"));
        Assert.Contains("\"kind\": \"text\"", checkpoint);
        Assert.Contains(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(dir["t.txt"]))), checkpoint);

        var again = CliProcess.Run(dir.Path, "resume", "ck", "--quiet");
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.Contains("resuming the text run on", again.Stdout);

        File.AppendAllText(dir["t.txt"], "eight.");
        var model = File.ReadAllText(dir["m.json"]);
        var changed = CliProcess.Run(dir.Path, "resume", "ck", "--quiet");
        CliProcess.AssertCleanError(changed, 1, "has changed since the checkpoint was written", "resume needs the same text");
        Assert.Equal(model, File.ReadAllText(dir["m.json"]));
    }

    [Fact]
    public void On_a_terminal_the_progress_is_one_line_redrawn_in_place()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["fox.txt"], Repeat(TrainedText.Sentence, 3));
        string Quote(string s) => "'" + s.Replace("'", "'\\''") + "'";
        var command = $"{Quote(CliProcess.Dotnet)} {Quote(CliProcess.Dll)} train --text fox.txt --save m.json --epochs 12";
        // script(1) runs the command under a pseudo terminal, so stdout is a terminal, not a pipe.
        var info = new ProcessStartInfo("script", ["-qec", command, "/dev/null"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, WorkingDirectory = dir.Path, UseShellExecute = false,
        };
        using var p = Process.Start(info)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, output + p.StandardError.ReadToEnd());
        Assert.Contains("\r   [##############################] epoch 12/12  loss ", output);
        Assert.Matches(@"\r   \[[#.]{30}\] epoch +\d+/12  loss \d\.\d{4}  accuracy [\d.]+%  held-out \d\.\d{4} nats \(\d\.\d{4} bits/char\)  [\d,]+ steps/s  .+ left", output);
        Assert.DoesNotContain("\n   epoch", output.ReplaceLineEndings("\n"));
    }
}
