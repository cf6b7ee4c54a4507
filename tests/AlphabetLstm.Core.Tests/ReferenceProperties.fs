/// The fast tape against the specification: the reference cell (Reference.fs) against PyTorch's
/// gradients (Reference/make_torch_gradients.py, run once; its output is committed), and the fast
/// model and training loop against the reference on bounded random cases, masked and not. Beside
/// them, the blind spots a mutation once slipped through: the stateful experiment's reset between
/// epochs, and the model reader's rule that one-hot features are a multiple of V.
module AlphabetLstm.Core.Tests.ReferenceProperties

open System
open System.IO
open System.Text.Json
open global.Xunit
open MathNet.Numerics.LinearAlgebra
open AlphabetLstm.Core
open AlphabetLstm.Tutorial
open AlphabetLstm.Core.Tests.Generators

/// Fails naming the block and the first entry where |expected − actual| > tolerance.
let private close (tolerance: float) (what: string) (expected: Matrix<float>) (actual: Matrix<float>) =
    if expected.RowCount <> actual.RowCount || expected.ColumnCount <> actual.ColumnCount then
        failwithf "%s: shape (%d, %d), expected (%d, %d)" what actual.RowCount actual.ColumnCount expected.RowCount expected.ColumnCount
    for r in 0 .. expected.RowCount - 1 do
        for c in 0 .. expected.ColumnCount - 1 do
            if not (abs (expected.[r, c] - actual.[r, c]) <= tolerance) then
                failwithf "%s: at (%d, %d) expected %.17g, got %.17g (tolerance %g)" what r c expected.[r, c] actual.[r, c] tolerance

let private closeVector tolerance what (expected: Vector<float>) (actual: Vector<float>) =
    close tolerance what (expected.ToColumnMatrix()) (actual.ToColumnMatrix())

let private closeNumber tolerance what (expected: float) (actual: float) =
    close tolerance what (Matrix<float>.Build.Dense(1, 1, expected)) (Matrix<float>.Build.Dense(1, 1, actual))

let private closeParameters tolerance (what: string) (expected: Parameters) (actual: Parameters) =
    close tolerance (what + " kernel") expected.Kernel actual.Kernel
    close tolerance (what + " recurrentKernel") expected.RecurrentKernel actual.RecurrentKernel
    closeVector tolerance (what + " bias") expected.Bias actual.Bias
    close tolerance (what + " denseKernel") expected.DenseKernel actual.DenseKernel
    closeVector tolerance (what + " denseBias") expected.DenseBias actual.DenseBias

// ---- PyTorch's gradients ------------------------------------------------------------------------

