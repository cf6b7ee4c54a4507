/// The two dense products the LSTM's hot loops are made of, on flat row-major arrays.
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
///   - gemmNT sums q ≡ l (mod 4) into lane l with fused multiply-adds, adds the lanes as
///     (l0 + l1) + (l2 + l3), then the p mod 4 last products one after another, then adds that sum to C.
/// Vector256 falls back to the same per-lane arithmetic where the hardware has no 256-bit vectors.
module internal AlphabetLstm.Core.Kernels

open System
open System.Runtime.Intrinsics
open System.Runtime.Intrinsics.X86

let inline private load (a: float[]) (i: int) = Vector256.LoadUnsafe(&a.[i])
let inline private store (v: Vector256<float>) (a: float[]) (i: int) = Vector256.StoreUnsafe(v, &a.[i])
let inline private fma (a: Vector256<float>) (b: Vector256<float>) (c: Vector256<float>) = Vector256.FusedMultiplyAdd(a, b, c)
let inline private splat (x: float) = Vector256.Create x
/// s + x·y fused when `on` (a constant wherever it is called), else s unchanged.
let inline private fmaIf (on: bool) (x: Vector256<float>) (y: Vector256<float>) (s: Vector256<float>) = if on then fma x y s else s
let inline private hsum (v: Vector256<float>) = (v.GetElement 0 + v.GetElement 1) + (v.GetElement 2 + v.GetElement 3)

/// A matrix inside a flat array: element (i, j) is Data.[Offset + i·RowStride + j·ColStride].
/// Strides may be negative (to walk rows backwards) and the column stride need not be 1 (so Aᵀ is free).
[<Struct>]
type Operand =
    { Data: float[]
      Offset: int
      RowStride: int
      ColStride: int }

    /// The same matrix from element (i, j) on: the corner of a tile or a panel.
    member x.At(i: int, j: int) = { Data = x.Data; Offset = x.Offset + i * x.RowStride + j * x.ColStride; RowStride = x.RowStride; ColStride = x.ColStride }

/// A row-major matrix: element (i, j) at data.[offset + i·ld + j].
let rowMajor (data: float[]) (offset: int) (ld: int) = { Data = data; Offset = offset; RowStride = ld; ColStride = 1 }

/// Any strides: element (i, j) at data.[offset + i·rowStride + j·colStride].
let strided (data: float[]) (offset: int) (rowStride: int) (colStride: int) =
    { Data = data; Offset = offset; RowStride = rowStride; ColStride = colStride }

/// Vector loads read 4 elements from an index the array bounds-checks only at its first: check
/// the whole extent of every operand once, up front, so no load or store can leave its array.
/// The operand spans offset + i·rowStride + q·colStride + [0, width) for i < rows, q < cols.
let checkExtent (name: string) (a: float[]) (offset: int) (rows: int) (rowStride: int) (cols: int) (colStride: int) (width: int) =
    let lo = offset + min 0 ((rows - 1) * rowStride) + min 0 ((cols - 1) * colStride)
    let hi = offset + max 0 ((rows - 1) * rowStride) + max 0 ((cols - 1) * colStride) + width - 1
    if lo < 0 || hi >= a.Length then
        invalidArg name (sprintf "%s: a product would read indices %d..%d of an array of %d" name lo hi a.Length)

/// Checks an operand's (rows × cols) extent; with `contiguous`, that its columns are adjacent
/// (the kernel loads four of them as one vector).
let private checkOperand (name: string) (x: Operand) (rows: int) (cols: int) (contiguous: bool) =
    if contiguous && x.ColStride <> 1 then
        invalidArg name (sprintf "%s: the product reads its rows as vectors, so its column stride must be 1, got %d" name x.ColStride)
    checkExtent name x.Data x.Offset rows x.RowStride cols x.ColStride 1

// ---- the register tile ---------------------------------------------------------------------------

