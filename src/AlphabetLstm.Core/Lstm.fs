/// The LSTM cell and its unrolling over time: forward, and backward right after it.
///
/// Shape legend: B batch, T time, I input features, H units, G = 4H gates (order i, f, c, o).
///
///     z  = x·W + h·U + b                                   z: (B, G)
///     i  = σ(z_i)   f = σ(z_f)   g = tanh(z_c)   o = σ(z_o)
///     c' = f ⊙ c + i ⊙ g
///     h' = o ⊙ tanh(c')
///
/// Nothing here remembers a state: every function takes the state in and returns the next one.
/// Resetting is the caller passing `LstmState.Zeros`. A masked (padded) step returns the state it
/// was given, as Keras' Masking layer does.
///
/// Inside, a forward pass records a tape of flat row-major arrays (sample-contiguous) that only
/// backward can read. Public results are fresh MathNet matrices that nothing mutates afterwards.
namespace AlphabetLstm.Core

open System
open System.Numerics.Tensors
open System.Runtime.Intrinsics
open MathNet.Numerics.LinearAlgebra

/// The LSTM state of a batch: H and C are (B, H) matrices. Row j belongs to sample j alone.
/// A stack of N layers has one (h, c) per layer, side by side: H and C are (B, N·H), layer k's
/// in columns k·H … k·H + H − 1 (layer 0 at the bottom); `Layer` and `OfLayers` split and join them.
type LstmState =
    { /// Hidden state h, (B, H), or (B, N·H) for a stack.
      H: Matrix<float>
      /// Cell state c, (B, H), or (B, N·H) for a stack.
      C: Matrix<float> }

    /// The zero state for `batch` samples and `units` units: what "reset" means, the library's one
    /// name for it (a model's: LstmState.Zeros(batch, model.Parameters.Units)).
    static member Zeros(batch: int, units: int) : LstmState =
        if batch < 1 then invalidArg "batch" (sprintf "batch size must be positive, got %d" batch)
        if units < 1 then invalidArg "units" (sprintf "units must be positive, got %d" units)
        { H = Matrix<float>.Build.Dense(batch, units); C = Matrix<float>.Build.Dense(batch, units) }
    /// The zero state of `shape`'s shape (B, H): a reset, as Keras' reset_states() does it, written
    /// as a value; pass `LstmState.Zeros` as training's between-epochs step to reset after every epoch.
    static member Zeros(shape: LstmState) : LstmState =
        if isNull (box shape) then nullArg "shape"
        LstmState.Zeros(shape.H.RowCount, shape.H.ColumnCount)
    /// The zero state for `batch` samples of a stack of `layers` layers of `units` units each: (B, N·H).
    static member Zeros(batch: int, units: int, layers: int) : LstmState =
        if layers < 1 then invalidArg "layers" (sprintf "layers must be positive, got %d" layers)
        if units < 1 then invalidArg "units" (sprintf "units must be positive, got %d" units)
        LstmState.Zeros(batch, units * layers)
    /// B.
    member s.Batch = s.H.RowCount
    /// The state's columns: H for one layer, N·H for a stack (a model's StateUnits).
    member s.Units = s.H.ColumnCount
    /// The (h, c) of layer `index` (0-based, bottom first) of a stack of `layers` layers: (B, H) each,
    /// a copy of columns index·H … index·H + H − 1.
    member s.Layer(index: int, layers: int) : LstmState =
        if layers < 1 || s.Units % layers <> 0 then
            invalidArg "layers" (sprintf "the state has %d columns, which do not split into %d layers" s.Units layers)
        if index < 0 || index >= layers then invalidArg "index" (sprintf "layer index %d is outside 0 … %d" index (layers - 1))
        let H = s.Units / layers
        { H = s.H.SubMatrix(0, s.Batch, index * H, H); C = s.C.SubMatrix(0, s.Batch, index * H, H) }
    /// The state of a stack from one (h, c) per layer, bottom first (each (B, H), all alike).
    static member OfLayers(layers: LstmState[]) : LstmState =
        if isNull (box layers) || layers.Length = 0 then invalidArg "layers" "expected at least one layer's state, found none"
        let first = layers.[0]
        if isNull (box first) then invalidArg "layers" "layer 0's state is null"
        layers |> Array.iteri (fun k l ->
            if isNull (box l) || l.Batch <> first.Batch || l.Units <> first.Units || l.C.RowCount <> first.Batch || l.C.ColumnCount <> first.Units then
                invalidArg "layers" (sprintf "layer %d's state is not (%d, %d) like layer 0's" k first.Batch first.Units))
        let B, H = first.Batch, first.Units
        let join (part: LstmState -> Matrix<float>) =
            Matrix<float>.Build.Dense(B, H * layers.Length, fun b j -> (part layers.[j / H]).[b, j % H])
        { H = join (fun l -> l.H); C = join (fun l -> l.C) }
    /// h as arrays, one per row (B arrays of H numbers): a copy, for callers without MathNet.
    member s.HiddenRows : float[][] = s.H.ToRowArrays()
    /// c as arrays, one per row (B arrays of H numbers): a copy, for callers without MathNet.
    member s.CellRows : float[][] = s.C.ToRowArrays()
    /// A state from arrays, one per row: B arrays of H numbers for h, and the same for c.
    static member FromRows(hidden: float[][], cell: float[][]) : LstmState =
        let rows (name: string) (x: float[][]) =
            if isNull (box x) || x.Length = 0 then invalidArg name (sprintf "%s: expected at least one row, found none" name)
            x |> Array.iteri (fun b r ->
                let n = if isNull (box r) then 0 else r.Length
                if n = 0 || n <> (if isNull (box x.[0]) then 0 else x.[0].Length) then
                    invalidArg name (sprintf "%s[%d]: expected as many numbers as %s[0] (at least one), found %d" name b name n))
            Matrix<float>.Build.DenseOfRowArrays x
        let h, c = rows "hidden" hidden, rows "cell" cell
        if h.RowCount <> c.RowCount || h.ColumnCount <> c.ColumnCount then
            invalidArg "cell" (sprintf "cell is %d × %d, expected %d × %d like hidden" c.RowCount c.ColumnCount h.RowCount h.ColumnCount)
        { H = h; C = c }

