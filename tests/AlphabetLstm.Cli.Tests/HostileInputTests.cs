using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using AlphabetLstm.Onnx;
using Google.Protobuf;
using Onnx;

namespace AlphabetLstm.Cli.Tests;

/// <summary>
/// Hostile input, second pass: each case of the two issues' lists (readers, memory, shapes, overwrites,
/// terminal text) as the exact command, its exit code, its one line, and nothing written. In-process
/// where it can be; a child process where the process matters (FIFOs, pipes, the environment).
/// </summary>
public class HostileInputTests
{
    private static readonly Dictionary<string, string> Limit64M = new() { ["ALPHABET_LSTM_MAX_MEMORY"] = "64M" };

    // ---- one way to read a file -----------------------------------------------------------------

    /// <summary>Every call in the shell and the ONNX converter that opens or reads a file by its path goes through InputFile.</summary>
    [Fact]
    public void Every_file_read_in_the_shell_goes_through_the_one_capped_reader()
    {
        var reads = new Regex(@"File\.(ReadAll\w*|ReadLines|Open\w*)\s*\(|new\s+(FileStream|StreamReader|BinaryReader)\s*\(|Console\.(In\b|OpenStandardInput)|FileInfo\([^)]*\)\.Open", RegexOptions.CultureInvariant);
        // The only other places allowed to open a file: writing (AtomicFile, standard output) and the folder lock (opened for writing, never read).
        var allowed = new Dictionary<string, string>
        {
            ["src/AlphabetLstm.Cli/InputFile.cs"] = "the reader itself",
            ["src/AlphabetLstm.Cli/AtomicFile.cs"] = "writes a temporary file (FileMode.Create) and renames it",
            ["src/AlphabetLstm.Cli/CheckpointLock.cs"] = "holds the lock file open for writing",
            ["src/AlphabetLstm.Cli/StandardOutput.cs"] = "writes descriptor 1 (standard output), opens no path",
        };
        var found = new List<string>();
        foreach (var project in new[] { "src/AlphabetLstm.Cli", "src/AlphabetLstm.Onnx", "src/AlphabetLstm.Core" })
            foreach (var file in Directory.EnumerateFiles(Path.Combine(Repo.Root, project), "*.*", SearchOption.AllDirectories)
                                          .Where(f => f.EndsWith(".cs", StringComparison.Ordinal) || f.EndsWith(".fs", StringComparison.Ordinal))
                                          .Where(f => !f.Contains("/obj/", StringComparison.Ordinal) && !f.Contains("/bin/", StringComparison.Ordinal)))
            {
                var relative = Path.GetRelativePath(Repo.Root, file).Replace('\\', '/');
                var lines = File.ReadAllLines(file);
                for (var k = 0; k < lines.Length; k++)
                    if (reads.IsMatch(lines[k]) && !lines[k].TrimStart().StartsWith("//", StringComparison.Ordinal) && !allowed.ContainsKey(relative))
                        found.Add($"{relative}:{k + 1}: {lines[k].Trim()}");
            }
        Assert.True(found.Count == 0, "files read outside InputFile:\n" + string.Join("\n", found));
        // The lock's FileStream opens with FileAccess.ReadWrite to lock, never to read its bytes: its owner file is read through InputFile.
        Assert.Contains("InputFile.ReadText", File.ReadAllText(Path.Combine(Repo.Root, "src/AlphabetLstm.Cli/CheckpointLock.cs")));
    }

    public static TheoryData<string[], string> DeviceCases => new()
    {
        { ["import", "--onnx", "{dev}", "--save", "{dir}/m.json"], "--onnx '{dev}' is a character device, not a regular file" },
        { ["merge", "{dev}", "--json", "{dir}/merged.json"], "part '{dev}' is a character device, not a regular file" },
        { ["predict", "--model", "{dev}", "--sequence", "A"], "--model '{dev}' is a character device, not a regular file" },
        { ["train", "--text", "{dev}", "--save", "{dir}/m.json"], "--text '{dev}' is a character device, not a regular file" },
    };

