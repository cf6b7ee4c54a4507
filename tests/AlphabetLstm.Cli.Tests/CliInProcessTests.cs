namespace AlphabetLstm.Cli.Tests;

/// <summary>
/// The command line run inside the test process (<see cref="Cli.Run"/>), not as a child process:
/// the same exit codes and one-line errors, and, unlike the process tests, visible to a mutation
/// tester that switches mutants on inside the test process (Stryker.NET).
/// </summary>
public class CliInProcessTests
{
    private static (int Exit, string Out, string Err) Run(params string[] args)
    {
        using var dir = new TempFolder();
        var r = CliProcess.InProcess(dir.Path, args);
        return (r.ExitCode, r.Stdout, r.Stderr);
    }

    private static void OneLineError(string[] args, int exit, string fragment)
    {
        var r = Run(args);
        Assert.Equal(exit, r.Exit);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line on stderr, got: {r.Err}");
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(fragment, lines[0]);
    }

    [Theory]
    [InlineData(new[] { "frobnicate" }, 2, "unknown command 'frobnicate'; the commands are experiment, sweep, merge, train, resume, predict, generate, export, import, bench (see --help)")]
    [InlineData(new[] { "a-command-name-much-longer-than-forty-characters-in-all" }, 2, "unknown command 'a-command-name-much-longer-than-forty...'")]
    [InlineData(new[] { "--frobnicate" }, 2, "Unrecognized command or argument '--frobnicate'")]
    [InlineData(new string[0], 2, "Required command was not provided.")]
    [InlineData(new[] { "bench", "--seconds", "abc" }, 2, "--seconds expects a number, got 'abc'")]
    [InlineData(new[] { "experiment", "one-char", "--epochs", "0" }, 2, "--epochs expects a whole number from 1 to 10,000,000, got '0'")]
    [InlineData(new[] { "experiment", "one-char", "--epochs", "10000001" }, 2, "--epochs expects a whole number from 1 to 10,000,000, got '10000001'")]
    [InlineData(new[] { "experiment", "one-char", "--seed", "9223372036854775808" }, 2, "--seed expects a whole number from -9223372036854775808 to 9223372036854775807, got '9223372036854775808'")]
    [InlineData(new[] { "experiment", "one-char", "--seed", "9223372036854775807", "--seeds", "2" }, 2, "--seed 9223372036854775807 with --seeds 2 would pass the largest seed")]
    [InlineData(new[] { "experiment", "nope" }, 2, "unknown experiment \"nope\"")]
    [InlineData(new[] { "predict", "--model", "no-such-model.json", "--sequence", "A" }, 1, "--model 'no-such-model.json': no such file")]
    [InlineData(new[] { "train", "one-char", "--save", "m.json", "--checkpoint-every", "3" }, 2, "--checkpoint-every needs --checkpoint DIR")]
    public void A_bad_command_line_is_one_error_line_and_its_exit_code(string[] args, int exit, string fragment) =>
        OneLineError(args, exit, fragment);

    [Fact]
    public void Export_help_says_a_stack_gets_one_LSTM_node_per_layer()
    {
        var r = Run("export", "--help");
        Assert.Equal(0, r.Exit);
        // Help text is wrapped to the console's width: compare it with its line breaks folded.
        var help = string.Join(' ', r.Out.Split((char[])[' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("one LSTM node per layer", help);
    }

    [Fact]
    public void Seeds_run_from_the_first_one_up_and_never_wrap()
    {
        Assert.Equal([5L, 6L, 7L], Cli.SeedRange(5, 3));
        Assert.Equal([long.MaxValue - 1, long.MaxValue], Cli.SeedRange(long.MaxValue - 1, 2));
        Assert.Equal("--seed 9223372036854775806 with --seeds 3 would pass the largest seed 9223372036854775807; use a --seed of at most 9223372036854775805",
                     Assert.Throws<UsageException>(() => Cli.SeedRange(long.MaxValue - 1, 3)).Message);
        Assert.Equal("--seeds expects a whole number from 1 to 10000, got 0", Assert.Throws<UsageException>(() => Cli.SeedRange(1, 0)).Message);
    }

    [Fact]
    public void A_whole_number_option_takes_its_limit_and_refuses_one_more()
    {
        var epochs = Cli.PositiveInt("--epochs", "epochs", 10);
        var command = new System.CommandLine.RootCommand { epochs };
        Assert.Empty(command.Parse(["--epochs", "10"]).Errors);
        Assert.Equal(10, command.Parse(["--epochs", "10"]).GetValue(epochs));
        Assert.Empty(command.Parse(["--epochs", "1"]).Errors);
        Assert.Equal("--epochs expects a whole number from 1 to 10, got '11'", Assert.Single(command.Parse(["--epochs", "11"]).Errors).Message);
        Assert.Equal("--epochs expects a whole number from 1 to 10, got '0'", Assert.Single(command.Parse(["--epochs", "0"]).Errors).Message);
    }

    [Fact]
    public void A_short_experiment_runs_in_process_and_prints_its_accuracy()
    {
        var r = Run("experiment", "one-char", "--epochs", "2", "--quiet", "--jobs", "1");
        Assert.True(r.Exit == 0, r.Err);
        Assert.Contains("== one-char: Naive LSTM: one char to one char (seed 1)", r.Out);
        Assert.Contains("(tutorial 84.00%)", r.Out);
    }
}
