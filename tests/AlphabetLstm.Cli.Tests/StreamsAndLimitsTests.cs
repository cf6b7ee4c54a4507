namespace AlphabetLstm.Cli.Tests;

/// <summary>
/// Long outputs and large workloads: generate stops when the reader of its output goes away (exit 141,
/// the shell's SIGPIPE convention, nothing on stderr), and bench's text workload asks the memory
/// estimate before it generates its text. Both run the real program in a process of its own, the
/// second under a GC heap limit far below what the refused workload would take.
/// </summary>
public class StreamsAndLimitsTests
{
    /// <summary>A 32 MiB managed heap: enough for a refusal, far too little for a 100-million-character text.</summary>
    private static readonly Dictionary<string, string> Heap32M = new() { ["DOTNET_GCHeapHardLimit"] = "0x2000000" };

    private static (string Model, string Start) GenerateModel(TempFolder dir, string kind)
    {
        if (kind == "alphabet")
        {
            File.WriteAllText(dir["m.json"], Hostile.AlphabetModelText());
            return (dir["m.json"], "K");
        }
        File.WriteAllText(dir["t.txt"], Hostile.Text);
        var r = Hostile.Run("train", "--text", dir["t.txt"], "--save", dir["m.json"], "--epochs", "1", "--units", "2", "--window", "3", "--quiet");
        Assert.True(r.ExitCode == 0, r.Stderr);
        return (dir["m.json"], "the");
    }

    [Theory]
    [InlineData("text")]
    [InlineData("alphabet")]
    public async Task Generate_into_a_pipe_whose_reader_goes_away_stops_quietly_with_exit_141(string kind)
    {
        using var dir = new TempFolder();
        var (model, start) = GenerateModel(dir, kind);
        // The most steps generate takes: without the stop, this writes for many minutes into nothing.
        using var p = CliProcess.Start(dir.Path, "generate", "--model", model, "--start", start, "--steps", "100000000");
        var head = new char[10];
        for (var got = 0; got < head.Length;)
        {
            var n = p.StandardOutput.Read(head, got, head.Length - got);
            Assert.True(n > 0, "generate ended before writing 10 characters");
            got += n;
        }
        Assert.StartsWith(kind == "alphabet" ? "from the z" : start, new string(head));
        // As `| head -c 10` does: the reader closes its end of the pipe.
        p.StandardOutput.Close();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3))) p.Kill(entireProcessTree: true);
        Assert.True(p.HasExited && p.ExitCode == StandardOutput.ClosedPipe, $"generate went on after its reader closed the pipe (exit {(p.HasExited ? p.ExitCode : "none")})");
        Assert.Equal("", await stderr);
    }

    [Fact]
    public void Generate_into_a_string_writer_still_writes_the_whole_line()
    {
        using var dir = new TempFolder();
        var (model, start) = GenerateModel(dir, "text");
        var r = Hostile.Run("generate", "--model", model, "--start", start, "--steps", "5000");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var line = r.Stdout.TrimEnd('\n');
        Assert.Equal(start.Length + 5000, Core.Vocabulary.Split(line).Length);
        Assert.DoesNotContain('\n', line);
    }

    [Theory]
    [InlineData("100000000x4096x32x50", null, "1 GiB")]
    [InlineData("4000000x2048x32x50", null, "1 GiB")]
    [InlineData("4000000x512x32x50", "64M", "64 MiB")]
    public void Bench_text_refuses_a_workload_past_the_memory_limit_before_generating_its_text(string shape, string? limit, string shown)
    {
        using var dir = new TempFolder();
        var env = new Dictionary<string, string>(Heap32M);
        if (limit is not null) env["ALPHABET_LSTM_MAX_MEMORY"] = limit;
        var r = CliProcess.Run(dir.Path, env, "bench", "--experiments", "none", "--text", shape);
        Hostile.OneLine(r, 1, $"bench --text {shape} would need about", $"more than the limit of {shown}", "ALPHABET_LSTM_MAX_MEMORY");
        Assert.Equal("", r.Stdout);
    }

    [Fact]
    public void Bench_text_symbols_hold_every_character_the_generated_text_can_use()
    {
        var text = BenchText.Generate(200_000, seed: 3);
        var seen = Core.Vocabulary.OfText(text);
        foreach (var symbol in Core.Vocabulary.Split(string.Concat(text.Distinct())))
            Assert.True(BenchText.Symbols.IndexOf(symbol) >= 0, $"'{symbol}' is written by the generator but missing from BenchText.Symbols");
        Assert.True(seen.Count <= BenchText.Symbols.Count);
    }
}
