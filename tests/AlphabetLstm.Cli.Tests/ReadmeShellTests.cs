using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace AlphabetLstm.Cli.Tests;

/// <summary>
/// Every shell block of the README runs as written, in README order, in one scratch folder outside
/// the clone, with <c>alphabet-lstm</c> on the PATH meaning the program built with these tests and
/// <c>$CLONE</c> the repository. A block marked <c>&lt;!-- readme-test: skip REASON --&gt;</c> on the line
/// before it is not run (it installs, builds or runs for minutes), nor is a block marked
/// <c>&lt;!-- cluster-test: NAME --&gt;</c> (the cluster test runs those). In a block of <c>$ command</c>
/// lines, the lines after a command are its output as shown: compared line by line, where a line
/// <c>...</c> stands for any number of lines and <c>…</c> for any text within a line (times, folders).
/// A block without <c>$</c> lines is a script run as it stands. An <c>alphabet-lstm</c> command must
/// exit 0 unless its output shows an <c>error:</c> line, and then it must fail.
/// </summary>
public partial class ReadmeShellTests
{
    /// <summary>One command of a README block, with the output the README shows for it (empty: not compared).</summary>
    public sealed record Command(int Line, string Text, IReadOnlyList<string> Shown);

    /// <summary>A shell block of the README: its first line number, whether it runs, and its commands.</summary>
    public sealed record Block(int Line, string? Skip, IReadOnlyList<Command> Commands);

    [GeneratedRegex(@"^<!-- (readme-test: skip (?<reason>[a-z-]+)|cluster-test: [a-z0-9-]+) -->$")]
    private static partial Regex Marker();

    [GeneratedRegex(@"^[0-9]+$")]
    private static partial Regex Number();

    /// <summary>The README's <c>sh</c> and <c>bash</c> blocks, in order.</summary>
    public static IReadOnlyList<Block> Blocks(string readme)
    {
        var lines = readme.ReplaceLineEndings("\n").Split('\n');
        var blocks = new List<Block>();
        for (var k = 0; k < lines.Length; k++)
        {
            if (lines[k] is not ("```sh" or "```bash")) continue;
            var start = k;
            var body = new List<string>();
            for (k++; k < lines.Length && lines[k] != "```"; k++) body.Add(lines[k]);
            var above = start > 0 ? lines[start - 1] : "";
            var marker = Marker().Match(above);
            var skip = !marker.Success ? null : marker.Groups["reason"].Success ? marker.Groups["reason"].Value : "cluster";
            blocks.Add(new Block(start + 1, skip, Commands(body, start + 2)));
        }
        return blocks;
    }

    private static List<Command> Commands(List<string> body, int firstLine)
    {
        if (!body.Any(l => l.StartsWith("$ ", StringComparison.Ordinal)))
            return [new Command(firstLine, string.Join('\n', body), [])];
        var commands = new List<Command>();
        for (var k = 0; k < body.Count; k++)
        {
            Assert.True(body[k].StartsWith("$ ", StringComparison.Ordinal), $"README line {firstLine + k}: output before any command");
            var shown = new List<string>();
            var at = k;
            while (k + 1 < body.Count && !body[k + 1].StartsWith("$ ", StringComparison.Ordinal)) shown.Add(body[++k]);
            commands.Add(new Command(firstLine + at, body[at][2..], shown));
        }
        return commands;
    }