/// The one register tile of every NN product: C (R × 4W) += A (R × kc) · B (kc × 4W), for R = 1 or
/// 4 rows and W = 1 or 4 vectors of four columns. A's corner may have any strides; B's and C's
/// rows are contiguous. For each k = 0 … kc−1 in turn, one fused multiply-add into every
/// accumulator: gemmNN's order. Each B vector loaded serves R rows.
/// R and W are constants at every call site, so once this is inlined the JIT drops the unused
/// accumulators and branches and keeps the R·W others (at most sixteen) in registers.
let inline private tile (R: int) (W: int) (kc: int) (A: Operand) (B: Operand) (C: Operand) =
    let a, ars, acs, b, bs, c = A.Data, A.RowStride, A.ColStride, B.Data, B.RowStride, C.Data
    let c0, c1, c2, c3 = C.Offset, C.Offset + C.RowStride, C.Offset + 2 * C.RowStride, C.Offset + 3 * C.RowStride
    let inline acc (r: int) (ci: int) (v: int) = if r < R && v < W then load c (ci + 4 * v) else Vector256<float>.Zero
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
            let b1, b2, b3 = load b (bi + 4), load b (bi + 8), load b (bi + 12)
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
    let inline put (r: int) (ci: int) (v: int) (x: Vector256<float>) = if r < R && v < W then store x c (ci + 4 * v)
    put 0 c0 0 c00; put 0 c0 1 c01; put 0 c0 2 c02; put 0 c0 3 c03
    put 1 c1 0 c10; put 1 c1 1 c11; put 1 c1 2 c12; put 1 c1 3 c13
    put 2 c2 0 c20; put 2 c2 1 c21; put 2 c2 2 c22; put 2 c2 3 c23
    put 3 c3 0 c30; put 3 c3 1 c31; put 3 c3 2 c32; put 3 c3 3 c33

/// C (8 × 16) += A (8 × kc) · B (kc × 16) with 512-bit vectors (and their 32 registers): each B row
/// loaded once for eight rows. Per lane the same fused multiply-adds in the same order as `tile`.
let private tile8x16 (kc: int) (A: Operand) (B: Operand) (C: Operand) =
    let a, ars, acs, b, bs, c, ldc = A.Data, A.RowStride, A.ColStride, B.Data, B.RowStride, C.Data, C.RowStride
    let inline ld (i: int) = Vector512.LoadUnsafe(&c.[i])
    let inline st (v: Vector512<float>) (i: int) = Vector512.StoreUnsafe(v, &c.[i])
    let inline fma8 (x: float) (y: Vector512<float>) (s: Vector512<float>) = Vector512.FusedMultiplyAdd(Vector512.Create x, y, s)
    let r0 = C.Offset
    let mutable x0, y0, x1, y1 = ld r0, ld (r0 + 8), ld (r0 + ldc), ld (r0 + ldc + 8)
    let mutable x2, y2, x3, y3 = ld (r0 + 2 * ldc), ld (r0 + 2 * ldc + 8), ld (r0 + 3 * ldc), ld (r0 + 3 * ldc + 8)
    let mutable x4, y4, x5, y5 = ld (r0 + 4 * ldc), ld (r0 + 4 * ldc + 8), ld (r0 + 5 * ldc), ld (r0 + 5 * ldc + 8)
    let mutable x6, y6, x7, y7 = ld (r0 + 6 * ldc), ld (r0 + 6 * ldc + 8), ld (r0 + 7 * ldc), ld (r0 + 7 * ldc + 8)
    let mutable ai = A.Offset
    let mutable bi = B.Offset
    for _ in 1 .. kc do
        let lo, hi = Vector512.LoadUnsafe(&b.[bi]), Vector512.LoadUnsafe(&b.[bi + 8])
        x0 <- fma8 a.[ai] lo x0; y0 <- fma8 a.[ai] hi y0
        x1 <- fma8 a.[ai + ars] lo x1; y1 <- fma8 a.[ai + ars] hi y1
        x2 <- fma8 a.[ai + 2 * ars] lo x2; y2 <- fma8 a.[ai + 2 * ars] hi y2
        x3 <- fma8 a.[ai + 3 * ars] lo x3; y3 <- fma8 a.[ai + 3 * ars] hi y3
        x4 <- fma8 a.[ai + 4 * ars] lo x4; y4 <- fma8 a.[ai + 4 * ars] hi y4
        x5 <- fma8 a.[ai + 5 * ars] lo x5; y5 <- fma8 a.[ai + 5 * ars] hi y5
        x6 <- fma8 a.[ai + 6 * ars] lo x6; y6 <- fma8 a.[ai + 6 * ars] hi y6
        x7 <- fma8 a.[ai + 7 * ars] lo x7; y7 <- fma8 a.[ai + 7 * ars] hi y7
        ai <- ai + acs
        bi <- bi + bs
    st x0 r0; st y0 (r0 + 8); st x1 (r0 + ldc); st y1 (r0 + ldc + 8)
    st x2 (r0 + 2 * ldc); st y2 (r0 + 2 * ldc + 8); st x3 (r0 + 3 * ldc); st y3 (r0 + 3 * ldc + 8)
    st x4 (r0 + 4 * ldc); st y4 (r0 + 4 * ldc + 8); st x5 (r0 + 5 * ldc); st y5 (r0 + 5 * ldc + 8)
    st x6 (r0 + 6 * ldc); st y6 (r0 + 6 * ldc + 8); st x7 (r0 + 7 * ldc); st y7 (r0 + 7 * ldc + 8)

