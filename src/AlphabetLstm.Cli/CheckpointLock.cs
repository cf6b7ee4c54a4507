
namespace AlphabetLstm.Cli;

/// <summary>
/// One writer per checkpoint folder: an exclusive OS lock on <c>DIR/.lock</c> (a FileStream opened
/// with <see cref="FileShare.None"/>, which .NET turns into <c>flock</c> on Unix), held open for the
/// whole run. The holder's process id goes into <c>DIR/.lock.owner</c> so a refused second writer
/// can name it. The OS drops the lock when the process ends, however it ends, so a lock left by a
/// killed run never blocks the next. A run that ends removes both files.
/// </summary>
public sealed class CheckpointLock : IDisposable
{
    public const string LockFileName = ".lock";
    public const string OwnerFileName = ".lock.owner";

    private readonly FileStream _stream;
    private readonly string _dir;

    private CheckpointLock(FileStream stream, string dir)
    {
        _stream = stream;
        _dir = dir;
    }

    /// <summary>Takes the folder's lock (creating the folder if needed), or fails at once naming the process that holds it.</summary>
    public static CheckpointLock Acquire(string dir, string command)
    {
        try
        {
            Directory.CreateDirectory(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new FailureException($"--checkpoint '{dir}' is not a writable folder: {e.Message}");
        }
        var lockPath = Path.Combine(dir, LockFileName);
        FileStream stream;
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                stream = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (UnauthorizedAccessException e)
            {
                throw new FailureException($"cannot lock the checkpoint folder '{dir}': {e.Message}");
            }
            catch (IOException)
            {
                var owner = ReadOwner(dir);
                throw new FailureException(
                    $"the checkpoint folder '{dir}' is in use by {owner ?? "another process"} (it holds {lockPath}); "
                    + "only one train or resume may write a checkpoint folder at a time: wait for it to end or stop it");
            }
            // The holder removes the lock file when it ends: if it did so between our open and our
            // lock, we hold a file no one else will open, so open the path again.
            if (Safety.SameFile(lockPath, $"/proc/self/fd/{stream.SafeFileHandle.DangerousGetHandle()}") || !OperatingSystem.IsLinux() || attempt == 5) break;
            stream.Dispose();
        }
        try
        {
            File.WriteAllText(Path.Combine(dir, OwnerFileName),
                $"process {Environment.ProcessId.ToString(CultureInfo.InvariantCulture)} (alphabet-lstm {command})\n");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stream.Dispose();
            throw new FailureException($"cannot write to the checkpoint folder '{dir}': {e.Message}");
        }
        return new CheckpointLock(stream, dir);
    }

    private static string? ReadOwner(string dir)
    {
        try
        {
            var text = InputFile.ReadText(Path.Combine(dir, OwnerFileName), "the lock's owner file", new InputFile.Cap(200, "for a lock's owner file")).Trim();
            return text.Length is > 0 and < 200 && text.StartsWith("process ", StringComparison.Ordinal) ? Display.Escape(text) : null;
        }
        catch (FailureException)
        {
            return null;
        }
    }

    /// <summary>Whether <paramref name="path"/> is one of the lock's own files in <paramref name="dir"/>.</summary>
    public static bool IsLockFile(string dir, string path) =>
        Safety.SameFile(path, Path.Combine(dir, LockFileName)) || Safety.SameFile(path, Path.Combine(dir, OwnerFileName));

    /// <summary>
    /// Releases the lock and removes the lock files (a later writer opens a fresh one, and checks it
    /// locked the file the path names); when <paramref name="removeFolder"/>, also the folder if nothing else is in it.
    /// </summary>
    public void Release(bool removeFolder)
    {
        TryDelete(Path.Combine(_dir, OwnerFileName));
        TryDelete(Path.Combine(_dir, LockFileName));
        _stream.Dispose();
        if (removeFolder)
        {
            try { if (!Directory.EnumerateFileSystemEntries(_dir).Any()) Directory.Delete(_dir); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    public void Dispose() => Release(removeFolder: false);

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
