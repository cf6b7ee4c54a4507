/// The reference model: the LSTM cell and the Dense head, forward and backward, in reading order on
/// MathNet matrices. It is the specification, not the implementation: short enough to check line by
/// line against the equations (and against PyTorch: tests/…/Reference/make_torch_gradients.py), slow
/// on purpose, and called by nothing but the tests, which check the fast tape (Lstm.fs, Kernels.fs,
/// Model.fs, Training.fs) against it on bounded random cases.
///
/// Shape legend: B batch, T time, I input features, H units, G = 4H gates (order i, f, c, o), V classes.
///
///     z  = x·W + h·U + b                      i = σ(z_i)  f = σ(z_f)  g = tanh(z_c)  o = σ(z_o)
///     c' = f ⊙ c + i ⊙ g                      h' = o ⊙ tanh(c')
///     logits = h_T·D + d    p = softmax(logits)    loss = mean over b of −Σ_v y log p
///
/// A padded step (pre-padding: the last `length` of T steps are real) leaves the state unchanged.
module internal AlphabetLstm.Core.Reference

open MathNet.Numerics.LinearAlgebra

type private M = Matrix<float>

/// What one step's backward reads: the step's inputs and its forward's intermediates.
type CellCache =
    { /// x, (B, I).
      X: Matrix<float>
      /// h and c before the step, (B, H) each.
      H: Matrix<float>
      C: Matrix<float>
      /// The activated gates i, f, g, o, (B, H) each.
      I: Matrix<float>
      F: Matrix<float>
      G: Matrix<float>
      O: Matrix<float>
      /// tanh(c'), (B, H).
      TanhC: Matrix<float>
      /// Whether row b is a real step (B); a padded row keeps its state.
      Real: bool[] }

/// The gradients of one step with respect to its inputs and the weights it read.
type CellGradients =
    { /// d loss / d h and d loss / d c before the step, (B, H) each.
      DH: Matrix<float>
      DC: Matrix<float>
      /// d W (I, G), d U (H, G), d b (G).
      DKernel: Matrix<float>
      DRecurrent: Matrix<float>
      DBias: Vector<float> }

/// The whole model on one batch: the loss, what it predicts, and every gradient.
type Pass =
    { Loss: float
      /// p, (B, V).
      Probabilities: Matrix<float>
      /// (h_T, c_T).
      Final: LstmState
      /// d loss / d every block (the Parameters record holds gradients field for field).
      Gradients: Parameters
      /// d loss / d h_0 and d loss / d c_0, (B, H) each.
      Initial: LstmState }

let private sigmoid (z: M) = z.Map(fun v -> 1.0 / (1.0 + exp (-v)))
let private tanhOf (z: M) = z.Map(fun v -> tanh v)
let private ones (m: M) = Matrix<float>.Build.Dense(m.RowCount, m.ColumnCount, 1.0)
/// Block k (0 i, 1 f, 2 c, 3 o) of the fused gate axis: columns k·H … k·H + H − 1.
let private block (z: M) (k: int) (H: int) = z.SubMatrix(0, z.RowCount, k * H, H)
/// 1 in the rows of real steps, 0 in padded rows, (B, H).
let private rowsOf (real: bool[]) (H: int) = Matrix<float>.Build.Dense(real.Length, H, fun b _ -> if real.[b] then 1.0 else 0.0)

/// Pre-padding: step t of a sample with `length` real steps out of T is real when it is one of the last `length`.
let isReal (T: int) (length: int) (t: int) = t >= T - length

