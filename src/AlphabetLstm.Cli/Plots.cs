using MathNet.Numerics.LinearAlgebra;
using ScottPlot;

namespace AlphabetLstm.Cli;

/// <summary>
/// The report's pictures, drawn with ScottPlot and written as PNG (each file atomically):
/// loss and accuracy curves per experiment with every seed on one chart, and for the stateful
/// model heatmaps of the hidden state h along the alphabet from a reset and along a run from 'K'
/// after a reset. File names are relative to the report folder so report.md can link them.
/// </summary>
public static class Plots
{
    private const int CurvesWidth = 1100, CurvesHeight = 420;
    private const int HeatmapWidth = 1000, HeatmapHeight = 560;

    public static string CurvesFile(string experimentId) => $"{experimentId}-curves.png";

    public static string HiddenFromAFile(long seed) => $"stateful-seed{seed}-h-from-A.png";

    public static string HiddenFromKFile(long seed) => $"stateful-seed{seed}-h-from-K.png";

    /// <summary>
    /// The run whose hidden-state traces the report pictures: the first seed of the stateful
    /// experiment (not the best one: the report shows what a run gives, not a chosen run).
    /// </summary>
    public static ResultsJson.RunDto? TracedRun(IReadOnlyList<ResultsJson.RunDto> runs) =>
        runs.Where(r => r.Traces is not null).OrderBy(r => r.Seed).FirstOrDefault();

    /// <summary>The names of the pictures <see cref="Write"/> draws for <paramref name="runs"/>.</summary>
    public static IReadOnlyList<string> FileNames(IReadOnlyList<ResultsJson.RunDto> runs)
    {
        var names = runs.Select(r => r.Experiment).Distinct().Select(CurvesFile).ToList();
        if (TracedRun(runs) is { } traced) names.AddRange([HiddenFromAFile(traced.Seed), HiddenFromKFile(traced.Seed)]);
        return names;
    }

    /// <summary>
    /// The memory drawing the pictures plans to use: the curves' points (x and y of loss and accuracy,
    /// copied by the plot: 64 bytes an epoch kept) and the heatmaps' cells (as many), plus the pictures'
    /// pixels (four layers of 4 bytes a pixel each).
    /// </summary>
    public static double EstimateBytes(IReadOnlyList<ResultsJson.RunDto> runs)
    {
        double points = runs.Sum(r => (double)r.LossHistory.Count);
        double cells = TracedRun(runs) is { Traces: { } t } ? t.FromA.Hidden.Sum(r => (double)r.Count) + t.FromK.Hidden.Sum(r => (double)r.Count) : 0;
        double pixels = runs.Select(r => r.Experiment).Distinct().Count() * (double)CurvesWidth * CurvesHeight + 2.0 * HeatmapWidth * HeatmapHeight;
        return 64 * (points + cells) + 16 * pixels;
    }

    /// <summary>Draws every picture for <paramref name="runs"/> into <paramref name="dir"/>; returns the full paths written.</summary>
    public static IReadOnlyList<string> Write(string dir, IReadOnlyList<ResultsJson.RunDto> runs)
    {
        UseSansFont();
        var written = new List<string>();
        void Save(string name, byte[] png)
        {
            var path = Path.Combine(dir, name);
            AtomicFile.WriteAllBytes(path, png);
            written.Add(path);
        }

        foreach (var group in runs.GroupBy(r => r.Experiment))
            Save(CurvesFile(group.Key), Curves(group.Key, group.OrderBy(r => r.Seed).ToList()));

        if (TracedRun(runs) is { Traces: { } dto } traced)
        {
            var traces = new StateTraces(dto.FromA.ToCore(), dto.FromK.ToCore());
            var order = UnitOrder(traces.FromA);
            Save(HiddenFromAFile(traced.Seed), Heatmap(traces.FromA, order,
                $"Hidden state h, fed the alphabet from a reset (stateful, seed {traced.Seed})"));
            Save(HiddenFromKFile(traced.Seed), Heatmap(traces.FromK, order,
                $"Hidden state h, fed 'K' after a reset, then its own predictions (stateful, seed {traced.Seed})"));
        }
        return written;
    }

