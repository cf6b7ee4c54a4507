/// Vocabularies, encodings and datasets built from any symbol sequence.
module AlphabetLstm.Core.Tests.VocabularyProperties

open System
open Xunit
open AlphabetLstm.Core
open AlphabetLstm.Core.Tests.Generators

/// The symbol index a step's features encode, for symbol j of the step (index: k / V; one-hot: argmax).
let private decode (c: SequenceCase) (v: Vocabulary) (features: float[]) (j: int) =
    match c.Encoding with
    | SymbolEncoding.Index -> int (Math.Round(features.[j] * float v.Count))
    | _ ->
        let block = features.[j * v.Count .. (j + 1) * v.Count - 1]
        Assert.Equal(1.0, Array.sum block)
        Array.IndexOf(block, 1.0)

[<LstmProperty>]
let ``windows of any sequence hold every window, each labelled with the symbol after it, and their features decode back to the window`` (c: SequenceCase) =
    let v = Vocabulary.Create c.Symbols
    let d = Datasets.windows v c.Encoding c.Layout c.N c.Sequence
    Assert.Equal(c.Sequence.Length - c.N, d.Count)
    Assert.Equal(v.Count, d.Targets.ColumnCount)
    for j in 0 .. d.Count - 1 do
        Assert.Equal(c.Sequence.[j + c.N], d.Expected.[j])
        Assert.Equal(v.Join(c.Sequence.[j .. j + c.N - 1]), d.Patterns.[j])
        for t in 0 .. c.N - 1 do
            let step, within = if c.Layout = Layout.Features then 0, t else t, 0
            let features = d.Inputs.[step].Row(j).ToArray()
            Assert.Equal(c.Sequence.[j + t], v.[decode c v features within])

[<LstmProperty>]
let ``pre-padded samples hold their symbols in the last steps and zero steps before them`` (c: SequenceCase) =
    let v = Vocabulary.Create c.Symbols
    let maxLength = c.N + 1
    let samples = Array.init (c.Sequence.Length - 1) (fun j -> c.Sequence.[j .. min (j + c.N) (c.Sequence.Length - 2)])
    let samples = samples |> Array.map (fun s -> s.[.. min (s.Length - 1) (maxLength - 1)])
    let targets = Array.init samples.Length (fun j -> c.Sequence.[j + 1])
    let d = Datasets.prePadded v c.Encoding maxLength (samples |> Array.map (fun s -> s :> Collections.Generic.IReadOnlyList<string>)) targets
    for j in 0 .. d.Count - 1 do
        let pad = maxLength - samples.[j].Length
        Assert.Equal(samples.[j].Length, d.Lengths.[j])
        Assert.Equal(targets.[j], d.Expected.[j])
        for t in 0 .. maxLength - 1 do
            let features = d.Inputs.[t].Row(j).ToArray()
            if t < pad then Assert.True(features |> Array.forall ((=) 0.0), sprintf "sample %d step %d is padding but holds %A" j t features)
            else Assert.Equal(samples.[j].[t - pad], v.[decode c v features 0])

[<LstmProperty>]
let ``a text's vocabulary is its distinct characters in code-point order, whatever order they come in`` (c: SequenceCase) =
    // The sequence and then every symbol, so the text has at least two distinct characters.
    let chars = Array.append c.Sequence c.Symbols |> Array.collect Vocabulary.Split
    let text = String.Join("", chars)
    let reversed = String.Join("", Array.rev chars)
    let v = Vocabulary.OfText text
    Assert.Equal(v, Vocabulary.OfText reversed)
    let codes = v.Symbols |> Seq.map (fun s -> Text.Rune.GetRuneAt(s, 0).Value) |> Seq.toArray
    Assert.Equal<int>(Array.sort (Array.distinct codes), codes)
    Assert.Equal<string>(Array.sort (Array.distinct chars) |> Array.sortBy (fun s -> Text.Rune.GetRuneAt(s, 0).Value), v.Symbols)

[<LstmProperty>]
let ``splitting a sequence's text by the vocabulary gives the sequence back`` (c: SequenceCase) =
    let v = Vocabulary.Create c.Symbols
    Assert.Equal<string>(c.Sequence, v.SplitText(v.Join c.Sequence))

[<Fact>]
let ``a vocabulary refuses fewer than two symbols, an empty one and a repeated one, naming it`` () =
    let refused (symbols: string[]) (fragment: string) =
        let e = Assert.Throws<ArgumentException>(fun () -> Vocabulary.Create symbols |> ignore)
        Assert.Contains(fragment, e.Message)
    refused [| "a" |] "at least 2 symbols"
    refused [| "a"; "" |] "symbol 1 is empty"
    refused [| "do"; "re"; "do" |] "\"do\" appears twice, at 0 and 2"

[<Fact>]
let ``a symbol outside the vocabulary is refused with its position`` () =
    let v = Vocabulary.Create [| "Mon"; "Tue" |]
    let e = Assert.Throws<ArgumentException>(fun () -> Datasets.windows v SymbolEncoding.OneHot Layout.TimeSteps 1 [| "Mon"; "Tue"; "Wed" |] |> ignore)
    Assert.Contains("\"Wed\" (position 3 of sequence) is not in the vocabulary of 2 symbols", e.Message)

[<Fact>]
let ``a lone surrogate is no symbol of a text`` () =
    let e = Assert.Throws<ArgumentException>(fun () -> Vocabulary.Split(String([| 'a'; 'b'; char 0xD800; 'c' |])) |> ignore)
    Assert.Contains("position 2", e.Message)
