/// Precision in files: a float32 model or checkpoint holds float32 values, written as the shortest
/// float32 text and read with float32's parser, so every one comes back bit for bit; float64 files
/// are written as before; a float32 file's number beyond float32's range is refused in one line.
module AlphabetLstm.Core.Tests.PrecisionFileProperties

open System
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open MathNet.Numerics.LinearAlgebra
open global.Xunit
open AlphabetLstm.Core
open AlphabetLstm.Tutorial
open AlphabetLstm.Core.Tests.Generators

/// The float32 values that stress formatting most, mixed into the random bit patterns.
let private special =
    [| -0.0f; 0.0f; Single.Epsilon; -Single.Epsilon; Single.MaxValue; -Single.MaxValue
       BitConverter.Int32BitsToSingle 0x007FFFFF   // the largest subnormal
       BitConverter.Int32BitsToSingle 0x00800000   // the smallest normal
       1.0f / 3.0f; 16777217.0f |]

/// A finite float32 from any bit pattern: a NaN or infinity pattern (exponent all ones) has its
/// exponent's top bit cleared, which keeps the sign and mantissa and makes it finite.
let private finite (bits: int) =
    let x = BitConverter.Int32BitsToSingle bits
    if Single.IsFinite x then x else BitConverter.Int32BitsToSingle(bits &&& ~~~0x40000000)

/// 64 float32 values (the blocks of a model with I = 1, H = 1, V = 26), one in four a special one.
type Float32Values =
    { Values: float32[] }
    override v.ToString() =
        sprintf "Float32Values [%s]" (v.Values |> Array.map (fun x -> sprintf "0x%08X" (BitConverter.SingleToInt32Bits x)) |> String.concat "; ")

type Float32Arbitraries =
    static member Values() =
        let one =
            Gen.frequency [ 3, Gen.choose (Int32.MinValue, Int32.MaxValue) |> Gen.map finite
                            1, Gen.elements special ]
        Gen.arrayOfLength 64 one |> Gen.map (fun v -> { Values = v }) |> Arb.fromGen

type Float32PropertyAttribute() =
    inherit PropertyAttribute(Arbitrary = [| typeof<Float32Arbitraries> |], MaxTest = 100, QuietOnSuccess = true)

let private alphabetInput =
    { TimeSteps = 1; Features = 1; Encoding = SymbolEncoding.Index; Masked = false; PrePadded = false; Reading = Reading.Window; Targets = Targets.Last }

/// A one-unit alphabet model whose 64 numbers are `values`, in block order.
let private parametersOf (values: float[]) : Parameters =
    let at k n = Array.sub values k n
    { Kernel = Matrix<float>.Build.Dense(1, 4, at 0 4)
      RecurrentKernel = Matrix<float>.Build.Dense(1, 4, at 4 4)
      Bias = Vector<float>.Build.Dense(at 8 4)
      DenseKernel = Matrix<float>.Build.Dense(1, 26, at 12 26)
      DenseBias = Vector<float>.Build.Dense(at 38 26)
      Upper = Array.empty }

