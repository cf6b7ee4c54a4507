/// Stacked layers: the state laws hold per layer, a stack is its layers run one after another,
/// BPTT through a stack (last-step and every-step targets) matches central differences, truncated
/// BPTT carries every layer's state across chunks, and one layer is drawn and trained as before.
module AlphabetLstm.Core.Tests.StackProperties

open System
open MathNet.Numerics.LinearAlgebra
open Xunit
open AlphabetLstm.Core
open AlphabetLstm.Core.Tests.Generators
open AlphabetLstm.Core.Tests.GradientProperties

/// A problem of `s` with `layers` stacked layers: the one-layer problem's blocks for layer 1 and
/// the head, upper layers and a stacked initial state (B, N·H) drawn after them, entries in [-1, 1].
let private buildStack (s: Shape) (layers: int) : Problem =
    let pr = build s
    let mutable rng = Rng.create (s.Seed + 11L)
    let m rows cols =
        let d = uniformMatrix rows cols rng
        rng <- d.Next
        d.Value
    let G = 4 * s.H
    let upper = Array.init (layers - 1) (fun _ -> { Kernel = m s.H G; RecurrentKernel = m s.H G; Bias = (m G 1).Column 0 })
    let initial = LstmState.OfLayers(Array.append [| pr.Initial |] (Array.init (layers - 1) (fun _ -> { H = m s.B s.H; C = m s.B s.H })))
    { pr with Parameters = { pr.Parameters with Upper = upper }; Initial = initial }

/// Layer k of a stack as a one-layer model (its LSTM blocks, the stack's head).
let private layerAlone (p: Parameters) (k: int) : Parameters =
    if k = 0 then { p with Upper = Array.empty }
    else
        let l = p.Upper.[k - 1]
        Parameters.create l.Kernel l.RecurrentKernel l.Bias p.DenseKernel p.DenseBias

let private layersOf (s: Shape) (extra: int) = 2 + abs extra % 2

let private sameState (what: string) (a: LstmState) (b: LstmState) =
    sameBits (what + " h") a.H b.H
    sameBits (what + " c") a.C b.C

[<LstmProperty>]
let ``a stack runs as its layers one after another: layer k reads layer k-1's h at every step, each from its own state`` (s: Shape) (extra: int) (masked: bool) =
    let N = layersOf s extra
    let pr = buildStack s N
    let mask = if masked then PrePadded pr.Lengths else Unmasked
    let stack = Lstm.run pr.Parameters pr.Initial pr.Inputs mask
    let mutable inputs = pr.Inputs
    let mutable below = pr.Inputs
    for k in 0 .. N - 1 do
        let alone = Lstm.run (layerAlone pr.Parameters k) (pr.Initial.Layer(k, N)) inputs mask
        sameState (sprintf "layer %d final" k) (stack.Final.Layer(k, N)) alone.Final
        below <- inputs
        inputs <- alone.Outputs
    Array.iteri2 (fun t a b -> sameBits (sprintf "top output %d" t) a b) inputs stack.Outputs
    // The head reads the top layer's last h: the stack predicts as its top layer alone on the h below it.
    let head = Model.predict (layerAlone pr.Parameters (N - 1)) (pr.Initial.Layer(N - 1, N)) below mask
    sameBits "probabilities" (Model.predict pr.Parameters pr.Initial pr.Inputs mask).Probabilities head.Probabilities

[<LstmProperty>]
let ``a stacked state splits into one (h, c) per layer and joins back to the same bits`` (s: Shape) (extra: int) =
    let N = layersOf s extra
    let pr = buildStack s N
    let parts = Array.init N (fun k -> pr.Initial.Layer(k, N))
    for k in 0 .. N - 1 do
        Assert.Equal(s.H, parts.[k].Units)
        sameBits (sprintf "layer %d h" k) parts.[k].H (pr.Initial.H.SubMatrix(0, s.B, k * s.H, s.H))
    sameState "joined" (LstmState.OfLayers parts) pr.Initial

