using System.Diagnostics;
using System.Text.Json.Nodes;
using AlphabetLstm.Core;
using AlphabetLstm.Onnx;

namespace AlphabetLstm.Cli.Tests;

/// <summary>What the hostile-input tests share: the CLI run in-process, one-line checks, and small valid files to damage.</summary>
public static class Hostile
{
    /// <summary>The CLI run inside the test process (<see cref="CliProcess.InProcess"/>, taking turns with the other in-process runs); paths should be absolute.</summary>
    public static CliResult Run(params string[] args) => CliProcess.InProcess(Path.GetTempPath(), args);

    /// <summary>The one error line, after checking the exit code, that it is the only line on stderr, and that it holds every fragment.</summary>
    public static string OneLine(CliResult r, int exit, params string[] fragments)
    {
        CliProcess.AssertCleanError(r, exit, fragments);
        return r.Stderr.TrimEnd('\n');
    }

    /// <summary>A small model file (features encoding, I = 1, T = 1, H = 3, V = 4): predict --inputs reads [[[x]]].</summary>
    public static string ModelText() => new RandomModels(seed: 5).Model(I: 1, H: 3, V: 4, T: 1).Serialize();

    /// <summary>A small alphabet model that reads one letter a step (generate's alphabet path).</summary>
    public static string AlphabetModelText() =>
        new SavedModel(Vocabulary.Alphabet, InputSpec.Create(1, 1, SymbolEncoding.Index, false, false), new RandomModels(seed: 6).Parameters(1, 3, 26), Precision.Float64).Serialize();

    /// <summary>Our own export of a small model, as ONNX bytes.</summary>
    public static byte[] OnnxBytes() => OnnxModel.Export(new RandomModels(seed: 9).Model(I: 2, H: 3, V: 4, T: 2));

    /// <summary>A text small enough to train on in a blink.</summary>
    public const string Text = "the cat sat on the mat. the dog sat on the log.\n";

    /// <summary>Writes shard parts 0..n−1 of a one-epoch one-char run with n seeds into <paramref name="dir"/>; returns their paths.</summary>
    public static string[] Parts(TempFolder dir, int n)
    {
        var paths = Enumerable.Range(0, n).Select(k => dir[$"p{k}.json"]).ToArray();
        for (var k = 0; k < n; k++)
        {
            var r = Run("experiment", "one-char", "--seeds", $"{n}", "--epochs", "1", "--quiet", "--jobs", "1", "--shard", $"{k}/{n}", "--json", paths[k]);
            Assert.True(r.ExitCode == 0, r.Stderr);
        }
        return paths;
    }

    /// <summary>A results or shard file with one change to its JSON.</summary>
    public static void Edit(string path, Action<JsonObject> change)
    {
        var root = (JsonObject)JsonNode.Parse(File.ReadAllText(path))!;
        change(root);
        File.WriteAllText(path, root.ToJsonString());
    }

    /// <summary>Makes a FIFO (named pipe) at <paramref name="path"/> with mkfifo.</summary>
    public static void MakeFifo(string path)
    {
        using var p = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false })!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    /// <summary>Makes a hard link <paramref name="link"/> to <paramref name="target"/> with ln.</summary>
    public static void HardLink(string target, string link)
    {
        using var p = Process.Start(new ProcessStartInfo("ln", [target, link]) { UseShellExecute = false })!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    /// <summary>The files of a folder with their bytes, to show a refused command changed nothing (FIFOs and links to devices, named fifo* and dev*, left out).</summary>
    public static Dictionary<string, string> Snapshot(TempFolder dir) =>
        dir.Files().Where(f => !Path.GetFileName(f).StartsWith("fifo", StringComparison.Ordinal) && !Path.GetFileName(f).StartsWith("dev", StringComparison.Ordinal))
           .ToDictionary(f => f, f => Convert.ToBase64String(File.ReadAllBytes(dir[f])));
}
