/// The model file: a trained model as versioned JSON in Keras' weight layout, so weights trained in
/// Keras or PyTorch load unchanged (README "Model files"). Version 2, which this program writes:
///
///     { "format": "alphabet-lstm-model", "version": 2,
///       "vocabulary": ["A", "B", …],
///       "input": { "timeSteps": T, "features": I, "encoding": "index" | "one-hot" | "features",
///                  "masked": bool, "padding": "none" | "pre", "reading": "window" | "stream" },
///       "lstm":  { "units": H, "kernel": [I][4H], "recurrentKernel": [H][4H], "bias": [4H] },
///       "dense": { "units": V, "kernel": [H][V], "bias": [V] } }
///
/// Version 3 adds "targets": "every" to "input" for a model trained with a target at every step, and
/// a stack of N layers: "lstm" then also holds "layers": N and "upper", the layers above the first,
/// bottom to top, each { "kernel": [H][4H], "recurrentKernel": [H][4H], "bias": [4H] } (the first
/// layer stays in "lstm"'s own fields; the dense head reads the top layer's h).
///
/// Version 4 adds "precision": "float32" right after "version" for a float32 model (every weight a
/// float32 value, written as the shortest text that reads back as that float32 and read with float32's
/// own parser, so each one round-trips bit for bit). Only float32 models are written as version 4, so
/// a reader that predates float32 refuses them rather than reading them as float64; a float64 model
/// is written exactly as before.
///
/// Version 1 (the alphabet only: "alphabet": "ABC…Z" and "encoding": "index/26") still loads, as the
/// alphabet vocabulary with the index encoding. "reading" says how the model was trained to read
/// (absent means "window"): a window model predicts from one window, read from the zero state; a
/// stream model (trained on a text cut into streams, the state carried from chunk to chunk) reads
/// any number of symbols one per step, carrying its state. Gate order along 4H is i, f, c, o (Parameters.fs).
/// Numbers are written with round-trip formatting and read with a correctly rounded parser, so a
/// file reads back bit for bit. Parsing never throws from F# (`parse` returns Result); the C# members
/// `SavedModel.Parse`/`TryParse` give the same one-line message. Pure: strings in, values out.
namespace AlphabetLstm.Core

open System
open System.Collections.Generic
open System.Runtime.InteropServices
open System.Text.Json
open MathNet.Numerics.LinearAlgebra

/// How a model was trained to read a text: `Window`, one window of symbols per prediction, each read
/// from the zero state (the default); `Stream`, a stream of symbols, one per step, the state carried
/// on (trained statefully on chunks of T).
type Reading =
    /// One window of symbols per prediction, read from the zero state.
    | Window = 0
    /// A stream of symbols, one per step, the state carried on.
    | Stream = 1

/// How a model reads its input: T steps of I features each, symbols encoded as `Encoding` says.
type InputSpec =
    { /// T, the number of time steps per sample.
      TimeSteps: int
      /// I, the number of features per step.
      Features: int
      /// How a symbol becomes features (Features: the caller gives numbers).
      Encoding: SymbolEncoding
      /// Whether leading padded steps leave the state unchanged.
      Masked: bool
      /// Whether shorter sequences are pre-padded with zeros to T steps (the variable-length model);
      /// otherwise a sequence must fill the window exactly.
      PrePadded: bool
      /// A window model or a stream model ("reading" in the file; Window when absent).
      Reading: Reading
      /// Trained with a target after the last step only, or after every step ("targets" in the file,
      /// version 3; Last when absent).
      Targets: Targets }

    /// How a model reads T steps of I features: not masked, not pre-padded, a window model unless told.
    static member Create(timeSteps: int, features: int, encoding: SymbolEncoding,
                         [<Optional; DefaultParameterValue(false)>] masked: bool,
                         [<Optional; DefaultParameterValue(false)>] prePadded: bool,
                         [<Optional; DefaultParameterValue(Reading.Window)>] reading: Reading,
                         [<Optional; DefaultParameterValue(Targets.Last)>] targets: Targets) : InputSpec =
        { TimeSteps = timeSteps; Features = features; Encoding = encoding; Masked = masked; PrePadded = prePadded; Reading = reading; Targets = targets }

