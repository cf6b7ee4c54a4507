using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace AlphabetLstm.Cli;

/// <summary>
/// <c>bench --phases</c>: where one optimizer step of an experiment goes. The core's
/// <see cref="StepStages"/> runs the stages one at a time on one batch of the experiment (a stateful
/// one from the state ten batches carried into it, as in training); this times each alone: the best
/// of several rounds, in µs per call. Next to them,
/// the square root and division Keras' Adam needs per parameter, timed alone, which bounds Adam from below.
/// </summary>
public static class BenchPhases
{
    public sealed record PhaseTiming(
        string Id, int Inputs, int Units, int Batch, int TimeSteps, int Parameters,
        double Forward, double HeadForward, double HeadBackward, double Bptt, double Adam, double SqrtDivide)
    {
        public double Sum => Forward + HeadForward + HeadBackward + Bptt + Adam;
    }

    public static PhaseTiming Time(ExperimentSpec spec, long seed)
    {
        var stages = new StepStages(spec, seed);
        var forward = Best(stages.Forward);
        var headForward = Best(stages.HeadForward);
        var headBackward = Best(stages.HeadBackward);
        var bptt = Best(stages.Bptt);
        var adam = Best(stages.Adam);
        var count = stages.ParameterCount;
        var x = Enumerable.Range(0, count).Select(k => 1e-6 * (k + 1)).ToArray();
        var y = new double[count];
        var sqrtDivide = Best(() => SqrtDivide(x, y));
        return new PhaseTiming(spec.Id, stages.Inputs, stages.Units, stages.Batch, stages.TimeSteps, count,
            forward, headForward, headBackward, bptt, adam, sqrtDivide);
    }

    /// <summary>
    /// y = x / (√x + ε): nothing but the two operations Adam cannot avoid, four lanes at a time. Compiled
    /// optimised from its first call: unlike the core's loops, nothing has warmed it up before.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SqrtDivide(double[] x, double[] y)
    {
        var eps = Vector256.Create(1e-7);
        var j = 0;
        for (; j + 4 <= x.Length; j += 4)
        {
            var xj = Vector256.Create(x[j], x[j + 1], x[j + 2], x[j + 3]);
            (xj / (Vector256.Sqrt(xj) + eps)).CopyTo(y, j);
        }
        for (; j < x.Length; j++) y[j] = x[j] / (Math.Sqrt(x[j]) + 1e-7);
    }

    /// <summary>µs per call: the best of 7 rounds of about 10 ms each, after a warm-up.</summary>
    public static double Best(Action action)
    {
        var clock = Stopwatch.StartNew();
        var calls = 0;
        while (calls < 200 || clock.Elapsed.TotalMilliseconds < 30) { action(); calls++; }
        var perRound = Math.Max(1, (int)(calls * 10.0 / clock.Elapsed.TotalMilliseconds));
        var best = double.MaxValue;
        for (var round = 0; round < 7; round++)
        {
            clock.Restart();
            for (var c = 0; c < perRound; c++) action();
            best = Math.Min(best, clock.Elapsed.TotalMilliseconds * 1000.0 / perRound);
        }
        return best;
    }
}
