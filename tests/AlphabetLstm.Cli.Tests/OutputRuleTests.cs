using System.CommandLine;

namespace AlphabetLstm.Cli.Tests;

/// <summary>
/// Issue 22, the output rule: every command with an output option, its output pointed at each file it
/// reads (or the run it continues reads), directly, through a symbolic link, through a hard link and
/// through "sub/..": one line naming both, exit 1, the input unchanged and nothing written.
/// </summary>
public class OutputRuleTests
{
    /// <summary>The outputs of every command; those that read no file have no case below (there is nothing to overwrite).</summary>
    private static readonly (string Command, string Option, bool Folder)[] Outputs =
    [
        ("experiment", "--json", false), ("experiment", "--out", true),
        ("merge", "--json", false), ("merge", "--out", true),
        ("sweep", "--json", false), ("sweep", "--out", true),
        ("train", "--save", false), ("train", "--checkpoint", true), ("train", "--json", false), ("train", "--plot", false),
        ("resume", "--save", false),
        ("predict", "--json", false),
        ("export", "--onnx", false),
        ("import", "--save", false),
        ("bench", "--json", false),
    ];

    private static readonly string[] ReadNothing = ["experiment", "bench"];

    /// <summary>A command line with {out} where the output goes; Setup makes the inputs in the folder and returns the input the output is aimed at.</summary>
    public sealed record Case(string Command, string Option, string InputName, Func<TempFolder, string> Setup, string[] Args, bool Folder = false);

    private static string Model(TempFolder d) { File.WriteAllText(d["model.json"], Hostile.ModelText()); return d["model.json"]; }
    private static string Inputs(TempFolder d) { Model(d); File.WriteAllText(d["inputs.json"], "[[[0.5]]]"); File.WriteAllText(d["state.json"], "{\"h\": [[0, 0, 0]], \"c\": [[0, 0, 0]]}"); return d["inputs.json"]; }
    private static string Text(TempFolder d) { File.WriteAllText(d["t.txt"], Hostile.Text); return d["t.txt"]; }

    private static string Grid(TempFolder d, string name) { Directory.CreateDirectory(Path.GetDirectoryName(d[name])!); File.WriteAllText(d[name], "units = 2, 3\n"); return d[name]; }

    public static readonly Case[] Cases =
    [
        new("predict", "--json", "--model", Model, ["predict", "--model", "{dir}/model.json", "--inputs", "{dir}/inputs.json", "--json", "{out}"]),
        new("predict", "--json", "--inputs", Inputs, ["predict", "--model", "{dir}/model.json", "--inputs", "{dir}/inputs.json", "--json", "{out}"]),
        new("predict", "--json", "--state", d => { Inputs(d); return d["state.json"]; }, ["predict", "--model", "{dir}/model.json", "--inputs", "{dir}/inputs.json", "--state", "{dir}/state.json", "--json", "{out}"]),
        new("export", "--onnx", "--model", Model, ["export", "--model", "{dir}/model.json", "--onnx", "{out}"]),
        new("import", "--save", "--onnx", d => { File.WriteAllBytes(d["s.onnx"], Hostile.OnnxBytes()); return d["s.onnx"]; }, ["import", "--onnx", "{dir}/s.onnx", "--save", "{out}"]),
        new("train", "--save", "--text", Text, ["train", "--text", "{dir}/t.txt", "--save", "{out}", "--epochs", "1", "--units", "2", "--window", "3", "--quiet"]),
        new("train", "--json", "--text", Text, ["train", "--text", "{dir}/t.txt", "--save", "{dir}/m.json", "--json", "{out}", "--epochs", "1", "--units", "2", "--window", "3", "--quiet"]),
        new("train", "--plot", "--text", Text, ["train", "--text", "{dir}/t.txt", "--save", "{dir}/m.json", "--plot", "{out}", "--epochs", "1", "--units", "2", "--window", "3", "--quiet"]),
        new("train", "--checkpoint", "--text", d => { Directory.CreateDirectory(d["ck"]); File.WriteAllText(d["ck/checkpoint.json"], Hostile.Text); return d["ck/checkpoint.json"]; },
            ["train", "--text", "{dir}/ck/checkpoint.json", "--save", "{dir}/m.json", "--checkpoint", "{out}", "--epochs", "1", "--units", "2", "--window", "3", "--quiet"], Folder: true),
        new("resume", "--save", "the run's text", d =>
        {
            Text(d);
            var r = Hostile.Run("train", "--text", d["t.txt"], "--save", d["m.json"], "--checkpoint", d["run"], "--epochs", "2", "--checkpoint-every", "1", "--units", "2", "--window", "3", "--quiet");
            Assert.True(r.ExitCode == 0, r.Stderr);
            File.Delete(d["m.json"]);
            return d["t.txt"];
        }, ["resume", "{dir}/run", "--save", "{out}", "--quiet"]),
        new("sweep", "--json", "--grid", d => { File.WriteAllText(d["g.txt"], "units = 2\nepochs = 1\n"); return d["g.txt"]; },
            ["sweep", "one-char", "--grid", "{dir}/g.txt", "--json", "{out}", "--quiet"]),
        new("sweep", "--out", "--grid", d => { Directory.CreateDirectory(d["report"]); File.WriteAllText(d["report/sweep.md"], "units = 2\nepochs = 1\n"); return d["report/sweep.md"]; },
            ["sweep", "one-char", "--grid", "{dir}/report/sweep.md", "--out", "{out}", "--quiet"], Folder: true),
        new("merge", "--json", "part 2", d => Hostile.Parts(d, 2)[1], ["merge", "{dir}/p0.json", "{dir}/p1.json", "--json", "{out}"]),
        new("merge", "--out", "part 1", d =>
        {
            var p = Hostile.Parts(d, 1)[0];
            Directory.CreateDirectory(d["report"]);
            File.Move(p, d["report/results.json"]);
            return d["report/results.json"];
        }, ["merge", "{dir}/report/results.json", "--out", "{out}"], Folder: true),
        new("sweep", "--json", "--grid", d => Grid(d, "grid.txt"), ["sweep", "one-char", "--grid", "{dir}/grid.txt", "--epochs", "1", "--quiet", "--json", "{out}"]),
        new("sweep", "--out", "--grid", d => Grid(d, "table/sweep.md"), ["sweep", "one-char", "--grid", "{dir}/table/sweep.md", "--epochs", "1", "--quiet", "--out", "{out}"], Folder: true),
    ];

