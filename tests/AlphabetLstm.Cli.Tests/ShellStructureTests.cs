using System.Text.RegularExpressions;

namespace AlphabetLstm.Cli.Tests;

/// <summary>
/// The shell's commands call downwards only: a command class (a file <c>*Command.cs</c> or
/// <c>*Commands.cs</c> of the CLI) may use another, but no two use each other, directly or round a
/// loop. What two commands share (a run's checkpoint folder and epochs) lives in a class of its own
/// (<c>RunFolder</c>), not in one of them. Read from the source: a constant such as a file name is
/// inlined by the compiler and would not show in the compiled code.
/// </summary>
public class ShellStructureTests
{
    private static readonly string Shell = Path.Combine(Repo.Root, "src/AlphabetLstm.Cli");

    /// <summary>The code of a file without its comments (doc comments name other classes in cref="…").</summary>
    private static string Code(string file) =>
        string.Join("\n", File.ReadAllLines(file).Select(line => Regex.Replace(line, @"(^|\s)//.*$", "")));

    /// <summary>Each command class and the command classes its code names (as <c>Name.</c>).</summary>
    private static Dictionary<string, List<string>> Uses()
    {
        var files = Directory.GetFiles(Shell, "*.cs")
            .Where(f => Path.GetFileNameWithoutExtension(f) is var n && (n.EndsWith("Command", StringComparison.Ordinal) || n.EndsWith("Commands", StringComparison.Ordinal)))
            .ToDictionary(f => Path.GetFileNameWithoutExtension(f), f => Code(f));
        return files.ToDictionary(
            kv => kv.Key,
            kv => files.Keys.Where(other => other != kv.Key && Regex.IsMatch(kv.Value, $@"\b{other}\.")).Order(StringComparer.Ordinal).ToList());
    }

    [Fact]
    public void No_two_commands_of_the_shell_use_each_other_directly_or_round_a_loop()
    {
        var uses = Uses();
        // The scan sees what is there: train hands a --text run to TextCommands.
        Assert.Contains("TextCommands", uses["ModelCommands"]);
        var loops = new List<string>();
        foreach (var start in uses.Keys.Order(StringComparer.Ordinal))
        {
            // Every path from start that comes back to start is a loop.
            var stack = new Stack<List<string>>([[start]]);
            while (stack.Count > 0)
            {
                var path = stack.Pop();
                foreach (var next in uses[path[^1]])
                {
                    if (next == start) loops.Add(string.Join(" -> ", path.Append(next)));
                    else if (!path.Contains(next)) stack.Push([.. path, next]);
                }
            }
        }
        Assert.True(loops.Count == 0, "commands that use each other:\n" + string.Join("\n", loops.Distinct()));
    }
}
