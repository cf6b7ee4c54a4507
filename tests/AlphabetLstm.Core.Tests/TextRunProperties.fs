/// Text runs: streams for stateful training, text checkpoints, and generation the way a model reads.
module AlphabetLstm.Core.Tests.TextRunProperties

open System
open Xunit
open AlphabetLstm.Core
open AlphabetLstm.Tutorial
open AlphabetLstm.Core.Tests.Generators

/// A text of 2..200 symbols drawn (from the shape's seed) from a pool of V symbols that mixes
/// scripts: Latin, Greek, an accented letter and an emoji (two UTF-16 units, one symbol).
let private textFor (s: Shape) (length: int) : string[] =
    let pool = [| "a"; "β"; "é"; "😀"; " "; "Ω"; "z" |]
    let symbols = pool.[0 .. s.V - 1]
    let d = Rng.many length (Rng.nextInt 0 symbols.Length) (Rng.create s.Seed)
    // The first V symbols are the pool itself, so the vocabulary holds all V.
    Array.init length (fun k -> if k < symbols.Length then symbols.[k] else symbols.[d.Value.[k]])

let private decode (v: Vocabulary) (encoding: SymbolEncoding) (d: Dataset) (n: int) (t: int) : string =
    let row = d.Inputs.[t].Row(n)
    if encoding = SymbolEncoding.Index then v.[int (Math.Round(row.[0] * float v.Count))] else v.[row.MaximumIndex()]

[<LstmProperty>]
let ``stream sample k·B + b reads the T symbols of stream b's k-th chunk and targets the symbol after them`` (s: Shape) (extra: int) (oneHot: bool) =
    let length = s.B * (s.T + 1) + abs extra % 60
    let text = textFor s length
    let v = Vocabulary.Create(Array.distinct text)
    let encoding = if oneHot then SymbolEncoding.OneHot else SymbolEncoding.Index
    let d = Datasets.streams v encoding s.B s.T text
    let S = length / s.B
    Assert.Equal(s.B * ((S - 1) / s.T), d.Count)
    Assert.Equal(Datasets.streamSampleCount s.B s.T length, d.Count)
    Assert.Equal(s.T, d.TimeSteps)
    for n in 0 .. d.Count - 1 do
        let k, b = n / s.B, n % s.B
        let first = b * S + k * s.T
        for t in 0 .. s.T - 1 do
            Assert.Equal(text.[first + t], decode v encoding d n t)
        Assert.Equal(text.[first + s.T], d.Expected.[n])
        // Every symbol read and targeted lies inside stream b.
        Assert.True(first + s.T < (b + 1) * S, sprintf "sample %d's target lies outside stream %d" n b)

[<LstmProperty>]
let ``in a stream dataset, row b of batch k starts with the symbol row b of batch k − 1 was to predict`` (s: Shape) (extra: int) =
    let text = textFor s (s.B * (2 * s.T + 1) + abs extra % 60)
    let v = Vocabulary.Create(Array.distinct text)
    let d = Datasets.streams v SymbolEncoding.OneHot s.B s.T text
    for n in s.B .. d.Count - 1 do
        Assert.Equal(d.Expected.[n - s.B], decode v SymbolEncoding.OneHot d n 0)

[<Fact>]
let ``a text too short for the streams is refused with the length it needs`` () =
    let text = Vocabulary.Split "abcabcabc"
    let e = Assert.Throws<ArgumentException>(fun () -> Datasets.streams (Vocabulary.OfText "abc") SymbolEncoding.OneHot 3 3 text |> ignore)
    Assert.Contains("the sequence has 9 symbols; 3 streams of chunks of 3 need at least 12", e.Message)

let private textRun (s: Shape) (stateful: bool) (text: string[]) =
    { Path = "/texts/söme \"file\".txt"
      Sha256 = String('a', 63) + "0"
      Window = s.T
      BatchSize = s.B
      Encoding = (if s.Seed % 2L = 0L then SymbolEncoding.OneHot else SymbolEncoding.Index)
      Stateful = stateful
      Vocabulary = Vocabulary.OfText(String.Concat text)
      Targets = TextRun.DefaultTargets stateful
      Validation = 0.0 }

