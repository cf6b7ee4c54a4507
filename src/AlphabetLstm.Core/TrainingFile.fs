/// The training checkpoint: a model in the middle of training, for any data and any vocabulary, as
/// versioned JSON. It holds what the next epoch needs besides the data, which stays the caller's:
///
///     { "format": "alphabet-lstm-training", "version": 1,
///       "sha256": "<SHA-256 of this text without the sha256 line, in hex>",
///       "epoch": epochs completed, "rng": "<the generator's 64-bit state, in decimal>",
///       "model": <a whole model file: vocabulary, input, the current weights>,
///       "optimizer": { "step": t, "m": { "lstm", "dense" }, "v": { "lstm", "dense" } },
///       "carried": { "h": [B][N·H], "c": [B][N·H] } }     (N layers: each layer's H columns side by side)
///
/// A float32 run's model says "precision": "float32" (a version 4 model file), and then every number
/// of the checkpoint (weights, Adam's moments, the carried state) is a float32 value written as the
/// shortest text that reads back as it, and read with float32's parser: the state round-trips exactly.
///
/// Read back, the TrainingState is the one written, bit for bit, so `Training.Continue` on the same
/// data computes what an unbroken run would have. The "sha256" line makes an edited file a refused
/// one. The tutorial's run checkpoint (AlphabetLstm.Tutorial.Checkpoint) is this with a "run" added.
/// Pure: strings in, values out.
namespace AlphabetLstm.Core

open System
open System.Globalization
open System.Runtime.InteropServices
open System.Text
open System.Text.Json
open System.Text.RegularExpressions

/// A model in training: how it reads (its vocabulary and input) and the whole training state (the
/// current weights, Adam's moments and step, the generator, the epoch and the carried state).
[<Sealed>]
type TrainingCheckpoint private (vocabulary: Vocabulary, input: InputSpec, precision: Precision, state: TrainingState) =
    /// The symbols the model reads and predicts.
    member _.Vocabulary = vocabulary
    /// How the model reads its input.
    member _.Input = input
    /// Everything training needs to go on: pass it to Training.Continue with the same data.
    member _.State = state
    /// The number type the run trains in (the model's precision).
    member _.Precision = precision
    /// The model the current weights make (what a model file of this moment holds).
    member _.Model : SavedModel = { Vocabulary = vocabulary; Input = input; Parameters = state.Parameters; Precision = precision }

    /// A checkpoint of `state`, a model trained as `model` reads (its vocabulary, input and precision;
    /// the weights are the state's). ArgumentException naming the mismatch when the state's weights,
    /// Adam's moments or carried state do not have the model's shapes. For a Float32 model every number
    /// of the state is kept rounded to the nearest float32 (unchanged when it already is one, as a
    /// float32 run's are): what the file holds, so State is what reading it back gives.
    static member Create(model: SavedModel, state: TrainingState) : TrainingCheckpoint =
        if isNull (box model) then nullArg "model"
        if isNull (box state) then nullArg "state"
        let current = SavedModel.Create(model.Vocabulary, model.Input, state.Parameters, model.Precision)
        let p = current.Parameters
        let sameShape (name: string) (m: Parameters) =
            if m.Inputs <> p.Inputs || m.Units <> p.Units || m.Classes <> p.Classes then
                invalidArg "state" (sprintf "state.Optimizer.%s: expected the weights' shape (I %d, H %d, V %d), found (I %d, H %d, V %d)"
                                        name p.Inputs p.Units p.Classes m.Inputs m.Units m.Classes)
            if m.Layers <> p.Layers then
                invalidArg "state" (sprintf "state.Optimizer.%s: expected the weights' %d layers, found %d" name p.Layers m.Layers)
            Parameters.validate m |> ignore
        sameShape "M" state.Optimizer.M
        sameShape "V" state.Optimizer.V
        if state.Optimizer.Step < 0 then invalidArg "state" (sprintf "state.Optimizer.Step: expected 0 or more, found %d" state.Optimizer.Step)
        if state.Epoch < 0 then invalidArg "state" (sprintf "state.Epoch: expected 0 or more, found %d" state.Epoch)
        if state.Carried.Units <> p.StateUnits || state.Carried.C.RowCount <> state.Carried.Batch || state.Carried.C.ColumnCount <> p.StateUnits then
            invalidArg "state" (sprintf "state.Carried: expected h and c of (B, %d) alike, found h (%d, %d) and c (%d, %d)"
                                    p.StateUnits state.Carried.H.RowCount state.Carried.H.ColumnCount state.Carried.C.RowCount state.Carried.C.ColumnCount)
        let precision = model.Precision
        let state =
            if precision = Precision.Float64 then state
            else
                { state with
                    Parameters = current.Parameters
                    Optimizer = { state.Optimizer with M = ModelFile.roundTo precision "state.Optimizer.M." state.Optimizer.M
                                                       V = ModelFile.roundTo precision "state.Optimizer.V." state.Optimizer.V }
                    Carried = { H = ModelFile.roundMatrix precision "state.Carried.H" state.Carried.H
                                C = ModelFile.roundMatrix precision "state.Carried.C" state.Carried.C } }
        TrainingCheckpoint(model.Vocabulary, model.Input, precision, state)

    static member internal OfChecked(vocabulary, input, precision, state) = TrainingCheckpoint(vocabulary, input, precision, state)