    /// <summary>Issue 18, rows 1 and 6: a link to /dev/zero is refused before it is opened (the old reader ran 17 s to 4 GB).</summary>
    [Theory]
    [MemberData(nameof(DeviceCases))]
    public void A_link_to_dev_zero_is_refused_before_opening_it(string[] args, string expected)
    {
        using var dir = new TempFolder();
        var dev = dir["dev-zero.link"];
        File.CreateSymbolicLink(dev, "/dev/zero");
        string Fill(string s) => s.Replace("{dev}", dev).Replace("{dir}", dir.Path);
        Hostile.OneLine(Hostile.Run(args.Select(Fill).ToArray()), 1, Fill(expected));
        Assert.Equal(["dev-zero.link"], dir.Files());
    }

    public static TheoryData<string[], string> FifoCases => new()
    {
        { ["import", "--onnx", "fifo", "--save", "m.json"], "--onnx 'fifo' is a pipe (FIFO) that gave no bytes: no program was writing to it" },
        { ["merge", "fifo", "--json", "merged.json"], "part 'fifo' is a pipe (FIFO) that gave no bytes" },
        { ["train", "--text", "fifo", "--save", "m.json"], "--text 'fifo' is a pipe (FIFO) that gave no bytes" },
    };

    /// <summary>Issue 18, rows 2 and 7 (hangs before), and issue 22's "a FIFO with no writer is called empty": one line, exit 1, no hang.</summary>
    [Theory]
    [MemberData(nameof(FifoCases))]
    public void A_FIFO_nobody_writes_is_refused_at_once_and_not_called_empty(string[] args, string expected)
    {
        using var dir = new TempFolder();
        Hostile.MakeFifo(dir["fifo"]);
        var r = CliProcess.RunProcess(dir.Path, args);   // a process: were the open to block, the wait would end it
        var line = Hostile.OneLine(r, 1, expected);
        Assert.DoesNotContain("empty", line);
        Assert.Equal(["fifo"], dir.Files());
    }

    /// <summary>A FIFO that a program does write is read, as a pipe: the text arrives and is used.</summary>
    [Fact]
    public void A_FIFO_with_a_writer_is_read_like_a_file()
    {
        using var dir = new TempFolder();
        Hostile.MakeFifo(dir["fifo"]);
        File.WriteAllText(dir["m.json"], Hostile.ModelText());
        using var writer = Process.Start(new ProcessStartInfo("sh", ["-c", $"cat '{dir["m.json"]}' > '{dir["fifo"]}'"]) { UseShellExecute = false })!;
        var r = CliProcess.RunProcess(dir.Path, "predict", "--model", "fifo", "--inputs", "in.json");
        writer.WaitForExit();
        // The model was read whole through the FIFO: the next complaint is about --inputs.
        Hostile.OneLine(r, 1, "--inputs 'in.json': no such file");
    }

