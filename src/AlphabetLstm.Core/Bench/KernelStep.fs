/// The arithmetic of one LSTM training step (forward over T and BPTT), composed straight from the
/// kernels in either precision, so the float32 kernels can be timed at the grid's shapes before a
/// float32 model exists. What it leaves out of a real step: the head, Adam, masking and the
/// column-major weight layout, which cost little at these shapes (`bench --phases` shows where a
/// real step's time goes).
namespace AlphabetLstm.Bench

open System
open System.Runtime.Intrinsics
open AlphabetLstm.Core

/// The element type a kernel step computes in.
type KernelPrecision =
    /// float, 64-bit: what the model computes in today.
    | Float64 = 0
    /// float32, 32-bit: twice the lanes per vector, half the bytes.
    | Float32 = 1

/// The buffers and the step of one shape in one precision 'T (float or float32). The layout is the
/// tape's (Lstm.fs): rows r = t·B + b, gates i, f, g, o in blocks of H, U stored as Uᵀ (G, H).
type internal KernelStepOf<'T>(shape: WorkloadShape, seed: int64, ofFloat: float -> 'T) =
    let I, H, B, T = shape.Inputs, shape.Units, shape.Batch, shape.TimeSteps
    let G = 4 * H
    let rng = Random(int (seed % int64 Int32.MaxValue))
    let uniform (scale: float) (n: int) = Array.init n (fun _ -> ofFloat ((rng.NextDouble() * 2.0 - 1.0) * scale))
    // Weights of the size Keras' initialisers give (glorot limit, U near 1/√H): the values only
    // have to keep σ and tanh in their working range.
    let limit = sqrt (6.0 / float (I + G))
    let x = uniform 1.0 (T * B * I)
    let wRows = uniform limit (I * G)
    let u = uniform (1.0 / sqrt (float H)) (G * H)
    let bias = Array.init G (fun j -> ofFloat (if j >= H && j < 2 * H then 1.0 else 0.0))
    let dHT = uniform 0.1 (B * H)
    let gates = Array.zeroCreate<'T> (T * B * G)
    let hs = Array.zeroCreate<'T> ((T + 1) * B * H)
    let cs = Array.zeroCreate<'T> ((T + 1) * B * H)
    let tanhC = Array.zeroCreate<'T> (T * B * H)
    let dz = Array.zeroCreate<'T> (T * B * G)
    let dH = Array.zeroCreate<'T> (B * H)
    let dC = Array.zeroCreate<'T> (B * H)
    let dhPrev = Array.zeroCreate<'T> (B * H)
    let uPacked = Array.zeroCreate<'T> (Kernels.packedLength<'T> G H)
    let gU = Array.zeroCreate<'T> (G * H)
    let gW = Array.zeroCreate<'T> (I * G)
    let gB = Array.zeroCreate<'T> G
    let scratch = Array.zeroCreate<'T> (Kernels.blockedScratchLengthOf<'T> ())
    // BPTT's order of the (step, sample) rows: steps T−1 … 0, samples 0 … B−1.
    let rows = [| for t in T - 1 .. -1 .. 0 do for b in 0 .. B - 1 -> t * B + b |]
    let L = Vector256<'T>.Count

    /// c' = f ⊙ c + i ⊙ g, tanh c', h' = o ⊙ tanh c' for row (t, b), gates already activated.
    let cell (t: int) (b: int) =
        let go, row, next = (t * B + b) * G, (t * B + b) * H, ((t + 1) * B + b) * H
        let mutable k = 0
        while k < H do
            let v = min L (H - k)
            let c' = Kernels.loadPart gates (go + H + k) v * Kernels.loadPart cs (row + k) v
                     + Kernels.loadPart gates (go + k) v * Kernels.loadPart gates (go + 2 * H + k) v
            Kernels.storePart c' cs (next + k) v
            k <- k + L
        Kernels.tanhOf cs next tanhC row H
        k <- 0
        while k < H do
            let v = min L (H - k)
            Kernels.storePart (Kernels.loadPart gates (go + 3 * H + k) v * Kernels.loadPart tanhC (row + k) v) hs (next + k) v
            k <- k + L

    /// The cell's backward for row (t, b): Lstm.cellBackward's formulas, L units per vector.
    let cellBackward (t: int) (b: int) =
        let go, row, d = (t * B + b) * G, (t * B + b) * H, b * H
        let one = Vector256<'T>.One
        let mutable k = 0
        while k < H do
            let v = min L (H - k)
            let i, f = Kernels.loadPart gates (go + k) v, Kernels.loadPart gates (go + H + k) v
            let g, o = Kernels.loadPart gates (go + 2 * H + k) v, Kernels.loadPart gates (go + 3 * H + k) v
            let th, dh = Kernels.loadPart tanhC (row + k) v, Kernels.loadPart dH (d + k) v
            let dcNext = Kernels.loadPart dC (d + k) v + dh * o * (one - th * th)
            Kernels.storePart (dh * th * o * (one - o)) dz (go + 3 * H + k) v
            Kernels.storePart (dcNext * g * i * (one - i)) dz (go + k) v
            Kernels.storePart (dcNext * Kernels.loadPart cs (row + k) v * f * (one - f)) dz (go + H + k) v
            Kernels.storePart (dcNext * i * (one - g * g)) dz (go + 2 * H + k) v
            Kernels.storePart (dcNext * f) dC (d + k) v
            k <- k + L

    member _.Forward() =
        // z = b + x·W for all rows at once, then h·U step by step (from a zero h_0: skipped at t = 0).
        for r in 0 .. T * B - 1 do
            Array.blit bias 0 gates (r * G) G
        Kernels.gemmNNOf (T * B) G I (Kernels.rowMajor x 0 I) (Kernels.rowMajor wRows 0 G) (Kernels.rowMajor gates 0 G)
        for t in 0 .. T - 1 do
            if t > 0 then
                Kernels.gemmNTOf B G H (Kernels.rowMajor hs (t * B * H) H) (Kernels.rowMajor u 0 H) (Kernels.rowMajor gates (t * B * G) G)
            for b in 0 .. B - 1 do
                let go = (t * B + b) * G
                Kernels.sigmoidOf gates go gates go (2 * H)
                Kernels.tanhOf gates (go + 2 * H) gates (go + 2 * H) H
                Kernels.sigmoidOf gates (go + 3 * H) gates (go + 3 * H) H
                cell t b

    member _.Backward() =
        Array.blit dHT 0 dH 0 dH.Length
        Array.Clear dC
        Array.Clear gU
        Array.Clear gW
        Array.Clear gB
        Kernels.packColumns G H (Kernels.rowMajor u 0 H) uPacked
        for t in T - 1 .. -1 .. 0 do
            for b in 0 .. B - 1 do
                cellBackward t b
            if t > 0 then
                Array.Clear dhPrev
                Kernels.gemmNNPackedOf B H G (Kernels.rowMajor dz (t * B * G) G) uPacked (Kernels.rowMajor u 0 H) (Kernels.rowMajor dhPrev 0 H)
                Array.blit dhPrev 0 dH 0 dH.Length
        // d b, d Uᵀ (rows of step 0 read a zero h_0: left out), d W, over the rows in BPTT's order.
        for q in 0 .. T * B - 1 do
            let o = rows.[q] * G
            let mutable j = 0
            while j < G do
                Kernels.storePart (Kernels.loadPart gB j (min L (G - j)) + Kernels.loadPart dz (o + j) (min L (G - j))) gB j (min L (G - j))
                j <- j + L
        Kernels.gemmTNRowsOf G H ((T - 1) * B) (Kernels.rowMajor dz 0 G) (Kernels.rowMajor hs 0 H) rows (Kernels.rowMajor gU 0 H) scratch
        Kernels.gemmTNRowsOf I G (T * B) (Kernels.rowMajor x 0 I) (Kernels.rowMajor dz 0 G) rows (Kernels.rowMajor gW 0 G) scratch

    /// A number that depends on every output of the step (so none of it is dead work).
    member _.Checksum() =
        let sum (a: 'T[]) = a |> Array.sumBy (fun v -> Convert.ToDouble(box v))
        sum hs + sum gU + sum gW + sum gB

/// One LSTM training step's arithmetic (forward over T, BPTT, the weight gradients) at a grid
/// shape, in float64 or float32, through the same kernels in both: what `bench --kernel-precision`
/// times. Its random inputs and weights come from the seed; the shell times `Step`.
[<Sealed>]
type KernelStep(shape: WorkloadShape, precision: KernelPrecision, seed: int64) =
    do
        if shape.Inputs < 1 || shape.Units < 1 || shape.Batch < 1 || shape.TimeSteps < 1 then
            invalidArg "shape" (sprintf "every dimension must be positive, got I=%d H=%d B=%d T=%d" shape.Inputs shape.Units shape.Batch shape.TimeSteps)
        if precision <> KernelPrecision.Float64 && precision <> KernelPrecision.Float32 then
            invalidArg "precision" (sprintf "precision must be Float64 or Float32, got %d" (int precision))
    let forward, backward, checksum =
        if precision = KernelPrecision.Float32 then
            let s = KernelStepOf<float32>(shape, seed, float32)
            (fun () -> s.Forward()), (fun () -> s.Backward()), (fun () -> s.Checksum())
        else
            let s = KernelStepOf<float>(shape, seed, id)
            (fun () -> s.Forward()), (fun () -> s.Backward()), (fun () -> s.Checksum())

    /// The shape.
    member _.Shape = shape
    /// The precision.
    member _.Precision = precision
    /// Multiply-adds in one step of a dense LSTM at this shape, counted as for any implementation
    /// (h_0 included): forward x·W and h·U, backward d h = d z·Uᵀ, d U and d W, i.e.
    /// 3·T·B·H·4H + 2·T·B·I·4H. Two floating-point operations each.
    member _.MultiplyAdds =
        let I, H, B, T = float shape.Inputs, float shape.Units, float shape.Batch, float shape.TimeSteps
        3.0 * T * B * H * 4.0 * H + 2.0 * T * B * I * 4.0 * H
    /// Forward over the T steps (recording what backward reads).
    member _.Forward() = forward ()
    /// BPTT from a fixed d h_T into d U, d W, d b.
    member _.Backward() = backward ()
    /// Forward then backward: one step.
    member _.Step() =
        forward ()
        backward ()
    /// A sum over h and the gradients: the same number every time the same step is repeated.
    member _.Checksum() = checksum ()

/// Sixteen independent chains of x ← x·m + a, each a fused multiply-add on a whole vector.
module internal FmaChains =
    let inline run ([<InlineIfLambda>] fma: 'V -> 'V -> 'V -> 'V) (x: 'V) (m: 'V) (a: 'V) (iterations: int) =
        let mutable x0, x1, x2, x3, x4, x5, x6, x7 = x, x, x, x, x, x, x, x
        let mutable x8, x9, xa, xb, xc, xd, xe, xf = x, x, x, x, x, x, x, x
        for _ in 1 .. iterations do
            x0 <- fma x0 m a; x1 <- fma x1 m a; x2 <- fma x2 m a; x3 <- fma x3 m a
            x4 <- fma x4 m a; x5 <- fma x5 m a; x6 <- fma x6 m a; x7 <- fma x7 m a
            x8 <- fma x8 m a; x9 <- fma x9 m a; xa <- fma xa m a; xb <- fma xb m a
            xc <- fma xc m a; xd <- fma xd m a; xe <- fma xe m a; xf <- fma xf m a
        [| x0; x1; x2; x3; x4; x5; x6; x7; x8; x9; xa; xb; xc; xd; xe; xf |]

/// The machine's multiply-add ceiling on one core, measured: sixteen independent chains of fused
/// multiply-adds on the widest vectors the machine accelerates (512-bit, else 256-bit), nothing
/// loaded or stored, so the FMA units are the only limit. The shell times `Run`; a kernel's
/// multiply-adds per second divided by this one's is its fraction of the core's peak.
[<Sealed>]
type FmaCeiling(precision: KernelPrecision) =
    let wide = Vector512.IsHardwareAccelerated
    let lanes =
        match precision, wide with
        | KernelPrecision.Float32, true -> Vector512<float32>.Count
        | KernelPrecision.Float32, false -> Vector256<float32>.Count
        | _, true -> Vector512<float>.Count
        | _, false -> Vector256<float>.Count

    /// The precision.
    member _.Precision = precision
    /// Bits of the vectors it runs on: 512 or 256.
    member _.VectorBits = if wide then 512 else 256
    /// Multiply-adds one call of Run(iterations) does: iterations × 16 chains × lanes.
    member _.MultiplyAdds(iterations: int) = float iterations * 16.0 * float lanes
    /// Runs the chains `iterations` times; returns their sum (so the work is not dead).
    member _.Run(iterations: int) : float =
        if iterations < 1 then invalidArg "iterations" (sprintf "iterations must be positive, got %d" iterations)
        match precision, wide with
        | KernelPrecision.Float32, true ->
            FmaChains.run (fun (x: Vector512<float32>) m a -> Vector512.FusedMultiplyAdd(x, m, a)) (Vector512.Create 1.0f) (Vector512.Create 0.999f) (Vector512.Create 0.001f) iterations
            |> Array.sumBy (fun v -> float (Vector512.Sum v))
        | KernelPrecision.Float32, false ->
            FmaChains.run (fun (x: Vector256<float32>) m a -> Vector256.FusedMultiplyAdd(x, m, a)) (Vector256.Create 1.0f) (Vector256.Create 0.999f) (Vector256.Create 0.001f) iterations
            |> Array.sumBy (fun v -> float (Vector256.Sum v))
        | _, true ->
            FmaChains.run (fun (x: Vector512<float>) m a -> Vector512.FusedMultiplyAdd(x, m, a)) (Vector512.Create 1.0) (Vector512.Create 0.999) (Vector512.Create 0.001) iterations
            |> Array.sumBy Vector512.Sum
        | _, false ->
            FmaChains.run (fun (x: Vector256<float>) m a -> Vector256.FusedMultiplyAdd(x, m, a)) (Vector256.Create 1.0) (Vector256.Create 0.999) (Vector256.Create 0.001) iterations
            |> Array.sumBy Vector256.Sum
