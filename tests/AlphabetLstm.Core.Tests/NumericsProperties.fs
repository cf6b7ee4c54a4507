/// The head's softmax, Adam, the initialisers and the random generator.
module AlphabetLstm.Core.Tests.NumericsProperties

open System
open MathNet.Numerics.LinearAlgebra
open Xunit
open AlphabetLstm.Core
open AlphabetLstm.Core.Tests.Generators

[<LstmProperty>]
let ``predict's probabilities are the softmax of the logits on the final h, sum to 1 and ignore a shift`` (s: Shape) (shift: int) =
    let pr = build s
    let p = { pr.Parameters with DenseKernel = pr.Parameters.DenseKernel * 5.0 }
    let r = Model.predict p pr.Initial pr.Inputs Unmasked
    // The softmax written out from its definition, on logits = h_T · DenseKernel + DenseBias.
    let logits = r.Final.H * p.DenseKernel
    for b in 0 .. s.B - 1 do
        let z = logits.Row(b) + p.DenseBias
        let e = z.Map(fun x -> exp (x - z.Maximum()))
        let expected = e / e.Sum()
        Assert.InRange(r.Probabilities.Row(b).Sum(), 1.0 - 1e-12, 1.0 + 1e-12)
        for v in 0 .. s.V - 1 do
            Assert.True(abs (r.Probabilities.[b, v] - expected.[v]) <= 1e-14,
                        sprintf "row %d class %d: %.17g, the definition gives %.17g" b v r.Probabilities.[b, v] expected.[v])
    // A constant added to every logit (through the bias) changes no probability.
    let c = float (shift % 1000)
    let shifted = Model.predict { p with DenseBias = p.DenseBias.Add c } pr.Initial pr.Inputs Unmasked
    Assert.True(maxDiff r.Probabilities shifted.Probabilities <= 1e-12,
                sprintf "probabilities moved by %.3g after adding %g to the logits" (maxDiff r.Probabilities shifted.Probabilities) c)

[<LstmProperty>]
let ``Adam with a zero gradient decays each moment by its beta and moves by the first one`` (s: Shape) =
    let p = (build s).Parameters
    // Not Keras' numbers: β1 ≠ β2, and ε as large as √v, so a wrong β or a lost ε shows.
    let cfg = { LearningRate = 0.01; Beta1 = 0.8; Beta2 = 0.95; Epsilon = 0.5 }
    // From zero moments a zero gradient moves nothing.
    let still = Adam.step cfg (Adam.init p) p (Parameters.zerosLike p)
    sameParameters p still.Parameters
    // After a real step, a zero gradient: m ← β1·m, v ← β2·v, θ ← θ − lr·√(1 − β2²)/(1 − β1²) · m / (√v + ε).
    let r1 = Adam.step cfg (Adam.init p) p (Parameters.map (fun x -> x - 0.25) p)
    let r2 = Adam.step cfg r1.State r1.Parameters (Parameters.zerosLike p)
    let lrT = 0.01 * sqrt (1.0 - 0.95 * 0.95) / (1.0 - 0.8 * 0.8)
    let values (q: Parameters) = Parameters.blocks q |> Array.collect (fun b -> b.Values)
    let m1, v1, theta1 = values r1.State.M, values r1.State.V, values r1.Parameters
    let m2, v2, theta2 = values r2.State.M, values r2.State.V, values r2.Parameters
    for k in 0 .. theta1.Length - 1 do
        let m, v = 0.8 * m1.[k], 0.95 * v1.[k]
        let theta = theta1.[k] - lrT * m / (sqrt v + 0.5)
        let near (what: string) (expected: float) (actual: float) =
            Assert.True(abs (actual - expected) <= 1e-15 * max 1.0 (abs expected), sprintf "%s[%d]: %.17g, by hand %.17g" what k actual expected)
        near "m" m m2.[k]
        near "v" v v2.[k]
        near "θ" theta theta2.[k]
    Assert.Equal(2, r2.State.Step)

[<LstmProperty>]
let ``two Adam steps match Keras' update computed by hand`` (s: Shape) =
    let pr = build s
    let p = pr.Parameters
    let g1 = Parameters.map (fun x -> 0.5 * x) p
    let g2 = Parameters.map (fun x -> x * x - 0.3) p
    let r1 = Adam.step AdamConfig.Keras (Adam.init p) p g1
    let r2 = Adam.step AdamConfig.Keras r1.State r1.Parameters g2
    let lr, b1, b2, eps = 0.001, 0.9, 0.999, 1e-7
    let theta = Parameters.blocks p
    for b in 0 .. theta.Length - 1 do
        let ga, gb = (Parameters.blocks g1).[b].Values, (Parameters.blocks g2).[b].Values
        let out = (Parameters.blocks r2.Parameters).[b].Values
        for k in 0 .. out.Length - 1 do
            let m1, v1 = (1.0 - b1) * ga.[k], (1.0 - b2) * ga.[k] * ga.[k]
            let t1 = theta.[b].Values.[k] - lr * sqrt (1.0 - b2) / (1.0 - b1) * m1 / (sqrt v1 + eps)
            let m2, v2 = b1 * m1 + (1.0 - b1) * gb.[k], b2 * v1 + (1.0 - b2) * gb.[k] * gb.[k]
            let t2 = t1 - lr * sqrt (1.0 - b2 * b2) / (1.0 - b1 * b1) * m2 / (sqrt v2 + eps)
            Assert.True(abs (out.[k] - t2) <= 1e-15 * max 1.0 (abs t2), sprintf "block %s[%d]: %.17g vs hand %.17g" theta.[b].Name k out.[k] t2)
    Assert.Equal(2, r2.State.Step)

