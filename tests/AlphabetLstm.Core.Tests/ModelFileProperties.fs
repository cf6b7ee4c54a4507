/// Model files and checkpoints: they read back bit for bit, and a damaged file is refused with one
/// clean line, never an exception.
module AlphabetLstm.Core.Tests.ModelFileProperties

open System
open System.Text.Json.Nodes
open System.Text.RegularExpressions
open FsCheck
open FsCheck.FSharp
open MathNet.Numerics.LinearAlgebra
open global.Xunit
open AlphabetLstm.Core
open AlphabetLstm.Tutorial
open AlphabetLstm.Core.Tests.Generators

let private V = Alphabet.Size

/// A value that stresses number formatting: ordinary, tiny, huge, subnormal, negative zero.
let private awkward (rng: Rng) : Draw<float> =
    let kind = Rng.nextInt 0 8 rng
    let u = Rng.uniform -1.0 1.0 kind.Next
    let value =
        match kind.Value with
        | 0 -> -0.0
        | 1 -> Double.Epsilon * float (1 + abs (int (u.Value * 100.0)))
        | 2 -> u.Value * 1e300
        | 3 -> u.Value * 1e-300
        | 4 -> 1.0 / 3.0 + u.Value
        | _ -> u.Value
    { Value = value; Next = u.Next }

/// Parameters for I inputs, H units and V classes, every entry awkward.
let private awkwardParametersV (V: int) (I: int) (H: int) (seed: int64) : Parameters =
    let mutable rng = Rng.create seed
    let m rows cols =
        let d = Rng.many (rows * cols) awkward rng
        rng <- d.Next
        Matrix<float>.Build.Dense(rows, cols, d.Value)
    { Kernel = m I (4 * H); RecurrentKernel = m H (4 * H); Bias = (m (4 * H) 1).Column 0
      DenseKernel = m H V; DenseBias = (m V 1).Column 0; Upper = Array.empty }

/// Parameters for I inputs, H units and the alphabet's 26 classes.
let private awkwardParameters (I: int) (H: int) (seed: int64) : Parameters = awkwardParametersV V I H seed

/// A vocabulary of the shape's V symbols (2..6) that stresses writing symbols: letters of other
/// scripts, an emoji (two UTF-16 units), quotes, backslashes and whole words; every seventh is the alphabet.
let private vocabularyFor (s: Shape) : Vocabulary =
    let pool = [| "α"; "ß"; "😀"; "\""; "\\"; "Mon"; "do re"; "x"; "\t"; "é" |]
    if s.Seed % 7L = 0L then Vocabulary.Alphabet
    else Vocabulary.Create(Array.init s.V (fun k -> pool.[(int (s.Seed % 5L) + k) % pool.Length] + string k))

/// Any encoding, and a number of features that fits it: index and features any I, one-hot a whole
/// number of symbols; pre-padded models read one symbol per step; stream models (one model in five
/// that encodes symbols and is not padded) read one symbol per step too.
let private inputFor (s: Shape) (vocabulary: Vocabulary) : InputSpec =
    let encoding = enum<SymbolEncoding> (int (s.Seed % 3L))
    let padded = s.Seed % 4L = 0L
    let stream = not padded && encoding <> SymbolEncoding.Features && s.Seed % 5L = 1L
    let oneSymbol = padded || stream
    let features =
        match encoding with
        | SymbolEncoding.OneHot -> vocabulary.Count * (if oneSymbol then 1 else s.I)
        | _ -> if oneSymbol && encoding = SymbolEncoding.Index then 1 else s.I
    { TimeSteps = s.T; Features = features; Encoding = encoding; Masked = padded && s.Seed % 2L = 0L; PrePadded = padded
      Reading = (if stream then Reading.Stream else Reading.Window); Targets = Targets.Last }

let private modelFor (s: Shape) : SavedModel =
    let vocabulary = vocabularyFor s
    let input = inputFor s vocabulary
    { Vocabulary = vocabulary; Input = input; Parameters = awkwardParametersV vocabulary.Count input.Features s.H s.Seed; Precision = Precision.Float64 }

