/// Hostile files: sizes a file claims but does not hold, sizes whose products overflow `int`, empty
/// rows after full ones, deep nesting, huge strings and lone surrogates, in models, checkpoints,
/// inputs and states. Each is read as a valid value or refused with one clean line, never an
/// exception, and reading it allocates at most a bounded multiple of the text's own size.
module AlphabetLstm.Core.Tests.HostileFileProperties

open System
open FsCheck
open FsCheck.FSharp
open global.Xunit
open AlphabetLstm.Core
open AlphabetLstm.Tutorial

/// Claimed sizes at the edges: ordinary, large, at and past the limits, and at the int edge.
let private claimed = [| 1; 2; 3; 1000; 4096; 65536; 100000; 100001; 1073741823; Int32.MaxValue; 0; -1; Int32.MinValue |]

/// One hostile file, chosen by numbers so a failure prints and replays.
type Hostile =
    /// A model claiming `units` H, with `full` full rows of the recurrent kernel (when 4H is small enough to write) and the rest empty.
    | ClaimedUnits of Units: int * Full: int
    /// A model claiming `features` I (the kernel's rows are what the file holds).
    | ClaimedFeatures of Features: int * Rows: int
    /// Raw inputs for a model of T steps and I features: `samples` samples, the first full when small, the rest empty.
    | ClaimedInputs of TimeSteps: int * Features: int * Samples: int
    /// A state for `batch` rows of `units`: one full row, then empty rows.
    | ClaimedState of Batch: int * Units: int * Rows: int
    /// `depth` nested arrays (or objects) where a model's kernel should be.
    | DeepNesting of Depth: int * Objects: bool
    /// A string of `length` characters in field `place` of a model.
    | HugeString of Length: int * Place: int
    /// A lone surrogate escape in `place` (a symbol, a field name, the format, the encoding) of a model or a checkpoint.
    | LoneSurrogate of Place: int * Checkpoint: bool
    /// A sealed checkpoint whose run claims `units` and `epochs`.
    | ClaimedRun of Units: int * Epochs: int

type HostileArbitraries =
    static member Hostile() =
        let size = Gen.elements claimed
        let small = Gen.choose (0, 3)
        Gen.oneof
            [ Gen.map2 (fun u f -> ClaimedUnits(u, f)) size small
              Gen.map2 (fun i r -> ClaimedFeatures(i, r)) size small
              Gen.map3 (fun t i b -> ClaimedInputs(t, i, b)) size size (Gen.elements [ 1; 2; 1000; 50000 ])
              Gen.map3 (fun b u r -> ClaimedState(b, u, r)) size size small
              Gen.map2 (fun d o -> DeepNesting(d, o)) (Gen.elements [ 15; 16; 17; 64; 10000; 100000 ]) (Gen.elements [ false; true ])
              Gen.map2 (fun l p -> HugeString(l, p)) (Gen.elements [ 1000; 100000; 1000000 ]) (Gen.choose (0, 3))
              Gen.map2 (fun p c -> LoneSurrogate(p, c)) (Gen.choose (0, 3)) (Gen.elements [ false; true ])
              Gen.map2 (fun u e -> ClaimedRun(u, e)) size size ]
        |> Arb.fromGen

let private V = Alphabet.Size

let private row (n: int) = "[" + String.Join(",", Array.create n "0.5") + "]"

/// A matrix of `rows` rows, the first `full` of `cols` numbers (only when that is small) and the rest empty.
let private rows (n: int) (full: int) (cols: int) =
    let n = max 0 (min n 200000)
    let one k = if k < full && cols > 0 && cols <= 20000 then row cols else "[]"
    "[" + String.Join(",", Array.init n one) + "]"

/// A version-2 model file's text with the given pieces.
let private modelText (vocabulary: string) (format: string) (input: string) (units: string) (kernel: string) (recurrent: string) (extra: string) =
    let H = 2
    sprintf """{"format": %s, "version": 2, "vocabulary": %s, "input": %s, %s"lstm": {"units": %s, "kernel": %s, "recurrentKernel": %s, "bias": %s}, "dense": {"units": %d, "kernel": %s, "bias": %s}}"""
        format vocabulary input extra units kernel recurrent (row (4 * H)) V (rows H H V) (row V)

