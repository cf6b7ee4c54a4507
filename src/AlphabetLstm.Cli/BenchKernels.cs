using System.Diagnostics;

namespace AlphabetLstm.Cli;

/// <summary>
/// <c>bench --kernel-precision float64|float32|both</c>: the arithmetic of one LSTM training step
/// (forward over T, BPTT, the weight gradients) composed straight from the kernels, in float64 and/or
/// float32, at each grid shape (the core's <see cref="KernelStep"/>), next to the measured multiply-add
/// ceiling of one core (<see cref="FmaCeiling"/>). It times the kernels, not a training run: the model
/// computes in float64 until it has a float32 path, which is why this is not called <c>--precision</c>.
/// </summary>
public static class BenchKernels
{
    public sealed record KernelTiming(
        int Inputs, int Units, int Batch, int TimeSteps, string Precision, int StepsPerRepeat, double StepsPerSecond,
        double MillisecondsPerStep, double GigaflopsPerSecond, double FractionOfCeiling, IReadOnlyList<double> RepeatStepsPerSecond);

    public sealed record CeilingTiming(string Precision, int VectorBits, double GigaflopsPerSecond);

    public sealed record Result(IReadOnlyList<CeilingTiming> Ceilings, IReadOnlyList<KernelTiming> Steps);

    public static IReadOnlyList<KernelPrecision> Parse(string text) => text.Trim() switch
    {
        "none" => [],
        "float64" => [KernelPrecision.Float64],
        "float32" => [KernelPrecision.Float32],
        "both" => [KernelPrecision.Float64, KernelPrecision.Float32],
        var other => throw new UsageException($"--kernel-precision expects none, float64, float32 or both, got '{other}'"),
    };

    public static string Name(KernelPrecision p) => p == KernelPrecision.Float32 ? "float32" : "float64";

    /// <summary>The ceiling: the best of <paramref name="repeats"/> timed runs of about 0.2 s of FMA chains, in GFLOP/s (2 per multiply-add).</summary>
    public static CeilingTiming Ceiling(KernelPrecision precision, int repeats)
    {
        var chains = new FmaCeiling(precision);
        const int iterations = 20_000_000;
        chains.Run(iterations / 10);
        var best = 0.0;
        for (var r = 0; r < Math.Max(3, repeats); r++)
        {
            var clock = Stopwatch.StartNew();
            var sum = chains.Run(iterations);
            var elapsed = clock.Elapsed.TotalSeconds;
            if (double.IsNaN(sum)) throw new InvalidOperationException("the FMA chains gave NaN");
            best = Math.Max(best, 2 * chains.MultiplyAdds(iterations) / elapsed / 1e9);
        }
        return new CeilingTiming(Name(precision), chains.VectorBits, best);
    }

    /// <summary>
    /// Times one shape in one precision: a warm-up of at least three steps and half a second, then
    /// <c>--repeats</c> runs of about <c>--seconds</c> each; steps per second is their median.
    /// </summary>
    public static KernelTiming Time(WorkloadShape shape, KernelPrecision precision, BenchCommand.Options options, double ceiling)
    {
        var step = new KernelStep(shape, precision, options.Seed);
        var warmClock = Stopwatch.StartNew();
        var warm = 0;
        var perStep = double.MaxValue;
        while (warm < 3 || warmClock.Elapsed.TotalSeconds < 0.5)
        {
            var one = Stopwatch.StartNew();
            step.Step();
            perStep = Math.Min(perStep, one.Elapsed.TotalSeconds);
            warm++;
            if (warmClock.Elapsed.TotalSeconds > 10) break;
        }
        var steps = (int)Math.Clamp(options.Seconds / perStep, 2, 100_000);
        var rates = new List<double>();
        for (var r = 0; r < options.Repeats; r++)
        {
            var clock = Stopwatch.StartNew();
            for (var s = 0; s < steps; s++) step.Step();
            rates.Add(steps / clock.Elapsed.TotalSeconds);
        }
        var rate = Stats.Median(rates.OrderBy(x => x).ToList());
        var gflops = 2 * step.MultiplyAdds * rate / 1e9;
        return new KernelTiming(shape.Inputs, shape.Units, shape.Batch, shape.TimeSteps, Name(precision), steps, rate, 1e3 / rate,
                                gflops, ceiling > 0 ? gflops / ceiling : double.NaN, rates);
    }

    public static Result Run(BenchCommand.Options options, TextWriter o)
    {
        var ceilings = options.KernelPrecisions.Select(p => Ceiling(p, options.Repeats)).ToList();
        o.WriteLine();
        o.WriteLine("one core's multiply-add ceiling, measured (16 independent FMA chains, nothing loaded; best of the repeats):");
        o.WriteLine("| precision | vector bits | GFLOP/s |");
        o.WriteLine("|---|---:|---:|");
        foreach (var c in ceilings) o.WriteLine($"| {c.Precision} | {c.VectorBits} | {F(c.GigaflopsPerSecond, "0.0")} |");

        o.WriteLine();
        o.WriteLine($"kernel step: forward over T, BPTT and the weight gradients through the kernels alone (no head, no Adam), one thread, median of {options.Repeats}:");
        o.WriteLine("| I | H | B | T | precision | steps/run | steps/s | ms/step | GFLOP/s | of the ceiling | × float64 |");
        o.WriteLine("|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|");
        var timings = new List<KernelTiming>();
        foreach (var shape in options.Grid)
        {
            KernelTiming? f64 = null;
            foreach (var (p, c) in options.KernelPrecisions.Zip(ceilings))
            {
                var t = Time(shape, p, options, c.GigaflopsPerSecond);
                if (p == KernelPrecision.Float64) f64 = t;
                timings.Add(t);
                var ratio = f64 is null ? "" : F(t.StepsPerSecond / f64.StepsPerSecond, "0.00");
                o.WriteLine($"| {t.Inputs} | {t.Units} | {t.Batch} | {t.TimeSteps} | {t.Precision} | {t.StepsPerRepeat} | {F(t.StepsPerSecond, "0.00")} | "
                          + $"{F(t.MillisecondsPerStep, "0.00")} | {F(t.GigaflopsPerSecond, "0.0")} | {F(100 * t.FractionOfCeiling, "0")} % | {ratio} |");
            }
        }
        o.WriteLine("GFLOP/s: 2 × (3·T·B·H·4H + 2·T·B·I·4H) multiply-adds a step (a dense LSTM's forward and backward products, h_0's included) × steps/s.");
        return new Result(ceilings, timings);
    }

    private static string F(double x, string format) => x.ToString(format, Inv);
}
