using System.Diagnostics;

namespace AlphabetLstm.Cli;

/// <summary>One trained experiment as the shell saw it: the core's result, the epoch history and the wall time.</summary>
public sealed record RunRecord(ExperimentResult Result, IReadOnlyList<EpochReport> History, double TrainSeconds)
{
    public ExperimentSpec Spec => Result.Spec;
    public long Seed => Result.Seed;
}

/// <summary>One (experiment, seed) run of a plan.</summary>
public sealed record PlannedRun(ExperimentSpec Spec, long Seed, Precision Precision = Precision.Float64)
{
    public string Key => $"{Spec.Id} seed {Seed}";
}

/// <summary>
/// What the user asked to run: experiments with overrides, and the seeds. The runs are listed in
/// plan order (experiment by experiment, seeds in order); output, JSON and report follow it.
/// </summary>
public sealed record ExperimentPlan(ResultsJson.SettingsDto Settings)
{
    public IReadOnlyList<ExperimentSpec> Specs { get; } = Settings.Experiments
        .Select(id => Experiments.Ids.Contains(id) && Experiments.Find(id) is var s
            ? s.WithEpochs(Settings.Epochs ?? s.Epochs).WithUnits(Settings.Units ?? s.Units).WithMasked(Settings.Mask || s.Masked)
            : throw new FailureException(Experiments.UnknownMessage(id)))
        .ToList();

    public IReadOnlyList<PlannedRun> Runs => Specs.SelectMany(spec => Settings.Seeds.Select(seed => new PlannedRun(spec, seed, Precision))).ToList();

    /// <summary>The precision every run trains in: float64 (the tutorial's) unless the settings say float32.</summary>
    public Precision Precision { get; } = ResultsJson.PrecisionOf(Settings);

    /// <summary>
    /// The runs of shard <paramref name="index"/> of <paramref name="count"/> (0-based): every
    /// count-th run in plan order, starting at the index-th. Round robin spreads each experiment's
    /// seeds, so the long variable-length runs land on different shards.
    /// </summary>
    public IReadOnlyList<PlannedRun> Shard(int index, int count) => Runs.Where((_, k) => k % count == index).ToList();

    public static int ShardOf(int planIndex, int count) => planIndex % count;

    /// <summary>The seed whose stateful run the report pictures (its hidden-state traces are kept in the JSON).</summary>
    public long TracedSeed => Settings.Seeds.Min();

    public ResultsJson.RunDto ToDto(RunRecord run) => ResultsJson.ToDto(run, traced: run.Seed == TracedSeed);
}

/// <summary>Trains one experiment for one seed, reporting each epoch to <paramref name="onEpoch"/>.</summary>
public static class ExperimentRunner
{
    /// <summary>The same run with one training step on <paramref name="threads"/> threads (the results do not change).</summary>
    public static PreparedExperiment WithThreads(this PreparedExperiment p, int threads)
    {
        return new PreparedExperiment(p.Spec, p.Seed, p.Data, p.Config.WithThreads(threads), p.Start);
    }

    /// <summary>The same run in <paramref name="precision"/>.</summary>
    public static PreparedExperiment WithPrecision(this PreparedExperiment p, Precision precision)
    {
        return new PreparedExperiment(p.Spec, p.Seed, p.Data, p.Config.WithPrecision(precision), p.Start);
    }

    public static RunRecord Run(ExperimentSpec spec, long seed, Action<EpochReport>? onEpoch = null, int threads = 1, Precision precision = Precision.Float64)
    {
        var prepared = Experiments.Prepare(spec, seed).WithThreads(threads).WithPrecision(precision);
        var history = new EpochHistory();
        var clock = Stopwatch.StartNew();
        var state = Train(prepared, report =>
        {
            history.Add(report);
            onEpoch?.Invoke(report);
        });
        var seconds = clock.Elapsed.TotalSeconds;
        return new RunRecord(Experiments.Analyse(prepared, state), history.Items, seconds);
    }

