/// The checkpoint: everything a training run needs to go on exactly, as versioned JSON.
///
///     { "format": "alphabet-lstm-checkpoint", "version": 1,
///       "sha256": "<SHA-256 of this text without the sha256 line, in hex>",
///       "run": { "experiment", "seed", "epochs", "units", "masked", "learningRate", "checkpointEvery", "save" },
///         (a float32 run adds "precision": "float32", and its model and numbers are float32 as in the
///          training checkpoint; no "precision" means float64)
///         (a text run: "kind": "text" and "text": { "path", "sha256", "window", "batchSize", "encoding",
///          "stateful" } instead of "experiment"; the vocabulary is the model's; no "kind" means an experiment)
///       "epoch": epochs completed, "rng": "<the generator's 64-bit state, in decimal>",
///       "model": <a whole model file: the current weights>,
///       "optimizer": { "step": t, "m": { "lstm", "dense" }, "v": { "lstm", "dense" } },
///       "carried": { "h": [B][H], "c": [B][H] } }     (zeros after a reset; older files may say null)
///
/// Checkpoints are taken at epoch boundaries, so the position is the epoch alone (the next batch is
/// always the first). The data and the training configuration are rebuilt from `run` (the dataset
/// is a function of the experiment and the seed, or of the text file, whose SHA-256 the shell checks),
/// and the TrainingState is restored bit for bit, so a resumed run computes exactly what the unbroken
/// run would have. The "sha256" line makes an edited checkpoint (a changed seed, generator or epoch
/// would silently give another model) a refused one. Pure: strings in, values out.
namespace AlphabetLstm.Tutorial

open System
open AlphabetLstm.Core
open System.Globalization
open System.Text
open System.Text.Json
open System.Text.RegularExpressions
open System.Runtime.InteropServices

/// What a run trains on: one of the tutorial's experiments, or a text file (`train --text`).
type RunKind =
    /// One of the tutorial's experiments.
    | Experiment = 0
    /// A text file.
    | Text = 1

/// What a training run was asked to do: the experiment or the text, the seed and the overrides.
/// Made by ForExperiment or ForText; equal when every setting is (the record's fields are the
/// core's own: the text is an option inside, TextOrNull outside).
type RunSettings =
    internal
        { experiment: string
          seed: int64
          epochs: int
          units: int
          layers: int
          masked: bool
          learningRate: float
          checkpointEvery: int
          text: TextRun option
          precision: Precision }

    /// The experiment id, e.g. "stateful" ("" for a text run).
    member r.Experiment = r.experiment
    /// The seed the run's randomness comes from.
    member r.Seed = r.seed
    /// The total number of epochs (the experiment's, or the override).
    member r.Epochs = r.epochs
    /// H (the experiment's, or the override).
    member r.Units = r.units
    /// N, the stacked LSTM layers (1 for every experiment).
    member r.Layers = r.layers
    /// Whether padded steps are masked.
    member r.Masked = r.masked
    /// Adam's learning rate (Keras' 0.001 unless overridden).
    member r.LearningRate = r.learningRate
    /// A checkpoint every this many epochs (and after the last).
    member r.CheckpointEvery = r.checkpointEvery
    /// The checkpoint cadence: whether a checkpoint is written after `epoch` (every CheckpointEvery
    /// epochs, and after the last).
    member r.CheckpointsAfter(epoch: int) = epoch % r.checkpointEvery = 0 || epoch = r.epochs
    /// The number type the run trains in.
    member r.Precision = r.precision
    /// The same settings in another precision.
    member r.WithPrecision(precision: Precision) = { r with precision = precision }
    /// An experiment or a text run.
    member r.Kind = if r.text.IsSome then RunKind.Text else RunKind.Experiment
    /// The text and how it is cut, for a text run; null for an experiment.
    member r.TextOrNull : TextRun | null = match r.text with Some t -> t | None -> null
    /// An experiment's run settings.
    /// An experiment's run settings, in float64 (the tutorial's precision) unless told.
    static member ForExperiment(experiment: string, seed: int64, epochs: int, units: int, masked: bool, learningRate: float, checkpointEvery: int,
                                [<Optional; DefaultParameterValue(Precision.Float64)>] precision: Precision) =
        { experiment = experiment; seed = seed; epochs = epochs; units = units; layers = 1; masked = masked; learningRate = learningRate
          checkpointEvery = checkpointEvery; text = None; precision = precision }
    /// A text run's settings: `layers` stacked layers of `units` units (one unless told), in float32
    /// (a text run's default: the work is real arithmetic there, and float32 does twice as much per
    /// vector) unless told.
    static member ForText(text: TextRun, seed: int64, epochs: int, units: int, learningRate: float, checkpointEvery: int,
                          [<Optional; DefaultParameterValue(1)>] layers: int,
                          [<Optional; DefaultParameterValue(Precision.Float32)>] precision: Precision) =
        { experiment = ""; seed = seed; epochs = epochs; units = units; layers = layers; masked = false; learningRate = learningRate
          checkpointEvery = checkpointEvery; text = Some text; precision = precision }

