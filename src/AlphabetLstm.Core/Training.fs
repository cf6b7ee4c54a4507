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
open MathNet.Numerics.LinearAlgebra

/// Where a stateful run goes back to the zero state (Keras' `reset_states()`).
type ResetPoint =
    /// After every batch: the same as stateless training.
    | EveryBatch = 0
    /// After every epoch: the tutorial's loop of fit(epochs=1) then reset_states().
    | EveryEpoch = 1
    /// Never: the state runs on across epochs.
    | Never = 2

/// How the LSTM state flows between batches during training.
type StatePolicy =
    /// Each batch starts from the zero state.
    | Stateless
    /// Each batch starts from the previous batch's final state, reset at the given points.
    | Stateful of Reset: ResetPoint

/// How to train.
type FitConfig =
    { Epochs: int
      BatchSize: int
      Shuffle: bool
      Policy: StatePolicy
      /// Whether padded steps are masked (leave the state unchanged).
      Masked: bool
      Optimizer: AdamConfig
      /// Threads one training step may use; the result is the same bits for every count. Only
      /// large steps are split (see Lstm.partsOf); 1 runs everything on the calling thread.
      Threads: int }

    /// Keras' `fit` defaults: batch 32, shuffle, stateless, no masking, Keras' Adam; one thread.
    static member Default(epochs: int) =
        { Epochs = epochs; BatchSize = 32; Shuffle = true; Policy = Stateless; Masked = false; Optimizer = AdamConfig.Keras; Threads = 1 }

/// Everything training needs to go on exactly: save it, and a resumed run matches an unbroken one.
type TrainingState =
    { Parameters: Parameters
      Optimizer: AdamState
      /// The generator for the next shuffle.
      Rng: Rng
      /// Epochs completed so far.
      Epoch: int
      /// A stateful run's state carried into the next epoch (None: zeros).
      Carried: LstmState option }

/// What one epoch measured: the sample-weighted mean loss and accuracy over its batches, with the
/// weights as they were for each batch (Keras' progress-bar numbers).
type EpochReport = { Epoch: int; Loss: float; Accuracy: float }

/// An epoch's report and the state after it.
type EpochOutcome = { Report: EpochReport; State: TrainingState }

/// Consecutive epochs trained on one working copy of the weights: each epoch's report, in order,
/// and the state after the last of them.
type EpochStretch = { Reports: EpochReport[]; State: TrainingState }

/// Loss and accuracy of a model on a dataset, with its predictions.
type Evaluation =
    { Loss: float
      Accuracy: float
      /// Softmax output, (N, V).
      Probabilities: Matrix<float>
      /// The argmax class of each sample.
      Predicted: int[]
      /// For a stateful evaluation, the state after the last batch.
      Final: LstmState option }