// ---- gemmNN ---------------------------------------------------------------------------------------

/// The products q0 ≤ q < q1 of gemmNN, added into C in that order: 4 × 16 tiles, then the last
/// columns four at a time, then the last m mod 4 rows one at a time, then the last n mod 4 columns
/// element by element.
let private gemmNNPanel (m: int) (n: int) (q0: int) (q1: int) (A: Operand) (B: Operand) (C: Operand) =
    let n16, n4, kc = n - n % 16, n - n % 4, q1 - q0
    let inline across (R: int) (i: int) =
        let mutable j = 0
        while j < n16 do
            tile R 4 kc (A.At(i, q0)) (B.At(q0, j)) (C.At(i, j))
            j <- j + 16
        while j < n4 do
            tile R 1 kc (A.At(i, q0)) (B.At(q0, j)) (C.At(i, j))
            j <- j + 4
    let mutable i = 0
    while i + 4 <= m do
        across 4 i
        i <- i + 4
    while i < m do
        across 1 i
        i <- i + 1
    let a, b, c = A.Data, B.Data, C.Data
    for i in 0 .. m - 1 do
        for j in n4 .. n - 1 do
            let cij = C.Offset + i * C.RowStride + j
            let mutable s = c.[cij]
            for q in q0 .. q1 - 1 do
                s <- Math.FusedMultiplyAdd(a.[A.Offset + i * A.RowStride + q * A.ColStride], b.[B.Offset + q * B.RowStride + j], s)
            c.[cij] <- s

/// How many products one panel of gemmNN adds before moving on: its rows of B (KC × n) then stay in
/// cache while every row of A uses them. C is reloaded once per panel; the order of the additions
/// into each C(i, j) is unchanged.
let private KC = 256

/// C (m, n) += A (m, p) · B (p, n). A may have any strides; B's and C's rows are contiguous.
let gemmNN (m: int) (n: int) (p: int) (A: Operand) (B: Operand) (C: Operand) =
    if m > 0 && n > 0 && p > 0 then
        checkOperand "A" A m p false
        checkOperand "B" B p n true
        checkOperand "C" C m n true
        let mutable q0 = 0
        while q0 < p do
            let q1 = min p (q0 + KC)
            gemmNNPanel m n q0 q1 A B C
            q0 <- q1

