/// Using a saved model: symbols in, probabilities and the next state out; and the JSON of raw inputs,
/// initial states and predictions (`predict --inputs`).
///
///     inputs:     [B][T][I] numbers                     (time-major inside: T matrices (B, I))
///     state:      { "h": [B][H], "c": [B][H] }
///                 or, for a stack of N layers, { "layers": [ { "h": [B][H], "c": [B][H] } × N ] } (bottom first)
///     prediction: { "probabilities": [B][V], "state": <a state, as above> }
///
/// A window model reads exactly T × (symbols per step) symbols; a pre-padded model reads 1 .. T and
/// pads the front with zero steps. Pure: strings in, values out; never throws from F# (Result).
namespace AlphabetLstm.Core

open System
open System.Collections.Generic
open System.Text.Json
open MathNet.Numerics.LinearAlgebra

/// Files of numbers for a model: the inputs a caller gives it, and a state to start from.
module PredictionFiles =
    open JsonText

    /// Reads raw inputs [B][T][I] for this model: T matrices of shape (B, I), time-major. For a
    /// masked model, leading steps whose features are all 0.0 are padding.
    let internal parseInputs (input: InputSpec) (text: string) : Result<EncodedInput, string> =
        run text "an array [batch][time step][feature] of numbers" (fun root ->
            let T, I = input.TimeSteps, input.Features
            let B = length "inputs" root "an array [batch][time step][feature]"
            if B = 0 then fail "inputs: expected at least one sample, found an empty array"
            // Every sample's shape first, so nothing is allocated for sizes the file does not hold.
            let mutable b = 0
            for sample in root.EnumerateArray() do
                let sPath () = sprintf "inputs[%d]" b
                if sample.ValueKind <> JsonValueKind.Array || sample.GetArrayLength() <> T then
                    let steps = length (sPath ()) sample (sprintf "an array of %d time steps" T)
                    fail (sprintf "%s: expected %d time steps (the model's input.timeSteps), found %d" (sPath ()) T steps)
                let mutable t = 0
                for step in sample.EnumerateArray() do
                    if step.ValueKind <> JsonValueKind.Array || step.GetArrayLength() <> I then
                        let tPath = sprintf "%s[%d]" (sPath ()) t
                        let fs = length tPath step (sprintf "an array of %d features" I)
                        fail (sprintf "%s: expected %d features (the model's input.features), found %d" tPath I fs)
                    t <- t + 1
                b <- b + 1
            let perStep = checkedCount "inputs" (sprintf "%d samples × %d features" B I) [ B; I ]
            checkedCount "inputs" (sprintf "%d samples × %d time steps × %d features" B T I) [ B; T; I ] |> ignore
            let x = Array.init T (fun _ -> Array.zeroCreate perStep)   // per step, column-major (B, I)
            b <- 0
            for sample in root.EnumerateArray() do
                let mutable t = 0
                for step in sample.EnumerateArray() do
                    let mutable k = 0
                    for f in step.EnumerateArray() do
                        let bb, tt, kk = b, t, k
                        x.[t].[k * B + b] <- numberAt (fun () -> sprintf "inputs[%d][%d][%d]" bb tt kk) f
                        k <- k + 1
                    t <- t + 1
                b <- b + 1
            let inputs = x |> Array.map (fun data -> Matrix<float>.Build.Dense(B, I, data))
            let masking =
                if not input.Masked then Unmasked
                else
                    // Loops over the storage, not sequences: a file of many samples allocates nothing per sample here.
                    let zeroStep b t =
                        let mutable zero = true
                        for k in 0 .. I - 1 do
                            if x.[t].[k * B + b] <> 0.0 then zero <- false
                        zero
                    let leadingZeros b =
                        let mutable t = 0
                        while t < T && zeroStep b t do t <- t + 1
                        t
                    PrePadded(Array.init B (fun b -> T - leadingZeros b))
            { Inputs = inputs; Masking = masking })

    /// Reads one layer's { "h": [B][H], "c": [B][H] } at `path`.
    let private readLayerState (path: string) (batch: int) (units: int) (e: JsonElement) : LstmState =
        let d = fields path e
        let what = sprintf "batch %d × units %d, to match the inputs and the model" batch units
        let read name = matrix (path + "." + name) (field path d name (sprintf "%d rows of %d numbers" batch units)) batch units what
        { H = read "h"; C = read "c" }

    /// Reads an initial state for `batch` samples of a model of `layers` layers of `units` units:
    /// { "h": [B][H], "c": [B][H] } for one layer, { "layers": [ { "h", "c" } × N ] } for a stack;
    /// the state is (B, N·H), each layer's columns side by side.
    let internal parseState (batch: int) (units: int) (layers: int) (text: string) : Result<LstmState, string> =
        let expected =
            if layers = 1 then "an object { \"h\": [batch][units], \"c\": [batch][units] }"
            else sprintf "an object { \"layers\": [%d objects { \"h\": [batch][units], \"c\": [batch][units] }] }" layers
        run text expected (fun root ->
            let d = fields "state" root
            // One form or the other: a file holding both would leave unsaid which state it means.
            let flat = [ "h"; "c" ] |> List.filter d.ContainsKey
            if d.ContainsKey "layers" && not flat.IsEmpty then
                fail (sprintf "state: holds both \"layers\" and \"%s\"; expected %s" (String.Join("\", \"", flat)) expected)
            if layers = 1 then
                if d.ContainsKey "layers" then
                    fail (sprintf "state.layers: the model has one layer; expected %s" expected)
                readLayerState "state" batch units root
            else
                let xs = items "state.layers" (field "state" d "layers" (sprintf "an array of %d layers' { \"h\", \"c\" }, bottom first" layers)) "an array of layers' states"
                if xs.Length <> layers then
                    fail (sprintf "state.layers: expected %d layers (the model's lstm.layers), found %d" layers xs.Length)
                LstmState.OfLayers(xs |> Array.mapi (fun k x -> readLayerState (sprintf "state.layers[%d]" k) batch units x)))

    /// A prediction of a model of `layers` layers as JSON: { "probabilities": [B][V], "state": { "h":
    /// [B][H], "c": [B][H] } }, or for a stack "state": { "layers": [ { "h", "c" } × N ] }, bottom first.
    [<CompiledName("SerializePrediction")>]
    let serializePrediction (p: Prediction) (layers: int) : string =
        if layers < 1 || p.Final.Units % layers <> 0 then
            invalidArg "layers" (sprintf "the state has %d columns, which do not split into %d layers" p.Final.Units layers)
        let sb = Text.StringBuilder("{\n  \"probabilities\": ")
        writeMatrix sb "  " p.Probabilities
        let writeLayer (indent: string) (s: LstmState) =
            sb.Append("{\n").Append(indent).Append("  \"h\": ") |> ignore
            writeMatrix sb (indent + "  ") s.H
            sb.Append(",\n").Append(indent).Append("  \"c\": ") |> ignore
            writeMatrix sb (indent + "  ") s.C
            sb.Append("\n").Append(indent).Append("}") |> ignore
        sb.Append(",\n  \"state\": ") |> ignore
        if layers = 1 then writeLayer "  " p.Final
        else
            sb.Append("{\n    \"layers\": [\n") |> ignore
            for k in 0 .. layers - 1 do
                sb.Append("      ") |> ignore
                writeLayer "      " (p.Final.Layer(k, layers))
                sb.Append(if k < layers - 1 then ",\n" else "\n") |> ignore
            sb.Append("    ]\n  }") |> ignore
        sb.Append("\n}\n").ToString()

    // ---- the same for C#: exceptions carrying the one-line message --------------------------------

    /// Reads raw inputs [B][T][I]; throws FileFormatException with a one-line message.
    [<CompiledName("ParseInputs")>]
    let parseInputsOrThrow (input: InputSpec, text: string) : EncodedInput = parseInputs input text |> JsonText.orThrow (fun e -> FileFormatException e)

    /// Reads a state { "h", "c" } (one layer) or { "layers": [...] } (a stack) for `batch` samples of
    /// `layers` layers of `units` units; throws FileFormatException with a one-line message.
    [<CompiledName("ParseState")>]
    let parseStateOrThrow (batch: int, units: int, layers: int, text: string) : LstmState = parseState batch units layers text |> JsonText.orThrow (fun e -> FileFormatException e)