/// One step forward from (h, c): the next state and the cache of the step.
let cellForward (p: Parameters) (x: Matrix<float>) (h: Matrix<float>) (c: Matrix<float>) (real: bool[]) =
    let B, H = x.RowCount, p.Units
    let bias = Matrix<float>.Build.Dense(B, 4 * H, fun _ j -> p.Bias.[j])
    let z = x * p.Kernel + h * p.RecurrentKernel + bias        // z = x·W + h·U + b          (B, G)
    let i = sigmoid (block z 0 H)                              // i = σ(z_i)                 (B, H)
    let f = sigmoid (block z 1 H)                              // f = σ(z_f)
    let g = tanhOf (block z 2 H)                               // g = tanh(z_c)
    let o = sigmoid (block z 3 H)                              // o = σ(z_o)
    let c' = f.PointwiseMultiply c + i.PointwiseMultiply g     // c' = f ⊙ c + i ⊙ g         (B, H)
    let tanhC = tanhOf c'
    let h' = o.PointwiseMultiply tanhC                         // h' = o ⊙ tanh(c')          (B, H)
    let r = rowsOf real H                                      // a padded row: h' = h, c' = c
    let keep (next: M) (previous: M) = next.PointwiseMultiply r + previous.PointwiseMultiply(ones r - r)
    keep h' h, keep c' c, { X = x; H = h; C = c; I = i; F = f; G = g; O = o; TanhC = tanhC; Real = real }

/// One step backward from d h', d c' (B, H): the forward's lines in reverse.
let cellBackward (p: Parameters) (k: CellCache) (dh': Matrix<float>) (dc': Matrix<float>) : CellGradients =
    let H = p.Units
    let r = rowsOf k.Real H
    let pad = ones r - r
    let dhReal, dcReal = dh'.PointwiseMultiply r, dc'.PointwiseMultiply r
    // h' = o ⊙ tanh(c')
    let dO = dhReal.PointwiseMultiply k.TanhC
    let dC' = dcReal + dhReal.PointwiseMultiply(k.O).PointwiseMultiply(ones k.TanhC - k.TanhC.PointwiseMultiply k.TanhC)
    // c' = f ⊙ c + i ⊙ g
    let dF, dI, dG = dC'.PointwiseMultiply k.C, dC'.PointwiseMultiply k.G, dC'.PointwiseMultiply k.I
    let dCell = dC'.PointwiseMultiply k.F
    // i = σ(z_i), f = σ(z_f), o = σ(z_o): σ' = σ(1 − σ);  g = tanh(z_c): tanh' = 1 − g²
    let dSigmoid (d: M) (s: M) = d.PointwiseMultiply(s).PointwiseMultiply(ones s - s)
    let dz =                                                   // (B, G), gate order i, f, c, o
        Matrix<float>.Build.DenseOfMatrixArray(
            array2D [ [ dSigmoid dI k.I; dSigmoid dF k.F; dG.PointwiseMultiply(ones k.G - k.G.PointwiseMultiply k.G); dSigmoid dO k.O ] ])
    // z = x·W + h·U + b
    { DKernel = k.X.TransposeThisAndMultiply dz                // d W = xᵀ·d z               (I, G)
      DRecurrent = k.H.TransposeThisAndMultiply dz             // d U = hᵀ·d z               (H, G)
      DBias = dz.ColumnSums()                                  // d b = Σ_b d z              (G)
      // d h = d z·Uᵀ, and what a padded row passed through unchanged (h' = h, c' = c)
      DH = dz.TransposeAndMultiply p.RecurrentKernel + dh'.PointwiseMultiply pad
      DC = dCell + dc'.PointwiseMultiply pad }

/// The model on one batch from `initial`: T inputs (B, I), targets (B, V), and, when masked, each
/// sample's number of real steps. Forward over T, the head, the loss, then BPTT back to h_0, c_0.
let pass (p: Parameters) (initial: LstmState) (inputs: Matrix<float>[]) (targets: Matrix<float>) (lengths: int[] option) : Pass =
    let T, B = inputs.Length, initial.Batch
    let real t = Array.init B (fun b -> match lengths with Some l -> isReal T l.[b] t | None -> true)
    // forward over time: (h_t, c_t) → (h_t+1, c_t+1)
    let caches = Array.zeroCreate T
    let mutable h, c = initial.H, initial.C
    for t in 0 .. T - 1 do
        let h', c', cache = cellForward p inputs.[t] h c (real t)
        caches.[t] <- cache
        h <- h'
        c <- c'
    // logits = h_T·D + d                                                                        (B, V)
    let logits = h * p.DenseKernel + Matrix<float>.Build.Dense(B, p.Classes, fun _ v -> p.DenseBias.[v])
    // log p = logits − max − log Σ exp(logits − max), row by row;  p = exp(log p)
    let logP = Matrix<float>.Build.Dense(B, p.Classes, fun b v ->
        let row = logits.Row b
        let m = row.Maximum()
        logits.[b, v] - m - log (row.Map(fun x -> exp (x - m)).Sum()))
    let probabilities = logP.Map(fun x -> exp x)
    // loss = mean over b of −Σ_v y log p
    let loss = -(targets.PointwiseMultiply logP).ColumnSums().Sum() / float B
    // d logits = (p − y) / B;  logits = h_T·D + d: d D = h_Tᵀ·d logits, d d = Σ_b d logits, d h_T = d logits·Dᵀ
    let dLogits = (probabilities - targets) / float B
    let dDense, dDenseBias = h.TransposeThisAndMultiply dLogits, dLogits.ColumnSums()
    let mutable dh, dc = dLogits.TransposeAndMultiply p.DenseKernel, Matrix<float>.Build.Dense(B, p.Units)
    // BPTT: one reversed loop carrying d h, d c; the weight gradients add up over the steps
    let mutable dW, dU, db = Matrix<float>.Build.Dense(p.Inputs, 4 * p.Units), Matrix<float>.Build.Dense(p.Units, 4 * p.Units), Vector<float>.Build.Dense(4 * p.Units)
    for t in T - 1 .. -1 .. 0 do
        let g = cellBackward p caches.[t] dh dc
        dW <- dW + g.DKernel
        dU <- dU + g.DRecurrent
        db <- db + g.DBias
        dh <- g.DH
        dc <- g.DC
    { Loss = loss
      Probabilities = probabilities
      Final = { H = h; C = c }
      Gradients = { Kernel = dW; RecurrentKernel = dU; Bias = db; DenseKernel = dDense; DenseBias = dDenseBias; Upper = Array.empty }
      Initial = { H = dh; C = dc } }
