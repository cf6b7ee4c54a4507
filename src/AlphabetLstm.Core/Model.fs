/// The whole model: the LSTM over a sequence, then Dense(V) + softmax on the last h, and the
/// categorical cross-entropy computed from the logits (log-softmax), as tf.keras does.
///
///     logits = h_T · DenseKernel + DenseBias        (B, V)
///     p      = softmax(logits)                      (B, V)
///     loss   = mean over b of −Σ_v y[b,v] · log p[b,v]
///     d loss / d logits = (p − y) / B
namespace AlphabetLstm.Core

open System
open System.Numerics.Tensors
open System.Runtime.Intrinsics
open MathNet.Numerics.LinearAlgebra

/// Where a sample's targets are: after its last step only (one target per sample: Keras'
/// `return_sequences=False`, the tutorial's form), or after every step (char-rnn, Keras
/// `return_sequences=True` + `TimeDistributed(Dense)`): the head reads every step's h and the loss is
/// the mean cross-entropy over every position.
type Targets =
    /// One target per sample, after its last step.
    | Last = 0
    /// A target after every step: step t of a text sample predicts the symbol after it.
    | Every = 1

/// Cross-entropy on plain matrices (the model computes its own softmax in `Model`'s head).
module Loss =
    /// Row-wise log-softmax: logits − max − log Σ exp(logits − max).
    [<CompiledName("LogSoftmax")>]
    let logSoftmax (logits: Matrix<float>) : Matrix<float> =
        let p = Matrix<float>.Build.DenseOfMatrix logits
        for b in 0 .. p.RowCount - 1 do
            let row = p.Row b
            let m = row.Maximum()
            let lse = m + log (row.Map(fun x -> exp (x - m)).Sum())
            p.SetRow(b, row - lse)
        p

    /// Mean categorical cross-entropy of (B, V) logits against (B, V) target distributions.
    [<CompiledName("CrossEntropy")>]
    let crossEntropy (logits: Matrix<float>) (targets: Matrix<float>) : float =
        let lp = logSoftmax logits
        -(lp.PointwiseMultiply targets).RowSums().Sum() / float logits.RowCount

/// Loss, accuracy and gradients of one batch.
type BatchGradients =
    { /// Mean cross-entropy over the batch.
      Loss: float
      /// How many samples' argmax prediction equals the argmax target.
      Correct: int
      /// Softmax output, (B, V).
      Probabilities: Matrix<float>
      /// d loss / d every block.
      Gradients: Parameters
      /// d loss / d h_0 and d loss / d c_0.
      Initial: LstmState
      /// The state after the sequence (what a stateful caller carries on).
      Final: LstmState }

/// What the model predicts for a batch, and the state it ends in.
type Prediction =
    { /// Softmax output, (B, V).
      Probabilities: Matrix<float>
      /// The state after the sequence.
      Final: LstmState }

    /// The softmax output as arrays, one per sample (B arrays of V numbers): a copy, for callers without MathNet.
    member p.ProbabilityRows : float[][] = p.Probabilities.ToRowArrays()

