/// The tutorial's six experiments as data, and what each one shows once trained.
///
/// Order of randomness from the one seed: the dataset (variable-length only), then the initial
/// weights, then the shuffles during training, then anything drawn for the analysis.
/// Nothing here prints or times anything: the shell runs `fit`, reports progress, and calls
/// `analyse` with the final training state.
namespace AlphabetLstm.Tutorial

open System
open AlphabetLstm.Core
open System.Runtime.InteropServices
open MathNet.Numerics.LinearAlgebra

/// Where an experiment's data comes from.
type DataSpec =
    /// The alphabet windows of length n in the given layout.
    | Window of Length: int * Layout: Layout
    /// `Count` random runs of 1..MaxLength letters, pre-padded.
    | VariableLength of Count: int * MaxLength: int


/// Which of the tutorial's experiments a spec is: it decides what the analysis shows beyond accuracy.
type ExperimentKind =
    /// One letter to the next.
    | OneChar = 0
    /// Three letters as three features of one step.
    | FeatureWindow = 1
    /// Three letters as three time steps.
    | TimestepWindow = 2
    /// Also shows that samples in one batch never share state.
    | BatchState = 3
    /// Also shows generation from 'A', from 'K' after a reset and after a warm-up, and the hidden states.
    | Stateful = 4
    /// Also shows 20 fresh samples and the padding collision of "AB" and "B".
    | VariableLength = 5

/// One experiment's settings.
type ExperimentSpec =
    { /// The command-line id, e.g. "one-char".
      Id: string
      /// Which experiment it is: decides what the analysis shows beyond accuracy.
      Kind: ExperimentKind
      /// The report's heading.
      Title: string
      /// Where the data comes from.
      Data: DataSpec
      /// H.
      Units: int
      /// The epochs to train.
      Epochs: int
      /// B, samples per batch.
      BatchSize: int
      /// Whether each epoch visits the samples in a fresh order.
      Shuffle: bool
      /// Stateless, or stateful (the state carried from batch to batch).
      Policy: StatePolicy
      /// Whether the carried state is reset (zeros) after every epoch, as the tutorial's stateful
      /// loop calls reset_states() after each fit(epochs=1).
      ResetEachEpoch: bool
      /// Whether padded steps are masked (leave the state unchanged).
      Masked: bool
      /// Adam's learning rate (the tutorial's, Keras' default: 0.001).
      LearningRate: float
      /// The accuracy the tutorial reports.
      TutorialAccuracy: float
      /// What the experiment shows about LSTM state, in a sentence.
      Lesson: string }

    /// The same experiment with another number of epochs.
    member s.WithEpochs(epochs: int) = { s with Epochs = epochs }
    /// The same experiment with another number of LSTM units.
    member s.WithUnits(units: int) = { s with Units = units }
    /// The same experiment with masking of padded steps switched on or off.
    member s.WithMasked(masked: bool) = { s with Masked = masked }
    /// The same experiment with another learning rate for Adam.
    member s.WithLearningRate(learningRate: float) = { s with LearningRate = learningRate }
    /// The same experiment with another batch size.
    member s.WithBatchSize(batchSize: int) = { s with BatchSize = batchSize }
    /// The same experiment with another sample length: the window's n, or the variable-length runs' longest.
    member s.WithWindow(length: int) =
        match s.Data with
        | Window(_, layout) -> { s with Data = Window(length, layout) }
        | VariableLength(count, _) -> { s with Data = VariableLength(count, length) }

    /// How many samples the experiment trains on: 26 − n windows, or the variable-length count.
    member s.SampleCount =
        match s.Data with
        | Window(n, _) -> Alphabet.Size - n
        | VariableLength(count, _) -> count
    /// Optimizer steps in one epoch: one per batch of BatchSize samples, the last possibly smaller
    /// (0 when there is no sample).
    member s.StepsPerEpoch = (max 0 s.SampleCount + s.BatchSize - 1) / s.BatchSize

/// An experiment ready to train: its data, its training configuration and the starting state.
type PreparedExperiment =
    { /// The experiment's settings.
      Spec: ExperimentSpec
      /// The seed everything was drawn from.
      Seed: int64
      /// The training data.
      Data: Dataset
      /// How to train.
      Config: FitConfig
      /// The state before the first epoch (or the checkpoint's, when resumed).
      Start: TrainingState }