let private alphabet = "[" + String.Join(", ", Alphabet.Letters |> Seq.map (fun c -> sprintf "\"%c\"" c)) + "]"
let private input1 = """{"timeSteps": 1, "features": 1, "encoding": "index", "masked": false, "padding": "none"}"""
let private goodModel extra = modelText alphabet "\"alphabet-lstm-model\"" input1 "2" (rows 1 1 8) (rows 2 2 8) extra

let private checkpointText (units: int) (epochs: int) =
    let spec = (Experiments.tryFind "one-char").Value
    let run = RunSettings.ForExperiment(spec.Id, 1L, 3, 2, false, 0.001, 1)
    let text = CheckpointFile.serialize { Run = run; Input = Experiments.inputOf spec; State = (CheckpointFile.prepare run).Start; Save = "m.json" }
    CheckpointFile.seal (text.Replace("\"units\": 2, \"masked\"", sprintf "\"units\": %d, \"masked\"" units)
                             .Replace("\"epochs\": 3,", sprintf "\"epochs\": %d," epochs))

/// The text of a hostile file, and how to read it.
let private build (h: Hostile) : string * (string -> Result<unit, string>) =
    let asModel (t: string) = ModelFile.parse t |> Result.map ignore
    let asCheckpoint (t: string) = CheckpointFile.parse t |> Result.map ignore
    match h with
    | ClaimedUnits(u, full) ->
        let cols = if u > 0 && u <= 100000 then 4 * u else 8
        modelText alphabet "\"alphabet-lstm-model\"" input1 (string u) (rows 1 1 cols) (rows u full cols) "", asModel
    | ClaimedFeatures(i, r) ->
        let input = sprintf """{"timeSteps": 1, "features": %d, "encoding": "features", "masked": false, "padding": "none"}""" i
        modelText alphabet "\"alphabet-lstm-model\"" input "2" (rows r r 8) (rows 2 2 8) "", asModel
    | ClaimedInputs(t, i, b) ->
        let inputs =
            let first = if t > 0 && i > 0 && int64 t * int64 i <= 20000L then "[" + String.Join(",", Array.create t (row i)) + "]" else "[]"
            "[" + String.Join(",", Array.init b (fun k -> if k = 0 then first else "[]")) + "]"
        let spec = { TimeSteps = t; Features = i; Encoding = SymbolEncoding.Features; Masked = t % 2 = 0; PrePadded = false; Reading = Reading.Window; Targets = Targets.Last }
        inputs, (fun text -> PredictionFiles.parseInputs spec text |> Result.map ignore)
    | ClaimedState(b, u, r) ->
        let m = rows b r u
        sprintf """{"h": %s, "c": %s}""" m m, (fun text -> PredictionFiles.parseState b u 1 text |> Result.map ignore)
    | DeepNesting(depth, objects) ->
        let opening, closing = if objects then "{\"a\":", "}" else "[", "]"
        let nested = String.replicate depth opening + "0" + String.replicate depth closing
        modelText alphabet "\"alphabet-lstm-model\"" input1 "2" nested (rows 2 2 8) "", asModel
    | HugeString(length, place) ->
        let huge = "\"" + String('x', length) + "\""
        match place with
        | 0 -> modelText ("[" + huge + ", \"b\"]") "\"alphabet-lstm-model\"" input1 "2" (rows 1 1 8) (rows 2 2 8) "", asModel
        | 1 -> modelText alphabet huge input1 "2" (rows 1 1 8) (rows 2 2 8) "", asModel
        | 2 -> goodModel (sprintf "\"unknown\": %s, " huge), asModel
        | _ -> goodModel (sprintf "%s: 1, " huge), asModel
    | LoneSurrogate(place, true) ->
        let text = checkpointText 2 3
        (match place with
         | 0 -> text.Replace("\"experiment\": \"one-char\"", "\"experiment\": \"\\ud800\"")
         | 1 -> text.Replace("\"save\": \"m.json\"", "\"save\": \"m\\udc00.json\"")
         | 2 -> text.Replace("\"epoch\":", "\"\\ud800\": 1, \"epoch\":")
         | _ -> text.Replace("\"rng\": \"", "\"rng\": \"\\ud800")) |> CheckpointFile.seal, asCheckpoint
    | LoneSurrogate(place, false) ->
        match place with
        | 0 -> modelText (alphabet.Replace("\"A\"", "\"\\ud800\"")) "\"alphabet-lstm-model\"" input1 "2" (rows 1 1 8) (rows 2 2 8) "", asModel
        | 1 -> goodModel "\"\\ud800\": 1, ", asModel
        | 2 -> modelText alphabet "\"alphabet-lstm-\\udfff\"" input1 "2" (rows 1 1 8) (rows 2 2 8) "", asModel
        | _ -> modelText alphabet "\"alphabet-lstm-model\"" (input1.Replace("\"index\"", "\"\\ud800index\"")) "2" (rows 1 1 8) (rows 2 2 8) "", asModel
    | ClaimedRun(u, e) -> checkpointText u e, asCheckpoint

