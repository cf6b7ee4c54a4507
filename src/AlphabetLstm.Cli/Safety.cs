using System.Runtime.InteropServices;
using System.Text;

namespace AlphabetLstm.Cli;

/// <summary>
/// The limits the shell enforces before it allocates: the memory a command may plan to use (the
/// core's <see cref="Memory"/> estimates compared with <c>ALPHABET_LSTM_MAX_MEMORY</c>, default 1 GiB)
/// and the size of any file it reads (a sixty-fourth of that: 16 MiB by default, since parsing JSON
/// costs many times the text's size).
/// </summary>
public static class Safety
{
    /// <summary>The environment variable that raises (or lowers) the memory limit: bytes, or a number with K, M, G or T.</summary>
    public const string MaxMemoryVariable = "ALPHABET_LSTM_MAX_MEMORY";

    /// <summary>The default memory limit: 1 GiB.</summary>
    public const long DefaultMaxMemory = 1L << 30;

    /// <summary>A file may be at most this fraction of the memory limit.</summary>
    public const long FileFraction = 64;


    /// <summary>The memory limit in bytes, from <see cref="MaxMemoryVariable"/> (a bad value is a usage error).</summary>
    public static long MaxMemory
    {
        get
        {
            var text = Environment.GetEnvironmentVariable(MaxMemoryVariable);
            if (string.IsNullOrWhiteSpace(text)) return DefaultMaxMemory;
            return ParseSize(text.Trim()) ?? throw new UsageException(
                $"{MaxMemoryVariable}: expected a size in bytes from 1M to 1024T, optionally with K, M, G or T (e.g. 4G), got '{Clip(text)}'");
        }
    }

    /// <summary>The largest file the CLI reads: the memory limit / 64.</summary>
    public static long MaxFileBytes => MaxMemory / FileFraction;

    private static long? ParseSize(string text)
    {
        var scale = 1L;
        var last = char.ToUpperInvariant(text[^1]);
        var shift = last switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
        if (shift > 0) { scale = 1L << shift; text = text[..^1]; }
        if (!long.TryParse(text, NumberStyles.None, Inv, out var n)) return null;
        var bytes = (decimal)n * scale;
        return bytes >= 1L << 20 && bytes <= 1L << 50 ? (long)bytes : null;
    }

    private static string Clip(string s) => s.Length <= 40 ? s : s[..37] + "...";

    /// <summary>Refuses, with the figure, a plan whose estimated memory exceeds the limit.</summary>
    public static void CheckMemory(string what, double bytes)
    {
        var limit = MaxMemory;
        if (!(bytes <= limit))
            throw new FailureException(
                $"{what} would need about {Memory.Describe(bytes)} of memory, more than the limit of {Memory.Describe(limit)}; "
                + $"set {MaxMemoryVariable} (e.g. {MaxMemoryVariable}={Suggest(bytes)}) to allow more");
    }

    /// <summary>Refuses an experiment's training run (with its overrides) whose estimated memory exceeds the limit.</summary>
    public static void CheckTraining(ExperimentSpec spec, string what)
    {
        var input = Experiments.InputOf(spec);
        var samples = spec.Data switch
        {
            DataSpec.VariableLength v => v.Count,
            DataSpec.Window w => Math.Max(1, Alphabet.Size - w.Length),
            _ => 1,
        };
        CheckMemory(what, Memory.Training(input.Features, spec.Units, Alphabet.Size, Math.Min(spec.BatchSize, samples), input.TimeSteps, samples));
    }

    /// <summary>A bench grid shape within the documented limits and the memory limit (its data for one step included), or a usage error.</summary>
    public static WorkloadShape CheckShape(WorkloadShape shape, string text)
    {
        if (shape.Inputs > Limits.MaxFeatures || shape.Units > Limits.MaxUnits || shape.Batch > Limits.MaxBatch || shape.TimeSteps > Limits.MaxTimeSteps)
            throw new UsageException(
                $"--grid shape '{Clip(text)}': I must be 1..{Limits.MaxFeatures}, H 1..{Limits.MaxUnits}, B 1..{Limits.MaxBatch}, T 1..{Limits.MaxTimeSteps}");
        CheckMemory($"bench grid point {text}", BenchBytes(shape, 2));
        return shape;
    }

    /// <summary>The most steps a timed bench run of this shape may use (its data grows with the steps): 2 .. 100,000.</summary>
    public static int MaxBenchSteps(WorkloadShape shape)
    {
        var perStep = BenchBytes(shape, 2) - BenchBytes(shape, 1);
        var room = (MaxMemory - BenchBytes(shape, 1)) / Math.Max(1, perStep);
        return (int)Math.Clamp(room, 2, 100_000);
    }

