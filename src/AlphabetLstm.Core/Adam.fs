/// Adam in Keras' form (DESIGN.md §3): ε is added to sqrt(v), and the bias correction is folded
/// into the step size:
///
///     m ← β1·m + (1 − β1)·g        v ← β2·v + (1 − β2)·g²
///     lr_t = lr · sqrt(1 − β2^t) / (1 − β1^t)
///     θ ← θ − lr_t · m / (sqrt(v) + ε)
///
/// Moments are Parameters records, so they have the model's shape by construction.
namespace AlphabetLstm.Core

/// Adam's hyper-parameters.
type AdamConfig =
    { LearningRate: float
      Beta1: float
      Beta2: float
      Epsilon: float }

    /// Keras' defaults: lr 0.001, β1 0.9, β2 0.999, ε 1e-7.
    static member Keras = { LearningRate = 0.001; Beta1 = 0.9; Beta2 = 0.999; Epsilon = 1e-7 }

/// Adam's moments and step count.
type AdamState =
    { /// t, the number of updates taken so far.
      Step: int
      /// First moment m, the model's shape.
      M: Parameters
      /// Second moment v, the model's shape.
      V: Parameters }

/// Parameters after an update, with the optimizer state to use next.
type AdamResult = { Parameters: Parameters; State: AdamState }

module Adam =
    /// Zero moments at step 0 for parameters shaped like `p`.
    [<CompiledName("Init")>]
    let init (p: Parameters) : AdamState = { Step = 0; M = Parameters.zerosLike p; V = Parameters.zerosLike p }

    /// Update number `step` (1-based), in place on raw storage. Internal: only callers that own
    /// the arrays (a copy made for this call, or a training loop's private working set) use it.
    let internal updateInPlace (cfg: AdamConfig) (step: int) (theta: float[][]) (grads: float[][]) (m: float[][]) (v: float[][]) =
        let lrT = cfg.LearningRate * sqrt (1.0 - cfg.Beta2 ** float step) / (1.0 - cfg.Beta1 ** float step)
        let b1, b2, eps = cfg.Beta1, cfg.Beta2, cfg.Epsilon
        for k in 0 .. theta.Length - 1 do
            let th, g, mk, vk = theta.[k], grads.[k], m.[k], v.[k]
            for j in 0 .. th.Length - 1 do
                let gj = g.[j]
                let mj = b1 * mk.[j] + (1.0 - b1) * gj
                let vj = b2 * vk.[j] + (1.0 - b2) * gj * gj
                mk.[j] <- mj
                vk.[j] <- vj
                th.[j] <- th.[j] - lrT * mj / (sqrt vj + eps)

    /// One Adam update. Pure: returns new parameters and moments, the arguments are untouched.
    [<CompiledName("Step")>]
    let step (cfg: AdamConfig) (state: AdamState) (p: Parameters) (grads: Parameters) : AdamResult =
        let theta, m, v = Parameters.copy p, Parameters.copy state.M, Parameters.copy state.V
        let t = state.Step + 1
        updateInPlace cfg t (Parameters.storage theta) (Parameters.storage grads) (Parameters.storage m) (Parameters.storage v)
        { Parameters = theta; State = { Step = t; M = m; V = v } }
