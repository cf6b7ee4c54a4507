/// Training on a text and continuing a text: the tutorial's window and stateful experiments applied
/// to any sequence of characters, at the size of a real text.
///
/// Shape legend: n characters, V symbols, T window (chunk), B batch (streams), H units.
///
/// The text is held as 2-byte symbol indices (IndexedText) and each batch's inputs are built from
/// them when the step needs them: one-hot inputs as symbol tapes (x·W a row gather, d W a
/// scatter-add), index inputs as T·B numbers. Nothing of size n·V or n·T is ever made.
///
/// Two ways to read (TextRun.Stateful):
///   - Windows: every window of T characters, shuffled, each from the zero state.
///   - Streams: the text cut into B parallel streams of S = n / B characters; batch k reads chunk k
///     (characters k·T … k·T + T − 1) of every stream, carrying each stream's state from chunk to
///     chunk, reset after every epoch (char-rnn). Truncated BPTT: the carried state is a constant to
///     the gradient (PyTorch's `detach`), so chunk k+1's gradient is that of its own loss.
/// Two places for targets (TextRun.Targets): after the last step of a sample (one per sample, the
/// tutorial's form), or after every step (each step predicts the character after it; the loss is the
/// mean over all T·B positions of the batch). Streams default to every step, windows to the last.
///
/// The last `Validation` fraction of the text is held out: after every epoch its loss is read the
/// way the model reads (a stream model: the held-out text as one stream from the zero state; a window
/// model: every window of it), in nats per target (bits per character = nats / ln 2).
///
/// Generation follows the way a model was trained to read (TextRuns.generate). Pure: symbols in,
/// symbols out; randomness from the given generator; progress through a function the caller passes.
namespace AlphabetLstm.Core

open System
open System.Collections.Generic
open System.Runtime.InteropServices
open MathNet.Numerics.LinearAlgebra

/// A text run's data: the file, its checksum, and how the text is cut into samples.
type TextRun =
    { /// The text file (an absolute path).
      Path: string
      /// SHA-256 of the file's bytes, 64 lowercase hex digits.
      Sha256: string
      /// T, the symbols of one sample.
      Window: int
      /// B, samples per batch (the number of streams when stateful).
      BatchSize: int
      /// How a character becomes features: OneHot or Index.
      Encoding: SymbolEncoding
      /// Streams, state carried and reset each epoch (true), or shuffled windows (false).
      Stateful: bool
      /// The text's characters (Vocabulary.OfText).
      Vocabulary: Vocabulary
      /// A target after every step, or after the last step of each sample.
      Targets: Targets
      /// The fraction of the text held out at its end for validation, in [0, 0.5] (0: none).
      Validation: float }

    /// Where the targets are unless told: every step for streams, the last step for windows (as
    /// char-rnn and the Keras text-generation tutorial train).
    static member DefaultTargets(stateful: bool) = if stateful then Targets.Every else Targets.Last
    /// A text run for C#: T symbols a sample, B a batch, streams or windows; one-hot unless told,
    /// targets as `DefaultTargets` unless told, the last 10 % held out unless told; the path and
    /// checksum only label the run (a checkpoint checks them).
    static member Create(vocabulary: Vocabulary, window: int, batchSize: int, stateful: bool,
                         [<Optional; DefaultParameterValue(SymbolEncoding.OneHot)>] encoding: SymbolEncoding,
                         [<Optional; DefaultParameterValue(Nullable<Targets>())>] targets: Nullable<Targets>,
                         [<Optional; DefaultParameterValue(0.1)>] validation: float,
                         [<Optional; DefaultParameterValue("")>] path: string,
                         [<Optional; DefaultParameterValue("")>] sha256: string) : TextRun =
        { Path = path; Sha256 = sha256; Window = window; BatchSize = batchSize; Encoding = encoding; Stateful = stateful
          Vocabulary = vocabulary
          Targets = (if targets.HasValue then targets.Value else (if stateful then Targets.Every else Targets.Last))
          Validation = validation }
    /// The held-out fraction unless told: 0.1.
    static member DefaultValidation = 0.1
    /// The largest held-out fraction: 0.5.
    static member MaxValidation = 0.5

