using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text.Json;

namespace AlphabetLstm.Cli;

/// <summary>
/// <c>bench [--experiments all|none|ID,...] [--grid all|none|N,...|IxHxBxT,...] [--repeats R] [--seconds S] [--epochs E] [--phases] [--precision float64|float32|both] [--kernel-precision none|float64|float32|both] [--json FILE]</c>:
/// how fast training runs on this machine. Two parts:
/// <list type="bullet">
/// <item>the tutorial's experiments at its settings: training wall time (the whole <c>fit</c>) and µs per optimizer step;</item>
/// <item>a grid of shapes: training steps per second (forward over T, BPTT, Adam) on a fixed random batch, after warm-up,
/// with one thread per step and with <c>--threads N</c> (default: the number of cores), in each precision
/// <c>--precision</c> names (default float64; the experiments are always the tutorial's, float64).</item>
/// </list>
/// Every figure is the median of <c>--repeats</c> runs. Bytes allocated per step come from
/// <see cref="GC.GetAllocatedBytesForCurrentThread"/> around the timed runs. The core only builds the work;
/// all timing lives here.
/// </summary>
public static class BenchCommand
{
    /// <summary>The grid of issue 5: (I, H, B, T).</summary>
    public static readonly WorkloadShape[] Grid =
    [
        new(1, 32, 1, 1),
        new(1, 32, 1, 5),
        new(26, 128, 32, 50),
        new(26, 512, 32, 50),
    ];

    public sealed record Options(
        IReadOnlyList<ExperimentSpec> Experiments, IReadOnlyList<WorkloadShape> Grid,
        int Repeats, double Seconds, int? Epochs, long Seed, bool Phases = false, int Threads = 1, BenchText.Shape? Text = null,
        IReadOnlyList<KernelPrecision>? KernelPrecisions = null, IReadOnlyList<Precision>? Precisions = null)
    {
        /// <summary>The precisions <c>--kernel-precision</c> times the kernel step in (none: empty).</summary>
        public IReadOnlyList<KernelPrecision> KernelPrecisions { get; init; } = KernelPrecisions ?? [];
        /// <summary>The precisions <c>--precision</c> trains the grid and the text in (default: float64 alone).</summary>
        public IReadOnlyList<Precision> Precisions { get; init; } = Precisions ?? [Precision.Float64];
    }

    public sealed record ExperimentTiming(
        string Id, int Epochs, long Steps, double TrainSeconds, double MicrosecondsPerStep,
        double BytesPerStep, IReadOnlyList<double> RepeatSeconds);

    public sealed record GridTiming(
        int Inputs, int Units, int Batch, int TimeSteps, int Threads, int StepsPerRepeat, double StepsPerSecond,
        double MicrosecondsPerStep, double BytesPerStep, double BytesPerEpoch, IReadOnlyList<double> RepeatStepsPerSecond,
        string Precision = "float64");

    public sealed record MachineInfo(
        string Runtime, string Os, string Architecture, int ProcessorCount, bool Vector256, bool Vector512,
        bool Fma, string LinearAlgebra, bool ServerGc, bool TieredPgo);

    public sealed record BenchResult(
        MachineInfo Machine, int Repeats, IReadOnlyList<ExperimentTiming> Experiments, IReadOnlyList<GridTiming> Grid,
        IReadOnlyList<BenchPhases.PhaseTiming> Phases, BenchText.Timing? Text, BenchKernels.Result? Kernels = null,
        IReadOnlyList<BenchText.Timing>? Texts = null);


