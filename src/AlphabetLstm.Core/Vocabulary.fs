/// Vocabularies and encodings: what the model reads and predicts.
///
/// A vocabulary is an ordered list of V distinct symbols. A symbol is a non-empty string, so letters,
/// characters of a text, words, musical notes or event codes all fit; the symbol at position k is
/// class k of the softmax head, and targets are one-hot over the V classes. The tutorial's alphabet
/// A..Z is one vocabulary (V = 26).
///
/// An encoding turns one symbol into the features of one input position:
///   - Index:    one feature, symbol k ↦ k / V. For the alphabet that is the tutorial's letter / 26, so
///               the first symbol ('A') is 0.0, the same number as padding: the tutorial's flaw, kept.
///   - OneHot:   V features, 1 at k and 0 elsewhere.
///   - Features: the caller supplies the numbers; symbols are not encoded (targets still use the vocabulary).
/// Nothing here depends on V = 26.
namespace AlphabetLstm.Core

open System
open System.Collections.Generic
open System.Text

/// How a symbol becomes input features.
type SymbolEncoding =
    /// One feature: symbol k of V encodes as k / V.
    | Index = 0
    /// V features: 1 at the symbol's index, 0 elsewhere.
    | OneHot = 1
    /// Numbers the caller supplies: no symbol is encoded.
    | Features = 2

/// How a window of n symbols is laid out: as n symbols of one step, or as n steps of one symbol.
type Layout =
    /// Shape (samples, 1, n × per-symbol features): the whole window is one time step.
    | Features = 0
    /// Shape (samples, n, per-symbol features): one symbol per time step.
    | TimeSteps = 1