/// Copies the first n − n mod 16 columns of B (p, n) into `dst` tile by tile: for each block of 16
/// columns, its p rows one after another (16·p contiguous values). A product that reuses one B many
/// times (U, across the steps of BPTT) then reads it as a stream instead of rows 4 KB apart.
let packColumns16 (p: int) (n: int) (B: Operand) (dst: float[]) =
    let n16 = n - n % 16
    if p > 0 && n16 > 0 then
        checkOperand "B" B p n16 true
        checkExtent "packed B" dst 0 1 0 1 0 (p * n16)
        for jt in 0 .. n16 / 16 - 1 do
            for q in 0 .. p - 1 do
                let s, d = B.Offset + q * B.RowStride + jt * 16, (jt * p + q) * 16
                store (load B.Data s) dst d; store (load B.Data (s + 4)) dst (d + 4)
                store (load B.Data (s + 8)) dst (d + 8); store (load B.Data (s + 12)) dst (d + 12)

/// gemmNN with B given packed by `packColumns16` (its first n − n mod 16 columns) and also as it
/// is (for the rest). The same additions in the same order as gemmNN, so the same bits.
let gemmNNPacked (m: int) (n: int) (p: int) (A: Operand) (packed: float[]) (B: Operand) (C: Operand) =
    let n16 = n - n % 16
    if m > 0 && n16 > 0 && p > 0 then
        checkOperand "A" A m p false
        checkExtent "packed B" packed 0 1 0 1 0 (p * n16)
        checkOperand "C" C m n16 true
        for jt in 0 .. n16 / 16 - 1 do
            let j = jt * 16
            // Column block jt of B, packed: row q at packed.[jt·p·16 + q·16].
            let Bp = rowMajor packed (jt * p * 16) 16
            let mutable i = 0
            if Vector512.IsHardwareAccelerated then
                while i + 8 <= m do
                    tile8x16 p (A.At(i, 0)) Bp (C.At(i, j))
                    i <- i + 8
            while i + 4 <= m do
                tile 4 4 p (A.At(i, 0)) Bp (C.At(i, j))
                i <- i + 4
            while i < m do
                tile 1 4 p (A.At(i, 0)) Bp (C.At(i, j))
                i <- i + 1
    // The last n mod 16 columns from B as it is.
    if n16 < n then gemmNN m (n - n16) p A (B.At(0, n16)) (C.At(0, n16))

// ---- gemmNT ---------------------------------------------------------------------------------------

/// The tail and the final addition shared by every gemmNT tile: C(i, j) += lanes + Σ tail, for the
/// dot of A's row at a.[ai ..] and B's row at b.[bj ..].
let inline private finishDot (lanes: Vector256<float>) (a: float[]) (ai: int) (b: float[]) (bj: int) (p4: int) (p: int) (c: float[]) (cij: int) =
    let mutable s = hsum lanes
    for q in p4 .. p - 1 do
        s <- Math.FusedMultiplyAdd(a.[ai + q], b.[bj + q], s)
    c.[cij] <- c.[cij] + s

/// Four dots finished at once, C(i, j .. j+3) += lanes, for A's row at a.[ai ..] and B's rows j .. j+3
/// from B's corner: the same (l0 + l1) + (l2 + l3) per dot as `finishDot`, computed as a 4 × 4
/// transpose-and-add so a short dot does not pay four extracts. Only when p is a multiple of 4
/// (no tail) and AVX is there; otherwise each dot is finished alone.
let inline private finishFour (s0: Vector256<float>) (s1: Vector256<float>) (s2: Vector256<float>) (s3: Vector256<float>)
                              (a: float[]) (ai: int) (B: Operand) (p4: int) (p: int) (c: float[]) (cij: int) =
    if p4 = p && Avx.IsSupported then
        // x = [s0.0+s0.1, s1.0+s1.1, s0.2+s0.3, s1.2+s1.3],  y = the same for s2, s3
        let x = Avx.Add(Avx.UnpackLow(s0, s1), Avx.UnpackHigh(s0, s1))
        let y = Avx.Add(Avx.UnpackLow(s2, s3), Avx.UnpackHigh(s2, s3))
        // [(s0.0+s0.1) + (s0.2+s0.3), … , (s3.0+s3.1) + (s3.2+s3.3)]
        let sums = Avx.Add(Avx.Permute2x128(x, y, 0x20uy), Avx.Permute2x128(x, y, 0x31uy))
        store (load c cij + sums) c cij
    else
        let b, bj, ldb = B.Data, B.Offset, B.RowStride
        finishDot s0 a ai b bj p4 p c cij
        finishDot s1 a ai b (bj + ldb) p4 p c (cij + 1)
        finishDot s2 a ai b (bj + 2 * ldb) p4 p c (cij + 2)
        finishDot s3 a ai b (bj + 3 * ldb) p4 p c (cij + 3)

