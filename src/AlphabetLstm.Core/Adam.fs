/// Adam in Keras' form (tf.keras 2): ε is added to sqrt(v), and the bias correction is folded
/// into the step size:
///
///     m ← β1·m + (1 − β1)·g        v ← β2·v + (1 − β2)·g²
///     lr_t = lr · sqrt(1 − β2^t) / (1 − β1^t)
///     θ ← θ − lr_t · m / (sqrt(v) + ε)
///
/// Moments are Parameters records, so they have the model's shape by construction.
namespace AlphabetLstm.Core

open System
open System.Runtime.Intrinsics

/// Adam's hyper-parameters.
type AdamConfig =
    { /// lr, the step size (Keras: 0.001).
      LearningRate: float
      /// β1, the first moment's decay (0.9).
      Beta1: float
      /// β2, the second moment's decay (0.999).
      Beta2: float
      /// ε, added to sqrt(v) in the update's denominator (1e-7, Keras' placement).
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
type AdamResult =
    { /// The parameters after the update.
      Parameters: Parameters
      /// The moments and step count to use for the next update.
      State: AdamState }

/// Adam in Keras' form: lr_t = lr·sqrt(1 − β2^t)/(1 − β1^t), θ ← θ − lr_t·m/(sqrt(v) + ε).
module Adam =
    /// Zero moments at step 0 for parameters shaped like `p`.
    [<CompiledName("Init")>]
    let init (p: Parameters) : AdamState = { Step = 0; M = Parameters.zerosLike p; V = Parameters.zerosLike p }

    /// The rule a learning rate must meet, in words: "a positive finite number".
    [<CompiledName("LearningRateRule")>]
    let learningRateRule = "a positive finite number"

    /// Whether `lr` is a learning rate Adam can take: finite and positive (the one check every caller uses).
    [<CompiledName("IsValidLearningRate")>]
    let isValidLearningRate (lr: float) = Double.IsFinite lr && lr > 0.0

    /// Update number `step` (1-based), in place on raw storage, in the precision 'T of the arrays
    /// (float or float32). Internal: only callers that own the arrays (a copy made for this call,
    /// or a training loop's private working set) use it. L lanes at a time (L = Vector256<'T>.Count)
    /// with exactly the scalar operations, in the same order and unfused, so every element gets the
    /// same bits as the scalar loop that finishes each block. With `clearGrads` each gradient is
    /// zeroed once read, ready for the next batch (a training loop's own buffers only), which saves
    /// that loop a pass over them.
    /// lr_t, the bias-corrected step size, is one number per update, formed in float64 (β^t for
    /// large t is below float32's range of relative precision) and then rounded to 'T; so are
    /// β1, β2, 1 − β1, 1 − β2 and ε. Everything per element is 'T arithmetic.
    let internal updateInPlace (cfg: AdamConfig) (step: int) (theta: 'T[][]) (grads: 'T[][]) (m: 'T[][]) (v: 'T[][]) (clearGrads: bool) =
        let lrT = Kernels.ofFloat<'T> (cfg.LearningRate * sqrt (1.0 - cfg.Beta2 ** float step) / (1.0 - cfg.Beta1 ** float step))
        let b1, b2, eps = Kernels.ofFloat<'T> cfg.Beta1, Kernels.ofFloat<'T> cfg.Beta2, Kernels.ofFloat<'T> cfg.Epsilon
        let c1, c2 = Kernels.ofFloat<'T> (1.0 - cfg.Beta1), Kernels.ofFloat<'T> (1.0 - cfg.Beta2)
        let vb1, vb2, vc1, vc2 = Vector256.Create b1, Vector256.Create b2, Vector256.Create c1, Vector256.Create c2
        let vlr, veps = Vector256.Create lrT, Vector256.Create eps
        let L = Vector256<'T>.Count
        for k in 0 .. theta.Length - 1 do
            let th, g, mk, vk = theta.[k], grads.[k], m.[k], v.[k]
            let n = th.Length
            if g.Length <> n || mk.Length <> n || vk.Length <> n then
                invalidArg "grads" (sprintf "block %d: parameters, gradients and moments differ in size" k)
            let mutable j = 0
            // j + L ≤ n, and every array has n elements (checked above): the L-wide loads stay inside.
            while j + L <= n do
                let gj = Vector256.LoadUnsafe(&g.[j])
                if clearGrads then Vector256.StoreUnsafe(Vector256<'T>.Zero, &g.[j])
                // m ← β1·m + (1 − β1)·g        v ← β2·v + (1 − β2)·g²
                let mj = vb1 * Vector256.LoadUnsafe(&mk.[j]) + vc1 * gj
                let vj = vb2 * Vector256.LoadUnsafe(&vk.[j]) + vc2 * gj * gj
                Vector256.StoreUnsafe(mj, &mk.[j])
                Vector256.StoreUnsafe(vj, &vk.[j])
                // θ ← θ − lr_t · m / (sqrt(v) + ε)
                let tj = Vector256.LoadUnsafe(&th.[j]) - vlr * mj / (Vector256.Sqrt vj + veps)
                Vector256.StoreUnsafe(tj, &th.[j])
                j <- j + L
            while j < n do
                let gj = g.[j]
                if clearGrads then g.[j] <- Unchecked.defaultof<'T>
                let mj = Kernels.addS (Kernels.mulS b1 mk.[j]) (Kernels.mulS c1 gj)
                let vj = Kernels.addS (Kernels.mulS b2 vk.[j]) (Kernels.mulS (Kernels.mulS c2 gj) gj)
                mk.[j] <- mj
                vk.[j] <- vj
                th.[j] <- Kernels.subS th.[j] (Kernels.divS (Kernels.mulS lrT mj) (Kernels.addS (Kernels.sqrtS vj) eps))
                j <- j + 1

    /// One Adam update. Pure: returns new parameters and moments, the arguments are untouched.
    [<CompiledName("Step")>]
    let step (cfg: AdamConfig) (state: AdamState) (p: Parameters) (grads: Parameters) : AdamResult =
        let theta, m, v = Parameters.copy p, Parameters.copy state.M, Parameters.copy state.V
        let t = state.Step + 1
        updateInPlace cfg t (Parameters.storage theta) (Parameters.storage grads) (Parameters.storage m) (Parameters.storage v) false
        { Parameters = theta; State = { Step = t; M = m; V = v } }