/// An ordered list of distinct, non-empty symbols. Immutable; equal when the symbols are equal, in order.
[<Sealed>]
type Vocabulary private (symbols: string[], index: Dictionary<string, int>) =
    static let letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

    static let build (symbols: string[]) =
        if symbols.Length < 2 then
            invalidArg "symbols" (sprintf "a vocabulary needs at least 2 symbols (a softmax over one class predicts nothing), got %d" symbols.Length)
        let index = Dictionary<string, int>(symbols.Length, StringComparer.Ordinal)
        symbols |> Array.iteri (fun k s ->
            if String.IsNullOrEmpty s then invalidArg "symbols" (sprintf "symbol %d is empty: every symbol must be a non-empty string" k)
            match index.TryGetValue s with
            | true, first -> invalidArg "symbols" (sprintf "%s appears twice, at %d and %d: symbols must be distinct" (Vocabulary.Quote s) first k)
            | _ -> index.[s] <- k)
        Vocabulary(symbols, index)

    static let alphabet = build (letters |> Seq.map string |> Seq.toArray)

    /// A symbol quoted for a message, cut to 40 characters.
    static member internal Quote(s: string) =
        let q = "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\""
        Messages.Clip q

    /// A vocabulary of these symbols, in this order. Raises ArgumentException, naming the symbol, when
    /// there are fewer than 2, one is empty, or one appears twice.
    static member Create(symbols: IEnumerable<string>) : Vocabulary =
        if isNull (box symbols) then nullArg "symbols"
        build (Seq.toArray symbols)

    /// The tutorial's 26 letters A..Z, in order.
    static member Alphabet : Vocabulary = alphabet

    /// The symbols of a text: its Unicode scalar values in order, each as a string (a surrogate pair
    /// is one symbol; a lone surrogate raises ArgumentException naming its position).
    static member Split(text: string) : string[] =
        if isNull (box text) then nullArg "text"
        let result = ResizeArray<string>(text.Length)
        let mutable k = 0
        while k < text.Length do
            match Rune.DecodeFromUtf16(text.AsSpan(k)) with
            | Buffers.OperationStatus.Done, rune, used ->
                result.Add(rune.ToString())
                k <- k + used
            | _ -> invalidArg "text" (sprintf "the text holds a lone UTF-16 surrogate at position %d, which is no Unicode character" k)
        result.ToArray()

    /// The distinct characters (Unicode scalar values) of a text, in ascending code-point order:
    /// the same text always gives the same vocabulary, whatever order its characters first appear in.
    static member OfText(text: string) : Vocabulary =
        Vocabulary.Split text
        |> Array.distinct
        |> Array.sortWith (fun a b -> compare (Rune.GetRuneAt(a, 0).Value) (Rune.GetRuneAt(b, 0).Value))
        |> build

    /// The symbols, in order.
    member _.Symbols : IReadOnlyList<string> = Array.AsReadOnly symbols
    /// V, the number of symbols.
    member _.Count = symbols.Length
    /// The symbol at index k (0-based).
    member _.Item
        with get (k: int) =
            if k < 0 || k >= symbols.Length then
                raise (ArgumentOutOfRangeException("k", sprintf "symbol index must be in 0..%d, got %d" (symbols.Length - 1) k))
            symbols.[k]
    /// The index of a symbol, or -1 when it is not in the vocabulary.
    member _.IndexOf(symbol: string) : int =
        match index.TryGetValue symbol with
        | true, k -> k
        | _ -> -1
    /// Whether the symbol is in the vocabulary.
    member v.Contains(symbol: string) = v.IndexOf symbol >= 0
    /// Whether this is the alphabet A..Z.
    member v.IsAlphabet = v.Equals alphabet
    /// The vocabulary in a few words, for messages: "the alphabet A..Z" or "the vocabulary of V symbols".
    member v.Describe() = if v.IsAlphabet then "the alphabet A..Z" else sprintf "the vocabulary of %d symbols" symbols.Length

    /// How many features one symbol takes under an encoding: 1 (Index) or V (OneHot).
    /// Raises ArgumentException for Features, which encodes no symbol.
    member _.FeaturesPerSymbol(encoding: SymbolEncoding) : int =
        match encoding with
        | SymbolEncoding.Index -> 1
        | SymbolEncoding.OneHot -> symbols.Length
        | other -> invalidArg "encoding" (sprintf "the %A encoding takes numbers from the caller and encodes no symbol" other)

    /// Writes the features of symbol k under an encoding into dest[offset ..]: k / V, or one-hot.
    member v.EncodeIndex(encoding: SymbolEncoding, k: int, dest: float[], offset: int) =
        match encoding with
        | SymbolEncoding.Index -> dest.[offset] <- float k / float symbols.Length
        | _ ->
            let n = v.FeaturesPerSymbol encoding
            Array.Clear(dest, offset, n)
            dest.[offset + k] <- 1.0

    /// Symbols joined for display: concatenated when every symbol is one character (as "ABC"),
    /// separated by commas otherwise (as "Mon,Tue,Wed"), the one separator of words everywhere:
    /// in SplitText, in a command's --sequence and in import's --vocabulary.
    member v.Join(items: IEnumerable<string>) : string = String.Join((if v.IsOneCharacter then "" else Vocabulary.WordSeparator), items)

    /// Whether every symbol is one character (one Unicode scalar value).
    member _.IsOneCharacter = symbols |> Array.forall (fun s -> s.Length = 1 || (s.Length = 2 && Char.IsSurrogatePair(s, 0)))

    member internal _.SymbolArray : string[] = symbols

    /// The symbols of a text for this vocabulary, the inverse of Join: its characters (Unicode scalar
    /// values) when every symbol is one character, else its words separated by commas ("do,re,mi"),
    /// kept exactly as written (a symbol holding a comma cannot be given this way).
    member v.SplitText(text: string) : string[] =
        if v.IsOneCharacter then Vocabulary.Split text
        else text.Split(Vocabulary.WordSeparator)

    /// What separates the symbols of a vocabulary of words in a text: a comma.
    static member WordSeparator = ","

    /// Equal when the other is a vocabulary with the same symbols in the same order (ordinal comparison).
    override _.Equals(other: obj) =
        match other with
        | :? Vocabulary as o ->
            let other: string[] = o.SymbolArray
            obj.ReferenceEquals(symbols, other)
            || (symbols.Length = other.Length && Array.forall2 (fun (a: string) b -> String.Equals(a, b, StringComparison.Ordinal)) symbols other)
        | _ -> false
    /// A hash of the symbols in order, consistent with Equals.
    override _.GetHashCode() =
        let mutable h = HashCode()
        for s in symbols do h.Add(s, StringComparer.Ordinal)
        h.ToHashCode()
    /// "Vocabulary(V: …)" with the first twelve symbols, for messages and debugging.
    override v.ToString() = sprintf "Vocabulary(%d: %s)" symbols.Length (Vocabulary.Quote(v.Join(Seq.truncate 12 symbols)))

    interface IEquatable<Vocabulary> with
        member v.Equals(o: Vocabulary) = v.Equals(box o)

/// The alphabet A..Z: the tutorial's vocabulary, with its letters as chars.
[<AbstractClass; Sealed>]
type Alphabet =
    /// "ABCDEFGHIJKLMNOPQRSTUVWXYZ".
    static member Letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    /// V = 26.
    static member Size = 26
    /// The alphabet as a vocabulary.
    static member Vocabulary = Vocabulary.Alphabet
    /// The letter with index 0..25.
    static member Letter(index: int) : char =
        if index < 0 || index >= Alphabet.Size then
            invalidArg "index" (sprintf "letter index must be in 0..25, got %d" index)
        Alphabet.Letters.[index]
    /// The index 0..25 of an upper-case letter.
    static member Index(letter: char) : int =
        let k = Alphabet.Letters.IndexOf letter
        if k < 0 then
            invalidArg "letter" (sprintf "'%c' is not a letter of the alphabet A..Z" letter)
        k
    /// The model input for a letter: index / 26.
    static member Encode(letter: char) : float = float (Alphabet.Index letter) / float Alphabet.Size