/// The register tile of gemmNT: R = 1, 2 or 4 rows of A (from A's corner) against four rows of B
/// (from B's corner), 4R dots at once, each A and B vector loaded once per four products. Each
/// dot's lanes are the same whatever R is, so the tile a row falls in changes no bit. R is a
/// constant at every call site: the JIT keeps only the 4R accumulators it uses.
let inline private dots (R: int) (p4: int) (p: int) (A: Operand) (B: Operand) (C: Operand) =
    let a, b, lda, ldb = A.Data, B.Data, A.RowStride, B.RowStride
    let a0, a1, a2, a3 = A.Offset, A.Offset + lda, A.Offset + 2 * lda, A.Offset + 3 * lda
    let b0, b1, b2, b3 = B.Offset, B.Offset + ldb, B.Offset + 2 * ldb, B.Offset + 3 * ldb
    let zero = Vector256<float>.Zero
    let mutable s00, s01, s02, s03 = zero, zero, zero, zero
    let mutable s10, s11, s12, s13 = zero, zero, zero, zero
    let mutable s20, s21, s22, s23 = zero, zero, zero, zero
    let mutable s30, s31, s32, s33 = zero, zero, zero, zero
    let mutable q = 0
    while q < p4 do
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
        q <- q + 4
    let c, ldc = C.Data, C.RowStride
    finishFour s00 s01 s02 s03 a a0 B p4 p c C.Offset
    if R > 1 then finishFour s10 s11 s12 s13 a a1 B p4 p c (C.Offset + ldc)
    if R > 2 then
        finishFour s20 s21 s22 s23 a a2 B p4 p c (C.Offset + 2 * ldc)
        finishFour s30 s31 s32 s33 a a3 B p4 p c (C.Offset + 3 * ldc)

/// C (m, n) += A (m, p) · Bᵀ, where B is (n, p). A's, B's and C's rows are contiguous.
let gemmNT (m: int) (n: int) (p: int) (A: Operand) (B: Operand) (C: Operand) =
    if m > 0 && n > 0 && p > 0 then
        checkOperand "A" A m p true
        checkOperand "B" B n p true
        checkOperand "C" C m n true
        let p4, n4, m2, m4 = p - p % 4, n - n % 4, m - m % 2, m - m % 4
        // Four columns at a time, whose rows of B stay in cache while every row of A meets them:
        // four rows at a time (sixteen dots, eight loads for sixteen FMAs), then two, then the last.
        let mutable j = 0
        while j < n4 do
            let Bj = B.At(j, 0)
            let mutable i = 0
            while i < m4 do
                dots 4 p4 p (A.At(i, 0)) Bj (C.At(i, j))
                i <- i + 4
            while i < m2 do
                dots 2 p4 p (A.At(i, 0)) Bj (C.At(i, j))
                i <- i + 2
            if m2 < m then dots 1 p4 p (A.At(m2, 0)) Bj (C.At(m2, j))
            j <- j + 4
        // The last n mod 4 columns, one dot at a time in the same order.
        for i in 0 .. m - 1 do
            for j in n4 .. n - 1 do
                let ai, bj = A.Offset + i * A.RowStride, B.Offset + j * B.RowStride
                let mutable s = Vector256<float>.Zero
                let mutable q = 0
                while q < p4 do
                    s <- fma (load A.Data (ai + q)) (load B.Data (bj + q)) s
                    q <- q + 4
                finishDot s A.Data ai B.Data bj p4 p C.Data (C.Offset + i * C.RowStride + j)

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

