using Microsoft.Win32.SafeHandles;

namespace AlphabetLstm.Cli;

/// <summary>
/// The one way the shell reads a file: model, inputs, state, checkpoint, text, ONNX and results or
/// shard JSON all come through <see cref="ReadBytes"/>. Before opening, a device or a socket is
/// refused (reading /dev/zero never ends); the open itself never blocks (a FIFO nobody writes to
/// opens at once and reads as its end); and the bytes are counted as they arrive and refused past
/// the cap (by default a sixty-fourth of the memory limit), so a pipe, /dev/stdin or a file growing
/// while read cannot make the program hold more. Every refusal is one line naming the file.
/// </summary>
public static class InputFile
{
    /// <summary>Why a file is capped where it is, for the refusal's message.</summary>
    public sealed record Cap(long Bytes, string Reason);

    /// <summary>The cap on every file but a training text: <see cref="Safety.MaxFileBytes"/>.</summary>
    public static Cap Default => new(Safety.MaxFileBytes,
        $"for a file (a sixty-fourth of {Safety.MaxMemoryVariable}, {Memory.Describe(Safety.MaxMemory)})");

    /// <summary>Reads a whole file as text: UTF-8 unless a byte-order mark says UTF-16.</summary>
    public static string ReadText(string path, string what, Cap? cap = null) => Decode(ReadBytes(path, what, cap));

    /// <summary>Reads a whole file, or fails with one line naming <paramref name="what"/> and the path.</summary>
    public static byte[] ReadBytes(string path, string what, Cap? cap = null)
    {
        var limit = cap ?? Default;
        var shown = $"{what} '{Display.Escape(path)}'";
        if (path.Length == 0) throw new FailureException($"{what}: the file name is empty");
        if (Posix.Stat(path) is { } before)
        {
            Refuse(before.Kind, shown);
            if (before.Kind == Posix.Kind.Regular && before.Size > limit.Bytes) throw TooLarge(shown, before.Size, limit);
        }
        else if (Directory.Exists(path)) throw new FailureException($"{shown} is a folder, expected a file");
        else if (!File.Exists(path) && OperatingSystem.IsLinux()) throw new FailureException($"{shown}: no such file");

        using var stream = Open(path, shown, out var kind);
        try
        {
            var known = stream.CanSeek ? stream.Length : -1;
            if (known > limit.Bytes) throw TooLarge(shown, known, limit);
            // The announced size plus one byte (a growing file shows itself); unknown sizes grow by doubling, up to the cap.
            var bytes = new byte[known >= 0 ? known + 1 : Math.Min(1 << 16, limit.Bytes + 1)];
            var count = 0;
            while (true)
            {
                if (count == bytes.Length)
                {
                    if (count > limit.Bytes) throw TooLarge(shown, null, limit);
                    Array.Resize(ref bytes, (int)Math.Min(limit.Bytes + 1, 2L * bytes.Length));
                }
                var n = stream.Read(bytes, count, bytes.Length - count);
                if (n == 0) break;
                count += n;
            }
            if (count > limit.Bytes) throw TooLarge(shown, null, limit);
            if (count == 0 && kind == Posix.Kind.Fifo)
                throw new FailureException($"{shown} is a pipe (FIFO) that gave no bytes: no program was writing to it");
            return bytes.AsSpan(0, count).ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FailureException($"{shown} cannot be read: {e.Message}");
        }
    }

