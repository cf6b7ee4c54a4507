/// A text held lean: one 2-byte symbol index per character, read in pieces.
///
/// A megabyte of text is two megabytes here, a hundred megabytes two hundred, whatever the
/// vocabulary: training builds each batch's inputs from these indices when the step needs them
/// (one-hot inputs are never materialised; see Lstm's symbol tapes). The index width is 16 bits, so
/// a text may hold at most 65,536 distinct characters (`IndexedText.MaxSymbols`).
///
/// Reading is two passes over the same pieces (strings of any length, cut anywhere, a surrogate pair
/// split between two pieces included): `scan` finds the vocabulary and the length, `encode` fills the
/// indices. The pieces come from the caller (a file read in blocks, a string), so this stays pure.
namespace AlphabetLstm.Core

open System
open System.Collections.Generic
open System.Text

/// What a first pass over a text found: its distinct characters (in code-point order) and its length.
type TextScan =
    { /// The text's distinct characters (Unicode scalar values), in ascending code-point order.
      Vocabulary: Vocabulary
      /// The number of characters (scalar values).
      Length: int64 }

/// A text as 2-byte symbol indices into a vocabulary; a window onto one shared array, so a slice
/// (the training part, the held-out part) copies nothing. Immutable.
[<Sealed>]
type IndexedText internal (vocabulary: Vocabulary, symbols: uint16[], start: int, length: int) =
    /// The most distinct symbols a text may hold: 2^16, the range of a 2-byte index.
    static member MaxSymbols = 65536

    /// The vocabulary the indices point into.
    member _.Vocabulary = vocabulary
    /// The number of symbols.
    member _.Length = length
    /// The index of symbol k (0-based).
    member _.Item
        with get (k: int) : int =
            if k < 0 || k >= length then
                raise (ArgumentOutOfRangeException("k", sprintf "position must be in 0..%d, got %d" (length - 1) k))
            int symbols.[start + k]
    member internal _.Array = symbols
    member internal _.Start = start

    /// The symbols from `first` on, `count` of them (`count` from the text's end when it runs past it).
    member t.Slice(first: int, count: int) : IndexedText =
        if first < 0 || first > length then
            raise (ArgumentOutOfRangeException("first", sprintf "first must be in 0..%d, got %d" length first))
        if count < 0 then raise (ArgumentOutOfRangeException("count", sprintf "count must not be negative, got %d" count))
        IndexedText(vocabulary, symbols, start + first, min count (length - first))

    /// The symbols first … first + count − 1 as strings (for display and tests).
    member t.Symbols(first: int, count: int) : string[] =
        let s = t.Slice(first, count)
        Array.init s.Length (fun k -> vocabulary.[s.[k]])

    /// The one-line reason a vocabulary this large cannot be indexed, or null when it can.
    static member WidthProblem(distinct: int) : string | null =
        if distinct <= IndexedText.MaxSymbols then null
        else sprintf "the text has %d distinct characters; a text is held as 2-byte symbol indices, which address at most %d" distinct IndexedText.MaxSymbols

    /// A text of symbols from a vocabulary (ArgumentException naming the first symbol outside it).
    static member Create(vocabulary: Vocabulary, symbols: IReadOnlyList<string>) : IndexedText =
        if isNull (box vocabulary) then nullArg "vocabulary"
        match IndexedText.WidthProblem vocabulary.Count with
        | null -> ()
        | problem -> invalidArg "vocabulary" problem
        let ix = Datasets.indices vocabulary "symbols" symbols
        IndexedText(vocabulary, Array.map uint16 ix, 0, ix.Length)