/// A training run paused at an epoch boundary.
type Checkpoint =
    { /// What the run was asked to do.
      Run: RunSettings
      /// How the model reads its input (as the model file will say).
      Input: InputSpec
      /// Parameters, Adam's moments and step, the generator, the epoch and the carried state.
      State: TrainingState
      /// The model file the run writes when it ends ("save" in the file's "run"): the shell's
      /// choice, kept with the checkpoint so that a resumed run writes the same file.
      Save: string }

/// The run checkpoint for F#: serialize, parse returning Result, and preparing or resuming its run.
module CheckpointFile =
    open JsonText

    /// The checkpoint file's format: "alphabet-lstm-checkpoint", version 1 (the version written, and the newest read).
    [<CompiledName("Format")>]
    let format = { Name = "alphabet-lstm-checkpoint"; Version = 1 }

    /// The experiment a run trains, with its overrides applied; Error when the id is unknown.
    let internal specOf (run: RunSettings) : Result<ExperimentSpec, string> =
        match Experiments.tryFind run.Experiment with
        | _ when run.text.IsSome -> Error "a text run trains no experiment: prepare it with CheckpointFile.PrepareText"
        | None -> Error(Experiments.unknownMessage run.Experiment)
        | Some s -> Ok(s.WithEpochs(run.Epochs).WithUnits(run.Units).WithMasked(run.Masked))

    /// The run's data, configuration and fresh starting state (epoch 0) for its seed.
    [<CompiledName("Prepare")>]
    let prepare (run: RunSettings) : PreparedExperiment =
        match specOf run with
        | Error e -> invalidArg "run" e
        | Ok spec ->
            if not (Adam.isValidLearningRate run.LearningRate) then
                invalidArg "run" (sprintf "the learning rate must be %s, got %s" Adam.learningRateRule (num run.LearningRate))
            let p = Experiments.prepare spec run.Seed
            { p with Config = { p.Config with Optimizer = { p.Config.Optimizer with LearningRate = run.LearningRate } }.WithPrecision run.Precision }

    /// The run prepared, then moved to the checkpoint's training state.
    [<CompiledName("Resume")>]
    let resume (c: Checkpoint) : PreparedExperiment = { prepare c.Run with Start = c.State }

    /// A text run's data, configuration and fresh starting state, from the indexed text.
    [<CompiledName("PrepareText")>]
    let prepareText (run: RunSettings) (text: IndexedText) : PreparedText =
        match run.text with
        | None -> invalidArg "run" (sprintf "experiment %s is no text run: prepare it with CheckpointFile.Prepare" (quote run.Experiment))
        | Some t -> (TextRuns.prepare t text run.Seed run.Units run.Layers run.Epochs run.LearningRate).WithPrecision run.Precision

    /// A text run prepared from the indexed text, then moved to the checkpoint's training state.
    [<CompiledName("ResumeText")>]
    let resumeText (c: Checkpoint) (text: IndexedText) : PreparedText =
        { prepareText c.Run text with Start = c.State }

    /// The model the checkpoint's current weights make.
    [<CompiledName("Model")>]
    let model (c: Checkpoint) : SavedModel =
        let vocabulary = match c.Run.text with Some t -> t.Vocabulary | None -> Vocabulary.Alphabet
        { Vocabulary = vocabulary; Input = c.Input; Parameters = c.State.Parameters; Precision = c.Run.Precision }

    // ---- the checksum (the training checkpoint's) -----------------------------------------------

    /// The checkpoint text with its "sha256" line (re)computed, right after the "version" line:
    /// for tools (and tests) that edit a checkpoint on purpose.
    [<CompiledName("Seal")>]
    let seal (text: string) : string = TrainingFile.seal text

    // ---- writing ------------------------------------------------------------------------------

    /// The checkpoint as JSON text. Raises ArgumentException for non-finite weights or moments.
    let internal serialize (c: Checkpoint) : string =
        let r, s = c.Run, c.State
        let sb = StringBuilder("{\n")
        writeHeader sb "  " format
        let what =
            match r.text with
            | None -> sprintf "\"experiment\": %s" (str r.Experiment)
            | Some t ->
                sprintf "\"kind\": \"text\", \"text\": { \"path\": %s, \"sha256\": %s, \"window\": %d, \"batchSize\": %d, \"encoding\": %s, \"stateful\": %s, \"targets\": %s, \"validation\": %s }"
                    (str t.Path) (str t.Sha256) t.Window t.BatchSize (str (ModelFile.encodingName t.Encoding)) (if t.Stateful then "true" else "false")
                    (str (ModelFile.targetsName t.Targets)) (num t.Validation)
        sb.AppendFormat(CultureInfo.InvariantCulture,
                        "  \"run\": {{ {0}, \"seed\": {1}, \"epochs\": {2}, \"units\": {3}, {8}\"masked\": {4}, \"learningRate\": {5}, \"checkpointEvery\": {6}, \"save\": {7}{9} }},\n",
                        what, r.Seed, r.Epochs, r.Units, (if r.Masked then "true" else "false"),
                        num r.LearningRate, r.CheckpointEvery, str c.Save,
                        // "layers" only for a stack, so one-layer checkpoints read as they always have.
                        (if r.Layers > 1 then sprintf "\"layers\": %d, " r.Layers else ""),
                        // "precision" only for float32, so float64 checkpoints are written as they always were.
                        (if r.Precision = Precision.Float32 then ", \"precision\": \"float32\"" else "")) |> ignore
        TrainingFile.writeState sb (model c) s
        seal (sb.Append("\n}\n").ToString())

    // ---- reading ------------------------------------------------------------------------------

    /// A text run's settings; the vocabulary is filled in from the model (a placeholder until then).
    let private readText (path: string) (e: JsonElement) : TextRun =
        let d = fields path e
        let get name expected = field path d name expected
        let p name = join path name
        let sha = text (p "sha256") (get "sha256" "the text file's SHA-256 in hex")
        if sha.Length <> 64 || not (sha |> Seq.forall (fun c -> Char.IsAsciiHexDigitLower c || Char.IsAsciiDigit c)) then
            fail (sprintf "%s: expected 64 lowercase hex digits, found %s" (p "sha256") (quote sha))
        let textEncodings = ModelFile.textEncodingNames |> Array.map (sprintf "\"%s\"") |> String.concat " or "
        let encoding =
            let name = text (p "encoding") (get "encoding" textEncodings)
            match ModelFile.parseEncoding name with
            | e when e.HasValue && Array.contains name ModelFile.textEncodingNames -> e.Value
            | _ -> fail (sprintf "%s: expected %s, found %s" (p "encoding") textEncodings (quote name))
        let path' = text (p "path") (get "path" "the text file")
        if path'.Length = 0 then fail (sprintf "%s: expected a file name, found an empty string" (p "path"))
        { Path = path'
          Sha256 = sha
          Window = int (integer (p "window") (get "window" "the symbols of one sample") 1L (int64 Limits.maxTimeSteps))
          BatchSize = int (integer (p "batchSize") (get "batchSize" "the batch size") 1L (int64 Limits.maxBatch))
          Encoding = encoding
          Stateful = boolean (p "stateful") (get "stateful" "true or false")
          Vocabulary = Vocabulary.Alphabet
          // Checkpoints from before targets and validation existed trained one target per sample on the whole text.
          Targets = choice path d "targets" ModelFile.targetsChoices Targets.Last
          Validation =
            if d.ContainsKey "validation" then
                let f = number (p "validation") (get "validation" "the held-out fraction")
                if not (f >= 0.0 && f <= TextRun.MaxValidation) then
                    fail (sprintf "%s: expected a fraction in [0, %g], found %s" (p "validation") TextRun.MaxValidation (num f))
                f
            else 0.0 }

    let private readRun (e: JsonElement) : RunSettings * string =
        let path = "run"
        let d = fields path e
        let get name expected = field path d name expected
        let p name = join path name
        let textRun =
            match choice path d "kind" [ "experiment", RunKind.Experiment; "text", RunKind.Text ] RunKind.Experiment with
            | RunKind.Text -> Some(readText (p "text") (get "text" "an object describing the text"))
            | _ -> None
        let run =
            { experiment = (if textRun.IsSome then "" else text (p "experiment") (get "experiment" "an experiment id"))
              seed = integer (p "seed") (get "seed" "the seed") Int64.MinValue Int64.MaxValue
              epochs = int (integer (p "epochs") (get "epochs" "the number of epochs") 1L (int64 Limits.maxEpochs))
              units = int (integer (p "units") (get "units" "the number of LSTM units") 1L (int64 Limits.maxUnits))
              layers = (if d.ContainsKey "layers" then int (integer (p "layers") (get "layers" "the number of stacked layers") 1L (int64 Parameters.MaxLayers)) else 1)
              masked = boolean (p "masked") (get "masked" "true or false")
              learningRate = number (p "learningRate") (get "learningRate" "Adam's learning rate")
              checkpointEvery = int (integer (p "checkpointEvery") (get "checkpointEvery" "epochs between checkpoints") 1L (int64 Int32.MaxValue))
              text = textRun
              // Checkpoints from before float32 existed trained in float64.
              precision = choice path d "precision" ModelFile.precisionChoices Precision.Float64 }
        match specOf run with
        | Error e when textRun.IsNone -> fail (sprintf "%s: %s" (p "experiment") e)
        | _ -> ()
        if not (Adam.isValidLearningRate run.LearningRate) then
            fail (sprintf "%s: expected %s, found %s" (p "learningRate") Adam.learningRateRule (num run.LearningRate))
        let save = text (p "save") (get "save" "the model file to write")
        if save.Length = 0 then fail (sprintf "%s: expected a file name, found an empty string" (p "save"))
        run, save

    let private readCheckpoint (textOf: string) (root: JsonElement) : Checkpoint =
        let d = fields "" root
        readHeader "" d format |> ignore
        TrainingFile.verify textOf
        let run, save = readRun (field "" d "run" "an object describing the run")
        let epoch = int (integer "epoch" (field "" d "epoch" "the number of epochs completed") 0L (int64 run.Epochs))
        let rng =
            let e = field "" d "rng" "the generator's state as a decimal string"
            match e.ValueKind with
            | JsonValueKind.String ->
                match UInt64.TryParse(text "rng" e, NumberStyles.None, CultureInfo.InvariantCulture) with
                | true, v -> { State = v }
                | _ -> fail (sprintf "rng: expected a whole number from 0 to %d in a string, found %s" UInt64.MaxValue (describe e))
            | _ -> fail (sprintf "rng: expected a whole number from 0 to %d in a string, found %s" UInt64.MaxValue (describe e))
        let m = ModelFile.readModel "model" (field "" d "model" "a model file object")
        // The run with the text's vocabulary (the model's), its batch size, the input it expects.
        let run, batchSize, expectedInput, what =
            match run.text with
            | Some t ->
                let t = { t with Vocabulary = m.Vocabulary }
                { run with text = Some t }, t.BatchSize, TextRuns.inputOf t, sprintf "the text run on %s" (quote t.Path)
            | None ->
                let spec = match specOf run with Ok s -> s | Error e -> fail e
                if not m.Vocabulary.IsAlphabet then
                    fail (sprintf "model.vocabulary: expected the alphabet A..Z for experiment %s, found %s" run.Experiment (m.Vocabulary.Describe()))
                run, spec.BatchSize, Experiments.inputOf spec, sprintf "experiment %s" run.Experiment
        if m.Input <> expectedInput then
            let show (i: InputSpec) =
                sprintf "%d time steps × %d features (masked %b, padding %s, reading %s, targets %s)" i.TimeSteps i.Features i.Masked
                    (if i.PrePadded then "pre" else "none") (ModelFile.readingName i.Reading) (ModelFile.targetsName i.Targets)
            fail (sprintf "model.input: expected %s for %s, found %s" (show expectedInput) what (show m.Input))
        if m.Precision <> run.Precision then
            fail (sprintf "model.precision: expected %s (run.precision), found %s"
                      (str (ModelFile.precisionName run.Precision)) (str (ModelFile.precisionName m.Precision)))
        if m.Parameters.Units <> run.Units then
            fail (sprintf "model.lstm.units: expected %d (run.units), found %d" run.Units m.Parameters.Units)
        if m.Parameters.Layers <> run.Layers then
            fail (sprintf "model.lstm.layers: expected %d (run.layers), found %d" run.Layers m.Parameters.Layers)
        let o = fields "optimizer" (field "" d "optimizer" "an object with step, m and v")
        let step = int (integer "optimizer.step" (field "optimizer" o "step" "Adam's step count") 0L (int64 Int32.MaxValue))
        let moment name =
            let path = "optimizer." + name
            Parameters.validate (ModelFile.readBlocks m.Precision path (fields path (field "optimizer" o name "an object with lstm and dense")) (Some m.Parameters) None)
        let mM, mV = moment "m", moment "v"
        let carried =
            let e = field "" d "carried" "the carried state { \"h\", \"c\" }"
            let B, H = batchSize, run.Units * run.Layers
            if e.ValueKind = JsonValueKind.Null then LstmState.Zeros(B, H)
            else
                let c = fields "carried" e
                let what = sprintf "batch %d × units %d" B H
                let read name = matrixIn m.Precision ("carried." + name) (field "carried" c name (sprintf "%d rows of %d numbers" B H)) B H what
                { H = read "h"; C = read "c" }
        { Run = run
          Input = m.Input
          State = { Parameters = m.Parameters; Optimizer = { Step = step; M = mM; V = mV }; Rng = rng; Epoch = epoch; Carried = carried }
          Save = save }

    /// Reads a checkpoint. Never throws: Error holds one line naming the field, what was expected
    /// and what was found.
    let internal parse (text: string) : Result<Checkpoint, string> =
        run text (sprintf "\"format\": %s" (str format.Name)) (readCheckpoint text)

/// The checkpoint from C#: `Checkpoint.Parse`/`TryParse` and `checkpoint.Serialize()`, over CheckpointFile.
type Checkpoint with
    /// Reads a checkpoint; throws FileFormatException with a one-line message naming the bad field.
    static member Parse(text: string) : Checkpoint = CheckpointFile.parse text |> JsonText.orThrow (fun e -> FileFormatException e)
    /// Reads a checkpoint; false with a one-line message naming the bad field when it is not one.
    static member TryParse(text: string, [<Runtime.InteropServices.Out>] checkpoint: byref<Checkpoint>, [<Runtime.InteropServices.Out>] error: byref<string>) : bool =
        match CheckpointFile.parse text with
        | Ok c ->
            checkpoint <- c
            error <- ""
            true
        | Error e ->
            error <- e
            false
    /// The checkpoint's text.
    member c.Serialize() : string = CheckpointFile.serialize c
