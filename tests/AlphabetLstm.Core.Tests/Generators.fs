/// Shared bounded generators and the one property attribute that carries them.
///
/// A property draws a small `Shape` (dimensions and a seed) and builds its matrices from the seed,
/// so a failing case prints as one short line and replays exactly.
module AlphabetLstm.Core.Tests.Generators

open System
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open MathNet.Numerics.LinearAlgebra
open AlphabetLstm.Core

/// Problem dimensions: I inputs 1..4, H units 1..4, V classes 2..6, B batch 1..4, T time 1..5.
type Shape =
    { I: int; H: int; V: int; B: int; T: int; Seed: int64 }
    override s.ToString() = sprintf "Shape(I=%d, H=%d, V=%d, B=%d, T=%d, Seed=%d)" s.I s.H s.V s.B s.T s.Seed

/// A window length 1..25 and a layout.
type WindowCase =
    { N: int; Layout: Layout }
    override w.ToString() = sprintf "Window(n=%d, %A)" w.N w.Layout

/// A variable-length dataset request: count 1..60, maxLen 1..8, a seed.
type VariableCase =
    { Count: int; MaxLen: int; Seed: int64 }
    override v.ToString() = sprintf "Variable(count=%d, maxLen=%d, seed=%d)" v.Count v.MaxLen v.Seed

/// A small training run: N = B × batches samples (batches 1..4), 1..3 epochs.
type TrainCase =
    { Shape: Shape; Batches: int; Epochs: int }
    override c.ToString() = sprintf "Train(%O, batches=%d, epochs=%d)" c.Shape c.Batches c.Epochs

let private seed = Gen.choose (0, Int32.MaxValue) |> Gen.map int64

/// A sequence over a small vocabulary: V 2..6 symbols (letters of several scripts, an emoji, a word),
/// 2..30 symbols drawn from it, a window 1..4 shorter than the sequence, any symbol encoding and layout.
type SequenceCase =
    { Symbols: string[]; Sequence: string[]; N: int; Encoding: SymbolEncoding; Layout: Layout }
    override c.ToString() =
        sprintf "Sequence(symbols=[%s], sequence=[%s], n=%d, %A, %A)" (String.Join(" ", c.Symbols)) (String.Join(" ", c.Sequence)) c.N c.Encoding c.Layout

let private symbolPool = [| "a"; "β"; "ж"; "😀"; "Mon"; "é"; "Z"; "7"; "do"; "ü" |]

let sequenceGen =
    gen {
        let! v = Gen.choose (2, 6)
        let! first = Gen.choose (0, symbolPool.Length - 1)
        let symbols = Array.init v (fun k -> symbolPool.[(first + k) % symbolPool.Length])
        let! length = Gen.choose (2, 30)
        let! sequence = Gen.arrayOfLength length (Gen.elements symbols)
        let! n = Gen.choose (1, min 4 (length - 1))
        let! encoding = Gen.elements [ SymbolEncoding.Index; SymbolEncoding.OneHot ]
        let! layout = Gen.elements [ Layout.Features; Layout.TimeSteps ]
        return { Symbols = symbols; Sequence = sequence; N = n; Encoding = encoding; Layout = layout }
    }

let shapeGen =
    gen {
        let! i = Gen.choose (1, 4)
        let! h = Gen.choose (1, 4)
        let! v = Gen.choose (2, 6)
        let! b = Gen.choose (1, 4)
        let! t = Gen.choose (1, 5)
        let! s = seed
        return { I = i; H = h; V = v; B = b; T = t; Seed = s }
    }

/// The arbitraries every property in this suite uses.
type Arbitraries =
    static member Shape() = Arb.fromGen shapeGen
    static member Window() =
        gen {
            let! n = Gen.choose (1, 25)
            let! l = Gen.elements [ Layout.Features; Layout.TimeSteps ]
            return { N = n; Layout = l }
        } |> Arb.fromGen
    static member Variable() =
        gen {
            let! c = Gen.choose (1, 60)
            let! m = Gen.choose (1, 8)
            let! s = seed
            return { Count = c; MaxLen = m; Seed = s }
        } |> Arb.fromGen
    static member Sequence() = Arb.fromGen sequenceGen
    static member Train() =
        gen {
            let! s = shapeGen
            let! n = Gen.choose (1, 4)
            let! e = Gen.choose (1, 3)
            return { Shape = s; Batches = n; Epochs = e }
        } |> Arb.fromGen

/// A property over the suite's bounded arbitraries.
type LstmPropertyAttribute() =
    inherit PropertyAttribute(Arbitrary = [| typeof<Arbitraries> |], MaxTest = 60, QuietOnSuccess = true)

