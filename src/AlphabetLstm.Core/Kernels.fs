/// The dense products the LSTM's hot loops are made of, on flat row-major arrays, in float64 and
/// float32 from one source.
///
///     gemmNN:  C (m, n) += A (m, p) · B (p, n)      B's rows contiguous: vectorised along n
///     gemmNT:  C (m, n) += A (m, p) · Bᵀ             A's and B's rows contiguous: dots along p
///     gemmTNRows: C (m, n) += Σ_q a_rᵀ b_r over listed rows r   blocked and packed: weight gradients
///
/// Not a general BLAS: no α, β or transposed C. Callers describe each matrix as an `Operand`
/// (array, offset, row and column strides) into arrays they own, and the product's shape as m, n, p.
/// What they are promised is a fixed summation order, so results depend neither on the tile a row
/// falls in, nor on the batch size, nor on the machine's vector width:
///   - gemmNN (and gemmTNRows, in the order its rows are listed) adds the p products into C(i, j)
///     one after another, q = 0, 1, …, p−1, each with a fused multiply-add;
///   - gemmNT sums q ≡ l (mod L) into lane l with fused multiply-adds, L = 4 lanes in float64 and
///     8 in float32 (a 256-bit vector's), adds the lanes pairwise as a tree: (l0 + l1) + (l2 + l3) in
///     float64, ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)) in float32; then the p mod L last
///     products one after another, then adds that sum to C.
/// Vector256 falls back to the same per-lane arithmetic where the hardware has no 256-bit vectors.
///
/// One source for both precisions: every kernel is generic in the element type 'T (float or
/// float32; any other type is refused), named with `Of` (gemmNNOf, …, sigmoidOf); the plain names
/// (gemmNN, …, sigmoid) are the same kernels fixed to float64. The model above them is generic in
/// the same way (Lstm, Model, Adam, the fit loops), with the scalar and run helpers at the end of
/// this file. .NET compiles a generic method once per value type, so
/// each precision gets its own machine code, in which the `is64` tests below are constants and
/// vanish: the float64 code is the one this file had before it was generic. Register tiles are
/// counted in vectors, so their width in columns follows the precision (L = Vector256<'T>.Count).
module internal AlphabetLstm.Core.Kernels

open System
open System.Numerics.Tensors
open System.Runtime.InteropServices
open System.Runtime.Intrinsics
open System.Runtime.Intrinsics.X86

// ---- the element type ----------------------------------------------------------------------------

/// True when 'T is float (float64); a constant in each compiled instantiation.
let inline is64<'T> () = Type.op_Equality(typeof<'T>, typeof<float>)
/// True when 'T is float32.
let inline is32<'T> () = Type.op_Equality(typeof<'T>, typeof<float32>)