    /// <summary>Issue 18, last row: 20 MB fed through a pipe to /dev/stdin is counted as it arrives and refused at the cap, not read whole.</summary>
    [Fact]
    public async Task Bytes_through_a_pipe_to_dev_stdin_are_counted_and_refused_at_the_cap()
    {
        using var dir = new TempFolder();
        var info = new ProcessStartInfo(CliProcess.Dotnet)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = dir.Path,
        };
        info.Environment["DOTNET_GCHeapHardLimit"] = "0x8000000";   // 128 MiB: reading 20 MB whole as text and samples would pass it
        info.Environment["ALPHABET_LSTM_MAX_MEMORY"] = "32M";        // a pipe is held whole for the second pass: at most a quarter of the limit
        foreach (var a in new[] { CliProcess.Dll, "train", "--text", "/dev/stdin", "--save", "m.json" }) info.ArgumentList.Add(a);
        var p = Process.Start(info)!;
        var feed = Task.Run(() =>
        {
            var block = new byte[1 << 20];
            Array.Fill(block, (byte)'a');
            try { for (var k = 0; k < 20; k++) p.StandardInput.BaseStream.Write(block); p.StandardInput.Close(); }
            catch (IOException) { }   // the program stopped reading at the cap and closed the pipe
        });
        var r = CliProcess.Wait(p, "train --text /dev/stdin");
        await feed;
        Hostile.OneLine(r, 1, "--text '/dev/stdin' gave more than the limit of 8 MiB for a text to train on (up to 4 bytes of memory a byte from a pipe", "so reading stopped there");
        Assert.Empty(dir.Files());
    }

    /// <summary>Issue 18, rows 3 and 4: a 200 MB ONNX file, and a 100 MB one under a 64M limit, refused by size before a byte is read.</summary>
    [Fact]
    public void Onnx_files_over_the_cap_are_refused_by_size_and_the_limit_is_consulted()
    {
        using var dir = new TempFolder();
        using (var big = new FileStream(dir["big.onnx"], FileMode.Create)) big.SetLength(200L << 20);
        Hostile.OneLine(Hostile.Run("import", "--onnx", dir["big.onnx"], "--save", dir["m.json"]), 1,
            $"--onnx '{dir["big.onnx"]}' is 200 MiB, more than the limit of 16 MiB for a file");
        using (var mid = new FileStream(dir["mid.onnx"], FileMode.Create)) mid.SetLength(100L << 20);
        Hostile.OneLine(CliProcess.Run(dir.Path, Limit64M, "import", "--onnx", "mid.onnx", "--save", "m.json"), 1,
            "--onnx 'mid.onnx' is 100 MiB, more than the limit of 1 MiB for a file (a sixty-fourth of ALPHABET_LSTM_MAX_MEMORY, 64 MiB)");
        Assert.Equal(["big.onnx", "mid.onnx"], dir.Files());
    }

    // ---- import: memory, shapes, only loadable models -------------------------------------------

    private static byte[] EditOnnx(byte[] bytes, Action<ModelProto> edit)
    {
        var m = ModelProto.Parser.ParseFrom(bytes);
        edit(m);
        return m.ToByteArray();
    }

    /// <summary>Import asks the memory limit from the sizes the tensors declare, before decoding any (a small file can declare a huge W).</summary>
    [Fact]
    public void Import_refuses_declared_sizes_over_the_memory_limit_before_decoding()
    {
        using var dir = new TempFolder();
        var bytes = EditOnnx(Hostile.OnnxBytes(), m =>
        {
            var w = m.Graph.Initializer.First(t => t.Dims.Count == 3);
            w.Dims[1] = 4 * 30_000; w.Dims[2] = 30_000;   // 3.6e9 numbers declared, a few bytes given
        });
        File.WriteAllBytes(dir["huge.onnx"], bytes);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var line = Hostile.OneLine(Hostile.Run("import", "--onnx", dir["huge.onnx"], "--save", dir["m.json"]), 1,
            "(the sizes its tensors declare) would need about", "more than the limit of 1 GiB", "ALPHABET_LSTM_MAX_MEMORY");
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16 << 20, line);
        Assert.Equal(["huge.onnx"], dir.Files());
    }

    /// <summary>Issue 18, row 5: Transpose, then Squeeze of axis 7 on a rank-4 tensor, then Unsqueeze: the axis is checked against the rank.</summary>
    [Fact]
    public void A_squeeze_axis_outside_the_rank_is_refused_naming_node_axis_and_rank()
    {
        using var dir = new TempFolder();
        var bytes = EditOnnx(Hostile.OnnxBytes(), m =>
        {
            var lstm = m.Graph.Node.First(n => n.OpType == "LSTM");
            var y = lstm.Output[0] == "" ? "y_all" : lstm.Output[0];
            if (lstm.Output[0] == "") lstm.Output[0] = y;
            var at = m.Graph.Node.IndexOf(lstm) + 1;
            m.Graph.Initializer.Add(new TensorProto { Name = "axis7", DataType = (int)TensorProto.Types.DataType.Int64, Dims = { 1 }, Int64Data = { 7 } });
            m.Graph.Initializer.Add(new TensorProto { Name = "axis0", DataType = (int)TensorProto.Types.DataType.Int64, Dims = { 1 }, Int64Data = { 0 } });
            m.Graph.Node.Insert(at, new NodeProto { OpType = "Transpose", Name = "t", Input = { y }, Output = { "yt" }, Attribute = { new AttributeProto { Name = "perm", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 2, 0, 1, 3 } } } });
            m.Graph.Node.Insert(at + 1, new NodeProto { OpType = "Squeeze", Name = "s", Input = { "yt", "axis7" }, Output = { "ys" } });
            m.Graph.Node.Insert(at + 2, new NodeProto { OpType = "Unsqueeze", Name = "u", Input = { "ys", "axis0" }, Output = { "yu" } });
        });
        File.WriteAllBytes(dir["s.onnx"], bytes);
        Hostile.OneLine(Hostile.Run("import", "--onnx", dir["s.onnx"], "--save", dir["m.json"]), 1,
            "node 's' (Squeeze): axis 7 is outside a tensor of rank 4 (axes go from -4 to 3)");
        Assert.Equal(["s.onnx"], dir.Files());
    }

    /// <summary>Issue 22: import writes only what the loader predict uses accepts; a file it would refuse is never written.</summary>
    [Fact]
    public void Import_writes_only_model_files_the_loader_accepts()
    {
        using var dir = new TempFolder();
        // T = 2^31 − 1 in the metadata: the loader allows at most 100,000 time steps.
        var steps = EditOnnx(Hostile.OnnxBytes(), m => m.MetadataProps.Single(p => p.Key == "timeSteps").Value = "2147483647");
        File.WriteAllBytes(dir["t.onnx"], steps);
        Hostile.OneLine(Hostile.Run("import", "--onnx", dir["t.onnx"], "--save", dir["m.json"]), 1, $"--onnx '{dir["t.onnx"]}'", "2147483647");
        // A model whose file would pass the 1 MiB cap of a 64M limit: an ONNX of 0.4 MB gives a model file of about 2 MB.
        File.WriteAllBytes(dir["wide.onnx"], OnnxModel.Export(new RandomModels(seed: 3).Model(I: 26, H: 128, V: 26, T: 1)));
        var r = CliProcess.Run(dir.Path, Limit64M, "import", "--onnx", "wide.onnx", "--save", "m.json");
        Hostile.OneLine(r, 1, "--onnx 'wide.onnx': the model file would be", "more than the 1 MiB predict and generate read", "nothing was written");
        Assert.Equal(["t.onnx", "wide.onnx"], dir.Files());
        // Under the default limit the same file imports, and predict loads what was written.
        Assert.Equal(0, Hostile.Run("import", "--onnx", dir["wide.onnx"], "--save", dir["m.json"]).ExitCode);
        Assert.NotNull(ModelCommands.LoadModel(dir["m.json"]));
    }

    // ---- merge: counts and figures checked, naming part and field -------------------------------

    public static TheoryData<string, string> BadParts => new()
    {
        { "shard 0 of 0", "'{p}': shard: 0/0 is no shard; expected K/N with N ≥ 1 and 0 ≤ K < N" },
        { "shard -1 of -3", "'{p}': shard: -1/-3 is no shard" },
        { "accuracy 1.5", "'{p}': runs[0].accuracy: 1.5, expected a fraction from 0 to 1" },
        { "accuracy -inf", "'{p}': runs[0].accuracyHistory[0]: -Infinity, expected a fraction from 0 to 1" },
        { "loss +inf", "'{p}': runs[0].lossHistory[0]: Infinity, expected a finite number ≥ 0" },
        { "histories of different lengths", "'{p}': runs[0].accuracyHistory: 2 entries, but lossHistory has 1" },
        { "a million-epoch history", "'{p}': runs[0].lossHistory: 20,000 entries, expected 1 to 1 (one per epoch kept, at most 10,001)" },
    };

    /// <summary>Issue 18 rows 8 and 10, issue 22's ranges: a part out of range is refused naming part and field, and nothing is written, no picture either.</summary>
    [Theory]
    [MemberData(nameof(BadParts))]
    public void Merge_refuses_a_part_with_counts_or_figures_out_of_range(string damage, string expected)
    {
        using var dir = new TempFolder();
        var p = Hostile.Parts(dir, 1)[0];
        Hostile.Edit(p, root =>
        {
            var run = root["runs"]![0]!.AsObject();
            switch (damage)
            {
                case "shard 0 of 0": root["shard"] = new JsonObject { ["index"] = 0, ["count"] = 0, ["wallSeconds"] = 1.0 }; break;
                case "shard -1 of -3": root["shard"] = new JsonObject { ["index"] = -1, ["count"] = -3, ["wallSeconds"] = 1.0 }; break;
                case "accuracy 1.5": run["accuracy"] = 1.5; break;
                // JSON has no infinity, but a number past double's range reads as one: written below as ±1e999.
                case "accuracy -inf": run["accuracyHistory"]![0] = JsonValue.Create("MINUSINFINITY"); break;
                case "loss +inf": run["lossHistory"]![0] = JsonValue.Create("PLUSINFINITY"); break;
                case "histories of different lengths": run["accuracyHistory"]!.AsArray().Add(0.5); break;
                default:
                    run["lossHistory"] = new JsonArray(Enumerable.Range(0, 20_000).Select(_ => (JsonNode)JsonValue.Create(1.0)).ToArray());
                    run["accuracyHistory"] = new JsonArray(Enumerable.Range(0, 20_000).Select(_ => (JsonNode)JsonValue.Create(0.5)).ToArray());
                    break;
            }
        });
        File.WriteAllText(p, File.ReadAllText(p).Replace("\"MINUSINFINITY\"", "-1e999").Replace("\"PLUSINFINITY\"", "1e999"));
        var before = Hostile.Snapshot(dir);
        Hostile.OneLine(Hostile.Run("merge", p, "--json", dir["merged.json"], "--out", dir["out"]), 1, expected.Replace("{p}", p));
        Assert.Equal(before, Hostile.Snapshot(dir));
        Assert.False(Directory.Exists(dir["out"]));
    }

    /// <summary>Issue 18, row 9: a stateful part whose hidden-state trace is ragged is refused before a picture indexes it.</summary>
    [Fact]
    public void Merge_refuses_a_ragged_hidden_state_trace_naming_the_row()
    {
        using var dir = new TempFolder();
        var p = dir["stateful.json"];
        Assert.Equal(0, Hostile.Run("experiment", "stateful", "--epochs", "1", "--units", "4", "--quiet", "--json", p).ExitCode);
        Hostile.Edit(p, root => root["runs"]![0]!["traces"]!["fromK"]!["hidden"]![2]!.AsArray().RemoveAt(0));
        Hostile.OneLine(Hostile.Run("merge", p, "--out", dir["out"]), 1,
            $"'{p}': runs[0].traces.fromK.hidden[2]: 3 numbers, expected 4 (the run's units): the trace must be rectangular");
        Assert.Equal(["stateful.json"], dir.Files());
    }

    /// <summary>Merge's largest accepted input under a small limit: the parts share one budget, so two parts each under the cap are refused together.</summary>
    [Fact]
    public void Merge_parts_share_one_read_budget_under_the_memory_limit()
    {
        using var dir = new TempFolder();
        var parts = Hostile.Parts(dir, 2);
        // Each part padded to 0.6 MiB (a long run name is not needed: whitespace is valid JSON): each is under the 1 MiB cap, both are not.
        foreach (var part in parts) File.AppendAllText(part, new string(' ', 600 << 10));
        var r = CliProcess.Run(dir.Path, Limit64M, "merge", "p0.json", "p1.json", "--json", "merged.json");
        Hostile.OneLine(r, 1, "part 'p1.json' is 604 KiB, more than the limit of", "for the parts together (a sixty-fourth of ALPHABET_LSTM_MAX_MEMORY, 64 MiB; the earlier parts used");
        Assert.Equal(["p0.json", "p1.json"], dir.Files());
        // Twice the limit doubles the budget: both parts fit, and merge.
        var both = CliProcess.Run(dir.Path, new Dictionary<string, string> { ["ALPHABET_LSTM_MAX_MEMORY"] = "128M" }, "merge", "p0.json", "p1.json", "--json", "merged.json");
        Assert.True(both.ExitCode == 0, both.Stderr);
    }

    // ---- messages: the user's number, escaped text ----------------------------------------------

    /// <summary>Issue 22: overflowed numbers in messages; the user's number is printed.</summary>
    [Fact]
    public void Messages_print_the_users_number_never_an_overflowed_one()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["t.txt"], Hostile.Text);
        Hostile.OneLine(Hostile.Run("train", "--text", dir["t.txt"], "--save", dir["m.json"], "--window", "2147483647"), 1,
            "a window of 2147483647 needs at least 2147483648");
        Hostile.OneLine(Hostile.Run("bench", "--text", "2147483647x1x1x1", "--experiments", "none", "--grid", "none"), 2,
            "--text '2147483647x1x1x1': CHARS must be 1..100,000,000");
        Assert.Equal(["t.txt"], dir.Files());
    }

    /// <summary>Issue 22: control characters from an argument or a file never reach the terminal raw; a newline shows as \n.</summary>
    [Fact]
    public void Control_characters_reach_the_terminal_escaped()
    {
        using var dir = new TempFolder();
        var unknown = Hostile.Run("fr\u001b]0;owned\u0007ob");
        Assert.Contains("unknown command 'fr\\e]0;owned\\x07ob'", Hostile.OneLine(unknown, 2));
        var model = Hostile.Run("predict", "--model", dir["m\u001b[2J.json"], "--sequence", "A");
        Hostile.OneLine(model, 1, "m\\e[2J.json': no such file");
        // A newline in --start is shown as \n, not as a space.
        File.WriteAllText(dir["alphabet.json"], Hostile.AlphabetModelText());
        var start = Hostile.Run("generate", "--model", dir["alphabet.json"], "--start", "A\nB", "--steps", "1");
        Hostile.OneLine(start, 2, "--start expects one letter A..Z, got 'A\\nB'");
        Assert.DoesNotContain('\u001b', unknown.Stderr + model.Stderr);
        Assert.DoesNotContain('\u0007', unknown.Stderr);
    }

    /// <summary>Issue 22: a shard's strings (its predictions) reach report.md and the terminal escaped.</summary>
    [Fact]
    public void A_parts_strings_reach_the_report_escaped()
    {
        using var dir = new TempFolder();
        var p = Hostile.Parts(dir, 1)[0];
        Hostile.Edit(p, root =>
        {
            var prediction = root["runs"]![0]!["predictions"]![0]!.AsObject();
            prediction["input"] = "A\u001b]2;owned\u0007";
            prediction["predicted"] = "\u001b[2J";
        });
        var r = Hostile.Run("merge", p, "--out", dir["out"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var report = File.ReadAllText(dir["out/report.md"]);
        Assert.DoesNotContain('\u001b', report);
        Assert.DoesNotContain('\u001b', r.Stdout + r.Stderr);
        Assert.Contains("A\\e]2;owned\\x07", report);
    }

    [Theory]
    [InlineData("plain text", "plain text")]
    [InlineData("a\u001bb", "a\\eb")]
    [InlineData("line\nbreak\r", "line\\nbreak\\r")]
    [InlineData("bell\u0007", "bell\\x07")]
    [InlineData("c1\u009b", "c1\\x9b")]
    [InlineData("bidi\u202e", "bidi\\u202e")]
    [InlineData("back\\slash", "back\\slash")]
    public void Escape_shows_every_control_character_as_an_escape(string text, string shown) => Assert.Equal(shown, Display.Escape(text));
}
