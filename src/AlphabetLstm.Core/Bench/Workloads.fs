/// Work for the benchmark: synthetic workloads (a fixed random batch trained for a number of
/// optimizer steps through the same `Training` code the experiments use), and the stages of one
/// experiment's training step, to be run one at a time.
///
/// Pure and seeded like the rest of the core; it builds the work, the shell times it.
namespace AlphabetLstm.Bench

open System
open AlphabetLstm.Core
open AlphabetLstm.Tutorial
open MathNet.Numerics.LinearAlgebra

/// A shape to train: I inputs, H units, B samples per batch, T time steps (V = 26 classes).
type WorkloadShape =
    { /// I.
      Inputs: int
      /// H.
      Units: int
      /// B.
      Batch: int
      /// T.
      TimeSteps: int }

/// A ready-to-run workload: one epoch of `Config` over `Data` from `Start` is `Steps` optimizer steps.
type Workload =
    { /// The shape trained.
      Shape: WorkloadShape
      /// Optimizer steps in one epoch.
      Steps: int
      /// The batch, repeated Steps times.
      Data: Dataset
      /// Stateless, unshuffled, batch B.
      Config: FitConfig
      /// Keras-initialised weights, epoch 0.
      Start: TrainingState }

/// Synthetic workloads for the benchmark.
module Workloads =
    /// `steps` copies of one random batch (inputs uniform in [0, 1), random one-hot targets over
    /// 26 classes), Keras-initialised weights, and a stateless, unshuffled config with batch B, so
    /// that `Training.epoch` runs exactly `steps` full steps: forward over T, BPTT, Adam.
    [<CompiledName("Synthetic")>]
    let synthetic (shape: WorkloadShape) (steps: int) (seed: int64) : Workload =
        let I, H, B, T, V = shape.Inputs, shape.Units, shape.Batch, shape.TimeSteps, Alphabet.Size
        if I < 1 || H < 1 || B < 1 || T < 1 then
            invalidArg "shape" (sprintf "every dimension must be positive, got I=%d H=%d B=%d T=%d" I H B T)
        if steps < 1 then invalidArg "steps" (sprintf "steps must be positive, got %d" steps)
        let rng = Rng.create seed
        let xs = Rng.many (T * B * I) (Rng.uniform 0.0 1.0) rng
        let ys = Rng.many B (Rng.nextInt 0 V) xs.Next
        let p = Parameters.init I H V ys.Next
        let N = steps * B
        let data =
            { Inputs = Array.init T (fun t -> Matrix<float>.Build.Dense(N, I, fun n k -> xs.Value.[(t * B + n % B) * I + k]))
              Targets = Matrix<float>.Build.Dense(N, V, fun n v -> if ys.Value.[n % B] = v then 1.0 else 0.0)
              Lengths = Array.create N T
              Patterns = Array.init N (fun n -> string (n % B))
              Vocabulary = Vocabulary.Alphabet }
        let config = { FitConfig.Default(1) with BatchSize = B; Shuffle = false }
        { Shape = shape
          Steps = steps
          Data = data
          Config = config
          Start = Training.start config p.Value p.Next }


