using System.Text.RegularExpressions;

namespace AlphabetLstm.Cli.Tests;

/// <summary>
/// What the sweep tests compare, experiment or text: outputs with their timings masked (the only
/// figures that change from run to run), and a folder's files as text (pictures as base64).
/// </summary>
public static partial class SweepFiles
{
    [GeneratedRegex(@"""(trainSeconds|wallSeconds)"": [0-9.E+-]+")]
    private static partial Regex JsonTiming();

    [GeneratedRegex(@"(?m)\| [0-9.]+ \|$|total wall time [0-9.]+ s.*$")]
    private static partial Regex TextTiming();

    public static string Untimed(string text) => TextTiming().Replace(JsonTiming().Replace(text, "\"$1\": T"), "T");

    public static Dictionary<string, string> Folder(string dir) =>
        Directory.GetFiles(dir).ToDictionary(
            f => Path.GetFileName(f),
            f => f.EndsWith(".png") ? Convert.ToBase64String(File.ReadAllBytes(f)) : Untimed(File.ReadAllText(f)));

    /// <summary>A folder with a small text of 1,800 characters (28 distinct) as fox.txt.</summary>
    public static TempFolder WithText(string name = "fox.txt", string sentence = "the quick brown fox jumps over the lazy dog. ")
    {
        var dir = new TempFolder();
        File.WriteAllText(dir[name], string.Concat(Enumerable.Repeat(sentence, 1800 / sentence.Length)));
        return dir;
    }

    public static CliResult Ok(string dir, params string[] args)
    {
        var r = CliProcess.Run(dir, args);
        Assert.True(r.ExitCode == 0, r.Stderr);
        return r;
    }
}
