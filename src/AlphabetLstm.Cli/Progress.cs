using System.Diagnostics;

namespace AlphabetLstm.Cli;

/// <summary>
/// Training progress, one epoch at a time: the epoch, loss, accuracy, optimizer steps per second and
/// the time left. On a terminal it is one line redrawn in place (a bar, at most ten times a second);
/// when stdout is redirected (a log, a pipe, CI) it prints plain lines at a modest rate: every tenth
/// of the run, the last epoch, and at least one every <see cref="PlainInterval"/> on a slow run.
/// Quiet prints nothing. Written by hand rather than with a console library: the commands write to
/// an injected <see cref="TextWriter"/> (the tests run them in process), and the whole job is a
/// carriage return and a few numbers.
/// </summary>
public sealed class ProgressLine
{

    /// <summary>The longest a redirected run goes without a progress line.</summary>
    public static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(30);

    private readonly TextWriter _o;
    private readonly int _epochs;
    private readonly bool _quiet;
    private readonly long _stepsPerEpoch;
    private readonly int _firstEpoch;
    private readonly bool _live;
    private readonly int _every;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan? _lastDraw;
    private int _drawnWidth;
    private double? _validation;
    private TimeSpan? _lastBatchDraw;
    private TimeSpan _epochStart;

    /// <summary>The longest a live line goes without a redraw inside an epoch.</summary>
    public static readonly TimeSpan BatchInterval = TimeSpan.FromSeconds(0.5);

    /// <param name="o">Where to write.</param>
    /// <param name="epochs">The run's last epoch.</param>
    /// <param name="quiet">Print nothing.</param>
    /// <param name="stepsPerEpoch">Optimizer steps (batches) per epoch, for steps per second (0: not shown).</param>
    /// <param name="firstEpoch">Epochs already done when this run started (a resumed run), for the rate and the time left.</param>
    public ProgressLine(TextWriter o, int epochs, bool quiet, long stepsPerEpoch = 0, int firstEpoch = 0)
    {
        _o = o;
        _epochs = epochs;
        _quiet = quiet;
        _stepsPerEpoch = stepsPerEpoch;
        _firstEpoch = firstEpoch;
        _live = !quiet && ReferenceEquals(o, Console.Out) && !Console.IsOutputRedirected;
        _every = Math.Max(1, (epochs - firstEpoch) / 10);
    }

    /// <summary>The progress text after an epoch, given the time since the run (or its resumption) began.</summary>
    public string Describe(EpochReport r, TimeSpan elapsed)
    {
        var text = $"epoch {r.Epoch.ToString(Inv).PadLeft(_epochs.ToString(Inv).Length)}/{_epochs}  loss {r.Loss.ToString("0.0000", Inv)}  accuracy {RunPrinter.Percent(r.Accuracy)}";
        if (_validation is { } held) text += $"  held-out {TextCommands.Nats(held)}";
        var done = r.Epoch - _firstEpoch;
        var seconds = elapsed.TotalSeconds;
        if (done <= 0 || seconds <= 0) return text;
        if (_stepsPerEpoch > 0)
            text += $"  {(done * _stepsPerEpoch / seconds).ToString(seconds < 1e-3 ? "0" : "#,0", Inv)} steps/s";
        return text + $"  {Duration(seconds / done * (_epochs - r.Epoch))} left";
    }

    /// <summary>A duration as 1h 02m, 3m 04s or 5.2s.</summary>
    public static string Duration(double seconds)
    {
        if (!double.IsFinite(seconds) || seconds < 0) return "?";
        var t = TimeSpan.FromSeconds(Math.Round(seconds, seconds < 60 ? 1 : 0));
        return t.TotalHours >= 1 ? $"{(int)t.TotalHours}h {t.Minutes:00}m"
             : t.TotalMinutes >= 1 ? $"{t.Minutes}m {t.Seconds:00}s"
             : $"{t.TotalSeconds.ToString("0.0", Inv)}s";
    }

    /// <summary>The held-out loss of the epoch about to be reported (null: none), shown on its line.</summary>
    public void SetValidation(double? loss) => _validation = loss;

    /// <summary>
    /// Progress inside an epoch: the batches done, the running loss, characters per second and the
    /// time left for the run. Live, the line is redrawn every <see cref="BatchInterval"/>; redirected,
    /// a plain line every <see cref="PlainInterval"/>.
    /// </summary>
    public void ReportBatch(TextBatchReport b)
    {
        if (_quiet) return;
        var now = _clock.Elapsed;
        if (b.Batch == 1) _epochStart = now;
        var since = _lastBatchDraw ?? _lastDraw ?? TimeSpan.Zero;
        if (now - since < (_live ? BatchInterval : PlainInterval) || b.Batch == b.Batches) return;
        _lastBatchDraw = now;
        var seconds = (now - _epochStart).TotalSeconds;
        var perSecond = seconds > 0 ? b.Characters / seconds : 0;
        var batchesLeft = (double)(b.Batches - b.Batch) + (double)(_epochs - b.Epoch) * b.Batches;
        var left = seconds > 0 ? batchesLeft * seconds / b.Batch : double.NaN;
        var text = $"epoch {b.Epoch.ToString(Inv).PadLeft(_epochs.ToString(Inv).Length)}/{_epochs}  batch {b.Batch.ToString("#,0", Inv)}/{b.Batches.ToString("#,0", Inv)}"
                 + $"  loss {b.Loss.ToString("0.0000", Inv)}  {perSecond.ToString("#,0", Inv)} chars/s  {Duration(left)} left";
        if (_live)
        {
            var line = $"   {text}";
            _o.Write($"\r{line.PadRight(_drawnWidth)}");
            _drawnWidth = line.Length;
        }
        else _o.WriteLine($"   {text}");
    }

    public void Report(EpochReport r)
    {
        if (_quiet) return;
        var now = _clock.Elapsed;
        var last = r.Epoch == _epochs;
        if (_live)
        {
            if (!last && _lastDraw is { } drawn && now - drawn < TimeSpan.FromMilliseconds(100)) return;
            _lastDraw = now;
            const int width = 30;
            var filled = (int)Math.Round(width * (double)r.Epoch / Math.Max(1, _epochs));
            var line = $"   [{new string('#', filled)}{new string('.', width - filled)}] {Describe(r, now)}";
            // Pad over the end of a longer previous line.
            _o.Write($"\r{line.PadRight(_drawnWidth)}");
            _drawnWidth = line.Length;
        }
        else if ((r.Epoch - _firstEpoch) % _every == 0 || last || _lastDraw is { } printed && now - printed >= PlainInterval)
        {
            _lastDraw = now;
            _o.WriteLine($"   {Describe(r, now)}");
        }
    }

    public void Done(double seconds)
    {
        if (_live && _drawnWidth > 0) _o.WriteLine();
    }
}