[<LstmProperty>]
let ``the recurrent kernel is orthogonal and glorot draws lie within their limit`` (s: Shape) (wide: bool) =
    let units = if wide then s.H * 4 else s.H
    let p = (Parameters.init s.I units s.V (Rng.create s.Seed)).Value
    let u = p.RecurrentKernel
    let gram = u * u.Transpose()
    let err = maxDiff gram (Matrix<float>.Build.DenseIdentity units)
    Assert.True(err <= 1e-10, sprintf "U·Uᵀ differs from I by %.3g" err)
    let limitW = sqrt (6.0 / float (s.I + 4 * units))
    let limitD = sqrt (6.0 / float (units + s.V))
    Assert.True(p.Kernel.Enumerate() |> Seq.forall (fun x -> abs x <= limitW), "kernel outside ±sqrt(6 / (I + 4H))")
    Assert.True(p.DenseKernel.Enumerate() |> Seq.forall (fun x -> abs x <= limitD), "dense kernel outside ±sqrt(6 / (H + V))")
    let expectedBias = Array.init (4 * units) (fun j -> if j >= units && j < 2 * units then 1.0 else 0.0)
    Assert.Equal<float[]>(expectedBias, p.Bias.ToArray())
    Assert.True(p.DenseBias.Enumerate() |> Seq.forall ((=) 0.0), "dense bias is not zero")

[<LstmProperty>]
let ``permutations from the generator are permutations and the same seed repeats them`` (v: VariableCase) =
    let a = Rng.permutation v.Count (Rng.create v.Seed)
    let b = Rng.permutation v.Count (Rng.create v.Seed)
    Assert.Equal<int[]>(a.Value, b.Value)
    Assert.Equal<int[]>(Array.init v.Count id, Array.sort a.Value)

[<LstmProperty>]
let ``integer draws stay in their range`` (v: VariableCase) =
    let d = Rng.many 200 (Rng.nextInt v.MaxLen (v.MaxLen + v.Count)) (Rng.create v.Seed)
    Assert.True(d.Value |> Array.forall (fun x -> x >= v.MaxLen && x < v.MaxLen + v.Count))

/// The head's softmax and cross-entropy run four rows at once, one per vector lane. Each row must
/// get the bits the one-row code gives it: probabilities, the running loss and the argmax hit,
/// also with NaN, ties, −0 against +0 and logits far apart, in logits and in targets.
[<LstmProperty>]
let ``four head rows in vector lanes give each row the bits of the one-row softmax and loss`` (s: Shape) =
    let r = Random(int (s.Seed % int64 Int32.MaxValue))
    let V = 2 + r.Next 29
    let pool = [| 0.0; -0.0; 1.0; -1.0; 700.0; -700.0; nan; 3.5; 3.5 |]
    // Each row draws from one mix: anything; only ±0 and −1 (a tie of signed zeros at the top);
    // only 3.5 and −1 (ties at the top).
    let mixes = Array.init 8 (fun _ -> r.Next 3)
    let value (row: int) =
        match mixes.[row] with
        | 1 -> [| 0.0; -0.0; -1.0 |].[r.Next 3]
        | 2 -> [| 3.5; -1.0 |].[r.Next 2]
        | _ -> if r.Next 4 = 0 then pool.[r.Next pool.Length] else (r.NextDouble() - 0.5) * 20.0
    let ws () = Model.newWorkspace 1 1 4 1 1 V
    let lanes, rows = ws (), ws ()
    for k in 0 .. 4 * V - 1 do
        let x, y = value (k / V), (if r.Next 3 = 0 then value (4 + k / V) else float (r.Next 2))
        lanes.Probs.[k] <- x; rows.Probs.[k] <- x
        lanes.Targets.[k] <- y; rows.Targets.[k] <- y
    let start = r.NextDouble()
    let mutable lossLanes, correctLanes = start, 0
    let mutable lossRows, correctRows = start, 0
    Model.headRows4 lanes V 0 &lossLanes &correctLanes
    for b in 0 .. 3 do
        Model.headRow rows V b &lossRows &correctRows
    let bits (x: float) = BitConverter.DoubleToInt64Bits x
    for k in 0 .. 4 * V - 1 do
        Assert.True(bits lanes.Probs.[k] = bits rows.Probs.[k],
                    sprintf "row %d, class %d: %.17g in lanes, %.17g alone" (k / V) (k % V) lanes.Probs.[k] rows.Probs.[k])
    Assert.True(bits lossLanes = bits lossRows, sprintf "loss %.17g in lanes, %.17g row by row" lossLanes lossRows)
    Assert.Equal(correctRows, correctLanes)
