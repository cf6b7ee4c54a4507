using MathNet.Numerics;

namespace AlphabetLstm.Cli;

/// <summary>
/// Chooses MathNet's linear-algebra provider at start-up: native MKL where it is installed
/// (MathNet.Numerics.Providers.MKL and its native package), else the managed provider. Either way
/// MathNet runs single-threaded: the model's products are small, and MathNet's parallel path makes a
/// 32×32 matrix-vector product about 25× slower. The hot LSTM loops do not go through the provider
/// at all (they work on spans); it serves the orthogonal initialiser's QR and user code.
/// </summary>
public static class LinearAlgebra
{
    private static string? _selected;

    /// <summary>Selects the provider once and returns a one-line description of it.</summary>
    public static string Select()
    {
        if (_selected is not null) return _selected;
        Control.UseSingleThread();
        string name;
        try
        {
            name = Control.TryUseNativeMKL() ? $"native MKL provider ({MathNet.Numerics.Providers.LinearAlgebra.LinearAlgebraControl.Provider})" : UseManaged("native MKL not installed");
        }
        catch (Exception e) when (e is DllNotFoundException or TypeLoadException or FileNotFoundException or NotSupportedException or InvalidOperationException)
        {
            name = UseManaged("native MKL failed to load");
        }
        _selected = $"{name}, single-threaded";
        return _selected;
    }

    private static string UseManaged(string why)
    {
        Control.UseManaged();
        return $"managed provider ({why})";
    }
}
