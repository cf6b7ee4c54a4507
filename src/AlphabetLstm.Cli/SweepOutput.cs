namespace AlphabetLstm.Cli;

/// <summary>
/// The steps every sweep's output takes, run or merge, experiment or text: the targets checked before
/// anything trains or is joined, then the table on stdout, the JSON and the <c>--out</c> folder.
/// </summary>
public static class SweepOutput
{
    /// <summary>Checks that <c>--json</c> and <c>--out</c> can be written (and warns when pictures cannot be drawn), before any work.</summary>
    public static void Prepare(string? jsonFile, string? outDir, TextWriter stdout)
    {
        if (jsonFile is not null) AtomicFile.EnsureWritableFileTarget(jsonFile, "--json");
        if (outDir is not null)
        {
            AtomicFile.EnsureWritableFolder(outDir, "--out");
            if (Plots.Preflight() is { } warning) stdout.WriteLine($"warning: {warning}");
        }
    }

    /// <summary>The table on stdout, then the JSON (written whole or not at all) and the folder's files, each named as written.</summary>
    public static int Finish(string markdown, string? jsonFile, Func<string> json, string? outDir, Func<string, IEnumerable<string>> writeFolder, TextWriter stdout)
    {
        stdout.Write(markdown);
        if (jsonFile is not null)
        {
            AtomicFile.WriteAllText(jsonFile, json());
            stdout.WriteLine($"wrote {Display.Escape(jsonFile)}");
        }
        if (outDir is not null)
            foreach (var written in writeFolder(outDir))
                stdout.WriteLine($"wrote {Display.Escape(written)}");
        return ExitCodes.Ok;
    }

    /// <summary>A merged sweep's wall time: the sum of its shards' (a part without one counts 0), and the note that says so.</summary>
    public static (double Seconds, string Note) ShardsWall(IEnumerable<ResultsJson.ShardDto?> shards)
    {
        var list = shards.ToList();
        return (list.Sum(s => s?.WallSeconds ?? 0), $" (the sum of {list.Count} shards' wall times)");
    }
}
