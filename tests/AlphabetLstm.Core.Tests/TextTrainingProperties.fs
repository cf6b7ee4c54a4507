/// Text training at real size: targets at every step, truncated BPTT across chunks, symbol inputs
/// (a gather and a scatter-add standing for the one-hot product), the lean text, held-out loss and
/// generation from a model with a target at every step.
module AlphabetLstm.Core.Tests.TextTrainingProperties

open System
open Xunit
open AlphabetLstm.Core
open AlphabetLstm.Core.Tests.Generators
open AlphabetLstm.Core.Tests.GradientProperties

let internal pool = [| "a"; "β"; "é"; "😀"; " "; "Ω"; "z" |]

/// A text of `length` symbols over the shape's first V pool symbols (all of them appear), as strings.
let internal textFor (s: Shape) (length: int) : string[] =
    let symbols = pool.[0 .. s.V - 1]
    let d = Rng.many length (Rng.nextInt 0 symbols.Length) (Rng.create s.Seed)
    Array.init length (fun k -> if k < symbols.Length then symbols.[k] else symbols.[d.Value.[k]])

let internal indexed (text: string[]) = IndexedText.Create(Vocabulary.Create(Array.distinct text |> Array.sortBy (fun x -> Array.IndexOf(pool, x))), text)

let private runOf (s: Shape) (text: IndexedText) (stateful: bool) (oneHot: bool) (targets: Targets) (validation: float) =
    { Path = "/texts/t.txt"; Sha256 = String('a', 64); Window = s.T; BatchSize = s.B
      Encoding = (if oneHot then SymbolEncoding.OneHot else SymbolEncoding.Index); Stateful = stateful
      Vocabulary = text.Vocabulary; Targets = targets; Validation = validation }

/// Random parameters in [-1, 1] and a random initial state for a run's shapes, drawn from the
/// shape's seed plus `offset`.
let internal randomModelFrom (offset: int64) (s: Shape) (run: TextRun) =
    let I = run.Vocabulary.FeaturesPerSymbol run.Encoding
    let G = 4 * s.H
    let mutable rng = Rng.create (s.Seed + offset)
    let m rows cols =
        let d = uniformMatrix rows cols rng
        rng <- d.Next
        d.Value
    let p = Parameters.create (m I G) (m s.H G) ((m 1 G).Row 0) (m s.H run.Vocabulary.Count) ((m 1 run.Vocabulary.Count).Row 0)
    p, { H = m s.B s.H; C = m s.B s.H }

let private randomModel = randomModelFrom 7L

[<LstmProperty>]
let ``every-step targets: the gradient of every block is the loss's central difference, one-hot and index inputs, from any start state`` (s: Shape) (oneHot: bool) =
    let text = indexed (textFor s (s.B * (s.T + 1) + 3))
    let run = runOf s text true oneHot Targets.Every 0.0
    let p, initial = randomModel s run
    let starts = Array.init s.B (fun b -> b * (s.T + 1))
    let struct (_, g, _) = TextRuns.batchGradients run p initial text starts
    let loss q = let struct (l, _, _) = TextRuns.batchGradients run q initial text starts in l
    let analytic = Parameters.blocks g
    for b in 0 .. analytic.Length - 1 do
        let numeric = Array.init analytic.[b].Values.Length (fun k -> derivative (fun d -> loss (perturb p b k d)))
        let err = relativeError analytic.[b].Values numeric
        Assert.True(err <= 1e-6, sprintf "block %s: relative error %.3g" analytic.[b].Name err)

[<LstmProperty>]
let ``every-step loss is the mean over all T·B positions of −log p(next symbol), each read carrying the state`` (s: Shape) =
    let text = indexed (textFor s (s.B * (s.T + 1) + 3))
    let run = runOf s text true true Targets.Every 0.0
    let p, _ = randomModel s run
    let starts = Array.init s.B (fun b -> b * (s.T + 1))
    let struct (l, _, _) = TextRuns.batchGradients run p (LstmState.Zeros(s.B, s.H)) text starts
    let m = { Vocabulary = text.Vocabulary; Input = TextRuns.inputOf run; Parameters = p; Precision = Precision.Float64 }
    let mutable sum = 0.0
    for b in 0 .. s.B - 1 do
        let mutable state = LstmState.Zeros(1, s.H)
        for t in 0 .. s.T - 1 do
            let next = m.PredictNext(state, [| text.Vocabulary.[text.[starts.[b] + t]] |])
            sum <- sum - log next.Probabilities.[text.[starts.[b] + t + 1]]
            state <- next.Final
    Assert.InRange(l - sum / float (s.B * s.T), -1e-12, 1e-12)

