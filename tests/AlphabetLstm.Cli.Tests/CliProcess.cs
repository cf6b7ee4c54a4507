using System.Diagnostics;

namespace AlphabetLstm.Cli.Tests;

/// <summary>What a run of the real CLI process printed and returned.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr);

/// <summary>
/// Runs the <c>alphabet-lstm</c> command line for a test. <see cref="Run(string, string[])"/> runs it
/// inside the test process (<see cref="Cli.Run"/>, the same code <c>Program.cs</c> calls, with the
/// working folder set for the call): the same exit codes, output and files, without a process start
/// and a cold JIT for each call. Runs that need a real process (an environment of their own, a heap
/// limit, a kill, a terminal, another process holding a lock) use <see cref="Start(string, string[])"/>,
/// <see cref="RunProcess(string, string[])"/> or the overload with an environment.
/// </summary>
public static class CliProcess
{
    /// <summary>
    /// In-process runs change the process's working folder, so they take turns. A test calling
    /// <see cref="Cli.Run"/> directly with relative paths must go through <see cref="InProcess"/> too.
    /// </summary>
    private static readonly Lock OneAtATime = new();

    /// <summary>Runs the command line inside this process, in <paramref name="workingDirectory"/>, and returns what it printed.</summary>
    public static CliResult InProcess(string workingDirectory, params string[] args)
    {
        lock (OneAtATime)
        {
            var previous = Environment.CurrentDirectory;
            Environment.CurrentDirectory = workingDirectory;
            try
            {
                using var stdout = new StringWriter();
                using var stderr = new StringWriter();
                var exit = Cli.Run(args, stdout, stderr);
                return new CliResult(exit, stdout.ToString(), stderr.ToString());
            }
            finally
            {
                Environment.CurrentDirectory = previous;
            }
        }
    }

    public static string Dll => Path.Combine(AppContext.BaseDirectory, "alphabet-lstm.dll");

    public static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";

    public static Process Start(string workingDirectory, params string[] args) => Start(workingDirectory, null, args);

    /// <summary>Starts the CLI with extra environment variables (e.g. a GC heap limit that bounds its memory).</summary>
    public static Process Start(string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] args) =>
        StartDotnet(workingDirectory, environment, [Dll, .. args]);

    /// <summary>Starts <c>dotnet</c> with these arguments, output and errors redirected.</summary>
    public static Process StartDotnet(string workingDirectory, IReadOnlyDictionary<string, string>? environment, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(Dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory,
            UseShellExecute = false,
        };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;
        foreach (var a in args) info.ArgumentList.Add(a);
        return Process.Start(info)!;
    }

    /// <summary>Runs the command line in <paramref name="workingDirectory"/>, inside this process (see <see cref="InProcess"/>).</summary>
    public static CliResult Run(string workingDirectory, params string[] args) => InProcess(workingDirectory, args);

    /// <summary>Runs the built program as a separate process with extra environment variables (none when null), as a user would.</summary>
    public static CliResult Run(string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] args) =>
        Wait(Start(workingDirectory, environment, args), $"alphabet-lstm {string.Join(' ', args)}");

    /// <summary>Runs the built program as a separate process, as a user would.</summary>
    public static CliResult RunProcess(string workingDirectory, params string[] args) => Run(workingDirectory, null, args);

    /// <summary>Waits up to 5 minutes for a started process, kills it past that, and returns what it printed.</summary>
    public static CliResult Wait(Process started, string what)
    {
        using var p = started;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{what} did not finish in 5 minutes");
        }
        return new CliResult(p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Asserts a clean one-line error: the exit code, one line on stderr containing every fragment, no stack trace.</summary>
    public static void AssertCleanError(CliResult r, int exitCode, params string[] fragments)
    {
        Assert.Equal(exitCode, r.ExitCode);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line on stderr, got {lines.Length}: {r.Stderr}");
        Assert.StartsWith("error: ", lines[0]);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.DoesNotContain("Exception", r.Stderr);
        foreach (var f in fragments) Assert.Contains(f, lines[0]);
    }
}

/// <summary>A fresh empty folder for one test, removed afterwards.</summary>
public sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("alphabet-lstm-test-").FullName;

    public string this[string name] => System.IO.Path.Combine(Path, name);

    public string[] Files() => Directory.GetFiles(Path, "*", SearchOption.AllDirectories)
        .Select(f => System.IO.Path.GetRelativePath(Path, f)).OrderBy(f => f, StringComparer.Ordinal).ToArray();

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

/// <summary>The repository root (the folder holding AlphabetLstm.sln), found from the test's folder.</summary>
public static class Repo
{
    public static string Root
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "AlphabetLstm.sln")))
                dir = dir.Parent;
            return dir?.FullName ?? throw new DirectoryNotFoundException("AlphabetLstm.sln not found above " + AppContext.BaseDirectory);
        }
    }
}
