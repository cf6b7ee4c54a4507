/// The model file: a trained model as versioned JSON in Keras' weight layout, so weights trained in
/// Keras or PyTorch load unchanged (README "Model files"). Also the JSON of raw inputs, initial
/// states and predictions used by `predict --inputs`.
///
///     { "format": "alphabet-lstm-model", "version": 1, "alphabet": "ABC…Z",
///       "input": { "timeSteps": T, "features": I, "encoding": "index/26", "masked": bool, "padding": "none" | "pre" },
///       "lstm":  { "units": H, "kernel": [I][4H], "recurrentKernel": [H][4H], "bias": [4H] },
///       "dense": { "units": V, "kernel": [H][V], "bias": [V] } }
///
/// Gate order along 4H is i, f, c, o (Parameters.fs). Numbers are written with round-trip formatting
/// and read with a correctly rounded parser, so a file reads back bit for bit.
/// Parsing never throws: it returns the model or one line naming the field, what was expected and
/// what was found. This module is pure: it turns strings into values and back, it opens no file.
namespace AlphabetLstm.Core

open System
open System.Collections.Generic
open System.Globalization
open System.Text
open System.Text.Json
open System.Text.RegularExpressions
open MathNet.Numerics.LinearAlgebra

/// How a model reads letters: T steps of I features each, letters encoded as index / 26.
type InputSpec =
    { /// T, the number of time steps per sample.
      TimeSteps: int
      /// I, the number of features per step.
      Features: int
      /// Whether leading padded steps leave the state unchanged.
      Masked: bool
      /// Whether shorter sequences are pre-padded with 0.0 to T steps (the variable-length model);
      /// otherwise a sequence must fill the window exactly.
      PrePadded: bool }

    /// The number of letters a full window holds (T × I).
    member s.WindowLength = s.TimeSteps * s.Features

/// A model as a file holds it: how it reads its input, and its weights.
type SavedModel = { Input: InputSpec; Parameters: Parameters }

/// Raised inside the parsers only, and always caught there: the one-line description of a bad file.
exception internal InvalidJson of string