    public static Command Create(TextWriter stdout)
    {
        var experiments = new Option<string>("--experiments")
        {
            Description = $"Which experiments to time: all, none, or a comma-separated list of {string.Join(", ", Experiments.Ids)}.",
            DefaultValueFactory = _ => "all",
        };
        var grid = new Option<string>("--grid")
        {
            Description = "Which grid points to time: all, none, or a comma-separated list of point numbers 1..4 or shapes IxHxBxT.",
            DefaultValueFactory = _ => "all",
        };
        var repeats = Cli.PositiveInt("--repeats", "Timed runs per item; the median is reported (default 3).", 1000);
        var seconds = Cli.Number("--seconds", "Target duration of one timed grid run, in seconds (default 0.5).", "a number", _ => true);
        var epochs = Cli.PositiveInt("--epochs", "Override the experiments' numbers of epochs (for a quick run).", Limits.MaxEpochs);
        var seed = Cli.WholeNumber("--seed", "Seed for data and weights (default 1).");
        var json = new Option<string?>("--json") { Description = "Write the results as JSON to FILE." };
        var threads = Cli.PositiveInt("--threads", "Also time the grid with N threads per step (default: the number of cores; 1: one thread only).");
        var phases = new Option<bool>("--phases")
        {
            Description = "Also time the stages of one step of each experiment (forward, head, BPTT, Adam) one by one.",
        };

        var kernelPrecision = new Option<string>("--kernel-precision")
        {
            Description = "Also time one step's arithmetic through the kernels alone at each grid shape, in none (default), float64, float32 or both.",
            DefaultValueFactory = _ => "none",
        };

        var precision = new Option<string>("--precision")
        {
            Description = "Train the grid and the text in float64 (default), float32 or both (the real training step: tape, gradients, Adam moments and data in that precision).",
            DefaultValueFactory = _ => "float64",
        };

        var text = new Option<string>("--text")
        {
            Description = "Also time stateful training on a generated text: none (default), 1mb (1 MB, H 128, B 32, T 50) or CHARSxHxBxT; --repeats epochs.",
            DefaultValueFactory = _ => "none",
        };
        var command = new Command("bench", "Time training on this machine: the tutorial's experiments, a grid of shapes, and a text.")
        {
            experiments, grid, repeats, seconds, epochs, seed, json, phases, threads, text, kernelPrecision, precision,
        };
        command.SetAction(parse =>
        {
            var secs = parse.GetValue(seconds) ?? 0.5;
            if (!(secs > 0 && secs <= 600)) throw new UsageException($"--seconds must be in (0, 600], got {secs.ToString(Inv)}");
            var options = new Options(
                ParseExperiments(parse.GetValue(experiments)!),
                ParseGrid(parse.GetValue(grid)!),
                parse.GetValue(repeats) ?? 3, secs, parse.GetValue(epochs), parse.GetValue(seed) ?? 1, parse.GetValue(phases),
                parse.GetValue(threads) ?? Environment.ProcessorCount, BenchText.Parse(parse.GetValue(text)!),
                BenchKernels.Parse(parse.GetValue(kernelPrecision)!), ParsePrecisions(parse.GetValue(precision)!));
            return Execute(options, parse.GetValue(json), stdout);
        });
        return command;
    }

    public static IReadOnlyList<ExperimentSpec> ParseExperiments(string text) => text.Trim() switch
    {
        "all" => Experiments.All,
        "none" => [],
        var list => list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(id => (Experiments.Ids.Contains(id) ? Experiments.Find(id) : null)
                ?? throw new UsageException($"--experiments: {Experiments.UnknownMessage(id)}, or all, none"))
            .ToList(),
    };

    public static IReadOnlyList<Precision> ParsePrecisions(string text) => text.Trim() switch
    {
        "float64" => [Precision.Float64],
        "float32" => [Precision.Float32],
        "both" => [Precision.Float64, Precision.Float32],
        var other => throw new UsageException($"--precision expects float64, float32 or both, got '{other}'"),
    };

    /// <summary>The name a precision has on the command line and in the JSON.</summary>
    public static string Name(Precision p) => p == Precision.Float32 ? "float32" : "float64";

    public static IReadOnlyList<WorkloadShape> ParseGrid(string text) => text.Trim() switch
    {
        "all" => Grid,
        "none" => [],
        var list => list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(ParsePoint).ToList(),
    };

    private static WorkloadShape ParsePoint(string item)
    {
        if (int.TryParse(item, NumberStyles.None, Inv, out var n))
            return n >= 1 && n <= Grid.Length ? Grid[n - 1]
                : throw new UsageException($"grid point {n} does not exist; the grid has points 1..{Grid.Length}");
        var parts = item.Split('x');
        if (parts.Length == 4 && parts.All(p => int.TryParse(p, NumberStyles.None, Inv, out var d) && d > 0))
        {
            var d = parts.Select(p => int.Parse(p, Inv)).ToArray();
            return Safety.CheckShape(new WorkloadShape(d[0], d[1], d[2], d[3]), item);
        }
        throw new UsageException($"--grid expects point numbers 1..{Grid.Length} or shapes IxHxBxT with positive numbers, got '{item}'");
    }