/// A text run ready to train: its data, configuration, starting state and what the model file says.
type PreparedText =
    { /// The text and how it is cut (window, streams, encoding, targets).
      Run: TextRun
      /// The part trained on: the text without its held-out end.
      Training: IndexedText
      /// The held-out end of the text (empty when Validation is 0).
      HeldOut: IndexedText
      /// Samples per epoch: windows, or streams × chunks.
      Samples: int
      /// How to train: shuffled and stateless for windows, in order and stateful for streams.
      Config: FitConfig
      /// The state before the next epoch (epoch 0 for a fresh run).
      Start: TrainingState
      /// How the model file will say the model reads.
      Input: InputSpec }

    /// Optimizer steps in one epoch: one per batch, the last batch possibly smaller.
    member p.StepsPerEpoch = (p.Samples + p.Config.BatchSize - 1) / p.Config.BatchSize
    /// Targets per epoch: one per sample, or T per sample.
    member p.TargetsPerEpoch = int64 p.Samples * (if p.Run.Targets = Targets.Every then int64 p.Run.Window else 1L)
    /// The same run on `threads` threads per step (the same bits).
    member p.WithThreads(threads: int) = { p with Config = p.Config.WithThreads threads }
    /// The same run in another precision (a fresh run's parameters are rounded to it).
    member p.WithPrecision(precision: Precision) =
        { p with
            Config = p.Config.WithPrecision precision
            Start = if p.Start.Epoch = 0 then { p.Start with Parameters = Training.roundTo precision p.Start.Parameters } else p.Start }

/// Progress inside an epoch, after each batch (for a progress line).
type TextBatchReport =
    { /// The epoch being trained (1-based).
      Epoch: int
      /// Batches done in this epoch.
      Batch: int
      /// Batches in the epoch.
      Batches: int
      /// The mean loss per target over this epoch's batches so far.
      Loss: float
      /// Input characters read in this epoch so far.
      Characters: int64 }

/// A loss read over a text: nats per target, the share predicted right, and how many targets.
type TextEvaluation =
    { /// Mean cross-entropy per target, in nats.
      Loss: float
      /// The share of targets whose most likely symbol is the target.
      Accuracy: float
      /// The number of targets read.
      Targets: int64 }
    /// The loss in bits per character: nats / ln 2.
    member e.BitsPerCharacter = e.Loss / log 2.0

/// One epoch of a text run: the training report (per target), the held-out loss and the state after it.
type TextEpoch =
    { /// The epoch's training report: its loss and accuracy per target.
      Report: EpochReport
      /// The held-out loss after the epoch, in nats per target; NaN when nothing is held out.
      ValidationLoss: float
      /// The training state after the epoch: its weights, moments and epoch count.
      State: TrainingState }
    /// The held-out loss in bits per character; NaN when nothing is held out.
    member e.ValidationBitsPerCharacter = e.ValidationLoss / log 2.0

