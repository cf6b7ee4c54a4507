using System.Text;

namespace AlphabetLstm.Cli;

/// <summary>
/// Text that came from a file, an argument or the environment, made safe to show: control
/// characters can retitle, clear or rewrite a terminal, so every one of them is shown as an escape
/// (<c>\e</c>, <c>\n</c>, <c>\x07</c>, <c>\u202e</c>) before it reaches a terminal or a report.
/// </summary>
public static class Display
{
    /// <summary><paramref name="text"/> with every control and bidirectional-override character escaped.</summary>
    public static string Escape(string text)
    {
        var needs = false;
        foreach (var ch in text) if (Unsafe(ch)) { needs = true; break; }
        if (!needs) return text;
        var sb = new StringBuilder(text.Length + 8);
        foreach (var ch in text)
        {
            if (!Unsafe(ch)) { sb.Append(ch); continue; }
            sb.Append(ch switch
            {
                '\x1b' => "\\e",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                < '\u0100' => $"\\x{(int)ch:x2}",
                _ => $"\\u{(int)ch:x4}",
            });
        }
        return sb.ToString();
    }

    /// <summary>A user's value for a message: escaped, and cut to <see cref="Messages.MaxQuoted"/> characters.</summary>
    public static string Clip(string text) => Messages.Clip(Escape(text));

    /// <summary>
    /// For a message about symbols a user typed: how a vocabulary of words takes them (comma-separated,
    /// its first symbols as the example), or nothing for a vocabulary of single characters.
    /// </summary>
    public static string WordsHint(Vocabulary vocabulary) => vocabulary.IsOneCharacter ? ""
        : $" (the model's symbols are words: separate them with commas, as in {vocabulary.Join(vocabulary.Symbols.Take(3))})";

    /// <summary>An exception's message without the " (Parameter 'x')" .NET appends: the message already names the value.</summary>
    public static string WithoutParameter(string message) => Messages.WithoutParameter(message);

    // C0 and C1 controls, DEL, and the Unicode characters that reorder or hide text on a terminal.
    // A backslash is left as typed (paths and regular expressions keep their look).
    private static bool Unsafe(char ch) =>
        ch < ' ' || ch is >= '\x7f' and <= '\x9f' || ch is >= '\u202a' and <= '\u202e' || ch is >= '\u2066' and <= '\u2069'
        || ch is '\u200e' or '\u200f' or '\u061c';
}
