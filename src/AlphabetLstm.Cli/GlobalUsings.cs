// What every file of the shell uses: the core's public API, and invariant-culture formatting
// (numbers in output and files never depend on the machine's culture).
global using System.Globalization;
global using AlphabetLstm.Core;
global using AlphabetLstm.Tutorial;
global using AlphabetLstm.Bench;
global using static AlphabetLstm.Cli.Invariant;

namespace AlphabetLstm.Cli;

/// <summary>The one culture the shell formats and parses numbers with.</summary>
public static class Invariant
{
    /// <summary><see cref="CultureInfo.InvariantCulture"/>.</summary>
    public static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
}