let private ok (r: Result<'T, string>) =
    match r with
    | Ok v -> v
    | Error e -> failwithf "expected the file to load, got: %s" e

[<LstmProperty>]
let ``a text run's checkpoint reads back with its settings, vocabulary, input and state`` (s: Shape) (stateful: bool) =
    let text = textFor s (s.B * (s.T + 1) + 5)
    let t = textRun s stateful text
    // Either precision: a float32 checkpoint holds each number as the nearest float32 (the same
    // number when the run computed in float32).
    let precision = if s.Seed % 2L = 0L then Precision.Float32 else Precision.Float64
    let run = RunSettings.ForText(t, s.Seed, 4, s.H, 0.002, 2, 1, precision)
    let prepared = CheckpointFile.prepareText run (IndexedText.Create(t.Vocabulary, text))
    Assert.Equal(precision, prepared.Config.Precision)
    let trained = (TextRuns.fitQuietly prepared |> Seq.head).State
    let c = { Run = run; Input = prepared.Input; State = trained; Save = "m.json" }
    let written = CheckpointFile.serialize c
    let back = ok (CheckpointFile.parse written)
    Assert.Equal(RunKind.Text, back.Run.Kind)
    Assert.Equal(run, back.Run)
    Assert.Equal(prepared.Input, back.Input)
    Assert.Equal((if stateful then Reading.Stream else Reading.Window), back.Input.Reading)
    sameParameters (ModelFile.roundTo precision "" trained.Parameters) back.State.Parameters
    sameBits "carried h" (ModelFile.roundMatrix precision "h" trained.Carried.H) back.State.Carried.H
    Assert.Equal(written, CheckpointFile.serialize back)

[<Fact>]
let ``a stateful text run resumed from its checkpoint text ends bit-identical to the unbroken run`` () =
    let s = { I = 1; H = 3; V = 5; B = 2; T = 4; Seed = 11L }
    let text = textFor s 70
    let run = RunSettings.ForText(textRun s true text, 3L, 3, 3, 0.01, 1, 1, Precision.Float64)
    let indexed = IndexedText.Create(run.text.Value.Vocabulary, text)
    let prepared = CheckpointFile.prepareText run indexed
    let unbroken = TextRuns.fitQuietly prepared |> Seq.last
    let first = TextRuns.fitQuietly prepared |> Seq.head
    let c = ok (CheckpointFile.parse (CheckpointFile.serialize { Run = run; Input = prepared.Input; State = first.State; Save = "m.json" }))
    let resumed = CheckpointFile.resumeText c indexed
    let finished = TextRuns.fitQuietly resumed |> Seq.last
    sameParameters unbroken.State.Parameters finished.State.Parameters
    sameBits "carried h" unbroken.State.Carried.H finished.State.Carried.H

[<Fact>]
let ``a checkpoint written before text runs (no kind, no reading) still loads as the experiment it was`` () =
    let spec = (Experiments.tryFind "stateful").Value
    let run = RunSettings.ForExperiment("stateful", 2L, 5, 3, false, 0.001, 1)
    let prepared = CheckpointFile.prepare run
    let text = CheckpointFile.serialize { Run = run; Input = Experiments.inputOf spec; State = prepared.Start; Save = "m.json" }
    // Sealed again: the checksum covers the content, and this is the content an older writer made.
    let old = CheckpointFile.seal (text.Replace(", \"reading\": \"window\"", ""))
    Assert.DoesNotContain("\"reading\"", old)
    let back = ok (CheckpointFile.parse old)
    Assert.Equal(RunKind.Experiment, back.Run.Kind)
    Assert.Equal(run, back.Run)
    Assert.Equal(Reading.Window, back.Input.Reading)

/// A trained-looking model over the shape's symbols: random weights, T-symbol windows or a stream.
let private modelOf (s: Shape) (stream: bool) (text: string[]) =
    let v = Vocabulary.Create(Array.distinct text)
    let input = { TextRuns.inputOf { textRun s stream text with Vocabulary = v } with Targets = Targets.Last }
    let p = (Parameters.init input.Features s.H v.Count (Rng.create s.Seed)).Value
    // Larger weights than Glorot's so the most likely symbol changes along the text.
    { Vocabulary = v; Input = input; Parameters = Parameters.map (fun x -> 3.0 * x) p; Precision = Precision.Float64 }

[<LstmProperty>]
let ``at temperature 0 a window model picks the most likely symbol after the last T symbols, each read from zeros`` (s: Shape) =
    let text = textFor s (s.T + 6)
    let m = modelOf s false text
    let start = text.[0 .. s.T + 2]
    let generated = TextRuns.generate m start 5 0.0 (Rng.create 1L) |> Seq.toArray
    let all = Array.append start generated
    for k in 0 .. generated.Length - 1 do
        let window = all.[start.Length + k - s.T .. start.Length + k - 1]
        Assert.Equal(m.PredictNext(LstmState.Zeros(1, m.Parameters.Units), window).Symbol, generated.[k])

[<LstmProperty>]
let ``at temperature 0 a stream model's symbol at position p is the most likely after reading, from zeros, the symbols since p mod T`` (s: Shape) =
    let text = textFor s (2 * s.T + 6)
    let m = modelOf s true text
    let start = text.[0 .. s.T - 1 + int (s.Seed % 4L)]
    let generated = TextRuns.generate m start 7 0.0 (Rng.create 1L) |> Seq.toArray
    let all = Array.append start generated
    for k in 0 .. generated.Length - 1 do
        let p = start.Length + k
        // p − p mod T symbols: a whole number of chunks since a reset, as every prediction in training.
        Assert.Equal(m.PredictNext(LstmState.Zeros(1, m.Parameters.Units), all.[p % s.T .. p - 1]).Symbol, generated.[k])

[<LstmProperty>]
let ``sampling at a temperature is a function of the seed: the same seed gives the same symbols`` (s: Shape) (stream: bool) =
    let text = textFor s (s.T + 6)
    let m = modelOf s stream text
    let start = text.[0 .. s.T - 1]
    let a = TextRuns.generate m start 30 1.5 (Rng.create s.Seed) |> Seq.toArray
    let b = TextRuns.generate m start 30 1.5 (Rng.create s.Seed) |> Seq.toArray
    Assert.Equal<string[]>(a, b)

[<Fact>]
let ``sampling follows the probabilities: a zero-probability symbol is never drawn, and a near-zero temperature draws the most likely`` () =
    let probabilities = [| 0.2; 0.0; 0.5; 0.3 |]
    let mutable r = Rng.create 9L
    let counts = Array.zeroCreate 4
    for _ in 1 .. 4000 do
        let d = TextRuns.choose 1.0 probabilities r
        counts.[d.Value] <- counts.[d.Value] + 1
        r <- d.Next
    Assert.Equal(0, counts.[1])
    // Expected 800 / 2000 / 1200 draws; binomial standard deviations are about 25 to 32.
    Assert.InRange(counts.[0], 650, 950)
    Assert.InRange(counts.[2], 1850, 2150)
    Assert.InRange(counts.[3], 1050, 1350)
    for seed in 1L .. 50L do
        Assert.Equal(2, (TextRuns.choose 0.01 probabilities (Rng.create seed)).Value)

[<Fact>]
let ``generating refuses a symbol outside the vocabulary, a start shorter than the window and a negative temperature`` () =
    let s = { I = 1; H = 2; V = 4; B = 1; T = 3; Seed = 5L }
    let text = textFor s 10
    let m = modelOf s false text
    let foreign = Assert.Throws<ArgumentException>(fun () -> TextRuns.generate m [| "a"; "β"; "Q"; "a" |] 3 0.0 (Rng.create 1L) |> Seq.toArray |> ignore)
    Assert.Contains("\"Q\" (position 3 of the start text) is not in the model's vocabulary of 4 symbols", foreign.Message)
    let short = Assert.Throws<ArgumentException>(fun () -> TextRuns.generate m [| "a"; "β" |] 3 0.0 (Rng.create 1L) |> Seq.toArray |> ignore)
    Assert.Contains("the start text has 2 symbols, the model reads windows of 3: give at least 3", short.Message)
    let cold = Assert.Throws<ArgumentException>(fun () -> TextRuns.generate m [| "a"; "β"; "a" |] 3 -1.0 (Rng.create 1L) |> Seq.toArray |> ignore)
    Assert.Contains("the temperature must be a finite number ≥ 0, got -1", cold.Message)

[<LstmProperty>]
let ``a stream model reads any number of symbols, one per step; a window model exactly its window`` (s: Shape) =
    let text = textFor s (s.T + 6)
    let stream = modelOf s true text
    let window = modelOf s false text
    let n = 1 + int (s.Seed % 7L)
    Assert.Equal(n, (stream.Encode text.[0 .. n - 1]).Inputs.Length)
    Assert.Equal(s.T, (window.Encode text.[0 .. s.T - 1]).Inputs.Length)
    if n <> s.T then Assert.Throws<ArgumentException>(fun () -> window.Encode text.[0 .. n - 1] |> ignore) |> ignore

[<LstmProperty>]
let ``a stream run starts every epoch from the zero state, a window run shuffles`` (s: Shape) (stateful: bool) =
    let text = textFor s (s.B * (2 * s.T + 1) + 7)
    let run = RunSettings.ForText(textRun s stateful text, s.Seed, 2, s.H, 0.01, 1)
    let prepared = CheckpointFile.prepareText run (IndexedText.Create(run.text.Value.Vocabulary, text))
    Assert.Equal(stateful, prepared.Config.Policy = StatePolicy.Stateful)
    Assert.Equal(not stateful, prepared.Config.Shuffle)
    for stretch in TextRuns.fitQuietly prepared do
        Assert.True(stretch.State.Carried.H.Enumerate() |> Seq.forall ((=) 0.0), "the carried h is not zero after an epoch")
        Assert.True(stretch.State.Carried.C.Enumerate() |> Seq.forall ((=) 0.0), "the carried c is not zero after an epoch")