/// Which steps are real. Pre-padding puts the padding first, so a sample of length L has its
/// real steps at the last L positions.
type Masking =
    /// Every step is real, padding included (Keras without a Masking layer).
    | Unmasked
    /// Padded steps leave the state unchanged; `Lengths.[b]` real steps per sample.
    | PrePadded of Lengths: int[]


/// Private buffers of one tape, written in place by forward and backward; never handed out.
/// 'T is the precision the tape computes in (float or float32), like every array of its tape.
type internal LstmScratch<'T> =
    { /// W copied to row-major (I, G), so x·W runs along contiguous rows; refreshed by every forward.
      WRows: 'T[]
      /// d z for every step, (T·B, G): every step's is kept, so a batch's weight gradients are formed
      /// once after the reversed loop. Private to this tape, which a fit sets up once (its workspace).
      Dz: 'T[]
      /// d h_t of the whole batch before masking, (B, H).
      DhPrev: 'T[]
      /// d W in row-major (I, G), before it is added into the kernel's (column-major) gradient.
      DwRows: 'T[]
      /// Uᵀ (G, H) packed by Kernels.packColumns for d h = d z · Uᵀ; filled once per backward, for batches.
      UPacked: 'T[]
      /// h_t (B, H) packed the same way for d U += d zᵀ · h_t, one step at a time; for batches of one step.
      HPacked: 'T[]
      /// The (step, sample) rows in BPTT's order, r = t·B + b for t = T−1 … 0, b = 0 … B−1; for
      /// batched sequences (B > 1 and T > 1), whose weight gradients are one product over these rows.
      Rows: int[]
      /// Packing space of Kernels.gemmTNRows for those products (1.2 MB); batched sequences only,
      /// and made on the first backward, so forward-only calls (loss, predict) never pay for it.
      Blocked: Lazy<'T[]> }

/// Everything backward needs from one forward call, and nothing a caller can change. Every number
/// is a 'T (float, or float32 for a float32 model); the public results are widened from them.
type internal Tape<'T> =
    { T: int
      B: int
      I: int
      H: int
      /// Inputs, (T, B, I); empty when the tape reads symbols (one-hot inputs by index, `Symbols`).
      X: 'T[]
      /// The symbol of every (step, sample) row, (T, B), when the inputs are one-hot over I = V
      /// symbols: x·W is then row `Symbols[r]` of W (a gather) and d W a scatter-add of d z into that
      /// row, the dense product's numbers without the T·B·V one-hot matrix. Empty for dense inputs.
      Symbols: int[]
      /// Hidden states h_0 .. h_T, (T+1, B, H); h_0 is the initial state.
      Hs: 'T[]
      /// Cell states c_0 .. c_T, (T+1, B, H).
      Cs: 'T[]
      /// Activated gates i, f, g, o, (T, B, G). Forward first writes z here, then activates it in place.
      Gates: 'T[]
      /// tanh(c_t), (T, B, H).
      TanhC: 'T[]
      /// Whether step t of sample b is real, (T, B).
      Real: bool[]
      /// Whether h_0 is all zeros (a fresh or reset state), set by every forward. Then h_0·U and
      /// h_0ᵀ·d z_0 are zero products, and forward and BPTT skip them.
      mutable ZeroStart: bool
      /// Threads one step may use (1: the calling thread alone); set by the training loop that owns
      /// the tape. Only steps large enough to pay are split (`Lstm.partsOf`).
      mutable Threads: int
      /// Packing space of Kernels.gemmTNRows for the parts after the first, made when a split
      /// backward first needs it.
      mutable PartScratch: 'T[][]
      Scratch: LstmScratch<'T> }

/// The float64 tape, what the public float64 entry points record.
type internal Tape = Tape<float>

/// The record of a forward pass that `Lstm.backward` consumes. Opaque: only forward makes one.
type SequenceCache internal (tapes: Tape[]) =
    /// One tape per layer, bottom first.
    member internal _.Tapes = tapes
    /// T, the number of steps recorded.
    member _.TimeSteps = tapes.[0].T
    /// B, the batch size.
    member _.Batch = tapes.[0].B

/// The result of running the cell over a sequence.
type SequenceResult =
    { /// h after each step (the top layer's for a stack): T matrices of shape (B, H).
      Outputs: Matrix<float>[]
      /// The state after the last step.
      Final: LstmState
      /// What backward needs.
      Cache: SequenceCache }

/// The result of one step.
type StepResult =
    { /// The state after the step.
      Next: LstmState
      /// What backward needs.
      Cache: SequenceCache }

/// Gradients of a scalar loss through the LSTM.
type SequenceGradients =
    { /// Gradients of the LSTM blocks (the Dense blocks are zero here).
      Parameters: Parameters
      /// d loss / d h_0 and d loss / d c_0, each (B, H), or (B, N·H) for a stack.
      Initial: LstmState }

/// The LSTM over a sequence: run (forward), step, and backward (BPTT) through the recorded cache.
module Lstm =
    // ---- tape ---------------------------------------------------------------------------------

    /// Whether BPTT forms the weight gradients once over all T·B rows (batched sequences) rather
    /// than step by step (B > 1, T = 1) or in one walk back over the steps (B = 1).
    let internal stacked (B: int) (T: int) = B > 1 && T > 1

    // ---- threads ------------------------------------------------------------------------------
    //
    // A large step is split across threads by rows of the batch (forward and BPTT: every row's
    // gate products, cell and d h are its own) and by gate columns (the weight gradients after
    // BPTT). Each output element is computed by exactly one thread, with the same chain of
    // operations as on one thread (the kernels' summation order does not depend on the tile or
    // part an element falls in), so the result is the one-thread result, bit for bit. The
    // summation itself is never split.

    /// The least work, in multiply-adds of one step's h·U (B·4H·H), for which a step is split:
    /// 2^18, about 50 µs on one core, some ten times what handing a part to the thread pool and
    /// waiting for it costs. Smaller steps, and batches under 8 rows, run on the calling thread
    /// with no threading at all (every experiment of the tutorial is far below it).
    let internal parallelWork = 1 <<< 18

    /// How many parts a step of this tape is split into (1: not split).
    let internal partsOf (tape: Tape<'T>) =
        if tape.Threads <= 1 || tape.B < 8 || tape.B * 4 * tape.H * tape.H < parallelWork then 1
        else min tape.Threads (tape.B / 4)

    /// The part k of `parts` of 0 … count−1, as [lo, hi), cut at multiples of `align` (the kernels'
    /// tile height or width); the last part takes the rest, and a part may be empty.
    let internal partRange (count: int) (align: int) (parts: int) (k: int) =
        let chunk = ((count + parts - 1) / parts + align - 1) / align * align
        min count (k * chunk), min count ((k + 1) * chunk)

    /// body 0 … body (parts − 1), on the calling thread and the thread pool; returns when all are
    /// done. A part's exception comes out as itself, as on one thread.
    let internal inParts (parts: int) (body: int -> unit) =
        try System.Threading.Tasks.Parallel.For(0, parts, Action<int> body) |> ignore
        with :? AggregateException as e when e.InnerExceptions.Count > 0 ->
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerExceptions.[0])

    /// A tape for T steps of B rows; `bySymbol`: the inputs are one-hot over I symbols and held as
    /// their indices (see Tape.Symbols), else as T·B·I numbers.
    let internal newTapeOf<'T> (bySymbol: bool) (T: int) (B: int) (I: int) (H: int) : Tape<'T> =
        { T = T; B = B; I = I; H = H
          X = (if bySymbol then Array.empty else Array.zeroCreate (T * B * I))
          Symbols = (if bySymbol then Array.zeroCreate (T * B) else Array.empty)
          Hs = Array.zeroCreate ((T + 1) * B * H)
          Cs = Array.zeroCreate ((T + 1) * B * H)
          Gates = Array.zeroCreate (T * B * 4 * H)
          TanhC = Array.zeroCreate (T * B * H)
          Real = Array.create (T * B) true
          ZeroStart = false
          Threads = 1
          PartScratch = Array.empty
          Scratch =
            { WRows = Array.zeroCreate (I * 4 * H)
              Dz = Array.zeroCreate (T * B * 4 * H)
              DhPrev = Array.zeroCreate (B * H)
              DwRows = Array.zeroCreate (I * 4 * H)
              UPacked = if B >= 4 then Array.zeroCreate (Kernels.packedLength<'T> (4 * H) H) else Array.empty
              HPacked = if B >= 4 && T = 1 then Array.zeroCreate (Kernels.packedLength<'T> B H) else Array.empty
              Rows = if stacked B T then Array.init (T * B) (fun q -> (T - 1 - q / B) * B + q % B) else Array.empty
              Blocked = lazy (if stacked B T then Array.zeroCreate (Kernels.blockedScratchLengthOf<'T> ()) else Array.empty) } }

    /// A float64 tape for T steps of B rows of I dense input features.
    let internal newTape (T: int) (B: int) (I: int) (H: int) : Tape = newTapeOf<float> false T B I H

    /// Layer k's three blocks (W, U, b) of a model's blocks in Parameters.storage order (layer 0:
    /// the blocks themselves, whose first three are its own and whose 4th and 5th are the head's).
    let internal layerBlocks (blocks: 'T[][]) (k: int) : 'T[][] =
        if k = 0 then blocks else [| blocks.[2 + 3 * k]; blocks.[3 + 3 * k]; blocks.[4 + 3 * k] |]

    /// Copies columns col0 … col0 + H − 1 of a (B, ·) matrix into a row-major (B, H) block at `offset`.
    /// In a float32 tape each value is rounded to float32 (exact for a float32 model's state).
    let internal writeColumns (m: Matrix<float>) (col0: int) (H: int) (dest: 'T[]) (offset: int) =
        let B = m.RowCount
        let src = Parameters.matrixValues (if m.Storage.IsDense then m else Matrix<float>.Build.DenseOfMatrix m)
        for k in 0 .. H - 1 do
            for b in 0 .. B - 1 do
                dest.[offset + b * H + k] <- Kernels.ofFloat<'T> src.[(col0 + k) * B + b]

    /// Copies a (B, H) matrix into row-major slot t of a (T+1, B, H) array.
    let internal writeRows (m: Matrix<float>) (dest: 'T[]) (offset: int) = writeColumns m 0 m.ColumnCount dest offset

    /// A stack's (B, N·H) state matrix into N row-major (B, H) blocks, layer after layer, in `dest`.
    let internal writeLayers (m: Matrix<float>) (layers: int) (dest: 'T[]) =
        let H = m.ColumnCount / layers
        for l in 0 .. layers - 1 do
            writeColumns m (l * H) H dest (l * m.RowCount * H)

    /// A fresh (B, H) matrix from row-major data at `offset`.
    let internal readRows (B: int) (H: int) (src: 'T[]) (offset: int) : Matrix<float> =
        Matrix<float>.Build.Dense(B, H, fun b k -> Kernels.toFloat src.[offset + b * H + k])

    /// A fresh (B, N·H) matrix from N row-major (B, H) blocks: block l is `part l` at `offset l`.
    let internal readLayers (B: int) (H: int) (layers: int) (part: int -> 'T[]) (offset: int -> int) : Matrix<float> =
        Matrix<float>.Build.Dense(B, layers * H, fun b j -> Kernels.toFloat (part (j / H)).[offset (j / H) + b * H + j % H])

    let internal setMasking (tape: Tape<'T>) (masking: Masking) =
        match masking with
        | Unmasked -> Array.Fill(tape.Real, true)
        | PrePadded lengths ->
            if lengths.Length <> tape.B then
                invalidArg "masking" (sprintf "masking has %d lengths, expected one per sample (%d)" lengths.Length tape.B)
            for t in 0 .. tape.T - 1 do
                for b in 0 .. tape.B - 1 do
                    tape.Real.[t * tape.B + b] <- t >= tape.T - lengths.[b]

    let internal checkInputs (p: Parameters) (state: LstmState) (inputs: Matrix<float>[]) =
        if inputs.Length = 0 then invalidArg "inputs" "inputs hold no time step: expected at least one (B, I) matrix"
        if state.Units <> p.StateUnits then
            invalidArg "state" (sprintf "state has %d columns, the model has %d (%d layers of %d units)" state.Units p.StateUnits p.Layers p.Units)
        for t in 0 .. inputs.Length - 1 do
            let x = inputs.[t]
            if x.ColumnCount <> p.Inputs then
                invalidArg "inputs" (sprintf "input at step %d has %d features, the model expects %d" t x.ColumnCount p.Inputs)
            if x.RowCount <> state.Batch then
                invalidArg "inputs" (sprintf "input at step %d has %d rows, the state has batch size %d" t x.RowCount state.Batch)

    // ---- the cell, one sample of one step: forward, then backward ------------------------------
    //
    // The elementwise part of step t for sample b, in the order the data flows. Its rows of the
    // tape: z, then the gates, at Gates[t, b] (G values, blocks i, f, c, o); c at Cs[t, b];
    // c' at Cs[t+1, b]; tanh c' at TanhC[t, b]; h' at Hs[t+1, b] (H values each).

    /// Forward. On entry Gates[t, b] holds z = x·W + h·U + b; activates it in place, writes c',
    /// tanh c' and h'.
    let internal cellForward (tape: Tape<'T>) (t: int) (b: int) =
        let H = tape.H
        let gates, go = tape.Gates, (t * tape.B + b) * 4 * H
        let row, next = (t * tape.B + b) * H, ((t + 1) * tape.B + b) * H    // c, tanh c' at row; c', h' at next
        // i, f = σ(z_i, z_f);  g = tanh(z_c);  o = σ(z_o)
        Kernels.sigmoidOf gates go gates go (2 * H)
        Kernels.tanhOf gates (go + 2 * H) gates (go + 2 * H) H
        Kernels.sigmoidOf gates (go + 3 * H) gates (go + 3 * H) H
        // c' = f ⊙ c + i ⊙ g
        for k in 0 .. H - 1 do
            tape.Cs.[next + k] <- Kernels.addS (Kernels.mulS gates.[go + H + k] tape.Cs.[row + k]) (Kernels.mulS gates.[go + k] gates.[go + 2 * H + k])
        Kernels.tanhOf tape.Cs next tape.TanhC row H
        // h' = o ⊙ tanh(c')
        Kernels.mulRuns gates (go + 3 * H) tape.TanhC row tape.Hs next H

    /// Backward, the forward's lines in reverse. On entry dH, dC hold d h', d c' at [b·H ..];
    /// writes d z at Dz[t, b] and leaves d c in dC (d h = d z · Uᵀ is formed for the whole batch
    /// by the caller). L units per vector (L = Vector256<'T>.Count: 4 in float64, 8 in float32), each
    /// operation the scalar formula's, in its order and unfused (.NET never contracts a·b + c into a
    /// fused multiply-add), so every unit gets the scalar loop's bits; the last H mod L units go
    /// through the same code in a vector padded with zeros, whose extra lanes are never stored.
    let internal cellBackward (tape: Tape<'T>) (t: int) (b: int) (dH: 'T[]) (dC: 'T[]) =
        let H = tape.H
        let gates, dz, go = tape.Gates, tape.Scratch.Dz, (t * tape.B + b) * 4 * H
        let row, d = (t * tape.B + b) * H, b * H     // c, tanh c' at row; d h', d c' at d
        Kernels.checkExtent "d z" dz go 1 0 1 0 (4 * H)
        Kernels.checkExtent "d h" dH d 1 0 1 0 H
        Kernels.checkExtent "d c" dC d 1 0 1 0 H
        let one = Vector256<'T>.One
        let L = Vector256<'T>.Count
        let mutable k = 0
        while k < H do
            let valid = min L (H - k)
            let i = Kernels.loadPart gates (go + k) valid
            let f = Kernels.loadPart gates (go + H + k) valid
            let g = Kernels.loadPart gates (go + 2 * H + k) valid
            let o = Kernels.loadPart gates (go + 3 * H + k) valid
            let th = Kernels.loadPart tape.TanhC (row + k) valid
            let dh = Kernels.loadPart dH (d + k) valid
            // h' = o ⊙ tanh(c'):   d c' += d h' ⊙ o ⊙ (1 − tanh²c');   d z_o = d h' ⊙ tanh c' ⊙ o ⊙ (1 − o)   [o = σ(z_o)]
            let dcNext = Kernels.loadPart dC (d + k) valid + dh * o * (one - th * th)
            Kernels.storePart (dh * th * o * (one - o)) dz (go + 3 * H + k) valid
            // c' = f ⊙ c + i ⊙ g:   d z_i = d c' ⊙ g ⊙ i ⊙ (1 − i)   [i = σ(z_i)]
            Kernels.storePart (dcNext * g * i * (one - i)) dz (go + k) valid
            //                       d z_f = d c' ⊙ c ⊙ f ⊙ (1 − f)   [f = σ(z_f)]
            Kernels.storePart (dcNext * Kernels.loadPart tape.Cs (row + k) valid * f * (one - f)) dz (go + H + k) valid
            //                       d z_c = d c' ⊙ i ⊙ (1 − g²)       [g = tanh(z_c)]
            Kernels.storePart (dcNext * i * (one - g * g)) dz (go + 2 * H + k) valid
            //                       d c = d c' ⊙ f
            Kernels.storePart (dcNext * f) dC (d + k) valid
            k <- k + L

    // ---- one step of the batch: forward, then backward -----------------------------------------

    /// Step t of the tape for rows b0 … b1−1 of the batch. On entry Gates[t] holds b + x_t·W;
    /// reads Hs[t], Cs[t]; writes Gates[t] (activated), TanhC[t], Hs[t+1], Cs[t+1], those rows only.
    let internal forwardRows (u: 'T[]) (tape: Tape<'T>) (t: int) (b0: int) (b1: int) =
        let B, H = tape.B, tape.H
        let G = 4 * H
        // z += h_t·U for these rows at once: (rows, H)·(H, G). U's column-major storage is Uᵀ row-major
        // (G, H), so each z_j is a dot along contiguous memory. From a zero h_0 the product is zero.
        if (t > 0 || not tape.ZeroStart) && b1 > b0 then
            Kernels.gemmNTOf (b1 - b0) G H (Kernels.rowMajor tape.Hs ((t * B + b0) * H) H) (Kernels.rowMajor u 0 H) (Kernels.rowMajor tape.Gates ((t * B + b0) * G) G)
        for b in b0 .. b1 - 1 do
            if tape.Real.[t * B + b] then cellForward tape t b
            else
                // A padded step: the state passes through unchanged (this row's z is never read).
                let prev, next = (t * B + b) * H, ((t + 1) * B + b) * H
                Array.blit tape.Hs prev tape.Hs next H
                Array.blit tape.Cs prev tape.Cs next H

    /// Step t of the tape, for the whole batch: in parts on several threads when it is large enough.
    let internal forwardStep (u: 'T[]) (tape: Tape<'T>) (t: int) =
        let parts = partsOf tape
        if parts = 1 then forwardRows u tape t 0 tape.B
        else inParts parts (fun k -> let b0, b1 = partRange tape.B 4 parts k in forwardRows u tape t b0 b1)

    /// Inverts step t for rows b0 … b1−1 of the batch. On entry dH, dC (B, H) hold d loss / d h_{t+1},
    /// d c_{t+1}; on exit they hold d loss / d h_t, d c_t in those rows (d h_t only when `withDh`: at
    /// t = 0 training has no use for d h_0). Writes Dz[t] (B, G) in those rows, zero for padded rows;
    /// the weight gradients are summed over all steps afterwards, in `backwardTape`.
    let internal backwardRows (u: 'T[]) (tape: Tape<'T>) (t: int) (dH: 'T[]) (dC: 'T[]) (withDh: bool) (b0: int) (b1: int) =
        let B, H = tape.B, tape.H
        let G = 4 * H
        let dz = tape.Scratch.Dz
        for b in b0 .. b1 - 1 do
            if tape.Real.[t * B + b] then cellBackward tape t b dH dC
            // A padded step passed the state through, so it passes the gradient through: z has none.
            else Array.Clear(dz, (t * B + b) * G, G)
        // z = x·W + h·U + b:  d h_t = d z · Uᵀ, (rows, G)·(G, H); U's storage is already Uᵀ row-major.
        if withDh && b1 > b0 then
            let dhPrev = tape.Scratch.DhPrev
            Array.Clear(dhPrev, b0 * H, (b1 - b0) * H)
            let dzStep, uT, dh = Kernels.rowMajor dz ((t * B + b0) * G) G, Kernels.rowMajor u 0 H, Kernels.rowMajor dhPrev (b0 * H) H   // d z_t rows b0..b1 (rows, G), Uᵀ (G, H), d h (rows, H)
            if tape.Scratch.UPacked.Length > 0 then Kernels.gemmNNPackedOf (b1 - b0) H G dzStep tape.Scratch.UPacked uT dh
            else Kernels.gemmNNOf (b1 - b0) H G dzStep uT dh
            for b in b0 .. b1 - 1 do
                if tape.Real.[t * B + b] then Array.blit dhPrev (b * H) dH (b * H) H

    /// Step t of BPTT for the whole batch (see backwardRows): in parts on several threads when it is large enough.
    let internal backwardStep (u: 'T[]) (tape: Tape<'T>) (t: int) (dH: 'T[]) (dC: 'T[]) (withDh: bool) =
        let parts = partsOf tape
        if parts = 1 then backwardRows u tape t dH dC withDh 0 tape.B
        else inParts parts (fun k -> let b0, b1 = partRange tape.B 4 parts k in backwardRows u tape t dH dC withDh b0 b1)

    // ---- the sequence: unroll, then BPTT --------------------------------------------------------

    /// Gates[r] += x_r·W for the (step, sample) rows r0 … r1−1, W as WRows.
    let private projectRows (tape: Tape<'T>) (r0: int) (r1: int) =
        let I, G = tape.I, 4 * tape.H
        if r1 > r0 then
            Kernels.gemmNNOf (r1 - r0) G I (Kernels.rowMajor tape.X (r0 * I) I) (Kernels.rowMajor tape.Scratch.WRows 0 G) (Kernels.rowMajor tape.Gates (r0 * G) G)

    /// Runs every step of a loaded tape (X, Hs[0], Cs[0] and Real set) with the layer's blocks
    /// W, U, b (the first three of `blocks`, in Parameters.storage's layout).
    let internal forwardTapeOf (blocks: 'T[][]) (tape: Tape<'T>) =
        let T, B, I, H = tape.T, tape.B, tape.I, tape.H
        let G = 4 * H
        let w, u, bias = blocks.[0], blocks.[1], blocks.[2]
        tape.ZeroStart <- not (Kernels.anyNonZero tape.Hs 0 (B * H))
        // W (I, G) column-major → row-major, into this tape's own scratch.
        let wRows = tape.Scratch.WRows
        for j in 0 .. G - 1 do
            for k in 0 .. I - 1 do
                wRows.[k * G + j] <- w.[j * I + k]
        // z = b + x·W for every step and sample at once: (T·B, I)·(I, G); h·U is added step by step.
        for r in 0 .. T * B - 1 do
            Array.blit bias 0 tape.Gates (r * G) G
        if tape.Symbols.Length > 0 then
            // One-hot x: x·W is row s of W (a gather). b + 0·W_k + … + 1·W_s + … is b + W_s exactly,
            // so these are the dense product's bits.
            for r in 0 .. T * B - 1 do
                let s = tape.Symbols.[r]
                Kernels.addRuns tape.Gates (r * G) wRows (s * G) tape.Gates (r * G) G
        else
            let parts = partsOf tape
            if parts = 1 then projectRows tape 0 (T * B)
            else inParts parts (fun k -> let r0, r1 = partRange (T * B) 4 parts k in projectRows tape r0 r1)
        for t in 0 .. T - 1 do
            forwardStep u tape t

    /// forwardTapeOf with a float64 model's parameters (layer 0's blocks).
    let internal forwardTape (p: Parameters) (tape: Tape) = forwardTapeOf (Parameters.storage p) tape

    /// Adds the weight gradients of `rows` (step, sample) rows r = first, first + dir, … to grads:
    ///     z = x·W + h·U + b:  d b += d z_r;  d U += h_rᵀ d z_r;  d W += x_rᵀ d z_r.
    /// Each product walks the rows in the order given, one fused multiply-add after another. d U
    /// takes only the first `uRows` of them (the rest read a zero h_0).
    let private addWeightGradients (tape: Tape<'T>) (first: int) (rows: int) (uRows: int) (dir: int) (grads: 'T[][]) =
        let I, H = tape.I, tape.H
        let G = 4 * H
        let dz = tape.Scratch.Dz
        let gU, gB = grads.[1], grads.[2]
        for q in 0 .. rows - 1 do
            Kernels.addRuns gB 0 dz ((first + q * dir) * G) gB 0 G
        // d Uᵀ (G, H) += d zᵀ (G, rows) · h (rows, H): U's own storage order.
        if uRows = 0 then ()
        elif dir = 1 && tape.Scratch.HPacked.Length >= Kernels.packedLength<'T> uRows H && tape.Scratch.HPacked.Length > 0 then
            let hs = Kernels.rowMajor tape.Hs (first * H) H
            Kernels.packColumns uRows H hs tape.Scratch.HPacked
            Kernels.gemmNNPackedOf G H uRows (Kernels.strided dz (first * G) 1 G) tape.Scratch.HPacked hs (Kernels.rowMajor gU 0 H)
        else
            Kernels.gemmNNOf G H uRows (Kernels.strided dz (first * G) 1 (dir * G)) (Kernels.rowMajor tape.Hs (first * H) (dir * H)) (Kernels.rowMajor gU 0 H)
        // d W as (I, G) rows += xᵀ (I, rows) · d z (rows, G); added into the column-major kernel gradient
        // in backwardTape (symbol inputs: scattered there instead).
        if tape.Symbols.Length = 0 then
          Kernels.gemmNNOf I G rows (Kernels.strided tape.X (first * I) 1 (dir * I)) (Kernels.rowMajor dz (first * G) (dir * G)) (Kernels.rowMajor tape.Scratch.DwRows 0 G)

    /// The weight gradients of a batched sequence, once after the reversed loop, over all T·B rows
    /// in the order `Rows` lists them (steps T−1 … 0, samples 0 … B−1): the order, and so the bits,
    /// of adding them step by step, with C read and written once per 256 rows instead of once per step.
    ///     z = x·W + h·U + b:  d b += Σ_r d z_r;  d U += Σ_r h_rᵀ d z_r;  d W += Σ_r x_rᵀ d z_r.
    /// Gate columns j0 … j1−1 of a batched sequence's d U and d W (the rows of d Uᵀ, the columns
    /// of d W), over the rows `Rows` lists, the first `uRows` of them for d U.
    let private stackedColumns (tape: Tape<'T>) (uRows: int) (gU: 'T[]) (j0: int) (j1: int) (scratch: 'T[]) =
        let T, B, I, H = tape.T, tape.B, tape.I, tape.H
        let G = 4 * H
        let dz, rows = tape.Scratch.Dz, tape.Scratch.Rows
        if j1 > j0 then
            Kernels.gemmTNRowsOf (j1 - j0) H uRows (Kernels.rowMajor dz j0 G) (Kernels.rowMajor tape.Hs 0 H) rows (Kernels.rowMajor gU (j0 * H) H) scratch
            // d W as (I, G) rows += xᵀ (I, T·B) · d z (T·B, G); added into the column-major kernel gradient
            // in backwardTape (symbol inputs: scattered there instead).
            if tape.Symbols.Length = 0 then
              Kernels.gemmTNRowsOf I (j1 - j0) (T * B) (Kernels.rowMajor tape.X 0 I) (Kernels.rowMajor dz j0 G) rows (Kernels.rowMajor tape.Scratch.DwRows j0 G) scratch

    let private addStackedWeightGradients (tape: Tape<'T>) (grads: 'T[][]) =
        let T, B, H = tape.T, tape.B, tape.H
        let G = 4 * H
        let dz, rows, scratch = tape.Scratch.Dz, tape.Scratch.Rows, tape.Scratch.Blocked.Value
        let gU, gB = grads.[1], grads.[2]
        // d b (G) += column sums of d z (T·B, G), row after row.
        for q in 0 .. T * B - 1 do
            Kernels.addRuns gB 0 dz (rows.[q] * G) gB 0 G
        // d Uᵀ (G, H) += d zᵀ (G, T·B) · h (T·B, H), h_t stacked as Hs[0 .. T−1]: U's own storage order.
        // Step 0's rows come last in `rows`; from a zero h_0 they add nothing and are left out.
        let uRows = if tape.ZeroStart then (T - 1) * B else T * B
        let parts = partsOf tape
        if parts = 1 then stackedColumns tape uRows gU 0 G scratch
        else
            if tape.PartScratch.Length < parts - 1 then
                tape.PartScratch <- Array.init (parts - 1) (fun _ -> Array.zeroCreate (Kernels.blockedScratchLengthOf<'T> ()))
            inParts parts (fun k ->
                let j0, j1 = partRange G (Kernels.packWidth<'T> ()) parts k
                stackedColumns tape uRows gU j0 j1 (if k = 0 then scratch else tape.PartScratch.[k - 1]))

    /// d W for symbol inputs: x_r is one-hot at s_r, so xᵀ d z adds d z_r into row s_r of d W (a
    /// scatter-add), over the rows in BPTT's order (steps T−1 … 0, samples 0 … B−1): the dense
    /// product's sums, whose other terms are 0 · d z.
    let private scatterWeightGradients (tape: Tape<'T>) =
        let T, B, G = tape.T, tape.B, 4 * tape.H
        let dz, dw = tape.Scratch.Dz, tape.Scratch.DwRows
        for t in T - 1 .. -1 .. 0 do
            for b in 0 .. B - 1 do
                let r = t * B + b
                let s = tape.Symbols.[r]
                Kernels.addRuns dw (s * G) dz (r * G) dw (s * G) G

    /// BPTT: one reversed loop carrying dH, dC (B, H) from d h_T, d c_T down to d h_0, d c_0.
    /// Accumulates into the LSTM blocks of `grads` (raw storage, as Parameters.storage orders it),
    /// in the order steps T−1 … 0, samples 0 … B−1 within a step, whatever the batch size.
    /// Without `withInitial` dH is left at d h_1 (training treats h_0 as a constant: it never reads it).
    /// `blocks` are the layer's (W, U, b first), `grads` its gradient blocks in the same layout.
    /// With a loss that reads every step's h too, `dOutputs` (T, B, H) holds d loss / d h_{t+1}
    /// from the head at step t, added into the carried d h before step t is inverted (empty: none).
    let internal backwardTapeWithOf (blocks: 'T[][]) (tape: Tape<'T>) (dOutputs: 'T[]) (dH: 'T[]) (dC: 'T[]) (withInitial: bool) (grads: 'T[][]) =
        let T, B, I, H = tape.T, tape.B, tape.I, tape.H
        let G = 4 * H
        let u = blocks.[1]
        let dwRows = tape.Scratch.DwRows
        Array.Clear dwRows
        // A batch reuses U at every step: pack it once so d h = d z · Uᵀ streams it (same bits).
        if tape.Scratch.UPacked.Length > 0 then Kernels.packColumns G H (Kernels.rowMajor u 0 H) tape.Scratch.UPacked
        let stacked = stacked B T
        for t in T - 1 .. -1 .. 0 do
            // h_{t+1} feeds the head as well as step t+1: d h_{t+1} = (from step t+1) + (from the head).
            if dOutputs.Length > 0 then
                Kernels.addRuns dH 0 dOutputs (t * B * H) dH 0 (B * H)
            backwardStep u tape t dH dC (t > 0 || withInitial)
            // A batch of one step: its weight gradients while its d z is still in cache.
            if B > 1 && not stacked then
                addWeightGradients tape (t * B) B (if t = 0 && tape.ZeroStart then 0 else B) 1 grads
        // A batched sequence: one blocked product per block over every step's d z, kept in Dz.
        if stacked then addStackedWeightGradients tape grads
        // One sample: the same order in one product per block, walking the steps backwards.
        elif B = 1 then addWeightGradients tape (T - 1) T (if tape.ZeroStart then T - 1 else T) -1 grads
        if tape.Symbols.Length > 0 then scatterWeightGradients tape
        let gW = grads.[0]
        for j in 0 .. G - 1 do
            for k in 0 .. I - 1 do
                gW.[j * I + k] <- Kernels.addS gW.[j * I + k] dwRows.[k * G + j]

    /// backwardTapeWithOf for a float64 model's layer 0, with no loss on the steps' h.
    let internal backwardTape (p: Parameters) (tape: Tape) (dH: float[]) (dC: float[]) (withInitial: bool) (grads: float[][]) =
        backwardTapeWithOf (Parameters.storage p) tape Array.empty dH dC withInitial grads

    /// backwardTapeWithOf for a float64 model's layer 0.
    let internal backwardTapeWith (p: Parameters) (tape: Tape) (dOutputs: float[]) (dH: float[]) (dC: float[]) (withInitial: bool) (grads: float[][]) =
        backwardTapeWithOf (Parameters.storage p) tape dOutputs dH dC withInitial grads

    // ---- a stack of layers: layer k reads layer k−1's h at every step ---------------------------
    //
    //     x^(0)_t = x_t;   (h^(k)_{t+1}, c^(k)_{t+1}) = cell_k(x^(k)_t, h^(k)_t, c^(k)_t);   x^(k+1)_t = h^(k)_{t+1}
    //
    // One tape per layer; an upper layer's tape holds dense inputs, X = the layer below's h_1 … h_T.

    /// Tapes for layers 2 … N of a stack, over T steps of B rows (dense inputs of H features).
    let internal newUpperTapes<'T> (layers: int) (T: int) (B: int) (H: int) : Tape<'T>[] =
        Array.init (layers - 1) (fun _ -> newTapeOf<'T> false T B H H)

    /// Runs every layer of loaded tapes, bottom to top (Hs[0], Cs[0] and Real set on each tape,
    /// the inputs on the first): each upper tape's inputs are the h_1 … h_T of the tape below.
    let internal forwardStackOf (blocks: 'T[][]) (tapes: Tape<'T>[]) =
        forwardTapeOf blocks tapes.[0]
        for k in 1 .. tapes.Length - 1 do
            let below, tape = tapes.[k - 1], tapes.[k]
            Array.blit below.Hs (below.B * below.H) tape.X 0 (tape.T * tape.B * tape.H)
            forwardTapeOf (layerBlocks blocks k) tape

    /// forwardStackOf with a float64 model's parameters.
    let internal forwardStack (p: Parameters) (tapes: Tape[]) = forwardStackOf (Parameters.storage p) tapes

    /// BPTT through a stack, top layer first. dHs.[k], dCs.[k] (B, H) hold d loss / d (h_T, c_T) of
    /// layer k on entry and d h_0 (with `withInitial`), d c_0 on exit; `dOutputsTop` (T, B, H) is
    /// what a head reading every step adds to the top layer's h (empty: none). Layer k's input
    /// gradient, d x^(k)_t = d z^(k)_t · W_kᵀ, is layer k−1's d h_{t+1} from above, formed in `dInputs`
    /// (T·B·H scratch). Gradients are added into `grads` (Parameters.storage order).
    let internal backwardStackOf (blocks: 'T[][]) (tapes: Tape<'T>[]) (dOutputsTop: 'T[]) (dHs: 'T[][]) (dCs: 'T[][])
                                 (withInitial: bool) (grads: 'T[][]) (dInputs: 'T[]) =
        let N = tapes.Length
        for k in N - 1 .. -1 .. 0 do
            let tape = tapes.[k]
            let pk = layerBlocks blocks k
            let dOutputs = if k = N - 1 then dOutputsTop else dInputs
            backwardTapeWithOf pk tape dOutputs dHs.[k] dCs.[k] withInitial (layerBlocks grads k)
            if k > 0 then
                // z = x·W + h·U + b:  d x (T·B, H) = d z (T·B, G) · Wᵀ; W's (H, G) column-major storage is Wᵀ row-major.
                // dInputs was this layer's own d outputs, read by now.
                let R, H, G = tape.T * tape.B, tape.H, 4 * tape.H
                Array.Clear(dInputs, 0, R * H)
                Kernels.gemmNNOf R H G (Kernels.rowMajor tape.Scratch.Dz 0 G) (Kernels.rowMajor pk.[0] 0 H) (Kernels.rowMajor dInputs 0 H)

    /// backwardStackOf with a float64 model's parameters.
    let internal backwardStack (p: Parameters) (tapes: Tape[]) (dOutputsTop: float[]) (dHs: float[][]) (dCs: float[][])
                               (withInitial: bool) (grads: float[][]) (dInputs: float[]) =
        backwardStackOf (Parameters.storage p) tapes dOutputsTop dHs dCs withInitial grads dInputs

    /// Tapes in 'T for every layer, loaded with the inputs (rounded to 'T), the state and the masking.
    let internal loadTapesOf<'T> (p: Parameters) (state: LstmState) (inputs: Matrix<float>[]) (masking: Masking) : Tape<'T>[] =
        checkInputs p state inputs
        let tape = newTapeOf<'T> false inputs.Length state.Batch p.Inputs p.Units
        for t in 0 .. tape.T - 1 do
            let x = Parameters.matrixValues (Matrix<float>.Build.DenseOfMatrix inputs.[t])
            for b in 0 .. tape.B - 1 do
                for k in 0 .. tape.I - 1 do
                    tape.X.[(t * tape.B + b) * tape.I + k] <- Kernels.ofFloat<'T> x.[k * tape.B + b]
        let tapes = Array.append [| tape |] (newUpperTapes<'T> p.Layers tape.T tape.B tape.H)
        tapes |> Array.iteri (fun l t ->
            writeColumns state.H (l * p.Units) p.Units t.Hs 0
            writeColumns state.C (l * p.Units) p.Units t.Cs 0
            setMasking t masking)
        tapes

    let internal loadTapes (p: Parameters) (state: LstmState) (inputs: Matrix<float>[]) (masking: Masking) : Tape[] =
        loadTapesOf<float> p state inputs masking

    /// The state after the last step of every layer: (B, N·H).
    let internal finalStateOf (tapes: Tape<'T>[]) : LstmState =
        let B, H, o = tapes.[0].B, tapes.[0].H, tapes.[0].T * tapes.[0].B * tapes.[0].H
        { H = readLayers B H tapes.Length (fun l -> tapes.[l].Hs) (fun _ -> o)
          C = readLayers B H tapes.Length (fun l -> tapes.[l].Cs) (fun _ -> o) }

    let internal finalState (tape: Tape) : LstmState = finalStateOf [| tape |]

    /// Runs the cell over `inputs` (T matrices of shape (B, I)) from `state` ((B, N·H) for a stack:
    /// every layer in turn, each reading the h of the layer below). Returns the top layer's h after
    /// every step, the final state of every layer, and the cache backward needs.
    [<CompiledName("Run")>]
    let run (p: Parameters) (state: LstmState) (inputs: Matrix<float>[]) (masking: Masking) : SequenceResult =
        let tapes = loadTapes p state inputs masking
        forwardStack p tapes
        let top = tapes.[tapes.Length - 1]
        { Outputs = Array.init top.T (fun t -> readRows top.B top.H top.Hs ((t + 1) * top.B * top.H))
          Final = finalStateOf tapes
          Cache = SequenceCache tapes }

    /// Runs the cell from the zero state: what Keras does when no initial state is given.
    [<CompiledName("RunFresh")>]
    let runFresh (p: Parameters) (inputs: Matrix<float>[]) (masking: Masking) : SequenceResult =
        if inputs.Length = 0 then invalidArg "inputs" "inputs hold no time step: expected at least one (B, I) matrix"
        run p (LstmState.Zeros(inputs.[0].RowCount, p.StateUnits)) inputs masking

    /// One step: the next state from `state` and the input x (B, I). Pure: `state` is not touched.
    [<CompiledName("Step")>]
    let step (p: Parameters) (state: LstmState) (x: Matrix<float>) : StepResult =
        let r = run p state [| x |] Unmasked
        { Next = r.Final; Cache = r.Cache }

    /// BPTT through a recorded forward pass, given d loss / d (final h, final c), each (B, H), or
    /// (B, N·H) for a stack. Returns the gradients of the LSTM blocks and of the initial state.
    [<CompiledName("Backward")>]
    let backward (p: Parameters) (cache: SequenceCache) (dFinal: LstmState) : SequenceGradients =
        let tapes = cache.Tapes
        let tape = tapes.[0]
        let N, B, H = tapes.Length, tape.B, tape.H
        if p.Layers <> N || p.Units <> H then
            invalidArg "p" (sprintf "the parameters have %d layers of %d units, the cache %d of %d" p.Layers p.Units N H)
        if dFinal.Batch <> B || dFinal.Units <> N * H then
            invalidArg "dFinal" (sprintf "dFinal is (%d, %d), expected (%d, %d)" dFinal.Batch dFinal.Units B (N * H))
        let dHs = Array.init N (fun l -> let a = Array.zeroCreate (B * H) in writeColumns dFinal.H (l * H) H a 0; a)
        let dCs = Array.init N (fun l -> let a = Array.zeroCreate (B * H) in writeColumns dFinal.C (l * H) H a 0; a)
        let grads = Parameters.zerosLike p
        backwardStack p tapes Array.empty dHs dCs true (Parameters.storage grads) (Array.zeroCreate (tape.T * B * H))
        { Parameters = grads
          Initial = { H = readLayers B H N (fun l -> dHs.[l]) (fun _ -> 0); C = readLayers B H N (fun l -> dCs.[l]) (fun _ -> 0) } }