[<LstmProperty>]
let ``a symbol tape's gather and scatter-add give the dense one-hot product's numbers, forward and backward`` (s: Shape) =
    let V = s.V
    let T, B, H = s.T, s.B, s.H
    let mutable rng = Rng.create s.Seed
    let draw n = let d = Rng.many n (Rng.uniform -1.0 1.0) rng in rng <- d.Next; d.Value
    let symbols = let d = Rng.many (T * B) (Rng.nextInt 0 V) rng in rng <- d.Next; d.Value
    let run = { runOf s (indexed pool.[0 .. V - 1]) true true Targets.Every 0.0 with Vocabulary = Vocabulary.Create pool.[0 .. V - 1] }
    let p, _ = randomModel s run
    let h0, c0 = draw (B * H), draw (B * H)
    let dOut, dHT, dCT = draw (T * B * H), draw (B * H), draw (B * H)
    let pass (tape: Tape) =
        Array.blit h0 0 tape.Hs 0 (B * H)
        Array.blit c0 0 tape.Cs 0 (B * H)
        Lstm.forwardTape p tape
        let grads = Parameters.storage (Parameters.zerosLike p)
        Lstm.backwardTapeWith p tape dOut (Array.copy dHT) (Array.copy dCT) true grads
        tape.Hs, tape.Cs, grads
    let gather = Lstm.newTapeOf true T B V H
    Array.blit symbols 0 gather.Symbols 0 (T * B)
    let dense = Lstm.newTape T B V H
    for r in 0 .. T * B - 1 do dense.X.[r * V + symbols.[r]] <- 1.0
    let hG, cG, gG = pass gather
    let hD, cD, gD = pass dense
    Assert.Equal<float[]>(hD, hG)
    Assert.Equal<float[]>(cD, cG)
    for b in 0 .. gD.Length - 1 do
        Assert.True((gD.[b] = gG.[b]), sprintf "block %s differs: dense and gathered gradients are not the same numbers" Parameters.blockNames.[b])

[<LstmProperty>]
let ``truncated BPTT: chunk k+1 trains on its own loss's gradient, its start state (chunk k's end) held constant`` (s: Shape) =
    let text = indexed (textFor s (s.B * (2 * s.T + 1)))
    let run = runOf s text true (s.Seed % 2L = 0L) Targets.Every 0.0
    // Checked against float64 Adam steps: the run in float64 (text runs default to float32).
    let prepared = (TextRuns.prepare run text s.Seed s.H 1 1 0.01).WithPrecision Precision.Float64
    Assert.Equal(2 * s.B, prepared.Samples)
    let trained = (TextRuns.fitQuietly prepared |> Seq.head).State
    // The same epoch by hand: chunk 1 from zeros, one Adam step; chunk 2 from chunk 1's end, one Adam step.
    let S = text.Length / s.B
    let chunk k = Array.init s.B (fun b -> b * S + k * s.T)
    let p0 = prepared.Start.Parameters
    let struct (_, g1, end1) = TextRuns.batchGradients run p0 (LstmState.Zeros(s.B, s.H)) text (chunk 0)
    let a1 = Adam.step prepared.Config.Optimizer prepared.Start.Optimizer p0 g1
    let struct (_, g2, _) = TextRuns.batchGradients run a1.Parameters end1 text (chunk 1)
    let a2 = Adam.step prepared.Config.Optimizer a1.State a1.Parameters g2
    sameParameters a2.Parameters trained.Parameters

[<LstmProperty>]
let ``with one target per sample the lean text run trains bit for bit as the dataset path (Datasets.streams / windows + Training.fit)`` (s: Shape) (stateful: bool) (oneHot: bool) =
    let symbols = textFor s (s.B * (2 * s.T + 1) + 5)
    let text = indexed symbols
    let run = runOf s text stateful oneHot Targets.Last 0.0
    let prepared = TextRuns.prepare run text s.Seed s.H 1 2 0.01
    let lean = TextRuns.fitQuietly prepared |> Seq.toArray
    let data =
        if stateful then Datasets.streams text.Vocabulary run.Encoding s.B s.T symbols
        else Datasets.windows text.Vocabulary run.Encoding Layout.TimeSteps s.T symbols
    let between = if stateful then Training.reset else id
    let old = Training.fitWith between prepared.Config data prepared.Start |> Seq.toArray
    for e in 0 .. 1 do
        Assert.Equal(old.[e].Report, lean.[e].Report)
        sameParameters old.[e].State.Parameters lean.[e].State.Parameters

[<LstmProperty>]
let ``a text read in pieces cut anywhere is the text read whole`` (s: Shape) (cuts: int list) =
    let whole = String.Concat(textFor s (10 + s.B * 7))
    let positions = cuts |> List.map (fun c -> abs c % (whole.Length + 1)) |> List.distinct |> List.sort
    let pieces = (0 :: positions) @ [ whole.Length ] |> List.pairwise |> List.map (fun (a, b) -> whole.Substring(a, b - a))
    let scanned = IndexedTexts.scan pieces
    Assert.Equal(Vocabulary.OfText whole, scanned.Vocabulary)
    let t = IndexedTexts.encode scanned pieces
    Assert.Equal<string[]>(Vocabulary.Split whole, t.Symbols(0, t.Length))

