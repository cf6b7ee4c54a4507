using System.Diagnostics;
using AlphabetLstm.Core;

var spec = Experiments.tryFind("one-char")!.Value;
var prepared = Experiments.prepare(spec, 1);
var sw = Stopwatch.StartNew();
TrainingState state = prepared.Start;
foreach (var o in Training.fit(prepared.Config, prepared.Data, prepared.Start))
{
    state = o.State;
    if (o.Report.Epoch % 50 == 0) Console.WriteLine($"epoch {o.Report.Epoch} loss {o.Report.Loss:F4} acc {o.Report.Accuracy:F4}");
}
Console.WriteLine($"train {sw.Elapsed.TotalSeconds:F2}s");
var r = Experiments.analyse(prepared, state);
Console.WriteLine($"accuracy {r.Accuracy:F4} loss {r.Loss:F4}");
foreach (var p in r.Predictions) Console.Write($"{p.Input}->{p.Predicted} ");
Console.WriteLine();
