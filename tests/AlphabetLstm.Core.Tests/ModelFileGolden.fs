/// Model files loaded and run against numbers computed elsewhere: by hand for a one-unit model,
/// and by PyTorch (Reference/make_torch_reference.py, run once; its outputs are committed) for a
/// model exported from torch.nn.LSTM the way the README says.
module AlphabetLstm.Core.Tests.ModelFileGolden

open System
open System.IO
open System.Text.Json
open global.Xunit
open AlphabetLstm.Core

let private ok (what: string) (r: Result<'T, string>) =
    match r with
    | Ok v -> v
    | Error e -> failwithf "%s did not load: %s" what e

let private near (tolerance: float) (what: string) (expected: float) (actual: float) =
    Assert.True(abs (expected - actual) <= tolerance, sprintf "%s: expected %.17g, got %.17g" what expected actual)

/// I = 1, H = 1: the GoldenTests weights, with a 26-class head that only uses classes 0 and 1.
let private tinyModel =
    let zeros n = String.Join(", ", Array.create n "0")
    sprintf """{ "format": "alphabet-lstm-model", "version": 1, "alphabet": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
  "input": { "timeSteps": 2, "features": 1, "encoding": "index/26", "masked": false },
  "lstm": { "units": 1, "kernel": [[0.5, -0.5, 1.0, 0.25]], "recurrentKernel": [[0.1, 0.2, 0.3, 0.4]], "bias": [0, 1, 0, 0] },
  "dense": { "units": 26, "kernel": [[0.7, -0.3, %s]], "bias": [0.1, 0, %s] } }""" (zeros 24) (zeros 24)

[<Fact>]
let ``a hand-written one-unit model file predicts the hand-computed state and probabilities`` () =
    let m = ok "the tiny model" (ModelFile.parse tinyModel)
    let x = ok "the inputs" (PredictionFiles.parseInputs m.Input "[[[1.0], [0.5]]]")
    let p = Model.predict m.Parameters (LstmState.Zeros(1, 1)) x.Inputs x.Masking
    // Step 1, x = 1: z = (0.5, 0.5, 1, 0.25); c1 = σ(0.5)·tanh(1); h1 = σ(0.25)·tanh(c1).
    // Step 2, x = 0.5: z = 0.5·(0.5, −0.5, 1, 0.25) + h1·(0.1, 0.2, 0.3, 0.4) + (0, 1, 0, 0).
    let σ z = 1.0 / (1.0 + exp -z)
    let c1 = σ 0.5 * tanh 1.0
    let h1 = σ 0.25 * tanh c1
    let c2 = σ (-0.25 + 0.2 * h1 + 1.0) * c1 + σ (0.25 + 0.1 * h1) * tanh (0.5 + 0.3 * h1)
    let h2 = σ (0.125 + 0.4 * h1) * tanh c2
    near 1e-15 "c" c2 p.Final.C.[0, 0]
    near 1e-15 "h" h2 p.Final.H.[0, 0]
    near 1e-14 "c (GoldenTests)" 0.6217749754713529 p.Final.C.[0, 0]
    near 1e-14 "h (GoldenTests)" 0.307022413882958 p.Final.H.[0, 0]
    // logits: (0.7·h + 0.1, −0.3·h, 0, …, 0)
    let e0, e1 = exp (0.7 * h2 + 0.1), exp (-0.3 * h2)
    let total = e0 + e1 + 24.0
    near 1e-15 "p(A)" (e0 / total) p.Probabilities.[0, 0]
    near 1e-15 "p(B)" (e1 / total) p.Probabilities.[0, 1]
    for v in 2 .. 25 do near 1e-15 (sprintf "p(%c)" (Alphabet.Letter v)) (1.0 / total) p.Probabilities.[0, v]

let private reference (name: string) = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Reference", name))

let private rows (e: JsonElement) = e.EnumerateArray() |> Seq.map (fun r -> r.EnumerateArray() |> Seq.map (fun x -> x.GetDouble()) |> Seq.toArray) |> Seq.toArray

[<Fact>]
let ``a model exported from PyTorch predicts PyTorch's probabilities and final states`` () =
    let m = ok "torch_model.json" (ModelFile.parse (reference "torch_model.json"))
    Assert.Equal({ TimeSteps = 4; Features = 2; Encoding = SymbolEncoding.Index; Masked = false; PrePadded = false; Reading = Reading.Window; Targets = Targets.Last }, m.Input)
    let x = ok "torch_inputs.json" (PredictionFiles.parseInputs m.Input (reference "torch_inputs.json"))
    let state = ok "torch_state.json" (PredictionFiles.parseState 2 3 1 (reference "torch_state.json"))
    let p = Model.predict m.Parameters state x.Inputs x.Masking
    use expected = JsonDocument.Parse(reference "torch_expected.json")
    let check (name: string) (actual: MathNet.Numerics.LinearAlgebra.Matrix<float>) =
        let e = rows (expected.RootElement.GetProperty name)
        Assert.Equal(e.Length, actual.RowCount)
        for b in 0 .. e.Length - 1 do
            Assert.Equal(e.[b].Length, actual.ColumnCount)
            for k in 0 .. e.[b].Length - 1 do
                near 1e-12 (sprintf "%s[%d][%d]" name b k) e.[b].[k] actual.[b, k]
    check "probabilities" p.Probabilities
    check "h" p.Final.H
    check "c" p.Final.C

[<Fact>]
let ``a version 1 file reads as the alphabet with the index encoding, and is written back as version 2 with the same weights`` () =
    let m = ok "the tiny version 1 model" (ModelFile.parse tinyModel)
    Assert.True(m.Vocabulary.IsAlphabet)
    Assert.Equal(SymbolEncoding.Index, m.Input.Encoding)
    let text = ModelFile.serialize m
    Assert.Contains("\"version\": 2", text)
    Assert.Contains("\"vocabulary\": [\"A\", \"B\"", text)
    let back = ok "the version 2 copy" (ModelFile.parse text)
    Assert.Equal<float>(m.Parameters.Kernel.ToColumnMajorArray(), back.Parameters.Kernel.ToColumnMajorArray())
    Assert.Equal(m.Input, back.Input)
    // A version 1 file says "index/26"; version 2 spells it "index".
    match ModelFile.parse (tinyModel.Replace("\"version\": 1", "\"version\": 2")) with
    | Ok _ -> failwith "a version 2 file without a vocabulary loaded"
    | Error e -> Assert.StartsWith("vocabulary: missing", e)