[<LstmProperty>]
let ``reset zeroes every layer: a stack run from LstmState.Zeros after a carried run equals a fresh run`` (s: Shape) (extra: int) =
    let N = layersOf s extra
    let pr = buildStack s N
    let later = Array.rev pr.Inputs
    let fresh = Lstm.runFresh pr.Parameters later Unmasked
    let carried = Model.predict pr.Parameters pr.Initial pr.Inputs Unmasked
    let reset = LstmState.Zeros carried.Final
    for k in 0 .. N - 1 do
        Assert.True(reset.Layer(k, N).H.Enumerate() |> Seq.forall ((=) 0.0), sprintf "layer %d's h is not zero after the reset" k)
        Assert.True(reset.Layer(k, N).C.Enumerate() |> Seq.forall ((=) 0.0), sprintf "layer %d's c is not zero after the reset" k)
    Assert.Equal(reset, LstmState.Zeros(s.B, s.H, N))
    let afterReset = Lstm.run pr.Parameters reset later Unmasked
    for k in 0 .. N - 1 do
        sameState (sprintf "layer %d final" k) (fresh.Final.Layer(k, N)) (afterReset.Final.Layer(k, N))
    Array.iteri2 (fun t a b -> sameBits (sprintf "output %d" t) a b) fresh.Outputs afterReset.Outputs

[<LstmProperty>]
let ``a stack run in two chunks, carrying every layer's state, equals the stack run whole`` (s: Shape) (extra: int) (cut: int) =
    let N = layersOf s extra
    let pr = buildStack s N
    let k = 1 + abs cut % s.T
    let whole = Lstm.run pr.Parameters pr.Initial pr.Inputs Unmasked
    let first = Lstm.run pr.Parameters pr.Initial pr.Inputs.[.. k - 1] Unmasked
    let final =
        if k = s.T then first.Final
        else (Lstm.run pr.Parameters first.Final pr.Inputs.[k ..] Unmasked).Final
    for l in 0 .. N - 1 do
        sameState (sprintf "layer %d final" l) (whole.Final.Layer(l, N)) (final.Layer(l, N))

[<LstmProperty>]
let ``each sample of a stacked batch is independent of the others`` (s: Shape) (extra: int) (row: int) =
    let N = layersOf s extra
    let pr = buildStack s N
    let b = abs row % s.B
    let whole = Model.predict pr.Parameters pr.Initial pr.Inputs Unmasked
    let one = sample b pr
    let alone = Model.predict one.Parameters one.Initial one.Inputs Unmasked
    sameBits "probabilities" (whole.Probabilities.SubMatrix(b, 1, 0, s.V)) alone.Probabilities
    sameBits "final h" (whole.Final.H.SubMatrix(b, 1, 0, N * s.H)) alone.Final.H

/// Every block of a stack and every layer's h_0 and c_0 against central differences of `loss`.
let private checkGradients (p: Parameters) (initial: LstmState) (loss: Parameters -> LstmState -> float) (analytic: Block[]) (dInitial: LstmState option) =
    for b in 0 .. analytic.Length - 1 do
        let numeric = Array.init analytic.[b].Values.Length (fun k -> derivative (fun d -> loss (perturb p b k d) initial))
        let err = relativeError analytic.[b].Values numeric
        Assert.True(err <= 1e-6, sprintf "block %s: relative error %.3g > 1e-6" analytic.[b].Name err)
    dInitial |> Option.iter (fun g ->
        let dh = numericMatrix initial.H (fun h -> loss p { initial with H = h })
        let dc = numericMatrix initial.C (fun c -> loss p { initial with C = c })
        let errH, errC = relativeError (g.H.ToColumnMajorArray()) dh, relativeError (g.C.ToColumnMajorArray()) dc
        Assert.True(errH <= 1e-6, sprintf "h0 of the stack: relative error %.3g > 1e-6" errH)
        Assert.True(errC <= 1e-6, sprintf "c0 of the stack: relative error %.3g > 1e-6" errC))

