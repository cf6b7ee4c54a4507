using System.CommandLine;
using System.Text.RegularExpressions;

namespace AlphabetLstm.Cli;

/// <summary>
/// The command tree, and the one place that turns errors into exit codes: a bad command line is one
/// line on stderr and exit 2; a failure at run time is one line and exit 1; anything else that still
/// escapes (a bug) is one line naming the command and exit 70 (EX_SOFTWARE). No stack traces.
/// </summary>
public static class Cli
{
    public static RootCommand Build(TextWriter stdout)
    {
        var root = new RootCommand(
            "AlphabetLstm: the Keras stateful-LSTM alphabet tutorial, with the LSTM state as a value.");
        root.Subcommands.Add(ExperimentCommand.Create(stdout));
        root.Subcommands.Add(SweepCommand.Create(stdout));
        root.Subcommands.Add(MergeCommand.Create(stdout));
        foreach (var command in ModelCommands.Create(stdout)) root.Subcommands.Add(command);
        foreach (var command in OnnxCommands.Create(stdout)) root.Subcommands.Add(command);
        root.Subcommands.Add(BenchCommand.Create(stdout));
        return root;
    }

    /// <summary>Exit code for an unexpected exception (a bug): EX_SOFTWARE.</summary>
    public const int Software = 70;

    /// <summary>
    /// For tests only: when this environment variable names a command (or "any"), that command throws
    /// an exception no handler expects, so the last guard (exit 70) can be tested.
    /// </summary>
    public const string TestFaultVariable = "ALPHABET_LSTM_TEST_FAULT";

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var command = args.FirstOrDefault(a => !a.StartsWith('-')) ?? "alphabet-lstm";
        try
        {
            var root = Build(stdout);
            var parse = root.Parse(args);
            if (parse.Errors.Count > 0)
            {
                stderr.WriteLine($"error: {OneLine(UsageMessage(root, args, parse.Errors.Select(e => e.Message).ToList()))}");
                return ExitCodes.Usage;
            }
            var fault = Environment.GetEnvironmentVariable(TestFaultVariable);
            if (!string.IsNullOrEmpty(fault) && (fault == "any" || fault == command))
                throw new TestFaultException($"a fault injected by {TestFaultVariable} for testing");
            return parse.Invoke(new InvocationConfiguration
            {
                Output = stdout,
                Error = stderr,
                EnableDefaultExceptionHandler = false,
            });
        }
        catch (StandardOutput.ClosedException)
        {
            // The reader of the output went away (| head): the shell's SIGPIPE convention, silently.
            return StandardOutput.ClosedPipe;
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
        catch (Exception e)
        {
            // The last guard: a bug, or the machine running out of memory despite the limits.
            stderr.WriteLine($"error: {command}: unexpected {e.GetType().Name.Replace("Exception", " error", StringComparison.Ordinal)}: {OneLine(e.Message)}");
            return Software;
        }
    }

    private sealed class TestFaultException(string message) : Exception(message);

    private static readonly Regex CannotParse = new(
        @"^Cannot parse argument '(?<value>.*)' for (option|command|argument) '(?<name>[^']*)' as expected type '(?<type>[^']*)'",
        RegexOptions.CultureInvariant | RegexOptions.Singleline);

    /// <summary>The clearest of the parser's messages, in words: unknown commands named, numbers with their range, no .NET type names.</summary>
    private static string UsageMessage(RootCommand root, string[] args, IReadOnlyList<string> errors)
    {
        var names = root.Subcommands.Select(c => c.Name).ToList();
        if (args.Length > 0 && !args[0].StartsWith('-') && !names.Contains(args[0]))
            return $"unknown command '{Clip(args[0])}'; the commands are {string.Join(", ", names)} (see --help)";
        foreach (var message in errors)
        {
            var m = CannotParse.Match(message);
            if (!m.Success) continue;
            var type = m.Groups["type"].Value;
            var range = type.Contains("Int64", StringComparison.Ordinal) ? $"a whole number from {long.MinValue} to {long.MaxValue}"
                      : type.Contains("Int32", StringComparison.Ordinal) ? $"a whole number from {int.MinValue} to {int.MaxValue}"
                      : type.Contains("Double", StringComparison.Ordinal) ? "a number"
                      : type.Contains("Boolean", StringComparison.Ordinal) ? "true or false"
                      : "a value of another kind";
            return $"{m.Groups["name"].Value} expects {range}, got '{Clip(m.Groups["value"].Value)}'";
        }
        return errors.FirstOrDefault(e => e.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? errors[0];
    }

    private static string Clip(string s) => Display.Clip(s);

    /// <summary>The one line an error prints: without .NET's parameter suffix, every control character escaped (a file's text never drives the terminal).</summary>
    private static string OneLine(string message) => Display.Escape(Display.WithoutParameter(message).Trim());

    /// <summary>An option that must be a whole number from 1 to <paramref name="max"/>, with a one-line error naming the bad value and the range.</summary>
    public static Option<int?> PositiveInt(string name, string description, int max = int.MaxValue)
    {
        var option = new Option<int?>(name) { Description = description };
        option.Validators.Add(result =>
        {
            var token = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (!long.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) || value < 1 || value > max)
                result.AddError($"{name} expects a whole number from 1 to {max.ToString("N0", CultureInfo.InvariantCulture)}, got '{Clip(token)}'");
        });
        option.CustomParser = result =>
        {
            var token = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            return int.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v : null;
        };
        return option;
    }