let private MR = 4     // C rows per register tile
let private NR = 16    // C columns per register tile: four 4-wide vectors
let private KCB = 256  // rows q per packed stretch: a B micro-panel is KCB·NR·8 = 32 KB (L1)
let private MC = 64    // C rows per packed A block: MC·KCB·8 = 128 KB (L2)
let private NC = 512   // C columns per packed B block: KCB·NC·8 = 1 MB

/// Length of the scratch `gemmTNRows` needs: packed A block, packed B block, one edge tile.
let blockedScratchLength = MC * KCB + KCB * NC + MR * NR

/// Packs the `width` columns col0 .. of the listed rows rows.[q0 .. q0 + kc − 1] of X (its
/// contiguous rows, the Operand's row stride) into panels `tile` wide from dst.[d0]: panel k holds,
/// for each q, its `tile` values contiguous (zeros past `width`).
let private packPanels (tile: int) (kc: int) (q0: int) (width: int) (col0: int) (X: Operand) (rows: int[]) (dst: float[]) (d0: int) =
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
                if tile = 16 then
                    store (load x s) dst d; store (load x (s + 4)) dst (d + 4)
                    store (load x (s + 8)) dst (d + 8); store (load x (s + 12)) dst (d + 12)
                elif tile = 4 then store (load x s) dst d
                else Array.Copy(x, s, dst, d, tile)
            else
                Array.Copy(x, s, dst, d, w)
                Array.Clear(dst, d + w, tile - w)

/// The register tile on packed micro-panels: Ap(·, q) at ap.[aq + q·MR ..], Bp(q, ·) at bp.[bq + q·NR ..].
let private microTile (kc: int) (scratch: float[]) (aq: int) (bq: int) (C: Operand) =
    tile 4 4 kc (strided scratch aq 1 MR) (rowMajor scratch bq NR) C     // MR rows, NR / 4 vectors

/// C (m, n) += Aᵀ B over the listed rows: C(i, j) += Σ_q A(rows.[q], i) · B(rows.[q], j), q = 0 .. p−1
/// in that order, one fused multiply-add after another (gemmNN's order). A's, B's and C's rows are
/// contiguous (i, j run along them). `scratch` (blockedScratchLength values) is the caller's:
/// overwritten, never read before written.
let gemmTNRows (m: int) (n: int) (p: int) (A: Operand) (B: Operand) (rows: int[]) (C: Operand) (scratch: float[]) =
    if m > 0 && n > 0 && p > 0 then
        if rows.Length < p then invalidArg "rows" (sprintf "rows lists %d rows, the product needs %d" rows.Length p)
        if scratch.Length < blockedScratchLength then
            invalidArg "scratch" (sprintf "scratch has %d values, the product needs %d" scratch.Length blockedScratchLength)
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
                        let nr = min NR (nc - jr)
                        let bq = bPack + (jr / NR) * kc * NR
                        let mutable ir = 0
                        while ir < mc do
                            let mr = min MR (mc - ir)
                            let aq = aPack + (ir / MR) * kc * MR
                            let ct = C.Offset + (ic + ir) * ldc + jc + jr
                            if mr = MR && nr = NR then microTile kc scratch aq bq (rowMajor c ct ldc)
                            else
                                // An edge tile: through a full tile in scratch; the padding is
                                // zeros in the panels and never leaves the tile.
                                Array.Clear(scratch, edge, MR * NR)
                                for r in 0 .. mr - 1 do Array.Copy(c, ct + r * ldc, scratch, edge + r * NR, nr)
                                microTile kc scratch aq bq (rowMajor scratch edge NR)
                                for r in 0 .. mr - 1 do Array.Copy(scratch, edge + r * NR, c, ct + r * ldc, nr)
                            ir <- ir + MR
                        jr <- jr + NR
                    ic <- ic + mc
                pc <- pc + kc
            jc <- jc + nc

