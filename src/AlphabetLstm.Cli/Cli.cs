using System.CommandLine;

namespace AlphabetLstm.Cli;

/// <summary>
/// The command tree, and the one place that turns errors into exit codes: a bad command line is one
/// line on stderr and exit 2; a failure at run time is one line and exit 1. No stack traces.
/// </summary>
public static class Cli
{
    public static RootCommand Build(TextWriter stdout)
    {
        var root = new RootCommand(
            "AlphabetLstm: the Keras stateful-LSTM alphabet tutorial, with the LSTM state as a value.");
        root.Subcommands.Add(ExperimentCommand.Create(stdout));
        root.Subcommands.Add(MergeCommand.Create(stdout));
        foreach (var command in ModelCommands.Create(stdout)) root.Subcommands.Add(command);
        foreach (var command in OnnxCommands.Create(stdout)) root.Subcommands.Add(command);
        root.Subcommands.Add(BenchCommand.Create(stdout));
        return root;
    }

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        try
        {
            var root = Build(stdout);
            var parse = root.Parse(args);
            if (parse.Errors.Count > 0)
            {
                stderr.WriteLine($"error: {OneLine(parse.Errors[0].Message)}");
                return ExitCodes.Usage;
            }
            return parse.Invoke(new InvocationConfiguration
            {
                Output = stdout,
                Error = stderr,
                EnableDefaultExceptionHandler = false,
            });
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"error: {OneLine(e.Message)}");
            return ExitCodes.Usage;
        }
        catch (FailureException e)
        {
            stderr.WriteLine($"error: {OneLine(e.Message)}");
            return ExitCodes.Failure;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or UnauthorizedAccessException or FormatException)
        {
            stderr.WriteLine($"error: {OneLine(e.Message)}");
            return ExitCodes.Failure;
        }
    }

    private static string OneLine(string message)
    {
        // ArgumentException appends " (Parameter 'x')": the message already names the value.
        var cut = message.IndexOf(" (Parameter '", StringComparison.Ordinal);
        if (cut > 0) message = message[..cut];
        return message.ReplaceLineEndings(" ").Trim();
    }

    /// <summary>An option that must be a positive integer, with a one-line error naming the bad value.</summary>
    public static Option<int?> PositiveInt(string name, string description)
    {
        var option = new Option<int?>(name) { Description = description };
        option.Validators.Add(result =>
        {
            var token = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (!int.TryParse(token, out var value))
                result.AddError($"{name} expects a positive whole number, got '{token}'");
            else if (value <= 0)
                result.AddError($"{name} must be positive, got {value}");
        });
        return option;
    }
}