    /// <summary>
    /// Opens a file to read in pieces, with the same checks as <see cref="ReadBytes"/> (no device, no
    /// socket, no blocking open, the size checked first) and a stream that fails past the cap.
    /// <paramref name="regular"/> says whether the file can be read a second time (a pipe cannot).
    /// </summary>
    public static Stream ReadInBlocks(string path, string what, Cap cap, out bool regular)
    {
        var shown = $"{what} '{Display.Escape(path)}'";
        if (path.Length == 0) throw new FailureException($"{what}: the file name is empty");
        if (Posix.Stat(path) is { } before)
        {
            Refuse(before.Kind, shown);
            if (before.Kind == Posix.Kind.Regular && before.Size > cap.Bytes) throw TooLarge(shown, before.Size, cap);
        }
        else if (Directory.Exists(path)) throw new FailureException($"{shown} is a folder, expected a file");
        else if (!File.Exists(path) && OperatingSystem.IsLinux()) throw new FailureException($"{shown}: no such file");
        var stream = Open(path, shown, out var kind);
        regular = kind == Posix.Kind.Regular && stream.CanSeek;
        if (regular && stream.Length > cap.Bytes)
        {
            stream.Dispose();
            throw TooLarge(shown, stream.Length, cap);
        }
        return new Counted(stream, shown, cap);
    }

    /// <summary>A read-only stream that fails with one line once more than the cap has been read.</summary>
    private sealed class Counted(Stream inner, string shown, Cap cap) : Stream
    {
        private long _read;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override int Read(byte[] buffer, int offset, int count)
        {
            int n;
            try { n = inner.Read(buffer, offset, count); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new FailureException($"{shown} cannot be read: {e.Message}");
            }
            _read += n;
            if (_read > cap.Bytes) throw TooLarge(shown, null, cap);
            return n;
        }
        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }

    private static FileStream Open(string path, string shown, out Posix.Kind kind)
    {
        kind = Posix.Kind.Regular;
        if (!OperatingSystem.IsLinux())
        {
            try { return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new FailureException($"{shown} cannot be read: {e.Message}");
            }
        }
        var (fd, errno) = Posix.OpenForReading(path);
        if (fd < 0)
            throw new FailureException(errno switch
            {
                Posix.NoSuchFile or Posix.NotDirectory => $"{shown}: no such file",
                Posix.AccessDenied => $"{shown} cannot be read: permission denied",
                Posix.IsDirectory => $"{shown} is a folder, expected a file",
                Posix.TooManyLinks => $"{shown} cannot be read: too many levels of symbolic links",
                Posix.NoDevice => $"{shown} is a socket or a device without a reader, not a regular file",
                _ => $"{shown} cannot be read (error {errno})",
            });
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        // Checked again on what was opened: the path may have been swapped between the check and the open.
        var opened = Posix.Stat(fd);
        try
        {
            if (opened is { } st)
            {
                Refuse(st.Kind, shown);
                kind = st.Kind;
            }
            return new FileStream(handle, FileAccess.Read, 1);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static void Refuse(Posix.Kind kind, string shown)
    {
        var what = kind switch
        {
            Posix.Kind.Directory => null,
            Posix.Kind.CharacterDevice => "a character device",
            Posix.Kind.BlockDevice => "a block device",
            Posix.Kind.Socket => "a socket",
            Posix.Kind.Other => "a special file",
            _ => "",
        };
        if (what is null) throw new FailureException($"{shown} is a folder, expected a file");
        if (what.Length > 0) throw new FailureException($"{shown} is {what}, not a regular file: expected a file (devices and sockets are never read)");
    }

    private static FailureException TooLarge(string shown, long? size, Cap cap) =>
        new((size is { } s ? $"{shown} is {Memory.Describe(s)}, more than the limit of {Memory.Describe(cap.Bytes)} {cap.Reason}"
                           : $"{shown} gave more than the limit of {Memory.Describe(cap.Bytes)} {cap.Reason}, so reading stopped there")
            + $"; raise {Safety.MaxMemoryVariable} to read it");

    /// <summary>Text as File.ReadAllText reads it: UTF-8 unless a byte-order mark says UTF-16.</summary>
    public static string Decode(ReadOnlySpan<byte> bytes) =>
        bytes.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? System.Text.Encoding.UTF8.GetString(bytes[3..])
        : bytes.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE]) ? System.Text.Encoding.Unicode.GetString(bytes[2..])
        : bytes.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]) ? System.Text.Encoding.BigEndianUnicode.GetString(bytes[2..])
        : System.Text.Encoding.UTF8.GetString(bytes);
}