let private ok (r: Result<'T, string>) =
    match r with
    | Ok v -> v
    | Error e -> failwithf "expected the file to load, got: %s" e

let private refusedWith (expected: string) (r: Result<'T, string>) =
    match r with
    | Ok _ -> failwithf "expected a refusal naming %s, but the file loaded" expected
    | Error e ->
        Assert.Contains(expected, e)
        Assert.DoesNotContain("\n", e)

/// Every value's float32 bits, block by block.
let private float32Bits (p: Parameters) =
    Parameters.blocks p |> Array.collect (fun b -> b.Values |> Array.map (fun x -> BitConverter.SingleToInt32Bits(float32 x)))

[<Float32Property>]
let ``a float32 model file reads back every float32 value bit for bit, subnormals, the largest and negative zero included`` (v: Float32Values) =
    let p = parametersOf (v.Values |> Array.map float)
    let m = SavedModel.Create(Vocabulary.Alphabet, alphabetInput, p, Precision.Float32)
    let text = m.Serialize()
    let back = SavedModel.Parse text
    Assert.Equal(Precision.Float32, back.Precision)
    Assert.Equal<int[]>(float32Bits p, float32Bits back.Parameters)
    // Held as doubles, the values are the float32 ones exactly (not merely close).
    sameParameters p back.Parameters
    Assert.Equal(text, back.Serialize())

[<Float32Property>]
let ``a float32 value is written as the shortest text that reads back as it, never longer than 9 significant digits`` (v: Float32Values) =
    let text = SavedModel.Create(Vocabulary.Alphabet, alphabetInput, parametersOf (v.Values |> Array.map float), Precision.Float32).Serialize()
    let numbers = Text.RegularExpressions.Regex.Matches(text.Substring(text.IndexOf("\"lstm\"")), @"-?\d[\d.]*(E[-+]?\d+)?")
    for n in numbers do
        let digits = n.Value.Split('E').[0].TrimStart('-').Replace(".", "").TrimStart('0')
        Assert.True(digits.Length <= 9, sprintf "%s has %d significant digits" n.Value digits.Length)

[<Fact>]
let ``a float64 model is written as before: version 2, no precision field, and reads back as float64`` () =
    let p = parametersOf (Array.init 64 (fun k -> 1.0 / float (k + 3)))
    let text = SavedModel.Create(Vocabulary.Alphabet, alphabetInput, p).Serialize()
    Assert.Contains("\"version\": 2,", text)
    Assert.DoesNotContain("precision", text)
    let back = SavedModel.Parse text
    Assert.Equal(Precision.Float64, back.Precision)
    sameParameters p back.Parameters

[<Fact>]
let ``a float32 model is written as version 4 with "precision": "float32" right after the version`` () =
    let p = parametersOf (Array.init 64 (fun k -> float (float32 (1.0 / float (k + 3)))))
    let text = SavedModel.Create(Vocabulary.Alphabet, alphabetInput, p, Precision.Float32).Serialize()
    Assert.Contains("  \"version\": 4,\n  \"precision\": \"float32\",\n", text)
    Assert.Contains("0.33333334", text)
    Assert.DoesNotContain("0.3333333432674408", text)

[<Fact>]
let ``creating a float32 model rounds each weight to the nearest float32 and refuses one beyond its range naming the block`` () =
    let values = Array.init 64 (fun k -> 1.0 / float (k + 3))
    let m = SavedModel.Create(Vocabulary.Alphabet, alphabetInput, parametersOf values, Precision.Float32)
    Parameters.blocks m.Parameters |> Array.collect (fun b -> b.Values) |> Array.iteri (fun k x ->
        Assert.Equal(float (float32 values.[k]), x))
    // Rounding a float32 model again changes nothing.
    sameParameters m.Parameters (SavedModel.Create(Vocabulary.Alphabet, alphabetInput, m.Parameters, Precision.Float32).Parameters)
    values.[13] <- 1e39
    let e = Assert.Throws<ArgumentException>(fun () -> SavedModel.Create(Vocabulary.Alphabet, alphabetInput, parametersOf values, Precision.Float32) |> ignore)
    Assert.Contains("denseKernel holds 1E+39 at flat index 1, too large for a 32-bit float", e.Message)
    // The same weights make a float64 model.
    Assert.Equal(1e39, SavedModel.Create(Vocabulary.Alphabet, alphabetInput, parametersOf values).Parameters.DenseKernel.[0, 1])

let private float32Text () =
    SavedModel.Create(Vocabulary.Alphabet, alphabetInput, parametersOf (Array.init 64 (fun k -> float k / 8.0)), Precision.Float32).Serialize()

[<Fact>]
let ``a float32 file whose number overflows float32 is refused in one line naming the field`` () =
    let text = float32Text ()
    Assert.Contains("[0, 0.125, 0.25, 0.375]", text)
    // Fine as a double, too large for a float32.
    let edited = text.Replace("[0, 0.125, 0.25, 0.375]", "[0, 1e39, 0.25, 0.375]")
    ModelFile.parse edited
    |> refusedWith "lstm.kernel[0][1]: expected a finite number, found 1e39, too large for a 32-bit float (at most 3.4028235E+38)"
    // The same number in a float64 file reads.
    let as64 = edited.Replace("  \"version\": 4,\n  \"precision\": \"float32\",\n", "  \"version\": 2,\n")
    Assert.Equal(1e39, (ok (ModelFile.parse as64)).Parameters.Kernel.[0, 1])

[<Fact>]
let ``a precision field is refused before version 4, and an unknown precision is refused listing the choices`` () =
    let text = float32Text ()
    text.Replace("\"version\": 4,", "\"version\": 3,") |> ModelFile.parse
    |> refusedWith "precision: version 3 files have no precision (it came in version 4)"
    text.Replace("\"float32\"", "\"float16\"") |> ModelFile.parse
    |> refusedWith "precision: expected \"float32\" or \"float64\", found \"float16\""
    text.Replace("\"version\": 4,", "\"version\": 5,") |> ModelFile.parse
    |> refusedWith "version: expected 1 to 4, found 5: the file is from a newer alphabet-lstm"

[<Fact>]
let ``the precision names parse exactly and name nothing else`` () =
    Assert.Equal(Nullable Precision.Float32, ModelFile.parsePrecision "float32")
    Assert.Equal(Nullable Precision.Float64, ModelFile.parsePrecision "float64")
    for bad in [ "Float32"; "float"; "f32"; " float32"; "" ] do
        Assert.False((ModelFile.parsePrecision bad).HasValue, bad)
    Assert.Equal<string[]>([| "float32"; "float64" |], ModelFile.precisionNames)

// ---- checkpoints ------------------------------------------------------------------------------

/// A training state of the one-unit model whose every number is a float32 value drawn from `v`.
let private float32State (v: Float32Values) : TrainingState =
    let at k = float v.Values.[k % v.Values.Length]
    let p = parametersOf (Array.init 64 at)
    // Adam's v is a mean of squares: never negative.
    let moments = parametersOf (Array.init 64 (fun k -> at (k + 7)))
    let squares = parametersOf (Array.init 64 (fun k -> abs (at (k + 13))))
    { Parameters = p
      Optimizer = { Step = 5; M = moments; V = squares }
      Rng = Rng.create 3L
      Epoch = 2
      Carried = { H = Matrix<float>.Build.Dense(2, 1, [| at 1; at 2 |]); C = Matrix<float>.Build.Dense(2, 1, [| at 3; at 4 |]) } }

let private sameMatrix (what: string) (a: Matrix<float>) (b: Matrix<float>) =
    for r in 0 .. a.RowCount - 1 do
        for c in 0 .. a.ColumnCount - 1 do
            if BitConverter.DoubleToInt64Bits a.[r, c] <> BitConverter.DoubleToInt64Bits b.[r, c] then
                failwithf "%s differs at (%d, %d): %.9g vs %.9g" what r c a.[r, c] b.[r, c]

[<Float32Property>]
let ``a float32 training checkpoint reads back its weights, Adam's moments and carried state bit for bit`` (v: Float32Values) =
    let model = SavedModel.Create(Vocabulary.Alphabet, alphabetInput, parametersOf (Array.zeroCreate 64), Precision.Float32)
    let s = float32State v
    let text = TrainingCheckpoint.Create(model, s).Serialize()
    let back = TrainingCheckpoint.Parse text
    Assert.Equal(Precision.Float32, back.Precision)
    Assert.Equal(Precision.Float32, back.Model.Precision)
    sameParameters s.Parameters back.State.Parameters
    sameParameters s.Optimizer.M back.State.Optimizer.M
    sameParameters s.Optimizer.V back.State.Optimizer.V
    sameMatrix "carried.h" s.Carried.H back.State.Carried.H
    sameMatrix "carried.c" s.Carried.C back.State.Carried.C
    Assert.Equal(text, back.Serialize())

[<Fact>]
let ``a float32 training checkpoint keeps its state rounded to float32, and refuses a moment beyond float32's range naming it`` () =
    let model = SavedModel.Create(Vocabulary.Alphabet, alphabetInput, parametersOf (Array.zeroCreate 64), Precision.Float32)
    let s = float32State { Values = Array.init 64 (fun k -> float32 k) }
    let third = parametersOf (Array.init 64 (fun k -> 1.0 / float (k + 3)))
    let c = TrainingCheckpoint.Create(model, { s with Optimizer = { s.Optimizer with M = third } })
    Assert.Equal(float (float32 (1.0 / 3.0)), c.State.Optimizer.M.Kernel.[0, 0])
    sameParameters c.State.Optimizer.M (TrainingCheckpoint.Parse(c.Serialize())).State.Optimizer.M
    let huge = parametersOf (Array.init 64 (fun k -> if k = 5 then 1e40 else 0.0))
    let e = Assert.Throws<ArgumentException>(fun () -> TrainingCheckpoint.Create(model, { s with Optimizer = { s.Optimizer with V = huge } }) |> ignore)
    Assert.Contains("state.Optimizer.V.recurrentKernel holds 1E+40 at flat index 1, too large for a 32-bit float", e.Message)
    // A float64 checkpoint keeps the same state as it is.
    let c64 = TrainingCheckpoint.Create(SavedModel.Create(Vocabulary.Alphabet, alphabetInput, s.Parameters), { s with Optimizer = { s.Optimizer with M = third } })
    Assert.Equal(1.0 / 3.0, c64.State.Optimizer.M.Kernel.[0, 0])
    Assert.DoesNotContain("precision", c64.Serialize())

[<Fact>]
let ``a run checkpoint records a float32 run's precision, trains it in float32, and refuses a model whose precision is not the run's`` () =
    let run = RunSettings.ForExperiment("stateful", 2L, 3, 3, false, 0.001, 1, Precision.Float32)
    let prepared = CheckpointFile.prepare run
    Assert.Equal(Precision.Float32, prepared.Config.Precision)
    let c = { Run = run; Input = Experiments.inputOf prepared.Spec; State = prepared.Start; Save = "m.json" }
    let text = c.Serialize()
    Assert.Contains("\"save\": \"m.json\", \"precision\": \"float32\" },", text)
    let back = Checkpoint.Parse text
    Assert.Equal(Precision.Float32, back.Run.Precision)
    Assert.Equal(Precision.Float32, (CheckpointFile.resume back).Config.Precision)
    Assert.Equal(Precision.Float32, (CheckpointFile.model back).Precision)
    // Every number of the state read back is a float32 value, and a second write gives the same text.
    for p in [ back.State.Parameters; back.State.Optimizer.M; back.State.Optimizer.V ] do
        for b in Parameters.blocks p do
            for x in b.Values do Assert.Equal(float (float32 x), x)
    Assert.Equal(text, back.Serialize())
    let edited = CheckpointFile.seal (text.Replace(", \"precision\": \"float32\" },", " },"))
    match CheckpointFile.parse edited with
    | Ok _ -> failwith "a float64 run holding a float32 model loaded"
    | Error e -> Assert.Equal("model.precision: expected \"float64\" (run.precision), found \"float32\"", e)
    // A float64 run's checkpoint says nothing about precision, as before.
    let run64 = RunSettings.ForExperiment("stateful", 2L, 3, 3, false, 0.001, 1)
    Assert.Equal(Precision.Float64, run64.Precision)
    Assert.Equal(Precision.Float64, (CheckpointFile.prepare run64).Config.Precision)
    let text64 = { c with Run = run64 }.Serialize()
    Assert.DoesNotContain("precision", text64)

[<Property(MaxTest = 30, QuietOnSuccess = true)>]
let ``a model predicts and generates in its own precision: a float32 model's next letter and state are the float32 pass's bits, not the float64 pass's`` (seed: int) =
    let init = Parameters.Init(1, 8, 26, Rng.Create(int64 seed))
    let model = SavedModel.Create(Vocabulary.Alphabet, alphabetInput, init.Value, Precision.Float32)
    let zeros = LstmState.Zeros(1, 8)
    let next = model.PredictNext(zeros, [| "K" |])
    let x = [| Matrix<float>.Build.Dense(1, 1, 10.0 / 26.0) |]
    let f32 = Model.predictIn model.Parameters zeros x Unmasked Precision.Float32
    let f64 = Model.predictIn model.Parameters zeros x Unmasked Precision.Float64
    Assert.Equal<float[]>(f32.Probabilities.Row(0).ToArray(), next.Probabilities)
    Assert.Equal<float[]>(f32.Final.H.Row(0).ToArray(), next.Final.H.Row(0).ToArray())
    // The two passes differ (else this would not tell them apart), and every float32 output is a float32.
    Assert.NotEqual<float[]>(f64.Probabilities.Row(0).ToArray(), next.Probabilities)
    Assert.All(next.Probabilities, fun v -> Assert.Equal(v, float (float32 v)))
    // The letters generate gives, and the warm-up's state, come from the same float32 steps.
    let warmed = Experiments.warmUp model.Parameters zeros "ABCDEFGHIJ" model.Precision
    let byHand = "ABCDEFGHIJ" |> Seq.fold (fun s l -> (model.PredictNext(s, [| string l |])).Final) zeros
    Assert.Equal<float[]>(byHand.H.Row(0).ToArray(), warmed.H.Row(0).ToArray())
    let letters = Experiments.generateLetters model.Parameters warmed 'K' model.Precision |> Seq.take 3 |> Seq.map string |> Array.ofSeq
    let expected =
        (warmed, "K") |> Seq.unfold (fun (s, l) -> let n = model.PredictNext(s, [| l |]) in Some(n.Symbol, (n.Final, n.Symbol))) |> Seq.take 3 |> Array.ofSeq
    Assert.Equal<string[]>(expected, letters)