/// Scratch for one forward/backward pass of a fixed (T, B). Owned by a single call (or a single
/// training loop) and never handed out: its arrays are written in place for speed.
type internal Workspace =
    { /// One tape per layer, bottom first: the first reads the inputs, the last feeds the head.
      Tapes: Tape[]
      /// d h, d c carried by BPTT, (B, H) per layer.
      DHs: float[][]
      DCs: float[][]
      /// d x of an upper layer, the layer below's d h from above, (T, B, H); empty for one layer.
      DInputs: float[]
      /// logits, then probabilities, (B, V).
      Probs: float[]
      /// targets, (B, V).
      Targets: float[]
      /// d logits, (B, V).
      DLogits: float[]
      /// Four rows of the head at once, one per vector lane, transposed: (V, 4).
      Lanes: float[] }
    /// The first layer's tape (the one the inputs are loaded into).
    member ws.Tape = ws.Tapes.[0]
    /// The top layer's tape (the one the head reads).
    member ws.Top = ws.Tapes.[ws.Tapes.Length - 1]
    /// d h of the first layer (d h_0 after a pass with the initial state).
    member ws.DH = ws.DHs.[0]
    /// d c of the first layer.
    member ws.DC = ws.DCs.[0]
    /// Threads one step of every layer may use.
    member ws.SetThreads(threads: int) = for t in ws.Tapes do t.Threads <- threads
    /// Every layer starts from the carried rows: N blocks of (B, H), layer after layer.
    member ws.StartFrom(carryH: float[], carryC: float[]) =
        let n = ws.Tape.B * ws.Tape.H
        ws.Tapes |> Array.iteri (fun l t ->
            Array.blit carryH (l * n) t.Hs 0 n
            Array.blit carryC (l * n) t.Cs 0 n)
    /// Every layer starts from zeros.
    member ws.StartFromZeros() =
        let n = ws.Tape.B * ws.Tape.H
        for t in ws.Tapes do
            Array.Clear(t.Hs, 0, n)
            Array.Clear(t.Cs, 0, n)
    /// Every layer's final rows into the carried rows (N blocks of (B, H)).
    member ws.KeepFinal(carryH: float[], carryC: float[]) =
        let n = ws.Tape.B * ws.Tape.H
        ws.Tapes |> Array.iteri (fun l t ->
            Array.blit t.Hs (t.T * n) carryH (l * n) n
            Array.blit t.Cs (t.T * n) carryC (l * n) n)
    /// The state every layer starts from, (B, N·H).
    member ws.Initial : LstmState =
        let B, H, N = ws.Tape.B, ws.Tape.H, ws.Tapes.Length
        { H = Lstm.readLayers B H N (fun l -> ws.Tapes.[l].Hs) (fun _ -> 0); C = Lstm.readLayers B H N (fun l -> ws.Tapes.[l].Cs) (fun _ -> 0) }

