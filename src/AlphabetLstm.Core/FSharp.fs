/// The F# view of the library: curried functions, Result and Option, built on the .NET surface the
/// other namespaces show (which is all a C# caller meets). Open AlphabetLstm.FSharp after
/// AlphabetLstm.Core: `ModelFile.parse text` is then a Result, `Training.fitWith Training.reset …` a
/// curried call. Nothing here holds a rule of its own: each function calls the member it names.
namespace AlphabetLstm.FSharp

open System
open System.Collections.Generic
open AlphabetLstm.Core
open AlphabetLstm.Tutorial

/// Model files: parsing as a Result, encoding and predicting as Results.
[<RequireQualifiedAccess>]
module ModelFile =
    /// model.Serialize(): the model file's text.
    let serialize (model: SavedModel) : string = model.Serialize()

    /// SavedModel.TryParse as a Result: the model, or the one-line reason it is not one.
    let parse (text: string) : Result<SavedModel, string> =
        match SavedModel.TryParse text with
        | true, model, _ -> Ok model
        | false, _, error -> Error error

    /// model.Encode as a Result: the encoded symbols, or the one-line reason they do not fit.
    let encodeSymbols (model: SavedModel) (symbols: IReadOnlyList<string>) : Result<EncodedInput, string> =
        try Ok(model.Encode symbols) with :? ArgumentException as e -> Error e.Message

    /// model.PredictNext as a Result.
    let predictNext (model: SavedModel) (state: LstmState) (symbols: IReadOnlyList<string>) : Result<NextSymbol, string> =
        try Ok(model.PredictNext(state, symbols)) with :? ArgumentException as e -> Error e.Message

/// Training checkpoints: parsing as a Result.
[<RequireQualifiedAccess>]
module TrainingFile =
    /// TrainingCheckpoint.TryParse as a Result.
    let parse (text: string) : Result<TrainingCheckpoint, string> =
        match TrainingCheckpoint.TryParse text with
        | true, checkpoint, _ -> Ok checkpoint
        | false, _, error -> Error error

/// The files of numbers a model reads: parsing as Results.
[<RequireQualifiedAccess>]
module PredictionFiles =
    /// PredictionFiles.ParseInputs as a Result.
    let parseInputs (input: InputSpec) (text: string) : Result<EncodedInput, string> =
        try Ok(AlphabetLstm.Core.PredictionFiles.parseInputsOrThrow (input, text)) with :? FileFormatException as e -> Error e.Message

    /// PredictionFiles.ParseState as a Result.
    let parseState (batch: int) (units: int) (layers: int) (text: string) : Result<LstmState, string> =
        try Ok(AlphabetLstm.Core.PredictionFiles.parseStateOrThrow (batch, units, layers, text)) with :? FileFormatException as e -> Error e.Message

/// Training with F# functions between epochs.
[<RequireQualifiedAccess>]
module Training =
    let private func (f: LstmState -> LstmState) = Func<LstmState, LstmState> f
    type private T = AlphabetLstm.Core.Training

    /// Training.Start: the state before the first epoch.
    let start (config: FitConfig) (parameters: AlphabetLstm.Core.Parameters) (rng: AlphabetLstm.Core.Rng) : TrainingState = T.Start(config, parameters, rng)
    /// LstmState.Zeros as an F# function: zeros of the state's shape (Keras' reset_states(), as a value).
    let reset (state: LstmState) : LstmState = LstmState.Zeros state
    /// Training.Epoch: one epoch from `state`.
    let epoch (config: FitConfig) (data: Dataset) (state: TrainingState) : EpochOutcome = T.Epoch(config, data, state)
    /// Training.Fit carrying the state between epochs (Keras' fit).
    let fit (config: FitConfig) (data: Dataset) (state: TrainingState) : seq<EpochOutcome> = T.Fit(config, data, state)
    /// Training.Train carrying the state between epochs: the state after the last epoch.
    let train (config: FitConfig) (data: Dataset) (state: TrainingState) : TrainingState = T.Train(config, data, state)
    /// Training.Evaluate: stateless, in batches of `batchSize`.
    let evaluate (parameters: AlphabetLstm.Core.Parameters) (data: Dataset) (batchSize: int) (masked: bool) : Evaluation = T.Evaluate(parameters, data, batchSize, masked)
    /// Training.EvaluateStateful: carrying the state from `initial`.
    let evaluateStateful (parameters: AlphabetLstm.Core.Parameters) (data: Dataset) (initial: LstmState) (masked: bool) : StatefulEvaluation =
        T.EvaluateStateful(parameters, data, initial, masked)

    /// Training.FitEvery with an F# function between epochs.
    let fitEvery (every: int) (betweenEpochs: LstmState -> LstmState) (config: FitConfig) (data: Dataset) (state: TrainingState) : seq<EpochStretch> =
        AlphabetLstm.Core.Training.FitEvery(every, config, data, state, func betweenEpochs)

    /// Training.Fit with an F# function between epochs.
    let fitWith (betweenEpochs: LstmState -> LstmState) (config: FitConfig) (data: Dataset) (state: TrainingState) : seq<EpochOutcome> =
        AlphabetLstm.Core.Training.Fit(config, data, state, func betweenEpochs)

    /// Training.Train with an F# function between epochs.
    let trainWith (betweenEpochs: LstmState -> LstmState) (config: FitConfig) (data: Dataset) (state: TrainingState) : TrainingState =
        AlphabetLstm.Core.Training.Train(config, data, state, func betweenEpochs)

    /// Training.Continue with an F# function between epochs: `epochs` more epochs from `state`.
    let continueWith (betweenEpochs: LstmState -> LstmState) (epochs: int) (config: FitConfig) (data: Dataset) (state: TrainingState) : TrainingState =
        AlphabetLstm.Core.Training.Continue(config, data, state, epochs, func betweenEpochs)