    private static double BenchBytes(WorkloadShape s, int steps) =>
        Memory.Training(s.Inputs, s.Units, Alphabet.Size, s.Batch, s.TimeSteps, s.Batch * steps);

    private static string Suggest(double bytes)
    {
        var g = Math.Ceiling(bytes / (1L << 30));
        return g <= 1024 * 1024 ? g.ToString("0", Inv) + "G" : "more than this machine has";
    }

    // ---- reading files ------------------------------------------------------------------------

    /// <summary>
    /// Reads a whole text file, refusing folders, devices, FIFOs and sockets, and any file larger than
    /// <see cref="MaxFileBytes"/>, before reading it (a file that grows while read stops at the cap).
    /// </summary>
    public static string ReadText(string path, string what)
    {
        if (Directory.Exists(path)) throw new FailureException($"{what} '{path}' is a folder, expected a file");
        if (!File.Exists(path)) throw new FailureException($"{what} '{path}': no such file");
        var cap = MaxFileBytes;
        if (Stat(path) is { } st && !st.IsRegular)
            throw new FailureException($"{what} '{path}' is not a regular file (a device, FIFO or socket): expected a JSON file");
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
            if (stream.CanSeek && stream.Length > cap) throw TooLarge(path, what, stream.Length, cap);
            // One buffer of the announced size (a device or a growing file may give more: capped).
            var bytes = new byte[stream.CanSeek ? Math.Max(stream.Length, 1) : 1 << 16];
            var count = 0;
            while (true)
            {
                if (count == bytes.Length)
                {
                    if (count > cap) throw TooLarge(path, what, null, cap);
                    Array.Resize(ref bytes, (int)Math.Min(cap + 1, 2L * bytes.Length));
                }
                var n = stream.Read(bytes, count, bytes.Length - count);
                if (n == 0) break;
                count += n;
            }
            if (count > cap) throw TooLarge(path, what, null, cap);
            return Decode(bytes.AsSpan(0, count));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FailureException($"{what} '{path}' cannot be read: {e.Message}");
        }
    }

    /// <summary>Text as File.ReadAllText reads it: UTF-8 unless a byte-order mark says UTF-16.</summary>
    private static string Decode(ReadOnlySpan<byte> bytes) =>
        bytes.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? System.Text.Encoding.UTF8.GetString(bytes[3..])
        : bytes.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE]) ? System.Text.Encoding.Unicode.GetString(bytes[2..])
        : bytes.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]) ? System.Text.Encoding.BigEndianUnicode.GetString(bytes[2..])
        : System.Text.Encoding.UTF8.GetString(bytes);

    private static FailureException TooLarge(string path, string what, long? size, long cap) =>
        new($"{what} '{path}' is {(size is { } s ? Memory.Describe(s) : "larger than that")}, more than the limit of {Memory.Describe(cap)} for a file "
            + $"(a sixty-fourth of {MaxMemoryVariable}, {Memory.Describe(MaxMemory)}); raise {MaxMemoryVariable} to read it");

    // ---- which file a path is -------------------------------------------------------------------

    /// <summary>Whether two paths name the same file: the same full path, or (on Linux, both existing) the same device and inode.</summary>
    public static bool SameFile(string a, string b)
    {
        if (string.Equals(Path.GetFullPath(a), Path.GetFullPath(b), StringComparison.Ordinal)) return true;
        return Stat(a) is { } x && Stat(b) is { } y && x.Device == y.Device && x.Inode == y.Inode;
    }

    /// <summary>Refuses an output path that is one of the files the command reads.</summary>
    public static void RefuseClobber(string outputOption, string? output, params (string Option, string? Path)[] inputs)
    {
        if (output is null) return;
        foreach (var (option, path) in inputs)
            if (path is not null && SameFile(output, path))
                throw new FailureException($"{outputOption} '{output}' is the file {option} reads; choose another file, so the input is not overwritten");
    }

    private readonly record struct FileStat(bool IsRegular, ulong Device, ulong Inode);

    /// <summary>The file's type and identity (following links), on Linux; null elsewhere or when it cannot be read.</summary>
    private static FileStat? Stat(string path)
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            // struct statx has the same layout on every Linux architecture.
            var buf = new byte[256];
            if (NativeStatx(-100 /* AT_FDCWD */, path, 0, 0x1 | 0x100 /* STATX_TYPE | STATX_INO */, buf) != 0) return null;
            var mode = BitConverter.ToUInt16(buf, 28);
            var inode = BitConverter.ToUInt64(buf, 32);
            var device = ((ulong)BitConverter.ToUInt32(buf, 136) << 32) | BitConverter.ToUInt32(buf, 140);
            return new FileStat((mode & 0xF000) == 0x8000, device, inode);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int NativeStatx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, [Out] byte[] buffer);
}
