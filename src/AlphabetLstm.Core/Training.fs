/// Keras-style `fit`, `evaluate` and `predict`, with the LSTM state policy chosen by the caller.
///
/// An epoch: a fresh permutation of the samples if shuffling (from the generator in the training
/// state), then batches of BatchSize in that order (the last may be smaller), one Adam step each.
///   Stateless: every batch starts from the zero state.
///   Stateful:  batch k+1's row j starts from batch k's final row j. The carried state is a
///              constant to BPTT (truncated at batch boundaries). The caller says where it resets.
/// Training is a pure function from one TrainingState to the next; `fit` is the sequence of them,
/// `fitEvery` the same sequence sampled every k epochs. Inside one epoch (or one stretch of k) a
/// private copy of the parameters and moments is updated in place and then handed out as the new
/// state, never written again, so no value a caller holds ever changes.
namespace AlphabetLstm.Core

open System
open System.Runtime.InteropServices
open MathNet.Numerics.LinearAlgebra

/// How the LSTM state flows from batch to batch within an epoch.
type StatePolicy =
    /// Each batch starts from the zero state (Keras' default, stateful=False).
    | Stateless = 0
    /// Batch k+1's row j starts from batch k's final row j (Keras' stateful=True); the carried state
    /// is a constant to BPTT. Between epochs the caller decides: carry it on, or pass zeros (reset).
    | Stateful = 1

/// How to train.
type FitConfig =
    { /// The epoch to train up to, a total counted from the first: a state already at it trains no
      /// more (for a number of further epochs, Training.Continue).
      Epochs: int
      /// B, samples per batch (the last batch of an epoch may be smaller).
      BatchSize: int
      /// Whether each epoch visits the samples in a fresh order drawn from the generator.
      Shuffle: bool
      /// Whether the state is carried from batch to batch.
      Policy: StatePolicy
      /// Whether padded steps are masked (leave the state unchanged).
      Masked: bool
      /// Adam's settings.
      Optimizer: AdamConfig
      /// Threads one training step may use; the result is the same bits for every count. Only
      /// large steps are split (see Lstm.partsOf); 1 runs everything on the calling thread.
      Threads: int
      /// The number type of parameters, gradients, Adam moments, tape and data (Float64 unless told).
      Precision: Precision }

    /// Keras' `fit` defaults: batch 32, shuffle, stateless, no masking, Keras' Adam; one thread.
    static member Default(epochs: int) =
        { Epochs = epochs; BatchSize = 32; Shuffle = true; Policy = StatePolicy.Stateless; Masked = false; Optimizer = AdamConfig.Keras; Threads = 1; Precision = Precision.Float64 }

    /// A configuration with Keras' `fit` defaults for every argument not given: batch 32, shuffle,
    /// stateless, no masking, Adam with learning rate 0.001 (β1 0.9, β2 0.999, ε 1e-7).
    static member Create(epochs: int,
                         [<Optional; DefaultParameterValue(32)>] batchSize: int,
                         [<Optional; DefaultParameterValue(true)>] shuffle: bool,
                         [<Optional; DefaultParameterValue(StatePolicy.Stateless)>] policy: StatePolicy,
                         [<Optional; DefaultParameterValue(false)>] masked: bool,
                         [<Optional; DefaultParameterValue(0.001)>] learningRate: float,
                         [<Optional; DefaultParameterValue(1)>] threads: int,
                         [<Optional; DefaultParameterValue(Precision.Float64)>] precision: Precision) : FitConfig =
        { Epochs = epochs; BatchSize = batchSize; Shuffle = shuffle; Policy = policy; Masked = masked
          Optimizer = { AdamConfig.Keras with LearningRate = learningRate }; Threads = threads; Precision = precision }

    /// The same configuration with another number of epochs.
    member c.WithEpochs(epochs: int) = { c with Epochs = epochs }
    /// The same configuration with another number of threads per step (the result does not change).
    member c.WithThreads(threads: int) = { c with Threads = threads }
    /// The same configuration in another precision.
    member c.WithPrecision(precision: Precision) = { c with Precision = precision }

/// Everything training needs to go on exactly: save it, and a resumed run matches an unbroken one.
type TrainingState =
    { /// The current weights.
      Parameters: Parameters
      /// Adam's moments and step count.
      Optimizer: AdamState
      /// The generator for the next shuffle.
      Rng: Rng
      /// Epochs completed so far.
      Epoch: int
      /// The LSTM state the next stateful batch starts from, (B, H), or (B, N·H) for a stack: zeros after a reset. Stateless
      /// training neither reads nor changes it.
      Carried: LstmState }