/// A model as a file holds it: its vocabulary (the classes it predicts, and the symbols it reads),
/// how it reads its input, and its weights.
type SavedModel =
    { /// The symbols the model reads and predicts, one class per symbol.
      Vocabulary: Vocabulary
      /// How the model reads its input.
      Input: InputSpec
      /// The weights, in Keras' layout.
      Parameters: Parameters
      /// The number type the model computes in; a Float32 model's every weight is a float32 value.
      Precision: Precision }

    /// How many symbols one input step holds: I / (features per symbol); 0 for the Features encoding.
    member m.SymbolsPerStep =
        if m.Input.Encoding = SymbolEncoding.Features then 0 else m.Input.Features / m.Vocabulary.FeaturesPerSymbol m.Input.Encoding
    /// The number of symbols a full window holds (T × symbols per step); 0 for the Features encoding.
    member m.WindowLength = m.Input.TimeSteps * m.SymbolsPerStep

/// A sequence encoded for a model: T matrices (B, I), and which steps are padding.
type EncodedInput =
    { /// T matrices of shape (B, I).
      Inputs: Matrix<float>[]
      /// Which steps are padding.
      Masking: Masking }

/// The most likely next symbol after a sequence, with the probabilities and the state it ends in.
type NextSymbol =
    { /// The most likely symbol.
      Symbol: string
      /// Its probability.
      Probability: float
      /// Every symbol's probability, in vocabulary order (V).
      Probabilities: float[]
      /// The state after the sequence: pass it to the next call to carry on.
      Final: LstmState }