/// The buffers of one batch shape (T, B): the tape and head of the last-step form, and the
/// every-step head's, in the precision 'T. Private to one pass; written in place, never handed out.
type internal TextLane<'T> =
    { Ws: Workspace<'T>
      /// The target symbol of every (step, sample) row, (T, B), for every-step targets.
      Targets: int[]
      /// Logits, then probabilities, then d logits of every row, (T·B, V), for every-step targets.
      Probs: 'T[]
      /// d loss / d h of every row from the head, (T·B, H), for every-step targets.
      DOutputs: 'T[] }

/// Text runs: a text's windows or streams prepared for training, trained, evaluated, and continued.
module TextRuns =
    /// How a text run's model reads: T steps of one symbol each, a window or a stream model.
    [<CompiledName("InputOf")>]
    let inputOf (run: TextRun) : InputSpec =
        { TimeSteps = run.Window
          Features = run.Vocabulary.FeaturesPerSymbol run.Encoding
          Encoding = run.Encoding
          Masked = false
          PrePadded = false
          Reading = if run.Stateful then Reading.Stream else Reading.Window
          Targets = run.Targets }

    /// The samples a text of `length` symbols gives: length − T windows, or B streams' chunks.
    [<CompiledName("SampleCount")>]
    let sampleCount (run: TextRun) (length: int) : int =
        if run.Stateful then Datasets.streamSampleCount run.BatchSize run.Window length
        else max 0 (length - run.Window)

    /// The symbols held out at the end of a text of `length` symbols: ⌊Validation · length⌋.
    [<CompiledName("HeldOutLength")>]
    let heldOutLength (run: TextRun) (length: int) : int = int (floor (run.Validation * float length))

    /// The samples the held-out part gives: its chunks read as one stream, or its windows.
    let private heldOutSamples (run: TextRun) (length: int) =
        if run.Stateful then (if length < 1 then 0 else (length - 1) / run.Window) else max 0 (length - run.Window)

    /// The one-line reason a run cannot be cut from a text of `length` symbols (too short to train
    /// on, or a held-out part too short for one sample, or a bad fraction), or null when it can.
    [<CompiledName("Problem")>]
    let problem (run: TextRun) (length: int) : string | null =
        let held = heldOutLength run length
        let train = length - held
        let T, B = run.Window, run.BatchSize
        if not (run.Validation >= 0.0 && run.Validation <= TextRun.MaxValidation) then
            sprintf "the held-out fraction must be in [0, %g], got %g" TextRun.MaxValidation run.Validation
        elif T < 1 || B < 1 then sprintf "the window and the batch size must be positive, got %d and %d" T B
        elif sampleCount run train = 0 then
            if run.Stateful then
                sprintf "the training part has %d characters; %d streams of chunks of %d need at least %d × %d = %d" train B T B (int64 T + 1L) (int64 B * (int64 T + 1L))
            else sprintf "the training part has %d characters; a window of %d needs at least %d (the window and the character after it)" train T (int64 T + 1L)
        elif run.Validation > 0.0 && heldOutSamples run held = 0 then
            sprintf "the held-out part (the last %g of the text) has %d characters; one %s of %d needs at least %d"
                run.Validation held (if run.Stateful then "chunk" else "window") T (int64 T + 1L)
        else null

    /// The memory a run needs on a text of `length` symbols with `layers` layers of `units` units, in bytes
    /// (Memory.Text over the run's features, classes, batch, window, encoding, targets and reading): compare it
    /// with a limit before reading the text a second time or training.
    [<CompiledName("MemoryEstimate")>]
    let memoryEstimate (run: TextRun) (length: int) (units: int) (layers: int) : float =
        Memory.text (float length) (run.Vocabulary.FeaturesPerSymbol run.Encoding) units run.Vocabulary.Count run.BatchSize run.Window
            (run.Encoding = SymbolEncoding.OneHot) (run.Targets = Targets.Every) run.Stateful layers

    /// The data, configuration and starting state of a text run for a seed and `layers` stacked layers
    /// of `units` units: weights from Parameters.Init, then the generator for the shuffles (as Experiments.prepare).
    [<CompiledName("Prepare")>]
    let prepare (run: TextRun) (text: IndexedText) (seed: int64) (units: int) (layers: int) (epochs: int) (learningRate: float) : PreparedText =
        if isNull (box text) then nullArg "text"
        if units < 1 then invalidArg "units" (sprintf "units must be positive, got %d" units)
        if layers < 1 || layers > Parameters.MaxLayers then
            invalidArg "layers" (sprintf "layers must be in 1 … %d, got %d" Parameters.MaxLayers layers)
        if epochs < 1 then invalidArg "epochs" (sprintf "epochs must be positive, got %d" epochs)
        if not (Adam.isValidLearningRate learningRate) then
            invalidArg "learningRate" (sprintf "the learning rate must be %s, got %g" Adam.learningRateRule learningRate)
        if not (text.Vocabulary.Equals run.Vocabulary) then
            invalidArg "text" (sprintf "the text's vocabulary (%d symbols) is not the run's (%d)" text.Vocabulary.Count run.Vocabulary.Count)
        match problem run text.Length with
        | null -> ()
        | reason -> invalidArg "run" reason
        let held = heldOutLength run text.Length
        let training = text.Slice(0, text.Length - held)
        let rng = Rng.create seed
        let p = Parameters.initStack (run.Vocabulary.FeaturesPerSymbol run.Encoding) units run.Vocabulary.Count layers rng
        let policy = if run.Stateful then StatePolicy.Stateful else StatePolicy.Stateless
        // Text runs compute in float32 unless told (WithPrecision): the weights drawn in float64 as
        // for any model, then rounded.
        let config = FitConfig.Create(epochs, run.BatchSize, not run.Stateful, policy, false, learningRate, precision = Precision.Float32)
        { Run = run; Training = training; HeldOut = text.Slice(text.Length - held, held)
          Samples = sampleCount run training.Length
          Config = config; Start = Training.start config p.Value p.Next; Input = inputOf run }

    // ---- batches built from the indices -------------------------------------------------------

    let internal newLane<'T when 'T: struct and 'T: (new: unit -> 'T) and 'T :> ValueType> (run: TextRun) (layers: int) (T: int) (B: int) (H: int) (threads: int) : TextLane<'T> =
        let V = run.Vocabulary.Count
        let every = run.Targets = Targets.Every
        let ws = Model.newWorkspaceOf<'T> (run.Encoding = SymbolEncoding.OneHot) layers T B (run.Vocabulary.FeaturesPerSymbol run.Encoding) H V
        ws.SetThreads threads
        { Ws = ws
          Targets = (if every then Array.zeroCreate (T * B) else Array.empty)
          Probs = (if every then Array.zeroCreate (T * B * V) else Array.empty)
          DOutputs = (if every then Array.zeroCreate (T * B * H) else Array.empty) }

    /// Loads the lane's B samples, whose first symbols are at `first` (positions in `text`): inputs
    /// (symbol indices, or k / V for the index encoding) and targets (every step's next symbol, or the
    /// one after the window, one-hot), in the lane's precision (k / V rounded to it).
    let internal load (run: TextRun) (text: IndexedText) (lane: TextLane<'T>) (first: int -> int) =
        let tape = lane.Ws.Tape
        let T, B, V = tape.T, tape.B, run.Vocabulary.Count
        let a, o = text.Array, text.Start
        let bySymbol = tape.Symbols.Length > 0
        let every = lane.Targets.Length > 0
        for b in 0 .. B - 1 do
            let f = o + first b
            for t in 0 .. T - 1 do
                let s = int a.[f + t]
                if bySymbol then tape.Symbols.[t * B + b] <- s
                else tape.X.[t * B + b] <- Kernels.ofFloat<'T> (float s / float V)
                if every then lane.Targets.[t * B + b] <- int a.[f + t + 1]
            if not every then
                Array.Clear(lane.Ws.Targets, b * V, V)
                lane.Ws.Targets.[b * V + int a.[f + T]] <- Kernels.ofFloat<'T> 1.0

    /// Forward and the loss of a loaded lane; returns (sum of the targets' losses, targets right).
    let internal forwardOf (blocks: 'T[][]) (lane: TextLane<'T>) : struct (float * int) =
        Lstm.forwardStackOf blocks lane.Ws.Tapes
        if lane.Targets.Length > 0 then Model.everyHeadForwardFromOf 0.0 blocks lane.Ws.Top lane.Targets lane.Probs
        else Model.headForwardOf blocks lane.Ws

    /// Forward, loss and BPTT of a loaded lane, the gradients added into `grads`. h_0 is a constant
    /// (the carried state, or zeros): no gradient flows into it, so none crosses a chunk boundary.
    let internal trainPassOf (blocks: 'T[][]) (lane: TextLane<'T>) (grads: 'T[][]) : struct (float * int) =
        let ws = lane.Ws
        let result = forwardOf blocks lane
        if lane.Targets.Length > 0 then
            Model.everyHeadBackwardOf blocks ws.Top lane.Targets lane.Probs lane.DOutputs grads.[3] grads.[4]
            for l in 0 .. ws.Tapes.Length - 1 do
                Array.Clear ws.DHs.[l]
                Array.Clear ws.DCs.[l]
            Lstm.backwardStackOf blocks ws.Tapes lane.DOutputs ws.DHs ws.DCs false grads ws.DInputs
        else
            Model.headBackwardOf blocks ws grads.[3] grads.[4]
            Lstm.backwardStackOf blocks ws.Tapes Array.empty ws.DHs ws.DCs false grads ws.DInputs
        result

    /// A pass over `count` samples of `text` in batches of B (the last smaller unless `stateful`):
    /// sample j's first symbol is `first j`; a stateful pass carries each row's state from batch to
    /// batch through carryH, carryC (one (B, H) row-major block per layer). `pass` runs each loaded lane; `after` is told
    /// each batch's index, the targets so far and their summed loss. Returns (summed loss, right).
    let inline private batches (run: TextRun) (text: IndexedText) (full: TextLane<'T>) (tail: Lazy<TextLane<'T>>) (count: int)
                               (first: int -> int) (stateful: bool) (carryH: 'T[]) (carryC: 'T[])
                               ([<InlineIfLambda>] pass: TextLane<'T> -> struct (float * int)) (after: int -> float -> unit) : struct (float * int) =
        let mutable lossSum = 0.0
        let mutable correct = 0
        let mutable start = 0
        let mutable k = 0
        while start < count do
            let lane = if count - start >= full.Ws.Tape.B then full else tail.Value
            let tape = lane.Ws.Tape
            let s0 = start
            load run text lane (fun b -> first (s0 + b))
            if stateful then lane.Ws.StartFrom(carryH, carryC) else lane.Ws.StartFromZeros()
            let struct (l, c) = pass lane
            if stateful then lane.Ws.KeepFinal(carryH, carryC)
            lossSum <- lossSum + l
            correct <- correct + c
            start <- start + tape.B
            k <- k + 1
            after k lossSum
        struct (lossSum, correct)

    /// One batch of B samples starting at `starts` (positions in `text`), read from `initial` (B, N·H):
    /// the mean loss per target, the gradients of every block with `initial` held constant, and the
    /// final state. For checks: training runs the same functions on its own buffers. In 'T: the
    /// parameters, initial state and gradients are rounded to it and widened back.
    let internal batchGradientsOf<'T when 'T: struct and 'T: (new: unit -> 'T) and 'T :> ValueType> (run: TextRun) (p: Parameters) (initial: LstmState) (text: IndexedText) (starts: int[]) =
        let lane = newLane<'T> run p.Layers run.Window starts.Length p.Units 1
        load run text lane (fun b -> starts.[b])
        lane.Ws.Tapes |> Array.iteri (fun l tape ->
            Lstm.writeColumns initial.H (l * p.Units) p.Units tape.Hs 0
            Lstm.writeColumns initial.C (l * p.Units) p.Units tape.Cs 0)
        let grads = Kernels.narrowCopy<'T> (Parameters.storage (Parameters.zerosLike p))
        let struct (lossSum, _) = trainPassOf (Kernels.narrow<'T> (Parameters.storage p)) lane grads
        let targets = float starts.Length * (if run.Targets = Targets.Every then float run.Window else 1.0)
        struct (lossSum / targets, Parameters.ofStorage p (Kernels.widen grads), Lstm.finalStateOf lane.Ws.Tapes)

    /// batchGradientsOf in float64.
    let internal batchGradients (run: TextRun) (p: Parameters) (initial: LstmState) (text: IndexedText) (starts: int[]) =
        batchGradientsOf<float> run p initial text starts

    /// Where sample j of a training epoch starts: stream j mod B's chunk j / B, or window order[j].
    let private firstOf (run: TextRun) (length: int) (order: int[]) : int -> int =
        if run.Stateful then
            let B, T = run.BatchSize, run.Window
            let S = length / B
            fun j -> (j % B) * S + (j / B) * T
        else fun j -> order.[j]

    /// The summed loss and the right guesses over the first `positions` positions of `text` read as one
    /// stream from the zero state, a target at every position (the symbol after it), in forward calls
    /// of up to `piece` symbols, the state carried from call to call. Each position's h is the same
    /// number however the stream is cut (the carried state is copied exactly, and every kernel reads
    /// a row the same way whatever the rows around it), and the losses are added one position after
    /// another in reading order: the result has the same bits for every `piece`.
    /// `blocks` are p's in 'T (Parameters.storage order); p gives the shape.
    let internal streamLossOf<'T when 'T: struct and 'T: (new: unit -> 'T) and 'T :> ValueType> (run: TextRun) (p: Parameters) (blocks: 'T[][]) (text: IndexedText) (positions: int) (piece: int) : struct (float * int) =
        if piece < 1 then invalidArg "piece" (sprintf "a piece must hold at least one symbol, got %d" piece)
        if positions < 1 || positions >= text.Length then
            invalidArg "positions" (sprintf "positions must be in [1, %d] for a text of %d symbols, got %d" (text.Length - 1) text.Length positions)
        let H = p.Units
        let one = { run with BatchSize = 1; Targets = Targets.Every }
        let P = min piece positions
        // One lane of P steps per layer (no d h buffer: nothing is trained). A last, shorter piece
        // reads the first steps of the same buffers (one row: step t's numbers sit at the same
        // offsets for any T).
        let full =
            { Ws = Model.newWorkspaceOf<'T> (run.Encoding = SymbolEncoding.OneHot) p.Layers P 1 (run.Vocabulary.FeaturesPerSymbol run.Encoding) H run.Vocabulary.Count
              Targets = Array.zeroCreate P
              Probs = Array.zeroCreate (P * run.Vocabulary.Count)
              DOutputs = Array.empty }
        let lane (steps: int) =
            if steps = P then full
            else { full with Ws = { full.Ws with Tapes = full.Ws.Tapes |> Array.map (fun t -> { t with T = steps }) } }
        let mutable lossSum = 0.0
        let mutable correct = 0
        let mutable start = 0
        full.Ws.StartFromZeros()
        while start < positions do
            let l = lane (min P (positions - start))
            let steps = l.Ws.Tape.T
            let s0 = start
            load one text l (fun _ -> s0)
            Lstm.forwardStackOf blocks l.Ws.Tapes
            let struct (s, c) = Model.everyHeadForwardFromOf lossSum blocks l.Ws.Top l.Targets l.Probs
            lossSum <- s
            correct <- correct + c
            start <- start + steps
            // The state after this piece is where the next one starts: slot T to slot 0, every layer.
            for tape in l.Ws.Tapes do
                Array.Copy(tape.Hs, steps * H, tape.Hs, 0, H)
                Array.Copy(tape.Cs, steps * H, tape.Cs, 0, H)
        struct (lossSum, correct)

    /// streamLossOf in float64.
    let internal streamLoss (run: TextRun) (p: Parameters) (text: IndexedText) (positions: int) (piece: int) : struct (float * int) =
        streamLossOf<float> run p (Parameters.storage p) text positions piece

    /// The loss of `p` over a text read the way the run's model reads it (see the header): a stream
    /// model with a target at every step reads it as one stream from the zero state (in calls of up to
    /// Memory.heldOutPiece symbols), one with a target per chunk in chunks of T; a window model reads every
    /// window of it from zeros, in batches of the run's batch size. Targets as the run has them; a
    /// stream model's targets are the first ⌊(n − 1) / T⌋ · T positions.
    /// In 'T, with `blocks` p's numbers in 'T.
    let internal evaluateTextOf<'T when 'T: struct and 'T: (new: unit -> 'T) and 'T :> ValueType> (run: TextRun) (p: Parameters) (blocks: 'T[][]) (text: IndexedText) : TextEvaluation =
        let count = heldOutSamples run text.Length
        if count = 0 then invalidArg "text" (sprintf "the text has %d characters: too short for one sample of %d and the character after it" text.Length run.Window)
        if run.Stateful && run.Targets = Targets.Every then
            let positions = count * run.Window
            let struct (lossSum, correct) = streamLossOf<'T> run p blocks text positions Memory.heldOutPiece
            { Loss = lossSum / float positions; Accuracy = float correct / float positions; Targets = int64 positions }
        else
            let T, H, L = run.Window, p.Units, p.Layers
            let B = if run.Stateful then 1 else min run.BatchSize count
            let one = { run with BatchSize = B }
            let full = newLane<'T> one L T B H 1
            let tail = lazy (newLane<'T> one L T (count % B) H 1)
            let first = if run.Stateful then (fun j -> j * T) else id
            let carryH, carryC = Array.zeroCreate (L * H), Array.zeroCreate (L * H)
            let struct (lossSum, correct) = batches one text full tail count first run.Stateful carryH carryC (forwardOf blocks) (fun _ _ -> ())
            let targets = int64 count * (if run.Targets = Targets.Every then int64 T else 1L)
            { Loss = lossSum / float targets; Accuracy = float correct / float targets; Targets = targets }

    /// The loss of `p` over a text read the way the run's model reads it, in float64 (see evaluateTextOf).
    [<CompiledName("EvaluateText")>]
    let evaluateText (run: TextRun) (p: Parameters) (text: IndexedText) : TextEvaluation =
        evaluateTextOf<float> run p (Parameters.storage p) text

    /// The held-out loss of `p` (see evaluateText); NaN figures when nothing is held out.
    /// The loss of `p` over a text, computed in `precision` (see evaluateText).
    let internal evaluateTextIn (precision: Precision) (run: TextRun) (p: Parameters) (text: IndexedText) : TextEvaluation =
        Training.checkPrecision precision
        if precision = Precision.Float32 then evaluateTextOf<float32> run p (Kernels.narrow<float32> (Parameters.storage p)) text
        else evaluateText run p text

    /// The held-out loss of `p` (see evaluateText), in the run's precision; NaN figures when nothing is held out.
    [<CompiledName("Validate")>]
    let validate (prepared: PreparedText) (p: Parameters) : TextEvaluation =
        if prepared.HeldOut.Length = 0 then { Loss = nan; Accuracy = nan; Targets = 0L }
        else evaluateTextIn prepared.Config.Precision prepared.Run p prepared.HeldOut

    /// The remaining epochs, lazily, one TextEpoch each: trained on the training part (per batch,
    /// `onBatch` is told the progress), then read on the held-out part. A stream run's state is
    /// reset after every epoch (the streams start again from their beginnings). Each epoch works on
    /// a private copy of the weights and moments, handed out as its state and never written again.
    let internal fitOf<'T when 'T: struct and 'T: (new: unit -> 'T) and 'T :> ValueType> (onBatch: TextBatchReport -> unit) (prepared: PreparedText) : seq<TextEpoch> =
        let run, config = prepared.Run, prepared.Config
        let T, B, N = run.Window, run.BatchSize, prepared.Samples
        Seq.delay (fun () ->
            let H, L = prepared.Start.Parameters.Units, prepared.Start.Parameters.Layers
            let full = newLane<'T> run L T (min B N) H config.Threads
            let tail = lazy (newLane<'T> run L T (N % B) H config.Threads)
            let grads = Kernels.narrow<'T> (Parameters.storage (Parameters.zerosLike prepared.Start.Parameters))
            let carryH, carryC = Array.zeroCreate (L * B * H), Array.zeroCreate (L * B * H)
            let inOrder = Array.init N id
            let batchCount = (N + B - 1) / B
            let perTarget = if run.Targets = Targets.Every then float T else 1.0
            Seq.unfold
                (fun (state: TrainingState) ->
                    if state.Epoch >= config.Epochs then None
                    else
                        let epoch = state.Epoch + 1
                        // The epoch's private working set in 'T, widened to the float64 records at its end.
                        let thetaS = Kernels.narrowCopy<'T> (Parameters.storage state.Parameters)
                        let mS, vS = Kernels.narrowCopy<'T> (Parameters.storage state.Optimizer.M), Kernels.narrowCopy<'T> (Parameters.storage state.Optimizer.V)
                        for g in grads do Array.Clear g
                        let mutable rng = state.Rng
                        let order =
                            if config.Shuffle then
                                let d = Rng.permutation N rng
                                rng <- d.Next
                                d.Value
                            else inOrder
                        if run.Stateful then
                            Lstm.writeLayers state.Carried.H L carryH
                            Lstm.writeLayers state.Carried.C L carryC
                        let step = ref state.Optimizer.Step
                        let report k lossSum =
                            let samples = min N (k * B)
                            onBatch { Epoch = epoch; Batch = k; Batches = batchCount
                                      Loss = lossSum / (float samples * perTarget); Characters = int64 samples * int64 T }
                        let struct (lossSum, correct) =
                            batches run prepared.Training full tail N (firstOf run prepared.Training.Length order) run.Stateful carryH carryC
                                (fun lane ->
                                    let r = trainPassOf thetaS lane grads
                                    step.Value <- step.Value + 1
                                    // Adam zeroes each gradient as it reads it: the buffers are clear for the next batch.
                                    Adam.updateInPlace config.Optimizer step.Value thetaS grads mS vS true
                                    r)
                                report
                        let targets = float N * perTarget
                        let theta = Parameters.ofStorage state.Parameters (Kernels.widen thetaS)
                        let next =
                            { Parameters = theta
                              Optimizer = { Step = step.Value; M = Parameters.ofStorage state.Optimizer.M (Kernels.widen mS); V = Parameters.ofStorage state.Optimizer.V (Kernels.widen vS) }
                              Rng = rng
                              Epoch = epoch
                              // Streams are reset after every epoch; windows carry nothing.
                              Carried = Training.reset state.Carried }
                        let outcome =
                            { Report = { Epoch = epoch; Loss = lossSum / targets; Accuracy = float correct / targets }
                              ValidationLoss =
                                (if prepared.HeldOut.Length = 0 then nan
                                 else (evaluateTextOf<'T> prepared.Run theta thetaS prepared.HeldOut).Loss)
                              State = next }
                        Some(outcome, next))
                prepared.Start)

    /// The remaining epochs, lazily, one TextEpoch each (see fitOf).
    let internal fit (onBatch: TextBatchReport -> unit) (prepared: PreparedText) : seq<TextEpoch> =
        Training.checkPrecision prepared.Config.Precision
        if prepared.Config.Precision = Precision.Float32 then fitOf<float32> onBatch prepared else fitOf<float> onBatch prepared

    /// The remaining epochs with no progress inside them (see fit).
    [<CompiledName("Fit")>]
    let fitQuietly (prepared: PreparedText) : seq<TextEpoch> = fit ignore prepared

    // ---- generation ---------------------------------------------------------------------------

    /// The index chosen from probabilities: the most likely (the first of equals) at temperature 0,
    /// otherwise a draw from p^(1/τ) renormalised (the softmax at temperature τ).
    [<CompiledName("Choose")>]
    let choose (temperature: float) (probabilities: float[]) (rng: Rng) : Draw<int> =
        if not (temperature >= 0.0) || Double.IsPositiveInfinity temperature then
            invalidArg "temperature" (sprintf "the temperature must be a finite number ≥ 0, got %g" temperature)
        // NaN compares false both ways: argmax and the draw would quietly pick symbol 0 every time.
        match Array.tryFindIndex Double.IsNaN probabilities with
        | Some k -> invalidArg "probabilities" (sprintf "probability %d is NaN; expected numbers from 0 to 1" k)
        | None -> ()
        let argmax () =
            let mutable best = 0
            for k in 1 .. probabilities.Length - 1 do
                if probabilities.[k] > probabilities.[best] then best <- k
            best
        if temperature = 0.0 then { Value = argmax (); Next = rng }
        else
            let top = probabilities.[argmax ()]
            // log p / τ, shifted by the largest so the biggest weight is exactly 1.
            let weights = probabilities |> Array.map (fun q -> if q <= 0.0 then 0.0 else exp ((log q - log top) / temperature))
            let total = Array.sum weights
            let u = Rng.nextDouble rng
            let target = u.Value * total
            let mutable k = 0
            let mutable acc = weights.[0]
            while acc <= target && k < weights.Length - 1 do
                k <- k + 1
                acc <- acc + weights.[k]
            // A draw never lands on a zero weight (rounding at the very end aside).
            while weights.[k] = 0.0 && k > 0 do k <- k - 1
            { Value = k; Next = u.Next }

    /// Continues `start` by `steps` symbols, the way the model was trained to read (see below),
    /// choosing each symbol with `choose temperature`. Returns only the generated symbols, lazily, one
    /// at a time: memory stays bounded (the state and the last T symbols) however many are asked for.
    /// The arguments are checked at the call: ArgumentException for a start symbol outside the
    /// vocabulary (naming it and its position), a start too short for the model, a negative
    /// temperature, or a model that reads numbers or no plain window of symbols; while the sequence is
    /// read, ArgumentException (parameter "model") if a step's probabilities become NaN (overflow).
    ///
    /// A model trained with a target at every step reads the start one symbol at a time from the
    /// zero state, carrying its state, then predicts and feeds back one symbol at a time.
    /// A window model predicts each symbol from the last T symbols, read from the zero state.
    /// A stream model trained with one target per chunk (model files of version 2) predicts only after
    /// reading a multiple of T symbols since a reset, so it predicts the symbol at position p from a
    /// state that has read, from zeros, the symbols since position p mod T: T streams run side by
    /// side, stream φ reset at position φ and carried one symbol per step, and the one whose phase
    /// fits p predicts.
    [<CompiledName("Generate")>]
    let generate (model: SavedModel) (start: IReadOnlyList<string>) (steps: int) (temperature: float) (rng: Rng) : seq<string> =
        let input, vocabulary = model.Input, model.Vocabulary
        if input.Encoding = SymbolEncoding.Features then
            invalidArg "model" "the model reads numbers the caller supplies (encoding \"features\"), not symbols"
        if steps < 0 then invalidArg "steps" (sprintf "steps must not be negative, got %d" steps)
        choose temperature [| 1.0 |] rng |> ignore
        for k in 0 .. start.Count - 1 do
            if not (vocabulary.Contains start.[k]) then
                invalidArg "start" (sprintf "%s (position %d of the start text) is not in the model's vocabulary of %d symbols"
                                        (Vocabulary.Quote start.[k]) (k + 1) vocabulary.Count)
        let stream = input.Reading = Reading.Stream
        let every = input.Targets = Targets.Every
        let T = model.WindowLength
        if not stream && (input.PrePadded || input.TimeSteps > 1 && model.SymbolsPerStep > 1) then
            invalidArg "model" "the model reads no plain window of symbols (pre-padded or several symbols per step); generate continues window and stream models"
        let needed = if every && stream then 1 else T
        if start.Count < needed then
            let what = if every && stream then "reads a stream: give at least one symbol" elif stream then sprintf "reads chunks of %d: give at least %d" T T else sprintf "reads windows of %d: give at least %d" T T
            invalidArg "start" (sprintf "the start text has %d symbols, the model %s" start.Count what)
        let encode (symbols: IReadOnlyList<string>) = (ModelFile.encodeSymbols model symbols |> Result.defaultWith (fun e -> invalidArg "start" e)).Inputs
        let p, H = model.Parameters, model.Parameters.StateUnits
        let start = Array.ofSeq start
        seq {
            let mutable r = rng
            let mutable picked = 0
            let pick (probabilities: float[]) =
                if Array.exists Double.IsNaN probabilities then
                    invalidArg "model" (sprintf "the probabilities for generated symbol %d became NaN (the model's numbers overflowed: its weights are too large)" (picked + 1))
                picked <- picked + 1
                let d = choose temperature probabilities r
                r <- d.Next
                vocabulary.[d.Value]
            if every && stream then
                // The start in pieces of at most 256 symbols, the state carried; then one symbol a step.
                let mutable state = LstmState.Zeros(1, H)
                let mutable probabilities = Array.empty
                for chunk in Array.chunkBySize 256 start do
                    let prediction = Model.predictIn p state (encode chunk) Unmasked model.Precision
                    state <- prediction.Final
                    probabilities <- prediction.Probabilities.Row(0).ToArray()
                for k in 0 .. steps - 1 do
                    let s = pick probabilities
                    yield s
                    if k < steps - 1 then
                        let prediction = Model.predictIn p state (encode [| s |]) Unmasked model.Precision
                        state <- prediction.Final
                        probabilities <- prediction.Probabilities.Row(0).ToArray()
            elif stream then
                // Row φ of the batch is the stream reset at position φ; rows not yet begun stay zero.
                let mutable state = LstmState.Zeros(T, H)
                let mutable q = 0
                let mutable current = start.[0]
                let mutable made = 0
                while made < steps do
                    let x = (encode [| current |]).[0]
                    let batch = Matrix<float>.Build.Dense(T, x.ColumnCount, fun _ k -> x.[0, k])
                    let prediction = Model.predictIn p state [| batch |] Unmasked model.Precision
                    let keep (m: Matrix<float>) = Matrix<float>.Build.Dense(T, H, fun row k -> if row <= q then m.[row, k] else 0.0)
                    state <- { H = keep prediction.Final.H; C = keep prediction.Final.C }
                    if q >= start.Length - 1 then
                        let s = pick (prediction.Probabilities.Row((q + 1) % T).ToArray())
                        yield s
                        made <- made + 1
                        current <- s
                    else current <- start.[q + 1]
                    q <- q + 1
            else
                let zeros = LstmState.Zeros(1, H)
                let window = Queue<string>(Seq.skip (start.Length - T) start)
                for _ in 0 .. steps - 1 do
                    let prediction = Model.predictIn p zeros (encode (window.ToArray())) Unmasked model.Precision
                    let s = pick (prediction.Probabilities.Row(0).ToArray())
                    yield s
                    window.Dequeue() |> ignore
                    window.Enqueue s
        }

/// Text runs from C#: the progress hook as an Action (null: none).
type TextTraining =
    /// The remaining epochs of a prepared text run, each with its held-out loss; `onBatch` (null:
    /// none) is told the progress after every batch.
    static member Fit(prepared: PreparedText,
                      [<Optional; DefaultParameterValue(null: Action<TextBatchReport> | null)>] onBatch: Action<TextBatchReport> | null) : IEnumerable<TextEpoch> =
        match onBatch with
        | null -> TextRuns.fit ignore prepared
        | f -> TextRuns.fit f.Invoke prepared