/// Reading a text in pieces: the first pass (`scan`) and the second (`encode`).
module IndexedTexts =
    /// Calls `each` with every Unicode scalar value of the pieces, in order, and its position
    /// (counting scalar values from 0). A high surrogate at the end of a piece pairs with a low one at
    /// the start of the next; a lone surrogate raises ArgumentException naming its position.
    let private runes (pieces: seq<string>) (each: int64 -> int -> unit) : int64 =
        let mutable position = 0L
        let mutable pending = 0    // a high surrogate waiting for the next piece, or 0
        let lone () = invalidArg "pieces" (sprintf "the text holds a lone UTF-16 surrogate at character %d, which is no Unicode character" (position + 1L))
        for piece in pieces do
            if isNull (box piece) then nullArg "pieces"
            let mutable k = 0
            if pending <> 0 && piece.Length > 0 then
                if Char.IsLowSurrogate piece.[0] then
                    each position (Char.ConvertToUtf32(char pending, piece.[0]))
                    position <- position + 1L
                    k <- 1
                    pending <- 0
                else lone ()
            while k < piece.Length do
                let c = piece.[k]
                if Char.IsHighSurrogate c then
                    if k + 1 < piece.Length then
                        if not (Char.IsLowSurrogate piece.[k + 1]) then lone ()
                        each position (Char.ConvertToUtf32(c, piece.[k + 1]))
                        position <- position + 1L
                        k <- k + 2
                    else
                        pending <- int c
                        k <- k + 1
                elif Char.IsLowSurrogate c then lone ()
                else
                    each position (int c)
                    position <- position + 1L
                    k <- k + 1
        if pending <> 0 then lone ()
        position

    /// The first pass: the distinct characters (in code-point order) and the length of a text given
    /// in pieces. Holds one flag per possible code point (1.1 MB), whatever the text's size.
    [<CompiledName("Scan")>]
    let scan (pieces: seq<string>) : TextScan =
        if isNull (box pieces) then nullArg "pieces"
        let seen = Array.zeroCreate<bool> 0x110000
        let length = runes pieces (fun _ r -> seen.[r] <- true)
        let symbols = ResizeArray<string>()
        for r in 0 .. seen.Length - 1 do
            if seen.[r] then symbols.Add(Rune(r).ToString())
        if symbols.Count < 2 then
            invalidArg "pieces" (sprintf "the text holds %d distinct character%s: a model needs at least two to choose between"
                                     symbols.Count (if symbols.Count = 1 then "" else "s"))
        { Vocabulary = Vocabulary.Create symbols; Length = length }

    /// The second pass: the pieces (the same text `scan` read) as indices into its vocabulary.
    /// ArgumentException when the vocabulary is wider than 2-byte indices, the text is longer than
    /// one array, or the pieces are not the text that was scanned.
    [<CompiledName("Encode")>]
    let encode (scanned: TextScan) (pieces: seq<string>) : IndexedText =
        if isNull (box pieces) then nullArg "pieces"
        let vocabulary = scanned.Vocabulary
        match IndexedText.WidthProblem vocabulary.Count with
        | null -> ()
        | problem -> invalidArg "scanned" problem
        if scanned.Length > int64 Array.MaxLength then
            invalidArg "scanned" (sprintf "the text has %d characters, more than one array holds (%d)" scanned.Length Array.MaxLength)
        let lookup = Array.create 0x110000 -1
        vocabulary.Symbols |> Seq.iteri (fun k s -> lookup.[Rune.GetRuneAt(s, 0).Value] <- k)
        let ix = Array.zeroCreate<uint16> (int scanned.Length)
        let changed () = invalidArg "pieces" "the text differs from the one scanned (its characters or its length changed between the two passes)"
        let length =
            runes pieces (fun position r ->
                if position >= scanned.Length || lookup.[r] < 0 then changed ()
                ix.[int position] <- uint16 lookup.[r])
        if length <> scanned.Length then changed ()
        IndexedText(vocabulary, ix, 0, ix.Length)

    /// A string as an indexed text over its own characters (both passes over one piece).
    [<CompiledName("OfString")>]
    let ofString (text: string) : IndexedText =
        if isNull (box text) then nullArg "text"
        encode (scan [ text ]) [ text ]