    public static int Execute(Options options, string? jsonFile, TextWriter o)
    {
        if (jsonFile is not null) AtomicFile.EnsureWritableFileTarget(jsonFile, "--json");
        var machine = Machine();
        o.WriteLine($"runtime {machine.Runtime} on {machine.Os} {machine.Architecture}, {machine.ProcessorCount} cores; "
                  + $"Vector256 {machine.Vector256}, Vector512 {machine.Vector512}, FMA {machine.Fma}; "
                  + $"experiments on one thread, the grid on 1{(options.Threads > 1 ? $" and {options.Threads}" : "")} thread(s) per step");
        o.WriteLine($"linear algebra: {machine.LinearAlgebra}");

        var experiments = new List<ExperimentTiming>();
        if (options.Experiments.Count > 0)
        {
            o.WriteLine();
            o.WriteLine($"experiments at the tutorial's settings{(options.Epochs is { } e ? $" (epochs overridden: {e})" : "")}, median of {options.Repeats}:");
            o.WriteLine("| experiment | epochs | steps | train s | µs/step | bytes/step |");
            o.WriteLine("|---|---:|---:|---:|---:|---:|");
            foreach (var spec in options.Experiments)
            {
                var t = TimeExperiment(options.Epochs is { } ep ? spec.WithEpochs(ep) : spec, options);
                experiments.Add(t);
                o.WriteLine($"| {t.Id} | {t.Epochs} | {t.Steps} | {F(t.TrainSeconds, "0.000")} | {F(t.MicrosecondsPerStep, "0.00")} | {F(t.BytesPerStep, "0")} |");
            }
        }

        var stages = new List<BenchPhases.PhaseTiming>();
        if (options.Phases && options.Experiments.Count > 0)
        {
            o.WriteLine();
            o.WriteLine("where one step goes: each stage alone on one batch of the experiment (a stateful one from a carried state), µs per call (best of 7 rounds):");
            o.WriteLine("| experiment | I, H, B, T | params | forward | head fwd | head bwd | BPTT | Adam | (sqrt + div alone) | stages | whole step |");
            o.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var spec in options.Experiments)
            {
                var p = BenchPhases.Time(spec, options.Seed);
                stages.Add(p);
                var whole = experiments.FirstOrDefault(e => e.Id == spec.Id) is { } e ? F(e.MicrosecondsPerStep, "0.0") : "";
                o.WriteLine($"| {p.Id} | {p.Inputs}, {p.Units}, {p.Batch}, {p.TimeSteps} | {p.Parameters:N0} | {F(p.Forward, "0.0")} | {F(p.HeadForward, "0.0")} | "
                          + $"{F(p.HeadBackward, "0.0")} | {F(p.Bptt, "0.0")} | {F(p.Adam, "0.0")} | {F(p.SqrtDivide, "0.0")} | {F(p.Sum, "0.0")} | {whole} |");
            }
            o.WriteLine("stages: their sum; whole step: the experiment's µs/step above, which also loads each batch and hands out the weights.");
        }

        var grid = new List<GridTiming>();
        if (options.Grid.Count > 0)
        {
            o.WriteLine();
            o.WriteLine($"grid: training steps (forward over T, BPTT, Adam) on a fixed random batch, after warm-up, median of {options.Repeats}:");
            o.WriteLine("| I | H | B | T | threads | precision | steps/run | steps/s | × one thread | µs/step | bytes/step | bytes/epoch |");
            o.WriteLine("|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|");
            foreach (var shape in options.Grid)
                foreach (var precision in options.Precisions)
                {
                    GridTiming? one = null;
                    foreach (var n in options.Threads > 1 ? [1, options.Threads] : new[] { 1 })
                    {
                        var t = TimeGrid(shape, options, n, precision);
                        one ??= t;
                        grid.Add(t);
                        o.WriteLine($"| {t.Inputs} | {t.Units} | {t.Batch} | {t.TimeSteps} | {t.Threads} | {t.Precision} | {t.StepsPerRepeat} | {F(t.StepsPerSecond, "0.00")} | "
                                  + $"{F(t.StepsPerSecond / one.StepsPerSecond, "0.00")} | {F(t.MicrosecondsPerStep, "0.00")} | {F(t.BytesPerStep, "0")} | {F(t.BytesPerEpoch, "0")} |");
                    }
                }
            o.WriteLine("bytes/step: steady-state allocation of one more step on the calling thread; bytes/epoch: allocated once per epoch (the parameters and moments it hands out).");
            o.WriteLine($"threads: a step is split only where B ≥ 8 and B·4H·H ≥ 2^18 multiply-adds; smaller steps run on one thread whatever --threads says.");
        }