let private fixture = lazy (JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Reference", "torch_gradients.json"))).RootElement)

let private numbers (e: JsonElement) = e.EnumerateArray() |> Seq.map (fun x -> x.GetDouble()) |> Seq.toArray
let private matrixOf (e: JsonElement) = Matrix<float>.Build.DenseOfRowArrays(e.EnumerateArray() |> Seq.map numbers |> Seq.toArray)
let private vectorOf (e: JsonElement) = Vector<float>.Build.DenseOfArray(numbers e)

/// Keras-layout weights (or their gradients) named as the fixture names them, with a prefix ("d" for gradients).
let private parametersOf (e: JsonElement) (prefix: string) =
    let name (n: string) = if prefix = "" then n else prefix + string (Char.ToUpperInvariant n.[0]) + n.Substring 1
    { Kernel = matrixOf (e.GetProperty(name "kernel"))
      RecurrentKernel = matrixOf (e.GetProperty(name "recurrentKernel"))
      Bias = vectorOf (e.GetProperty(name "bias"))
      DenseKernel = matrixOf (e.GetProperty(name "denseKernel"))
      DenseBias = vectorOf (e.GetProperty(name "denseBias"))
      Upper = Array.empty }

/// The fixture's batch: T inputs (B, I) from its [B][T][I] array, (h0, c0), targets and lengths.
let private batch () =
    let f = fixture.Force()
    let x = f.GetProperty("inputs").EnumerateArray() |> Seq.map (fun s -> s.EnumerateArray() |> Seq.map numbers |> Seq.toArray) |> Seq.toArray
    let B, T = x.Length, x.[0].Length
    let inputs = Array.init T (fun t -> Matrix<float>.Build.DenseOfRowArrays(Array.init B (fun b -> x.[b].[t])))
    let lengths = f.GetProperty("lengths").EnumerateArray() |> Seq.map (fun e -> e.GetInt32()) |> Seq.toArray
    parametersOf (f.GetProperty "weights") "", { H = matrixOf (f.GetProperty "h0"); C = matrixOf (f.GetProperty "c0") },
    inputs, matrixOf (f.GetProperty "targets"), lengths

/// The loss, probabilities, final state and every gradient of a pass, against one case of the fixture.
let private checkAgainstTorch (case: string) (loss: float) (probabilities: Matrix<float>) (final: LstmState) (gradients: Parameters) (initial: LstmState) =
    let e = fixture.Force().GetProperty case
    let tol = 1e-12
    closeNumber tol (case + " loss") (e.GetProperty("loss").GetDouble()) loss
    close tol (case + " probabilities") (matrixOf (e.GetProperty "probabilities")) probabilities
    close tol (case + " h_T") (matrixOf (e.GetProperty "h")) final.H
    close tol (case + " c_T") (matrixOf (e.GetProperty "c")) final.C
    closeParameters tol (case + " d") (parametersOf e "d") gradients
    close tol (case + " d h_0") (matrixOf (e.GetProperty "dh0")) initial.H
    close tol (case + " d c_0") (matrixOf (e.GetProperty "dc0")) initial.C

[<Fact>]
let ``The reference cell gives PyTorch's loss, states and every gradient to 1e-12, unmasked and pre-padded with masking`` () =
    let p, initial, inputs, targets, lengths = batch ()
    for case, masking in [ "unmasked", None; "masked", Some lengths ] do
        let r = Reference.pass p initial inputs targets masking
        checkAgainstTorch case r.Loss r.Probabilities r.Final r.Gradients r.Initial

[<Fact>]
let ``The fast model gives PyTorch's loss, states and every gradient to 1e-12, unmasked and pre-padded with masking`` () =
    let p, initial, inputs, targets, lengths = batch ()
    for case, masking in [ "unmasked", Unmasked; "masked", PrePadded lengths ] do
        let g = Model.lossAndGradients p initial inputs targets masking
        checkAgainstTorch case g.Loss g.Probabilities g.Final g.Gradients g.Initial

[<Fact>]
let ``Masked training from the zero state follows PyTorch's loss trajectory and ends on its weights, Keras' Adam, to 1e-12`` () =
    let p, _, inputs, targets, lengths = batch ()
    let e = fixture.Force().GetProperty "training"
    let steps = e.GetProperty("steps").GetInt32()
    let data =
        { Inputs = inputs; Targets = targets; Lengths = lengths
          Patterns = Array.init targets.RowCount string
          Vocabulary = Vocabulary.Create(Seq.init targets.ColumnCount (sprintf "s%d")) }
    let config =
        { FitConfig.Create(steps, batchSize = targets.RowCount, shuffle = false, masked = true,
                           learningRate = e.GetProperty("learningRate").GetDouble()) with Threads = 1 }
    let outcomes = Training.fit config data (Training.start config p (Rng.create 1L)) |> Seq.toArray
    Assert.Equal(steps, outcomes.Length)
    let losses = numbers (e.GetProperty "losses")
    for k in 0 .. steps - 1 do
        closeNumber 1e-12 (sprintf "loss of step %d" (k + 1)) losses.[k] outcomes.[k].Report.Loss
    closeParameters 1e-12 (sprintf "weights after %d steps:" steps) (parametersOf (e.GetProperty "weights") "") outcomes.[steps - 1].State.Parameters

// ---- the fast tape against the reference -------------------------------------------------------

[<LstmProperty>]
let ``The fast model's loss, probabilities, final state and gradients equal the reference cell's to 1e-12, with and without masking`` (s: Shape) (masked: bool) =
    let pr = build s
    let fast = Model.lossAndGradients pr.Parameters pr.Initial pr.Inputs pr.Targets (if masked then PrePadded pr.Lengths else Unmasked)
    let r = Reference.pass pr.Parameters pr.Initial pr.Inputs pr.Targets (if masked then Some pr.Lengths else None)
    let what = sprintf "%O, masked %b:" s masked
    closeNumber 1e-12 (what + " loss") r.Loss fast.Loss
    close 1e-12 (what + " probabilities") r.Probabilities fast.Probabilities
    close 1e-12 (what + " h_T") r.Final.H fast.Final.H
    close 1e-12 (what + " c_T") r.Final.C fast.Final.C
    closeParameters 1e-12 (what + " d") r.Gradients fast.Gradients
    close 1e-12 (what + " d h_0") r.Initial.H fast.Initial.H
    close 1e-12 (what + " d c_0") r.Initial.C fast.Initial.C

/// Keras' Adam, first step from zero moments: m = (1 − β1)·g, v = (1 − β2)·g², θ − lr_t·m / (sqrt v + ε).
let private adamFirstStep (cfg: AdamConfig) (theta: Parameters) (g: Parameters) =
    let lrT = cfg.LearningRate * sqrt (1.0 - cfg.Beta2) / (1.0 - cfg.Beta1)
    Parameters.map2 (fun th gr -> th - lrT * ((1.0 - cfg.Beta1) * gr) / (sqrt ((1.0 - cfg.Beta2) * gr * gr) + cfg.Epsilon)) theta g

[<LstmProperty>]
let ``One masked training step of pre-padded samples reports the reference loss and takes Adam's step along the reference gradients`` (s: Shape) =
    let pr = build s
    let data = datasetOf pr
    let config = { FitConfig.Create(1, batchSize = s.B, shuffle = false, masked = true) with Threads = 1 }
    let outcome = Training.epoch config data (Training.start config pr.Parameters (Rng.create s.Seed))
    let zeros = LstmState.Zeros(s.B, s.H)
    let r = Reference.pass pr.Parameters zeros pr.Inputs pr.Targets (Some pr.Lengths)
    let what = sprintf "%O, lengths [%s]:" s (String.Join(", ", pr.Lengths))
    closeNumber 1e-12 (what + " loss") r.Loss outcome.Report.Loss
    closeParameters 1e-12 (what + " weights after the step") (adamFirstStep config.Optimizer pr.Parameters r.Gradients) outcome.State.Parameters

// ---- the blind spots ------------------------------------------------------------------------------

[<LstmProperty>]
let ``The stateful experiment resets the carried state after every epoch, and each epoch trains from zeros`` (seed: int64) (units: byte) =
    let spec = (Experiments.find "stateful").WithUnits(1 + int units % 3).WithEpochs(2)
    let prepared = Experiments.prepare spec seed
    let outcomes = Experiments.fit prepared |> Seq.toArray
    Assert.Equal(2, outcomes.Length)
    for o in outcomes do
        let nonZero = Seq.append (o.State.Carried.H.Enumerate()) (o.State.Carried.C.Enumerate()) |> Seq.filter ((<>) 0.0) |> Seq.length
        Assert.True((nonZero = 0), sprintf "after epoch %d the carried state has %d non-zero entries; the tutorial resets after every epoch" o.Report.Epoch nonZero)
    // The second epoch is one epoch from the first's weights and moments with zeros carried in.
    let first = outcomes.[0].State
    let again = Training.epoch prepared.Config prepared.Data { first with Carried = LstmState.Zeros(first.Carried.Batch, first.Carried.Units) }
    sameParameters again.State.Parameters outcomes.[1].State.Parameters

[<LstmProperty>]
let ``A one-hot model file whose input features are not a multiple of V is refused, naming input.features`` (s: Shape) (extra: byte) =
    // k symbols per step of a V-symbol vocabulary are k·V one-hot features; k·V + r (0 < r < V) is no number of symbols.
    let k, r = 1 + s.T % 3, 1 + int extra % (s.V - 1)
    let features = k * s.V + r
    let vocabulary = Vocabulary.Create(Seq.init s.V (sprintf "s%d"))
    let p = { (build { s with I = features }).Parameters with DenseKernel = Matrix<float>.Build.Dense(s.H, s.V); DenseBias = Vector<float>.Build.Dense s.V }
    let asFeatures = { Vocabulary = vocabulary; Input = InputSpec.Create(1, features, SymbolEncoding.Features); Parameters = p; Precision = Precision.Float64 }
    let text = (ModelFile.serialize asFeatures).Replace("\"encoding\": \"features\"", "\"encoding\": \"one-hot\"")
    Assert.Contains("\"encoding\": \"one-hot\"", text)
    match ModelFile.parse text with
    | Ok _ -> failwithf "a one-hot model with %d features over %d symbols (%d·%d + %d) was accepted" features s.V k s.V r
    | Error e ->
        Assert.StartsWith("input.features: expected a multiple of", e)
        Assert.Contains(string features, e)