/// The whole model on a batch: predict, loss, and loss with every gradient.
module Model =
    let rec internal newWorkspace (layers: int) (T: int) (B: int) (I: int) (H: int) (V: int) : Workspace = newWorkspaceOf false layers T B I H V

    /// A workspace of `layers` layers whose first tape holds symbol indices when `bySymbol` (one-hot
    /// inputs over I symbols).
    and internal newWorkspaceOf (bySymbol: bool) (layers: int) (T: int) (B: int) (I: int) (H: int) (V: int) : Workspace =
        withTapes (Array.append [| Lstm.newTapeOf bySymbol T B I H |] (Lstm.newUpperTapes layers T B H)) V

    /// A workspace around loaded tapes (one per layer).
    and internal withTapes (tapes: Tape[]) (V: int) : Workspace =
        let N, T, B, H = tapes.Length, tapes.[0].T, tapes.[0].B, tapes.[0].H
        { Tapes = tapes
          DHs = Array.init N (fun _ -> Array.zeroCreate (B * H))
          DCs = Array.init N (fun _ -> Array.zeroCreate (B * H))
          DInputs = (if N > 1 then Array.zeroCreate (T * B * H) else Array.empty)
          Probs = Array.zeroCreate (B * V)
          Targets = Array.zeroCreate (B * V)
          DLogits = Array.zeroCreate (B * V)
          Lanes = Array.zeroCreate (4 * V) }

    /// Softmax and cross-entropy of one row b of ws.Probs (logits in, probabilities out), in place:
    /// adds the row's loss −Σ y·log p to lossSum, and 1 to correct if its argmax is the target's.
    ///     log p = (logits − max) − log Σ exp(logits − max);  p = exp(logits − max) / Σ exp(logits − max)
    let internal headRow (ws: Workspace) (V: int) (b: int) (lossSum: byref<float>) (correct: byref<int>) =
        let row = Span<float>(ws.Probs, b * V, V)
        let rowIn = ReadOnlySpan<float>(ws.Probs, b * V, V)   // the same memory, read-only: the ops work in place
        let argmaxLogit = TensorPrimitives.IndexOfMax(rowIn)
        let y = ReadOnlySpan<float>(ws.Targets, b * V, V)
        let m = row.[argmaxLogit]
        TensorPrimitives.Subtract(rowIn, m, row)
        let mutable yDotShifted = 0.0
        for v in 0 .. V - 1 do
            yDotShifted <- yDotShifted + y.[v] * row.[v]
        Kernels.exp ws.Probs (b * V) ws.Probs (b * V) V
        let mutable sum = 0.0
        for v in 0 .. V - 1 do
            sum <- sum + row.[v]
        let mutable ySum = 0.0
        for v in 0 .. V - 1 do
            ySum <- ySum + y.[v]
        TensorPrimitives.Divide(rowIn, sum, row)
        // − Σ y · log p = −(Σ y · (logits − max)) + (Σ y) · log Σ exp(logits − max)
        lossSum <- lossSum - yDotShifted + ySum * log sum
        if argmaxLogit = TensorPrimitives.IndexOfMax(y) then correct <- correct + 1

    /// TensorPrimitives.IndexOfMax for the four lanes at once, one step of the scan over v: the
    /// first NaN wins, else the first greatest value, +0 counting as greater than −0.
    let inline private argmaxStep (x: Vector256<float>) (v: float) (best: byref<Vector256<float>>) (index: byref<Vector256<float>>) (nan: byref<Vector256<float>>) =
        let negZero = Vector256.Create(-0.0).AsInt64()
        let plusOverMinus = Vector256.Equals(best.AsInt64(), negZero) &&& Vector256.Equals(x.AsInt64(), Vector256<int64>.Zero)
        let isNaN = Vector256.Equals(x, x) |> Vector256.OnesComplement
        let firstNaN = isNaN &&& Vector256.OnesComplement nan
        let greater = (Vector256.GreaterThan(x, best) ||| plusOverMinus.AsDouble()) &&& Vector256.OnesComplement nan
        let take = greater ||| firstNaN
        best <- Vector256.ConditionalSelect(take, x, best)
        index <- Vector256.ConditionalSelect(take, Vector256.Create v, index)
        nan <- nan ||| firstNaN

    /// `headRow` for rows b0 .. b0 + 3, one per vector lane: each lane does its row's operations in
    /// the row's order (sums along v one after another, exp by the same kernel), so every row gets
    /// the same bits as from `headRow`. Adds the four losses to lossSum in row order.
    let internal headRows4 (ws: Workspace) (V: int) (b0: int) (lossSum: byref<float>) (correct: byref<int>) =
        let p, y, lanes = ws.Probs, ws.Targets, ws.Lanes
        let o0, o1, o2, o3 = b0 * V, (b0 + 1) * V, (b0 + 2) * V, (b0 + 3) * V
        let logit v = Vector256.Create(p.[o0 + v], p.[o1 + v], p.[o2 + v], p.[o3 + v])
        let target v = Vector256.Create(y.[o0 + v], y.[o1 + v], y.[o2 + v], y.[o3 + v])
        let mutable best = logit 0
        let mutable index = Vector256<float>.Zero
        let mutable nan = Vector256.Equals(best, best) |> Vector256.OnesComplement
        let mutable yBest = target 0
        let mutable yIndex = Vector256<float>.Zero
        let mutable yNaN = Vector256.Equals(yBest, yBest) |> Vector256.OnesComplement
        for v in 1 .. V - 1 do
            argmaxStep (logit v) (float v) &best &index &nan
            argmaxStep (target v) (float v) &yBest &yIndex &yNaN
        // m = the logit at the argmax (NaN if the row has one), as headRow takes it.
        let m = best
        let mutable yDot = Vector256<float>.Zero
        let mutable ySum = Vector256<float>.Zero
        for v in 0 .. V - 1 do
            let shifted = logit v - m
            Vector256.StoreUnsafe(shifted, &lanes.[4 * v])
            let yv = target v
            yDot <- yDot + yv * shifted
            ySum <- ySum + yv
        Kernels.exp lanes 0 lanes 0 (4 * V)
        let mutable sum = Vector256<float>.Zero
        for v in 0 .. V - 1 do
            sum <- sum + Vector256.LoadUnsafe(&lanes.[4 * v])
        for v in 0 .. V - 1 do
            let q = Vector256.LoadUnsafe(&lanes.[4 * v]) / sum
            p.[o0 + v] <- q.GetElement 0
            p.[o1 + v] <- q.GetElement 1
            p.[o2 + v] <- q.GetElement 2
            p.[o3 + v] <- q.GetElement 3
        for k in 0 .. 3 do
            lossSum <- lossSum - yDot.GetElement k + ySum.GetElement k * log (sum.GetElement k)
            if index.GetElement k = yIndex.GetElement k then correct <- correct + 1

    /// The head on h_T: writes probabilities into ws.Probs; returns (sum of per-sample losses, correct).
    let internal headForward (p: Parameters) (ws: Workspace) : struct (float * int) =
        let tape = ws.Top
        let B, H, V = tape.B, tape.H, p.Classes
        let dk, db = Parameters.matrixValues p.DenseKernel, Parameters.vectorValues p.DenseBias
        let hT = tape.T * B * H
        // logits = h_T · DenseKernel + DenseBias, (B, H)·(H, V); the kernel's storage is its transpose (V, H).
        for b in 0 .. B - 1 do
            Array.blit db 0 ws.Probs (b * V) V
        Kernels.gemmNT B V H (Kernels.rowMajor tape.Hs hT H) (Kernels.rowMajor dk 0 H) (Kernels.rowMajor ws.Probs 0 V)
        let mutable lossSum = 0.0
        let mutable correct = 0
        let mutable b = 0
        if Vector256.IsHardwareAccelerated then
            while b + 4 <= B do
                headRows4 ws V b &lossSum &correct
                b <- b + 4
        while b < B do
            headRow ws V b &lossSum &correct
            b <- b + 1
        struct (lossSum, correct)

    /// Inverts the head: d loss / d logits = (p − y) / B. Adds to the Dense gradients and writes
    /// d loss / d h_T of the top layer into its DH; zeroes every other d h and every d c (the loss
    /// reads no c_T and no lower layer's h_T).
    let internal headBackward (p: Parameters) (ws: Workspace) (gDk: float[]) (gDb: float[]) =
        let tape = ws.Top
        let top = ws.Tapes.Length - 1
        let B, H, V = tape.B, tape.H, p.Classes
        let dk = Parameters.matrixValues p.DenseKernel
        let hT = tape.T * B * H
        let scale = 1.0 / float B
        let dl = ws.DLogits
        for b in 0 .. B - 1 do
            for v in 0 .. V - 1 do
                dl.[b * V + v] <- (ws.Probs.[b * V + v] - ws.Targets.[b * V + v]) * scale
                gDb.[v] <- gDb.[v] + dl.[b * V + v]
        // logits = h_T · DenseKernel + DenseBias:
        //   d DenseKernelᵀ (V, H) += d logitsᵀ (V, B) · h_T (B, H);  d h_T (B, H) = d logits (B, V) · DenseKernelᵀ (V, H).
        Kernels.gemmNN V H B (Kernels.strided dl 0 1 V) (Kernels.rowMajor tape.Hs hT H) (Kernels.rowMajor gDk 0 H)
        for l in 0 .. top do
            Array.Clear ws.DHs.[l]
            Array.Clear ws.DCs.[l]
        Kernels.gemmNN B H V (Kernels.rowMajor dl 0 V) (Kernels.rowMajor dk 0 H) (Kernels.rowMajor ws.DHs.[top] 0 H)

    // ---- a target at every step: the head on every step's h -------------------------------------
    //
    //     logits_r = h_r · DenseKernel + DenseBias       r = t·B + b over the T·B (step, sample) rows, h_r = h_{t+1}
    //     loss     = mean over r of −log p_r[y_r]          y_r the target symbol of row r
    //     d loss / d logits_r = (p_r − onehot(y_r)) / (T·B)

    /// The head on every step's h of a tape, for the targets `targets` (T·B symbol indices): writes the
    /// probabilities into `probs` (T·B, V); returns (`start` + the rows' losses added one row after
    /// another in row order, rows whose argmax is the target). A caller reading one stream in pieces
    /// passes the running sum as `start`, so the sum's bits do not depend on where the pieces end.
    let internal everyHeadForwardFrom (start: float) (p: Parameters) (tape: Tape) (targets: int[]) (probs: float[]) : struct (float * int) =
        let R, B, H, V = tape.T * tape.B, tape.B, tape.H, p.Classes
        let dk, db = Parameters.matrixValues p.DenseKernel, Parameters.vectorValues p.DenseBias
        for r in 0 .. R - 1 do
            Array.blit db 0 probs (r * V) V
        // (T·B, H)·(H, V): h_1 … h_T are contiguous rows of Hs from slot 1; the kernel's storage is its transpose (V, H).
        Kernels.gemmNT R V H (Kernels.rowMajor tape.Hs (B * H) H) (Kernels.rowMajor dk 0 H) (Kernels.rowMajor probs 0 V)
        let mutable lossSum = start
        let mutable correct = 0
        for r in 0 .. R - 1 do
            let row = Span<float>(probs, r * V, V)
            let rowIn = ReadOnlySpan<float>(probs, r * V, V)
            let argmax = TensorPrimitives.IndexOfMax rowIn
            let y = targets.[r]
            // log p_y = (l_y − max) − log Σ exp(l − max)
            TensorPrimitives.Subtract(rowIn, row.[argmax], row)
            let shifted = row.[y]
            Kernels.exp probs (r * V) probs (r * V) V
            let mutable sum = 0.0
            for v in 0 .. V - 1 do
                sum <- sum + row.[v]
            TensorPrimitives.Divide(rowIn, sum, row)
            lossSum <- lossSum + (log sum - shifted)
            if argmax = y then correct <- correct + 1
        struct (lossSum, correct)

    /// The head on every step's h of a tape (everyHeadForwardFrom with the sum starting at 0).
    let internal everyHeadForward (p: Parameters) (tape: Tape) (targets: int[]) (probs: float[]) : struct (float * int) =
        everyHeadForwardFrom 0.0 p tape targets probs

    /// Inverts everyHeadForward: d logits = (p − y) / (T·B), written over `probs`; adds to the Dense
    /// gradients and writes d loss / d h_{t+1} of every row into dOutputs (T·B, H).
    let internal everyHeadBackward (p: Parameters) (tape: Tape) (targets: int[]) (probs: float[]) (dOutputs: float[]) (gDk: float[]) (gDb: float[]) =
        let R, B, H, V = tape.T * tape.B, tape.B, tape.H, p.Classes
        let dk = Parameters.matrixValues p.DenseKernel
        let scale = 1.0 / float R
        for r in 0 .. R - 1 do
            probs.[r * V + targets.[r]] <- probs.[r * V + targets.[r]] - 1.0
            let dl = Span<float>(probs, r * V, V)
            TensorPrimitives.Multiply(ReadOnlySpan<float>(probs, r * V, V), scale, dl)
            TensorPrimitives.Add(ReadOnlySpan<float>(gDb), ReadOnlySpan<float>(probs, r * V, V), Span<float>(gDb))
        // logits = h · DenseKernel + DenseBias:
        //   d DenseKernelᵀ (V, H) += d logitsᵀ (V, T·B) · h (T·B, H);  d h (T·B, H) = d logits (T·B, V) · DenseKernelᵀ (V, H).
        Kernels.gemmNN V H R (Kernels.strided probs 0 1 V) (Kernels.rowMajor tape.Hs (B * H) H) (Kernels.rowMajor gDk 0 H)
        Array.Clear(dOutputs, 0, R * H)
        Kernels.gemmNN R H V (Kernels.rowMajor probs 0 V) (Kernels.rowMajor dk 0 H) (Kernels.rowMajor dOutputs 0 H)

    /// Forward, loss and full BPTT on a loaded workspace; gradients are added into `grads`
    /// (raw storage, Parameters.storage order), and with `withInitial` d h_0, d c_0 are left in
    /// ws.DH, ws.DC. Returns (sum of per-sample losses, correct).
    let internal trainPass (p: Parameters) (ws: Workspace) (withInitial: bool) (grads: float[][]) : struct (float * int) =
        Lstm.forwardStack p ws.Tapes
        let result = headForward p ws
        headBackward p ws grads.[3] grads.[4]
        Lstm.backwardStack p ws.Tapes Array.empty ws.DHs ws.DCs withInitial grads ws.DInputs
        result

    let private loadTargets (p: Parameters) (targets: Matrix<float>) (ws: Workspace) =
        let B, V = ws.Tape.B, p.Classes
        if targets.RowCount <> B || targets.ColumnCount <> V then
            invalidArg "targets" (sprintf "targets are (%d, %d), expected (%d, %d)" targets.RowCount targets.ColumnCount B V)
        for b in 0 .. B - 1 do
            for v in 0 .. V - 1 do
                ws.Targets.[b * V + v] <- targets.[b, v]

    let private workspaceFor (p: Parameters) (state: LstmState) (inputs: Matrix<float>[]) (masking: Masking) =
        withTapes (Lstm.loadTapes p state inputs masking) p.Classes

    let private probabilities (ws: Workspace) (V: int) =
        Matrix<float>.Build.Dense(ws.Tape.B, V, fun b v -> ws.Probs.[b * V + v])

    /// Loss, accuracy and the gradient of the mean cross-entropy with respect to every block and
    /// to the initial state, for one batch: inputs are T matrices (B, I), targets (B, V).
    [<CompiledName("LossAndGradients")>]
    let lossAndGradients (p: Parameters) (initial: LstmState) (inputs: Matrix<float>[]) (targets: Matrix<float>) (masking: Masking) : BatchGradients =
        let ws = workspaceFor p initial inputs masking
        loadTargets p targets ws
        let grads = Parameters.zerosLike p
        let struct (lossSum, correct) = trainPass p ws true (Parameters.storage grads)
        let B, H, N = ws.Tape.B, ws.Tape.H, ws.Tapes.Length
        { Loss = lossSum / float B
          Correct = correct
          Probabilities = probabilities ws p.Classes
          Gradients = grads
          Initial = { H = Lstm.readLayers B H N (fun l -> ws.DHs.[l]) (fun _ -> 0); C = Lstm.readLayers B H N (fun l -> ws.DCs.[l]) (fun _ -> 0) }
          Final = Lstm.finalStateOf ws.Tapes }

    /// The mean cross-entropy of one batch (no gradients).
    [<CompiledName("Loss")>]
    let loss (p: Parameters) (initial: LstmState) (inputs: Matrix<float>[]) (targets: Matrix<float>) (masking: Masking) : float =
        let ws = workspaceFor p initial inputs masking
        loadTargets p targets ws
        Lstm.forwardStack p ws.Tapes
        let struct (lossSum, _) = headForward p ws
        lossSum / float ws.Tape.B

    /// Class probabilities after the sequence, and the final state, for any batch size.
    [<CompiledName("Predict")>]
    let predict (p: Parameters) (initial: LstmState) (inputs: Matrix<float>[]) (masking: Masking) : Prediction =
        let ws = workspaceFor p initial inputs masking
        Lstm.forwardStack p ws.Tapes
        headForward p ws |> ignore
        { Probabilities = probabilities ws p.Classes; Final = Lstm.finalStateOf ws.Tapes }
