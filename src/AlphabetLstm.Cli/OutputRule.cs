namespace AlphabetLstm.Cli;

/// <summary>
/// The one rule for outputs: before a command computes or writes anything, every file it will
/// write is compared with every file it reads, or that the run it continues reads (a checkpoint's
/// text, a merge's parts, an import's source), and one that is the same file is refused, naming
/// both. "The same file" is decided after resolving links, <c>.</c> and <c>..</c> as the kernel
/// does, and, when both exist, by device and inode (so a hard link is caught too).
/// </summary>
public static class OutputRule
{
    /// <summary>A file a command writes or reads, with the option (or role) that names it; a null path is absent.</summary>
    public readonly record struct Named(string Option, string? Path);

    /// <summary>
    /// Refuses, with one line naming both, any output that is one of the inputs or another output. Every command with an
    /// output calls this once, with all its outputs and inputs, before it does any work.
    /// </summary>
    public static void Guard(IEnumerable<Named> outputs, IEnumerable<Named> inputs)
    {
        var ins = inputs.Where(i => i.Path is not null).ToList();
        var outs = outputs.Where(o => o.Path is not null).ToList();
        // Two outputs of one command on one file: the second would overwrite the first (a --json over the --save model).
        for (var a = 0; a < outs.Count; a++)
            for (var b = a + 1; b < outs.Count; b++)
                if (SameFile(Path.GetFullPath(outs[a].Path!), Path.GetFullPath(outs[b].Path!)))
                    throw new FailureException(
                        $"{outs[b].Option} '{Display.Escape(outs[b].Path!)}' is the file {outs[a].Option} writes"
                        + (SamePath(outs[a].Path!, outs[b].Path!) ? "" : $" ('{Display.Escape(outs[a].Path!)}')")
                        + "; choose another file, so one output does not overwrite the other");
        foreach (var output in outs)
        {
            if (output.Path is null) continue;
            // Outputs are written where AtomicFile writes them: the lexically normalised full path.
            var written = Path.GetFullPath(output.Path);
            foreach (var input in ins)
                if (SameFile(written, input.Path!))
                    throw new FailureException(
                        $"{output.Option} '{Display.Escape(output.Path)}' is the file {input.Option} reads"
                        + (SamePath(output.Path, input.Path!) ? "" : $" ('{Display.Escape(input.Path!)}')")
                        + "; choose another file, so the input is not overwritten");
        }
    }

    /// <summary>Whether two paths name the same file: the same resolved path, or (both existing) the same device and inode.</summary>
    public static bool SameFile(string a, string b)
    {
        if (string.Equals(Resolve(a), Resolve(b), StringComparison.Ordinal)) return true;
        return Posix.Stat(a) is { } x && Posix.Stat(b) is { } y && x.Device == y.Device && x.Inode == y.Inode;
    }

    private static bool SamePath(string a, string b) => string.Equals(a, b, StringComparison.Ordinal);

    /// <summary>
    /// The absolute path with links, <c>.</c> and <c>..</c> resolved as the kernel resolves them; for a
    /// path that does not exist yet, its nearest existing folder resolved and the rest appended.
    /// </summary>
    public static string Resolve(string path)
    {
        if (!OperatingSystem.IsLinux()) return Path.GetFullPath(path);
        var absolute = Path.IsPathRooted(path) ? path : Environment.CurrentDirectory.TrimEnd('/') + "/" + path;
        return ResolveAbsolute(absolute, 0);
    }

    private static string ResolveAbsolute(string absolute, int depth)
    {
        if (Posix.RealPath(absolute) is { } real) return real;
        var trimmed = absolute.TrimEnd('/');
        var cut = trimmed.LastIndexOf('/');
        if (cut <= 0 || depth > 256) return Path.GetFullPath(absolute);
        var parent = ResolveAbsolute(trimmed[..cut], depth + 1);
        return Path.GetFullPath(Path.Combine(parent, trimmed[(cut + 1)..]));
    }
}