    /// <summary>
    /// Checks, before any training, that pictures can be drawn: fails with a one-line error when
    /// SkiaSharp's native library cannot load, and returns a warning when the machine has no fonts
    /// (the pictures would come out without any text), otherwise null.
    /// </summary>
    public static string? Preflight()
    {
        try
        {
            // With no font files Skia still lists one nameless family whose typeface has no glyphs.
            if (SkiaSharp.SKTypeface.Default.GlyphCount > 0) return null;
            return "no fonts found (SkiaSharp reads /usr/share/fonts), so the report's pictures will have no text; "
                 + "install a font package such as fonts-dejavu-core";
        }
        catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or BadImageFormatException)
        {
            throw new FailureException($"cannot draw the report's pictures: SkiaSharp's native library did not load ({(e.InnerException ?? e).Message.ReplaceLineEndings(" ")})");
        }
    }

    private static readonly string[] SansFamilies = ["DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial", "Helvetica"];

    /// <summary>
    /// Labels in a sans-serif face when the machine has one. The SkiaSharp native build we ship
    /// (NoDependencies: no libfontconfig needed) reads fonts straight from /usr/share/fonts and
    /// would otherwise pick whatever family it meets first.
    /// </summary>
    internal static void UseSansFont()
    {
        var installed = SkiaSharp.SKFontManager.Default.GetFontFamilies().ToHashSet(StringComparer.OrdinalIgnoreCase);
        if (SansFamilies.FirstOrDefault(installed.Contains) is { } family)
            Fonts.Default = family;
    }

    /// <summary>Loss (left) and accuracy (right) per epoch, one line per seed.</summary>
    public static byte[] Curves(string experimentId, IReadOnlyList<ResultsJson.RunDto> runs)
    {
        var multiplot = new Multiplot();
        multiplot.AddPlots(2);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Columns();
        var loss = multiplot.GetPlot(0);
        var accuracy = multiplot.GetPlot(1);

        foreach (var run in runs)
        {
            var epochs = Enumerable.Range(1, run.LossHistory.Count).Select(e => (double)e).ToArray();
            var l = loss.Add.ScatterLine(epochs, run.LossHistory.ToArray());
            var a = accuracy.Add.ScatterLine(epochs, run.AccuracyHistory.ToArray());
            // The same colour for a seed on both charts, so one legend serves both.
            a.Color = l.Color;
            l.LineWidth = a.LineWidth = 1.5f;
            l.LegendText = $"seed {run.Seed}";
        }

        loss.Title($"{experimentId}: training loss");
        loss.XLabel("epoch");
        loss.YLabel("cross-entropy loss");
        loss.Axes.SetLimitsY(0, Math.Max(0.1, runs.SelectMany(r => r.LossHistory).DefaultIfEmpty(1).Max()) * 1.05);
        loss.ShowLegend(Alignment.UpperRight);

        accuracy.Title($"{experimentId}: training accuracy");
        accuracy.XLabel("epoch");
        accuracy.YLabel("accuracy");
        accuracy.Axes.SetLimitsY(0, 1.05);
        var tutorial = runs[0].Spec.TutorialAccuracy;
        var line = accuracy.Add.HorizontalLine(tutorial);
        line.LinePattern = LinePattern.Dashed;
        line.Color = Colors.Gray;
        line.LegendText = $"tutorial {RunPrinter.Percent(tutorial)}";
        accuracy.ShowLegend(Alignment.LowerRight);

        return multiplot.Render(CurvesWidth, CurvesHeight).GetImageBytes(ImageFormat.Png);
    }

    /// <summary>
    /// A text run's training loss and held-out loss per epoch, in bits per character (nats / ln 2),
    /// on one chart: what <c>train --text --plot FILE</c> draws.
    /// </summary>
    public static byte[] TextCurves(string title, IReadOnlyList<TextCommands.EpochDto> history)
    {
        UseSansFont();
        var plot = new Plot();
        var epochs = history.Select(h => (double)h.Epoch).ToArray();
        var train = plot.Add.ScatterLine(epochs, history.Select(h => h.Loss / Math.Log(2)).ToArray());
        train.LegendText = "training (mean over the epoch)";
        train.LineWidth = 2;
        train.MarkerSize = 7;
        var held = history.Where(h => h.ValidationBitsPerCharacter is not null).ToList();
        if (held.Count > 0)
        {
            var v = plot.Add.ScatterLine(held.Select(h => (double)h.Epoch).ToArray(), held.Select(h => h.ValidationBitsPerCharacter!.Value).ToArray());
            v.LegendText = "held-out (after the epoch)";
            v.LineWidth = 2;
            v.MarkerSize = 7;
        }
        plot.Title(title);
        plot.XLabel("epoch");
        plot.YLabel("loss, bits per character");
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        foreach (var e in epochs) ticks.AddMajor(e, e.ToString(Inv));
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.SetLimitsX(0.8, Math.Max(1.2, epochs.DefaultIfEmpty(1).Max() + 0.2));
        plot.ShowLegend(Alignment.UpperRight);
        return plot.GetImageBytes(CurvesWidth * 3 / 4, CurvesHeight, ImageFormat.Png);
    }

    /// <summary>
    /// The hidden units sorted by their value after the first step of <paramref name="reference"/>
    /// (the state after 'A' from a reset). Both heatmaps use this one order, so a column that
    /// resembles the 'A' column shows as the same smooth ramp.
    /// </summary>
    public static int[] UnitOrder(StateTrace reference)
    {
        var first = reference.Hidden.Row(0);
        return Enumerable.Range(0, first.Count).OrderBy(u => first[u]).ToArray();
    }

    /// <summary>
    /// The heatmaps' diverging scale for h in [−1, 1]: white at 0, blue below, red above (ColorBrewer's
    /// five-class RdBu, reversed), so values near 0 print light and neither end prints black.
    /// </summary>
    public static readonly IColormap Diverging = new ScottPlot.Colormaps.CustomInterpolated(
    [
        Color.FromHex("#2166AC"), Color.FromHex("#67A9CF"), Color.FromHex("#F7F7F7"), Color.FromHex("#EF8A62"), Color.FromHex("#B2182B"),
    ]);

    /// <summary>
    /// h after each step (x: the letter fed, y: hidden unit), on the fixed <see cref="Diverging"/>
    /// scale [−1, 1]. The first column, the one the report compares between the two pictures, is outlined.
    /// </summary>
    public static byte[] Heatmap(StateTrace trace, int[] unitOrder, string title)
    {
        Matrix<double> h = trace.Hidden;                 // (steps, H)
        int steps = h.RowCount, units = h.ColumnCount;
        // Intensities[row, column]: row r is drawn at y = units − 1 − r, so the unit that is
        // lowest after 'A' ends up at the bottom.
        var cells = new double[units, steps];
        for (var r = 0; r < units; r++)
            for (var t = 0; t < steps; t++)
                cells[r, t] = h[t, unitOrder[units - 1 - r]];

        var plot = new Plot();
        var map = plot.Add.Heatmap(cells);
        map.Colormap = Diverging;
        map.ManualRange = new ScottPlot.Range(-1, 1);
        // With the default centred cell alignment the extent gives the centres of the corner cells:
        // cell (unit, t) is centred on x = t, so the letter ticks sit under their columns.
        map.Extent = new CoordinateRect(0, steps - 1, 0, units - 1);
        var bar = plot.Add.ColorBar(map);
        bar.Label = "h";
        // The compared column: the state after the first letter fed, outlined over the cells.
        var compared = plot.Add.Rectangle(-0.5, 0.5, -0.5, units - 0.5);
        compared.FillStyle.Color = Colors.Transparent;
        compared.LineStyle.Color = Colors.Black;
        compared.LineStyle.Width = 3;

        var letters = new ScottPlot.TickGenerators.NumericManual();
        for (var t = 0; t < steps && t < trace.Inputs.Length; t++)
            letters.AddMajor(t, Display.Escape(trace.Inputs[t].ToString()));
        plot.Axes.Bottom.TickGenerator = letters;
        plot.Axes.SetLimits(-0.5, steps - 0.5, -0.5, units - 0.5);
        plot.Title(title);
        plot.XLabel("letter fed at this step (h is the state after it); outlined: the column to compare between the pictures");
        plot.YLabel($"hidden unit (all {units}, sorted by h after the first letter)");
        return plot.GetImageBytes(HeatmapWidth, HeatmapHeight, ImageFormat.Png);
    }
}
