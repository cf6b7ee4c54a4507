using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using AlphabetLstm.Core;

namespace AlphabetLstm.Cli;

/// <summary>
/// <c>bench --phases</c>: where one optimizer step of an experiment goes. The core's stages are run
/// one at a time on one batch of the experiment (a stateful one from the state ten batches carried
/// into it, as in training), each timed alone: the best of several rounds, in µs per call. Next to them,
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
        var prepared = Experiments.Prepare(spec, seed);
        var data = prepared.Data;
        var p = prepared.Start.Parameters;
        int n = data.Count, b = Math.Min(prepared.Config.BatchSize, n), t = data.TimeSteps, i = data.Features, h = p.Units, v = p.Classes;
        var ws = Model.newWorkspace(t, b, i, h, v);
        var tape = ws.Tape;
        var (xs, ys) = TrainingModule.storages(data);
        var inOrder = Enumerable.Range(0, n).ToArray();
        void Load(int batch) => TrainingModule.loadBatch(data, xs, ys, inOrder, batch * b, prepared.Config.Masked, ws);
        // A stateless step times the first batch from zeros. A stateful one times the batch that
        // follows ten others, from the state they carry into it, as training does ('A' from a reset
        // leaves the state at zero, so the first batch alone would not do).
        var timed = prepared.Config.Policy == StatePolicy.Stateful ? Math.Min(10, n / b - 1) : 0;
        for (var batch = 0; batch < timed; batch++)
        {
            Load(batch);
            Lstm.forwardTape(p, tape);
            Array.Copy(tape.Hs, t * b * h, tape.Hs, 0, b * h);
            Array.Copy(tape.Cs, t * b * h, tape.Cs, 0, b * h);
        }
        Load(timed);
        var grads = ParametersModule.storage(ParametersModule.ZerosLike(p));
        var theta = ParametersModule.storage(ParametersModule.Copy(p));
        var firstMoments = ParametersModule.storage(ParametersModule.ZerosLike(p));
        var secondMoments = ParametersModule.storage(ParametersModule.ZerosLike(p));
        var count = grads.Sum(g => g.Length);

        var forward = Best(() => Lstm.forwardTape(p, tape));
        var headForward = Best(() => Model.headForward(p, ws));
        var headBackward = Best(() => Model.headBackward(p, ws, grads[3], grads[4]));
        var dH = (double[])ws.DH.Clone();
        var bptt = Best(() =>
        {
            Array.Copy(dH, ws.DH, dH.Length);
            Array.Clear(ws.DC);
            Lstm.backwardTape(p, tape, ws.DH, ws.DC, false, grads);
        });
        var adam = Best(() => Adam.updateInPlace(prepared.Config.Optimizer, 10, theta, grads, firstMoments, secondMoments, false));
        var x = Enumerable.Range(0, count).Select(k => 1e-6 * (k + 1)).ToArray();
        var y = new double[count];
        var sqrtDivide = Best(() => SqrtDivide(x, y));
        return new PhaseTiming(spec.Id, i, h, b, t, count, forward, headForward, headBackward, bptt, adam, sqrtDivide);
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
    private static double Best(Action action)
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