/// The stages of one training step of an experiment, each run alone and as often as a caller
/// likes, on one batch prepared once: what `bench --phases` times (the core has no clock, the
/// shell times each call). The batch is the experiment's first one from the zero state when it is
/// stateless; when it is stateful, the batch that follows ten others, from the state they carry
/// into it (found with `Training.evaluate`, as a stateful evaluation carries it), since the
/// tutorial's first batch ('A' from a reset) starts from zeros and would not show the carry.
/// The weights are the experiment's initial ones throughout; the stages write only this object's
/// own buffers (gradients, moments, a copy of the weights), so repeating a stage repeats the same work.
[<Sealed>]
type StepStages(spec: ExperimentSpec, seed: int64) =
    let prepared = Experiments.prepare spec seed
    let data, config, p = prepared.Data, prepared.Config, prepared.Start.Parameters
    let N, T, I, H, V = data.Count, data.TimeSteps, data.Features, p.Units, p.Classes
    let B = min config.BatchSize N
    let ws = Model.newWorkspace 1 T B I H V
    let stateful = config.Policy = StatePolicy.Stateful
    let batch = if stateful then min 10 (N / B - 1) else 0
    let grads = Parameters.storage (Parameters.zerosLike p)
    let theta = Parameters.storage (Parameters.copy p)
    let m, v = Parameters.storage (Parameters.zerosLike p), Parameters.storage (Parameters.zerosLike p)
    // d loss / d h_T as the head leaves it, for every BPTT call to start from.
    let dH = Array.zeroCreate (B * H)
    do
        let xs, ys = Training.storages data
        Training.loadBatch data xs ys (Array.init N id) (batch * B) config.Masked ws
        if batch > 0 then
            let before = Datasets.select (Array.init (batch * B) id) data
            let carried = (Training.evaluateStateful p before (LstmState.Zeros(B, H)) config.Masked).Final
            Lstm.writeRows carried.H ws.Tape.Hs 0
            Lstm.writeRows carried.C ws.Tape.Cs 0
        Lstm.forwardTape p ws.Tape
        Model.headForward p ws |> ignore
        Model.headBackward p ws grads.[3] grads.[4]
        Array.blit ws.DH 0 dH 0 dH.Length

    /// I, input features.
    member _.Inputs = I
    /// H, units.
    member _.Units = H
    /// B, the batch size of the step.
    member _.Batch = B
    /// T, time steps.
    member _.TimeSteps = T
    /// How many numbers the model has (what Adam updates).
    member _.ParameterCount = grads |> Array.sumBy Array.length
    /// Which batch of the epoch is the step's (0-based): 0 for a stateless experiment.
    member _.BatchIndex = batch
    /// The LSTM state the step's batch starts from: zeros for a stateless experiment.
    member _.Initial : LstmState = { H = Lstm.readRows B H ws.Tape.Hs 0; C = Lstm.readRows B H ws.Tape.Cs 0 }

    /// The LSTM over the batch's T steps, recording the tape.
    member _.Forward() = Lstm.forwardTape p ws.Tape
    /// The Dense head, softmax and cross-entropy on h_T.
    member _.HeadForward() = Model.headForward p ws |> ignore
    /// The head backwards: the Dense gradients and d loss / d h_T.
    member _.HeadBackward() = Model.headBackward p ws grads.[3] grads.[4]
    /// BPTT through the T steps from d loss / d h_T, into the LSTM's gradients.
    member _.Bptt() =
        Array.blit dH 0 ws.DH 0 dH.Length
        Array.Clear ws.DC
        Lstm.backwardTape p ws.Tape ws.DH ws.DC false grads
    /// One Adam update of every parameter (as the tenth step of a run).
    member _.Adam() = Adam.updateInPlace config.Optimizer 10 theta grads m v false

/// The stages of one text training step in 'T (what `TextStepStages` runs, in its precision).
type internal TextStagesOf<'T when 'T: struct and 'T: (new: unit -> 'T) and 'T :> ValueType>(run: TextRun, text: IndexedText, seed: int64, units: int, precision: Precision) =
    let prepared = (TextRuns.prepare run text seed units 1 1 0.01).WithPrecision precision
    let p = prepared.Start.Parameters
    let blocks = Kernels.narrowCopy<'T> (Parameters.storage p)
    let T, B, H = run.Window, min run.BatchSize prepared.Samples, p.Units
    let lane = TextRuns.newLane<'T> run 1 T B H 1
    let zeros () = Kernels.narrowCopy<'T> (Parameters.storage (Parameters.zerosLike p))
    let grads, theta, m, v = zeros (), Kernels.narrowCopy<'T> (Parameters.storage p), zeros (), zeros ()
    let every = run.Targets = Targets.Every
    let S = prepared.Training.Length / run.BatchSize
    // d loss / d h_T as the last-step head leaves it, for every BPTT call to start from.
    let dH : 'T[] = Array.zeroCreate (B * H)
    do
        TextRuns.load run prepared.Training lane (fun b -> if run.Stateful then b * S else b)
        Lstm.forwardTapeOf blocks lane.Ws.Tape
        if not every then
            Model.headForwardOf blocks lane.Ws |> ignore
            Model.headBackwardOf blocks lane.Ws grads.[3] grads.[4]
            Array.blit lane.Ws.DH 0 dH 0 dH.Length
        else
            Model.everyHeadForwardFromOf 0.0 blocks lane.Ws.Tape lane.Targets lane.Probs |> ignore
            Model.everyHeadBackwardOf blocks lane.Ws.Tape lane.Targets lane.Probs lane.DOutputs grads.[3] grads.[4]
    member _.Characters = T * B
    member _.ParameterCount = grads |> Array.sumBy Array.length
    member _.Load() = TextRuns.load run prepared.Training lane (fun b -> if run.Stateful then b * S else b)
    member _.Forward() = Lstm.forwardTapeOf blocks lane.Ws.Tape
    member _.HeadForward() =
        if every then Model.everyHeadForwardFromOf 0.0 blocks lane.Ws.Tape lane.Targets lane.Probs |> ignore
        else Model.headForwardOf blocks lane.Ws |> ignore
    member _.HeadBackward() =
        if every then Model.everyHeadBackwardOf blocks lane.Ws.Tape lane.Targets lane.Probs lane.DOutputs grads.[3] grads.[4]
        else Model.headBackwardOf blocks lane.Ws grads.[3] grads.[4]
    member _.Bptt() =
        Array.blit dH 0 lane.Ws.DH 0 dH.Length
        Array.Clear lane.Ws.DC
        Lstm.backwardTapeWithOf blocks lane.Ws.Tape (if every then lane.DOutputs else Array.empty) lane.Ws.DH lane.Ws.DC false grads
    member _.Adam() = Adam.updateInPlace prepared.Config.Optimizer 10 theta grads m v false
    member _.HeldOut() = TextRuns.validate prepared p |> ignore
    member _.StepsPerEpoch = prepared.StepsPerEpoch

