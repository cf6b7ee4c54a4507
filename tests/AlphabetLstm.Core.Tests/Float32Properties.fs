/// The engine in float32: its gradients against float64 central differences, its gather against the
/// dense one-hot product, its determinism (threads, stopping and continuing) and how closely a
/// float32 run follows the float64 one on the tutorial's experiments.
module AlphabetLstm.Core.Tests.Float32Properties

open System
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open global.Xunit
open MathNet.Numerics.LinearAlgebra
open AlphabetLstm.Core
open AlphabetLstm.Tutorial
open AlphabetLstm.Bench
open AlphabetLstm.Core.Tests.Generators
open AlphabetLstm.Core.Tests.GradientProperties
open AlphabetLstm.Core.Tests.TextTrainingProperties

/// float32's unit roundoff, 2^-24.
let private eps32 = 5.96e-8

/// Every value of p rounded to float32 (a float32 model).
let private round32 (p: Parameters) = Training.roundTo Precision.Float32 p

let private isFloat32 (x: float) = Double.IsNaN x || float (float32 x) = x

/// Every number of a record is a float32 value.
let private allFloat32 (what: string) (p: Parameters) =
    for b in Parameters.blocks p do
        b.Values |> Array.iteri (fun k x -> if not (isFloat32 x) then failwithf "%s: block %s, index %d is %.17g, not a float32" what b.Name k x)

let private runFor (s: Shape) (text: IndexedText) (oneHot: bool) (targets: Targets) =
    { Path = "/texts/t.txt"; Sha256 = String('a', 64); Window = s.T; BatchSize = s.B
      Encoding = (if oneHot then SymbolEncoding.OneHot else SymbolEncoding.Index); Stateful = true
      Vocabulary = text.Vocabulary; Targets = targets; Validation = 0.0 }

let private modelFor (s: Shape) (run: TextRun) =
    let p, state = TextTrainingProperties.randomModelFrom 11L s run
    round32 p, { H = state.H.Map(fun x -> float (float32 x)); C = state.C.Map(fun x -> float (float32 x)) }

/// The tolerance of a float32 gradient: each of its numbers is the end of a chain of roundings. Along
/// one path from the loss back to a weight, BPTT does per step one dot of I + H products (z), some
/// twenty elementwise operations (the cell forward and back) and one dot of H products (d h = d z·Uᵀ),
/// the head one of V and one of H; a weight's gradient then sums T·B such paths. Each rounding moves
/// a number by at most eps32 relative, so the gradient is off by at most about eps32 times that chain
/// length relative to the size of the terms it sums (cancellation can make one element relatively
/// worse, so the check is on the block's norm, as the float64 gradient properties do). A factor of
/// 4 covers the exp/σ/tanh kernels (a few ulps each) and the float64 reference's own error
/// (fourth-order differences at 1e-3 ≈ 1e-12).
let private chainTolerance (s: Shape) (I: int) (V: int) =
    4.0 * eps32 * float (s.T * (I + 2 * s.H + 20) + V + s.H + s.T * s.B)

[<LstmProperty>]
let ``float32 BPTT gradients of every block are the float64 central differences within eps32 times the chain length`` (s: Shape) (oneHot: bool) (every: bool) =
    let text = indexed (textFor s (s.B * (s.T + 1) + 3))
    let run = runFor s text oneHot (if every then Targets.Every else Targets.Last)
    let p, initial = modelFor s run
    let starts = Array.init s.B (fun b -> b * (s.T + 1))
    let struct (_, g32, _) = TextRuns.batchGradientsOf<float32> run p initial text starts
    allFloat32 "the float32 gradients" g32
    let loss q = let struct (l, _, _) = TextRuns.batchGradients run q initial text starts in l
    let tol = chainTolerance s (run.Vocabulary.FeaturesPerSymbol run.Encoding) run.Vocabulary.Count
    let analytic = Parameters.blocks g32
    for b in 0 .. analytic.Length - 1 do
        let numeric = Array.init analytic.[b].Values.Length (fun k -> derivative (fun d -> loss (perturb p b k d)))
        let err = relativeError analytic.[b].Values numeric
        Assert.True(err <= tol, sprintf "block %s: relative error %.3g of the float32 gradient exceeds %.3g" analytic.[b].Name err tol)

