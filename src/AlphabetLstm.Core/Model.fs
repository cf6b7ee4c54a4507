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

/// Scratch for one forward/backward pass of a fixed (T, B), in the precision 'T (float or float32).
/// Owned by a single call (or a single training loop) and never handed out: its arrays are written
/// in place for speed.
type internal Workspace<'T> =
    { /// One tape per layer, bottom first: the first reads the inputs, the last feeds the head.
      Tapes: Tape<'T>[]
      /// d h, d c carried by BPTT, (B, H) per layer.
      DHs: 'T[][]
      DCs: 'T[][]
      /// d x of an upper layer, the layer below's d h from above, (T, B, H); empty for one layer.
      DInputs: 'T[]
      /// logits, then probabilities, (B, V).
      Probs: 'T[]
      /// targets, (B, V).
      Targets: 'T[]
      /// d logits, (B, V).
      DLogits: 'T[]
      /// Four rows of the head at once, one per vector lane, transposed: (V, 4).
      Lanes: 'T[] }
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
    member ws.StartFrom(carryH: 'T[], carryC: 'T[]) =
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
    member ws.KeepFinal(carryH: 'T[], carryC: 'T[]) =
        let n = ws.Tape.B * ws.Tape.H
        ws.Tapes |> Array.iteri (fun l t ->
            Array.blit t.Hs (t.T * n) carryH (l * n) n
            Array.blit t.Cs (t.T * n) carryC (l * n) n)
    /// The state every layer starts from, (B, N·H).
    member ws.Initial : LstmState =
        let B, H, N = ws.Tape.B, ws.Tape.H, ws.Tapes.Length
        { H = Lstm.readLayers B H N (fun l -> ws.Tapes.[l].Hs) (fun _ -> 0); C = Lstm.readLayers B H N (fun l -> ws.Tapes.[l].Cs) (fun _ -> 0) }

/// The float64 workspace.
type internal Workspace = Workspace<float>

/// The whole model on a batch: predict, loss, and loss with every gradient.
module Model =
    /// A workspace around loaded tapes (one per layer).
    let internal withTapes (tapes: Tape<'T>[]) (V: int) : Workspace<'T> =
        let N, T, B, H = tapes.Length, tapes.[0].T, tapes.[0].B, tapes.[0].H
        { Tapes = tapes
          DHs = Array.init N (fun _ -> Array.zeroCreate (B * H))
          DCs = Array.init N (fun _ -> Array.zeroCreate (B * H))
          DInputs = (if N > 1 then Array.zeroCreate (T * B * H) else Array.empty)
          Probs = Array.zeroCreate (B * V)
          Targets = Array.zeroCreate (B * V)
          DLogits = Array.zeroCreate (B * V)
          Lanes = Array.zeroCreate (4 * V) }

    /// A workspace in 'T of `layers` layers whose first tape holds symbol indices when `bySymbol`
    /// (one-hot inputs over I symbols).
    let internal newWorkspaceOf<'T> (bySymbol: bool) (layers: int) (T: int) (B: int) (I: int) (H: int) (V: int) : Workspace<'T> =
        withTapes (Array.append [| Lstm.newTapeOf<'T> bySymbol T B I H |] (Lstm.newUpperTapes<'T> layers T B H)) V

    /// A float64 workspace of dense inputs.
    let internal newWorkspace (layers: int) (T: int) (B: int) (I: int) (H: int) (V: int) : Workspace = newWorkspaceOf<float> false layers T B I H V

    /// Softmax and cross-entropy of one row b of ws.Probs (logits in, probabilities out), in place:
    /// adds the row's loss −Σ y·log p to lossSum, and 1 to correct if its argmax is the target's.
    ///     log p = (logits − max) − log Σ exp(logits − max);  p = exp(logits − max) / Σ exp(logits − max)
    /// Everything a gradient reads is computed in 'T; only the loss, a figure reported and never
    /// differentiated, is formed in float64 from those 'T values (log and the running sum).
    let internal headRow (ws: Workspace<'T>) (V: int) (b: int) (lossSum: byref<float>) (correct: byref<int>) =
        let p, y, o = ws.Probs, ws.Targets, b * V
        let argmaxLogit = Kernels.indexOfMax p o V
        let m = p.[o + argmaxLogit]
        Kernels.subScalarRun p o V m
        let mutable yDotShifted = Unchecked.defaultof<'T>
        for v in 0 .. V - 1 do
            yDotShifted <- Kernels.addS yDotShifted (Kernels.mulS y.[o + v] p.[o + v])
        Kernels.expOf p o p o V
        let mutable sum = Unchecked.defaultof<'T>
        for v in 0 .. V - 1 do
            sum <- Kernels.addS sum p.[o + v]
        let mutable ySum = Unchecked.defaultof<'T>
        for v in 0 .. V - 1 do
            ySum <- Kernels.addS ySum y.[o + v]
        Kernels.divScalarRun p o V sum
        // − Σ y · log p = −(Σ y · (logits − max)) + (Σ y) · log Σ exp(logits − max)
        lossSum <- lossSum - Kernels.toFloat yDotShifted + Kernels.toFloat ySum * log (Kernels.toFloat sum)
        if argmaxLogit = Kernels.indexOfMax y o V then correct <- correct + 1

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
    /// `blocks` in Parameters.storage order (the head's are the 4th and 5th).
    let internal headForwardOf (blocks: 'T[][]) (ws: Workspace<'T>) : struct (float * int) =
        let tape = ws.Top
        let dk, db = blocks.[3], blocks.[4]
        let B, H, V = tape.B, tape.H, db.Length
        let hT = tape.T * B * H
        // logits = h_T · DenseKernel + DenseBias, (B, H)·(H, V); the kernel's storage is its transpose (V, H).
        for b in 0 .. B - 1 do
            Array.blit db 0 ws.Probs (b * V) V
        Kernels.gemmNTOf B V H (Kernels.rowMajor tape.Hs hT H) (Kernels.rowMajor dk 0 H) (Kernels.rowMajor ws.Probs 0 V)
        let mutable lossSum = 0.0
        let mutable correct = 0
        let mutable b = 0
        // Four float64 rows at once, one per lane (float32 rows go one at a time).
        if Vector256.IsHardwareAccelerated && Kernels.is64<'T> () then
            let ws64 = unbox<Workspace> (box ws)
            while b + 4 <= B do
                headRows4 ws64 V b &lossSum &correct
                b <- b + 4
        while b < B do
            headRow ws V b &lossSum &correct
            b <- b + 1
        struct (lossSum, correct)

    /// headForwardOf with a float64 model's parameters.
    let internal headForward (p: Parameters) (ws: Workspace) : struct (float * int) = headForwardOf (Parameters.storage p) ws

    /// Inverts the head: d loss / d logits = (p − y) / B. Adds to the Dense gradients and writes
    /// d loss / d h_T of the top layer into its DH; zeroes every other d h and every d c (the loss
    /// reads no c_T and no lower layer's h_T).
    let internal headBackwardOf (blocks: 'T[][]) (ws: Workspace<'T>) (gDk: 'T[]) (gDb: 'T[]) =
        let tape = ws.Top
        let top = ws.Tapes.Length - 1
        let dk = blocks.[3]
        let B, H, V = tape.B, tape.H, blocks.[4].Length
        let hT = tape.T * B * H
        let scale = Kernels.divS (Kernels.ofFloat<'T> 1.0) (Kernels.ofFloat<'T> (float B))
        let dl = ws.DLogits
        for b in 0 .. B - 1 do
            for v in 0 .. V - 1 do
                dl.[b * V + v] <- Kernels.mulS (Kernels.subS ws.Probs.[b * V + v] ws.Targets.[b * V + v]) scale
                gDb.[v] <- Kernels.addS gDb.[v] dl.[b * V + v]
        // logits = h_T · DenseKernel + DenseBias:
        //   d DenseKernelᵀ (V, H) += d logitsᵀ (V, B) · h_T (B, H);  d h_T (B, H) = d logits (B, V) · DenseKernelᵀ (V, H).
        Kernels.gemmNNOf V H B (Kernels.strided dl 0 1 V) (Kernels.rowMajor tape.Hs hT H) (Kernels.rowMajor gDk 0 H)
        for l in 0 .. top do
            Array.Clear ws.DHs.[l]
            Array.Clear ws.DCs.[l]
        Kernels.gemmNNOf B H V (Kernels.rowMajor dl 0 V) (Kernels.rowMajor dk 0 H) (Kernels.rowMajor ws.DHs.[top] 0 H)

    /// headBackwardOf with a float64 model's parameters.
    let internal headBackward (p: Parameters) (ws: Workspace) (gDk: float[]) (gDb: float[]) = headBackwardOf (Parameters.storage p) ws gDk gDb

    // ---- a target at every step: the head on every step's h -------------------------------------
    //
    //     logits_r = h_r · DenseKernel + DenseBias       r = t·B + b over the T·B (step, sample) rows, h_r = h_{t+1}
    //     loss     = mean over r of −log p_r[y_r]          y_r the target symbol of row r
    //     d loss / d logits_r = (p_r − onehot(y_r)) / (T·B)

    /// The head on every step's h of a tape, for the targets `targets` (T·B symbol indices): writes the
    /// probabilities into `probs` (T·B, V); returns (`start` + the rows' losses added one row after
    /// another in row order, rows whose argmax is the target). A caller reading one stream in pieces
    /// passes the running sum as `start`, so the sum's bits do not depend on where the pieces end.
    let internal everyHeadForwardFromOf (start: float) (blocks: 'T[][]) (tape: Tape<'T>) (targets: int[]) (probs: 'T[]) : struct (float * int) =
        let dk, db = blocks.[3], blocks.[4]
        let R, B, H, V = tape.T * tape.B, tape.B, tape.H, db.Length
        for r in 0 .. R - 1 do
            Array.blit db 0 probs (r * V) V
        // (T·B, H)·(H, V): h_1 … h_T are contiguous rows of Hs from slot 1; the kernel's storage is its transpose (V, H).
        Kernels.gemmNTOf R V H (Kernels.rowMajor tape.Hs (B * H) H) (Kernels.rowMajor dk 0 H) (Kernels.rowMajor probs 0 V)
        let mutable lossSum = start
        let mutable correct = 0
        for r in 0 .. R - 1 do
            let o = r * V
            let argmax = Kernels.indexOfMax probs o V
            let y = targets.[r]
            // log p_y = (l_y − max) − log Σ exp(l − max)
            Kernels.subScalarRun probs o V probs.[o + argmax]
            let shifted = probs.[o + y]
            Kernels.expOf probs o probs o V
            let mutable sum = Unchecked.defaultof<'T>
            for v in 0 .. V - 1 do
                sum <- Kernels.addS sum probs.[o + v]
            Kernels.divScalarRun probs o V sum
            // The loss alone (never differentiated) in float64, from the 'T values.
            lossSum <- lossSum + (log (Kernels.toFloat sum) - Kernels.toFloat shifted)
            if argmax = y then correct <- correct + 1
        struct (lossSum, correct)

    /// everyHeadForwardFromOf with a float64 model's parameters.
    let internal everyHeadForwardFrom (start: float) (p: Parameters) (tape: Tape) (targets: int[]) (probs: float[]) : struct (float * int) =
        everyHeadForwardFromOf start (Parameters.storage p) tape targets probs

    /// The head on every step's h of a tape (everyHeadForwardFrom with the sum starting at 0).
    let internal everyHeadForward (p: Parameters) (tape: Tape) (targets: int[]) (probs: float[]) : struct (float * int) =
        everyHeadForwardFrom 0.0 p tape targets probs

    /// Inverts everyHeadForward: d logits = (p − y) / (T·B), written over `probs`; adds to the Dense
    /// gradients and writes d loss / d h_{t+1} of every row into dOutputs (T·B, H).
    let internal everyHeadBackwardOf (blocks: 'T[][]) (tape: Tape<'T>) (targets: int[]) (probs: 'T[]) (dOutputs: 'T[]) (gDk: 'T[]) (gDb: 'T[]) =
        let dk = blocks.[3]
        let R, B, H, V = tape.T * tape.B, tape.B, tape.H, blocks.[4].Length
        let one = Kernels.ofFloat<'T> 1.0
        let scale = Kernels.divS one (Kernels.ofFloat<'T> (float R))
        for r in 0 .. R - 1 do
            probs.[r * V + targets.[r]] <- Kernels.subS probs.[r * V + targets.[r]] one
            Kernels.mulScalarRun probs (r * V) V scale
            Kernels.addRuns gDb 0 probs (r * V) gDb 0 V
        // logits = h · DenseKernel + DenseBias:
        //   d DenseKernelᵀ (V, H) += d logitsᵀ (V, T·B) · h (T·B, H);  d h (T·B, H) = d logits (T·B, V) · DenseKernelᵀ (V, H).
        Kernels.gemmNNOf V H R (Kernels.strided probs 0 1 V) (Kernels.rowMajor tape.Hs (B * H) H) (Kernels.rowMajor gDk 0 H)
        Array.Clear(dOutputs, 0, R * H)
        Kernels.gemmNNOf R H V (Kernels.rowMajor probs 0 V) (Kernels.rowMajor dk 0 H) (Kernels.rowMajor dOutputs 0 H)

    /// everyHeadBackwardOf with a float64 model's parameters.
    let internal everyHeadBackward (p: Parameters) (tape: Tape) (targets: int[]) (probs: float[]) (dOutputs: float[]) (gDk: float[]) (gDb: float[]) =
        everyHeadBackwardOf (Parameters.storage p) tape targets probs dOutputs gDk gDb

    /// Forward, loss and full BPTT on a loaded workspace; gradients are added into `grads`
    /// (raw storage, Parameters.storage order), and with `withInitial` d h_0, d c_0 are left in
    /// ws.DH, ws.DC. Returns (sum of per-sample losses, correct).
    let internal trainPassOf (blocks: 'T[][]) (ws: Workspace<'T>) (withInitial: bool) (grads: 'T[][]) : struct (float * int) =
        Lstm.forwardStackOf blocks ws.Tapes
        let result = headForwardOf blocks ws
        headBackwardOf blocks ws grads.[3] grads.[4]
        Lstm.backwardStackOf blocks ws.Tapes Array.empty ws.DHs ws.DCs withInitial grads ws.DInputs
        result

    /// trainPassOf with a float64 model's parameters.
    let internal trainPass (p: Parameters) (ws: Workspace) (withInitial: bool) (grads: float[][]) : struct (float * int) =
        trainPassOf (Parameters.storage p) ws withInitial grads

    let private loadTargets (p: Parameters) (targets: Matrix<float>) (ws: Workspace<'T>) =
        let B, V = ws.Tape.B, p.Classes
        if targets.RowCount <> B || targets.ColumnCount <> V then
            invalidArg "targets" (sprintf "targets are (%d, %d), expected (%d, %d)" targets.RowCount targets.ColumnCount B V)
        for b in 0 .. B - 1 do
            for v in 0 .. V - 1 do
                ws.Targets.[b * V + v] <- Kernels.ofFloat<'T> targets.[b, v]

    let private workspaceFor<'T> (p: Parameters) (state: LstmState) (inputs: Matrix<float>[]) (masking: Masking) : Workspace<'T> =
        withTapes (Lstm.loadTapesOf<'T> p state inputs masking) p.Classes

    let private probabilities (ws: Workspace<'T>) (V: int) =
        Matrix<float>.Build.Dense(ws.Tape.B, V, fun b v -> Kernels.toFloat ws.Probs.[b * V + v])

    /// Loss, accuracy and the gradient of the mean cross-entropy with respect to every block and
    /// to the initial state, for one batch: inputs are T matrices (B, I), targets (B, V).
    [<CompiledName("LossAndGradients")>]
    let lossAndGradients (p: Parameters) (initial: LstmState) (inputs: Matrix<float>[]) (targets: Matrix<float>) (masking: Masking) : BatchGradients =
        let ws = workspaceFor<float> p initial inputs masking
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

    /// The mean cross-entropy of one batch (no gradients), computed in 'T.
    let internal lossOf<'T when 'T: struct and 'T: (new: unit -> 'T) and 'T :> ValueType> (p: Parameters) (initial: LstmState) (inputs: Matrix<float>[]) (targets: Matrix<float>) (masking: Masking) : float =
        let blocks = Kernels.narrow<'T> (Parameters.storage p)
        let ws = workspaceFor<'T> p initial inputs masking
        loadTargets p targets ws
        Lstm.forwardStackOf blocks ws.Tapes
        let struct (lossSum, _) = headForwardOf blocks ws
        lossSum / float ws.Tape.B

    /// Class probabilities and the final state, computed in 'T (widened to float64 on the way out).
    let internal predictOf<'T when 'T: struct and 'T: (new: unit -> 'T) and 'T :> ValueType> (p: Parameters) (initial: LstmState) (inputs: Matrix<float>[]) (masking: Masking) : Prediction =
        let blocks = Kernels.narrow<'T> (Parameters.storage p)
        let ws = workspaceFor<'T> p initial inputs masking
        Lstm.forwardStackOf blocks ws.Tapes
        headForwardOf blocks ws |> ignore
        { Probabilities = probabilities ws p.Classes; Final = Lstm.finalStateOf ws.Tapes }

    /// The mean cross-entropy of one batch (no gradients).
    [<CompiledName("Loss")>]
    let loss (p: Parameters) (initial: LstmState) (inputs: Matrix<float>[]) (targets: Matrix<float>) (masking: Masking) : float =
        lossOf<float> p initial inputs targets masking

    /// Class probabilities after the sequence, and the final state, for any batch size.
    [<CompiledName("Predict")>]
    let predict (p: Parameters) (initial: LstmState) (inputs: Matrix<float>[]) (masking: Masking) : Prediction =
        predictOf<float> p initial inputs masking

    /// The mean cross-entropy of one batch computed in `precision`: in Float32 the parameters,
    /// state and inputs are rounded to float32 (exact for a float32 model) and every number of the
    /// pass is a float32 (the loss itself is summed in float64).
    [<CompiledName("Loss")>]
    let lossIn (p: Parameters) (initial: LstmState) (inputs: Matrix<float>[]) (targets: Matrix<float>) (masking: Masking) (precision: Precision) : float =
        match precision with
        | Precision.Float64 -> lossOf<float> p initial inputs targets masking
        | Precision.Float32 -> lossOf<float32> p initial inputs targets masking
        | other -> invalidArg "precision" (sprintf "the precision must be Float64 or Float32, got %d" (int other))

    /// Class probabilities and the final state computed in `precision` (a float32 model predicts in
    /// Float32: every number of the pass a float32, widened exactly on the way out).
    [<CompiledName("Predict")>]
    let predictIn (p: Parameters) (initial: LstmState) (inputs: Matrix<float>[]) (masking: Masking) (precision: Precision) : Prediction =
        match precision with
        | Precision.Float64 -> predictOf<float> p initial inputs masking
        | Precision.Float32 -> predictOf<float32> p initial inputs masking
        | other -> invalidArg "precision" (sprintf "the precision must be Float64 or Float32, got %d" (int other))