/// Reading and writing JSON values with paths in every error (internal helpers for the file formats).
module internal JsonText =
    let inv = CultureInfo.InvariantCulture

    let fail (text: string) : 'T = raise (InvalidJson text)

    let join (path: string) (name: string) = if path = "" then name else path + "." + name

    let clip (s: string) = if s.Length <= 40 then s else s.Substring(0, 37) + "..."

    /// A string from the file, quoted for an error and cut to 40 characters, so a huge value
    /// still gives a short one-line message.
    let quote (s: string) =
        let relaxed = JsonSerializerOptions(Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping)
        clip (JsonSerializer.Serialize(s, relaxed))

    /// What a JSON value is, in a few words: "a string \"x\"", "the number 1e999", "an array of 3 items".
    let describe (e: JsonElement) =
        match e.ValueKind with
        | JsonValueKind.Object -> "an object"
        | JsonValueKind.Array -> sprintf "an array of %d items" (e.GetArrayLength())
        | JsonValueKind.String -> sprintf "the string %s" (clip (e.GetRawText()))
        | JsonValueKind.Number -> sprintf "the number %s" (clip (e.GetRawText()))
        | JsonValueKind.True -> "true"
        | JsonValueKind.False -> "false"
        | _ -> "null"

    /// Parses a whole document, or fails with where and why it is not JSON.
    let parse (text: string | null) (expected: string) : JsonDocument =
        let text = match text with null -> "" | t -> t
        if text.Trim().Length = 0 then
            fail (sprintf "the file is empty: expected a JSON object with %s" expected)
        try
            JsonDocument.Parse(text, JsonDocumentOptions(MaxDepth = 16))
        with :? JsonException as e ->
            let line = if e.LineNumber.HasValue then e.LineNumber.Value + 1L else 0L
            let col = if e.BytePositionInLine.HasValue then e.BytePositionInLine.Value + 1L else 0L
            let reason =
                let m = e.Message
                let cut = m.IndexOf(" Path:", StringComparison.Ordinal)
                let m = if cut > 0 then m.Substring(0, cut) else m
                let cut = m.IndexOf(" LineNumber:", StringComparison.Ordinal)
                let m = (if cut > 0 then m.Substring(0, cut) else m).Trim()
                // The reader quotes a bad literal together with the rest of the text ("'nule\n}' is an
                // invalid JSON literal"): keep the start of the quote, and keep the reason on one line.
                let quoted = Regex.Match(m, @"^'(.*)'( is .*)$", RegexOptions.Singleline)
                let m =
                    if quoted.Success && quoted.Groups.[1].Length > 20 then
                        "'" + quoted.Groups.[1].Value.Substring(0, 20) + "...'" + quoted.Groups.[2].Value
                    else m
                let m = Regex.Replace(m, @"\s+", " ")
                if m.Length > 200 then m.Substring(0, 197) + "..." else m
            // Python's json module writes NaN and Infinity as bare words; say so plainly.
            let lines = text.Split('\n')
            let rest =
                if line >= 1L && int line <= lines.Length then
                    let l = lines.[int line - 1]
                    let c = int (min (col - 1L) (int64 l.Length)) |> max 0
                    l.Substring(c)
                else ""
            let rest = rest.TrimStart([| ' '; ':'; ','; '[' |])
            let starts (w: string) = rest.StartsWith(w, StringComparison.Ordinal)
            if starts "NaN" || starts "Infinity" || starts "-Infinity" then
                fail (sprintf "not valid JSON at line %d: found %s, but weights must be finite numbers (JSON has no NaN or Infinity)"
                          line (rest.Split([| ','; ']'; ' ' |]).[0]))
            else
                fail (sprintf "not valid JSON at line %d, column %d: %s" line col reason)

    /// The fields of an object; a duplicated field is an error (a reader would have to guess).
    let fields (path: string) (e: JsonElement) : Dictionary<string, JsonElement> =
        if e.ValueKind <> JsonValueKind.Object then
            fail (sprintf "%s: expected an object, found %s" (if path = "" then "the file" else path) (describe e))
        let d = Dictionary<string, JsonElement>(StringComparer.Ordinal)
        for p in e.EnumerateObject() do
            if d.ContainsKey p.Name then fail (sprintf "%s: the field %s appears twice" (clip (join path p.Name)) (quote p.Name))
            d.[p.Name] <- p.Value
        d

    let field (path: string) (d: Dictionary<string, JsonElement>) (name: string) (expected: string) : JsonElement =
        match d.TryGetValue name with
        | true, v -> v
        | _ -> fail (sprintf "%s: missing, expected %s" (join path name) expected)

    let number (path: string) (e: JsonElement) : float =
        if e.ValueKind <> JsonValueKind.Number then fail (sprintf "%s: expected a number, found %s" path (describe e))
        // Double.TryParse is correctly rounded, so "R"-formatted numbers read back bit for bit.
        match Double.TryParse(e.GetRawText(), NumberStyles.Float, inv) with
        | true, x when Double.IsFinite x -> x
        | _ -> fail (sprintf "%s: expected a finite number, found %s, too large for a 64-bit float" path (clip (e.GetRawText())))

    let integer (path: string) (e: JsonElement) (low: int64) (high: int64) : int64 =
        let bad () =
            fail (sprintf "%s: expected a whole number from %d to %d, found %s" path low high (describe e))
        if e.ValueKind <> JsonValueKind.Number then bad ()
        match e.TryGetInt64() with
        | true, v when v >= low && v <= high -> v
        | _ -> bad ()

    let boolean (path: string) (e: JsonElement) : bool =
        match e.ValueKind with
        | JsonValueKind.True -> true
        | JsonValueKind.False -> false
        | _ -> fail (sprintf "%s: expected true or false, found %s" path (describe e))

    let text (path: string) (e: JsonElement) : string =
        let found () = fail (sprintf "%s: expected a string, found %s" path (describe e))
        if e.ValueKind <> JsonValueKind.String then found ()
        else
            match e.GetString() with
            | NonNull s -> s
            | Null -> found ()

    let items (path: string) (e: JsonElement) (expected: string) : JsonElement[] =
        if e.ValueKind <> JsonValueKind.Array then fail (sprintf "%s: expected %s, found %s" path expected (describe e))
        e.EnumerateArray() |> Seq.toArray

    /// A vector of exactly `count` numbers.
    let vector (path: string) (e: JsonElement) (count: int) (what: string) : Vector<float> =
        let xs = items path e (sprintf "an array of %d numbers (%s)" count what)
        if xs.Length <> count then fail (sprintf "%s: expected %d numbers (%s), found %d" path count what xs.Length)
        Vector<float>.Build.Dense(Array.mapi (fun k x -> number (sprintf "%s[%d]" path k) x) xs)

    /// A matrix written as rows; `rows` < 0 accepts any positive number of rows.
    let matrix (path: string) (e: JsonElement) (rows: int) (cols: int) (what: string) : Matrix<float> =
        let rs = items path e (sprintf "an array of rows (%s)" what)
        if rows >= 0 && rs.Length <> rows then fail (sprintf "%s: expected %d rows (%s), found %d" path rows what rs.Length)
        if rs.Length = 0 then fail (sprintf "%s: expected at least one row (%s), found none" path what)
        let n = rs.Length
        let data = Array.zeroCreate (n * cols)
        for r in 0 .. n - 1 do
            let rowPath = sprintf "%s[%d]" path r
            let xs = items rowPath rs.[r] (sprintf "a row of %d numbers (%s)" cols what)
            if xs.Length <> cols then fail (sprintf "%s: expected %d numbers (%s), found %d" rowPath cols what xs.Length)
            for c in 0 .. cols - 1 do
                data.[c * n + r] <- number (sprintf "%s[%d]" rowPath c) xs.[c]
        Matrix<float>.Build.Dense(n, cols, data)

    // ---- writing ------------------------------------------------------------------------------

    /// Round-trip formatting: the shortest text that reads back as the same double.
    let num (x: float) = x.ToString("R", inv)

    let str (s: string) = JsonSerializer.Serialize s

    let writeVector (sb: StringBuilder) (v: Vector<float>) =
        sb.Append('[') |> ignore
        for k in 0 .. v.Count - 1 do
            if k > 0 then sb.Append(", ") |> ignore
            sb.Append(num v.[k]) |> ignore
        sb.Append(']') |> ignore

    /// A matrix as rows, one row per line at the given indent.
    let writeMatrix (sb: StringBuilder) (indent: string) (m: Matrix<float>) =
        sb.Append("[\n") |> ignore
        for r in 0 .. m.RowCount - 1 do
            sb.Append(indent).Append("  ") |> ignore
            writeVector sb (m.Row r)
            sb.Append(if r < m.RowCount - 1 then ",\n" else "\n") |> ignore
        sb.Append(indent).Append(']') |> ignore

    /// Runs a parser over a document, turning a bad file into Error.
    let run (text: string) (expected: string) (read: JsonElement -> 'T) : Result<'T, string> =
        try
            use doc = parse text expected
            Ok(read doc.RootElement)
        with InvalidJson message -> Error message

module ModelFile =
    open JsonText

    /// "alphabet-lstm-model".
    [<CompiledName("FormatName")>]
    let formatName = "alphabet-lstm-model"

    /// The version this program writes and the newest it reads.
    [<CompiledName("Version")>]
    let version = 1

    /// The only encoding: letter index / 26.
    [<CompiledName("Encoding")>]
    let encoding = "index/26"

    /// How an experiment's model reads its input (window layout, padding and masking).
    [<CompiledName("InputOf")>]
    let inputOf (spec: ExperimentSpec) : InputSpec =
        match spec.Data with
        | Window(n, Layout.Features) -> { TimeSteps = 1; Features = n; Masked = false; PrePadded = false }
        | Window(n, _) -> { TimeSteps = n; Features = 1; Masked = false; PrePadded = false }
        | VariableLength(_, maxLen) -> { TimeSteps = maxLen; Features = 1; Masked = spec.Masked; PrePadded = true }

    // ---- writing ------------------------------------------------------------------------------

    let internal writeInput (sb: StringBuilder) (input: InputSpec) =
        sb.AppendFormat(inv, "{{ \"timeSteps\": {0}, \"features\": {1}, \"encoding\": {2}, \"masked\": {3}, \"padding\": {4} }}",
                        input.TimeSteps, input.Features, str encoding, (if input.Masked then "true" else "false"),
                        str (if input.PrePadded then "pre" else "none")) |> ignore

    /// The "lstm" and "dense" fields of a parameters-shaped record (weights, or Adam's moments).
    let internal writeBlocks (sb: StringBuilder) (indent: string) (p: Parameters) =
        let i2 = indent + "  "
        sb.Append(indent).AppendFormat(inv, "\"lstm\": {{\n{0}\"units\": {1},\n{0}\"kernel\": ", i2, p.Units) |> ignore
        writeMatrix sb i2 p.Kernel
        sb.Append(",\n").Append(i2).Append("\"recurrentKernel\": ") |> ignore
        writeMatrix sb i2 p.RecurrentKernel
        sb.Append(",\n").Append(i2).Append("\"bias\": ") |> ignore
        writeVector sb p.Bias
        sb.Append('\n').Append(indent).Append("},\n") |> ignore
        sb.Append(indent).AppendFormat(inv, "\"dense\": {{\n{0}\"units\": {1},\n{0}\"kernel\": ", i2, p.Classes) |> ignore
        writeMatrix sb i2 p.DenseKernel
        sb.Append(",\n").Append(i2).Append("\"bias\": ") |> ignore
        writeVector sb p.DenseBias
        sb.Append('\n').Append(indent).Append('}') |> ignore

    let internal writeModel (sb: StringBuilder) (indent: string) (m: SavedModel) =
        Parameters.validate m.Parameters |> ignore
        let i2 = indent + "  "
        sb.Append("{\n") |> ignore
        sb.Append(i2).AppendFormat(inv, "\"format\": {0},\n", str formatName) |> ignore
        sb.Append(i2).AppendFormat(inv, "\"version\": {0},\n", version) |> ignore
        sb.Append(i2).AppendFormat(inv, "\"alphabet\": {0},\n", str Alphabet.Letters) |> ignore
        sb.Append(i2).Append("\"input\": ") |> ignore
        writeInput sb m.Input
        sb.Append(",\n") |> ignore
        writeBlocks sb i2 m.Parameters
        sb.Append('\n').Append(indent).Append('}') |> ignore

    /// The model as JSON text (one matrix row per line). Raises ArgumentException if the weights
    /// are not finite or their shapes disagree: a file that cannot be read back is never written.
    [<CompiledName("Serialize")>]
    let serialize (model: SavedModel) : string =
        let sb = StringBuilder()
        writeModel sb "" model
        sb.Append('\n').ToString()

    // ---- reading ------------------------------------------------------------------------------

    let internal readInput (path: string) (e: JsonElement) : InputSpec =
        let d = fields path e
        let ts = integer (join path "timeSteps") (field path d "timeSteps" "a whole number of time steps") 1L 100000L
        let fs = integer (join path "features") (field path d "features" "a whole number of features") 1L 100000L
        let enc = text (join path "encoding") (field path d "encoding" (str encoding))
        if enc <> encoding then fail (sprintf "%s: expected %s, found %s" (join path "encoding") (str encoding) (quote enc))
        let masked = boolean (join path "masked") (field path d "masked" "true or false")
        let padded =
            match d.TryGetValue "padding" with
            | false, _ -> false
            | true, v ->
                match text (join path "padding") v with
                | "none" -> false
                | "pre" -> true
                | other -> fail (sprintf "%s: expected \"none\" or \"pre\", found %s" (join path "padding") (quote other))
        if padded && fs <> 1L then
            fail (sprintf "%s: expected 1 with \"padding\": \"pre\" (one letter per step), found %d" (join path "features") fs)
        { TimeSteps = int ts; Features = int fs; Masked = masked; PrePadded = padded }

    /// Reads the "lstm" and "dense" fields of `d` (an object at `path`). H and I come from the file
    /// (lstm.units and the kernel's rows) unless given (`like`), V must be the alphabet's size.
    let internal readBlocks (path: string) (d: Dictionary<string, JsonElement>) (like: Parameters option) : Parameters =
        let lstmPath = join path "lstm"
        let lstm = fields lstmPath (field path d "lstm" "an object with units, kernel, recurrentKernel and bias")
        let unitsPath = join lstmPath "units"
        let H =
            let h = int (integer unitsPath (field lstmPath lstm "units" "the number of LSTM units H") 1L 100000L)
            match like with
            | Some p when p.Units <> h -> fail (sprintf "%s: expected %d (the model's units), found %d" unitsPath p.Units h)
            | _ -> h
        let G = 4 * H
        let kernelRows = match like with Some p -> p.Inputs | None -> -1
        let kernel =
            matrix (join lstmPath "kernel") (field lstmPath lstm "kernel" "I rows of 4H numbers") kernelRows G
                   (sprintf "I × 4H with H = %d" H)
        let I = kernel.RowCount
        let recurrent =
            matrix (join lstmPath "recurrentKernel") (field lstmPath lstm "recurrentKernel" "H rows of 4H numbers") H G
                   (sprintf "H × 4H with H = %d" H)
        let bias = vector (join lstmPath "bias") (field lstmPath lstm "bias" "4H numbers") G (sprintf "4H with H = %d" H)
        let densePath = join path "dense"
        let dense = fields densePath (field path d "dense" "an object with units, kernel and bias")
        let V = Alphabet.Size
        let vPath = join densePath "units"
        let v = integer vPath (field densePath dense "units" "26, one class per letter") 1L 100000L
        if v <> int64 V then fail (sprintf "%s: expected %d (one class per letter), found %d" vPath V v)
        let denseKernel =
            matrix (join densePath "kernel") (field densePath dense "kernel" "H rows of V numbers") H V
                   (sprintf "H × V with H = %d, V = %d" H V)
        let denseBias = vector (join densePath "bias") (field densePath dense "bias" "V numbers") V (sprintf "V = %d" V)
        ignore I
        { Kernel = kernel; RecurrentKernel = recurrent; Bias = bias; DenseKernel = denseKernel; DenseBias = denseBias }

    let internal readHeader (path: string) (d: Dictionary<string, JsonElement>) (name: string) (newest: int) =
        let fPath = join path "format"
        let f = field path d "format" (sprintf "%s (is this an alphabet-lstm file?)" (str name))
        if f.ValueKind <> JsonValueKind.String || f.GetString() <> name then
            fail (sprintf "%s: expected %s, found %s" fPath (str name) (describe f))
        let vPath = join path "version"
        let v = field path d "version" (string newest)
        if v.ValueKind = JsonValueKind.Number then
            match v.TryGetInt64() with
            | true, n when n > int64 newest ->
                fail (sprintf "%s: expected %d, found %d: the file is from a newer alphabet-lstm" vPath newest n)
            | _ -> ()
        integer vPath v 1L (int64 newest) |> ignore

    let internal readModel (path: string) (e: JsonElement) : SavedModel =
        let d = fields path e
        readHeader path d formatName version
        let aPath = join path "alphabet"
        let a = text aPath (field path d "alphabet" (str Alphabet.Letters))
        if a <> Alphabet.Letters then fail (sprintf "%s: expected %s, found %s" aPath (str Alphabet.Letters) (quote a))
        let input = readInput (join path "input") (field path d "input" "an object with timeSteps, features, encoding and masked")
        let p = readBlocks path d None
        if input.Features <> p.Inputs then
            fail (sprintf "%s: expected %d (the rows of lstm.kernel), found %d" (join (join path "input") "features") p.Inputs input.Features)
        { Input = input; Parameters = Parameters.validate p }

    /// Reads a model file. Never throws: Error holds one line naming the field, what was expected
    /// and what was found.
    [<CompiledName("Parse")>]
    let parse (text: string) : Result<SavedModel, string> =
        run text (sprintf "\"format\": %s" (str formatName)) (readModel "")

    // ---- letters, raw inputs, states and predictions -----------------------------------------

    /// Encodes letters for this model: T matrices of shape (1, I) and the masking to use.
    /// A window model needs exactly T × I letters; a pre-padded model takes 1 .. T letters.
    [<CompiledName("EncodeLetters")>]
    let encodeLetters (input: InputSpec) (letters: string) : Result<Matrix<float>[] * Masking, string> =
        let bad = letters |> Seq.tryFindIndex (fun ch -> Alphabet.Letters.IndexOf ch < 0)
        match bad with
        | Some k ->
            Error(sprintf "'%c' (position %d of %s) is not a letter of the alphabet A..Z" letters.[k] (k + 1) (quote letters))
        | None when input.PrePadded ->
            if letters.Length < 1 || letters.Length > input.TimeSteps then
                Error(sprintf "the model reads 1 to %d letters (pre-padded to %d steps), found %d in %s"
                          input.TimeSteps input.TimeSteps letters.Length (quote letters))
            else
                let pad = input.TimeSteps - letters.Length
                let steps =
                    Array.init input.TimeSteps (fun t ->
                        Matrix<float>.Build.Dense(1, 1, if t < pad then 0.0 else Alphabet.Encode letters.[t - pad]))
                Ok(steps, (if input.Masked then PrePadded [| letters.Length |] else Unmasked))
        | None when input.TimeSteps > 1 && input.Features > 1 ->
            Error(sprintf "the model reads %d steps of %d features, which is no window of letters; give raw numbers with --inputs"
                      input.TimeSteps input.Features)
        | None when letters.Length <> input.WindowLength ->
            Error(sprintf "the model reads windows of %d letters (%d time steps × %d features), found %d in %s"
                      input.WindowLength input.TimeSteps input.Features letters.Length (quote letters))
        | None ->
            let layout = if input.TimeSteps = 1 then Layout.Features else Layout.TimeSteps
            Ok(Datasets.encodeWindow layout letters, Unmasked)

    /// Reads raw inputs [B][T][I] for this model: T matrices of shape (B, I), time-major. For a
    /// masked model, leading steps whose features are all 0.0 are padding.
    [<CompiledName("ParseInputs")>]
    let parseInputs (input: InputSpec) (text: string) : Result<Matrix<float>[] * Masking, string> =
        run text "an array [batch][time step][feature] of numbers" (fun root ->
            let T, I = input.TimeSteps, input.Features
            let samples = items "inputs" root "an array [batch][time step][feature]"
            if samples.Length = 0 then fail "inputs: expected at least one sample, found an empty array"
            let B = samples.Length
            let x = Array.init T (fun _ -> Array.zeroCreate (B * I))   // per step, column-major (B, I)
            for b in 0 .. B - 1 do
                let sPath = sprintf "inputs[%d]" b
                let steps = items sPath samples.[b] (sprintf "an array of %d time steps" T)
                if steps.Length <> T then
                    fail (sprintf "%s: expected %d time steps (the model's input.timeSteps), found %d" sPath T steps.Length)
                for t in 0 .. T - 1 do
                    let tPath = sprintf "%s[%d]" sPath t
                    let fs = items tPath steps.[t] (sprintf "an array of %d features" I)
                    if fs.Length <> I then
                        fail (sprintf "%s: expected %d features (the model's input.features), found %d" tPath I fs.Length)
                    for k in 0 .. I - 1 do
                        x.[t].[k * B + b] <- number (sprintf "%s[%d]" tPath k) fs.[k]
            let inputs = x |> Array.map (fun data -> Matrix<float>.Build.Dense(B, I, data))
            let masking =
                if not input.Masked then Unmasked
                else
                    let leadingZeros b =
                        Seq.initInfinite id
                        |> Seq.takeWhile (fun t -> t < T && Seq.forall (fun k -> inputs.[t].[b, k] = 0.0) (seq { 0 .. I - 1 }))
                        |> Seq.length
                    PrePadded(Array.init B (fun b -> T - leadingZeros b))
            inputs, masking)

    /// Reads an initial state { "h": [B][H], "c": [B][H] } for `batch` samples and `units` units.
    [<CompiledName("ParseState")>]
    let parseState (batch: int) (units: int) (text: string) : Result<LstmState, string> =
        run text "an object { \"h\": [batch][units], \"c\": [batch][units] }" (fun root ->
            let d = fields "state" root
            let what = sprintf "batch %d × units %d, to match the inputs and the model" batch units
            let read name = matrix ("state." + name) (field "state" d name (sprintf "%d rows of %d numbers" batch units)) batch units what
            { H = read "h"; C = read "c" })

    /// A prediction as JSON: { "probabilities": [B][V], "state": { "h": [B][H], "c": [B][H] } }.
    [<CompiledName("SerializePrediction")>]
    let serializePrediction (p: Prediction) : string =
        let sb = StringBuilder("{\n  \"probabilities\": ")
        writeMatrix sb "  " p.Probabilities
        sb.Append(",\n  \"state\": {\n    \"h\": ") |> ignore
        writeMatrix sb "    " p.Final.H
        sb.Append(",\n    \"c\": ") |> ignore
        writeMatrix sb "    " p.Final.C
        sb.Append("\n  }\n}\n").ToString()