[<LstmProperty>]
let ``a float32 symbol tape's gather and scatter-add give the float32 dense one-hot product's bits, forward and backward`` (s: Shape) =
    let V, T, B, H = s.V, s.T, s.B, s.H
    let mutable rng = Rng.create s.Seed
    let draw n = let d = Rng.many n (Rng.uniform -1.0 1.0) rng in rng <- d.Next; d.Value |> Array.map float32
    let symbols = let d = Rng.many (T * B) (Rng.nextInt 0 V) rng in rng <- d.Next; d.Value
    let G = 4 * H
    let blocks = [| draw (V * G); draw (H * G); draw G; draw (H * V); draw V |]
    let h0, c0 = draw (B * H), draw (B * H)
    let dOut, dHT, dCT = draw (T * B * H), draw (B * H), draw (B * H)
    let pass (tape: Tape<float32>) =
        Array.blit h0 0 tape.Hs 0 (B * H)
        Array.blit c0 0 tape.Cs 0 (B * H)
        Lstm.forwardTapeOf blocks tape
        let grads = blocks |> Array.map (fun b -> Array.zeroCreate<float32> b.Length)
        Lstm.backwardTapeWithOf blocks tape dOut (Array.copy dHT) (Array.copy dCT) true grads
        tape.Hs, tape.Cs, grads
    let gather = Lstm.newTapeOf<float32> true T B V H
    Array.blit symbols 0 gather.Symbols 0 (T * B)
    let dense = Lstm.newTapeOf<float32> false T B V H
    for r in 0 .. T * B - 1 do dense.X.[r * V + symbols.[r]] <- 1.0f
    let hG, cG, gG = pass gather
    let hD, cD, gD = pass dense
    let bits (a: float32[]) = a |> Array.map BitConverter.SingleToInt32Bits
    Assert.Equal<int[]>(bits hD, bits hG)
    Assert.Equal<int[]>(bits cD, bits cG)
    for b in 0 .. 2 do
        Assert.True((bits gD.[b] = bits gG.[b]), sprintf "block %s differs: dense and gathered float32 gradients are not the same bits" Parameters.blockNames.[b])

/// A float32 step large enough to be split across threads: B 8..13 rows, H 96..128 units (B·4H·H ≥ 2^18),
/// I 1..4, T 1..3, masking and the stateful carry on or off.
type SplitCase =
    { I: int; H: int; B: int; T: int; Masked: bool; Stateful: bool; Seed: int64 }
    override c.ToString() = sprintf "Split(I=%d, H=%d, B=%d, T=%d, masked=%b, stateful=%b, seed=%d)" c.I c.H c.B c.T c.Masked c.Stateful c.Seed

type Float32Arbitraries =
    static member Case() =
        gen {
            let! i = Gen.choose (1, 4)
            let! h = Gen.choose (96, 128)
            let! b = Gen.choose (8, 13)
            let! t = Gen.choose (1, 3)
            let! m = Gen.elements [ false; true ]
            let! s = Gen.elements [ false; true ]
            let! seed = Gen.choose (0, Int32.MaxValue)
            return { I = i; H = h; B = b; T = t; Masked = m; Stateful = s; Seed = int64 seed }
        } |> Arb.fromGen

type Float32PropertyAttribute() =
    inherit PropertyAttribute(Arbitrary = [| typeof<Float32Arbitraries> |], MaxTest = 8, QuietOnSuccess = true)

/// A float32 run of the split case: its data, configuration and start.
let private splitRun (c: SplitCase) (threads: int) =
    let w = Workloads.synthetic { Inputs = c.I; Units = c.H; Batch = c.B; TimeSteps = c.T } 2 c.Seed
    let lengths = Array.init w.Data.Count (fun n -> if c.Masked then 1 + n % c.T else c.T)
    let data = { w.Data with Lengths = lengths }
    let config =
        { w.Config with
            Epochs = 2; Masked = c.Masked; Threads = threads; Precision = Precision.Float32
            Policy = if c.Stateful then StatePolicy.Stateful else StatePolicy.Stateless }
    data, config, Training.start config w.Start.Parameters w.Start.Rng

let private sameState (a: TrainingState) (b: TrainingState) =
    sameParameters a.Parameters b.Parameters
    sameParameters a.Optimizer.M b.Optimizer.M
    sameParameters a.Optimizer.V b.Optimizer.V
    Assert.Equal(a.Optimizer.Step, b.Optimizer.Step)
    sameBits "carried h" a.Carried.H b.Carried.H
    sameBits "carried c" a.Carried.C b.Carried.C

[<Float32Property>]
let ``float32 training on two threads gives the one-thread weights, moments and carried state bit for bit`` (c: SplitCase) =
    let data, config, start = splitRun c 1
    let one = Training.trainWith Training.reset config data start
    let two = Training.trainWith Training.reset (config.WithThreads 2) data start
    sameState one two

