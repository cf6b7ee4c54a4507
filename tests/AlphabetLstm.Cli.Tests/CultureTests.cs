namespace AlphabetLstm.Cli.Tests;

/// <summary>
/// Issue 22, one culture: with the runtime's invariant mode switched off and a comma-decimal (de_DE)
/// or dotted-i (tr_TR) culture, numbers on the command line still read as written, because the
/// program parses them itself with the invariant culture. Needs ICU (libicu), which .NET loads when
/// invariant mode is off.
/// </summary>
public class CultureTests
{
    private static Dictionary<string, string> Culture(string name) => new()
    {
        ["DOTNET_SYSTEM_GLOBALIZATION_INVARIANT"] = "0",
        ["LANG"] = name,
        ["LC_ALL"] = name,
    };

    [Theory]
    [InlineData("de_DE.UTF-8")]
    [InlineData("tr_TR.UTF-8")]
    public void Learning_rate_and_temperature_read_as_written_whatever_the_culture(string culture)
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["t.txt"], Hostile.Text);
        var env = Culture(culture);
        // With the library's own conversion this trained at 2 under de_DE (the header said "learning rate 2").
        var train = CliProcess.Run(dir.Path, env, "train", "--text", "t.txt", "--save", "m.json", "--epochs", "1", "--units", "2", "--window", "3", "--learning-rate", "0.02");
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.Contains("learning rate 0.02", train.Stdout);
        // The same sampling at 0.5 as under the invariant culture, and not the sampling at 5.
        string[] Generate(string tau) => ["generate", "--model", "m.json", "--start", "the ", "--steps", "40", "--temperature", tau, "--seed", "3"];
        var local = CliProcess.Run(dir.Path, env, Generate("0.5"));
        var invariant = CliProcess.Run(dir.Path, Generate("0.5"));
        var five = CliProcess.Run(dir.Path, Generate("5"));
        Assert.True(local.ExitCode == 0, local.Stderr);
        Assert.Equal(invariant.Stdout, local.Stdout);
        Assert.NotEqual(five.Stdout, local.Stdout);
        // A decimal comma is not a number here, in any culture: one line, exit 2, the value as typed.
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, env, Generate("0,5")), 2, "--temperature expects a number ≥ 0, got '0,5'");
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, env, "train", "--text", "t.txt", "--save", "n.json", "--learning-rate", "0,02"), 2,
            "--learning-rate expects a positive number, got '0,02'");
        Assert.Equal(["m.json", "t.txt"], dir.Files());
    }

    [Theory]
    [InlineData("de_DE.UTF-8")]
    [InlineData("tr_TR.UTF-8")]
    public void The_held_out_fraction_reads_as_written_whatever_the_culture(string culture)
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["t.txt"], string.Concat(Enumerable.Repeat(Hostile.Text, 4)));
        var env = Culture(culture);
        // Read by the library under de_DE, "0.25" was 25 and the run was refused for its fraction.
        var train = CliProcess.Run(dir.Path, env, "train", "--text", "t.txt", "--save", "m.json", "--epochs", "1", "--units", "2", "--window", "3", "--validation", "0.25");
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.Contains("(0.25) held out", train.Stdout);
        CliProcess.AssertCleanError(CliProcess.Run(dir.Path, env, "train", "--text", "t.txt", "--save", "n.json", "--validation", "0,25"), 2,
            "--validation expects a fraction in [0, 0.5], got '0,25'");
    }
}
