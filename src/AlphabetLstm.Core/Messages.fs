/// How every message of the library and its shell shows a value the user gave: cut to 40
/// characters, and without the " (Parameter 'x')" .NET appends to an ArgumentException (the message
/// already names the value). One place for the rule, so every reader cuts the same way.
namespace AlphabetLstm.Core

open System

/// The rules a message follows for a value the user gave: Clip (at most 40 characters) and
/// WithoutParameter (no " (Parameter 'x')" suffix).
[<AbstractClass; Sealed>]
type Messages =
    /// The longest value a message quotes whole; a longer one is cut to 37 characters and "...".
    static member MaxQuoted = 40

    /// The value cut to MaxQuoted characters ("..." ending a cut one).
    static member Clip(value: string) : string =
        if value.Length <= Messages.MaxQuoted then value else value.Substring(0, Messages.MaxQuoted - 3) + "..."

    /// An exception's message without the " (Parameter 'x')" .NET appends.
    static member WithoutParameter(message: string) : string =
        let cut = message.IndexOf(" (Parameter '", StringComparison.Ordinal)
        if cut > 0 then message.Substring(0, cut) else message