    // ---- numbers: always the invariant parser, whatever the process culture ---------------------
    // The command-line library would convert with the current culture (with LANG=de_DE "0.02" reads
    // as 2), so every number option has its own parser here.

    /// <summary>A number from the command line or the environment: the invariant format (1.5, 2e-3), finite, or null.
    /// A number written with a non-zero digit that reads as 0 (1e-400, below the smallest 64-bit float) is null
    /// too: taking it as 0 would silently mean "off" where an option gives 0 that meaning.</summary>
    public static double? ParseNumber(string token) =>
        double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v) && !Underflows(token, v) ? v : null;

    /// <summary>True when <paramref name="token"/>'s digits before any exponent are not all zero but it read as <paramref name="v"/> = 0.</summary>
    private static bool Underflows(string token, double v)
    {
        if (v != 0) return false;
        var e = token.IndexOfAny(['e', 'E']);
        var mantissa = e < 0 ? token : token[..e];
        return mantissa.Any(ch => ch is >= '1' and <= '9');
    }

    /// <summary>An option holding a number that <paramref name="accept"/> allows, or a one-line error "NAME expects EXPECTED, got 'TOKEN'".</summary>
    public static Option<double?> Number(string name, string description, string expected, Func<double, bool> accept)
    {
        var option = new Option<double?>(name) { Description = description };
        option.CustomParser = result =>
        {
            var token = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (ParseNumber(token) is { } v && accept(v)) return v;
            var why = double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out var read) && Underflows(token, read)
                ? " (too small for a 64-bit float: it would read as 0)" : "";
            result.AddError($"{name} expects {expected}, got '{Clip(token)}'{why}");
            return null;
        };
        return option;
    }

    /// <summary>Adam's learning rate: the core's rule (<see cref="Adam.IsValidLearningRate"/>), which every command that trains uses.</summary>
    public static Option<double?> LearningRate(string description) =>
        Number("--learning-rate", description, "a positive number", Adam.IsValidLearningRate);

    /// <summary>
    /// <c>--precision float32|float64</c>: the number type a run trains in, by the core's names
    /// (<see cref="ModelFile.ParsePrecision"/>, exact and culture-free), or a one-line error naming the
    /// value and the choices (exit 2). Null when not given: each command has its own default.
    /// </summary>
    public static Option<Precision?> Precision(string description)
    {
        var option = new Option<Precision?>("--precision") { Description = description };
        option.CustomParser = result =>
        {
            var token = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (ModelFile.ParsePrecision(token) is { } p) return p;
            result.AddError($"--precision expects {string.Join(" or ", ModelFile.PrecisionNames)}, got '{Clip(token)}'");
            return null;
        };
        return option;
    }

    /// <summary>An option holding a whole 64-bit number, parsed invariantly, or a one-line error with the range.</summary>
    public static Option<long?> WholeNumber(string name, string description)
    {
        var option = new Option<long?>(name) { Description = description };
        option.CustomParser = result =>
        {
            var token = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (long.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v)) return v;
            result.AddError($"{name} expects a whole number from {long.MinValue} to {long.MaxValue}, got '{Clip(token)}'");
            return null;
        };
        return option;
    }

    /// <summary>Seeds first .. first + count − 1, refused (never wrapped) when they pass the largest 64-bit seed.</summary>
    public static IReadOnlyList<long> SeedRange(long first, int count)
    {
        if (count < 1) throw new UsageException($"--seeds expects a whole number from 1 to {Limits.MaxSeeds}, got {count}");
        if (first > long.MaxValue - (count - 1))
            throw new UsageException($"--seed {first} with --seeds {count} would pass the largest seed {long.MaxValue}; use a --seed of at most {long.MaxValue - (count - 1)}");
        return Enumerable.Range(0, count).Select(k => first + k).ToList();
    }
}
