
namespace AlphabetLstm.Cli;

/// <summary>
/// The loss and accuracy history of a run, bounded for any number of epochs: every epoch is kept up
/// to <see cref="Limit"/>; past that, every second kept epoch is dropped and only epochs on the new,
/// doubled stride are kept from then on, so the history stays evenly spaced and never holds more
/// than <see cref="Limit"/> epochs (plus the last one, always kept).
/// </summary>
public sealed class EpochHistory
{
    /// <summary>The most epochs kept: 10,000 (every epoch of every tutorial run).</summary>
    public const int Limit = 10_000;

    private readonly List<EpochReport> _kept = [];
    private readonly int _limit;
    private EpochReport? _last;

    public EpochHistory(int limit = Limit)
    {
        if (limit < 2) throw new ArgumentOutOfRangeException(nameof(limit), "the history keeps at least 2 epochs");
        _limit = limit;
    }

    /// <summary>Keep every <see cref="Stride"/>-th epoch (1 until the limit is reached).</summary>
    public int Stride { get; private set; } = 1;

    /// <summary>Whether epochs have been left out.</summary>
    public bool Thinned => Stride > 1;

    public void Add(EpochReport report)
    {
        _last = report;
        if (report.Epoch % Stride != 0) return;
        _kept.Add(report);
        if (_kept.Count < _limit) return;
        Stride *= 2;
        _kept.RemoveAll(r => r.Epoch % Stride != 0);
    }

    /// <summary>
    /// A sentence for the report when some run's history was thinned ((kept, epochs) per run), else null:
    /// the curves and results.json's histories then hold every k-th epoch, not all of them.
    /// </summary>
    public static string? Note(IEnumerable<(int Kept, int Epochs)> runs)
    {
        var thinned = runs.Where(r => r.Kept < r.Epochs).ToList();
        if (thinned.Count == 0) return null;
        var (kept, epochs) = thinned[0];
        return $"The history of these runs was thinned to keep memory bounded: every epoch is kept up to {Limit:N0}, "
             + $"then evenly spaced epochs (here {kept:N0} of {epochs:N0}, the last included), so the curves and the "
             + "histories in results.json show those epochs, not all of them.";
    }

    /// <summary>The kept epochs in order, ending with the last epoch added.</summary>
    public IReadOnlyList<EpochReport> Items =>
        _last is null || (_kept.Count > 0 && _kept[^1].Epoch == _last.Epoch) ? _kept.ToList() : [.. _kept, _last];
}
