/// The state laws: state is a value the caller passes; reset, chunking, batching and masking.
module AlphabetLstm.Core.Tests.StateProperties

open MathNet.Numerics.LinearAlgebra
open Xunit
open AlphabetLstm.Core
open AlphabetLstm.Core.Tests.Generators

let private sameState (what: string) (a: LstmState) (b: LstmState) =
    sameBits (what + " h") a.H b.H
    sameBits (what + " c") a.C b.C

/// The cell equations written out with MathNet, from h = c = 0: z = x·W + h·U + b; i, f, o = σ, g = tanh;
/// c' = f ⊙ c + i ⊙ g; h' = o ⊙ tanh(c'). Returns h after every step and the final c.
let private byTheEquations (p: Parameters) (inputs: Matrix<float>[]) =
    let B, H = inputs.[0].RowCount, p.Units
    let sigma (m: Matrix<float>) = m.Map(fun z -> 1.0 / (1.0 + exp -z))
    let mutable h = Matrix<float>.Build.Dense(B, H)
    let mutable c = Matrix<float>.Build.Dense(B, H)
    let outputs =
        [| for x in inputs do
             let z = x * p.Kernel + h * p.RecurrentKernel + Matrix<float>.Build.Dense(B, 4 * H, fun _ j -> p.Bias.[j])
             let block k = z.SubMatrix(0, B, k * H, H)
             let i, f, g, o = sigma (block 0), sigma (block 1), (block 2).Map(fun v -> tanh v), sigma (block 3)
             c <- f.PointwiseMultiply c + i.PointwiseMultiply g
             h <- o.PointwiseMultiply(c.Map(fun v -> tanh v))
             yield h |]
    outputs, c

[<LstmProperty>]
let ``running with no initial state follows the cell equations from h = c = 0`` (s: Shape) =
    let pr = build s
    let fresh = Lstm.runFresh pr.Parameters pr.Inputs Unmasked
    let outputs, c = byTheEquations pr.Parameters pr.Inputs
    let close what (a: Matrix<float>) (b: Matrix<float>) =
        Assert.True(maxDiff a b <= 1e-13, sprintf "%s differs from the equations by %.3g" what (maxDiff a b))
    Array.iteri2 (fun t a b -> close (sprintf "h after step %d" t) a b) fresh.Outputs outputs
    close "final h" fresh.Final.H outputs.[s.T - 1]
    close "final c" fresh.Final.C c

[<LstmProperty>]
let ``reset then run equals a fresh run, whatever ran before`` (s: Shape) =
    let pr = build s
    let later = Array.rev pr.Inputs
    // The fresh run comes first, before anything else has run.
    let fresh = Model.predict pr.Parameters (LstmState.Zeros(s.B, s.H)) later Unmasked
    // A stateful caller: run the inputs, carry the state through a second run, then reset.
    let first = Model.predict pr.Parameters pr.Initial pr.Inputs Unmasked
    let carried = Model.predict pr.Parameters first.Final later Unmasked
    let afterReset = Model.predict pr.Parameters (LstmState.Zeros(s.B, s.H)) later Unmasked
    // The carried state did reach the second run (so the reset has something to undo) ...
    Assert.False(maxDiff carried.Final.C afterReset.Final.C = 0.0, "the carried run ended where the reset one did")
    // ... and after the reset nothing of it is left.
    sameBits "probabilities" fresh.Probabilities afterReset.Probabilities
    sameState "final" fresh.Final afterReset.Final

[<LstmProperty>]
let ``running a sequence in two chunks while carrying the state equals running it whole`` (s: Shape) (cut: int) (masked: bool) =
    let pr = build s
    let k = (abs cut) % (s.T + 1)
    let mask lengths = if masked then PrePadded lengths else Unmasked
    let whole = Lstm.run pr.Parameters pr.Initial pr.Inputs (mask pr.Lengths)
    // Pre-padding: the last L steps are real, so each chunk keeps the part of L that falls in it.
    let firstLengths = pr.Lengths |> Array.map (fun l -> max 0 (l - (s.T - k)))
    let secondLengths = pr.Lengths |> Array.map (fun l -> min l (s.T - k))
    let first = if k = 0 then None else Some(Lstm.run pr.Parameters pr.Initial pr.Inputs.[.. k - 1] (mask firstLengths))
    let carried = first |> Option.map (fun r -> r.Final) |> Option.defaultValue pr.Initial
    let second = if k = s.T then None else Some(Lstm.run pr.Parameters carried pr.Inputs.[k ..] (mask secondLengths))
    let outputs = Array.append (first |> Option.map (fun r -> r.Outputs) |> Option.defaultValue [||]) (second |> Option.map (fun r -> r.Outputs) |> Option.defaultValue [||])
    let final = second |> Option.map (fun r -> r.Final) |> Option.defaultValue carried
    sameState "final" final whole.Final
    Array.iteri2 (fun t a b -> sameBits (sprintf "output %d" t) a b) outputs whole.Outputs

[<LstmProperty>]
let ``each sample in a batch is independent of the others: adding, removing or reordering samples changes nothing`` (s: Shape) (seed: int) =
    let pr = build s
    let whole = Model.predict pr.Parameters pr.Initial pr.Inputs (PrePadded pr.Lengths)
    // A random selection of rows, in random order, with repeats: a different batch around each sample.
    let draw = Rng.many (1 + abs seed % 6) (Rng.nextInt 0 s.B) (Rng.create (int64 seed))
    let rows = draw.Value
    let other = rowsOf rows pr
    let part = Model.predict other.Parameters other.Initial other.Inputs (PrePadded other.Lengths)
    rows |> Array.iteri (fun j r ->
        sameBits (sprintf "probabilities of sample %d (row %d of the new batch)" r j)
            (whole.Probabilities.SubMatrix(r, 1, 0, s.V)) (part.Probabilities.SubMatrix(j, 1, 0, s.V))
        sameBits (sprintf "final h of sample %d" r) (whole.Final.H.SubMatrix(r, 1, 0, s.H)) (part.Final.H.SubMatrix(j, 1, 0, s.H)))

[<LstmProperty>]
let ``a masked pre-padded sequence ends in the same state as the unpadded sequence`` (s: Shape) (padding: int) =
    let pr = build s
    let one = sample 0 pr
    let extra = abs padding % 4 + 1
    // Padding values are arbitrary (not only zeros): masked steps must ignore them.
    let pads = Array.init extra (fun t -> Matrix<float>.Build.Dense(1, s.I, fun _ k -> 0.25 * float (t + k + 1)))
    let padded = Lstm.run one.Parameters one.Initial (Array.append pads one.Inputs) (PrePadded [| s.T |])
    let plain = Lstm.run one.Parameters one.Initial one.Inputs Unmasked
    sameState "final" padded.Final plain.Final

[<LstmProperty>]
let ``a step leaves the state it was given untouched`` (s: Shape) =
    let pr = build s
    let h, c = pr.Initial.H.Clone(), pr.Initial.C.Clone()
    let next = Lstm.step pr.Parameters pr.Initial pr.Inputs.[0]
    sameBits "h after step" pr.Initial.H h
    sameBits "c after step" pr.Initial.C c
    Assert.Equal(s.B, next.Next.Batch)