/// One pattern's prediction.
type PatternPrediction =
    { /// The letters fed, e.g. "ABC".
      Input: string
      /// The letter that follows them.
      Expected: string
      /// The letter the model predicts.
      Predicted: string
      /// The probability the model gives its prediction.
      Confidence: float }

    /// Whether the prediction is the expected letter.
    member p.Correct = p.Expected = p.Predicted

/// The stateful model's generation demos: each string is the start letter and the letters predicted
/// by feeding each prediction back in.
type Generation =
    { /// From 'A' after a reset: the alphabet, when the model learnt it.
      FromA: string
      /// From 'K' after a reset: the state, not the letter, drives it.
      FromKAfterReset: string
      /// From 'K' after warming the state with A..J.
      FromKAfterWarmup: string }

/// Hidden state h after every step of two runs of the stateful model.
type StateTrace =
    { /// The letter fed at each step.
      Inputs: string
      /// h after each step, (steps, H).
      Hidden: Matrix<float> }

/// The stateful model's hidden state along the alphabet from a reset, and along a run from 'K' after a reset.
type StateTraces =
    { /// Along the alphabet from a reset.
      FromA: StateTrace
      /// Along the run the model generates from 'K' after a reset.
      FromK: StateTrace }

/// Evidence that samples in one batch do not share state.
type BatchIndependence =
    { /// Accuracy on a shuffled copy of the data, in one batch.
      ShuffledAccuracy: float
      /// Max |p(letter alone) − p(letter inside the full batch)| over every letter and class.
      MaxDifference: float }

/// Two inputs that are the same numbers once padded (a leading 'A' encodes as the padding value).
type PaddingCollision =
    { /// The first input, "AB".
      First: string
      /// The second input, "B".
      Second: string
      /// Whether their padded encodings are identical, number for number.
      SameEncoding: bool
      /// Whether the model masks padded steps.
      Masked: bool
      /// The letter predicted after the first input.
      FirstPredicted: string
      /// The letter predicted after the second input.
      SecondPredicted: string
      /// Max |p(first) − p(second)|: 0 means the model cannot tell them apart.
      MaxDifference: float }

[<AutoOpen>]
module internal OptionOut =
    /// Option → the .NET Try pattern: true and the value, or false.
    let tryGet (o: 'T option) (value: byref<'T>) =
        match o with
        | Some v ->
            value <- v
            true
        | None -> false

/// A trained experiment and everything the report shows about it.
/// Made by Experiments.Analyse; equal when every part is (the extras of one experiment are options
/// inside, TryGet… outside).
type ExperimentResult =
    internal
        { spec: ExperimentSpec
          seed: int64
          config: FitConfig
          parameters: Parameters
          loss: float
          accuracy: float
          predictions: PatternPrediction[]
          batchIndependence: BatchIndependence option
          generation: Generation option
          traces: StateTraces option
          paddingCollision: PaddingCollision option }

    /// The experiment's settings.
    member r.Spec = r.spec
    /// The seed it was trained from.
    member r.Seed = r.seed
    /// How it was trained.
    member r.Config = r.config
    /// The trained weights.
    member r.Parameters = r.parameters
    /// The loss on the training data, evaluated after training (the tutorial's "Model Accuracy" run).
    member r.Loss = r.loss
    /// The accuracy on the training data, evaluated after training.
    member r.Accuracy = r.accuracy
    /// Each pattern's prediction (20 fresh samples for the variable-length experiment).
    member r.Predictions = r.predictions
    /// The batch-state evidence, when this is that experiment.
    member r.TryGetBatchIndependence([<Out>] value: byref<BatchIndependence>) = tryGet r.batchIndependence &value
    /// The stateful experiment's generation demos, when this is that experiment.
    member r.TryGetGeneration([<Out>] value: byref<Generation>) = tryGet r.generation &value
    /// The stateful experiment's hidden-state traces, when this is that experiment.
    member r.TryGetTraces([<Out>] value: byref<StateTraces>) = tryGet r.traces &value
    /// The variable-length experiment's padding collision, when this is that experiment.
    member r.TryGetPaddingCollision([<Out>] value: byref<PaddingCollision>) = tryGet r.paddingCollision &value

