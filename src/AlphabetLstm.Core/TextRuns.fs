/// Training on a text and continuing a text: the tutorial's window and stateful experiments applied
/// to any sequence of characters.
///
/// Windows (the default): every window of T characters → the character after it, Keras' fit
/// defaults (shuffle, stateless). Streams (stateful): the text cut into B parallel streams, each
/// batch the next T characters of every stream (Datasets.streams), the state carried from batch to
/// batch and reset after every epoch, as char-rnn trains (truncated BPTT).
///
/// Generation follows the way a model was trained to read (TextRuns.generate): a window model
/// predicts each symbol from the last T symbols, read from the zero state; a stream model predicts
/// only after a multiple of T symbols read since a reset, as in training, carrying its state one
/// symbol per step. Pure: symbols in, symbols out; randomness from the given generator.
namespace AlphabetLstm.Core

open System
open System.Collections.Generic
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
      Vocabulary: Vocabulary }

/// A text run ready to train: its data, configuration, starting state and what the model file says.
type PreparedText =
    { /// The text and how it is cut (window, streams, encoding).
      Run: TextRun
      /// Windows of the text, or its streams laid out batch by batch.
      Data: Dataset
      /// How to train: shuffled and stateless for windows, in order and stateful for streams.
      Config: FitConfig
      /// The state before the next epoch (epoch 0 for a fresh run).
      Start: TrainingState
      /// How the model file will say the model reads.
      Input: InputSpec }

    /// Optimizer steps in one epoch: one per batch, the last batch possibly smaller.
    member p.StepsPerEpoch = (p.Data.Count + p.Config.BatchSize - 1) / p.Config.BatchSize

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
          Reading = if run.Stateful then Reading.Stream else Reading.Window }

    /// The samples a text of `length` symbols gives: length − T windows, or B streams' chunks.
    [<CompiledName("SampleCount")>]
    let sampleCount (run: TextRun) (length: int) : int =
        if run.Stateful then Datasets.streamSampleCount run.BatchSize run.Window length
        else max 0 (length - run.Window)

    /// The data, configuration and starting state of a text run for a seed: weights from
    /// Parameters.init, then the generator for the shuffles (as Experiments.prepare).
    [<CompiledName("Prepare")>]
    let prepare (run: TextRun) (symbols: IReadOnlyList<string>) (seed: int64) (units: int) (epochs: int) (learningRate: float) : PreparedText =
        if units < 1 then invalidArg "units" (sprintf "units must be positive, got %d" units)
        if epochs < 1 then invalidArg "epochs" (sprintf "epochs must be positive, got %d" epochs)
        if run.BatchSize < 1 then invalidArg "run" (sprintf "the batch size must be positive, got %d" run.BatchSize)
        if not (Double.IsFinite learningRate) || learningRate <= 0.0 then
            invalidArg "learningRate" (sprintf "the learning rate must be a positive finite number, got %g" learningRate)
        let data =
            if run.Stateful then Datasets.streams run.Vocabulary run.Encoding run.BatchSize run.Window symbols
            else Datasets.windows run.Vocabulary run.Encoding Layout.TimeSteps run.Window symbols
        let rng = Rng.create seed
        let p = Parameters.init data.Features units run.Vocabulary.Count rng
        let policy = if run.Stateful then StatePolicy.Stateful else StatePolicy.Stateless
        let config = FitConfig.Create(epochs, run.BatchSize, not run.Stateful, policy, false, learningRate)
        { Run = run; Data = data; Config = config; Start = Training.start config p.Value p.Next; Input = inputOf run }

    /// The remaining epochs `every` at a time; a stream run's state is reset after every epoch
    /// (the streams start again from their beginnings), a window run carries nothing.
    [<CompiledName("FitEvery")>]
    let fitEvery (every: int) (prepared: PreparedText) : seq<EpochStretch> =
        let between = if prepared.Run.Stateful then Training.reset else id
        Training.fitEvery every between prepared.Config prepared.Data prepared.Start

    /// Loss and accuracy on the training data, read the way the run trained (streams carrying
    /// the state from the zero state, windows each from zeros).
    [<CompiledName("Evaluate")>]
    let evaluate (prepared: PreparedText) (p: Parameters) : Evaluation =
        if prepared.Run.Stateful then
            (Training.evaluateStateful p prepared.Data (LstmState.Zeros(prepared.Run.BatchSize, p.Units)) false).Evaluation
        else Training.evaluate p prepared.Data prepared.Run.BatchSize false

    /// The index chosen from probabilities: the most likely (the first of equals) at temperature 0,
    /// otherwise a draw from p^(1/τ) renormalised (the softmax at temperature τ).
    [<CompiledName("Choose")>]
    let choose (temperature: float) (probabilities: float[]) (rng: Rng) : Draw<int> =
        if not (temperature >= 0.0) || Double.IsPositiveInfinity temperature then
            invalidArg "temperature" (sprintf "the temperature must be a finite number ≥ 0, got %g" temperature)
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

    /// Continues `start` by `steps` symbols, the way the model was trained to read (see above),
    /// choosing each symbol with `choose temperature`. Returns only the generated symbols.
    /// ArgumentException for a start symbol outside the vocabulary (naming it and its position), a
    /// start shorter than the model's T, a negative temperature, or a model that reads numbers or no
    /// plain window of symbols.
    ///
    /// A window model predicts each symbol from the last T symbols, read from the zero state. A
    /// stream model was trained to predict only after reading a multiple of T symbols since a reset
    /// (a stream's k-th chunk ends k·T symbols after the stream began), so it predicts the symbol at
    /// position p from a state that has read, from zeros, the symbols since position p mod T: T
    /// streams run side by side, stream φ reset at position φ and carried one symbol per step, and
    /// the one whose phase fits p predicts. Each stream is read exactly as in training; the start
    /// text warms all of them.
    [<CompiledName("Generate")>]
    let generate (model: SavedModel) (start: IReadOnlyList<string>) (steps: int) (temperature: float) (rng: Rng) : string[] =
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
        let T = model.WindowLength
        if not stream && (input.PrePadded || input.TimeSteps > 1 && model.SymbolsPerStep > 1) then
            invalidArg "model" "the model reads no plain window of symbols (pre-padded or several symbols per step); generate continues window and stream models"
        if start.Count < T then
            let what = if stream then "reads chunks of" else "reads windows of"
            invalidArg "start" (sprintf "the start text has %d symbols, the model %s %d: give at least %d" start.Count what T T)
        let encode (symbols: IReadOnlyList<string>) = (ModelFile.encodeSymbols model symbols |> Result.defaultWith (fun e -> invalidArg "start" e)).Inputs
        let symbols = List<string>(start)
        let generated = Array.zeroCreate steps
        let mutable r = rng
        let pick (probabilities: float[]) =
            let d = choose temperature probabilities r
            r <- d.Next
            vocabulary.[d.Value]
        if stream then
            // Row φ of the batch is the stream reset at position φ; rows not yet begun stay zero.
            let H = model.Parameters.Units
            let mutable state = LstmState.Zeros(T, H)
            let last = start.Count + steps - 2
            for q in 0 .. last do
                let x = (encode [| symbols.[q] |]).[0]
                let batch = Matrix<float>.Build.Dense(T, x.ColumnCount, fun _ k -> x.[0, k])
                let prediction = Model.predict model.Parameters state [| batch |] Unmasked
                let keep (m: Matrix<float>) = Matrix<float>.Build.Dense(T, H, fun row k -> if row <= q then m.[row, k] else 0.0)
                state <- { H = keep prediction.Final.H; C = keep prediction.Final.C }
                if q >= start.Count - 1 then
                    let s = pick (prediction.Probabilities.Row((q + 1) % T).ToArray())
                    generated.[q + 1 - start.Count] <- s
                    symbols.Add s
        else
            let zeros = LstmState.Zeros(1, model.Parameters.Units)
            for k in 0 .. steps - 1 do
                let prediction = Model.predict model.Parameters zeros (encode (symbols.GetRange(symbols.Count - T, T))) Unmasked
                let s = pick (prediction.Probabilities.Row(0).ToArray())
                generated.[k] <- s
                symbols.Add s
        generated