let private ok (r: Result<'T, string>) =
    match r with
    | Ok v -> v
    | Error e -> failwithf "expected the file to load, got: %s" e

[<LstmProperty>]
let ``a model file reads back bit for bit, and writing it again gives the same text`` (s: Shape) =
    let m = modelFor s
    let text = ModelFile.serialize m
    let back = ok (ModelFile.parse text)
    sameParameters m.Parameters back.Parameters
    Assert.Equal(m.Input, back.Input)
    Assert.Equal<string>(m.Vocabulary.Symbols, back.Vocabulary.Symbols)
    Assert.Equal(text, ModelFile.serialize back)

[<Fact>]
let ``negative zero, the smallest subnormal and the largest double survive the round trip`` () =
    let p = awkwardParameters 1 1 7L
    let special = Parameters.map (fun _ -> 0.0) p |> Parameters.blocks
    special.[0].Values.[0] <- -0.0
    special.[0].Values.[1] <- Double.Epsilon
    special.[0].Values.[2] <- Double.MaxValue
    special.[0].Values.[3] <- -Double.MaxValue
    let p = Parameters.create (Matrix<float>.Build.Dense(1, 4, special.[0].Values)) p.RecurrentKernel p.Bias p.DenseKernel p.DenseBias
    let m = { Vocabulary = Vocabulary.Alphabet; Input = { TimeSteps = 1; Features = 1; Encoding = SymbolEncoding.Index; Masked = false; PrePadded = false; Reading = Reading.Window; Targets = Targets.Last }; Parameters = p; Precision = Precision.Float64 }
    let back = ok (ModelFile.parse (ModelFile.serialize m))
    sameParameters p back.Parameters
    Assert.True(Double.IsNegative back.Parameters.Kernel.[0, 0], "-0.0 came back as +0.0")

// ---- damaged files --------------------------------------------------------------------------

/// One way of damaging a file, chosen and placed by numbers so a failure prints and replays.
type Damage =
    | Truncate of At: int
    | FlipChar of At: int * Replacement: char
    | DeleteField of Pick: int
    | DuplicateLine of Pick: int
    | SwapType of Pick: int * Kind: int
    | HugeNumber of Pick: int * Kind: int

let private damageGen =
    let pick = Gen.choose (0, 1_000_000)
    Gen.oneof
        [ pick |> Gen.map Truncate
          Gen.map2 (fun a c -> FlipChar(a, c)) pick (Gen.elements [ '\000'; '"'; '{'; '}'; '['; ']'; ','; ':'; 'x'; '9'; '-'; 'e'; ' '; '\u00e9'; '\n' ])
          pick |> Gen.map DeleteField
          pick |> Gen.map DuplicateLine
          Gen.map2 (fun a k -> SwapType(a, k)) pick (Gen.choose (0, 5))
          Gen.map2 (fun a k -> HugeNumber(a, k)) pick (Gen.choose (0, 4)) ]

/// A valid file (a small model or a checkpoint), what to do to it, and up to three damages.
type DamageCase =
    { Shape: Shape; Checkpoint: bool; Damages: Damage list }
    override c.ToString() = sprintf "Damage(%O, checkpoint=%b, %A)" c.Shape c.Checkpoint c.Damages

type DamageArbitraries =
    static member Damage() =
        gen {
            let! s = shapeGen
            let! checkpoint = Gen.elements [ false; true ]
            let! n = Gen.choose (1, 3)
            let! ds = Gen.listOfLength n damageGen
            return { Shape = { s with H = min s.H 2; I = min s.I 2 }; Checkpoint = checkpoint; Damages = ds }
        } |> Arb.fromGen

/// Every node below `node` (objects' fields and arrays' items), with the container holding it.
let private nonNull (n: JsonNode | null) : JsonNode =
    match n with
    | null -> failwith "unexpected null node"
    | n -> n

let rec private nodes (node: JsonNode) : (JsonNode * JsonNode) list =
    let children (parent: JsonNode) (vs: (JsonNode | null) seq) =
        [ for v in List.ofSeq vs do
            match v with
            | null -> ()
            | v ->
                yield (parent, v)
                yield! nodes v ]
    match node with
    | :? JsonObject as o -> children o (o |> Seq.map (fun kv -> kv.Value))
    | :? JsonArray as a -> children a a
    | _ -> []

let private replaceNode (parent: JsonNode) (child: JsonNode) (replacement: JsonNode | null) =
    match parent with
    | :? JsonObject as o ->
        let key = (o |> Seq.find (fun kv -> obj.ReferenceEquals(kv.Value, child))).Key
        o.[key] <- replacement
    | :? JsonArray as a ->
        let k = Seq.findIndex (fun v -> obj.ReferenceEquals(v, child)) a
        a.[k] <- replacement
    | _ -> ()

let private reparsed (text: string) (change: JsonNode -> unit) =
    // An earlier damage may have made the text something JsonNode cannot hold (not JSON, or a
    // duplicated field): then this damage has nothing to work on.
    try
        let root = nonNull (JsonNode.Parse text)
        change root
        root.ToJsonString()
    with :? System.Text.Json.JsonException | :? ArgumentException | :? InvalidOperationException -> text

let private applyDamage (text: string) (d: Damage) : string =
    let n = max 1 text.Length
    match d with
    | Truncate at -> text.Substring(0, at % n)
    | FlipChar(at, c) -> if text.Length = 0 then string c else text.Remove(at % n, 1).Insert(at % n, string c)
    | DuplicateLine pick ->
        let lines = text.Split('\n')
        let named = lines |> Array.indexed |> Array.filter (fun (_, l) -> l.Contains "\":") |> Array.map fst
        if named.Length = 0 then text
        else
            let k = named.[pick % named.Length]
            String.Join("\n", Array.insertAt k lines.[k] lines)
    | DeleteField pick ->
        reparsed text (fun root ->
            let objects = (root, root) :: nodes root |> List.map snd |> List.choose (function :? JsonObject as o when o.Count > 0 -> Some o | _ -> None)
            if not objects.IsEmpty then
                let o = objects.[pick % objects.Length]
                let key = (Seq.item (pick % o.Count) o).Key
                o.Remove key |> ignore)
    | SwapType(pick, kind) ->
        reparsed text (fun root ->
            let all = nodes root
            if not all.IsEmpty then
                let parent, child = all.[pick % all.Length]
                let replacement : JsonNode | null =
                    match kind with
                    | 0 -> JsonValue.Create "x"
                    | 1 -> JsonValue.Create 1
                    | 2 -> JsonValue.Create true
                    | 3 -> null
                    | 4 -> JsonArray()
                    | _ -> JsonObject()
                replaceNode parent child replacement)
    | HugeNumber(pick, kind) ->
        let numbers = Regex.Matches(text, @"-?\d+(\.\d+)?([eE][-+]?\d+)?")
        if numbers.Count = 0 then text
        else
            let m = numbers.[pick % numbers.Count]
            let huge = [| "1e999"; "-1e400"; "1" + String('0', 400); "1e-400"; "123456789012345678901234567890" |].[kind]
            text.Remove(m.Index, m.Length).Insert(m.Index, huge)

let private validCheckpoint (s: Shape) : Checkpoint =
    let spec = (Experiments.tryFind "timestep-window").Value
    let run = RunSettings.ForExperiment(spec.Id, s.Seed, 5, min s.H 2, false, 0.001, 1)
    let prepared = CheckpointFile.prepare run
    { Run = run; Input = Experiments.inputOf spec; State = prepared.Start; Save = "m.json" }

/// An outcome is clean: a model that validates and writes again, or one short line.
let private clean (r: Result<'T, string>) (check: 'T -> unit) =
    match r with
    | Ok v -> check v
    | Error e ->
        Assert.False(String.IsNullOrWhiteSpace e, "the error is empty")
        Assert.False(e.Contains '\n', sprintf "the error spans lines: %s" e)
        Assert.True(e.Length < 400, sprintf "the error is %d characters long: %s" e.Length e)

[<global.FsCheck.Xunit.Property(Arbitrary = [| typeof<Arbitraries>; typeof<DamageArbitraries> |], MaxTest = 2000, QuietOnSuccess = true)>]
let ``a damaged file loads as a valid model or is refused with one clean line, never an exception`` (c: DamageCase) =
    if c.Checkpoint then
        let text = CheckpointFile.serialize (validCheckpoint c.Shape)
        let damaged = c.Damages |> List.fold applyDamage text
        clean (CheckpointFile.parse damaged) (fun ck -> CheckpointFile.serialize ck |> ignore; CheckpointFile.resume ck |> ignore)
        // Most damages now stop at the checksum; sealed again, the same damage must reach the parser behind it.
        let resealed = try Some(CheckpointFile.seal damaged) with :? ArgumentException -> None
        resealed |> Option.iter (fun t ->
            clean (CheckpointFile.parse t) (fun ck -> CheckpointFile.serialize ck |> ignore; CheckpointFile.resume ck |> ignore))
    else
        let text = ModelFile.serialize (modelFor { c.Shape with T = min c.Shape.T 3 })
        let damaged = c.Damages |> List.fold applyDamage text
        clean (ModelFile.parse damaged) (fun m -> Parameters.validate m.Parameters |> ignore; ModelFile.serialize m |> ignore)

/// The damages the issue lists, each with the words its error must contain.
[<Theory>]
[<InlineData("", "the file is empty")>]
[<InlineData("   \n", "the file is empty")>]
[<InlineData("hello", "not valid JSON at line 1")>]
[<InlineData("[1, 2]", "the file: expected an object, found an array of 2 items")>]
[<InlineData("{\"format\": \"alphabet-lstm-checkpoint\"}", "format: expected \"alphabet-lstm-model\", found the string \"alphabet-lstm-checkpoint\"")>]
[<InlineData("{\"version\": 1}", "format: missing")>]
[<InlineData("{\"format\": \"alphabet-lstm-model\", \"version\": 5}", "version: expected 1 to 4, found 5: the file is from a newer alphabet-lstm")>]
[<InlineData("{\"format\": \"alphabet-lstm-model\", \"version\": \"1\"}", "version: expected a whole number from 1 to 4, found the string \"1\"")>]
let ``a file that is not a model names what is wrong`` (text: string) (expected: string) =
    match ModelFile.parse text with
    | Ok _ -> failwith "loaded"
    | Error e -> Assert.Contains(expected, e)

let private tinyText () =
    let p = (build { I = 1; H = 1; V = V; B = 1; T = 1; Seed = 3L }).Parameters
    ModelFile.serialize { Vocabulary = Vocabulary.Alphabet; Input = { TimeSteps = 1; Features = 1; Encoding = SymbolEncoding.Index; Masked = false; PrePadded = false; Reading = Reading.Window; Targets = Targets.Last }; Parameters = p; Precision = Precision.Float64 }

let private refusedWith (expected: string) (text: string) =
    match ModelFile.parse text with
    | Ok _ -> failwithf "loaded a file that should be refused with %s" expected
    | Error e -> Assert.Contains(expected, e)

[<Fact>]
let ``a truncated model file is refused as not JSON`` () =
    let t = tinyText ()
    refusedWith "not valid JSON" (t.Substring(0, t.Length / 2))

[<Fact>]
let ``a recurrent kernel of the wrong shape names the field, the expected and the found count`` () =
    let root = (nonNull (JsonNode.Parse(tinyText ()))).AsObject()
    (nonNull (nonNull (nonNull root.["lstm"]).["recurrentKernel"]).[0]).AsArray().RemoveAt 0
    refusedWith "lstm.recurrentKernel[0]: expected 4 numbers (H × 4H with H = 1), found 3" (root.ToJsonString())

[<Fact>]
let ``a kernel whose rows disagree with input.features is refused`` () =
    refusedWith "input.features: expected 1 (the rows of lstm.kernel), found 2" (tinyText().Replace("\"features\": 1", "\"features\": 2"))

[<Fact>]
let ``NaN and infinite weights are refused, as Python writes them and as huge numbers`` () =
    let t = tinyText ()
    let first = Regex.Match(t, @"""bias"": \[(-?[0-9.Ee+-]+)")
    let at = first.Groups.[1]
    let put (s: string) = t.Remove(at.Index, at.Length).Insert(at.Index, s)
    refusedWith "found NaN, but every number must be finite" (put "NaN")
    refusedWith "found Infinity, but every number must be finite" (put "Infinity")
    refusedWith "lstm.bias[0]: expected a finite number, found 1e999, too large for a 64-bit float" (put "1e999")
    refusedWith "lstm.bias[0]: expected a number, found the string \"NaN\"" (put "\"NaN\"")

[<Fact>]
let ``a duplicated field is refused rather than guessed`` () =
    refusedWith "lstm.units: the field \"units\" appears twice" (tinyText().Replace("\"units\": 1,", "\"units\": 1, \"units\": 2,"))

/// Found by the mutation property on CI: a 400-digit number pasted into the encoding string
/// came back whole inside the error. Strings from the file are quoted cut to 40 characters.
[<Fact>]
let ``a huge string in the file gives a short error that still names the field`` () =
    let huge = String('7', 400)
    let check (text: string) (field: string) =
        match ModelFile.parse text with
        | Ok _ -> failwith "loaded"
        | Error e ->
            Assert.StartsWith(field + ": ", e)
            Assert.Contains("...", e)
            Assert.True(e.Length < 120, sprintf "the error is %d characters long: %s" e.Length e)
    let t = tinyText ()
    check (t.Replace("\"index\"", "\"index/" + huge + "\"")) "input.encoding"
    check (t.Replace("\"A\", \"B\"", "\"" + huge + "\", \"" + huge + "\"")) "vocabulary"
    check (t.Replace("\"alphabet-lstm-model\"", "\"" + huge + "\"")) "format"
    let window = { ok (ModelFile.parse t) with Input = { TimeSteps = 3; Features = 1; Encoding = SymbolEncoding.Index; Masked = false; PrePadded = false; Reading = Reading.Window; Targets = Targets.Last } }
    let err = match ModelFile.encodeSymbols window (Array.create 400 "A") with
              | Error e -> e | Ok _ -> failwith "accepted"
    Assert.True(err.Length < 160, err)

[<Fact>]
let ``a dense layer with other than one class per symbol of the vocabulary is refused`` () =
    refusedWith "dense.units: expected 26 (one class per symbol of the vocabulary), found 3" (tinyText().Replace("\"units\": 26", "\"units\": 3"))

// ---- letters and raw inputs -------------------------------------------------------------------

[<Fact>]
let ``letters outside the alphabet and windows of the wrong length are refused`` () =
    let tiny = ok (ModelFile.parse (tinyText ()))
    let window = { tiny with Input = { TimeSteps = 3; Features = 1; Encoding = SymbolEncoding.Index; Masked = false; PrePadded = false; Reading = Reading.Window; Targets = Targets.Last } }
    let err r = match r with Error (e: string) -> e | Ok _ -> failwith "accepted"
    let encode m (text: string) = ModelFile.encodeSymbols m (Vocabulary.Split text)
    Assert.Equal("\"b\" (position 2 of \"AbC\") is not a letter of the alphabet A..Z", err (encode window "AbC"))
    Assert.Equal("the model reads windows of 3 symbols (3 time steps × 1 per step), found 2 in \"AB\"", err (encode window "AB"))
    let padded = { window with Input = { window.Input with PrePadded = true; Masked = true } }
    Assert.Contains("reads 1 to 3 symbols", err (encode padded "ABCD"))
    match encode padded "BC" with
    | Ok { Inputs = steps; Masking = PrePadded lengths } ->
        Assert.Equal<float>([| 0.0; 1.0 / 26.0; 2.0 / 26.0 |], steps |> Array.map (fun m -> m.[0, 0]))
        Assert.Equal<int>([| 2 |], lengths)
    | other -> failwithf "unexpected %A" other

[<Fact>]
let ``raw inputs of the wrong shape name the sample, the step and the expected count`` () =
    let input = { TimeSteps = 2; Features = 1; Encoding = SymbolEncoding.Index; Masked = false; PrePadded = false; Reading = Reading.Window; Targets = Targets.Last }
    let err text = match PredictionFiles.parseInputs input text with Error e -> e | Ok _ -> failwith "accepted"
    Assert.Equal("inputs[1]: expected 2 time steps (the model's input.timeSteps), found 1", err "[[[0.1],[0.2]], [[0.3]]]")
    Assert.Equal("inputs[0][1]: expected 1 features (the model's input.features), found 2", err "[[[0.1],[0.2, 0.3]]]")
    Assert.Equal("inputs: expected at least one sample, found an empty array", err "[]")
    Assert.Equal("state.h: expected 2 rows (batch 2 × units 1, to match the inputs and the model), found 1",
                 match PredictionFiles.parseState 2 1 1 "{\"h\": [[0.0]], \"c\": [[0.0],[0.0]]}" with Error e -> e | Ok _ -> "accepted")

[<Fact>]
let ``a masked model treats leading all-zero steps of raw inputs as padding`` () =
    let input = { TimeSteps = 3; Features = 1; Encoding = SymbolEncoding.Index; Masked = true; PrePadded = true; Reading = Reading.Window; Targets = Targets.Last }
    match PredictionFiles.parseInputs input "[[[0],[0],[0.5]], [[0.1],[0],[0.2]], [[0],[0],[0]]]" with
    | Ok { Masking = PrePadded lengths } -> Assert.Equal<int>([| 1; 3; 0 |], lengths)
    | other -> failwithf "unexpected %A" other

// ---- checkpoints --------------------------------------------------------------------------------

let private sameState (a: TrainingState) (b: TrainingState) =
    sameParameters a.Parameters b.Parameters
    sameParameters a.Optimizer.M b.Optimizer.M
    sameParameters a.Optimizer.V b.Optimizer.V
    Assert.Equal(a.Optimizer.Step, b.Optimizer.Step)
    Assert.Equal(a.Rng, b.Rng)
    Assert.Equal(a.Epoch, b.Epoch)
    sameBits "carried h" a.Carried.H b.Carried.H
    sameBits "carried c" a.Carried.C b.Carried.C

[<LstmProperty>]
let ``a checkpoint reads back bit for bit: parameters, moments, step, generator, epoch and carried state`` (s: Shape) (carry: bool) =
    let id = Experiments.ids.[int (s.Seed % int64 Experiments.ids.Length)]
    let spec = (Experiments.tryFind id).Value
    let run = RunSettings.ForExperiment(id, s.Seed, 10, s.H, s.Seed % 2L = 0L, 0.01, s.T)
    let input = Experiments.inputOf (spec.WithMasked run.Masked)
    let p = awkwardParameters input.Features s.H s.Seed
    let positive = Parameters.map abs (awkwardParameters input.Features s.H (s.Seed + 1L))
    let state =
        { Parameters = p
          Optimizer = { Step = s.B * 7; M = awkwardParameters input.Features s.H (s.Seed + 2L); V = positive }
          Rng = { State = UInt64.MaxValue - uint64 s.Seed }
          Epoch = s.T
          Carried =
            if carry then { H = (build { s with B = spec.BatchSize }).Initial.H; C = (build { s with B = spec.BatchSize; Seed = s.Seed + 1L }).Initial.C }
            else LstmState.Zeros(spec.BatchSize, s.H) }
    let c = { Run = run; Input = input; State = state; Save = "/some/where/model \"1\".json" }
    let text = CheckpointFile.serialize c
    let back = ok (CheckpointFile.parse text)
    Assert.Equal(run, back.Run)
    Assert.Equal(c.Save, back.Save)
    Assert.Equal(input, back.Input)
    sameState state back.State
    Assert.Equal(text, CheckpointFile.serialize back)

[<Fact>]
let ``training resumed from a checkpoint text ends bit-identical to the unbroken run`` () =
    let run = RunSettings.ForExperiment("variable-length", 5L, 3, 4, true, 0.001, 1)
    let prepared = CheckpointFile.prepare run
    let data = { prepared.Data with Inputs = prepared.Data.Inputs |> Array.map (fun m -> m.SubMatrix(0, 60, 0, 1)) }
    let data = { data with Targets = data.Targets.SubMatrix(0, 60, 0, V); Lengths = data.Lengths.[0..59]; Patterns = data.Patterns.[0..59] }
    let unbroken = Training.train prepared.Config data prepared.Start
    let afterOne = Training.train { prepared.Config with Epochs = 1 } data prepared.Start
    let text = CheckpointFile.serialize { Run = run; Input = Experiments.inputOf prepared.Spec; State = afterOne; Save = "m.json" }
    let resumed = CheckpointFile.resume (ok (CheckpointFile.parse text))
    Assert.Equal(1, resumed.Start.Epoch)
    let finished = Training.train resumed.Config data resumed.Start
    sameState unbroken finished

[<Fact>]
let ``a checkpoint for an unknown experiment or a future epoch is refused`` () =
    let c = validCheckpoint { I = 1; H = 1; V = V; B = 1; T = 1; Seed = 1L }
    let text = CheckpointFile.serialize c
    let err (t: string) = match CheckpointFile.parse (CheckpointFile.seal t) with Error e -> e | Ok _ -> failwith "accepted"
    Assert.StartsWith("run.experiment: unknown experiment \"nope\"", err (text.Replace("\"timestep-window\"", "\"nope\"")))
    Assert.Equal("epoch: expected a whole number from 0 to 5, found the number 6", err (text.Replace("\"epoch\": 0", "\"epoch\": 6")))

[<Fact>]
let ``a checkpoint whose content no longer matches its sha256 is refused, and sealing it again is accepted`` () =
    let c = validCheckpoint { I = 1; H = 1; V = V; B = 1; T = 1; Seed = 1L }
    let text = CheckpointFile.serialize c
    let err (t: string) = match CheckpointFile.parse t with Error e -> e | Ok _ -> failwith "accepted"
    // An edited seed or step count would silently give another model: refused, on one line.
    for edited in [ text.Replace("\"seed\": 1,", "\"seed\": 2,"); text.Replace("\"step\": 0", "\"step\": 1") ] do
        Assert.NotEqual<string>(text, edited)
        let e = err edited
        Assert.StartsWith("sha256: the checkpoint's content does not match its checksum", e)
        Assert.False(e.Contains '\n', e)
        ok (CheckpointFile.parse (CheckpointFile.seal edited)) |> ignore
    let lines = text.Split('\n')
    Assert.Equal(1, lines |> Array.filter (fun l -> l.StartsWith("  \"sha256\": \"", StringComparison.Ordinal)) |> Array.length)
    let without = lines |> Array.filter (fun l -> not (l.StartsWith("  \"sha256\"", StringComparison.Ordinal))) |> String.concat "\n"
    Assert.StartsWith("sha256: missing", err without)
    Assert.Equal(text, CheckpointFile.seal text)
    Assert.StartsWith("format: expected \"alphabet-lstm-checkpoint\"", err (ModelFile.serialize (CheckpointFile.model c)))

[<Fact>]
let ``a misspelt literal is one line even though the JSON reader quotes the rest of the file`` () =
    // Found by the damage property: System.Text.Json quoted "nule\n}" and everything after it.
    match ModelFile.parse ("{\n  \"format\": nule\n}\n" + String('x', 500)) with
    | Ok _ -> failwith "loaded"
    | Error e ->
        Assert.False(e.Contains '\n', e)
        Assert.StartsWith("not valid JSON at line 2, column 16: 'nule", e)
        Assert.True(e.Length < 200, e)

/// The names written once: every encoding and targets choice reads back from its own name, the text
/// encodings are one-hot and index, and any other string (a case or a space off) is no choice.
[<Fact>]
let ``Encoding and targets names parse back to their choice and nothing else parses`` () =
    for e in [ SymbolEncoding.Index; SymbolEncoding.OneHot; SymbolEncoding.Features ] do
        Assert.Equal(Nullable e, ModelFile.parseEncoding (ModelFile.encodingName e))
    for t in [ Targets.Every; Targets.Last ] do
        Assert.Equal(Nullable t, ModelFile.parseTargets (ModelFile.targetsName t))
    Assert.Equal<string[]>([| "one-hot"; "index" |], ModelFile.textEncodingNames)
    Assert.Equal<string[]>([| "every"; "last" |], ModelFile.targetsNames)
    for other in [ ""; "One-hot"; "onehot"; " index"; "EVERY"; "all" ] do
        Assert.False(ModelFile.parseEncoding(other).HasValue, other)
        Assert.False(ModelFile.parseTargets(other).HasValue, other)

/// The one learning-rate rule: positive and finite; zero, negatives, NaN and infinities are refused.
[<Fact>]
let ``A learning rate is valid exactly when it is positive and finite`` () =
    for lr in [ Double.Epsilon; 1e-300; 0.001; 1.0; 1e300 ] do Assert.True(Adam.isValidLearningRate lr, string lr)
    for lr in [ 0.0; -0.0; -0.001; Double.NaN; Double.PositiveInfinity; Double.NegativeInfinity ] do
        Assert.False(Adam.isValidLearningRate lr, string lr)