// ---- gate activations ---------------------------------------------------------------------------
//
// σ and tanh on contiguous runs, four lanes at a time, from one exp:
//     exp(x) = 2ⁿ · e^r,  n = round(x / ln 2),  r = x − n·ln 2 (two FMAs, Cody–Waite),
//     e^r by its Taylor series to r¹² (|r| ≤ ln 2 / 2: truncation below 2e-16 relative);
//     σ(z) = 1 / (1 + exp(−z));   tanh(z) = 1 − 2 / (exp(2z) + 1).
// Within a few ulps of the exact functions (absolute error ≲ 1e-16 for tanh near 0), several
// times faster than the general-purpose ones on these short runs. A run's last n mod 4 elements go
// through the same vector code in a padded vector, so every element gets the same bits wherever it sits.

/// exp(x) for |x| ≤ 708 (inputs beyond are clamped: σ and tanh are flat there). NaN stays NaN.
/// Constants are written in place so the JIT keeps them as constants.
let inline private expV (x: Vector256<float>) =
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

let inline private sigmoidV (z: Vector256<float>) = Vector256.Create 1.0 / (Vector256.Create 1.0 + expV -z)
let inline private tanhV (z: Vector256<float>) = Vector256.Create 1.0 - Vector256.Create 2.0 / (expV (z + z) + Vector256.Create 1.0)

/// Applies f to src.[so .. so + count − 1], writing dst.[do .. do + count − 1] (may be the same run).
let inline private mapRun ([<InlineIfLambda>] f: Vector256<float> -> Vector256<float>) (src: float[]) (so: int) (dst: float[]) (dO: int) (count: int) =
    if count > 0 then
        checkExtent "source" src so 1 0 1 0 count
        checkExtent "destination" dst dO 1 0 1 0 count
        let mutable k = 0
        // Four independent vectors per turn: one exp is a chain of ~15 dependent operations, so
        // a single vector at a time would leave the core waiting on latency.
        while k + 16 <= count do
            let y0 = f (load src (so + k))
            let y1 = f (load src (so + k + 4))
            let y2 = f (load src (so + k + 8))
            let y3 = f (load src (so + k + 12))
            store y0 dst (dO + k); store y1 dst (dO + k + 4); store y2 dst (dO + k + 8); store y3 dst (dO + k + 12)
            k <- k + 16
        while k + 4 <= count do
            store (f (load src (so + k))) dst (dO + k)
            k <- k + 4
        if k < count then
            let k0 = k
            let at i = if k0 + i < count then src.[so + k0 + i] else 0.0
            let y = f (Vector256.Create(at 0, at 1, at 2, at 3))
            for i in 0 .. count - k0 - 1 do
                dst.[dO + k0 + i] <- y.GetElement i

/// dst = σ(src) on a run of `count` elements.
let sigmoid (src: float[]) (so: int) (dst: float[]) (dO: int) (count: int) = mapRun sigmoidV src so dst dO count

/// dst = tanh(src) on a run of `count` elements.
let tanh (src: float[]) (so: int) (dst: float[]) (dO: int) (count: int) = mapRun tanhV src so dst dO count

/// dst = exp(src) on a run of `count` elements, for |src| ≤ 708 (the softmax calls it on logits − max ≤ 0).
let exp (src: float[]) (so: int) (dst: float[]) (dO: int) (count: int) = mapRun expV src so dst dO count

// ---- partial vectors, for the cell's elementwise work in Lstm ------------------------------------

/// Four values at a[o ..], or the `valid` first of them and zeros.
let inline loadPart (a: float[]) (o: int) (valid: int) =
    if valid = 4 then Vector256.LoadUnsafe(&a.[o])
    else Vector256.Create((if valid > 0 then a.[o] else 0.0), (if valid > 1 then a.[o + 1] else 0.0), (if valid > 2 then a.[o + 2] else 0.0), 0.0)

/// Stores the `valid` first lanes of v at a[o ..].
let inline storePart (v: Vector256<float>) (a: float[]) (o: int) (valid: int) =
    if valid = 4 then Vector256.StoreUnsafe(v, &a.[o])
    else
        for l in 0 .. valid - 1 do
            a.[o + l] <- v.GetElement l
