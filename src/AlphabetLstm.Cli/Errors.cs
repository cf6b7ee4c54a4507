namespace AlphabetLstm.Cli;

/// <summary>A bad command line: printed as one line, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>A failure at run time (bad file, unwritable folder, diverged training): one line, exit code 1.</summary>
public sealed class FailureException(string message) : Exception(message);

/// <summary>Exit codes the CLI returns.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int Failure = 1;
    public const int Usage = 2;
}