[<Fact>]
let ``a lone surrogate, one distinct character, or a text changed between the passes is refused with one line`` () =
    let lone = Assert.Throws<ArgumentException>(fun () -> IndexedTexts.scan [ "ab"; String([| 'c'; char 0xD800 |]); "x" ] |> ignore)
    Assert.Contains("a lone UTF-16 surrogate at character 4", lone.Message)
    let one = Assert.Throws<ArgumentException>(fun () -> IndexedTexts.scan [ "aaaa" ] |> ignore)
    Assert.Contains("holds 1 distinct character: a model needs at least two", one.Message)
    let scanned = IndexedTexts.scan [ "abab" ]
    let changed = Assert.Throws<ArgumentException>(fun () -> IndexedTexts.encode scanned [ "ababa" ] |> ignore)
    Assert.Contains("differs from the one scanned", changed.Message)
    Assert.Null(IndexedText.WidthProblem 65536)
    Assert.Contains("at most 65536", IndexedText.WidthProblem 65537)

[<LstmProperty>]
let ``a stream model's held-out loss reads the held-out text as one stream from zeros, a target at every position`` (s: Shape) =
    let text = indexed (textFor s (s.B * (s.T + 1) * 4 + 3))
    let run = runOf s text true true Targets.Every 0.25
    // Read against the float64 PredictNext below: the run in float64 (text runs default to float32).
    let prepared = (TextRuns.prepare run text s.Seed s.H 1 1 0.01).WithPrecision Precision.Float64
    let held = prepared.HeldOut
    Assert.Equal(text.Length / 4, held.Length)
    Assert.Equal(text.[text.Length - held.Length], held.[0])
    let e = TextRuns.validate prepared prepared.Start.Parameters
    let m = { Vocabulary = text.Vocabulary; Input = prepared.Input; Parameters = prepared.Start.Parameters; Precision = Precision.Float64 }
    let n = (held.Length - 1) / s.T * s.T
    let mutable state = LstmState.Zeros(1, s.H)
    let mutable sum = 0.0
    for k in 0 .. n - 1 do
        let next = m.PredictNext(state, [| text.Vocabulary.[held.[k]] |])
        sum <- sum - log next.Probabilities.[held.[k + 1]]
        state <- next.Final
    Assert.Equal(int64 n, e.Targets)
    Assert.InRange(e.Loss - sum / float n, -1e-12, 1e-12)
    Assert.Equal(e.Loss / log 2.0, e.BitsPerCharacter)

[<LstmProperty>]
let ``a stream model's held-out loss, of one layer or a stack of two, has the same bits read in pieces of any length as read one symbol per call`` (s: Shape) (oneHot: bool) (stacked: bool) =
    let text = indexed (textFor s (s.T * (s.B + 3) + int (s.Seed % 7L) + 2))
    let run = runOf s text true oneHot Targets.Every 0.0
    let p =
        if stacked then (TextRuns.prepare run text s.Seed s.H 2 1 0.01).Start.Parameters
        else fst (randomModel s run)
    let positions = (text.Length - 1) / s.T * s.T
    let struct (one, oneRight) = TextRuns.streamLoss run p text positions 1
    for piece in [ 2; 3; s.T; s.T + s.B; positions - 1; positions; Memory.heldOutPiece ] |> List.filter (fun k -> k >= 1) do
        let struct (loss, right) = TextRuns.streamLoss run p text positions piece
        Assert.True(BitConverter.DoubleToInt64Bits one = BitConverter.DoubleToInt64Bits loss,
                    sprintf "pieces of %d: summed loss %.17g, one symbol per call %.17g" piece loss one)
        Assert.Equal(oneRight, right)
    let e = TextRuns.evaluateText run p text
    Assert.Equal(int64 positions, e.Targets)
    Assert.Equal(one / float positions, e.Loss)
    Assert.Equal(float oneRight / float positions, e.Accuracy)