/// What one epoch measured: the sample-weighted mean loss and accuracy over its batches, with the
/// weights as they were for each batch (Keras' progress-bar numbers).
type EpochReport =
    { /// The epoch's number, counted from 1.
      Epoch: int
      /// The sample-weighted mean cross-entropy over the epoch's batches.
      Loss: float
      /// The fraction of samples whose argmax prediction was the target, over the epoch's batches.
      Accuracy: float }

/// The divergence rule, the one every run follows: training cannot go on after an epoch whose loss
/// is not finite, or after which a weight is not.
module internal Divergence =
    /// Why training cannot go on after an epoch with this loss: "the loss became NaN" (or Infinity).
    let ofLoss (loss: float) : string | null =
        if Double.IsFinite loss then null
        else "the loss became " + loss.ToString(Globalization.CultureInfo.InvariantCulture)

    /// Why training cannot go on with these weights: "the weights became non-finite".
    let ofWeights (p: Parameters) : string | null =
        if Parameters.blocks p |> Array.forall (fun b -> Array.forall Double.IsFinite b.Values) then null
        else "the weights became non-finite"

/// An epoch's report and the state after it.
type EpochOutcome =
    { /// What the epoch measured.
      Report: EpochReport
      /// The state after the epoch.
      State: TrainingState }

    /// The divergence rule: true, with the epoch and the reason ("the loss became NaN", "the weights
    /// became non-finite"), when training cannot go on after this epoch; false when its loss and every
    /// weight are finite.
    member o.TryGetDivergence([<Out>] epoch: byref<int>, [<Out>] reason: byref<string>) : bool =
        match Divergence.ofLoss o.Report.Loss |> Option.ofObj |> Option.orElse (Divergence.ofWeights o.State.Parameters |> Option.ofObj) with
        | Some why ->
            epoch <- o.Report.Epoch
            reason <- why
            true
        | None -> false

/// Consecutive epochs trained on one working copy of the weights: each epoch's report, in order,
/// and the state after the last of them.
type EpochStretch =
    { /// Each epoch's report, in order.
      Reports: EpochReport[]
      /// The state after the last of them.
      State: TrainingState }

    /// The divergence rule over a stretch (only its last weights exist): true, with the first epoch
    /// whose loss is not finite, or the last epoch when a weight after it is not, and the reason;
    /// false when training can go on.
    member s.TryGetDivergence([<Out>] epoch: byref<int>, [<Out>] reason: byref<string>) : bool =
        let byLoss = s.Reports |> Array.tryPick (fun r -> Divergence.ofLoss r.Loss |> Option.ofObj |> Option.map (fun why -> r.Epoch, why))
        let found =
            match byLoss with
            | Some _ -> byLoss
            | None when s.Reports.Length > 0 ->
                Divergence.ofWeights s.State.Parameters |> Option.ofObj |> Option.map (fun why -> s.Reports.[s.Reports.Length - 1].Epoch, why)
            | None -> None
        match found with
        | Some(at, why) ->
            epoch <- at
            reason <- why
            true
        | None -> false

/// Loss and accuracy of a model on a dataset, with its predictions.
type Evaluation =
    { /// The mean cross-entropy over the samples.
      Loss: float
      /// The fraction of samples whose argmax prediction is the target.
      Accuracy: float
      /// Softmax output, (N, V).
      Probabilities: Matrix<float>
      /// The argmax class of each sample.
      Predicted: int[] }

    /// The softmax output as arrays, one per sample (N arrays of V numbers): a copy, for callers without MathNet.
    member e.ProbabilityRows : float[][] = e.Probabilities.ToRowArrays()

/// A stateful evaluation, and the state after its last batch.
type StatefulEvaluation =
    { /// Loss, accuracy and predictions.
      Evaluation: Evaluation
      /// The state after the last batch: pass it on to carry on.
      Final: LstmState }

