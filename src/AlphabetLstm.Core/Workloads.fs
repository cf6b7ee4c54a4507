/// Synthetic training workloads for the benchmark: a fixed random batch trained for a number of
/// optimizer steps through the same `Training` code the experiments use.
///
/// Pure and seeded like the rest of the core; it builds the work, the shell times it.
namespace AlphabetLstm.Core

open MathNet.Numerics.LinearAlgebra

/// A shape to train: I inputs, H units, B samples per batch, T time steps (V = 26 classes).
type WorkloadShape =
    { Inputs: int
      Units: int
      Batch: int
      TimeSteps: int }

/// A ready-to-run workload: one epoch of `Config` over `Data` from `Start` is `Steps` optimizer steps.
type Workload =
    { Shape: WorkloadShape
      Steps: int
      Data: Dataset
      Config: FitConfig
      Start: TrainingState }

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