/// Maps over every block of a Parameters record.
[<RequireQualifiedAccess>]
module Parameters =
    type private P = AlphabetLstm.Core.Parameters
    /// Parameters.Init: Keras-initialised weights for I inputs, H units, V classes.
    let init (inputs: int) (units: int) (classes: int) (rng: AlphabetLstm.Core.Rng) = P.Init(inputs, units, classes, rng)
    /// Parameters.Create: a validated record from Keras-layout blocks (copied).
    let create kernel recurrentKernel bias denseKernel denseBias = P.Create(kernel, recurrentKernel, bias, denseKernel, denseBias)
    /// p.Blocks(): every block with its name and storage.
    let blocks (p: P) = p.Blocks()
    /// p.Copy().
    let copy (p: P) = p.Copy()
    /// p.ZerosLike().
    let zerosLike (p: P) = p.ZerosLike()
    /// p.Validate().
    let validate (p: P) = p.Validate()
    /// parameters.Map with an F# function.
    let map (f: float -> float) (p: AlphabetLstm.Core.Parameters) = p.Map(Func<float, float> f)
    /// a.Map2(b, f) with an F# function.
    let map2 (f: float -> float -> float) (a: AlphabetLstm.Core.Parameters) (b: AlphabetLstm.Core.Parameters) = a.Map2(b, Func<float, float, float> f)

/// Draws with an F# function.
[<RequireQualifiedAccess>]
module Rng =
    /// Rng.Create: a generator started from `seed`.
    let create (seed: int64) = AlphabetLstm.Core.Rng.Create seed
    /// rng.NextUInt64().
    let nextUInt64 (rng: AlphabetLstm.Core.Rng) = rng.NextUInt64()
    /// rng.NextDouble(): uniform in [0, 1).
    let nextDouble (rng: AlphabetLstm.Core.Rng) = rng.NextDouble()
    /// rng.Uniform(low, high).
    let uniform (low: float) (high: float) (rng: AlphabetLstm.Core.Rng) = rng.Uniform(low, high)
    /// rng.NextInt(low, high): uniform in [low, high).
    let nextInt (low: int) (high: int) (rng: AlphabetLstm.Core.Rng) = rng.NextInt(low, high)
    /// rng.NextNormal().
    let nextNormal (rng: AlphabetLstm.Core.Rng) = rng.NextNormal()
    /// rng.Permutation(n): a random permutation of 0 .. n-1.
    let permutation (n: int) (rng: AlphabetLstm.Core.Rng) = rng.Permutation n
    /// rng.Many with an F# function: `count` draws in order, and the generator after them.
    let many (count: int) (draw: Rng -> Draw<'T>) (rng: Rng) : Draw<'T[]> = rng.Many(count, Func<Rng, Draw<'T>> draw)

/// The tutorial's experiments and run checkpoints, as Option and Result.
[<RequireQualifiedAccess>]
module Experiments =
    /// Experiments.TryFind as an Option.
    let tryFind (id: string) : ExperimentSpec option =
        let mutable spec = Unchecked.defaultof<ExperimentSpec>
        if AlphabetLstm.Tutorial.Experiments.tryFindOut (id, &spec) then Some spec else None

    /// result.TryGetBatchIndependence as an Option.
    let batchIndependence (r: ExperimentResult) = match r.TryGetBatchIndependence() with | true, v -> Some v | _ -> None
    /// result.TryGetGeneration as an Option.
    let generation (r: ExperimentResult) = match r.TryGetGeneration() with | true, v -> Some v | _ -> None
    /// result.TryGetTraces as an Option.
    let traces (r: ExperimentResult) = match r.TryGetTraces() with | true, v -> Some v | _ -> None
    /// result.TryGetPaddingCollision as an Option.
    let paddingCollision (r: ExperimentResult) = match r.TryGetPaddingCollision() with | true, v -> Some v | _ -> None

/// The tutorial's run checkpoints: parsing as a Result.
[<RequireQualifiedAccess>]
module CheckpointFile =
    /// checkpoint.Serialize().
    let serialize (c: Checkpoint) : string = c.Serialize()
    /// Checkpoint.TryParse as a Result.
    let parse (text: string) : Result<Checkpoint, string> =
        match Checkpoint.TryParse text with
        | true, checkpoint, _ -> Ok checkpoint
        | false, _, error -> Error error