        BenchKernels.Result? kernels = null;
        if (options.KernelPrecisions.Count > 0 && options.Grid.Count > 0)
            kernels = BenchKernels.Run(options, o);

        BenchText.Timing? textTiming = null;
        var textTimings = new List<BenchText.Timing>();
        if (options.Text is { } textShape)
        {
            foreach (var precision in options.Precisions)
            {
                o.WriteLine();
                o.WriteLine($"text in {Name(precision)}: train --text --stateful on a generated text, one-hot, a target at every character, the last 10 % held out, {options.Repeats} epochs (median, held-out pass included):");
                var t = BenchText.Time(textShape, options.Repeats, options.Seed, o, precision);
                textTiming ??= t;
                textTimings.Add(t);
                o.WriteLine("| characters | distinct | H | B | T | samples | steps/epoch | prepare s | s/epoch | characters/s | CPU s/epoch |");
                o.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
                o.WriteLine($"| {t.Characters} | {t.Distinct} | {t.Units} | {t.Batch} | {t.Window} | {t.Samples} | {t.StepsPerEpoch} | {F(t.PrepareSeconds, "0.00")} | {F(t.SecondsPerEpoch, "0.00")} | {F(t.CharactersPerSecond, "0")} | {F(t.CpuSecondsPerEpoch, "0.00")} |");
                var ph = t.StepPhases;
                o.WriteLine();
                o.WriteLine($"one step of it, each stage alone in {Name(precision)} (µs, best of 7 rounds), and one held-out pass:");
                o.WriteLine("| load batch | LSTM forward | head forward | head backward | BPTT | Adam | step | steps/epoch × step s | held-out pass s |");
                o.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
                o.WriteLine($"| {F(ph.Load, "0")} | {F(ph.Forward, "0")} | {F(ph.HeadForward, "0")} | {F(ph.HeadBackward, "0")} | {F(ph.Bptt, "0")} | {F(ph.Adam, "0")} | {F(ph.Step, "0")} | {F(ph.Step * t.StepsPerEpoch / 1e6, "0.00")} | {F(ph.HeldOutSeconds, "0.00")} |");
            }
        }

