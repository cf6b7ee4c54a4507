/// BPTT against central finite differences, block by block, and batch gradients against
/// per-sample ones.
module AlphabetLstm.Core.Tests.GradientProperties

open MathNet.Numerics.LinearAlgebra
open Xunit
open AlphabetLstm.Core
open AlphabetLstm.Core.Tests.Generators

/// Step of the finite differences. With the five-point stencil below the truncation error is
/// O(eps⁴) ≈ 1e-12 and the rounding error about 1e-16 / eps ≈ 1e-13, which keeps gradients as small
/// as 1e-6 (h0 after five steps through one unit) within the 1e-6 relative tolerance.
let private eps = 1e-3
let private tolerance = 1e-6

/// d f / d x at 0 from f(±eps) and f(±2 eps): (8 (f(e) − f(−e)) − (f(2e) − f(−2e))) / 12e.
let derivative (f: float -> float) =
    (8.0 * (f eps - f -eps) - (f (2.0 * eps) - f (-2.0 * eps))) / (12.0 * eps)

/// Relative error of a block: ‖a − n‖ / max(1e-8, ‖a‖ + ‖n‖).
let relativeError (analytic: float[]) (numeric: float[]) =
    let norm (xs: float[]) = sqrt (Array.sumBy (fun x -> x * x) xs)
    norm (Array.map2 (-) analytic numeric) / max 1e-8 (norm analytic + norm numeric)

/// A copy of `p` with one scalar of one block moved by delta: a new record, `p` is untouched.
let perturb (p: Parameters) (block: int) (k: int) (delta: float) : Parameters =
    let blocks = Parameters.blocks p |> Array.map (fun b -> b.Values)
    blocks.[block].[k] <- blocks.[block].[k] + delta
    Parameters.ofStorage p blocks

/// A copy of a matrix with entry (r, c) moved by delta.
let perturbMatrix (m: Matrix<float>) (r: int) (c: int) (delta: float) =
    let copy = Matrix<float>.Build.DenseOfMatrix m
    copy.[r, c] <- copy.[r, c] + delta
    copy

/// Finite differences of f over every entry of a matrix, as a column-major array.
let numericMatrix (m: Matrix<float>) (f: Matrix<float> -> float) =
    [| for c in 0 .. m.ColumnCount - 1 do
         for r in 0 .. m.RowCount - 1 ->
             derivative (fun d -> f (perturbMatrix m r c d)) |]

/// Checks every block and h_0, c_0 of the problem built from `s`, changed by `prepare`.
let checkProblem (prepare: Problem -> Problem) (masking: Problem -> Masking) (s: Shape) =
    let pr = prepare (build s)
    let mask = masking pr
    let loss p (st: LstmState) = Model.loss p st pr.Inputs pr.Targets mask
    let g = Model.lossAndGradients pr.Parameters pr.Initial pr.Inputs pr.Targets mask
    let analytic = Parameters.blocks g.Gradients
    for b in 0 .. analytic.Length - 1 do
        let n = analytic.[b].Values.Length
        let numeric =
            Array.init n (fun k -> derivative (fun d -> loss (perturb pr.Parameters b k d) pr.Initial))
        let err = relativeError analytic.[b].Values numeric
        Assert.True(err <= tolerance, sprintf "block %s: relative error %.3g > %g" analytic.[b].Name err tolerance)
    let dh0 = numericMatrix pr.Initial.H (fun h -> loss pr.Parameters { pr.Initial with H = h })
    let dc0 = numericMatrix pr.Initial.C (fun c -> loss pr.Parameters { pr.Initial with C = c })
    let errH = relativeError (g.Initial.H.ToColumnMajorArray()) dh0
    let errC = relativeError (g.Initial.C.ToColumnMajorArray()) dc0
    let norm (xs: float[]) = sqrt (Array.sumBy (fun x -> x * x) xs)
    Assert.True(errH <= tolerance, sprintf "h0: relative error %.3g > %g (|analytic| %.3g)" errH tolerance (norm (g.Initial.H.ToColumnMajorArray())))
    Assert.True(errC <= tolerance, sprintf "c0: relative error %.3g > %g (|analytic| %.3g)" errC tolerance (norm (g.Initial.C.ToColumnMajorArray())))

[<LstmProperty>]
let ``BPTT gradients of every block and of h0 and c0 match central differences`` (s: Shape) =
    checkProblem id (fun _ -> Unmasked) s

[<LstmProperty>]
let ``BPTT gradients with masking of pre-padded steps match central differences`` (s: Shape) =
    checkProblem id (fun pr -> PrePadded pr.Lengths) s

/// Forward and BPTT leave out the products with h_0 when it is all zeros (a fresh or reset state):
/// the gradients from there must still be right, for the weights and for h_0 and c_0.
[<LstmProperty>]
let ``BPTT gradients from a zero h0, as after a reset, match central differences`` (s: Shape) (masked: bool) =
    let zeroH (pr: Problem) = { pr with Initial = { pr.Initial with H = Matrix<float>.Build.Dense(s.B, s.H) } }
    checkProblem zeroH (fun pr -> if masked then PrePadded pr.Lengths else Unmasked) s

[<LstmProperty>]
let ``the gradient of a batch equals the mean of the per-sample gradients`` (s: Shape) (masked: bool) =
    let pr = build s
    let mask (p: Problem) = if masked then PrePadded p.Lengths else Unmasked
    let whole = Model.lossAndGradients pr.Parameters pr.Initial pr.Inputs pr.Targets (mask pr)
    let perSample =
        Array.init s.B (fun b ->
            let one = sample b pr
            Model.lossAndGradients one.Parameters one.Initial one.Inputs one.Targets (mask one))
    let mean =
        perSample
        |> Array.map (fun r -> r.Gradients)
        |> Array.reduce (Parameters.map2 (+))
        |> Parameters.map (fun x -> x / float s.B)
    for a, m in Array.zip (Parameters.blocks whole.Gradients) (Parameters.blocks mean) do
        let err = relativeError a.Values m.Values
        Assert.True(err <= 1e-12, sprintf "block %s: batch vs mean of samples, relative error %.3g" a.Name err)
    let meanLoss = perSample |> Array.averageBy (fun r -> r.Loss)
    Assert.True(abs (whole.Loss - meanLoss) <= 1e-12, sprintf "loss %.17g vs mean of samples %.17g" whole.Loss meanLoss)