[<LstmProperty>]
let ``last-step targets: BPTT through a two-layer stack matches central differences for every block and every layer's h0 and c0`` (s: Shape) (masked: bool) =
    let pr = buildStack s 2
    let mask = if masked then PrePadded pr.Lengths else Unmasked
    let g = Model.lossAndGradients pr.Parameters pr.Initial pr.Inputs pr.Targets mask
    Assert.Equal(8, (Parameters.blocks g.Gradients).Length)
    checkGradients pr.Parameters pr.Initial (fun p st -> Model.loss p st pr.Inputs pr.Targets mask) (Parameters.blocks g.Gradients) (Some g.Initial)

[<LstmProperty>]
let ``Lstm.Backward through a two-layer stack, given d loss / d every layer's final state, matches central differences`` (s: Shape) =
    let pr = buildStack s 2
    // loss = Σ (final h ⊙ A) + Σ (final c ⊙ A'): its gradient on the final state is (A, A').
    let a = pr.Initial.H.Map(fun x -> 0.5 - x)
    let a' = pr.Initial.C.Map(fun x -> x * x - 0.3)
    let loss p st =
        let f = (Lstm.run p st pr.Inputs Unmasked).Final
        (f.H.PointwiseMultiply a).Enumerate() |> Seq.sum |> (+) ((f.C.PointwiseMultiply a').Enumerate() |> Seq.sum)
    let r = Lstm.run pr.Parameters pr.Initial pr.Inputs Unmasked
    let g = Lstm.backward pr.Parameters r.Cache { H = a; C = a' }
    // Lstm.Backward leaves the Dense blocks at zero: the loss does not read them.
    checkGradients pr.Parameters pr.Initial loss (Parameters.blocks g.Parameters) (Some g.Initial)

// The texts of the text-training properties: every pool symbol of the shape appears.
let private textFor, indexed = TextTrainingProperties.textFor, TextTrainingProperties.indexed

let private runOf (s: Shape) (text: IndexedText) (oneHot: bool) (targets: Targets) =
    { Path = "/texts/t.txt"; Sha256 = String('a', 64); Window = s.T; BatchSize = s.B
      Encoding = (if oneHot then SymbolEncoding.OneHot else SymbolEncoding.Index); Stateful = true
      Vocabulary = text.Vocabulary; Targets = targets; Validation = 0.0 }

[<LstmProperty>]
let ``every-step targets: BPTT through a two-layer stack matches central differences for every block, one-hot and index inputs`` (s: Shape) (oneHot: bool) =
    let text = indexed (textFor s (s.B * (s.T + 1) + 3))
    let run = runOf s text oneHot Targets.Every
    let I = run.Vocabulary.FeaturesPerSymbol run.Encoding
    let shape = { s with I = I; V = run.Vocabulary.Count }
    let pr = buildStack shape 2
    let starts = Array.init s.B (fun b -> b * (s.T + 1))
    let loss q (st: LstmState) = let struct (l, _, _) = TextRuns.batchGradients run q st text starts in l
    let struct (_, g, _) = TextRuns.batchGradients run pr.Parameters pr.Initial text starts
    checkGradients pr.Parameters pr.Initial loss (Parameters.blocks g) None

[<LstmProperty>]
let ``truncated BPTT through a stack: chunk k+1 starts from every layer's end of chunk k and trains on its own loss's gradient`` (s: Shape) (extra: int) =
    let N = layersOf s extra
    let text = indexed (textFor s (s.B * (2 * s.T + 1)))
    let run = runOf s text (s.Seed % 2L = 0L) Targets.Every
    // Checked against float64 Adam steps: the run in float64 (text runs default to float32).
    let prepared = (TextRuns.prepare run text s.Seed s.H N 1 0.01).WithPrecision Precision.Float64
    Assert.Equal(N, prepared.Start.Parameters.Layers)
    let trained = (TextRuns.fitQuietly prepared |> Seq.head).State
    let S = text.Length / s.B
    let chunk k = Array.init s.B (fun b -> b * S + k * s.T)
    let p0 = prepared.Start.Parameters
    let struct (_, g1, end1) = TextRuns.batchGradients run p0 (LstmState.Zeros(s.B, s.H, N)) text (chunk 0)
    let a1 = Adam.step prepared.Config.Optimizer prepared.Start.Optimizer p0 g1
    let struct (_, g2, _) = TextRuns.batchGradients run a1.Parameters end1 text (chunk 1)
    let a2 = Adam.step prepared.Config.Optimizer a1.State a1.Parameters g2
    sameParameters a2.Parameters trained.Parameters

[<LstmProperty>]
let ``a stacked stateful fit with a reset after every epoch of one batch equals a stateless fit`` (c: TrainCase) (extra: int) =
    let N = layersOf c.Shape extra
    let s = c.Shape
    let pr = buildStack { s with B = s.B * c.Batches } N
    let data = datasetOf pr
    let stateful = FitConfig.Create(c.Epochs, data.Count, false, StatePolicy.Stateful)
    let stateless = FitConfig.Create(c.Epochs, data.Count, false, StatePolicy.Stateless)
    let start = Training.start stateful pr.Parameters (Rng.create s.Seed)
    Assert.Equal(N * s.H, start.Carried.Units)
    let reset = Training.trainWith LstmState.Zeros stateful data start
    let plain = Training.train stateless data start
    sameParameters plain.Parameters reset.Parameters
    // Carried on instead, every layer's state reaches the next epoch: a different run from the second epoch.
    if c.Epochs > 1 then
        let carried = Training.train stateful data start
        Assert.False((Parameters.blocks carried.Parameters |> Array.map (fun b -> b.Values)) = (Parameters.blocks reset.Parameters |> Array.map (fun b -> b.Values)),
                     "carrying the stacked state across epochs changed nothing")

[<LstmProperty>]
let ``the first layer of a stack is drawn as a one-layer model draws it, and Init with one layer draws a one-layer model`` (s: Shape) (extra: int) =
    let N = layersOf s extra
    let one = (Parameters.Init(s.I, s.H, s.V, Rng.create s.Seed)).Value
    let stack = (Parameters.Init(s.I, s.H, s.V, N, Rng.create s.Seed)).Value
    sameBits "kernel" one.Kernel stack.Kernel
    sameBits "recurrent kernel" one.RecurrentKernel stack.RecurrentKernel
    Assert.Equal(N - 1, stack.Upper.Length)
    Assert.Equal(N, stack.Layers)
    Assert.Equal(N * s.H, stack.StateUnits)
    sameParameters one (Parameters.Init(s.I, s.H, s.V, 1, Rng.create s.Seed)).Value
    // The layers above the first are drawn afresh, not copies of it.
    Assert.False(stack.Upper.[0].RecurrentKernel.Equals one.RecurrentKernel, "layer 2's recurrent kernel is layer 1's")

// ---- files: the model file (version 3) and the training checkpoint carry every layer -----------

let private stackModel (s: Shape) (N: int) =
    let pr = buildStack { s with V = max 2 s.V } N
    let vocabulary = Vocabulary.Create(Array.init (max 2 s.V) (sprintf "s%d"))
    { Vocabulary = vocabulary; Input = InputSpec.Create(s.T, s.I, SymbolEncoding.Features); Parameters = pr.Parameters; Precision = Precision.Float64 }, pr

[<LstmProperty>]
let ``a stacked model file is version 3 and reads back every layer to the same bits`` (s: Shape) (extra: int) =
    let N = layersOf s extra
    let m, _ = stackModel s N
    let text = m.Serialize()
    Assert.Contains("\"version\": 3", text)
    Assert.Contains(sprintf "\"layers\": %d" N, text)
    let back = SavedModel.Parse text
    Assert.Equal(N, back.Parameters.Layers)
    sameParameters m.Parameters back.Parameters
    // One layer stays version 2, as before.
    Assert.Contains("\"version\": 2", { m with Parameters = { m.Parameters with Upper = Array.empty } }.Serialize())

[<Fact>]
let ``a version 2 file with a stack is refused, naming the field`` () =
    let m, _ = stackModel { I = 1; H = 1; V = 2; B = 1; T = 1; Seed = 3L } 2
    let text = m.Serialize().Replace("\"version\": 3", "\"version\": 2")
    let e = Assert.Throws<FileFormatException>(fun () -> SavedModel.Parse text |> ignore)
    Assert.Equal("lstm.layers: version 2 files hold one layer (stacks came in version 3), found 2", e.Message)

[<Fact>]
let ``a stacked model file with the wrong number of upper layers is refused, naming the field`` () =
    let m, _ = stackModel { I = 1; H = 1; V = 2; B = 1; T = 1; Seed = 3L } 2
    let text = m.Serialize().Replace("\"layers\": 2", "\"layers\": 3")
    let e = Assert.Throws<FileFormatException>(fun () -> SavedModel.Parse text |> ignore)
    Assert.Equal("lstm.upper: expected 2 layers above the first (\"layers\": 3), found 1", e.Message)

[<LstmProperty>]
let ``a training checkpoint of a stack reads back its weights, moments and every layer's carried state to the same bits`` (s: Shape) (extra: int) =
    let N = layersOf s extra
    let m, pr = stackModel s N
    let bump = Parameters.map (fun x -> x * 0.5 + 0.125)
    let state =
        { Parameters = pr.Parameters; Optimizer = { Step = 3; M = bump pr.Parameters; V = Parameters.map abs pr.Parameters }
          Rng = Rng.create s.Seed; Epoch = 2; Carried = pr.Initial }
    let back = TrainingCheckpoint.Parse((TrainingCheckpoint.Create(m, state)).Serialize())
    sameParameters state.Parameters back.State.Parameters
    sameParameters state.Optimizer.M back.State.Optimizer.M
    sameParameters state.Optimizer.V back.State.Optimizer.V
    sameState "carried" state.Carried back.State.Carried

[<Fact>]
let ``a training checkpoint whose moments have another number of layers than the weights is refused, naming both`` () =
    let m, pr = stackModel { I = 2; H = 2; V = 3; B = 1; T = 2; Seed = 5L } 2
    let one = { pr.Parameters with Upper = Array.empty }
    let state = { Parameters = pr.Parameters; Optimizer = Adam.init one; Rng = Rng.create 1L; Epoch = 0; Carried = pr.Initial }
    let e = Assert.Throws<ArgumentException>(fun () -> TrainingCheckpoint.Create(m, state) |> ignore)
    Assert.StartsWith("state.Optimizer.M: expected the weights' 2 layers, found 1", e.Message)

[<Fact>]
let ``a state file holding both "layers" and a flat h or c is refused whatever the model's depth, naming both forms`` () =
    let layer = """{"h": [[0.5]], "c": [[0.25]]}"""
    let err layers text = match PredictionFiles.parseState 1 1 layers text with Error e -> e | Ok _ -> "accepted"
    let both = sprintf """{"layers": [%s, %s], "h": [[0.5]], "c": [[0.25]]}""" layer layer
    Assert.StartsWith("state: holds both \"layers\" and \"h\", \"c\"; expected", err 2 both)
    Assert.StartsWith("state: holds both \"layers\" and \"h\", \"c\"; expected", err 1 both)
    Assert.StartsWith("state: holds both \"layers\" and \"c\"; expected", err 2 (sprintf """{"layers": [%s, %s], "c": [[0.25]]}""" layer layer))
    Assert.StartsWith("state.layers: the model has one layer; expected an object { \"h\"", err 1 (sprintf """{"layers": [%s]}""" layer))
    Assert.Equal("accepted", err 2 (sprintf """{"layers": [%s, %s]}""" layer layer))
    Assert.Equal("accepted", err 1 layer)

[<Fact>]
let ``choosing from probabilities holding NaN is refused at any temperature instead of always picking symbol 0`` () =
    for temperature in [ 0.0; 0.5; 1.0 ] do
        let e = Assert.Throws<ArgumentException>(fun () -> TextRuns.choose temperature [| 0.25; nan; 0.75 |] (Rng.create 1L) |> ignore)
        Assert.Equal("probabilities", e.ParamName)
        Assert.StartsWith("probability 1 is NaN", e.Message)
