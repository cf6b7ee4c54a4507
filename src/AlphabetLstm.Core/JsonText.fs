/// Reading and writing JSON for the project's file formats (model, checkpoint, inputs, states,
/// predictions): every error names the path of the bad value, what was expected and what was found,
/// on one line. Internal helpers; the formats themselves are in ModelFile.fs, PredictionFile.fs and
/// Checkpoint.fs. Pure: strings in, values out.
namespace AlphabetLstm.Core

open System
open System.Collections.Generic
open System.Globalization
open System.Text
open System.Text.Json
open System.Text.RegularExpressions
open MathNet.Numerics.LinearAlgebra

/// A file that is not what it should be: the message is one line naming the field, what was
/// expected and what was found. What the C# members of the file formats throw (Parse).
type FileFormatException(message: string) =
    inherit FormatException(message)

/// A kind of file of ours: the name in its "format" field, and the version this program writes
/// (the newest it reads; every version from 1 up to it is read).
type FileFormat =
    { /// The "format" field's value, e.g. "alphabet-lstm-model".
      Name: string
      /// The newest "version" this program writes and reads.
      Version: int }

/// Raised inside the parsers only, and always caught there: the one-line description of a bad file.
exception internal InvalidJson of string

module internal JsonText =
    let inv = CultureInfo.InvariantCulture

    let fail (text: string) : 'T = raise (InvalidJson text)

    let join (path: string) (name: string) = if path = "" then name else path + "." + name

    let clip (s: string) = Messages.Clip s

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
            let rest =
                let mutable start = 0
                let mutable l = 1L
                while l < line && start >= 0 do
                    start <- text.IndexOf('\n', start)
                    if start >= 0 then start <- start + 1
                    l <- l + 1L
                if line >= 1L && start >= 0 then
                    let stop = match text.IndexOf('\n', start) with -1 -> text.Length | k -> k
                    let c = int (min (col - 1L) (int64 (stop - start))) |> max 0
                    text.Substring(start + c, min 40 (stop - start - c))
                else ""
            let rest = rest.TrimStart([| ' '; ':'; ','; '[' |])
            let starts (w: string) = rest.StartsWith(w, StringComparison.Ordinal)
            if starts "NaN" || starts "Infinity" || starts "-Infinity" then
                fail (sprintf "not valid JSON at line %d: found %s, but every number must be finite (JSON has no NaN or Infinity)"
                          line (rest.Split([| ','; ']'; ' ' |]).[0]))
            else
                fail (sprintf "not valid JSON at line %d, column %d: %s" line col reason)

    /// The fields of an object; a duplicated field is an error (a reader would have to guess).
    let fields (path: string) (e: JsonElement) : Dictionary<string, JsonElement> =
        if e.ValueKind <> JsonValueKind.Object then
            fail (sprintf "%s: expected an object, found %s" (if path = "" then "the file" else path) (describe e))
        let d = Dictionary<string, JsonElement>(StringComparer.Ordinal)
        for p in e.EnumerateObject() do
            let name =
                try p.Name
                with :? InvalidOperationException ->
                    fail (sprintf "%s: a field name is an escape of a lone UTF-16 surrogate, expected Unicode text" (if path = "" then "the file" else path))
            if d.ContainsKey name then fail (sprintf "%s: the field %s appears twice" (clip (join path name)) (quote name))
            d.[name] <- p.Value
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

    /// A number of a float32 file: read with float32's own correctly rounded parser (never through a
    /// double, which could round twice), so the shortest float32 text reads back bit for bit.
    let number32 (path: string) (e: JsonElement) : float =
        if e.ValueKind <> JsonValueKind.Number then fail (sprintf "%s: expected a number, found %s" path (describe e))
        match Single.TryParse(e.GetRawText(), NumberStyles.Float, inv) with
        | true, x when Single.IsFinite x -> float x
        | _ -> fail (sprintf "%s: expected a finite number, found %s, too large for a 32-bit float (at most %s)"
                         path (clip (e.GetRawText())) (Single.MaxValue.ToString("R", inv)))

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
            let s =
                try e.GetString()
                with :? InvalidOperationException ->
                    fail (sprintf "%s: expected a string of Unicode text, found an escape of a lone UTF-16 surrogate" path)
            match s with
            | NonNull s -> s
            | Null -> found ()

    /// An optional field naming one of a few choices: `absent` when the field is missing, else the
    /// value of the choice it names, or a one-line error listing the choices.
    let choice (path: string) (d: Dictionary<string, JsonElement>) (name: string) (choices: (string * 'T) list) (absent: 'T) : 'T =
        match d.TryGetValue name with
        | false, _ -> absent
        | true, v ->
            let found = text (join path name) v
            match choices |> List.tryFind (fst >> (=) found) with
            | Some(_, value) -> value
            | None ->
                let expected = choices |> List.map (fun (c, _) -> "\"" + c + "\"") |> String.concat " or "
                fail (sprintf "%s: expected %s, found %s" (join path name) expected (quote found))

    let items (path: string) (e: JsonElement) (expected: string) : JsonElement[] =
        if e.ValueKind <> JsonValueKind.Array then fail (sprintf "%s: expected %s, found %s" path expected (describe e))
        e.EnumerateArray() |> Seq.toArray

    /// The length of an array, or a one-line error saying what was expected instead.
    let length (path: string) (e: JsonElement) (expected: string) : int =
        if e.ValueKind <> JsonValueKind.Array then fail (sprintf "%s: expected %s, found %s" path expected (describe e))
        e.GetArrayLength()

    /// A number, with the path of a bad one only formatted when there is one (big arrays read fast).
    let numberAt (pathOf: unit -> string) (x: JsonElement) : float =
        if x.ValueKind = JsonValueKind.Number then
            match x.TryGetDouble() with
            | true, v when Double.IsFinite v -> v
            | _ -> number (pathOf ()) x
        else number (pathOf ()) x

    /// The numbers of an array already checked to hold them, into `dest` at `offset + k * stride`;
    /// float32 values for a float32 file.
    let private readNumbers (precision: Precision) (pathOf: unit -> string) (e: JsonElement) (dest: float[]) (offset: int) (stride: int) =
        let mutable k = 0
        for x in e.EnumerateArray() do
            let at = k
            let pathAt () = sprintf "%s[%d]" (pathOf ()) at
            dest.[offset + k * stride] <- if precision = Precision.Float32 then number32 (pathAt ()) x else numberAt pathAt x
            k <- k + 1

    /// Fails unless `count` numbers fit in one array (a claimed size whose product overflows `int`
    /// names the sizes instead of wrapping).
    let checkedCount (path: string) (what: string) (sizes: int list) : int =
        let product = sizes |> List.fold (fun acc n -> acc * float n) 1.0
        if not (Limits.fitsInArray product) then
            fail (sprintf "%s: %s = %s numbers, more than this program can hold (at most %d)"
                      path what (product.ToString("R", inv)) Array.MaxLength)
        int product

    /// A vector of exactly `count` numbers, each read in `precision`.
    let vectorIn (precision: Precision) (path: string) (e: JsonElement) (count: int) (what: string) : Vector<float> =
        let n = length path e (sprintf "an array of %d numbers (%s)" count what)
        if n <> count then fail (sprintf "%s: expected %d numbers (%s), found %d" path count what n)
        let data = Array.zeroCreate count
        readNumbers precision (fun () -> path) e data 0 1
        Vector<float>.Build.Dense(data)

    /// A vector of exactly `count` numbers.
    let vector (path: string) (e: JsonElement) (count: int) (what: string) : Vector<float> = vectorIn Precision.Float64 path e count what

    /// A matrix written as rows; `rows` < 0 accepts any positive number of rows. Every row's length
    /// is checked before anything is allocated, so a claimed size the file does not hold costs nothing.
    let matrixIn (precision: Precision) (path: string) (e: JsonElement) (rows: int) (cols: int) (what: string) : Matrix<float> =
        let n = length path e (sprintf "an array of rows (%s)" what)
        if rows >= 0 && n <> rows then fail (sprintf "%s: expected %d rows (%s), found %d" path rows what n)
        if n = 0 then fail (sprintf "%s: expected at least one row (%s), found none" path what)
        let mutable r = 0
        for row in e.EnumerateArray() do
            if row.ValueKind <> JsonValueKind.Array || row.GetArrayLength() <> cols then
                let rowPath = sprintf "%s[%d]" path r
                let m = length rowPath row (sprintf "a row of %d numbers (%s)" cols what)
                fail (sprintf "%s: expected %d numbers (%s), found %d" rowPath cols what m)
            r <- r + 1
        let data = Array.zeroCreate (checkedCount path (sprintf "%d rows × %d columns" n cols) [ n; cols ])
        r <- 0
        for row in e.EnumerateArray() do
            let k = r
            readNumbers precision (fun () -> sprintf "%s[%d]" path k) row data r n
            r <- r + 1
        Matrix<float>.Build.Dense(n, cols, data)

    /// A matrix of float64 numbers written as rows (see matrixIn).
    let matrix (path: string) (e: JsonElement) (rows: int) (cols: int) (what: string) : Matrix<float> = matrixIn Precision.Float64 path e rows cols what

    // ---- writing ------------------------------------------------------------------------------

    /// Round-trip formatting: the shortest text that reads back as the same double.
    let num (x: float) = x.ToString("R", inv)

    /// A float32 value (held as a double) as the shortest text that reads back as the same float32.
    /// The caller has checked that the value is one (ModelFile.roundTo): the conversion is then exact.
    let num32 (x: float) = (float32 x).ToString("R", inv)

    /// The number formatter of a precision: num for float64, num32 for float32.
    let numIn (precision: Precision) : float -> string = if precision = Precision.Float32 then num32 else num

    let str (s: string) = JsonSerializer.Serialize s

    /// A vector, each number written in `precision`.
    let writeVectorIn (precision: Precision) (sb: StringBuilder) (v: Vector<float>) =
        let format = numIn precision
        sb.Append('[') |> ignore
        for k in 0 .. v.Count - 1 do
            if k > 0 then sb.Append(", ") |> ignore
            sb.Append(format v.[k]) |> ignore
        sb.Append(']') |> ignore

    let writeVector (sb: StringBuilder) (v: Vector<float>) = writeVectorIn Precision.Float64 sb v

    /// A matrix as rows, one row per line at the given indent, each number written in `precision`.
    let writeMatrixIn (precision: Precision) (sb: StringBuilder) (indent: string) (m: Matrix<float>) =
        sb.Append("[\n") |> ignore
        for r in 0 .. m.RowCount - 1 do
            sb.Append(indent).Append("  ") |> ignore
            writeVectorIn precision sb (m.Row r)
            sb.Append(if r < m.RowCount - 1 then ",\n" else "\n") |> ignore
        sb.Append(indent).Append(']') |> ignore

    /// A matrix as rows, one row per line at the given indent.
    let writeMatrix (sb: StringBuilder) (indent: string) (m: Matrix<float>) = writeMatrixIn Precision.Float64 sb indent m

    /// The value, or the exception `toException` makes of the one-line message.
    let orThrow (toException: string -> exn) (r: Result<'T, string>) : 'T =
        match r with
        | Ok v -> v
        | Error e -> raise (toException e)

    /// Runs a parser over a document, turning a bad file into Error.
    let run (text: string) (expected: string) (read: JsonElement -> 'T) : Result<'T, string> =
        try
            use doc = parse text expected
            Ok(read doc.RootElement)
        with InvalidJson message -> Error message


    // ---- headers: "format" and "version", shared by every file kind ---------------------------

    /// The header every file of ours starts with: "format" and "version".
    let writeHeader (sb: StringBuilder) (indent: string) (format: FileFormat) =
        sb.Append(indent).AppendFormat(inv, "\"format\": {0},\n", str format.Name) |> ignore
        sb.Append(indent).AppendFormat(inv, "\"version\": {0},\n", format.Version) |> ignore

    /// Checks "format" is the format's name and "version" is 1 .. its version; returns the version.
    let readHeader (path: string) (d: Dictionary<string, JsonElement>) (format: FileFormat) : int =
        let name, newest = format.Name, format.Version
        let fPath = join path "format"
        let f = field path d "format" (sprintf "%s (is this an alphabet-lstm file?)" (str name))
        if f.ValueKind <> JsonValueKind.String || text fPath f <> name then
            fail (sprintf "%s: expected %s, found %s" fPath (str name) (describe f))
        let vPath = join path "version"
        let v = field path d "version" (string newest)
        if v.ValueKind = JsonValueKind.Number then
            match v.TryGetInt64() with
            | true, n when n > int64 newest ->
                let range = if newest = 1 then "1" else sprintf "1 to %d" newest
                fail (sprintf "%s: expected %s, found %d: the file is from a newer alphabet-lstm" vPath range n)
            | _ -> ()
        int (integer vPath v 1L (int64 newest))

    /// A string as JSON, escaping only what JSON requires, so letters of any script stay readable.
    let strReadable (s: string) =
        JsonSerializer.Serialize(s, JsonSerializerOptions(Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping))
