using System.Text;

namespace AlphabetLstm.Cli;

/// <summary>
/// Writes files so that a crash never leaves a half-written one: the bytes go to a temporary file
/// in the same folder, are flushed to disk, and the temporary file is renamed over the target.
/// </summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string text) => WriteAllBytes(path, new UTF8Encoding(false).GetBytes(text));

    public static void WriteAllBytes(string path, byte[] bytes)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full) ?? ".";
        var temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            Directory.CreateDirectory(dir);   // folders are made only when a file is written into them
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            throw new FailureException($"cannot write '{path}': {e.Message}");
        }
    }

    /// <summary>
    /// Fails with a one-line error unless <paramref name="dir"/> is a writable folder or could be
    /// created as one. Nothing is left behind: a missing folder is not created here (it is made when
    /// a file is written into it); the nearest existing ancestor is probed instead.
    /// </summary>
    public static void EnsureWritableFolder(string dir, string what)
    {
        try
        {
            var full = Path.GetFullPath(dir);
            if (File.Exists(full)) throw new IOException("it is a file");
            var existing = full;
            while (!Directory.Exists(existing))
            {
                if (File.Exists(existing)) throw new IOException($"'{existing}' is a file");
                existing = Path.GetDirectoryName(existing) ?? throw new IOException("no part of the path exists");
            }
            var probe = Path.Combine(existing, $".write-test.{Environment.ProcessId}.tmp");
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new FailureException($"{what} '{dir}' is not a writable folder: {e.Message}");
        }
    }

    /// <summary>Fails with a one-line error unless the folder that will hold <paramref name="file"/> is writable.</summary>
    public static void EnsureWritableFileTarget(string file, string what)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(file)) ?? ".";
        if (Directory.Exists(file))
            throw new FailureException($"{what} '{file}' is a folder, expected a file name");
        EnsureWritableFolder(dir, $"the folder for {what}");
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
