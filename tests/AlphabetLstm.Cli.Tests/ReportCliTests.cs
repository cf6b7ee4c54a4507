using System.Buffers.Binary;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace AlphabetLstm.Cli.Tests;

/// <summary><c>experiment --out DIR</c> end to end: report.md, results.json and the PNG pictures, from the real process.</summary>
public partial class ReportCliTests
{
    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    [GeneratedRegex(@"\]\(([^)\s]+)\)")]
    private static partial Regex MarkdownLink();

    [GeneratedRegex(@"!\[[^\]]*\]\(([^)\s]+)\)")]
    private static partial Regex MarkdownImage();

    [Fact]
    public void A_stateful_report_has_the_markdown_the_json_and_the_three_pictures()
    {
        using var dir = new TempFolder();
        var r = CliProcess.Run(dir.Path, "experiment", "stateful", "--epochs", "3", "--quiet", "--out", "report");
        Assert.True(r.ExitCode == 0, r.Stderr);

        var report = Path.Combine(dir.Path, "report");
        Assert.Equal(
            ["report.md", "results.json", "stateful-curves.png", "stateful-seed1-h-from-A.png", "stateful-seed1-h-from-K.png"],
            Directory.GetFiles(report).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (var png in Directory.GetFiles(report, "*.png"))
            AssertPng(png);

        var md = File.ReadAllText(Path.Combine(report, "report.md"));
        AssertLinksExist(md, report);
        Assert.Equal(["stateful"], SummaryRows(md));
        Assert.Contains("from 'K' after a reset", md);
        Assert.Contains("stateful-seed1-h-from-A.png", md);
        Assert.Contains("stateful-seed1-h-from-K.png", md);
        Assert.Contains("Compare the outlined first columns", md);
        Assert.Matches(@"The state after 'K' from a reset is nearest to the state after '[A-Z]'", md);

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(report, "results.json")));
        var run = Assert.Single(json.RootElement.GetProperty("runs").EnumerateArray());
        Assert.Equal("stateful", run.GetProperty("experiment").GetString());
        Assert.Equal(3, run.GetProperty("lossHistory").GetArrayLength());
    }

    [Fact]
    public void Every_experiment_gets_a_summary_row_a_section_and_a_curves_picture()
    {
        using var dir = new TempFolder();
        var r = CliProcess.Run(dir.Path, "experiment", "all", "--epochs", "2", "--quiet", "--out", dir.Path);
        Assert.True(r.ExitCode == 0, r.Stderr);

        string[] ids = ["one-char", "feature-window", "timestep-window", "batch-state", "stateful", "variable-length"];
        var md = File.ReadAllText(dir["report.md"]);
        Assert.Equal(ids, SummaryRows(md));
        AssertLinksExist(md, dir.Path);
        foreach (var id in ids)
        {
            Assert.Contains($"## {id}: ", md);
            AssertPng(dir[$"{id}-curves.png"]);
        }
        Assert.Contains("accuracy on a shuffled copy", md);
        Assert.Contains("### 20 fresh random patterns", md);
        Assert.Contains("`AB`, `B`", md);
        Assert.DoesNotContain(dir.Files(), f => f.EndsWith(".tmp", StringComparison.Ordinal));
    }

    [Fact]
    public void With_several_seeds_the_report_has_one_row_per_experiment_and_every_seed_in_its_section()
    {
        using var dir = new TempFolder();
        var r = CliProcess.Run(dir.Path, "experiment", "batch-state", "--seed", "7", "--seeds", "2", "--epochs", "2", "--quiet", "--out", dir.Path);
        Assert.True(r.ExitCode == 0, r.Stderr);

        var md = File.ReadAllText(dir["report.md"]);
        Assert.Equal(["batch-state"], SummaryRows(md));
        Assert.Matches(@"\| \[batch-state\]\(#batch-state\) \| 100\.00% \| [\d.]+% / [\d.]+% / [\d.]+% \| 2 \|", md);
        Assert.Contains("| 7 |", md);
        Assert.Contains("| 8 |", md);
        Assert.Contains("Seeds 7, 8;", md);
        AssertPng(dir["batch-state-curves.png"]);
        Assert.DoesNotContain(dir.Files(), f => f.Contains("-h-from-", StringComparison.Ordinal));
    }

    [Fact]
    public void With_masking_the_padding_collision_row_says_masked_and_the_text_explains_the_fix()
    {
        using var dir = new TempFolder();
        var r = CliProcess.Run(dir.Path, "experiment", "variable-length", "--mask", "--epochs", "2", "--quiet", "--out", dir.Path);
        Assert.True(r.ExitCode == 0, r.Stderr);

        var md = File.ReadAllText(dir["report.md"]);
        Assert.Matches(@"\| 1 \| yes \| `AB`, `B` \| yes \|", md);
        Assert.Contains("With masking, padded steps leave the state untouched", md);
        Assert.Equal(20, Regex.Matches(md, @"(?m)^\| `[A-Z]{1,5}` \| [A-Z]").Count);
        AssertLinksExist(md, dir.Path);
    }

    [Fact]
    public void Without_out_the_report_goes_to_a_fresh_folder_named_on_the_last_line_and_nothing_is_overwritten()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["alphabet-lstm-report-2"], "a file of the user's");
        string[] run = ["experiment", "batch-state", "--epochs", "2", "--quiet"];
        var first = CliProcess.Run(dir.Path, run);
        var second = CliProcess.Run(dir.Path, run);
        Assert.True(first.ExitCode == 0 && second.ExitCode == 0, first.Stderr + second.Stderr);
        var reportMd = Path.Combine("alphabet-lstm-report", "report.md");
        Assert.Equal($"the report is in alphabet-lstm-report: open {reportMd}", first.Stdout.TrimEnd().Split('\n')[^1]);
        Assert.Equal($"the report is in alphabet-lstm-report-3: open {Path.Combine("alphabet-lstm-report-3", "report.md")}", second.Stdout.TrimEnd().Split('\n')[^1]);
        Assert.Equal("a file of the user's", File.ReadAllText(dir["alphabet-lstm-report-2"]));
        Assert.Equal(["batch-state"], SummaryRows(File.ReadAllText(dir[reportMd])));
        AssertPng(dir["alphabet-lstm-report-3/batch-state-curves.png"]);
    }

    [Fact]
    public void No_report_writes_only_what_is_asked_and_contradicting_out_is_a_usage_error()
    {
        using var dir = new TempFolder();
        var r = CliProcess.Run(dir.Path, "experiment", "batch-state", "--epochs", "2", "--quiet", "--no-report", "--json", "r.json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.DoesNotContain("the report is in", r.Stdout);
        Assert.Equal(["r.json"], dir.Files());
        // A shard writes its JSON only: the report is merge's.
        var s = CliProcess.Run(dir.Path, "experiment", "batch-state", "--epochs", "2", "--quiet", "--shard", "0/2", "--json", "s.json");
        Assert.True(s.ExitCode == 0, s.Stderr);
        Assert.Equal(["r.json", "s.json"], dir.Files());
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, "experiment", "batch-state", "--no-report", "--out", "x"), 2, "--no-report and --out");
    }

    [Fact]
    public void The_heatmaps_scale_is_light_at_zero_and_no_end_is_dark()
    {
        static double Luminance(ScottPlot.Color c) => (0.2126 * c.R + 0.7152 * c.G + 0.0722 * c.B) / 255;
        Assert.True(Luminance(Plots.Diverging.GetColor(0.5)) > 0.9, "0 must print light");
        foreach (var end in new[] { 0.0, 1.0 })
            Assert.InRange(Luminance(Plots.Diverging.GetColor(end)), 0.2, 0.6);
        // The two signs differ in hue: blue below 0, red above.
        Assert.True(Plots.Diverging.GetColor(0.0).B > Plots.Diverging.GetColor(0.0).R);
        Assert.True(Plots.Diverging.GetColor(1.0).R > Plots.Diverging.GetColor(1.0).B);
    }

    /// <summary>The experiment ids of the summary table's rows, in order.</summary>
    private static string[] SummaryRows(string md)
    {
        var lines = md.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        var header = lines.FindIndex(l => l.StartsWith("| experiment | tutorial |", StringComparison.Ordinal));
        Assert.True(header >= 0, "report.md has no summary table");
        return lines.Skip(header + 2)
            .TakeWhile(l => l.StartsWith('|'))
            .Select(l => Regex.Match(l, @"^\| \[([a-z-]+)\]").Groups[1].Value)
            .ToArray();
    }

    /// <summary>Every relative link and image in the markdown names a file in <paramref name="folder"/>; every picture there is linked.</summary>
    private static void AssertLinksExist(string md, string folder)
    {
        var links = MarkdownLink().Matches(md).Select(m => m.Groups[1].Value).Where(l => !l.StartsWith('#')).ToList();
        Assert.NotEmpty(links);
        foreach (var link in links)
        {
            Assert.False(Path.IsPathRooted(link) || link.Contains("://", StringComparison.Ordinal), $"link '{link}' is not relative");
            Assert.True(File.Exists(Path.Combine(folder, link)), $"report.md links to '{link}', which does not exist");
        }
        var images = MarkdownImage().Matches(md).Select(m => m.Groups[1].Value).ToHashSet();
        foreach (var png in Directory.GetFiles(folder, "*.png"))
            Assert.Contains(Path.GetFileName(png), images);
    }

    /// <summary>A real PNG: the signature, an IHDR chunk with a plausible size, and more than a blank canvas of bytes.</summary>
    private static void AssertPng(string path)
    {
        Assert.True(File.Exists(path), $"{path} is missing");
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > 4096, $"{Path.GetFileName(path)} is only {bytes.Length} bytes");
        Assert.Equal(PngSignature, bytes[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
        var width = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16, 4));
        var height = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20, 4));
        Assert.InRange(width, 400, 4000);
        Assert.InRange(height, 300, 4000);
        Assert.Equal("IEND", System.Text.Encoding.ASCII.GetString(bytes, bytes.Length - 8, 4));
    }
}