/// The model file for F#: serialize, and parse returning Result (C#: SavedModel's members).
module ModelFile =
    open JsonText

    /// The model file's format: "alphabet-lstm-model", version 4 (the newest read). A model is
    /// written in the oldest version that holds it: 4 for a float32 model, 3 for a model trained with
    /// a target at every step ("targets": "every") or a stack of layers, 2 otherwise, so files older
    /// readers can read stay readable by them.
    [<CompiledName("Format")>]
    let format = { Name = "alphabet-lstm-model"; Version = 4 }

    /// The version a model is written in: 3 with targets at every step, else 2.
    [<CompiledName("VersionOf")>]
    let versionOf (input: InputSpec) = if input.Targets = Targets.Every then 3 else 2

    /// The targets choices with their names, in the file, a checkpoint, ONNX metadata and on the command line.
    let internal targetsChoices = [ "every", Targets.Every; "last", Targets.Last ]

    /// The version a model is written in: 4 for float32, else 3 with targets at every step or more
    /// than one layer, else 2.
    let internal versionOfModel (m: SavedModel) =
        if m.Precision = Precision.Float32 then 4 elif m.Parameters.Layers > 1 then 3 else versionOf m.Input

    /// The precision choices with their names, in the file, a checkpoint, a run's JSON and on the command line.
    let internal precisionChoices = [ "float32", Precision.Float32; "float64", Precision.Float64 ]

    /// The name of a precision in files and on the command line: "float32" or "float64".
    [<CompiledName("PrecisionName")>]
    let precisionName (p: Precision) = if p = Precision.Float32 then "float32" else "float64"

    /// The names a precision is written as: "float32", "float64".
    [<CompiledName("PrecisionNames")>]
    let precisionNames : string[] = precisionChoices |> List.map fst |> Array.ofList

    /// The precision `name` names ("float32" or "float64", exactly), or null for any other string.
    [<CompiledName("ParsePrecision")>]
    let parsePrecision (name: string) : Nullable<Precision> =
        match precisionChoices |> List.tryFind (fst >> (=) name) with
        | Some(_, p) -> Nullable p
        | None -> Nullable()

    /// The largest finite float32, as the messages write it.
    let private float32Max = Single.MaxValue.ToString("R", Globalization.CultureInfo.InvariantCulture)

    /// Each value rounded to the nearest float32 (for Float32; Float64 returns the array itself).
    /// ArgumentException naming `name` when a finite value is too large for a float32.
    let internal roundValues (precision: Precision) (name: string) (values: float[]) : float[] =
        if precision = Precision.Float64 then values
        else
            values |> Array.mapi (fun k x ->
                let y = float32 x
                if Double.IsFinite x && not (Single.IsFinite y) then
                    invalidArg name (sprintf "%s holds %s at flat index %d, too large for a 32-bit float (at most %s)"
                                         name (x.ToString("R", Globalization.CultureInfo.InvariantCulture)) k float32Max)
                float y)

    /// The parameters in `precision`: for Float32 every value rounded to the nearest float32 (a value
    /// that already is one is unchanged, so rounding twice is rounding once); Float64 is the record
    /// itself. ArgumentException naming the block (prefixed by `owner`) for a value beyond float32's range.
    let internal roundTo (precision: Precision) (owner: string) (p: Parameters) : Parameters =
        if precision = Precision.Float64 then p
        else
            Array.map2 (fun name values -> roundValues precision (owner + name) values)
                       (Parameters.blockNamesOf p.Layers) (Parameters.storage p)
            |> Parameters.ofStorage p

    /// A matrix in `precision` (see roundTo); `name` names it in the message.
    let internal roundMatrix (precision: Precision) (name: string) (m: Matrix<float>) : Matrix<float> =
        if precision = Precision.Float64 then m
        else Matrix<float>.Build.Dense(m.RowCount, m.ColumnCount, roundValues precision name (m.ToColumnMajorArray()))

    /// The name of a targets choice in the file and on the command line: "last" or "every".
    [<CompiledName("TargetsName")>]
    let targetsName (t: Targets) = if t = Targets.Every then "every" else "last"

    /// The names a targets choice is written as: "every", "last".
    [<CompiledName("TargetsNames")>]
    let targetsNames : string[] = targetsChoices |> List.map fst |> Array.ofList

    /// The targets choice `name` names ("every" or "last"), or null for any other string.
    [<CompiledName("ParseTargets")>]
    let parseTargets (name: string) : Nullable<Targets> =
        match targetsChoices |> List.tryFind (fst >> (=) name) with
        | Some(_, t) -> Nullable t
        | None -> Nullable()

    /// The encodings' names in the file.
    let private encodingNames = [ SymbolEncoding.Index, "index"; SymbolEncoding.OneHot, "one-hot"; SymbolEncoding.Features, "features" ]

    /// The name of an encoding in the file: "index", "one-hot" or "features".
    [<CompiledName("EncodingName")>]
    let encodingName (e: SymbolEncoding) = encodingNames |> List.find (fst >> (=) e) |> snd

    /// The encodings a text run can use, by name: "one-hot" (the default), "index".
    [<CompiledName("TextEncodingNames")>]
    let textEncodingNames : string[] = [| encodingName SymbolEncoding.OneHot; encodingName SymbolEncoding.Index |]

    /// The encoding `name` names ("index", "one-hot" or "features"), or null for any other string.
    [<CompiledName("ParseEncoding")>]
    let parseEncoding (name: string) : Nullable<SymbolEncoding> =
        match encodingNames |> List.tryFind (snd >> (=) name) with
        | Some(e, _) -> Nullable e
        | None -> Nullable()

    /// The name of a reading in the file: "window" or "stream".
    [<CompiledName("ReadingName")>]
    let readingName (r: Reading) = if r = Reading.Stream then "stream" else "window"

    /// Checks that input, vocabulary and weights fit together; returns the one-line reason they do not.
    let internal mismatch (m: SavedModel) : string option =
        let input, p, V = m.Input, m.Parameters, m.Vocabulary.Count
        let per = if input.Encoding = SymbolEncoding.Features then 1 else m.Vocabulary.FeaturesPerSymbol input.Encoding
        if p.Classes <> V then Some(sprintf "dense.units: expected %d (one class per symbol of the vocabulary), found %d" V p.Classes)
        elif input.Features <> p.Inputs then Some(sprintf "input.features: expected %d (the rows of lstm.kernel), found %d" p.Inputs input.Features)
        elif input.Features % per <> 0 then
            Some(sprintf "input.features: expected a multiple of %d (one-hot over %d symbols), found %d" per V input.Features)
        elif input.PrePadded && input.Encoding <> SymbolEncoding.Features && input.Features <> per then
            Some(sprintf "input.features: expected %d with \"padding\": \"pre\" (one symbol per step), found %d" per input.Features)
        elif input.Targets = Targets.Every && (input.Encoding = SymbolEncoding.Features || input.PrePadded || input.Features <> per) then
            Some(sprintf "input.targets: a model with a target at every step reads one symbol per step (encoding index or one-hot, %d features, no padding), found encoding %s, %d features, padding %s"
                         per (encodingName input.Encoding) input.Features (if input.PrePadded then "pre" else "none"))
        elif input.Reading = Reading.Stream && (input.Encoding = SymbolEncoding.Features || input.PrePadded || input.Features <> per) then
            Some(sprintf "input.reading: a stream model reads one symbol per step (encoding index or one-hot, %d features, no padding), found encoding %s, %d features, padding %s"
                         per (encodingName input.Encoding) input.Features (if input.PrePadded then "pre" else "none"))
        else None

    // ---- writing ------------------------------------------------------------------------------

    let internal writeInput (sb: Text.StringBuilder) (input: InputSpec) =
        sb.AppendFormat(inv, "{{ \"timeSteps\": {0}, \"features\": {1}, \"encoding\": {2}, \"masked\": {3}, \"padding\": {4}, \"reading\": {5}",
                        input.TimeSteps, input.Features, str (encodingName input.Encoding), (if input.Masked then "true" else "false"),
                        str (if input.PrePadded then "pre" else "none"), str (readingName input.Reading)) |> ignore
        // "targets" exists from version 3 on; a last-target model is written as version 2 and omits it.
        if input.Targets = Targets.Every then sb.Append(", \"targets\": \"every\"") |> ignore
        sb.Append(" }") |> ignore

    /// The "lstm" and "dense" fields of a parameters-shaped record (weights, or Adam's moments).
    /// Every number is written in `precision`: a float32 record must hold float32 values (roundTo).
    let internal writeBlocks (precision: Precision) (sb: Text.StringBuilder) (indent: string) (p: Parameters) =
        let writeMatrix = writeMatrixIn precision
        let writeVector = writeVectorIn precision
        let i2 = indent + "  "
        sb.Append(indent).AppendFormat(inv, "\"lstm\": {{\n{0}\"units\": {1},\n{0}\"kernel\": ", i2, p.Units) |> ignore
        writeMatrix sb i2 p.Kernel
        sb.Append(",\n").Append(i2).Append("\"recurrentKernel\": ") |> ignore
        writeMatrix sb i2 p.RecurrentKernel
        sb.Append(",\n").Append(i2).Append("\"bias\": ") |> ignore
        writeVector sb p.Bias
        // A stack (version 3): the layers above the first, bottom to top.
        if p.Layers > 1 then
            let i3, i4 = i2 + "  ", i2 + "    "
            sb.Append(",\n").Append(i2).AppendFormat(inv, "\"layers\": {0},\n", p.Layers).Append(i2).Append("\"upper\": [\n") |> ignore
            p.Upper |> Array.iteri (fun k l ->
                sb.Append(i3).Append("{\n").Append(i4).Append("\"kernel\": ") |> ignore
                writeMatrix sb i4 l.Kernel
                sb.Append(",\n").Append(i4).Append("\"recurrentKernel\": ") |> ignore
                writeMatrix sb i4 l.RecurrentKernel
                sb.Append(",\n").Append(i4).Append("\"bias\": ") |> ignore
                writeVector sb l.Bias
                sb.Append('\n').Append(i3).Append(if k < p.Upper.Length - 1 then "},\n" else "}\n") |> ignore)
            sb.Append(i2).Append(']') |> ignore
        sb.Append('\n').Append(indent).Append("},\n") |> ignore
        sb.Append(indent).AppendFormat(inv, "\"dense\": {{\n{0}\"units\": {1},\n{0}\"kernel\": ", i2, p.Classes) |> ignore
        writeMatrix sb i2 p.DenseKernel
        sb.Append(",\n").Append(i2).Append("\"bias\": ") |> ignore
        writeVector sb p.DenseBias
        sb.Append('\n').Append(indent).Append('}') |> ignore

    let internal writeModel (sb: Text.StringBuilder) (indent: string) (m: SavedModel) =
        Parameters.validate m.Parameters |> ignore
        match mismatch m with
        | Some reason -> invalidArg "model" reason
        | None -> ()
        // A float32 model built as a record (not by Create) may hold values that are no float32: the
        // file holds each one rounded, as Create would have made it.
        let m = { m with Parameters = roundTo m.Precision "" m.Parameters }
        let i2 = indent + "  "
        sb.Append("{\n") |> ignore
        writeHeader sb i2 { format with Version = versionOfModel m }
        if m.Precision = Precision.Float32 then sb.Append(i2).Append("\"precision\": \"float32\",\n") |> ignore
        sb.Append(i2).Append("\"vocabulary\": [") |> ignore
        m.Vocabulary.Symbols |> Seq.iteri (fun k s -> sb.Append(if k > 0 then ", " else "").Append(strReadable s) |> ignore)
        sb.Append("],\n").Append(i2).Append("\"input\": ") |> ignore
        writeInput sb m.Input
        sb.Append(",\n") |> ignore
        writeBlocks m.Precision sb i2 m.Parameters
        sb.Append('\n').Append(indent).Append('}') |> ignore

    /// The model as JSON text (one matrix row per line). Raises ArgumentException if the weights
    /// are not finite or the shapes, vocabulary and input disagree: a file that cannot be read back
    /// is never written.
    let internal serialize (model: SavedModel) : string =
        let sb = Text.StringBuilder()
        writeModel sb "" model
        sb.Append('\n').ToString()

    // ---- using a model: symbols in, the next symbol out --------------------------------------

    /// Encodes symbols for this model (batch 1). A window model needs exactly its window; a
    /// pre-padded model takes 1 .. T symbols and pads the front with zero steps.
    let internal encodeSymbols (model: SavedModel) (symbols: IReadOnlyList<string>) : Result<EncodedInput, string> =
        let input, vocabulary = model.Input, model.Vocabulary
        let shown () = quote (vocabulary.Join symbols)
        let bad = Seq.init symbols.Count id |> Seq.tryFind (fun k -> not (vocabulary.Contains symbols.[k]))
        match bad with
        | _ when input.Encoding = SymbolEncoding.Features ->
            Error "the model reads numbers the caller supplies (encoding \"features\"), not symbols: give it the numbers themselves"
        | Some k ->
            let what = if vocabulary.IsAlphabet then "a letter of the alphabet A..Z" else sprintf "in %s" (vocabulary.Describe())
            Error(sprintf "%s (position %d of %s) is not %s" (Vocabulary.Quote symbols.[k]) (k + 1) (shown ()) what)
        | None when input.PrePadded ->
            if symbols.Count < 1 || symbols.Count > input.TimeSteps then
                Error(sprintf "the model reads 1 to %d symbols (pre-padded to %d steps), found %d in %s"
                          input.TimeSteps input.TimeSteps symbols.Count (shown ()))
            else
                let steps = Datasets.encodePrePadded vocabulary input.Encoding input.TimeSteps symbols
                Ok { Inputs = steps; Masking = (if input.Masked then PrePadded [| symbols.Count |] else Unmasked) }
        | None when input.Reading = Reading.Stream ->
            if symbols.Count < 1 then Error "the model reads a stream of symbols, found none"
            else Ok { Inputs = Datasets.encodeWindow vocabulary input.Encoding Layout.TimeSteps symbols; Masking = Unmasked }
        | None when input.TimeSteps > 1 && model.SymbolsPerStep > 1 ->
            Error(sprintf "the model reads %d steps of %d symbols, which is no window of symbols: give it the numbers themselves"
                      input.TimeSteps model.SymbolsPerStep)
        | None when symbols.Count <> model.WindowLength ->
            Error(sprintf "the model reads windows of %d symbols (%d time steps × %d per step), found %d in %s"
                      model.WindowLength input.TimeSteps model.SymbolsPerStep symbols.Count (shown ()))
        | None ->
            let layout = if input.TimeSteps = 1 then Layout.Features else Layout.TimeSteps
            Ok { Inputs = Datasets.encodeWindow vocabulary input.Encoding layout symbols; Masking = Unmasked }

    /// The most likely next symbol after `symbols`, from `state` (batch 1), and the state after them.
    let internal predictNext (model: SavedModel) (state: LstmState) (symbols: IReadOnlyList<string>) : Result<NextSymbol, string> =
        encodeSymbols model symbols
        |> Result.map (fun e ->
            let p = Model.predictIn model.Parameters state e.Inputs e.Masking model.Precision
            let row = p.Probabilities.Row(0).ToArray()
            let k = p.Probabilities.Row(0).MaximumIndex()
            { Symbol = model.Vocabulary.[k]; Probability = row.[k]; Probabilities = row; Final = p.Final })

    // ---- reading ------------------------------------------------------------------------------

    let private readInput (path: string) (fileVersion: int) (e: JsonElement) : InputSpec =
        let d = fields path e
        let p name = join path name
        let ts = integer (p "timeSteps") (field path d "timeSteps" "a whole number of time steps") 1L (int64 Limits.maxTimeSteps)
        let fs = integer (p "features") (field path d "features" "a whole number of features") 1L (int64 Limits.maxFeatures)
        let encoding =
            let names = if fileVersion = 1 then [ SymbolEncoding.Index, "index/26" ] else encodingNames
            let expected = names |> List.map (snd >> str) |> String.concat " or "
            let enc = text (p "encoding") (field path d "encoding" expected)
            match names |> List.tryFind (snd >> (=) enc) with
            | Some(e, _) -> e
            | None -> fail (sprintf "%s: expected %s, found %s" (p "encoding") expected (quote enc))
        let masked = boolean (p "masked") (field path d "masked" "true or false")
        let padded = choice path d "padding" [ "none", false; "pre", true ] false
        let reading = choice path d "reading" [ "window", Reading.Window; "stream", Reading.Stream ] Reading.Window
        let targets =
            if fileVersion < 3 then
                if d.ContainsKey "targets" then fail (sprintf "%s: version %d files have no targets (it came in version 3)" (p "targets") fileVersion)
                Targets.Last
            else choice path d "targets" targetsChoices Targets.Last
        { TimeSteps = int ts; Features = int fs; Encoding = encoding; Masked = masked; PrePadded = padded; Reading = reading; Targets = targets }

    /// Reads the "lstm" and "dense" fields of `d` (an object at `path`). H and I come from the file
    /// (lstm.units and the kernel's rows) unless given (`like`); V is `classes` when given, else dense.units.
    /// Every number is read in `precision`.
    let internal readBlocks (precision: Precision) (path: string) (d: Dictionary<string, JsonElement>) (like: Parameters option) (classes: int option) : Parameters =
        let matrix = matrixIn precision
        let vector = vectorIn precision
        let lstmPath = join path "lstm"
        let lstm = fields lstmPath (field path d "lstm" "an object with units, kernel, recurrentKernel and bias")
        let unitsPath = join lstmPath "units"
        let H =
            let h = int (integer unitsPath (field lstmPath lstm "units" "the number of LSTM units H") 1L (int64 Limits.maxUnits))
            match like with
            | Some p when p.Units <> h -> fail (sprintf "%s: expected %d (the model's units), found %d" unitsPath p.Units h)
            | _ -> h
        let G = 4 * H
        let kernelRows = match like with Some p -> p.Inputs | None -> -1
        let kernel =
            matrix (join lstmPath "kernel") (field lstmPath lstm "kernel" "I rows of 4H numbers") kernelRows G
                   (sprintf "I × 4H with H = %d" H)
        let recurrent =
            matrix (join lstmPath "recurrentKernel") (field lstmPath lstm "recurrentKernel" "H rows of 4H numbers") H G
                   (sprintf "H × 4H with H = %d" H)
        let bias = vector (join lstmPath "bias") (field lstmPath lstm "bias" "4H numbers") G (sprintf "4H with H = %d" H)
        // A stack: "layers": N (1 when absent) and "upper", N − 1 layers of (H, 4H) kernels.
        let layersPath = join lstmPath "layers"
        let N =
            match lstm.TryGetValue "layers" with
            | true, e -> int (integer layersPath e 1L (int64 Parameters.MaxLayers))
            | _ -> 1
        match like with
        | Some p when p.Layers <> N -> fail (sprintf "%s: expected %d (the model's layers), found %d" layersPath p.Layers N)
        | _ -> ()
        let upperPath = join lstmPath "upper"
        let upper =
            match lstm.TryGetValue "upper" with
            | false, _ when N > 1 -> fail (sprintf "%s: missing, expected %d layers above the first (\"layers\": %d)" upperPath (N - 1) N)
            | false, _ -> Array.empty
            | true, e ->
                let xs = items upperPath e (sprintf "an array of %d layers" (N - 1))
                if xs.Length <> N - 1 then
                    fail (sprintf "%s: expected %d layers above the first (\"layers\": %d), found %d" upperPath (N - 1) N xs.Length)
                xs |> Array.mapi (fun k x ->
                    let lp = sprintf "%s[%d]" upperPath k
                    let l = fields lp x
                    { Kernel = matrix (join lp "kernel") (field lp l "kernel" "H rows of 4H numbers") H G (sprintf "H × 4H with H = %d" H)
                      RecurrentKernel = matrix (join lp "recurrentKernel") (field lp l "recurrentKernel" "H rows of 4H numbers") H G (sprintf "H × 4H with H = %d" H)
                      Bias = vector (join lp "bias") (field lp l "bias" "4H numbers") G (sprintf "4H with H = %d" H) })
        let densePath = join path "dense"
        let dense = fields densePath (field path d "dense" "an object with units, kernel and bias")
        let vPath = join densePath "units"
        let v = int (integer vPath (field densePath dense "units" "the number of classes V") 1L 1000000L)
        let V =
            match like, classes with
            | Some p, _ when p.Classes <> v -> fail (sprintf "%s: expected %d (the model's classes), found %d" vPath p.Classes v)
            | _, Some c when c <> v -> fail (sprintf "%s: expected %d (one class per symbol of the vocabulary), found %d" vPath c v)
            | _ -> v
        let denseKernel =
            matrix (join densePath "kernel") (field densePath dense "kernel" "H rows of V numbers") H V
                   (sprintf "H × V with H = %d, V = %d" H V)
        let denseBias = vector (join densePath "bias") (field densePath dense "bias" "V numbers") V (sprintf "V = %d" V)
        { Kernel = kernel; RecurrentKernel = recurrent; Bias = bias; DenseKernel = denseKernel; DenseBias = denseBias; Upper = upper }

    let private readVocabulary (path: string) (fileVersion: int) (d: Dictionary<string, JsonElement>) : Vocabulary =
        if fileVersion = 1 then
            let aPath = join path "alphabet"
            let a = text aPath (field path d "alphabet" (str Alphabet.Letters))
            if a <> Alphabet.Letters then fail (sprintf "%s: expected %s, found %s" aPath (str Alphabet.Letters) (quote a))
            Vocabulary.Alphabet
        else
            let vPath = join path "vocabulary"
            let xs = items vPath (field path d "vocabulary" "an array of at least 2 distinct symbols (strings)") "an array of distinct symbols (strings)"
            let symbols = xs |> Array.mapi (fun k x -> text (sprintf "%s[%d]" vPath k) x)
            try Vocabulary.Create symbols
            with :? ArgumentException as e ->
                fail (sprintf "%s: %s" vPath (Messages.WithoutParameter e.Message))

    let internal readModel (path: string) (e: JsonElement) : SavedModel =
        let d = fields path e
        let fileVersion = readHeader path d format
        let precision =
            if fileVersion < 4 then
                if d.ContainsKey "precision" then
                    fail (sprintf "%s: version %d files have no precision (it came in version 4)" (join path "precision") fileVersion)
                Precision.Float64
            else choice path d "precision" precisionChoices Precision.Float64
        let vocabulary = readVocabulary path fileVersion d
        let input = readInput (join path "input") fileVersion (field path d "input" "an object with timeSteps, features, encoding and masked")
        let p = readBlocks precision path d None (Some vocabulary.Count)
        if fileVersion < 3 && p.Layers > 1 then
            fail (sprintf "%s: version %d files hold one layer (stacks came in version 3), found %d" (join (join path "lstm") "layers") fileVersion p.Layers)
        let model = { Vocabulary = vocabulary; Input = input; Parameters = Parameters.validate p; Precision = precision }
        match mismatch model with
        | Some reason -> fail (if path = "" then reason else join path reason)
        | None -> model

    /// Reads a model file (version 1 to 4). Never throws: Error holds one line naming the field,
    /// what was expected and what was found.
    let internal parse (text: string) : Result<SavedModel, string> =
        run text (sprintf "\"format\": %s" (str format.Name)) (readModel "")

