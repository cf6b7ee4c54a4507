/// A few fixed numbers beside the properties: constant weights worked out by hand (and by an
/// independent scalar implementation in Python), the untrained loss, and a short loss trajectory.
module AlphabetLstm.Core.Tests.GoldenTests

open MathNet.Numerics.LinearAlgebra
open Xunit
open AlphabetLstm.Core
open AlphabetLstm.Tutorial

/// I = 1, H = 1, V = 2. Gates in the order i, f, c, o.
let private tiny =
    Parameters.create
        (Matrix<float>.Build.DenseOfRowArrays [| [| 0.5; -0.5; 1.0; 0.25 |] |])
        (Matrix<float>.Build.DenseOfRowArrays [| [| 0.1; 0.2; 0.3; 0.4 |] |])
        (Vector<float>.Build.DenseOfArray [| 0.0; 1.0; 0.0; 0.0 |])
        (Matrix<float>.Build.DenseOfRowArrays [| [| 0.7; -0.3 |] |])
        (Vector<float>.Build.DenseOfArray [| 0.1; 0.0 |])

let private x (v: float) = Matrix<float>.Build.Dense(1, 1, v)

let private near (expected: float) (actual: float) =
    Assert.True(abs (expected - actual) <= 1e-14, sprintf "expected %.17g, got %.17g" expected actual)

[<Fact>]
let ``two steps of a one-unit LSTM with constant weights give the hand-computed h and c`` () =
    // Step 1 from zeros, x = 1: z = (0.5, 0.5, 1, 0.25); c = σ(0.5)·tanh(1); h = σ(0.25)·tanh(c).
    let s1 = Lstm.step tiny (LstmState.Zeros(1, 1)) (x 1.0)
    let sigma z = 1.0 / (1.0 + exp -z)
    let c1 = sigma 0.5 * tanh 1.0
    near c1 s1.Next.C.[0, 0]
    near (sigma 0.25 * tanh c1) s1.Next.H.[0, 0]
    near 0.47406138896346633 s1.Next.C.[0, 0]
    near 0.24818686717764854 s1.Next.H.[0, 0]
    let s2 = Lstm.step tiny s1.Next (x 0.5)
    near 0.6217749754713529 s2.Next.C.[0, 0]
    near 0.307022413882958 s2.Next.H.[0, 0]

[<Fact>]
let ``the head's softmax and cross-entropy on the hand-computed h match the reference`` () =
    let target = Matrix<float>.Build.DenseOfRowArrays [| [| 0.0; 1.0 |] |]
    let inputs = [| x 1.0; x 0.5 |]
    let pr = Model.predict tiny (LstmState.Zeros(1, 1)) inputs Unmasked
    near 0.6003736951146705 pr.Probabilities.[0, 0]
    near 0.39962630488532935 pr.Probabilities.[0, 1]
    near 0.9172254063329442 (Model.loss tiny (LstmState.Zeros(1, 1)) inputs target Unmasked)

[<Fact>]
let ``the untrained loss on the alphabet is close to ln 26`` () =
    for seed in 1L .. 5L do
        let prepared = Experiments.prepare (Experiments.tryFind "one-char").Value seed
        let e = Training.evaluate prepared.Start.Parameters prepared.Data 25 false
        Assert.True(abs (e.Loss - log 26.0) < 0.05, sprintf "seed %d: untrained loss %.4f, ln 26 = %.4f" seed e.Loss (log 26.0))

[<Fact>]
let ``a short run on the one-char data brings the loss down`` () =
    let prepared = Experiments.prepare (Experiments.tryFind "one-char").Value 1L
    let losses =
        Training.fit { prepared.Config with Epochs = 30 } prepared.Data prepared.Start
        |> Seq.map (fun o -> o.Report.Loss)
        |> Seq.toArray
    Assert.Equal(30, losses.Length)
    Assert.True(losses.[29] < losses.[0] - 0.1, sprintf "loss went from %.4f to %.4f in 30 epochs" losses.[0] losses.[29])
    // Every ten epochs the loss is lower than ten epochs before.
    for k in 10 .. 10 .. 29 do
        Assert.True(losses.[k] < losses.[k - 10], sprintf "loss at epoch %d (%.4f) is not below epoch %d (%.4f)" (k + 1) losses.[k] (k - 9) losses.[k - 10])
