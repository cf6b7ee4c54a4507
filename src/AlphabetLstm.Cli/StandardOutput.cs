using Microsoft.Win32.SafeHandles;

namespace AlphabetLstm.Cli;

/// <summary>
/// A long stream of output (generate's text) written with bounded memory, that stops when its reader
/// goes away. .NET's console writer drops the error of a write to a closed pipe, so
/// <c>generate --steps 100000000 | head -c 10</c> would compute every step for nobody; here the
/// process's standard output is written through its own descriptor, a block at a time, and a closed
/// pipe (EPIPE) ends the command with the shell's SIGPIPE convention: exit 141, nothing printed.
/// Any other writer (a test's StringWriter) is written as it is.
/// </summary>
public static class StandardOutput
{
    /// <summary>The exit code of a command whose output pipe was closed by its reader: 128 + SIGPIPE (13).</summary>
    public const int ClosedPipe = 141;

    /// <summary>Characters held before they are written: the output's whole memory cost.</summary>
    public const int BufferCharacters = 4096;

    /// <summary>Thrown when the reader of standard output has gone away; <c>Cli.Run</c> turns it into exit 141, silently.</summary>
    public sealed class ClosedException() : Exception("standard output was closed by its reader");

    private const int EPipe = 32;

    /// <summary>
    /// A writer for a long output to <paramref name="stdout"/>: for the process's console on a pipe, a
    /// buffered writer on descriptor 1 that throws <see cref="ClosedException"/> once the pipe is closed; otherwise
    /// <paramref name="stdout"/> itself, left open when the returned writer is disposed.
    /// </summary>
    public static Writer Open(TextWriter stdout)
    {
        // Only a pipe or socket can close under us. A file or terminal keeps the console's writer: a
        // FileStream would write a seekable descriptor at its own position, not the shared offset.
        if (!ReferenceEquals(stdout, Console.Out) || Posix.Stat(1)?.Kind is not (Posix.Kind.Fifo or Posix.Kind.Socket))
            return new Writer(stdout, owned: false);
        var handle = new SafeFileHandle(1, ownsHandle: false);
        var stream = new FileStream(handle, FileAccess.Write, bufferSize: 0);
        var writer = new StreamWriter(stream, new System.Text.UTF8Encoding(false), BufferCharacters) { AutoFlush = false };
        return new Writer(writer, owned: true);
    }

    /// <summary>Writes pieces, a buffer at a time; a closed pipe becomes <see cref="ClosedException"/>.</summary>
    public sealed class Writer(TextWriter inner, bool owned) : IDisposable
    {
        private int _pending;

        /// <summary>Adds <paramref name="text"/>, written once a buffer's worth has gathered.</summary>
        public void Write(string text)
        {
            Guarded(() => inner.Write(text));
            _pending += text.Length;
            if (_pending >= BufferCharacters) Flush();
        }

        /// <summary>Ends the line and writes everything still held.</summary>
        public void WriteLine()
        {
            Guarded(inner.WriteLine);
            Flush();
        }

        /// <summary>Writes everything still held.</summary>
        public void Flush()
        {
            Guarded(inner.Flush);
            _pending = 0;
        }

        /// <summary>Closes the descriptor's writer (never the descriptor itself) without writing what a closed pipe refused.</summary>
        public void Dispose()
        {
            if (!owned) return;
            try { inner.Dispose(); }
            catch (IOException) { }
        }

        private static void Guarded(Action write)
        {
            try { write(); }
            catch (IOException e) when (e.HResult == EPipe || e.Message.Contains("Broken pipe", StringComparison.Ordinal))
            {
                throw new ClosedException();
            }
        }
    }
}