/// The model file from C#: `SavedModel.Parse(text)`, `SavedModel.TryParse(text, out model, out error)`,
/// `model.Serialize()`. The same functions as the ModelFile module.
type SavedModel with
    /// Reads a model file; throws FileFormatException with a one-line message naming the bad field.
    static member Parse(text: string) : SavedModel = ModelFile.parse text |> JsonText.orThrow (fun e -> FileFormatException e)
    /// Reads a model file; false with a one-line message naming the bad field when it is not one.
    static member TryParse(text: string, [<Out>] model: byref<SavedModel>, [<Out>] error: byref<string>) : bool =
        match ModelFile.parse text with
        | Ok m ->
            model <- m
            error <- ""
            true
        | Error e ->
            error <- e
            false
    /// The model file's text (version 2, 3 for targets at every step or a stack, 4 for float32).
    member m.Serialize() : string = ModelFile.serialize m
    /// A model from its vocabulary, how it reads its input and its weights, every shape checked here
    /// rather than later: ArgumentException with one line naming the mismatch (the classes against the
    /// vocabulary, the features against the kernel's rows or the encoding, a non-finite weight, …).
    /// A Float32 model holds each weight rounded to the nearest float32 (a float32 value stays as it is,
    /// so a float32 run's weights are kept bit for bit; a float64 model converts); a weight beyond
    /// float32's range is an ArgumentException naming its block.
    static member Create(vocabulary: Vocabulary, input: InputSpec, parameters: Parameters,
                         [<Optional; DefaultParameterValue(Precision.Float64)>] precision: Precision) : SavedModel =
        if isNull (box vocabulary) then nullArg "vocabulary"
        if isNull (box input) then nullArg "input"
        if isNull (box parameters) then nullArg "parameters"
        if input.TimeSteps < 1 then invalidArg "input" (sprintf "input.TimeSteps: expected at least 1, found %d" input.TimeSteps)
        if precision <> Precision.Float64 && precision <> Precision.Float32 then
            invalidArg "precision" (sprintf "precision: expected Float32 or Float64, found %d" (int precision))
        Parameters.validate parameters |> ignore
        let model = { Vocabulary = vocabulary; Input = input; Parameters = ModelFile.roundTo precision "" parameters; Precision = precision }
        match ModelFile.mismatch model with
        | Some reason -> invalidArg "parameters" reason
        | None -> model
    /// A model of what `data` holds, read with `encoding`: its vocabulary, its time steps and features,
    /// pre-padded when its samples are; masked when asked, a window model unless told. Every shape is
    /// checked as in Create(vocabulary, input, parameters).
    static member Create(data: Dataset, parameters: Parameters, encoding: SymbolEncoding,
                         [<Optional; DefaultParameterValue(false)>] masked: bool,
                         [<Optional; DefaultParameterValue(Reading.Window)>] reading: Reading,
                         [<Optional; DefaultParameterValue(Precision.Float64)>] precision: Precision) : SavedModel =
        if isNull (box data) then nullArg "data"
        SavedModel.Create(data.Vocabulary, InputSpec.Create(data.TimeSteps, data.Features, encoding, masked, data.IsPadded, reading), parameters, precision)
    /// The symbols encoded for this model; throws ArgumentException with a one-line message.
    member m.Encode(symbols: IReadOnlyList<string>) : EncodedInput =
        ModelFile.encodeSymbols m symbols |> JsonText.orThrow (fun e -> ArgumentException e)
    /// The most likely next symbol after `symbols`, read from `state`, and the state after them;
    /// throws ArgumentException with a one-line message for a symbol outside the vocabulary or a
    /// sequence of the wrong length.
    member m.PredictNext(state: LstmState, symbols: IReadOnlyList<string>) : NextSymbol =
        ModelFile.predictNext m state symbols |> JsonText.orThrow (fun e -> ArgumentException e)