    /// <summary>
    /// The training loop of <c>experiment</c> (and of <c>bench</c>, which times it): every epoch's
    /// report, but the weights only every <see cref="StretchOf"/> epochs, since nothing here reads the
    /// ones in between. Stops with a one-line error at the epoch the core's divergence rule names (the
    /// first whose loss is not finite, or a stretch's last when its weights are not), the epochs before
    /// it reported.
    /// </summary>
    public static TrainingState Train(PreparedExperiment prepared, Action<EpochReport>? onEpoch = null)
    {
        var state = prepared.Start;
        foreach (var stretch in Experiments.FitEvery(StretchOf(prepared.Config.Epochs), prepared))
        {
            var diverged = stretch.TryGetDivergence(out var at, out var why);
            foreach (var report in stretch.Reports)
            {
                if (diverged && report.Epoch == at)
                    throw new FailureException($"{prepared.Spec.Id} (seed {prepared.Seed}): {why} at epoch {at}");
                onEpoch?.Invoke(report);
            }
            state = stretch.State;
        }
        return state;
    }

    /// <summary>Epochs per stretch: about a hundredth of the run, so progress still moves smoothly.</summary>
    public static int StretchOf(int epochs) => Math.Max(1, epochs / 100);
}

/// <summary>
/// Runs a list of runs <c>jobs</c> at a time, each on a thread of its own. Every run prints into
/// a buffer of its own, and the buffers reach the console whole and in plan order, so the output
/// reads the same for any number of jobs (only the timings differ). With one job the runs go
/// straight to the console, live progress bar included. The longest runs start first (by a rough
/// estimate of their work), so the last one to finish is a short one.
/// </summary>
public static class RunScheduler
{
    public static IReadOnlyList<RunRecord> RunAll(IReadOnlyList<PlannedRun> runs, int jobs, int threads, TextWriter stdout, bool quiet)
    {
        if (jobs <= 1 || runs.Count <= 1)
            return runs.Select(run => RunPrinted(run, threads, new RunPrinter(stdout, quiet), CancellationToken.None)).ToList();

        var done = runs.Select(_ => new TaskCompletionSource<(RunRecord Record, string Output)>(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        var order = Enumerable.Range(0, runs.Count).OrderByDescending(k => EstimatedWork(runs[k].Spec)).ToArray();
        var next = -1;
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, Math.Min(jobs, runs.Count)).Select(w => new Thread(() =>
        {
            for (var k = Interlocked.Increment(ref next); k < order.Length; k = Interlocked.Increment(ref next))
            {
                var i = order[k];
                if (stop.IsCancellationRequested) { done[i].SetCanceled(); continue; }
                try
                {
                    var buffer = new StringWriter();
                    var record = RunPrinted(runs[i], threads, new RunPrinter(buffer, quiet), stop.Token);
                    done[i].SetResult((record, buffer.ToString()));
                }
                catch (Exception e)
                {
                    stop.Cancel();
                    done[i].SetException(e);
                }
            }
        }) { IsBackground = true, Name = $"run worker {w}" }).ToList();
        foreach (var worker in workers) worker.Start();

        var records = new List<RunRecord>(runs.Count);
        try
        {
            foreach (var d in done)
            {
                try { d.Task.Wait(); }
                catch (AggregateException) { break; }
                stdout.Write(d.Task.Result.Output);
                records.Add(d.Task.Result.Record);
            }
        }
        finally
        {
            stop.Cancel();
            foreach (var worker in workers) worker.Join();
        }
        if (records.Count < runs.Count)
        {
            // The first failure in plan order is the one reported (runs cancelled because of it are not failures).
            var failed = done.First(d => d.Task.IsFaulted && d.Task.Exception!.InnerException is not OperationCanceledException);
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failed.Task.Exception!.InnerException!);
        }
        return records;
    }

    private static RunRecord RunPrinted(PlannedRun run, int threads, RunPrinter printer, CancellationToken stop)
    {
        printer.Header(run.Spec, run.Seed);
        var progress = printer.Progress(run.Spec);
        var record = ExperimentRunner.Run(run.Spec, run.Seed, report =>
        {
            stop.ThrowIfCancellationRequested();
            progress.Report(report);
        }, threads, run.Precision);
        progress.Done(record.TrainSeconds);
        printer.Result(record);
        return record;
    }

    /// <summary>A rough count of a run's work: epochs × samples × time steps × (units + inputs) × units, from the core's counts.</summary>
    public static double EstimatedWork(ExperimentSpec spec)
    {
        var input = Experiments.InputOf(spec);
        return (double)spec.Epochs * spec.SampleCount * input.TimeSteps * (spec.Units + input.Features) * spec.Units;
    }
}
