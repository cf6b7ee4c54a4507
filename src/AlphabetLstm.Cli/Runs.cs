using System.Diagnostics;
using AlphabetLstm.Core;

namespace AlphabetLstm.Cli;

/// <summary>One trained experiment as the shell saw it: the core's result, the epoch history and the wall time.</summary>
public sealed record RunRecord(ExperimentResult Result, IReadOnlyList<EpochReport> History, double TrainSeconds)
{
    public ExperimentSpec Spec => Result.Spec;
    public long Seed => Result.Seed;
}

/// <summary>What the user asked to run: experiment specs with overrides, and the seeds.</summary>
public sealed record ExperimentPlan(IReadOnlyList<ExperimentSpec> Specs, IReadOnlyList<long> Seeds);

/// <summary>Trains one experiment for one seed, reporting each epoch to <paramref name="onEpoch"/>.</summary>
public static class ExperimentRunner
{
    public static RunRecord Run(ExperimentSpec spec, long seed, Action<EpochReport>? onEpoch = null)
    {
        var prepared = Experiments.Prepare(spec, seed);
        var history = new List<EpochReport>(spec.Epochs);
        var state = prepared.Start;
        var clock = Stopwatch.StartNew();
        foreach (var outcome in Training.Fit(prepared.Config, prepared.Data, prepared.Start))
        {
            state = outcome.State;
            history.Add(outcome.Report);
            if (!double.IsFinite(outcome.Report.Loss))
                throw new FailureException($"{spec.Id} (seed {seed}): the loss became {outcome.Report.Loss} at epoch {outcome.Report.Epoch}");
            onEpoch?.Invoke(outcome.Report);
        }
        var seconds = clock.Elapsed.TotalSeconds;
        return new RunRecord(Experiments.Analyse(prepared, state), history, seconds);
    }
}