module Training =
    /// The state before the first epoch.
    [<CompiledName("Start")>]
    let start (p: Parameters) (rng: Rng) : TrainingState =
        { Parameters = p; Optimizer = Adam.init p; Rng = rng; Epoch = 0; Carried = None }

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

    /// Loads samples `order.[start .. start + B − 1]` into a workspace: inputs, targets, masking.
    /// `xs` are the dataset's input storages (column-major (N, I) per step), from `storages`.
    let internal loadBatch (data: Dataset) (xs: float[][]) (ys: float[]) (order: int[]) (start: int) (masked: bool) (ws: Workspace) =
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

    /// The dataset's inputs (one column-major (N, I) array per step) and targets (column-major (N, V)).
    let internal storages (data: Dataset) =
        let dense (m: Matrix<float>) = Parameters.matrixValues (Matrix<float>.Build.DenseOfMatrix m)
        Array.map dense data.Inputs, dense data.Targets

    /// Sets a workspace's initial state: from `carry` (B, H) row-major, or zeros when None.
    let private loadInitial (carry: (float[] * float[]) option) (ws: Workspace) =
        let n = ws.Tape.B * ws.Tape.H
        match carry with
        | Some (h, c) ->
            Array.blit h 0 ws.Tape.Hs 0 n
            Array.blit c 0 ws.Tape.Cs 0 n
        | None ->
            Array.Clear(ws.Tape.Hs, 0, n)
            Array.Clear(ws.Tape.Cs, 0, n)

    /// Zeroes a carried state: a reset.
    let private clearCarry (h: float[], c: float[]) =
        Array.Clear h
        Array.Clear c

    /// Copies a workspace's final state into `carry`.
    let private saveFinal (ws: Workspace) (h: float[], c: float[]) =
        let n = ws.Tape.B * ws.Tape.H
        Array.blit ws.Tape.Hs (ws.Tape.T * n) h 0 n
        Array.blit ws.Tape.Cs (ws.Tape.T * n) c 0 n

    let private carryOf (state: LstmState option) (B: int) (H: int) =
        match state with
        | Some s ->
            if s.Batch <> B || s.Units <> H then
                invalidArg "state" (sprintf "the carried state is (%d, %d), expected (batch %d, units %d)" s.Batch s.Units B H)
            let h, c = Array.zeroCreate (B * H), Array.zeroCreate (B * H)
            Lstm.writeRows s.H h 0
            Lstm.writeRows s.C c 0
            h, c
        | None -> Array.zeroCreate (B * H), Array.zeroCreate (B * H)

    /// Workspaces for a full batch of B (at most N) and for the smaller last batch (the same one
    /// when B divides N).
    let private batchWorkspaces (T: int) (B: int) (N: int) (I: int) (H: int) (V: int) : Workspace * Workspace =
        let full = Model.newWorkspace T (min B N) I H V
        full, (if N % B = 0 || N < B then full else Model.newWorkspace T (N % B) I H V)

    /// A fresh state from carried row-major (B, H) buffers.
    let private stateOf (B: int) (H: int) (h: float[], c: float[]) : LstmState =
        { H = Lstm.readRows B H h 0; C = Lstm.readRows B H c 0 }

    /// The scratch an epoch works in: workspaces for a full and a last (smaller) batch, the
    /// dataset's storage, the samples in their own order (for unshuffled epochs) and the gradient
    /// buffers. Private to one `epoch` call or one enumeration of `fit`, which reuses it from epoch
    /// to epoch; written in place, never handed out.
    type private EpochScratch =
        { Full: Workspace
          Tail: Workspace
          Xs: float[][]
          Ys: float[]
          InOrder: int[]
          Grads: float[][] }

    let private newScratch (config: FitConfig) (data: Dataset) (p: Parameters) : EpochScratch =
        checkData p data config.BatchSize
        let N, T, H, B = data.Count, data.TimeSteps, p.Units, config.BatchSize
        let full, tail = batchWorkspaces T B N data.Features H p.Classes
        full.Tape.Threads <- config.Threads
        tail.Tape.Threads <- config.Threads
        let xs, ys = storages data
        { Full = full
          Tail = tail
          Xs = xs
          Ys = ys
          InOrder = Array.init N id
          Grads = Parameters.storage (Parameters.zerosLike p) }

    /// Runs `count` epochs from `state` on one private working set, which becomes the new state:
    /// the parameters and moments are copied once per stretch, not once per epoch.
    let private runEpochs (scratch: EpochScratch) (config: FitConfig) (data: Dataset) (state: TrainingState) (count: int) : EpochStretch =
        let p0 = state.Parameters
        checkData p0 data config.BatchSize
        let N, H, B = data.Count, p0.Units, config.BatchSize
        if p0.Units <> scratch.Full.Tape.H then
            invalidArg "state" (sprintf "the parameters have %d units, this run was set up for %d" p0.Units scratch.Full.Tape.H)
        let stateful = match config.Policy with Stateful _ -> true | Stateless -> false
        if stateful then checkStatefulBatch "stateful training" N B
        // Private working set: updated in place below and handed out at the end as the new state,
        // after which nothing writes to it again.
        let theta = Parameters.copy p0
        let m, v = Parameters.copy state.Optimizer.M, Parameters.copy state.Optimizer.V
        let thetaS, mS, vS, gS = Parameters.storage theta, Parameters.storage m, Parameters.storage v, scratch.Grads
        let full, tail = scratch.Full, scratch.Tail
        // The state carried from batch to batch; a run that never resets starts from the one it was given.
        let carry = carryOf state.Carried full.Tape.B H
        for g in gS do Array.Clear g
        let reports = Array.zeroCreate count
        let mutable rng = state.Rng
        let mutable step = state.Optimizer.Step
        for e in 0 .. count - 1 do
            let order =
                if config.Shuffle then
                    let d = Rng.permutation N rng
                    rng <- d.Next
                    d.Value
                else scratch.InOrder
            // Resetting every epoch: each epoch after the first starts from zeros (the first from
            // what the state carried in, as a single epoch would).
            match config.Policy with
            | Stateful ResetPoint.EveryEpoch when e > 0 -> clearCarry carry
            | _ -> ()
            let mutable lossSum = 0.0
            let mutable correct = 0
            let mutable start = 0
            while start < N do
                let ws = if N - start >= full.Tape.B then full else tail
                loadBatch data scratch.Xs scratch.Ys order start config.Masked ws
                loadInitial (if stateful then Some carry else None) ws
                let struct (l, c) = Model.trainPass theta ws false gS
                step <- step + 1
                // Adam zeroes each gradient as it reads it: the buffers are clear for the next batch.
                Adam.updateInPlace config.Optimizer step thetaS gS mS vS true
                lossSum <- lossSum + l
                correct <- correct + c
                match config.Policy with
                | Stateful ResetPoint.EveryBatch -> clearCarry carry
                | Stateful _ -> saveFinal ws carry
                | Stateless -> ()
                start <- start + ws.Tape.B
            reports.[e] <- { Epoch = state.Epoch + e + 1; Loss = lossSum / float N; Accuracy = float correct / float N }
        let carried =
            match config.Policy with
            | Stateful ResetPoint.Never -> Some(stateOf B H carry)
            | _ -> None
        { Reports = reports
          State =
            { Parameters = theta
              Optimizer = { Step = step; M = m; V = v }
              Rng = rng
              Epoch = state.Epoch + count
              Carried = carried } }

    /// Runs one epoch from `state`. Pure: returns the report and the next state.
    [<CompiledName("Epoch")>]
    let epoch (config: FitConfig) (data: Dataset) (state: TrainingState) : EpochOutcome =
        let s = runEpochs (newScratch config data state.Parameters) config data state 1
        { Report = s.Reports.[0]; State = s.State }

    /// The epochs from `state.Epoch + 1` up to `config.Epochs`, lazily, `every` at a time: each
    /// stretch holds the reports of its epochs and the state after the last one (the final stretch
    /// may be shorter). The states are those `fit` hands out at the same epochs, bit for bit; only
    /// the ones in between are never made, which saves copying the weights and Adam's moments every
    /// epoch (a third of a step when an epoch is one short step). Enumerating it again recomputes
    /// the same stretches.
    [<CompiledName("FitEvery")>]
    let fitEvery (every: int) (config: FitConfig) (data: Dataset) (state: TrainingState) : seq<EpochStretch> =
        if every < 1 then invalidArg "every" (sprintf "epochs per stretch must be positive, got %d" every)
        if config.Epochs < 0 then invalidArg "config" (sprintf "epochs must not be negative, got %d" config.Epochs)
        if config.BatchSize < 1 then invalidArg "config" (sprintf "batch size must be positive, got %d" config.BatchSize)
        Seq.delay (fun () ->
            let scratch = lazy (newScratch config data state.Parameters)
            Seq.unfold
                (fun (s: TrainingState) ->
                    if s.Epoch >= config.Epochs then None
                    else
                        let o = runEpochs scratch.Value config data s (min every (config.Epochs - s.Epoch))
                        Some(o, o.State))
                state)

    /// The epochs from `state.Epoch + 1` up to `config.Epochs`, lazily, one outcome each.
    /// Enumerating it again recomputes the same outcomes (each enumeration has its own scratch).
    [<CompiledName("Fit")>]
    let fit (config: FitConfig) (data: Dataset) (state: TrainingState) : seq<EpochOutcome> =
        fitEvery 1 config data state |> Seq.map (fun s -> { Report = s.Reports.[0]; State = s.State })

    /// The last state of `fit` (the state itself when no epoch remains). Trains on one working copy
    /// from start to end.
    [<CompiledName("Train")>]
    let train (config: FitConfig) (data: Dataset) (state: TrainingState) : TrainingState =
        fitEvery (max 1 (config.Epochs - state.Epoch)) config data state |> Seq.fold (fun _ o -> o.State) state

    /// Loss, accuracy and predictions on `data`, in order, in batches of `batchSize`.
    /// initial = None: stateless, every batch from zeros. initial = Some s: stateful, batch k+1
    /// continues batch k's state row by row, starting from s (its rows fix the batch size); the
    /// state after the last batch is returned.
    [<CompiledName("Evaluate")>]
    let evaluate (p: Parameters) (data: Dataset) (batchSize: int) (masked: bool) (initial: LstmState option) : Evaluation =
        checkData p data batchSize
        let N, T, H, V = data.Count, data.TimeSteps, p.Units, p.Classes
        let B = match initial with Some s -> s.Batch | None -> min batchSize N
        if initial.IsSome then checkStatefulBatch "a stateful evaluation" N B
        let xs, ys = storages data
        let order = Array.init N id
        let full, tail = batchWorkspaces T B N data.Features H V
        let carry = carryOf initial B H
        let probs = Array.zeroCreate (N * V)
        let mutable lossSum = 0.0
        let mutable correct = 0
        let mutable start = 0
        while start < N do
            let ws = if N - start >= B then full else tail
            loadBatch data xs ys order start masked ws
            loadInitial (initial |> Option.map (fun _ -> carry)) ws
            Lstm.forwardTape p ws.Tape
            let struct (l, c) = Model.headForward p ws
            lossSum <- lossSum + l
            correct <- correct + c
            Array.blit ws.Probs 0 probs (start * V) (ws.Tape.B * V)
            if initial.IsSome then saveFinal ws carry
            start <- start + ws.Tape.B
        let probabilities = Matrix<float>.Build.Dense(N, V, fun n v -> probs.[n * V + v])
        { Loss = lossSum / float N
          Accuracy = float correct / float N
          Probabilities = probabilities
          Predicted = Array.init N (fun n -> probabilities.Row(n).MaximumIndex())
          Final = initial |> Option.map (fun _ -> stateOf B H carry) }