// ---- building problems from a shape ----------------------------------------------------------

let uniformMatrix (rows: int) (cols: int) (rng: Rng) : Draw<Matrix<float>> =
    let d = Rng.many (rows * cols) (Rng.uniform -1.0 1.0) rng
    { Value = Matrix<float>.Build.Dense(rows, cols, d.Value); Next = d.Next }

/// A random problem: parameters, initial state, inputs, one-hot targets and lengths, entries in [-1, 1].
type Problem =
    { Parameters: Parameters
      Initial: LstmState
      Inputs: Matrix<float>[]
      Targets: Matrix<float>
      Lengths: int[] }

let build (s: Shape) : Problem =
    let mutable rng = Rng.create s.Seed
    let m rows cols =
        let d = uniformMatrix rows cols rng
        rng <- d.Next
        d.Value
    let G = 4 * s.H
    let p =
        { Kernel = m s.I G
          RecurrentKernel = m s.H G
          Bias = (m G 1).Column 0
          DenseKernel = m s.H s.V
          DenseBias = (m s.V 1).Column 0
          Upper = Array.empty }
    let h0, c0 = m s.B s.H, m s.B s.H
    let inputs = Array.init s.T (fun _ -> m s.B s.I)
    let classes = Rng.many s.B (Rng.nextInt 0 s.V) rng
    let lengths = Rng.many s.B (Rng.nextInt 1 (s.T + 1)) classes.Next
    rng <- lengths.Next
    { Parameters = p
      Initial = { H = h0; C = c0 }
      Inputs = inputs
      Targets = Matrix<float>.Build.Dense(s.B, s.V, fun b v -> if classes.Value.[b] = v then 1.0 else 0.0)
      Lengths = lengths.Value }

/// Row b of every matrix: sample b as a batch of one.
let sample (b: int) (pr: Problem) : Problem =
    let row (m: Matrix<float>) = m.SubMatrix(b, 1, 0, m.ColumnCount)
    { pr with
        Initial = { H = row pr.Initial.H; C = row pr.Initial.C }
        Inputs = pr.Inputs |> Array.map row
        Targets = row pr.Targets
        Lengths = [| pr.Lengths.[b] |] }

/// The rows `rows` of every matrix, in that order.
let rowsOf (rows: int[]) (pr: Problem) : Problem =
    let pick (m: Matrix<float>) = Matrix<float>.Build.DenseOfRowVectors(rows |> Array.map m.Row)
    { pr with
        Initial = { H = pick pr.Initial.H; C = pick pr.Initial.C }
        Inputs = pr.Inputs |> Array.map pick
        Targets = pick pr.Targets
        Lengths = rows |> Array.map (fun r -> pr.Lengths.[r]) }

/// Max |a − b| over two same-shaped matrices.
let maxDiff (a: Matrix<float>) (b: Matrix<float>) = (a - b).Enumerate() |> Seq.map abs |> Seq.fold max 0.0

/// Exact (bitwise) equality of two matrices, with a short message naming what differs.
let sameBits (what: string) (a: Matrix<float>) (b: Matrix<float>) =
    if a.RowCount <> b.RowCount || a.ColumnCount <> b.ColumnCount then
        failwithf "%s: shapes differ, (%d, %d) vs (%d, %d)" what a.RowCount a.ColumnCount b.RowCount b.ColumnCount
    for r in 0 .. a.RowCount - 1 do
        for c in 0 .. a.ColumnCount - 1 do
            if BitConverter.DoubleToInt64Bits a.[r, c] <> BitConverter.DoubleToInt64Bits b.[r, c] then
                failwithf "%s: differs at (%d, %d): %.17g vs %.17g" what r c a.[r, c] b.[r, c]

/// Exact equality of every block of two parameter records.
let sameParameters (a: Parameters) (b: Parameters) =
    for x, y in Array.zip (Parameters.blocks a) (Parameters.blocks b) do
        for k in 0 .. x.Values.Length - 1 do
            if BitConverter.DoubleToInt64Bits x.Values.[k] <> BitConverter.DoubleToInt64Bits y.Values.[k] then
                failwithf "block %s differs at flat index %d: %.17g vs %.17g" x.Name k x.Values.[k] y.Values.[k]

/// A dataset from a problem's inputs and targets (N = B samples).
let datasetOf (pr: Problem) : Dataset =
    { Inputs = pr.Inputs
      Targets = pr.Targets
      Lengths = pr.Lengths
      Patterns = Array.init pr.Targets.RowCount (fun n -> sprintf "#%d" n)
      Vocabulary = Vocabulary.Create(Seq.init pr.Targets.ColumnCount (sprintf "s%d")) }