/// The stages of one training step of a text run (streams, a target at every step unless the run says
/// otherwise), one at a time on the run's first batch, for `bench --text` to time each alone; and the
/// held-out pass. In `precision` (Float64 unless told): every array of the stages in that type. The
/// weights are the run's initial ones; the stages write only this object's buffers.
[<Sealed>]
type TextStepStages(run: TextRun, text: IndexedText, seed: int64, units: int,
                    [<System.Runtime.InteropServices.Optional; System.Runtime.InteropServices.DefaultParameterValue(Precision.Float64)>] precision: Precision) =
    let s32 = if precision = Precision.Float32 then Some(TextStagesOf<float32>(run, text, seed, units, precision)) else None
    let s64 = if precision = Precision.Float32 then None else Some(TextStagesOf<float>(run, text, seed, units, precision))
    let pick (f32: TextStagesOf<float32> -> 'R) (f64: TextStagesOf<float> -> 'R) =
        match s32 with
        | Some s -> f32 s
        | None -> f64 s64.Value

    /// T·B, the characters one step reads.
    member _.Characters = pick (fun s -> s.Characters) (fun s -> s.Characters)
    /// How many numbers the model has (what Adam updates).
    member _.ParameterCount = pick (fun s -> s.ParameterCount) (fun s -> s.ParameterCount)
    /// Building the batch's inputs and targets from the symbol indices.
    member _.Load() = pick (fun s -> s.Load()) (fun s -> s.Load())
    /// The LSTM over the T steps (x·W as a row gather for one-hot inputs), recording the tape.
    member _.Forward() = pick (fun s -> s.Forward()) (fun s -> s.Forward())
    /// The head, softmax and cross-entropy on every step's h (or the last).
    member _.HeadForward() = pick (fun s -> s.HeadForward()) (fun s -> s.HeadForward())
    /// The head backwards: the Dense gradients and d loss / d h of every step (or the last).
    member _.HeadBackward() = pick (fun s -> s.HeadBackward()) (fun s -> s.HeadBackward())
    /// BPTT through the T steps into the LSTM's gradients (d W as a scatter-add for one-hot inputs).
    member _.Bptt() = pick (fun s -> s.Bptt()) (fun s -> s.Bptt())
    /// One Adam update of every parameter (as the tenth step of a run).
    member _.Adam() = pick (fun s -> s.Adam()) (fun s -> s.Adam())
    /// The held-out pass after an epoch (nothing when nothing is held out).
    member _.HeldOut() = pick (fun s -> s.HeldOut()) (fun s -> s.HeldOut())
    /// Optimizer steps in one epoch.
    member _.StepsPerEpoch = pick (fun s -> s.StepsPerEpoch) (fun s -> s.StepsPerEpoch)