/// Refuses element types other than float and float32 (the kernels know only these two).
let inline private supported<'T> () =
    if not (is64<'T> () || is32<'T> ()) then
        raise (NotSupportedException(sprintf "the kernels compute in float or float32, not %s" typeof<'T>.Name))

/// The same bits seen as another type of the same size (float ↔ 'T where 'T is float), through
/// a vector register: the JIT compiles it to nothing (a local whose address were taken would be
/// kept in memory instead).
let inline cast<'A, 'B> (x: 'A) : 'B = Vector128.CreateScalarUnsafe(x).As<'A, 'B>().ToScalar()

/// Lanes of a 256-bit vector: 4 floats, 8 float32s.
let inline private lanes<'T> () = Vector256<'T>.Count

let inline private load (a: 'T[]) (i: int) = Vector256.LoadUnsafe(&a.[i])
let inline private store (v: Vector256<'T>) (a: 'T[]) (i: int) = Vector256.StoreUnsafe(v, &a.[i])
let inline private splat (x: 'T) = Vector256.Create x

/// a·b + c, fused (one rounding), lane by lane.
let inline private fma (a: Vector256<'T>) (b: Vector256<'T>) (c: Vector256<'T>) : Vector256<'T> =
    if is64<'T> () then Vector256.FusedMultiplyAdd(a.As<'T, float>(), b.As<'T, float>(), c.As<'T, float>()).As<float, 'T>()
    else Vector256.FusedMultiplyAdd(a.As<'T, float32>(), b.As<'T, float32>(), c.As<'T, float32>()).As<float32, 'T>()

/// s + x·y fused when `on` (a constant wherever it is called), else s unchanged.
let inline private fmaIf (on: bool) (x: Vector256<'T>) (y: Vector256<'T>) (s: Vector256<'T>) = if on then fma x y s else s

/// x·y + s, fused, on scalars.
let inline private fmaS (x: 'T) (y: 'T) (s: 'T) : 'T =
    if is64<'T> () then cast<float, 'T> (Math.FusedMultiplyAdd(cast<'T, float> x, cast<'T, float> y, cast<'T, float> s))
    else cast<float32, 'T> (MathF.FusedMultiplyAdd(cast<'T, float32> x, cast<'T, float32> y, cast<'T, float32> s))

/// x + y on scalars.
let inline addS (x: 'T) (y: 'T) : 'T =
    if is64<'T> () then cast<float, 'T> (cast<'T, float> x + cast<'T, float> y)
    else cast<float32, 'T> (cast<'T, float32> x + cast<'T, float32> y)

/// The lanes added pairwise as a tree: (l0 + l1) + (l2 + l3), and for eight lanes
/// ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)).
let inline private hsum (v: Vector256<'T>) : 'T =
    if is64<'T> () then
        let v = v.As<'T, float>()
        cast<float, 'T> ((v.GetElement 0 + v.GetElement 1) + (v.GetElement 2 + v.GetElement 3))
    else
        let v = v.As<'T, float32>()
        cast<float32, 'T> (((v.GetElement 0 + v.GetElement 1) + (v.GetElement 2 + v.GetElement 3))
                           + ((v.GetElement 4 + v.GetElement 5) + (v.GetElement 6 + v.GetElement 7)))

/// A matrix inside a flat array: element (i, j) is Data.[Offset + i·RowStride + j·ColStride].
/// Strides may be negative (to walk rows backwards) and the column stride need not be 1 (so Aᵀ is free).
[<Struct>]
type Operand<'T> =
    { Data: 'T[]
      Offset: int
      RowStride: int
      ColStride: int }

    /// The same matrix from element (i, j) on: the corner of a tile or a panel.
    member x.At(i: int, j: int) = { Data = x.Data; Offset = x.Offset + i * x.RowStride + j * x.ColStride; RowStride = x.RowStride; ColStride = x.ColStride }

/// A row-major matrix: element (i, j) at data.[offset + i·ld + j].
let rowMajor (data: 'T[]) (offset: int) (ld: int) = { Data = data; Offset = offset; RowStride = ld; ColStride = 1 }

/// Any strides: element (i, j) at data.[offset + i·rowStride + j·colStride].
let strided (data: 'T[]) (offset: int) (rowStride: int) (colStride: int) =
    { Data = data; Offset = offset; RowStride = rowStride; ColStride = colStride }

/// Vector loads read L elements from an index the array bounds-checks only at its first: check
/// the whole extent of every operand once, up front, so no load or store can leave its array.
/// The operand spans offset + i·rowStride + q·colStride + [0, width) for i < rows, q < cols.
let checkExtent (name: string) (a: 'T[]) (offset: int) (rows: int) (rowStride: int) (cols: int) (colStride: int) (width: int) =
    let lo = offset + min 0 ((rows - 1) * rowStride) + min 0 ((cols - 1) * colStride)
    let hi = offset + max 0 ((rows - 1) * rowStride) + max 0 ((cols - 1) * colStride) + width - 1
    if lo < 0 || hi >= a.Length then
        invalidArg name (sprintf "%s: a product would read indices %d..%d of an array of %d" name lo hi a.Length)

/// Checks an operand's (rows × cols) extent; with `contiguous`, that its columns are adjacent
/// (the kernel loads L of them as one vector).
let private checkOperand (name: string) (x: Operand<'T>) (rows: int) (cols: int) (contiguous: bool) =
    if contiguous && x.ColStride <> 1 then
        invalidArg name (sprintf "%s: the product reads its rows as vectors, so its column stride must be 1, got %d" name x.ColStride)
    checkExtent name x.Data x.Offset rows x.RowStride cols x.ColStride 1

// ---- the register tile ---------------------------------------------------------------------------

/// The one register tile of every NN product: C (R × W·L) += A (R × kc) · B (kc × W·L), for R = 1 or
/// 4 rows and W = 1 or 4 vectors of L columns. A's corner may have any strides; B's and C's
/// rows are contiguous. For each k = 0 … kc−1 in turn, one fused multiply-add into every
/// accumulator: gemmNN's order. Each B vector loaded serves R rows.
/// R and W are constants at every call site, so once this is inlined the JIT drops the unused
/// accumulators and branches and keeps the R·W others (at most sixteen) in registers.
let inline private tile (R: int) (W: int) (kc: int) (A: Operand<'T>) (B: Operand<'T>) (C: Operand<'T>) =
    let L = lanes<'T> ()
    let a, ars, acs, b, bs, c = A.Data, A.RowStride, A.ColStride, B.Data, B.RowStride, C.Data
    let c0, c1, c2, c3 = C.Offset, C.Offset + C.RowStride, C.Offset + 2 * C.RowStride, C.Offset + 3 * C.RowStride
    let inline acc (r: int) (ci: int) (v: int) = if r < R && v < W then load c (ci + L * v) else Vector256<'T>.Zero
    let mutable c00, c01, c02, c03 = acc 0 c0 0, acc 0 c0 1, acc 0 c0 2, acc 0 c0 3
    let mutable c10, c11, c12, c13 = acc 1 c1 0, acc 1 c1 1, acc 1 c1 2, acc 1 c1 3
    let mutable c20, c21, c22, c23 = acc 2 c2 0, acc 2 c2 1, acc 2 c2 2, acc 2 c2 3
    let mutable c30, c31, c32, c33 = acc 3 c3 0, acc 3 c3 1, acc 3 c3 2, acc 3 c3 3
    let mutable ai = A.Offset
    let mutable bi = B.Offset
    for _ in 1 .. kc do
        let b0 = load b bi
        if W = 1 then
            c00 <- fma (splat a.[ai]) b0 c00
            if R = 4 then
                c10 <- fma (splat a.[ai + ars]) b0 c10
                c20 <- fma (splat a.[ai + 2 * ars]) b0 c20
                c30 <- fma (splat a.[ai + 3 * ars]) b0 c30
        else
            let b1, b2, b3 = load b (bi + L), load b (bi + 2 * L), load b (bi + 3 * L)
            let x = splat a.[ai]
            c00 <- fma x b0 c00; c01 <- fma x b1 c01; c02 <- fma x b2 c02; c03 <- fma x b3 c03
            if R = 4 then
                let x = splat a.[ai + ars]
                c10 <- fma x b0 c10; c11 <- fma x b1 c11; c12 <- fma x b2 c12; c13 <- fma x b3 c13
                let x = splat a.[ai + 2 * ars]
                c20 <- fma x b0 c20; c21 <- fma x b1 c21; c22 <- fma x b2 c22; c23 <- fma x b3 c23
                let x = splat a.[ai + 3 * ars]
                c30 <- fma x b0 c30; c31 <- fma x b1 c31; c32 <- fma x b2 c32; c33 <- fma x b3 c33
        ai <- ai + acs
        bi <- bi + bs
    let inline put (r: int) (ci: int) (v: int) (x: Vector256<'T>) = if r < R && v < W then store x c (ci + L * v)
    put 0 c0 0 c00; put 0 c0 1 c01; put 0 c0 2 c02; put 0 c0 3 c03
    put 1 c1 0 c10; put 1 c1 1 c11; put 1 c1 2 c12; put 1 c1 3 c13
    put 2 c2 0 c20; put 2 c2 1 c21; put 2 c2 2 c22; put 2 c2 3 c23
    put 3 c3 0 c30; put 3 c3 1 c31; put 3 c3 2 c32; put 3 c3 3 c33

/// x·y + s with 512-bit vectors, x broadcast.
let inline private fma512 (x: 'T) (y: Vector512<'T>) (s: Vector512<'T>) : Vector512<'T> =
    let x = Vector512.Create x
    if is64<'T> () then Vector512.FusedMultiplyAdd(x.As<'T, float>(), y.As<'T, float>(), s.As<'T, float>()).As<float, 'T>()
    else Vector512.FusedMultiplyAdd(x.As<'T, float32>(), y.As<'T, float32>(), s.As<'T, float32>()).As<float32, 'T>()

/// C (8 × 2·L512) += A (8 × kc) · B (kc × 2·L512) with 512-bit vectors (and their 32 registers): 8 × 16
/// in float64, 8 × 32 in float32, each B row loaded once for eight rows. Per lane the same fused
/// multiply-adds in the same order as `tile`.
let private tileWide (kc: int) (A: Operand<'T>) (B: Operand<'T>) (C: Operand<'T>) =
    let L = Vector512<'T>.Count
    let a, ars, acs, b, bs, c, ldc = A.Data, A.RowStride, A.ColStride, B.Data, B.RowStride, C.Data, C.RowStride
    let inline ld (i: int) = Vector512.LoadUnsafe(&c.[i])
    let inline st (v: Vector512<'T>) (i: int) = Vector512.StoreUnsafe(v, &c.[i])
    let r0 = C.Offset
    let mutable x0, y0, x1, y1 = ld r0, ld (r0 + L), ld (r0 + ldc), ld (r0 + ldc + L)
    let mutable x2, y2, x3, y3 = ld (r0 + 2 * ldc), ld (r0 + 2 * ldc + L), ld (r0 + 3 * ldc), ld (r0 + 3 * ldc + L)
    let mutable x4, y4, x5, y5 = ld (r0 + 4 * ldc), ld (r0 + 4 * ldc + L), ld (r0 + 5 * ldc), ld (r0 + 5 * ldc + L)
    let mutable x6, y6, x7, y7 = ld (r0 + 6 * ldc), ld (r0 + 6 * ldc + L), ld (r0 + 7 * ldc), ld (r0 + 7 * ldc + L)
    let mutable ai = A.Offset
    let mutable bi = B.Offset
    for _ in 1 .. kc do
        let lo, hi = Vector512.LoadUnsafe(&b.[bi]), Vector512.LoadUnsafe(&b.[bi + L])
        x0 <- fma512 a.[ai] lo x0; y0 <- fma512 a.[ai] hi y0
        x1 <- fma512 a.[ai + ars] lo x1; y1 <- fma512 a.[ai + ars] hi y1
        x2 <- fma512 a.[ai + 2 * ars] lo x2; y2 <- fma512 a.[ai + 2 * ars] hi y2
        x3 <- fma512 a.[ai + 3 * ars] lo x3; y3 <- fma512 a.[ai + 3 * ars] hi y3
        x4 <- fma512 a.[ai + 4 * ars] lo x4; y4 <- fma512 a.[ai + 4 * ars] hi y4
        x5 <- fma512 a.[ai + 5 * ars] lo x5; y5 <- fma512 a.[ai + 5 * ars] hi y5
        x6 <- fma512 a.[ai + 6 * ars] lo x6; y6 <- fma512 a.[ai + 6 * ars] hi y6
        x7 <- fma512 a.[ai + 7 * ars] lo x7; y7 <- fma512 a.[ai + 7 * ars] hi y7
        ai <- ai + acs
        bi <- bi + bs
    st x0 r0; st y0 (r0 + L); st x1 (r0 + ldc); st y1 (r0 + ldc + L)
    st x2 (r0 + 2 * ldc); st y2 (r0 + 2 * ldc + L); st x3 (r0 + 3 * ldc); st y3 (r0 + 3 * ldc + L)
    st x4 (r0 + 4 * ldc); st y4 (r0 + 4 * ldc + L); st x5 (r0 + 5 * ldc); st y5 (r0 + 5 * ldc + L)
    st x6 (r0 + 6 * ldc); st y6 (r0 + 6 * ldc + L); st x7 (r0 + 7 * ldc); st y7 (r0 + 7 * ldc + L)

// ---- gemmNN ---------------------------------------------------------------------------------------

/// The products q0 ≤ q < q1 of gemmNN, added into C in that order: 4 × 4L tiles, then the last
/// columns L at a time, then the last m mod 4 rows one at a time, then the last n mod L columns
/// element by element.
let private gemmNNPanel (m: int) (n: int) (q0: int) (q1: int) (A: Operand<'T>) (B: Operand<'T>) (C: Operand<'T>) =
    let L = lanes<'T> ()
    let nW, nL, kc = n - n % (4 * L), n - n % L, q1 - q0
    let inline across (R: int) (i: int) =
        let mutable j = 0
        while j < nW do
            tile R 4 kc (A.At(i, q0)) (B.At(q0, j)) (C.At(i, j))
            j <- j + 4 * L
        while j < nL do
            tile R 1 kc (A.At(i, q0)) (B.At(q0, j)) (C.At(i, j))
            j <- j + L
    let mutable i = 0
    while i + 4 <= m do
        across 4 i
        i <- i + 4
    while i < m do
        across 1 i
        i <- i + 1
    let a, b, c = A.Data, B.Data, C.Data
    for i in 0 .. m - 1 do
        for j in nL .. n - 1 do
            let cij = C.Offset + i * C.RowStride + j
            let mutable s = c.[cij]
            for q in q0 .. q1 - 1 do
                s <- fmaS a.[A.Offset + i * A.RowStride + q * A.ColStride] b.[B.Offset + q * B.RowStride + j] s
            c.[cij] <- s

/// How many products one panel of gemmNN adds before moving on: its rows of B (KC × n) then stay in
/// cache while every row of A uses them. C is reloaded once per panel; the order of the additions
/// into each C(i, j) is unchanged.
let private KC = 256

/// C (m, n) += A (m, p) · B (p, n). A may have any strides; B's and C's rows are contiguous.
let gemmNNOf (m: int) (n: int) (p: int) (A: Operand<'T>) (B: Operand<'T>) (C: Operand<'T>) =
    supported<'T> ()
    if m > 0 && n > 0 && p > 0 then
        checkOperand "A" A m p false
        checkOperand "B" B p n true
        checkOperand "C" C m n true
        let mutable q0 = 0
        while q0 < p do
            let q1 = min p (q0 + KC)
            gemmNNPanel m n q0 q1 A B C
            q0 <- q1

/// gemmNNOf in float64.
let gemmNN (m: int) (n: int) (p: int) (A: Operand<float>) (B: Operand<float>) (C: Operand<float>) = gemmNNOf m n p A B C

/// Columns per packed block: four vectors, 16 in float64, 32 in float32.
let packWidth<'T> () = 4 * lanes<'T> ()

/// Values `packColumns` writes for a (p, n) B: p · (n − n mod packWidth).
let packedLength<'T> (p: int) (n: int) = p * (n - n % packWidth<'T> ())

/// Copies the first n − n mod w columns of B (p, n), w = packWidth (16 in float64, 32 in float32),
/// into `dst` block by block: for each block of w columns, its p rows one after another (w·p
/// contiguous values). A product that reuses one B many times (U, across the steps of BPTT) then
/// reads it as a stream instead of rows 4 KB apart.
let packColumns (p: int) (n: int) (B: Operand<'T>) (dst: 'T[]) =
    supported<'T> ()
    let L = lanes<'T> ()
    let w = 4 * L
    let nW = n - n % w
    if p > 0 && nW > 0 then
        checkOperand "B" B p nW true
        checkExtent "packed B" dst 0 1 0 1 0 (p * nW)
        for jt in 0 .. nW / w - 1 do
            for q in 0 .. p - 1 do
                let s, d = B.Offset + q * B.RowStride + jt * w, (jt * p + q) * w
                store (load B.Data s) dst d; store (load B.Data (s + L)) dst (d + L)
                store (load B.Data (s + 2 * L)) dst (d + 2 * L); store (load B.Data (s + 3 * L)) dst (d + 3 * L)

/// `packColumns` on float64, whose blocks are 16 columns wide.
let packColumns16 (p: int) (n: int) (B: Operand<float>) (dst: float[]) = packColumns p n B dst

/// gemmNN with B given packed by `packColumns` (its first n − n mod packWidth columns) and also as
/// it is (for the rest). The same additions in the same order as gemmNN, so the same bits.
let gemmNNPackedOf (m: int) (n: int) (p: int) (A: Operand<'T>) (packed: 'T[]) (B: Operand<'T>) (C: Operand<'T>) =
    supported<'T> ()
    let w = packWidth<'T> ()
    let nW = n - n % w
    if m > 0 && nW > 0 && p > 0 then
        checkOperand "A" A m p false
        checkExtent "packed B" packed 0 1 0 1 0 (p * nW)
        checkOperand "C" C m nW true
        for jt in 0 .. nW / w - 1 do
            let j = jt * w
            // Column block jt of B, packed: row q at packed.[jt·p·w + q·w].
            let Bp = rowMajor packed (jt * p * w) w
            let mutable i = 0
            if Vector512.IsHardwareAccelerated then
                while i + 8 <= m do
                    tileWide p (A.At(i, 0)) Bp (C.At(i, j))
                    i <- i + 8
            while i + 4 <= m do
                tile 4 4 p (A.At(i, 0)) Bp (C.At(i, j))
                i <- i + 4
            while i < m do
                tile 1 4 p (A.At(i, 0)) Bp (C.At(i, j))
                i <- i + 1
    // The last n mod w columns from B as it is.
    if nW < n then gemmNNOf m (n - nW) p A (B.At(0, nW)) (C.At(0, nW))

/// gemmNNPackedOf in float64.
let gemmNNPacked (m: int) (n: int) (p: int) (A: Operand<float>) (packed: float[]) (B: Operand<float>) (C: Operand<float>) =
    gemmNNPackedOf m n p A packed B C

// ---- gemmNT ---------------------------------------------------------------------------------------

/// The tail and the final addition shared by every gemmNT tile: C(i, j) += lanes + Σ tail, for the
/// dot of A's row at a.[ai ..] and B's row at b.[bj ..].
let inline private finishDot (lanes: Vector256<'T>) (a: 'T[]) (ai: int) (b: 'T[]) (bj: int) (pL: int) (p: int) (c: 'T[]) (cij: int) =
    let mutable s = hsum lanes
    for q in pL .. p - 1 do
        s <- fmaS a.[ai + q] b.[bj + q] s
    c.[cij] <- addS c.[cij] s

/// Four dots finished at once, C(i, j .. j+3) += lanes, for A's row at a.[ai ..] and B's rows j .. j+3
/// from B's corner: the same tree of additions per dot as `finishDot`, computed as a transpose-and-add
/// so a short dot does not pay L extracts. Only when p is a multiple of L (no tail) and AVX is
/// there; otherwise each dot is finished alone.
let inline private finishFour (s0: Vector256<'T>) (s1: Vector256<'T>) (s2: Vector256<'T>) (s3: Vector256<'T>)
                              (a: 'T[]) (ai: int) (B: Operand<'T>) (pL: int) (p: int) (c: 'T[]) (cij: int) =
    if pL = p && Avx.IsSupported && is64<'T> () then
        let s0, s1, s2, s3 = s0.As<'T, float>(), s1.As<'T, float>(), s2.As<'T, float>(), s3.As<'T, float>()
        // x = [s0.0+s0.1, s1.0+s1.1, s0.2+s0.3, s1.2+s1.3],  y = the same for s2, s3
        let x = Avx.Add(Avx.UnpackLow(s0, s1), Avx.UnpackHigh(s0, s1))
        let y = Avx.Add(Avx.UnpackLow(s2, s3), Avx.UnpackHigh(s2, s3))
        // [(s0.0+s0.1) + (s0.2+s0.3), … , (s3.0+s3.1) + (s3.2+s3.3)]
        let sums = Avx.Add(Avx.Permute2x128(x, y, 0x20uy), Avx.Permute2x128(x, y, 0x31uy))
        store (load c cij + sums.As<float, 'T>()) c cij
    elif pL = p && Avx.IsSupported then
        let s0, s1, s2, s3 = s0.As<'T, float32>(), s1.As<'T, float32>(), s2.As<'T, float32>(), s3.As<'T, float32>()
        // x = [s0.01, s0.23, s1.01, s1.23, s0.45, s0.67, s1.45, s1.67] (sk.ab = sk.a + sk.b), y the same for s2, s3
        let x, y = Avx.HorizontalAdd(s0, s1), Avx.HorizontalAdd(s2, s3)
        // [s0.01+s0.23, s1.., s2.., s3.., s0.45+s0.67, s1.., s2.., s3..]: each dot's two quarter sums
        let z = Avx.HorizontalAdd(x, y)
        let sums = Sse.Add(z.GetLower(), z.GetUpper())
        let cv = Vector128.LoadUnsafe(&c.[cij])
        Vector128.StoreUnsafe(cv + sums.As<float32, 'T>(), &c.[cij])
    else
        let b, bj, ldb = B.Data, B.Offset, B.RowStride
        finishDot s0 a ai b bj pL p c cij
        finishDot s1 a ai b (bj + ldb) pL p c (cij + 1)
        finishDot s2 a ai b (bj + 2 * ldb) pL p c (cij + 2)
        finishDot s3 a ai b (bj + 3 * ldb) pL p c (cij + 3)

/// The register tile of gemmNT: R = 1, 2 or 4 rows of A (from A's corner) against four rows of B
/// (from B's corner), 4R dots at once, each A and B vector loaded once per four products. Each
/// dot's lanes are the same whatever R is, so the tile a row falls in changes no bit. R is a
/// constant at every call site: the JIT keeps only the 4R accumulators it uses.
let inline private dots (R: int) (pL: int) (p: int) (A: Operand<'T>) (B: Operand<'T>) (C: Operand<'T>) =
    let L = lanes<'T> ()
    let a, b, lda, ldb = A.Data, B.Data, A.RowStride, B.RowStride
    let a0, a1, a2, a3 = A.Offset, A.Offset + lda, A.Offset + 2 * lda, A.Offset + 3 * lda
    let b0, b1, b2, b3 = B.Offset, B.Offset + ldb, B.Offset + 2 * ldb, B.Offset + 3 * ldb
    let zero = Vector256<'T>.Zero
    let mutable s00, s01, s02, s03 = zero, zero, zero, zero
    let mutable s10, s11, s12, s13 = zero, zero, zero, zero
    let mutable s20, s21, s22, s23 = zero, zero, zero, zero
    let mutable s30, s31, s32, s33 = zero, zero, zero, zero
    let mutable q = 0
    while q < pL do
        let x0 = load a (a0 + q)
        let x1 = if R > 1 then load a (a1 + q) else zero
        let x2, x3 = (if R > 2 then load a (a2 + q) else zero), (if R > 2 then load a (a3 + q) else zero)
        // One B row after another against the R rows of A (a row past R: `on` is false, nothing done).
        let y = load b (b0 + q)
        s00 <- fma x0 y s00; s10 <- fmaIf (R > 1) x1 y s10; s20 <- fmaIf (R > 2) x2 y s20; s30 <- fmaIf (R > 2) x3 y s30
        let y = load b (b1 + q)
        s01 <- fma x0 y s01; s11 <- fmaIf (R > 1) x1 y s11; s21 <- fmaIf (R > 2) x2 y s21; s31 <- fmaIf (R > 2) x3 y s31
        let y = load b (b2 + q)
        s02 <- fma x0 y s02; s12 <- fmaIf (R > 1) x1 y s12; s22 <- fmaIf (R > 2) x2 y s22; s32 <- fmaIf (R > 2) x3 y s32
        let y = load b (b3 + q)
        s03 <- fma x0 y s03; s13 <- fmaIf (R > 1) x1 y s13; s23 <- fmaIf (R > 2) x2 y s23; s33 <- fmaIf (R > 2) x3 y s33
        q <- q + L
    let c, ldc = C.Data, C.RowStride
    finishFour s00 s01 s02 s03 a a0 B pL p c C.Offset
    if R > 1 then finishFour s10 s11 s12 s13 a a1 B pL p c (C.Offset + ldc)
    if R > 2 then
        finishFour s20 s21 s22 s23 a a2 B pL p c (C.Offset + 2 * ldc)
        finishFour s30 s31 s32 s33 a a3 B pL p c (C.Offset + 3 * ldc)

/// C (m, n) += A (m, p) · Bᵀ, where B is (n, p). A's, B's and C's rows are contiguous.
let gemmNTOf (m: int) (n: int) (p: int) (A: Operand<'T>) (B: Operand<'T>) (C: Operand<'T>) =
    supported<'T> ()
    if m > 0 && n > 0 && p > 0 then
        checkOperand "A" A m p true
        checkOperand "B" B n p true
        checkOperand "C" C m n true
        let L = lanes<'T> ()
        let pL, n4, m2, m4 = p - p % L, n - n % 4, m - m % 2, m - m % 4
        // Four columns at a time, whose rows of B stay in cache while every row of A meets them:
        // four rows at a time (sixteen dots, eight loads for sixteen FMAs), then two, then the last.
        let mutable j = 0
        while j < n4 do
            let Bj = B.At(j, 0)
            let mutable i = 0
            while i < m4 do
                dots 4 pL p (A.At(i, 0)) Bj (C.At(i, j))
                i <- i + 4
            while i < m2 do
                dots 2 pL p (A.At(i, 0)) Bj (C.At(i, j))
                i <- i + 2
            if m2 < m then dots 1 pL p (A.At(m2, 0)) Bj (C.At(m2, j))
            j <- j + 4
        // The last n mod 4 columns, one dot at a time in the same order.
        for i in 0 .. m - 1 do
            for j in n4 .. n - 1 do
                let ai, bj = A.Offset + i * A.RowStride, B.Offset + j * B.RowStride
                let mutable s = Vector256<'T>.Zero
                let mutable q = 0
                while q < pL do
                    s <- fma (load A.Data (ai + q)) (load B.Data (bj + q)) s
                    q <- q + L
                finishDot s A.Data ai B.Data bj pL p C.Data (C.Offset + i * C.RowStride + j)

/// gemmNTOf in float64.
let gemmNT (m: int) (n: int) (p: int) (A: Operand<float>) (B: Operand<float>) (C: Operand<float>) = gemmNTOf m n p A B C

// ---- the weight gradients: one blocked product over every (step, sample) row -------------------
//
//     gemmTNRows:  C (m, n) += Σ_q a_{r(q)}ᵀ b_{r(q)}      r = rows.[q], q = 0 .. p−1
//
// What a weight gradient is: d U = Σ_r h_rᵀ d z_r over the rows r of all steps and samples at once,
// (H, TB)·(TB, G) as one product instead of T small ones that each read and write all of C.
// Blocked as OpenBLAS / BLIS do (Goto's algorithm):
//     for each NC-wide column block of C:                      jc
//       for each KC-long stretch of rows q:                    pc      pack B (KC × NC) in NR-wide micro-panels
//         for each MC-tall row block of C:                     ic      pack A (MC × KC) in MR-tall micro-panels
//           for each NR-wide micro-panel of B (stays in L1):   jr
//             for each MR-tall micro-panel of A (from L2):     ir      C tile (MR × NR) in registers, KC FMAs deep
// The summation order is still gemmNN's: every C(i, j) gets its p products one fused multiply-add
// after another, q = 0, 1, …, p−1 (blocking over i, j and the KC stretches only decides when C is
// reloaded), so listing the rows in the order of the old per-step loop gives the very same bits.
// Counted in elements, so in float32 each block takes half the bytes given below.

let private MR = 4     // C rows per register tile
let inline private nr<'T> () = 4 * lanes<'T> ()   // C columns per register tile: four vectors (16 float64, 32 float32)
let private KCB = 256  // rows q per packed stretch: a float64 B micro-panel is KCB·NR·8 = 32 KB (L1)
let private MC = 64    // C rows per packed A block: MC·KCB·8 = 128 KB (L2)
let private NC = 512   // C columns per packed B block: KCB·NC·8 = 1 MB

/// Length of the scratch `gemmTNRows` needs in 'T: packed A block, packed B block, one edge tile.
let blockedScratchLengthOf<'T> () = MC * KCB + KCB * NC + MR * nr<'T> ()

/// Length of the scratch `gemmTNRows` needs in float64.
let blockedScratchLength = blockedScratchLengthOf<float> ()

/// Packs the `width` columns col0 .. of the listed rows rows.[q0 .. q0 + kc − 1] of X (its
/// contiguous rows, the Operand's row stride) into panels `tile` wide from dst.[d0]: panel k holds,
/// for each q, its `tile` values contiguous (zeros past `width`).
let private packPanels (tile: int) (kc: int) (q0: int) (width: int) (col0: int) (X: Operand<'T>) (rows: int[]) (dst: 'T[]) (d0: int) =
    let L = lanes<'T> ()
    let x = X.Data
    let panels = (width + tile - 1) / tile
    for k in 0 .. panels - 1 do
        let j0 = k * tile
        let w = min tile (width - j0)
        let pd = d0 + k * kc * tile
        for q in 0 .. kc - 1 do
            let s = X.Offset + rows.[q0 + q] * X.RowStride + col0 + j0
            let d = pd + q * tile
            if w = tile then
                // Whole vectors (checkExtent in gemmTNRows covered every row's width).
                if tile = 4 * L then
                    store (load x s) dst d; store (load x (s + L)) dst (d + L)
                    store (load x (s + 2 * L)) dst (d + 2 * L); store (load x (s + 3 * L)) dst (d + 3 * L)
                elif tile = L then store (load x s) dst d
                elif 2 * tile = L then Vector128.StoreUnsafe(Vector128.LoadUnsafe(&x.[s]), &dst.[d])
                else Array.Copy(x, s, dst, d, tile)
            else
                Array.Copy(x, s, dst, d, w)
                Array.Clear(dst, d + w, tile - w)

/// The register tile on packed micro-panels: Ap(·, q) at ap.[aq + q·MR ..], Bp(q, ·) at bp.[bq + q·NR ..].
let private microTile (kc: int) (scratch: 'T[]) (aq: int) (bq: int) (C: Operand<'T>) =
    tile 4 4 kc (strided scratch aq 1 MR) (rowMajor scratch bq (nr<'T> ())) C     // MR rows, four vectors

/// C (m, n) += Aᵀ B over the listed rows: C(i, j) += Σ_q A(rows.[q], i) · B(rows.[q], j), q = 0 .. p−1
/// in that order, one fused multiply-add after another (gemmNN's order). A's, B's and C's rows are
/// contiguous (i, j run along them). `scratch` (blockedScratchLengthOf 'T values) is the caller's:
/// overwritten, never read before written.
let gemmTNRowsOf (m: int) (n: int) (p: int) (A: Operand<'T>) (B: Operand<'T>) (rows: int[]) (C: Operand<'T>) (scratch: 'T[]) =
    supported<'T> ()
    if m > 0 && n > 0 && p > 0 then
        let NR = nr<'T> ()
        if rows.Length < p then invalidArg "rows" (sprintf "rows lists %d rows, the product needs %d" rows.Length p)
        if scratch.Length < blockedScratchLengthOf<'T> () then
            invalidArg "scratch" (sprintf "scratch has %d values, the product needs %d" scratch.Length (blockedScratchLengthOf<'T> ()))
        for q in 0 .. p - 1 do
            let r = rows.[q]
            if r < 0 then invalidArg "rows" (sprintf "row %d is negative" r)
            checkOperand "A" (A.At(r, 0)) 1 m true
            checkOperand "B" (B.At(r, 0)) 1 n true
        checkOperand "C" C m n true
        let bPack, aPack, edge = 0, KCB * NC, KCB * NC + MC * KCB   // offsets into scratch: B block, A block, edge tile
        let c, ldc = C.Data, C.RowStride
        let mutable jc = 0
        while jc < n do
            let nc = min NC (n - jc)
            let mutable pc = 0
            while pc < p do
                let kc = min KCB (p - pc)
                // B (kc × nc) in NR-wide micro-panels.
                packPanels NR kc pc nc jc B rows scratch bPack
                let mutable ic = 0
                while ic < m do
                    let mc = min MC (m - ic)
                    // A's block, read as Aᵀ (mc × kc), in MR-tall micro-panels.
                    packPanels MR kc pc mc ic A rows scratch aPack
                    let mutable jr = 0
                    while jr < nc do
                        let nrr = min NR (nc - jr)
                        let bq = bPack + (jr / NR) * kc * NR
                        let mutable ir = 0
                        while ir < mc do
                            let mr = min MR (mc - ir)
                            let aq = aPack + (ir / MR) * kc * MR
                            let ct = C.Offset + (ic + ir) * ldc + jc + jr
                            if mr = MR && nrr = NR then microTile kc scratch aq bq (rowMajor c ct ldc)
                            else
                                // An edge tile: through a full tile in scratch; the padding is
                                // zeros in the panels and never leaves the tile.
                                Array.Clear(scratch, edge, MR * NR)
                                for r in 0 .. mr - 1 do Array.Copy(c, ct + r * ldc, scratch, edge + r * NR, nrr)
                                microTile kc scratch aq bq (rowMajor scratch edge NR)
                                for r in 0 .. mr - 1 do Array.Copy(scratch, edge + r * NR, c, ct + r * ldc, nrr)
                            ir <- ir + MR
                        jr <- jr + NR
                    ic <- ic + mc
                pc <- pc + kc
            jc <- jc + nc

/// gemmTNRowsOf in float64.
let gemmTNRows (m: int) (n: int) (p: int) (A: Operand<float>) (B: Operand<float>) (rows: int[]) (C: Operand<float>) (scratch: float[]) =
    gemmTNRowsOf m n p A B rows C scratch

// ---- gate activations ---------------------------------------------------------------------------
//
// σ and tanh on contiguous runs, a vector at a time, from one exp:
//     exp(x) = 2ⁿ · e^r,  n = round(x / ln 2),  r = x − n·ln 2 (two FMAs, Cody–Waite),
//     e^r by its Taylor series, |r| ≤ ln 2 / 2: to r¹² in float64 (truncation below 2e-16 relative),
//     to r⁷ in float32 (truncation below 6e-9 relative, a twentieth of float32's half ulp);
//     σ(z) = 1 / (1 + exp(−z));   tanh(z) = 1 − 2 / (exp(2z) + 1).
// Each precision evaluates its own constants in its own arithmetic, in the same order.
// Within a few ulps of the exact functions (absolute error ≲ 1e-16 for tanh near 0 in float64,
// ≲ 1e-7 in float32), several times faster than the general-purpose ones on these short runs.
// A run's last n mod L elements go through the same vector code in a padded vector, so every
// element gets the same bits wherever it sits.

/// exp(x) in float64 for |x| ≤ 708 (inputs beyond are clamped: σ and tanh are flat there). NaN stays NaN.
/// Constants are written in place so the JIT keeps them as constants.
let inline private expV64 (x: Vector256<float>) =
    let fma (a: Vector256<float>) (b: Vector256<float>) (c: Vector256<float>) = Vector256.FusedMultiplyAdd(a, b, c)
    let xc = Vector256.Min(Vector256.Max(x, Vector256.Create -708.0), Vector256.Create 708.0)
    // n = round(x / ln 2): adding 1.5·2⁵² rounds to an integer and leaves n in t's low bits.
    let t = fma xc (Vector256.Create 1.4426950408889634) (Vector256.Create 6755399441055744.0)
    let n = t - Vector256.Create 6755399441055744.0
    // r = x − n·ln 2, with ln 2 split in two (Cody–Waite) so r is exact to rounding.
    let r = fma n (Vector256.Create -1.9082149292705877e-10) (fma n (Vector256.Create -0.6931471803691238) xc)
    // e^r = Σ r^k / k!, k = 0 .. 12, by Horner.
    let p = Vector256.Create 2.08767569878681e-09
    let p = fma p r (Vector256.Create 2.505210838544172e-08)      // 1 / 11!
    let p = fma p r (Vector256.Create 2.755731922398589e-07)
    let p = fma p r (Vector256.Create 2.7557319223985893e-06)
    let p = fma p r (Vector256.Create 2.48015873015873e-05)
    let p = fma p r (Vector256.Create 0.0001984126984126984)
    let p = fma p r (Vector256.Create 0.001388888888888889)
    let p = fma p r (Vector256.Create 0.008333333333333333)
    let p = fma p r (Vector256.Create 0.041666666666666664)
    let p = fma p r (Vector256.Create 0.16666666666666666)
    let p = fma p r (Vector256.Create 0.5)
    let p = fma p r (Vector256.Create 1.0)
    let p = fma p r (Vector256.Create 1.0)      // 1 / 0!
    // 2ⁿ from n's bits: (t − 1.5·2⁵² + 1023) << 52.
    let e = Vector256.ShiftLeft(t.AsInt64() - Vector256.Create 4843621399236968448L + Vector256.Create 1023L, 52).AsDouble()
    Vector256.ConditionalSelect(Vector256.Equals(x, x), p * e, x)

/// exp(x) in float32 for |x| ≤ 87 (inputs beyond are clamped: 2ⁿ stays a normal float32). NaN stays NaN.
/// The float64 steps with float32 constants: magic 1.5·2²³, ln 2 split for float32, Taylor to r⁷.
let inline private expV32 (x: Vector256<float32>) =
    let fma (a: Vector256<float32>) (b: Vector256<float32>) (c: Vector256<float32>) = Vector256.FusedMultiplyAdd(a, b, c)
    let xc = Vector256.Min(Vector256.Max(x, Vector256.Create -87.0f), Vector256.Create 87.0f)
    // n = round(x / ln 2): adding 1.5·2²³ rounds to an integer and leaves n in t's low bits.
    let t = fma xc (Vector256.Create 1.44269504f) (Vector256.Create 12582912.0f)
    let n = t - Vector256.Create 12582912.0f
    // r = x − n·ln 2: ln 2 = 0.693147182 (float32) − 1.90465421e-09.
    let r = fma n (Vector256.Create 1.90465421e-09f) (fma n (Vector256.Create -0.693147182f) xc)
    // e^r = Σ r^k / k!, k = 0 .. 7, by Horner.
    let p = Vector256.Create 1.98412701e-04f                       // 1 / 7!
    let p = fma p r (Vector256.Create 1.38888892e-03f)
    let p = fma p r (Vector256.Create 8.33333377e-03f)
    let p = fma p r (Vector256.Create 4.16666679e-02f)
    let p = fma p r (Vector256.Create 0.166666672f)
    let p = fma p r (Vector256.Create 0.5f)
    let p = fma p r (Vector256.Create 1.0f)
    let p = fma p r (Vector256.Create 1.0f)      // 1 / 0!
    // 2ⁿ from n's bits: (t − 1.5·2²³ + 127) << 23.
    let e = Vector256.ShiftLeft(t.AsInt32() - Vector256.Create 1262485504 + Vector256.Create 127, 23).AsSingle()
    Vector256.ConditionalSelect(Vector256.Equals(x, x), p * e, x)

let inline private expV (x: Vector256<'T>) : Vector256<'T> =
    if is64<'T> () then (expV64 (x.As<'T, float>())).As<float, 'T>() else (expV32 (x.As<'T, float32>())).As<float32, 'T>()

let inline private sigmoidV (z: Vector256<'T>) : Vector256<'T> =
    if is64<'T> () then
        let z = z.As<'T, float>()
        (Vector256.Create 1.0 / (Vector256.Create 1.0 + expV64 -z)).As<float, 'T>()
    else
        let z = z.As<'T, float32>()
        (Vector256.Create 1.0f / (Vector256.Create 1.0f + expV32 -z)).As<float32, 'T>()

let inline private tanhV (z: Vector256<'T>) : Vector256<'T> =
    if is64<'T> () then
        let z = z.As<'T, float>()
        (Vector256.Create 1.0 - Vector256.Create 2.0 / (expV64 (z + z) + Vector256.Create 1.0)).As<float, 'T>()
    else
        let z = z.As<'T, float32>()
        (Vector256.Create 1.0f - Vector256.Create 2.0f / (expV32 (z + z) + Vector256.Create 1.0f)).As<float32, 'T>()

// ---- partial vectors, for the cell's elementwise work ---------------------------------------------

/// L values at a[o ..], or the `valid` first of them and zeros.
let inline loadPart (a: 'T[]) (o: int) (valid: int) : Vector256<'T> =
    if valid = Vector256<'T>.Count then Vector256.LoadUnsafe(&a.[o])
    else
        let inline at (l: int) = if valid > l then a.[o + l] else Unchecked.defaultof<'T>
        if is64<'T> () then
            let inline at64 (l: int) = cast<'T, float> (at l)
            Vector256.Create(at64 0, at64 1, at64 2, 0.0).As<float, 'T>()
        else
            let inline at32 (l: int) = cast<'T, float32> (at l)
            Vector256.Create(at32 0, at32 1, at32 2, at32 3, at32 4, at32 5, at32 6, 0.0f).As<float32, 'T>()

/// Stores the `valid` first lanes of v at a[o ..].
let inline storePart (v: Vector256<'T>) (a: 'T[]) (o: int) (valid: int) =
    if valid = Vector256<'T>.Count then Vector256.StoreUnsafe(v, &a.[o])
    else
        for l in 0 .. valid - 1 do
            a.[o + l] <- v.GetElement l

/// Applies f to src.[so .. so + count − 1], writing dst.[do .. do + count − 1] (may be the same run).
let inline private mapRun ([<InlineIfLambda>] f: Vector256<'T> -> Vector256<'T>) (src: 'T[]) (so: int) (dst: 'T[]) (dO: int) (count: int) =
    supported<'T> ()
    if count > 0 then
        checkExtent "source" src so 1 0 1 0 count
        checkExtent "destination" dst dO 1 0 1 0 count
        let L = lanes<'T> ()
        let mutable k = 0
        // Four independent vectors per turn: one exp is a chain of ~15 dependent operations, so
        // a single vector at a time would leave the core waiting on latency.
        while k + 4 * L <= count do
            let y0 = f (load src (so + k))
            let y1 = f (load src (so + k + L))
            let y2 = f (load src (so + k + 2 * L))
            let y3 = f (load src (so + k + 3 * L))
            store y0 dst (dO + k); store y1 dst (dO + k + L); store y2 dst (dO + k + 2 * L); store y3 dst (dO + k + 3 * L)
            k <- k + 4 * L
        while k + L <= count do
            store (f (load src (so + k))) dst (dO + k)
            k <- k + L
        if k < count then
            let y = f (loadPart src (so + k) (count - k))
            for i in 0 .. count - k - 1 do
                dst.[dO + k + i] <- y.GetElement i

/// dst = σ(src) on a run of `count` elements.
let sigmoidOf (src: 'T[]) (so: int) (dst: 'T[]) (dO: int) (count: int) = mapRun sigmoidV src so dst dO count

/// dst = tanh(src) on a run of `count` elements.
let tanhOf (src: 'T[]) (so: int) (dst: 'T[]) (dO: int) (count: int) = mapRun tanhV src so dst dO count

/// dst = exp(src) on a run of `count` elements, for |src| ≤ 708 in float64, ≤ 87 in float32 (the
/// softmax calls it on logits − max ≤ 0).
let expOf (src: 'T[]) (so: int) (dst: 'T[]) (dO: int) (count: int) = mapRun expV src so dst dO count

/// dst = σ(src) in float64.
let sigmoid (src: float[]) (so: int) (dst: float[]) (dO: int) (count: int) = sigmoidOf src so dst dO count

/// dst = tanh(src) in float64.
let tanh (src: float[]) (so: int) (dst: float[]) (dO: int) (count: int) = tanhOf src so dst dO count

/// dst = exp(src) in float64.
let exp (src: float[]) (so: int) (dst: float[]) (dO: int) (count: int) = expOf src so dst dO count


// ---- scalars and runs in either precision, for the layers above the kernels ----------------------
//
// The model's elementwise code is written once over 'T with these: each is one IEEE operation
// (or TensorPrimitives' elementwise one) in 'T's own arithmetic, so the float64 instantiation does
// exactly what the float64 code did, and the float32 one the same operations on float32s.

/// x in 'T: itself in float64, rounded to the nearest float32 in float32.
let inline ofFloat<'T> (x: float) : 'T = if is64<'T> () then cast<float, 'T> x else cast<float32, 'T> (float32 x)
/// x widened to float64 (exact in both precisions).
let inline toFloat (x: 'T) : float = if is64<'T> () then cast<'T, float> x else float (cast<'T, float32> x)
/// x − y.
let inline subS (x: 'T) (y: 'T) : 'T =
    if is64<'T> () then cast<float, 'T> (cast<'T, float> x - cast<'T, float> y)
    else cast<float32, 'T> (cast<'T, float32> x - cast<'T, float32> y)
/// x · y.
let inline mulS (x: 'T) (y: 'T) : 'T =
    if is64<'T> () then cast<float, 'T> (cast<'T, float> x * cast<'T, float> y)
    else cast<float32, 'T> (cast<'T, float32> x * cast<'T, float32> y)
/// x / y.
let inline divS (x: 'T) (y: 'T) : 'T =
    if is64<'T> () then cast<float, 'T> (cast<'T, float> x / cast<'T, float> y)
    else cast<float32, 'T> (cast<'T, float32> x / cast<'T, float32> y)
/// √x.
let inline sqrtS (x: 'T) : 'T =
    if is64<'T> () then cast<float, 'T> (Math.Sqrt(cast<'T, float> x)) else cast<float32, 'T> (MathF.Sqrt(cast<'T, float32> x))

let inline private ro<'T, 'U when 'T: struct and 'T: (new: unit -> 'T) and 'T :> ValueType and 'U: struct and 'U: (new: unit -> 'U) and 'U :> ValueType>
        (a: 'T[]) (o: int) (n: int) : ReadOnlySpan<'U> = MemoryMarshal.Cast<'T, 'U>(ReadOnlySpan<'T>(a, o, n))
let inline private rw<'T, 'U when 'T: struct and 'T: (new: unit -> 'T) and 'T :> ValueType and 'U: struct and 'U: (new: unit -> 'U) and 'U :> ValueType>
        (a: 'T[]) (o: int) (n: int) : Span<'U> = MemoryMarshal.Cast<'T, 'U>(Span<'T>(a, o, n))

/// dst[dO ..] = x[xo ..] + y[yo ..], n elements (dst may be x or y).
let addRuns (x: 'T[]) (xo: int) (y: 'T[]) (yo: int) (dst: 'T[]) (dO: int) (n: int) =
    if is64<'T> () then TensorPrimitives.Add(ro<'T, float> x xo n, ro<'T, float> y yo n, rw<'T, float> dst dO n)
    else TensorPrimitives.Add(ro<'T, float32> x xo n, ro<'T, float32> y yo n, rw<'T, float32> dst dO n)

/// dst[dO ..] = x[xo ..] ⊙ y[yo ..], n elements.
let mulRuns (x: 'T[]) (xo: int) (y: 'T[]) (yo: int) (dst: 'T[]) (dO: int) (n: int) =
    if is64<'T> () then TensorPrimitives.Multiply(ro<'T, float> x xo n, ro<'T, float> y yo n, rw<'T, float> dst dO n)
    else TensorPrimitives.Multiply(ro<'T, float32> x xo n, ro<'T, float32> y yo n, rw<'T, float32> dst dO n)

/// a[o ..] = a[o ..] − s, n elements, in place.
let subScalarRun (a: 'T[]) (o: int) (n: int) (s: 'T) =
    if is64<'T> () then TensorPrimitives.Subtract(ro<'T, float> a o n, cast<'T, float> s, rw<'T, float> a o n)
    else TensorPrimitives.Subtract(ro<'T, float32> a o n, cast<'T, float32> s, rw<'T, float32> a o n)

/// a[o ..] = a[o ..] / s, n elements, in place.
let divScalarRun (a: 'T[]) (o: int) (n: int) (s: 'T) =
    if is64<'T> () then TensorPrimitives.Divide(ro<'T, float> a o n, cast<'T, float> s, rw<'T, float> a o n)
    else TensorPrimitives.Divide(ro<'T, float32> a o n, cast<'T, float32> s, rw<'T, float32> a o n)

/// a[o ..] = a[o ..] · s, n elements, in place.
let mulScalarRun (a: 'T[]) (o: int) (n: int) (s: 'T) =
    if is64<'T> () then TensorPrimitives.Multiply(ro<'T, float> a o n, cast<'T, float> s, rw<'T, float> a o n)
    else TensorPrimitives.Multiply(ro<'T, float32> a o n, cast<'T, float32> s, rw<'T, float32> a o n)

/// TensorPrimitives.IndexOfMax of a[o .. o + n − 1]: the first NaN, else the first greatest.
let indexOfMax (a: 'T[]) (o: int) (n: int) : int =
    if is64<'T> () then TensorPrimitives.IndexOfMax(ro<'T, float> a o n) else TensorPrimitives.IndexOfMax(ro<'T, float32> a o n)

/// Whether a[o .. o + n − 1] holds anything but zeros (±0).
let anyNonZero (a: 'T[]) (o: int) (n: int) : bool =
    if is64<'T> () then (ro<'T, float> a o n).ContainsAnyExcept 0.0 else (ro<'T, float32> a o n).ContainsAnyExcept 0.0f

/// Blocks of numbers as fresh 'T arrays: copies in float64, each value rounded to float32 in float32.
let narrowCopy<'T> (blocks: float[][]) : 'T[][] =
    if is64<'T> () then unbox<'T[][]> (box (Array.map Array.copy blocks))
    else blocks |> Array.map (fun b -> Array.init b.Length (fun i -> ofFloat<'T> b.[i]))

/// Blocks of numbers to read in 'T: the same arrays in float64 (no copy: the caller only reads
/// them), each value rounded to float32 in fresh arrays in float32.
let narrow<'T> (blocks: float[][]) : 'T[][] =
    if is64<'T> () then unbox<'T[][]> (box blocks)
    else blocks |> Array.map (fun b -> Array.init b.Length (fun i -> ofFloat<'T> b.[i]))

/// Blocks of 'T as float64 arrays: the same arrays in float64 (no copy), widened copies in float32.
let widen (blocks: 'T[][]) : float[][] =
    if is64<'T> () then unbox<float[][]> (box blocks)
    else blocks |> Array.map (fun b -> Array.init b.Length (fun i -> toFloat b.[i]))
