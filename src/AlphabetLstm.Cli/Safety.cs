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
                $"{MaxMemoryVariable}: expected a size in bytes from 1M to 1024T, optionally with K, M, G or T (e.g. 4G), got '{Display.Clip(text)}'");
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

        /// <summary>Refuses, with the figure, a plan whose estimated memory exceeds the limit.</summary>
    public static void CheckMemory(string what, double bytes)
    {
        var limit = MaxMemory;
        if (!(bytes <= limit))
            throw new FailureException(
                $"{what} would need about {Memory.Describe(bytes)} of memory, more than the limit of {Memory.Describe(limit)}; "
                + $"set {MaxMemoryVariable} (e.g. {MaxMemoryVariable}={Suggest(bytes)}) to allow more");
    }

    /// <summary>Refuses an experiment's training run (with its overrides) whose memory, as the core estimates it, exceeds the limit.</summary>
    public static void CheckTraining(ExperimentSpec spec, string what) => CheckMemory(what, Experiments.MemoryEstimate(spec));

    /// <summary>A bench grid shape within the documented limits and the memory limit (its data for one step included), or a usage error.</summary>
    public static WorkloadShape CheckShape(WorkloadShape shape, string text)
    {
        if (shape.Inputs > Limits.MaxFeatures || shape.Units > Limits.MaxUnits || shape.Batch > Limits.MaxBatch || shape.TimeSteps > Limits.MaxTimeSteps)
            throw new UsageException(
                $"--grid shape '{Display.Clip(text)}': I must be 1..{Limits.MaxFeatures}, H 1..{Limits.MaxUnits}, B 1..{Limits.MaxBatch}, T 1..{Limits.MaxTimeSteps}");
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

    // ---- which file a path is -------------------------------------------------------------------

    /// <summary>Whether two paths name the same file: see <see cref="OutputRule.SameFile"/>.</summary>
    public static bool SameFile(string a, string b) => OutputRule.SameFile(a, b);
}