module internal TrainingFile =
    open JsonText

    /// The training checkpoint's format: "alphabet-lstm-training", version 1.
    let format = { Name = "alphabet-lstm-training"; Version = 1 }

    // ---- the checksum: shared with the tutorial's run checkpoint ----------------------------

    let private shaLine = Regex("^  \"sha256\": \"([^\"\\n]*)\",\n", RegexOptions.Multiline ||| RegexOptions.CultureInvariant)
    let private versionLine = Regex("^  \"version\": [^\\n]*\n", RegexOptions.Multiline ||| RegexOptions.CultureInvariant)

    /// The SHA-256 of the text's UTF-8 bytes, in lower-case hex.
    let private sha256 (text: string) =
        Convert.ToHexStringLower(Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes text))

    /// The text without its "sha256" line: what the checksum covers.
    let private unsealed (text: string) = shaLine.Replace(text, "", 1)

    /// The text with its "sha256" line (re)computed, right after the "version" line.
    let seal (text: string) : string =
        let body = unsealed text
        let m = versionLine.Match body
        if not m.Success then invalidArg "text" "the text has no \"version\" line at the start of a line: not a checkpoint this program wrote"
        body.Insert(m.Index + m.Length, sprintf "  \"sha256\": \"%s\",\n" (sha256 body))

    /// Fails unless the text carries a "sha256" line that matches the rest of it.
    let verify (text: string) =
        let m = shaLine.Match text
        if not m.Success then
            fail "sha256: missing: expected the checkpoint's checksum on its own line (\"sha256\": \"...\"), as this program writes it"
        let claimed = m.Groups.[1].Value
        let actual = sha256 (unsealed text)
        if not (String.Equals(claimed, actual, StringComparison.Ordinal)) then
            fail (sprintf "sha256: the checkpoint's content does not match its checksum (found %s, the content hashes to %s...): the file was edited or damaged; it is refused so a changed seed, generator or epoch cannot silently give a different model"
                      (quote claimed) (actual.Substring(0, 12)))

    // ---- writing ------------------------------------------------------------------------------

    /// The fields from "epoch" to "carried" (no trailing newline): the state and the model it trains,
    /// every number in the model's precision (a float32 checkpoint's numbers rounded to float32 first,
    /// ArgumentException naming the block for one beyond its range).
    let writeState (sb: StringBuilder) (model: SavedModel) (s: TrainingState) =
        Parameters.validate s.Optimizer.M |> ignore
        Parameters.validate s.Optimizer.V |> ignore
        let precision = model.Precision
        sb.AppendFormat(CultureInfo.InvariantCulture, "  \"epoch\": {0},\n  \"rng\": \"{1}\",\n  \"model\": ", s.Epoch, s.Rng.State) |> ignore
        ModelFile.writeModel sb "  " model
        sb.AppendFormat(CultureInfo.InvariantCulture, ",\n  \"optimizer\": {{\n    \"step\": {0},\n    \"m\": {{\n", s.Optimizer.Step) |> ignore
        ModelFile.writeBlocks precision sb "      " (ModelFile.roundTo precision "optimizer.m." s.Optimizer.M)
        sb.Append("\n    },\n    \"v\": {\n") |> ignore
        ModelFile.writeBlocks precision sb "      " (ModelFile.roundTo precision "optimizer.v." s.Optimizer.V)
        sb.Append("\n    }\n  },\n  \"carried\": ") |> ignore
        sb.Append("{\n    \"h\": ") |> ignore
        writeMatrixIn precision sb "    " (ModelFile.roundMatrix precision "carried.h" s.Carried.H)
        sb.Append(",\n    \"c\": ") |> ignore
        writeMatrixIn precision sb "    " (ModelFile.roundMatrix precision "carried.c" s.Carried.C)
        sb.Append("\n  }") |> ignore

    /// The checkpoint as sealed JSON text.
    let serialize (c: TrainingCheckpoint) : string =
        let sb = StringBuilder("{\n")
        writeHeader sb "  " format
        writeState sb c.Model c.State
        seal (sb.Append("\n}\n").ToString())

    // ---- reading ------------------------------------------------------------------------------

    let private readCheckpoint (textOf: string) (root: JsonElement) : TrainingCheckpoint =
        let d = fields "" root
        readHeader "" d format |> ignore
        verify textOf
        let epoch = int (integer "epoch" (field "" d "epoch" "the number of epochs completed") 0L (int64 Limits.maxEpochs))
        let rng =
            let e = field "" d "rng" "the generator's state as a decimal string"
            let bad () = fail (sprintf "rng: expected a whole number from 0 to %d in a string, found %s" UInt64.MaxValue (describe e))
            if e.ValueKind <> JsonValueKind.String then bad ()
            match UInt64.TryParse(text "rng" e, NumberStyles.None, CultureInfo.InvariantCulture) with
            | true, v -> { State = v }
            | _ -> bad ()
        let m = ModelFile.readModel "model" (field "" d "model" "a model file object")
        let o = fields "optimizer" (field "" d "optimizer" "an object with step, m and v")
        let step = int (integer "optimizer.step" (field "optimizer" o "step" "Adam's step count") 0L (int64 Int32.MaxValue))
        let moment name =
            let path = "optimizer." + name
            Parameters.validate (ModelFile.readBlocks m.Precision path (fields path (field "optimizer" o name "an object with lstm and dense")) (Some m.Parameters) None)
        let mM, mV = moment "m", moment "v"
        let carried =
            let c = fields "carried" (field "" d "carried" "the carried state { \"h\", \"c\" }")
            // One (h, c) of H units per layer, side by side: N·H columns.
            let H = m.Parameters.StateUnits
            let matrix = matrixIn m.Precision
            let h = matrix "carried.h" (field "carried" c "h" (sprintf "rows of %d numbers" H)) -1 H (sprintf "batch × units %d" H)
            let B = h.RowCount
            { H = h; C = matrix "carried.c" (field "carried" c "c" (sprintf "%d rows of %d numbers" B H)) B H (sprintf "batch %d × units %d, like carried.h" B H) }
        TrainingCheckpoint.OfChecked(m.Vocabulary, m.Input, m.Precision,
                                     { Parameters = m.Parameters; Optimizer = { Step = step; M = mM; V = mV }; Rng = rng; Epoch = epoch; Carried = carried })

    /// Reads a training checkpoint; Error holds one line naming the field, what was expected and what was found.
    let parse (text: string) : Result<TrainingCheckpoint, string> =
        run text (sprintf "\"format\": %s" (str format.Name)) (readCheckpoint text)

type TrainingCheckpoint with
    /// The checkpoint as JSON text (sealed with its SHA-256). ArgumentException for non-finite numbers.
    member c.Serialize() : string = TrainingFile.serialize c
    /// Reads a training checkpoint; throws FileFormatException with a one-line message naming the bad field.
    static member Parse(text: string) : TrainingCheckpoint = TrainingFile.parse text |> JsonText.orThrow (fun e -> FileFormatException e)
    /// Reads a training checkpoint; false with a one-line message naming the bad field when it is not one.
    static member TryParse(text: string, [<Out>] checkpoint: byref<TrainingCheckpoint>, [<Out>] error: byref<string>) : bool =
        match TrainingFile.parse text with
        | Ok c ->
            checkpoint <- c
            error <- ""
            true
        | Error e ->
            error <- e
            false
