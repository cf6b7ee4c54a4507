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
    /// ones in between. Stops with a one-line error at the first epoch whose loss is not finite.
    /// </summary>
    public static TrainingState Train(PreparedExperiment prepared, Action<EpochReport>? onEpoch = null)
    {
        var state = prepared.Start;
        foreach (var stretch in Experiments.FitEvery(StretchOf(prepared.Config.Epochs), prepared))
        {
            foreach (var report in stretch.Reports)
            {
                if (!double.IsFinite(report.Loss))
                    throw new FailureException($"{prepared.Spec.Id} (seed {prepared.Seed}): the loss became {report.Loss} at epoch {report.Epoch}");
                onEpoch?.Invoke(report);
            }
            state = stretch.State;
        }
        return state;
    }

    /// <summary>Epochs per stretch: about a hundredth of the run, so progress still moves smoothly.</summary>
    public static int StretchOf(int epochs) => Math.Max(1, epochs / 100);
}