    public static TheoryData<int> CaseNumbers => new(Enumerable.Range(0, Cases.Length));

    /// <summary>How an output option's help reads: "Write ... to FILE/DIR", "With --text: write/draw ...", or "The ... file to write" (and it takes a path: switches such as --no-report are not outputs).</summary>
    private static readonly System.Text.RegularExpressions.Regex Writes = new(@"^(With --text: )?([Ww]rite|draw) |file to write", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    [Fact]
    public void Every_option_that_writes_is_listed_and_every_command_that_reads_has_a_case_per_output()
    {
        var root = Cli.Build(TextWriter.Null);
        var writers = root.Subcommands
            .SelectMany(c => c.Options.Where(o => o.ValueType == typeof(string) && Writes.IsMatch(o.Description ?? "")).Select(o => (c.Name, o.Name)))
            .OrderBy(x => x).ToList();
        Assert.Equal(Outputs.Select(o => (o.Command, o.Option)).OrderBy(x => x).ToList(), writers);
        foreach (var (command, option, _) in Outputs.Where(o => !ReadNothing.Contains(o.Command)))
            Assert.True(Cases.Any(c => c.Command == command && c.Option == option), $"{command} {option} has no case pointing it at an input");
    }

    [Theory]
    [MemberData(nameof(CaseNumbers))]
    public void An_output_aimed_at_an_input_directly_or_through_a_link_is_refused_naming_both(int number)
    {
        var c = Cases[number];
        using var dir = new TempFolder();
        var input = c.Setup(dir);
        Directory.CreateDirectory(dir["sub"]);
        var aimed = c.Folder ? Path.GetDirectoryName(input)! : input;
        var name = Path.GetFileName(aimed);
        var ways = new List<(string How, string Target)> { ("directly", aimed), ("through sub/..", dir[$"sub/../{Path.GetRelativePath(dir.Path, aimed)}"]) };
        File.CreateSymbolicLink(dir[$"link-{name}"], aimed);
        ways.Add(("through a symbolic link", dir[$"link-{name}"]));
        if (!c.Folder)
        {
            Hostile.HardLink(aimed, dir[$"hard-{name}"]);
            ways.Add(("through a hard link", dir[$"hard-{name}"]));
        }
        var before = Hostile.Snapshot(dir);
        foreach (var (how, target) in ways)
        {
            var args = c.Args.Select(a => a.Replace("{out}", target).Replace("{dir}", dir.Path)).ToArray();
            var r = Hostile.Run(args);
            var shown = c.Folder ? Path.Combine(target, Path.GetFileName(input)) : target;
            Assert.True(r.ExitCode == 1, $"{c.Command} {c.Option} {how}: exit {r.ExitCode}, {r.Stderr}{r.Stdout}");
            Hostile.OneLine(r, 1, $"{c.Option} '{shown}' is the file {c.InputName} reads", "so the input is not overwritten");
            Assert.Equal(before, Hostile.Snapshot(dir));
        }
    }

    /// <summary>Two outputs of one command that are one file: the later would overwrite the earlier (the run's JSON over its model).</summary>
    public static readonly (string First, string Second, string[] Args)[] OutputPairs =
    [
        ("--save", "--json", ["train", "--text", "{dir}/t.txt", "--save", "{dir}/m.json", "--json", "{other}", "--epochs", "1", "--units", "2", "--window", "3", "--quiet"]),
        ("--save", "--plot", ["train", "--text", "{dir}/t.txt", "--save", "{dir}/m.json", "--plot", "{other}", "--epochs", "1", "--units", "2", "--window", "3", "--quiet"]),
        ("--json", "--plot", ["train", "--text", "{dir}/t.txt", "--save", "{dir}/n.json", "--json", "{dir}/m.json", "--plot", "{other}", "--epochs", "1", "--units", "2", "--window", "3", "--quiet"]),
    ];

    public static TheoryData<int> PairNumbers => new(Enumerable.Range(0, OutputPairs.Length));

    [Theory]
    [MemberData(nameof(PairNumbers))]
    public void Two_outputs_of_one_command_on_one_file_directly_or_through_a_link_are_refused_naming_both(int number)
    {
        var (first, second, template) = OutputPairs[number];
        using var dir = new TempFolder();
        Text(dir);
        File.WriteAllText(dir["m.json"], "a model the run must not overwrite");
        Directory.CreateDirectory(dir["sub"]);
        File.CreateSymbolicLink(dir["link.json"], dir["m.json"]);
        var before = Hostile.Snapshot(dir);
        foreach (var other in new[] { dir["m.json"], dir["sub/../m.json"], dir["link.json"] })
        {
            var r = Hostile.Run(template.Select(a => a.Replace("{other}", other).Replace("{dir}", dir.Path)).ToArray());
            Hostile.OneLine(r, 1, $"{second} '{other}' is the file {first} writes", "so one output does not overwrite the other");
            Assert.Equal(before, Hostile.Snapshot(dir));
        }
    }
}