[<global.FsCheck.Xunit.Property(Arbitrary = [| typeof<HostileArbitraries> |], MaxTest = 300, QuietOnSuccess = true)>]
let ``a hostile file is read or refused with one clean line, never an exception, allocating at most 40 bytes per character plus 4 MB`` (h: Hostile) =
    let text, read = build h
    GC.Collect()
    let before = GC.GetAllocatedBytesForCurrentThread()
    let result = read text
    let allocated = GC.GetAllocatedBytesForCurrentThread() - before
    let bound = 40L * int64 text.Length + (4L <<< 20)
    Assert.True(allocated <= bound, sprintf "%O: reading %d characters allocated %d bytes (bound %d)" h text.Length allocated bound)
    match result with
    | Ok _ -> ()
    | Error e ->
        Assert.False(String.IsNullOrWhiteSpace e, "the error is empty")
        Assert.False(e.Contains '\n', sprintf "the error spans lines: %s" e)
        Assert.True(e.Length < 400, sprintf "the error is %d characters long: %s" e.Length e)

[<Fact>]
let ``a model claiming 100000 units with one full row and then empty rows is refused at the first empty row`` () =
    let H = 100000
    let text = modelText alphabet "\"alphabet-lstm-model\"" input1 (string H) ("[" + row (4 * H) + "]") ("[" + row (4 * H) + String.replicate (H - 1) ",[]" + "]") ""
    match ModelFile.parse text with
    | Ok _ -> failwith "accepted"
    | Error e -> Assert.Equal("lstm.recurrentKernel[1]: expected 400000 numbers (H × 4H with H = 100000), found 0", e)

[<Fact>]
let ``inputs of 50000 samples of 100000 features whose first is full are refused at the first short sample`` () =
    let spec = { TimeSteps = 1; Features = 100000; Encoding = SymbolEncoding.Features; Masked = false; PrePadded = false; Reading = Reading.Window; Targets = Targets.Last }
    match PredictionFiles.parseInputs spec ("[[" + row 100000 + "]" + String.replicate 49999 ",[]" + "]") with
    | Ok _ -> failwith "accepted"
    | Error e -> Assert.Equal("inputs[1]: expected 1 time steps (the model's input.timeSteps), found 0", e)

[<Fact>]
let ``a count of numbers past what one array holds is refused naming the sizes, not wrapped to a negative count`` () =
    // 30000 × 100000 = 3e9 wraps to -1294967296 in int arithmetic (the issue's crash).
    match JsonText.run "[]" "anything" (fun _ -> JsonText.checkedCount "inputs" "30000 samples × 100000 features" [ 30000; 100000 ]) with
    | Ok n -> failwithf "accepted a count of %d" n
    | Error e -> Assert.StartsWith("inputs: 30000 samples × 100000 features = 3000000000 numbers, more than this program can hold", e)