[<Float32Property>]
let ``a float32 run stopped after one epoch and continued ends bit-identical to the unbroken run, every number a float32`` (c: SplitCase) =
    let data, config, start = splitRun c 1
    let config = config.WithEpochs 3
    let unbroken = Training.trainWith id config data start
    let first = Training.trainWith id (config.WithEpochs 1) data start
    let continued = Training.Continue(config, data, first, 2)
    sameState unbroken continued
    allFloat32 "the weights" continued.Parameters
    allFloat32 "the first moments" continued.Optimizer.M
    allFloat32 "the second moments" continued.Optimizer.V

[<LstmProperty>]
let ``a float32 text run resumed from any epoch's state ends bit-identical to the unbroken run, held-out loss included`` (s: Shape) (oneHot: bool) =
    let text = indexed (textFor s (s.B * (2 * s.T + 1) * 2))
    let run = { runFor s text oneHot Targets.Every with Validation = 0.25 }
    match TextRuns.problem run text.Length with
    | null ->
        let prepared = TextRuns.prepare run text s.Seed s.H 1 3 0.01
        Assert.Equal(Precision.Float32, prepared.Config.Precision)
        let unbroken = TextRuns.fitQuietly prepared |> Seq.toArray
        let resumed = TextRuns.fitQuietly { prepared with Start = unbroken.[0].State } |> Seq.toArray
        Assert.Equal(2, resumed.Length)
        for e in 0 .. 1 do
            Assert.Equal(unbroken.[e + 1].Report, resumed.[e].Report)
            Assert.Equal(BitConverter.DoubleToInt64Bits unbroken.[e + 1].ValidationLoss, BitConverter.DoubleToInt64Bits resumed.[e].ValidationLoss)
            sameState unbroken.[e + 1].State resumed.[e].State
        allFloat32 "the text run's weights" unbroken.[2].State.Parameters
    | _ -> ()

/// The band a float32 run's epoch losses keep around the float64 run's, relative to the float64
/// loss, on the tutorial's experiments at their own settings for their first epochs (about 600 steps
/// each). Measured: the largest relative gap over the six experiments, seeds 1 and 2, is 1.1e-5
/// (stateful, seed 1, epoch 24: 2.463153 in float64, 2.463180 in float32); the band leaves a
/// factor of about ten.
let private trackingBand = 1e-4

[<Fact>]
let ``float32 training tracks float64 on the six experiments: every epoch's loss within 1e-4 relative`` () =
    let mutable worst = 0.0, ""
    for spec in Experiments.all do
        for seed in [ 1L; 2L ] do
            // About 600 steps per experiment: enough epochs for the loss to fall well below ln 26.
            let epochs = max 1 (min 40 (600 / max 1 spec.StepsPerEpoch))
            let prepared = Experiments.prepare (spec.WithEpochs epochs) seed
            let between = if prepared.Config.Policy = StatePolicy.Stateful then Training.reset else id
            let curve (precision: Precision) =
                let config = prepared.Config.WithPrecision precision
                Training.fitWith between config prepared.Data (Training.start config prepared.Start.Parameters prepared.Start.Rng)
                |> Seq.map (fun o -> o.Report.Loss) |> Seq.toArray
            let l64, l32 = curve Precision.Float64, curve Precision.Float32
            for e in 0 .. l64.Length - 1 do
                let gap = abs (l32.[e] - l64.[e]) / l64.[e]
                if gap > fst worst then worst <- gap, sprintf "%s seed %d epoch %d: float64 %.6f, float32 %.6f" spec.Id seed (e + 1) l64.[e] l32.[e]
    Assert.True(fst worst <= trackingBand, sprintf "largest relative gap %.3g (%s) exceeds %.3g" (fst worst) (snd worst) trackingBand)

[<LstmProperty>]
let ``a float32 prediction is the float32 evaluation's, and a float64 model's float64 prediction is unchanged by the overload`` (s: Shape) =
    let pr = build s
    let p = round32 pr.Parameters
    let zeros = LstmState.Zeros(s.B, s.H)
    let p64 = Model.predict p zeros pr.Inputs Unmasked
    sameBits "float64 overload" p64.Probabilities (Model.predictIn p zeros pr.Inputs Unmasked Precision.Float64).Probabilities
    let p32 = Model.predictIn p zeros pr.Inputs Unmasked Precision.Float32
    let data = datasetOf { pr with Parameters = p }
    let e32 = Training.evaluateIn Precision.Float32 p data s.B false
    sameBits "float32 prediction vs evaluation" p32.Probabilities e32.Probabilities
    p32.Probabilities.Enumerate() |> Seq.iter (fun x -> Assert.True(isFloat32 x))
    Assert.InRange(maxDiff p32.Probabilities p64.Probabilities, 0.0, 1e-5)