        if (jsonFile is not null)
        {
            var result = new BenchResult(machine, options.Repeats, experiments, grid, stages, textTiming, kernels, textTimings);
            AtomicFile.WriteAllText(jsonFile, JsonSerializer.Serialize(result, ResultsJson.Options));
            o.WriteLine($"wrote {Display.Escape(jsonFile)}");
        }
        return ExitCodes.Ok;
    }

    private static string F(double x, string format) => x.ToString(format, Inv);

    public static MachineInfo Machine() => new(
        RuntimeInformation.FrameworkDescription, RuntimeInformation.OSDescription,
        RuntimeInformation.ProcessArchitecture.ToString(), Environment.ProcessorCount,
        Vector256.IsHardwareAccelerated, Vector512.IsHardwareAccelerated,
        System.Runtime.Intrinsics.X86.Fma.IsSupported || System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported,
        LinearAlgebra.Select(), System.Runtime.GCSettings.IsServerGC,
        AppContext.TryGetSwitch("System.Runtime.TieredPGO", out var pgo) && pgo);

    /// <summary>Optimizer steps in a whole run: its epochs times the core's steps per epoch.</summary>
    private static long StepsOf(PreparedExperiment p) => (long)p.Config.Epochs * p.Spec.StepsPerEpoch;

    /// <summary>Times the whole training of one experiment, as <c>experiment</c> runs it (data and weights prepared outside the clock).</summary>
    public static ExperimentTiming TimeExperiment(ExperimentSpec spec, Options options)
    {
        // Warm-up: up to half a second of the same run, so the timed runs do not pay for compiling
        // the hot loops (the runtime recompiles hot methods optimised after their first calls).
        var warm = Experiments.Prepare(spec, options.Seed);
        var warmClock = Stopwatch.StartNew();
        foreach (var _ in Experiments.FitEvery(ExperimentRunner.StretchOf(warm.Config.Epochs), warm))
            if (warmClock.Elapsed.TotalSeconds > 0.5) break;

        var seconds = new List<double>();
        var bytes = new List<double>();
        long steps = 0;
        for (var r = 0; r < options.Repeats; r++)
        {
            var prepared = Experiments.Prepare(spec, options.Seed);
            steps = StepsOf(prepared);
            var before = GC.GetAllocatedBytesForCurrentThread();
            var clock = Stopwatch.StartNew();
            ExperimentRunner.Train(prepared);
            seconds.Add(clock.Elapsed.TotalSeconds);
            bytes.Add((GC.GetAllocatedBytesForCurrentThread() - before) / (double)steps);
        }
        var median = Median(seconds);
        return new ExperimentTiming(spec.Id, spec.Epochs, steps, median, median * 1e6 / steps, Median(bytes), seconds);
    }

    /// <summary>
    /// Times one grid point. A pilot <c>fit</c> of three one-step epochs measures a warm step and what
    /// an epoch allocates on its own; the timed runs are then sized to about <c>--seconds</c> each: one
    /// <c>fit</c> of 1 + repeats epochs of that many steps on the same batch, the first epoch (which also
    /// sets up the scratch) being the warm-up. Bytes per step are the steady-state cost of one more step,
    /// (bytes of an n-step epoch − bytes of a one-step epoch) / (n − 1); what every epoch allocates once
    /// (the new parameters and Adam moments it hands out) is reported apart, per epoch.
    /// </summary>
    public static GridTiming TimeGrid(WorkloadShape shape, Options options, int threads = 1, Precision precision = Precision.Float64)
    {
        var pilot = Workloads.Synthetic(shape, 1, options.Seed);
        FitConfig WithEpochs(FitConfig c, int epochs) => c.WithEpochs(epochs).WithThreads(threads).WithPrecision(precision);
        // Warm the JIT up on this shape first: at least 60 one-step epochs and half a second, so the
        // epoch loop itself (called once per epoch) is call-counted into optimised, profiled code,
        // not only the per-step kernels. Without it a cold process timed its first shape at a third
        // of the warm speed.
        var warmClock = Stopwatch.StartNew();
        var warmEpochs = 0;
        while (warmEpochs < 60 || warmClock.Elapsed.TotalSeconds < 0.5)
        {
            Training.Train(WithEpochs(pilot.Config, 1), pilot.Data, pilot.Start);
            warmEpochs++;
            if (warmClock.Elapsed.TotalSeconds > 10) break;
        }
        var pilotConfig = WithEpochs(pilot.Config, 3);
        var perStep = double.MaxValue;
        double oneStepEpochBytes = 0;
        using (var epochs = Training.Fit(pilotConfig, pilot.Data, pilot.Start).GetEnumerator())
        {
            epochs.MoveNext();
            for (var r = 0; r < 2; r++)
            {
                var before = GC.GetAllocatedBytesForCurrentThread();
                var clock = Stopwatch.StartNew();
                epochs.MoveNext();
                perStep = Math.Min(perStep, clock.Elapsed.TotalSeconds);
                oneStepEpochBytes = GC.GetAllocatedBytesForCurrentThread() - before;
            }
        }
        var steps = (int)Math.Clamp(options.Seconds / perStep, 2, Safety.MaxBenchSteps(shape));

        var work = Workloads.Synthetic(shape, steps, options.Seed);
        var rates = new List<double>();
        var bytes = new List<double>();
        using var timed = Training.Fit(WithEpochs(work.Config, 1 + options.Repeats), work.Data, work.Start).GetEnumerator();
        if (!timed.MoveNext()) throw new InvalidOperationException("the warm-up epoch did not run");
        for (var r = 0; r < options.Repeats; r++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            var clock = Stopwatch.StartNew();
            if (!timed.MoveNext()) throw new InvalidOperationException("a timed epoch did not run");
            var elapsed = clock.Elapsed.TotalSeconds;
            bytes.Add(GC.GetAllocatedBytesForCurrentThread() - before);
            rates.Add(steps / elapsed);
            if (timed.Current.TryGetDivergence(out _, out var why))
                throw new FailureException($"grid point {shape.Inputs}x{shape.Units}x{shape.Batch}x{shape.TimeSteps}: {why}");
        }
        var rate = Median(rates);
        var perStepBytes = Math.Max(0, (Median(bytes) - oneStepEpochBytes) / (steps - 1));
        return new GridTiming(shape.Inputs, shape.Units, shape.Batch, shape.TimeSteps, threads, steps, rate, 1e6 / rate,
                              perStepBytes, oneStepEpochBytes - perStepBytes, rates, Name(precision));
    }

    private static double Median(IEnumerable<double> values) => Stats.Median(values.OrderBy(x => x).ToList());
}