/// The six experiments: their settings, preparing and training them, and the analysis of a trained one.
module Experiments =
    let private V = Alphabet.Size

    let private make id kind title data units epochs batch shuffle policy tutorial lesson =
        { Id = id; Kind = kind; Title = title; Data = data; Units = units; Epochs = epochs; BatchSize = batch
          Shuffle = shuffle; Policy = policy; ResetEachEpoch = (policy = StatePolicy.Stateful); Masked = false
          LearningRate = AdamConfig.Keras.LearningRate; TutorialAccuracy = tutorial; Lesson = lesson }
    let private stateless = StatePolicy.Stateless

    /// The six experiments at the tutorial's settings, in the tutorial's order.
    [<CompiledName("All")>]
    let all : ExperimentSpec[] =
        [| make "one-char" ExperimentKind.OneChar "Naive LSTM: one char to one char" (Window(1, Layout.Features)) 32 500 1 true stateless 0.84
               "One letter and a state reset before every sample: the model can only learn a letter-to-letter lookup, and the LSTM's memory is never used."
           make "feature-window" ExperimentKind.FeatureWindow "Three-char feature window to one char" (Window(3, Layout.Features)) 32 500 1 true stateless 0.8696
               "Three letters as three features of one step: more information, but still one step from a zero state, so no memory is involved."
           make "timestep-window" ExperimentKind.TimestepWindow "Three-char time-step window to one char" (Window(3, Layout.TimeSteps)) 32 500 1 true stateless 1.0
               "Three letters as three time steps: the state now carries context across steps within a sample, and the task becomes easy."
           make "batch-state" ExperimentKind.BatchState "LSTM state within a batch" (Window(1, Layout.Features)) 16 5000 25 false stateless 1.0
               "All 25 samples in one batch: each row has its own state, so nothing passes between samples; the model fits a lookup table, which is why it scores the same on a shuffled copy."
           make "stateful" ExperimentKind.Stateful "Stateful LSTM: one char to one char" (Window(1, Layout.Features)) 50 300 1 false StatePolicy.Stateful 1.0
               "The state is carried from each sample to the next across batches: the model learns the alphabet as a sequence, so the state, not the current letter, drives its predictions."
           make "variable-length" ExperimentKind.VariableLength "Variable-length input to one char" (VariableLength(1000, 5)) 32 500 1 true stateless 0.989
               "Runs of 1..5 letters, pre-padded with zeros: the state carries each run, but without masking a leading 'A' is indistinguishable from padding." |]

    /// The valid ids, in order.
    [<CompiledName("Ids")>]
    let ids = all |> Array.map (fun s -> s.Id)

    /// The experiment with this id, or None.
    let internal tryFind (id: string) : ExperimentSpec option = all |> Array.tryFind (fun s -> s.Id = id)

    /// The experiment with this id: true and its settings, or false when there is none.
    [<CompiledName("TryFind")>]
    let tryFindOut (id: string, [<Out>] spec: byref<ExperimentSpec>) : bool = tryGet (tryFind id) &spec

    /// The one message for an id that names no experiment: the id (quoted, cut) and the valid ids.
    [<CompiledName("UnknownMessage")>]
    let unknownMessage (id: string) : string =
        sprintf "unknown experiment %s; valid ids: %s" (Vocabulary.Quote id) (String.Join(", ", ids))

    /// The experiment with this id; ArgumentException naming the valid ids when there is none.
    [<CompiledName("Find")>]
    let find (id: string) : ExperimentSpec =
        match tryFind id with
        | Some s -> s
        | None -> invalidArg "id" (unknownMessage id)

    /// How a tutorial experiment's model reads its input (window layout, padding and masking).
    [<CompiledName("InputOf")>]
    let inputOf (spec: ExperimentSpec) : InputSpec =
        match spec.Data with
        | Window(n, Layout.Features) -> { TimeSteps = 1; Features = n; Encoding = SymbolEncoding.Index; Masked = false; PrePadded = false; Reading = Reading.Window; Targets = Targets.Last }
        | Window(n, _) -> { TimeSteps = n; Features = 1; Encoding = SymbolEncoding.Index; Masked = false; PrePadded = false; Reading = Reading.Window; Targets = Targets.Last }
        | VariableLength(_, maxLen) -> { TimeSteps = maxLen; Features = 1; Encoding = SymbolEncoding.Index; Masked = spec.Masked; PrePadded = true; Reading = Reading.Window; Targets = Targets.Last }

    /// The memory a training run of `spec` needs, in bytes (Memory.Training over its input, units,
    /// the 26 classes, one batch and its samples, at least one): compare it with a limit before training.
    [<CompiledName("MemoryEstimate")>]
    let memoryEstimate (spec: ExperimentSpec) : float =
        let input = inputOf spec
        let samples = max 1 spec.SampleCount
        Memory.training input.Features spec.Units V (min spec.BatchSize samples) input.TimeSteps samples

    /// Settles the data, the initial weights and the training state for one seed.
    [<CompiledName("Prepare")>]
    let prepare (spec: ExperimentSpec) (seed: int64) : PreparedExperiment =
        if spec.Units < 1 then invalidArg "spec" (sprintf "units must be positive, got %d" spec.Units)
        if spec.Epochs < 1 then invalidArg "spec" (sprintf "epochs must be positive, got %d" spec.Epochs)
        let rng = Rng.create seed
        let data, rng =
            match spec.Data with
            | Window(n, layout) -> Datasets.window n layout, rng
            | VariableLength(count, maxLen) ->
                let d = Datasets.variableLength count maxLen rng
                d.Value, d.Next
        let p = Parameters.init data.Features spec.Units V rng
        let config =
            { Epochs = spec.Epochs; BatchSize = spec.BatchSize; Shuffle = spec.Shuffle; Policy = spec.Policy
              Masked = spec.Masked; Optimizer = { AdamConfig.Keras with LearningRate = spec.LearningRate }; Threads = 1; Precision = Precision.Float64 }
        { Spec = spec
          Seed = seed
          Data = data
          Config = config
          Start = Training.start config p.Value p.Next }

    /// The tutorial's training loop, `every` epochs at a time. In Keras, for the stateful experiment:
    ///
    ///     for i in range(300):
    ///         model.fit(X, y, epochs=1, batch_size=1, shuffle=False)
    ///         model.reset_states()
    ///
    /// Here the reset is a value passed between epochs: `Training.reset` (zeros of the carried state's
    /// shape) when the spec resets after every epoch, `id` (carry on) otherwise.
    [<CompiledName("FitEvery")>]
    let fitEvery (every: int) (prepared: PreparedExperiment) : seq<EpochStretch> =
        let betweenEpochs = if prepared.Spec.ResetEachEpoch then Training.reset else id
        Training.fitEvery every betweenEpochs prepared.Config prepared.Data prepared.Start

    /// The tutorial's training loop, one epoch at a time (see fitEvery).
    [<CompiledName("Fit")>]
    let fit (prepared: PreparedExperiment) : seq<EpochOutcome> =
        fitEvery 1 prepared |> Seq.map (fun s -> { Report = s.Reports.[0]; State = s.State })

    let private predictions (data: Dataset) (e: Evaluation) =
        Array.init data.Count (fun n ->
            { Input = data.Patterns.[n]
              Expected = data.Expected.[n]
              Predicted = data.Vocabulary.[e.Predicted.[n]]
              Confidence = e.Probabilities.[n, e.Predicted.[n]] })

    let private oneStepIn (precision: Precision) (p: Parameters) (state: LstmState) (letter: char) : Prediction =
        Model.predictIn p state (Datasets.encodeWindow Vocabulary.Alphabet SymbolEncoding.Index Layout.Features [| string letter |]) Unmasked precision

    let private oneStep = oneStepIn Precision.Float64

    /// The most likely letter; a row holding NaN (a model whose numbers overflowed) is refused, not read as 'A'.
    let private argmaxLetter (pr: Prediction) =
        let row = pr.Probabilities.Row(0)
        if Seq.exists Double.IsNaN row then
            invalidArg "p" "the probabilities of the next letter became NaN (the model's numbers overflowed: its weights are too large)"
        Alphabet.Letter(row.MaximumIndex())

    /// Feeds `start`, then each prediction, for `steps` steps from `state`; returns the letters fed
    /// and predicted ("start" + steps letters) and h after each step, (steps, H).
    [<CompiledName("Generate")>]
    let generate (p: Parameters) (state: LstmState) (start: char) (steps: int) : StateTrace =
        let mutable s = state
        let mutable letter = start
        let text = System.Text.StringBuilder().Append(start)
        let rows = Array.zeroCreate steps
        for k in 0 .. steps - 1 do
            let pr = oneStep p s letter
            s <- pr.Final
            rows.[k] <- pr.Final.H.Row(0)
            letter <- argmaxLetter pr
            text.Append(letter) |> ignore
        { Inputs = text.ToString(); Hidden = Matrix<float>.Build.DenseOfRowVectors rows }

    /// The letters `generate` predicts after `start`, lazily and without end: feeds `start`, then
    /// each prediction, keeping nothing but the current state, so a caller can take any number of them.
    /// Computed in `precision`, the model's (a saved model's `Precision`).
    [<CompiledName("GenerateLetters")>]
    let generateLetters (p: Parameters) (state: LstmState) (start: char) (precision: Precision) : seq<char> =
        (state, start)
        |> Seq.unfold (fun (s, letter) ->
            let pr = oneStepIn precision p s letter
            let next = argmaxLetter pr
            Some(next, (pr.Final, next)))

    /// The state after feeding `letters` one at a time from `state` (the warm-up), computed in `precision`.
    [<CompiledName("WarmUp")>]
    let warmUp (p: Parameters) (state: LstmState) (letters: string) (precision: Precision) : LstmState =
        letters |> Seq.fold (fun s l -> (oneStepIn precision p s l).Final) state

    /// Feeds the given letters one at a time from `state`, recording h after each.
    [<CompiledName("Trace")>]
    let trace (p: Parameters) (state: LstmState) (letters: string) : StateTrace =
        let mutable s = state
        let rows =
            letters |> Seq.map (fun l -> let pr = oneStep p s l in s <- pr.Final; pr.Final.H.Row(0)) |> Seq.toArray
        { Inputs = letters; Hidden = Matrix<float>.Build.DenseOfRowVectors rows }

    /// Runs the analysis of a trained experiment: evaluation, predictions, and the extras its
    /// section of the report needs. `final` is the training state after the last epoch.
    [<CompiledName("Analyse")>]
    let analyse (prepared: PreparedExperiment) (final: TrainingState) : ExperimentResult =
        let spec, data, p = prepared.Spec, prepared.Data, final.Parameters
        let H = p.Units
        let zeros = LstmState.Zeros(1, H)
        let evaluation =
            if spec.Policy = StatePolicy.Stateful then (Training.evaluateStateful p data zeros spec.Masked).Evaluation
            else Training.evaluate p data spec.BatchSize spec.Masked
        let baseResult =
            ({ spec = spec; seed = prepared.Seed; config = prepared.Config; parameters = p
               loss = evaluation.Loss; accuracy = evaluation.Accuracy
               predictions = predictions data evaluation
               batchIndependence = None; generation = None; traces = None; paddingCollision = None } : ExperimentResult)
        match spec.Kind with
        | ExperimentKind.BatchState ->
            let perm = Rng.permutation data.Count final.Rng
            let shuffled = Training.evaluate p (Datasets.select perm.Value data) data.Count spec.Masked
            let alone = Training.evaluate p data 1 spec.Masked
            let inBatch = Training.evaluate p data data.Count spec.Masked
            { baseResult with
                batchIndependence =
                    Some { ShuffledAccuracy = shuffled.Accuracy
                           MaxDifference = (alone.Probabilities - inBatch.Probabilities).Enumerate() |> Seq.map abs |> Seq.max } }
        | ExperimentKind.Stateful ->
            let fromA = generate p zeros 'A' 25
            let fromK = generate p zeros 'K' 5
            let warm = generate p (warmUp p zeros "ABCDEFGHIJ" Precision.Float64) 'K' 5
            { baseResult with
                generation = Some { FromA = fromA.Inputs; FromKAfterReset = fromK.Inputs; FromKAfterWarmup = warm.Inputs }
                traces = Some { FromA = trace p zeros Alphabet.Letters; FromK = trace p zeros (generate p zeros 'K' 25).Inputs } }
        | ExperimentKind.VariableLength ->
            let maxLen = data.TimeSteps
            let fresh = Datasets.variableLength 20 maxLen final.Rng
            let freshEval = Training.evaluate p fresh.Value 1 spec.Masked
            // "AB" and "B" pre-pad to the same numbers: the leading 'A' is 0.0, like the padding.
            let encode (text: string) = Datasets.encodePrePadded data.Vocabulary SymbolEncoding.Index maxLen (Vocabulary.Split text)
            let run (text: string) =
                let masking = if spec.Masked then PrePadded [| text.Length |] else Unmasked
                Model.predict p zeros (encode text) masking
            let a, b = run "AB", run "B"
            let same = Array.forall2 (fun (x: Matrix<float>) (y: Matrix<float>) -> x.Equals y) (encode "AB") (encode "B")
            { baseResult with
                predictions = predictions fresh.Value freshEval
                paddingCollision =
                    Some { First = "AB"; Second = "B"; SameEncoding = same; Masked = spec.Masked
                           FirstPredicted = string (argmaxLetter a); SecondPredicted = string (argmaxLetter b)
                           MaxDifference = (a.Probabilities - b.Probabilities).Enumerate() |> Seq.map abs |> Seq.max } }
        | _ -> baseResult