/// Training's functions, curried (the Training class and AlphabetLstm.FSharp.Training call them).
module internal Training =
    /// Refuses a precision other than Float64 and Float32.
    let internal checkPrecision (precision: Precision) =
        if precision <> Precision.Float64 && precision <> Precision.Float32 then
            invalidArg "precision" (sprintf "the precision must be Float64 or Float32, got %d" (int precision))

    /// The parameters as a model of this precision holds them: unchanged in float64, each value
    /// rounded to the nearest float32 in float32 (then every value is a float32, exactly).
    let internal roundTo (precision: Precision) (p: Parameters) : Parameters =
        checkPrecision precision
        if precision = Precision.Float32 then Parameters.map (fun x -> float (float32 x)) p else p

    /// The state before the first epoch: the parameters (rounded to float32 for a float32 run: the
    /// same draws, so Parameters.Init's stream of numbers is unchanged), fresh Adam moments, the
    /// generator, and a zero carried state of (BatchSize, H).
    [<CompiledName("Start")>]
    let start (config: FitConfig) (p: Parameters) (rng: Rng) : TrainingState =
        let p = roundTo config.Precision p
        { Parameters = p; Optimizer = Adam.init p; Rng = rng; Epoch = 0; Carried = LstmState.Zeros(max 1 config.BatchSize, p.StateUnits) }

    /// The zero state of the same shape (LstmState.Zeros): what Keras' `reset_states()` does, as a value.
    let reset (state: LstmState) : LstmState = LstmState.Zeros state

    let private checkData (p: Parameters) (data: Dataset) (batchSize: int) =
        if batchSize < 1 then invalidArg "batchSize" (sprintf "batch size must be positive, got %d" batchSize)
        if data.Features <> p.Inputs then
            invalidArg "data" (sprintf "the data has %d input features, the model expects %d" data.Features p.Inputs)
        if data.Targets.ColumnCount <> p.Classes then
            invalidArg "data" (sprintf "the data has %d classes, the model has %d" data.Targets.ColumnCount p.Classes)

    let private checkStatefulBatch (what: string) (count: int) (batchSize: int) =
        if count % batchSize <> 0 then
            invalidArg "batchSize"
                (sprintf "%s needs the sample count (%d) to be a multiple of the batch size (%d), as Keras requires: the carried state has one row per batch position"
                    what count batchSize)

    let private checkCarried (state: LstmState) (B: int) (H: int) =
        if state.Batch <> B || state.Units <> H then
            invalidArg "state" (sprintf "the carried state is (%d, %d), expected (batch %d, units %d)" state.Batch state.Units B H)

    /// Loads samples `order.[start .. start + B − 1]` into a workspace: inputs, targets, masking.
    /// `xs` are the dataset's input storages (column-major (N, I) per step), from `storages`.
    let internal loadBatch (data: Dataset) (xs: 'T[][]) (ys: 'T[]) (order: int[]) (start: int) (masked: bool) (ws: Workspace<'T>) =
        let tape = ws.Tape
        let N, B, I, V = data.Count, tape.B, tape.I, data.Targets.ColumnCount
        for b in 0 .. B - 1 do
            let n = order.[start + b]
            for t in 0 .. tape.T - 1 do
                for k in 0 .. I - 1 do
                    tape.X.[(t * B + b) * I + k] <- xs.[t].[k * N + n]
                tape.Real.[t * B + b] <- not masked || Datasets.isReal tape.T data.Lengths.[n] t
            for v in 0 .. V - 1 do
                ws.Targets.[b * V + v] <- ys.[v * N + n]
        // Every layer of a stack masks the same steps.
        for k in 1 .. ws.Tapes.Length - 1 do
            Array.blit tape.Real 0 ws.Tapes.[k].Real 0 tape.Real.Length

    /// The dataset's inputs (one column-major (N, I) array per step) and targets (column-major (N, V)).
    let internal storages (data: Dataset) =
        let dense (m: Matrix<float>) = Parameters.matrixValues (Matrix<float>.Build.DenseOfMatrix m)
        Array.map dense data.Inputs, dense data.Targets

    /// The scratch a pass over a dataset works in: workspaces for a full and a last (smaller) batch
    /// (the same one when B divides N), the dataset's storage, the samples in their own order (for
    /// unshuffled passes), the gradient buffers, and the carried state's rows, (B, H) row-major.
    /// Private to one `epoch`/`evaluate` call or one enumeration of `fit`, which reuses it from
    /// epoch to epoch; written in place for speed, never handed out.
    /// Every array is in the run's precision 'T: the data are rounded to it once, here.
    type private Scratch<'T> =
        { Full: Workspace<'T>
          Tail: Workspace<'T>
          Xs: 'T[][]
          Ys: 'T[]
          InOrder: int[]
          Grads: 'T[][]
          CarryH: 'T[]
          CarryC: 'T[] }

    let private newScratch<'T when 'T: struct and 'T: (new: unit -> 'T) and 'T :> ValueType> (p: Parameters) (data: Dataset) (batchSize: int) (threads: int) : Scratch<'T> =
        checkData p data batchSize
        let N, T, H, B, L = data.Count, data.TimeSteps, p.Units, min batchSize data.Count, p.Layers
        let full = Model.newWorkspaceOf<'T> false L T B data.Features H p.Classes
        let tail = if N % B = 0 then full else Model.newWorkspaceOf<'T> false L T (N % B) data.Features H p.Classes
        full.SetThreads threads
        tail.SetThreads threads
        let xs, ys = storages data
        { Full = full; Tail = tail; Xs = Kernels.narrow<'T> xs; Ys = (Kernels.narrow<'T> [| ys |]).[0]
          InOrder = Array.init N id
          Grads = Kernels.narrow<'T> (Parameters.storage (Parameters.zerosLike p))
          CarryH = Array.zeroCreate (L * B * H)
          CarryC = Array.zeroCreate (L * B * H) }

    /// The scratch's carried rows (one (B, H) block per layer) from a state value, and back.
    let private loadCarry (s: Scratch<'T>) (state: LstmState) =
        Lstm.writeLayers state.H s.Full.Tapes.Length s.CarryH
        Lstm.writeLayers state.C s.Full.Tapes.Length s.CarryC

    let private carriedState (s: Scratch<'T>) : LstmState =
        let B, H, L = s.Full.Tape.B, s.Full.Tape.H, s.Full.Tapes.Length
        { H = Lstm.readLayers B H L (fun _ -> s.CarryH) (fun l -> l * B * H); C = Lstm.readLayers B H L (fun _ -> s.CarryC) (fun l -> l * B * H) }

    /// The one batch loop: every batch of `order`, in order, loaded into its workspace, started from
    /// the carried rows (stateful) or from zeros, run through `pass`, whose final rows are then carried
    /// on (stateful). Returns the summed per-sample loss and the number correct.
    let inline private eachBatch (s: Scratch<'T>) (data: Dataset) (order: int[]) (masked: bool) (stateful: bool)
                                 ([<InlineIfLambda>] pass: Workspace<'T> -> int -> struct (float * int)) : struct (float * int) =
        let N = data.Count
        let mutable lossSum = 0.0
        let mutable correct = 0
        let mutable start = 0
        while start < N do
            let ws = if N - start >= s.Full.Tape.B then s.Full else s.Tail
            let tape = ws.Tape
            loadBatch data s.Xs s.Ys order start masked ws
            if stateful then ws.StartFrom(s.CarryH, s.CarryC) else ws.StartFromZeros()
            let struct (l, c) = pass ws start
            if stateful then ws.KeepFinal(s.CarryH, s.CarryC)
            lossSum <- lossSum + l
            correct <- correct + c
            start <- start + tape.B
        struct (lossSum, correct)

    /// Runs `count` epochs from `state` on one private working set, which becomes the new state: the
    /// parameters and moments are copied once per stretch, not once per epoch. After each epoch a
    /// stateful run's carried state becomes `betweenEpochs carried` (Training.reset for the tutorial's
    /// reset_states(), id to carry it on).
    let private runEpochs (scratch: Scratch<'T>) (config: FitConfig) (betweenEpochs: LstmState -> LstmState) (data: Dataset) (state: TrainingState) (count: int) : EpochStretch =
        let p0 = state.Parameters
        checkData p0 data config.BatchSize
        let N, H, B = data.Count, p0.StateUnits, config.BatchSize
        if p0.Units <> scratch.Full.Tape.H || p0.Layers <> scratch.Full.Tapes.Length then
            invalidArg "state" (sprintf "the parameters have %d layers of %d units, this run was set up for %d of %d" p0.Layers p0.Units scratch.Full.Tapes.Length scratch.Full.Tape.H)
        let stateful = config.Policy = StatePolicy.Stateful
        if stateful then
            checkStatefulBatch "stateful training" N B
            checkCarried state.Carried B H
            loadCarry scratch state.Carried
        // Private working set in 'T: updated in place below and handed out at the end as the new
        // state (widened to float64 there: the float64 arrays themselves, or exact copies of float32
        // ones), after which nothing writes to it again.
        let thetaS, gS = Kernels.narrowCopy<'T> (Parameters.storage p0), scratch.Grads
        let mS, vS = Kernels.narrowCopy<'T> (Parameters.storage state.Optimizer.M), Kernels.narrowCopy<'T> (Parameters.storage state.Optimizer.V)
        for g in gS do Array.Clear g
        let reports = Array.zeroCreate count
        let mutable rng = state.Rng
        let step = ref state.Optimizer.Step
        let mutable carried = state.Carried
        for e in 0 .. count - 1 do
            let order =
                if config.Shuffle then
                    let d = Rng.permutation N rng
                    rng <- d.Next
                    d.Value
                else scratch.InOrder
            let struct (lossSum, correct) =
                eachBatch scratch data order config.Masked stateful (fun ws _ ->
                    let result = Model.trainPassOf thetaS ws false gS
                    step.Value <- step.Value + 1
                    // Adam zeroes each gradient as it reads it: the buffers are clear for the next batch.
                    Adam.updateInPlace config.Optimizer step.Value thetaS gS mS vS true
                    result)
            reports.[e] <- { Epoch = state.Epoch + e + 1; Loss = lossSum / float N; Accuracy = float correct / float N }
            if stateful then
                // Between epochs the caller's step decides what the next epoch starts from.
                carried <- betweenEpochs (carriedState scratch)
                checkCarried carried B H
                loadCarry scratch carried
        { Reports = reports
          State =
            { Parameters = Parameters.ofStorage p0 (Kernels.widen thetaS)
              Optimizer = { Step = step.Value; M = Parameters.ofStorage state.Optimizer.M (Kernels.widen mS); V = Parameters.ofStorage state.Optimizer.V (Kernels.widen vS) }
              Rng = rng
              Epoch = state.Epoch + count
              Carried = carried } }

    /// Runs one epoch from `state`. Pure: returns the report and the next state, whose carried state
    /// (stateful) is where the epoch ended: pass `Training.reset` of it to start the next from zeros.
    [<CompiledName("Epoch")>]
    let epoch (config: FitConfig) (data: Dataset) (state: TrainingState) : EpochOutcome =
        checkPrecision config.Precision
        let s =
            if config.Precision = Precision.Float32 then runEpochs (newScratch<float32> state.Parameters data config.BatchSize config.Threads) config id data state 1
            else runEpochs (newScratch<float> state.Parameters data config.BatchSize config.Threads) config id data state 1
        { Report = s.Reports.[0]; State = s.State }

    /// fitEvery's stretches in 'T (a float32 run: float32 working arrays, widened at each stretch's end).
    let private stretchesOf<'T when 'T: struct and 'T: (new: unit -> 'T) and 'T :> ValueType> (every: int) (betweenEpochs: LstmState -> LstmState) (config: FitConfig) (data: Dataset) (state: TrainingState) : seq<EpochStretch> =
        Seq.delay (fun () ->
            let scratch = lazy (newScratch<'T> state.Parameters data config.BatchSize config.Threads)
            Seq.unfold
                (fun (s: TrainingState) ->
                    if s.Epoch >= config.Epochs then None
                    else
                        let o = runEpochs scratch.Value config betweenEpochs data s (min every (config.Epochs - s.Epoch))
                        Some(o, o.State))
                state)

    /// The epochs from `state.Epoch + 1` up to `config.Epochs`, lazily, `every` at a time: each
    /// stretch holds the reports of its epochs and the state after the last one (the final stretch
    /// may be shorter). After every epoch a stateful run's carried state goes through `betweenEpochs`
    /// (`Training.reset`: the tutorial's reset_states() after each epoch; `id`: carry it on). The
    /// states are those `fitWith` hands out at the same epochs, bit for bit; only the ones in between
    /// are never made, which saves copying the weights and Adam's moments every epoch. Enumerating it
    /// again recomputes the same stretches.
    let internal fitEvery (every: int) (betweenEpochs: LstmState -> LstmState) (config: FitConfig) (data: Dataset) (state: TrainingState) : seq<EpochStretch> =
        if every < 1 then invalidArg "every" (sprintf "epochs per stretch must be positive, got %d" every)
        if config.Epochs < 0 then invalidArg "config" (sprintf "epochs must not be negative, got %d" config.Epochs)
        if config.BatchSize < 1 then invalidArg "config" (sprintf "batch size must be positive, got %d" config.BatchSize)
        checkPrecision config.Precision
        if config.Precision = Precision.Float32 then stretchesOf<float32> every betweenEpochs config data state
        else stretchesOf<float> every betweenEpochs config data state

    /// The epochs from `state.Epoch + 1` up to `config.Epochs`, lazily, one outcome each; a stateful
    /// run's carried state goes through `betweenEpochs` after every epoch.
    let internal fitWith (betweenEpochs: LstmState -> LstmState) (config: FitConfig) (data: Dataset) (state: TrainingState) : seq<EpochOutcome> =
        fitEvery 1 betweenEpochs config data state |> Seq.map (fun s -> { Report = s.Reports.[0]; State = s.State })

    /// `fitWith id`: Keras' `fit(epochs=…)`, which carries a stateful model's state across epochs.
    [<CompiledName("Fit")>]
    let fit (config: FitConfig) (data: Dataset) (state: TrainingState) : seq<EpochOutcome> = fitWith id config data state

    /// The last state of `fitWith` (the state itself when no epoch remains). Trains on one working
    /// copy from start to end.
    let internal trainWith (betweenEpochs: LstmState -> LstmState) (config: FitConfig) (data: Dataset) (state: TrainingState) : TrainingState =
        fitEvery (max 1 (config.Epochs - state.Epoch)) betweenEpochs config data state |> Seq.fold (fun _ o -> o.State) state

    /// `trainWith id`: the state after Keras' `fit(epochs=…)`.
    [<CompiledName("TrainCarrying")>]
    let train (config: FitConfig) (data: Dataset) (state: TrainingState) : TrainingState = trainWith id config data state

    let private evaluation (N: int) (V: int) (probs: 'T[]) (struct (lossSum: float, correct: int)) : Evaluation =
        let probabilities = Matrix<float>.Build.Dense(N, V, fun n v -> Kernels.toFloat probs.[n * V + v])
        { Loss = lossSum / float N
          Accuracy = float correct / float N
          Probabilities = probabilities
          Predicted = Array.init N (fun n -> probabilities.Row(n).MaximumIndex()) }

    /// The evaluation in 'T, and the carried state after it.
    let private evaluateAs<'T when 'T: struct and 'T: (new: unit -> 'T) and 'T :> ValueType> (p: Parameters) (data: Dataset) (batchSize: int) (masked: bool) (initial: LstmState option) =
        let s = newScratch<'T> p data batchSize 1
        let blocks = Kernels.narrow<'T> (Parameters.storage p)
        let V = p.Classes
        initial |> Option.iter (loadCarry s)
        let probs = Array.zeroCreate (data.Count * V)
        let sums =
            eachBatch s data s.InOrder masked initial.IsSome (fun ws start ->
                Lstm.forwardStackOf blocks ws.Tapes
                let result = Model.headForwardOf blocks ws
                Array.blit ws.Probs 0 probs (start * V) (ws.Tape.B * V)
                result)
        evaluation data.Count V probs sums, carriedState s

    let private evaluateWith (precision: Precision) (p: Parameters) (data: Dataset) (batchSize: int) (masked: bool) (initial: LstmState option) =
        checkPrecision precision
        if precision = Precision.Float32 then evaluateAs<float32> p data batchSize masked initial
        else evaluateAs<float> p data batchSize masked initial

    /// Loss, accuracy and predictions on `data`, in order, in batches of `batchSize`, every batch
    /// from the zero state (stateless), computed in `precision`.
    let internal evaluateIn (precision: Precision) (p: Parameters) (data: Dataset) (batchSize: int) (masked: bool) : Evaluation =
        fst (evaluateWith precision p data batchSize masked None)

    /// Loss, accuracy and predictions on `data`, in order, in batches of `batchSize`, every batch
    /// from the zero state (stateless).
    [<CompiledName("Evaluate")>]
    let evaluate (p: Parameters) (data: Dataset) (batchSize: int) (masked: bool) : Evaluation =
        evaluateIn Precision.Float64 p data batchSize masked

    /// evaluateStateful computed in `precision`.
    let internal evaluateStatefulIn (precision: Precision) (p: Parameters) (data: Dataset) (initial: LstmState) (masked: bool) : StatefulEvaluation =
        checkStatefulBatch "a stateful evaluation" data.Count initial.Batch
        checkCarried initial initial.Batch p.StateUnits
        let e, final = evaluateWith precision p data initial.Batch masked (Some initial)
        { Evaluation = e; Final = final }

    /// Loss, accuracy and predictions on `data`, in order, carrying the state: batch k+1 continues
    /// batch k's state row by row, starting from `initial`, whose rows fix the batch size. Returns
    /// the state after the last batch too.
    [<CompiledName("EvaluateStateful")>]
    let evaluateStateful (p: Parameters) (data: Dataset) (initial: LstmState) (masked: bool) : StatefulEvaluation =
        evaluateStatefulIn Precision.Float64 p data initial masked

/// Training from C#: the same functions, with the between-epochs step as a Func (null: carry on).
type Training =
    static member private Between(betweenEpochs: Func<LstmState, LstmState> | null) : LstmState -> LstmState =
        match betweenEpochs with
        | null -> id
        | f -> fun s -> f.Invoke s
    /// The state before the first epoch (zero carried state of (BatchSize, H)).
    static member Start(config: FitConfig, parameters: Parameters, rng: Rng) = Training.start config parameters rng
    /// One epoch from `state`: its report and the next state.
    static member Epoch(config: FitConfig, data: Dataset, state: TrainingState) = Training.epoch config data state
    /// The remaining epochs, one outcome each; after every epoch a stateful run's carried state goes
    /// through `betweenEpochs` (LstmState.Zeros resets it; null carries it on).
    static member Fit(config: FitConfig, data: Dataset, state: TrainingState,
                      [<Optional; DefaultParameterValue(null: Func<LstmState, LstmState> | null)>] betweenEpochs: Func<LstmState, LstmState> | null) =
        Training.fitWith (Training.Between betweenEpochs) config data state
    /// The remaining epochs `every` at a time: each stretch's reports and the state after it.
    static member FitEvery(every: int, config: FitConfig, data: Dataset, state: TrainingState,
                           [<Optional; DefaultParameterValue(null: Func<LstmState, LstmState> | null)>] betweenEpochs: Func<LstmState, LstmState> | null) =
        Training.fitEvery every (Training.Between betweenEpochs) config data state
    /// The state after the last epoch.
    static member Train(config: FitConfig, data: Dataset, state: TrainingState,
                        [<Optional; DefaultParameterValue(null: Func<LstmState, LstmState> | null)>] betweenEpochs: Func<LstmState, LstmState> | null) =
        Training.trainWith (Training.Between betweenEpochs) config data state
    /// Continues training: `epochs` more epochs from `state` (its epoch count, weights, Adam's
    /// moments and step, generator and carried state), whatever `config.Epochs` says; returns the
    /// state after the last of them. ArgumentException when `epochs` is not positive.
    static member Continue(config: FitConfig, data: Dataset, state: TrainingState, epochs: int,
                           [<Optional; DefaultParameterValue(null: Func<LstmState, LstmState> | null)>] betweenEpochs: Func<LstmState, LstmState> | null) : TrainingState =
        if epochs < 1 then invalidArg "epochs" (sprintf "expected a positive number of further epochs, got %d" epochs)
        if epochs > Int32.MaxValue - state.Epoch then
            invalidArg "epochs" (sprintf "%d further epochs after epoch %d pass the largest epoch count, %d" epochs state.Epoch Int32.MaxValue)
        Training.trainWith (Training.Between betweenEpochs) (config.WithEpochs(state.Epoch + epochs)) data state
    /// Stateless evaluation in batches of `batchSize` (default 32), computed in `precision`
    /// (default Float64; a float32 model's in Float32).
    static member Evaluate(parameters: Parameters, data: Dataset,
                           [<Optional; DefaultParameterValue(32)>] batchSize: int,
                           [<Optional; DefaultParameterValue(false)>] masked: bool,
                           [<Optional; DefaultParameterValue(Precision.Float64)>] precision: Precision) =
        Training.evaluateIn precision parameters data batchSize masked
    /// Stateful evaluation from `initial`, and the state after the last batch, computed in `precision`.
    static member EvaluateStateful(parameters: Parameters, data: Dataset, initial: LstmState,
                                   [<Optional; DefaultParameterValue(false)>] masked: bool,
                                   [<Optional; DefaultParameterValue(Precision.Float64)>] precision: Precision) =
        Training.evaluateStatefulIn precision parameters data initial masked