    /// <summary>Whether <paramref name="actual"/> is what <paramref name="shown"/> shows: "..." any lines, "…" any text in a line.</summary>
    public static bool Matches(IReadOnlyList<string> shown, string actual)
    {
        var pattern = new StringBuilder("^");
        foreach (var line in shown)
            pattern.Append(line.TrimEnd() == "..." ? @"(?:[^\n]*\n)*?" : string.Join(@"[^\n]*?", line.TrimEnd().Split('…').Select(Regex.Escape)) + @"\n");
        var lines = actual.ReplaceLineEndings("\n").Split('\n').Select(l => l.TrimEnd()).ToList();
        while (lines.Count > 0 && lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
        return Regex.IsMatch(string.Concat(lines.Select(l => l + "\n")), pattern.Append('$').ToString());
    }

    [Fact]
    public void Shown_output_matches_with_elided_lines_and_text_and_nothing_else()
    {
        Assert.True(Matches(["a", "...", "z"], "a\nb\nc\nz\n"));
        Assert.True(Matches(["a", "...", "z"], "a\nz"));
        Assert.True(Matches(["took … s"], "took 1.25 s  \n\n"));
        Assert.False(Matches(["a", "z"], "a\nb\nz\n"));
        Assert.False(Matches(["took … s"], "took 1.25 ms\nmore\n"));
        Assert.False(Matches(["a"], "a\nb\n"));
        Assert.False(Matches(["a", "b"], "a\n"));
        var blocks = Blocks("<!-- readme-test: skip slow -->\n```sh\nx\n```\n```sh\n$ echo a\na\n$ true\n```\n<!-- cluster-test: parallel -->\n```sh\ny\n```\n");
        Assert.Equal(["slow", null, "cluster"], blocks.Select(b => b.Skip));
        Assert.Equal(["echo a", "true"], blocks[1].Commands.Select(c => c.Text));
        Assert.Equal(["a"], blocks[1].Commands[0].Shown);
    }

    [GeneratedRegex(@"\b(issue \d+|commit [0-9a-f]{7}|this round|last round)\b", RegexOptions.IgnoreCase)]
    private static partial Regex History();

    [Fact]
    public void The_README_is_a_guide_under_500_lines_and_neither_it_nor_docs_speaks_of_issues_commits_or_rounds()
    {
        var readme = File.ReadAllText(Path.Combine(Repo.Root, "README.md")).ReplaceLineEndings("\n");
        Assert.True(readme.TrimEnd('\n').Split('\n').Length < 500, "README.md has 500 lines or more: move maintainer material to docs/");
        foreach (var file in Directory.GetFiles(Path.Combine(Repo.Root, "docs"), "*.md").Prepend(Path.Combine(Repo.Root, "README.md")))
        {
            var hit = History().Match(File.ReadAllText(file));
            Assert.False(hit.Success, $"{Path.GetFileName(file)} speaks of '{hit.Value}': say what is true now and how to reproduce it");
        }
    }

    [Fact]
    public void Every_shell_block_of_the_README_runs_as_written_and_prints_what_it_shows()
    {
        var blocks = Blocks(File.ReadAllText(Path.Combine(Repo.Root, "README.md")));
        var run = blocks.Where(b => b.Skip is null).SelectMany(b => b.Commands).ToList();
        Assert.True(run.Count >= 20, $"expected the README to show at least 20 commands that run, found {run.Count}");
        // The cluster test runs the cluster blocks; only the blocks no test runs count as skipped.
        var skipped = blocks.Where(b => b.Skip is not null and not "cluster").ToList();
        Assert.True(skipped.Count <= 5, "more than a few blocks are skipped: " + string.Join(", ", skipped.Select(b => $"line {b.Line} ({b.Skip})")));

        using var scratch = new TempFolder();
        using var outputs = new TempFolder();
        var bin = Directory.CreateDirectory(Path.Combine(outputs.Path, "bin")).FullName;
        var shim = Path.Combine(bin, "alphabet-lstm");
        File.WriteAllText(shim, $"#!/bin/sh\nexec '{CliProcess.Dotnet}' '{CliProcess.Dll}' \"$@\"\n");

        // One bash script: each command's output and exit code go to files of their own; the shell
        // (its folder, variables and background jobs) carries on from command to command, as a user's does.
        var script = new StringBuilder($"chmod +x '{shim}'\nexec 3>&1 4>&2\n");
        for (var k = 0; k < run.Count; k++)
        {
            var o = Path.Combine(outputs.Path, k.ToString(CultureInfo.InvariantCulture));
            script.Append($"exec >'{o}.out' 2>&1\n{run[k].Text}\necho $? >'{o}.rc'\n");
        }
        script.Append("exec 1>&3 2>&4\n");
        File.WriteAllText(Path.Combine(outputs.Path, "readme.sh"), script.ToString());

        var info = new ProcessStartInfo("bash", [Path.Combine(outputs.Path, "readme.sh")])
        {
            WorkingDirectory = scratch.Path, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        info.Environment["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH");
        info.Environment["CLONE"] = Repo.Root;
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        var result = CliProcess.Wait(Process.Start(info)!, "the README's shell blocks");
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);

        var failures = new List<string>();
        for (var k = 0; k < run.Count; k++)
        {
            var c = run[k];
            var o = Path.Combine(outputs.Path, k.ToString(CultureInfo.InvariantCulture));
            var output = File.Exists(o + ".out") ? File.ReadAllText(o + ".out") : "";
            var rc = File.Exists(o + ".rc") ? File.ReadAllText(o + ".rc").Trim() : "(did not finish)";
            if (c.Shown.Count > 0 && !Matches(c.Shown, output))
                failures.Add($"README line {c.Line}: $ {c.Text}\n--- shown:\n{string.Join('\n', c.Shown)}\n--- printed:\n{output}");
            var failing = c.Shown.Any(l => l.StartsWith("error: ", StringComparison.Ordinal));
            if (c.Text.StartsWith("alphabet-lstm ", StringComparison.Ordinal) && Number().IsMatch(rc) && (rc == "0") == failing)
                failures.Add($"README line {c.Line}: $ {c.Text}\nexit {rc}, expected {(failing ? "a failure" : "0")}\n{output}");
            if (!Number().IsMatch(rc))
                failures.Add($"README line {c.Line}: $ {c.Text}\n{rc}\n{output}");
        }
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
    }
}