[<LstmProperty>]
let ``a stream run's held-out pass, of one layer or a stack of two, allocates no more than its term of the memory estimate, which the estimate holds, however long the held-out text`` (s: Shape) (oneHot: bool) (stacked: bool) =
    let text = indexed (textFor s (4 * Memory.heldOutPiece + 300 + int (s.Seed % 1000L)))
    let run = runOf s text true oneHot Targets.Every 0.25
    let layers = if stacked then 2 else 1
    let prepared = TextRuns.prepare run text s.Seed s.H layers 1 0.01
    Assert.True(prepared.HeldOut.Length > Memory.heldOutPiece)
    let I = run.Vocabulary.FeaturesPerSymbol run.Encoding
    let term = Memory.textHeldOut I s.H s.V s.B s.T oneHot true true layers
    // The pass allocates the same bytes on every call (the first, about a hundred more while its code
    // is not yet optimised). GC.GetAllocatedBytesForCurrentThread reads
    // them exactly while no other thread allocates, but with other threads allocating meanwhile (the
    // rest of the suite, in parallel) a reading can come out as much as one allocation quantum
    // (about 8 KB) above them, never below: so the least of three readings is the pass's allocation.
    let reading () =
        let before = GC.GetAllocatedBytesForCurrentThread()
        let e = TextRuns.validate prepared prepared.Start.Parameters
        let after = GC.GetAllocatedBytesForCurrentThread()
        Assert.True(Double.IsFinite e.Loss)
        float (after - before)
    let allocated = List.min [ reading (); reading (); reading () ]
    // The estimate counts array contents; 4 KiB covers the array headers and the few small records around them.
    Assert.True(allocated <= term + 4096.0, sprintf "the held-out pass allocated %.0f bytes, its term is %.0f" allocated term)
    // The estimate holds the reading, the training lane and the held-out term (besides the parameters).
    let reading = 2.0 * float text.Length + float 0x110000 * 5.0
    let estimate = TextRuns.memoryEstimate run text.Length s.H layers
    Assert.True(estimate >= reading + Memory.tape I s.H s.V s.B s.T - 8.0 * float (s.T * s.B * I) + term,
                sprintf "estimate %.0f bytes, the reading %.0f, one batch's tape, the held-out pass %.0f" estimate reading term)

[<Fact>]
let ``a held-out part too short for one chunk, or a fraction outside [0, 0.5], is refused with one line`` () =
    let text = IndexedTexts.ofString (String.replicate 20 "abcde")
    let s = { I = 1; H = 2; V = 5; B = 2; T = 12; Seed = 1L }
    Assert.Contains("the held-out part (the last 0.1 of the text) has 10 characters; one chunk of 12 needs at least 13",
                    TextRuns.problem (runOf s text true true Targets.Every 0.1) text.Length)
    Assert.Contains("the held-out fraction must be in [0, 0.5], got 0.6", TextRuns.problem (runOf s text true true Targets.Every 0.6) text.Length)
    Assert.Null(TextRuns.problem (runOf s text true true Targets.Every 0.0) text.Length)

[<LstmProperty>]
let ``at temperature 0 an every-step model continues with the most likely symbol after reading everything so far from zeros`` (s: Shape) =
    let symbols = textFor s (s.T + 6)
    let text = indexed symbols
    let run = runOf s text true (s.Seed % 2L = 0L) Targets.Every 0.0
    let p, _ = randomModel s run
    let m = { Vocabulary = text.Vocabulary; Input = TextRuns.inputOf run; Parameters = Parameters.map (fun x -> 3.0 * x) p; Precision = Precision.Float64 }
    let start = symbols.[0 .. int (s.Seed % 3L)]
    let generated = TextRuns.generate m start 6 0.0 (Rng.create 1L) |> Seq.toArray
    let all = Array.append start generated
    for k in 0 .. generated.Length - 1 do
        Assert.Equal(m.PredictNext(LstmState.Zeros(1, m.Parameters.Units), all.[0 .. start.Length + k - 1]).Symbol, generated.[k])

[<Fact>]
let ``an every-step model is written as version 3 with its targets and reads back; a last-step model stays version 2`` () =
    let text = IndexedTexts.ofString "abcabcabd"
    let s = { I = 1; H = 2; V = 4; B = 1; T = 3; Seed = 4L }
    let every = runOf s text true true Targets.Every 0.0
    let p, _ = randomModel s every
    let m = { Vocabulary = text.Vocabulary; Input = TextRuns.inputOf every; Parameters = p; Precision = Precision.Float64 }
    let written = ModelFile.serialize m
    Assert.Contains("\"version\": 3", written)
    Assert.Contains("\"targets\": \"every\"", written)
    match ModelFile.parse written with
    | Ok back -> Assert.Equal(Targets.Every, back.Input.Targets)
    | Error e -> failwith e
    let last = ModelFile.serialize { m with Input = { m.Input with Targets = Targets.Last } }
    Assert.Contains("\"version\": 2", last)
    Assert.DoesNotContain("targets", last)
    match ModelFile.parse (last.Replace("\"reading\": \"stream\"", "\"reading\": \"stream\", \"targets\": \"every\"")) with
    | Ok _ -> failwith "a version 2 file with targets was read"
    | Error e -> Assert.Contains("version 2 files have no targets", e)
