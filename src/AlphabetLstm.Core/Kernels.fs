/// The two dense products the LSTM's hot loops are made of, on flat row-major arrays.
///
///     gemmNN:  C (m, n) += A (m, p) · B (p, n)      B's rows contiguous: vectorised along n
///     gemmNT:  C (m, n) += A (m, p) · Bᵀ             A's and B's rows contiguous: dots along p
///     gemmTNRows: C (m, n) += Σ_q a_rᵀ b_r over listed rows r   blocked and packed: weight gradients
///
/// Not a general BLAS: no α, β or transposed C; callers pass offsets and leading dimensions into
/// arrays they own. What they promise is a fixed summation order, so results depend neither on the
/// tile a row falls in, nor on the batch size, nor on the machine's vector width:
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
let inline private load8 (a: float[]) (i: int) = Vector512.LoadUnsafe(&a.[i])
let inline private store8 (v: Vector512<float>) (a: float[]) (i: int) = Vector512.StoreUnsafe(v, &a.[i])
let inline private fma8 (a: Vector512<float>) (b: Vector512<float>) (c: Vector512<float>) = Vector512.FusedMultiplyAdd(a, b, c)
let inline private hsum (v: Vector256<float>) = (v.GetElement 0 + v.GetElement 1) + (v.GetElement 2 + v.GetElement 3)

/// Vector loads read 4 elements from an index the array bounds-checks only at its first: check
/// the whole extent of every operand once, up front, so no load or store can leave its array.
/// The operand spans offset + i·rowStride + q·colStride + [0, width) for i < rows, q < cols.
let private checkExtent (name: string) (a: float[]) (offset: int) (rows: int) (rowStride: int) (cols: int) (colStride: int) (width: int) =
    let lo = offset + min 0 ((rows - 1) * rowStride) + min 0 ((cols - 1) * colStride)
    let hi = offset + max 0 ((rows - 1) * rowStride) + max 0 ((cols - 1) * colStride) + width - 1
    if lo < 0 || hi >= a.Length then
        invalidArg name (sprintf "%s: a product would read indices %d..%d of an array of %d" name lo hi a.Length)

/// The products q0 ≤ q < q1 of gemmNN, added into C in that order.
let private gemmNNPanel (m: int) (n: int) (q0: int) (q1: int)
                        (a: float[]) (ao: int) (ars: int) (acs: int)
                        (b: float[]) (bo: int) (ldb: int)
                        (c: float[]) (co: int) (ldc: int) =
    let n16, n4 = n - n % 16, n - n % 4
    let mutable i = 0
    // Four rows at a time: each B vector loaded once serves four rows.
    while i + 4 <= m do
        let a0, a1, a2, a3 = ao + i * ars, ao + (i + 1) * ars, ao + (i + 2) * ars, ao + (i + 3) * ars
        let c0, c1, c2, c3 = co + i * ldc, co + (i + 1) * ldc, co + (i + 2) * ldc, co + (i + 3) * ldc
        let mutable j = 0
        while j < n16 do
            // A 4 × 16 tile of C in sixteen registers.
            let mutable c00 = load c (c0 + j)
            let mutable c01 = load c (c0 + j + 4)
            let mutable c02 = load c (c0 + j + 8)
            let mutable c03 = load c (c0 + j + 12)
            let mutable c10 = load c (c1 + j)
            let mutable c11 = load c (c1 + j + 4)
            let mutable c12 = load c (c1 + j + 8)
            let mutable c13 = load c (c1 + j + 12)
            let mutable c20 = load c (c2 + j)
            let mutable c21 = load c (c2 + j + 4)
            let mutable c22 = load c (c2 + j + 8)
            let mutable c23 = load c (c2 + j + 12)
            let mutable c30 = load c (c3 + j)
            let mutable c31 = load c (c3 + j + 4)
            let mutable c32 = load c (c3 + j + 8)
            let mutable c33 = load c (c3 + j + 12)
            for q in q0 .. q1 - 1 do
                let bq = bo + q * ldb + j
                let b0, b1, b2, b3 = load b bq, load b (bq + 4), load b (bq + 8), load b (bq + 12)
                let qa = q * acs
                let x = splat a.[a0 + qa]
                c00 <- fma x b0 c00; c01 <- fma x b1 c01; c02 <- fma x b2 c02; c03 <- fma x b3 c03
                let x = splat a.[a1 + qa]
                c10 <- fma x b0 c10; c11 <- fma x b1 c11; c12 <- fma x b2 c12; c13 <- fma x b3 c13
                let x = splat a.[a2 + qa]
                c20 <- fma x b0 c20; c21 <- fma x b1 c21; c22 <- fma x b2 c22; c23 <- fma x b3 c23
                let x = splat a.[a3 + qa]
                c30 <- fma x b0 c30; c31 <- fma x b1 c31; c32 <- fma x b2 c32; c33 <- fma x b3 c33
            store c00 c (c0 + j); store c01 c (c0 + j + 4); store c02 c (c0 + j + 8); store c03 c (c0 + j + 12)
            store c10 c (c1 + j); store c11 c (c1 + j + 4); store c12 c (c1 + j + 8); store c13 c (c1 + j + 12)
            store c20 c (c2 + j); store c21 c (c2 + j + 4); store c22 c (c2 + j + 8); store c23 c (c2 + j + 12)
            store c30 c (c3 + j); store c31 c (c3 + j + 4); store c32 c (c3 + j + 8); store c33 c (c3 + j + 12)
            j <- j + 16
        while j < n4 do
            let mutable c00 = load c (c0 + j)
            let mutable c10 = load c (c1 + j)
            let mutable c20 = load c (c2 + j)
            let mutable c30 = load c (c3 + j)
            for q in q0 .. q1 - 1 do
                let b0 = load b (bo + q * ldb + j)
                let qa = q * acs
                c00 <- fma (splat a.[a0 + qa]) b0 c00
                c10 <- fma (splat a.[a1 + qa]) b0 c10
                c20 <- fma (splat a.[a2 + qa]) b0 c20
                c30 <- fma (splat a.[a3 + qa]) b0 c30
            store c00 c (c0 + j); store c10 c (c1 + j); store c20 c (c2 + j); store c30 c (c3 + j)
            j <- j + 4
        i <- i + 4
    // The last m mod 4 rows, one at a time.
    while i < m do
        let ai, ci = ao + i * ars, co + i * ldc
        let mutable j = 0
        while j < n16 do
            let mutable c0 = load c (ci + j)
            let mutable c1 = load c (ci + j + 4)
            let mutable c2 = load c (ci + j + 8)
            let mutable c3 = load c (ci + j + 12)
            for q in q0 .. q1 - 1 do
                let bq = bo + q * ldb + j
                let x = splat a.[ai + q * acs]
                c0 <- fma x (load b bq) c0
                c1 <- fma x (load b (bq + 4)) c1
                c2 <- fma x (load b (bq + 8)) c2
                c3 <- fma x (load b (bq + 12)) c3
            store c0 c (ci + j); store c1 c (ci + j + 4); store c2 c (ci + j + 8); store c3 c (ci + j + 12)
            j <- j + 16
        while j < n4 do
            let mutable c0 = load c (ci + j)
            for q in q0 .. q1 - 1 do
                c0 <- fma (splat a.[ai + q * acs]) (load b (bo + q * ldb + j)) c0
            store c0 c (ci + j)
            j <- j + 4
        i <- i + 1
    // The last n mod 4 columns, element by element in the same order.
    for i in 0 .. m - 1 do
        for j in n4 .. n - 1 do
            let mutable s = c.[co + i * ldc + j]
            for q in q0 .. q1 - 1 do
                s <- Math.FusedMultiplyAdd(a.[ao + i * ars + q * acs], b.[bo + q * ldb + j], s)
            c.[co + i * ldc + j] <- s


/// How many products one panel of gemmNN adds before moving on: its rows of B (KC × n) then stay in
/// cache while every row of A uses them. C is reloaded once per panel; the order of the additions
/// into each C(i, j) is unchanged.
let private KC = 256

/// C (m, n) += A (m, p) · B (p, n).  A(i, q) = a.[ao + i·ars + q·acs] (any strides, so Aᵀ is free);
/// B(q, j) = b.[bo + q·ldb + j]; C(i, j) = c.[co + i·ldc + j]. Strides may be negative (to walk
/// rows backwards).
let gemmNN (m: int) (n: int) (p: int)
           (a: float[]) (ao: int) (ars: int) (acs: int)
           (b: float[]) (bo: int) (ldb: int)
           (c: float[]) (co: int) (ldc: int) =
    if m > 0 && n > 0 && p > 0 then
        checkExtent "A" a ao m ars p acs 1
        checkExtent "B" b bo p ldb 1 0 n
        checkExtent "C" c co m ldc 1 0 n
        let mutable q0 = 0
        while q0 < p do
            let q1 = min p (q0 + KC)
            gemmNNPanel m n q0 q1 a ao ars acs b bo ldb c co ldc
            q0 <- q1

/// Copies the first n − n mod 16 columns of B (p, n) into `dst` tile by tile: for each block of 16
/// columns, its p rows one after another (16·p contiguous values). A product that reuses one B many
/// times (U, across the steps of BPTT) then reads it as a stream instead of rows 4 KB apart.
let packColumns16 (p: int) (n: int) (b: float[]) (bo: int) (ldb: int) (dst: float[]) =
    let n16 = n - n % 16
    if p > 0 && n16 > 0 then
        checkExtent "B" b bo p ldb 1 0 n16
        checkExtent "packed B" dst 0 1 0 1 0 (p * n16)
        for jt in 0 .. n16 / 16 - 1 do
            for q in 0 .. p - 1 do
                let s, d = bo + q * ldb + jt * 16, (jt * p + q) * 16
                store (load b s) dst d; store (load b (s + 4)) dst (d + 4)
                store (load b (s + 8)) dst (d + 8); store (load b (s + 12)) dst (d + 12)

/// gemmNN with B given packed by `packColumns16` (its first n − n mod 16 columns) and also as it
/// is (for the rest). The same additions in the same order as gemmNN, so the same bits.
let gemmNNPacked (m: int) (n: int) (p: int)
                 (a: float[]) (ao: int) (ars: int) (acs: int)
                 (packed: float[]) (b: float[]) (bo: int) (ldb: int)
                 (c: float[]) (co: int) (ldc: int) =
    let n16 = n - n % 16
    if m > 0 && n16 > 0 && p > 0 then
        checkExtent "A" a ao m ars p acs 1
        checkExtent "packed B" packed 0 1 0 1 0 (p * n16)
        checkExtent "C" c co m ldc 1 0 n16
        for jt in 0 .. n16 / 16 - 1 do
            let j = jt * 16
            let mutable i = 0
            // With 512-bit vectors (and their 32 registers): eight rows × 16 columns in sixteen
            // registers, each packed row of B loaded once for eight rows. Per lane the same FMAs.
            if Vector512.IsHardwareAccelerated then
                while i + 8 <= m do
                    let ci = co + i * ldc + j
                    let mutable c0 = load8 c ci
                    let mutable c0' = load8 c (ci + 8)
                    let mutable c1 = load8 c (ci + ldc)
                    let mutable c1' = load8 c (ci + ldc + 8)
                    let mutable c2 = load8 c (ci + 2 * ldc)
                    let mutable c2' = load8 c (ci + 2 * ldc + 8)
                    let mutable c3 = load8 c (ci + 3 * ldc)
                    let mutable c3' = load8 c (ci + 3 * ldc + 8)
                    let mutable c4 = load8 c (ci + 4 * ldc)
                    let mutable c4' = load8 c (ci + 4 * ldc + 8)
                    let mutable c5 = load8 c (ci + 5 * ldc)
                    let mutable c5' = load8 c (ci + 5 * ldc + 8)
                    let mutable c6 = load8 c (ci + 6 * ldc)
                    let mutable c6' = load8 c (ci + 6 * ldc + 8)
                    let mutable c7 = load8 c (ci + 7 * ldc)
                    let mutable c7' = load8 c (ci + 7 * ldc + 8)
                    let mutable bq = jt * p * 16
                    let mutable qa = ao + i * ars
                    for _ in 0 .. p - 1 do
                        let b0, b1 = load8 packed bq, load8 packed (bq + 8)
                        let x = Vector512.Create a.[qa]
                        c0 <- fma8 x b0 c0; c0' <- fma8 x b1 c0'
                        let x = Vector512.Create a.[qa + ars]
                        c1 <- fma8 x b0 c1; c1' <- fma8 x b1 c1'
                        let x = Vector512.Create a.[qa + 2 * ars]
                        c2 <- fma8 x b0 c2; c2' <- fma8 x b1 c2'
                        let x = Vector512.Create a.[qa + 3 * ars]
                        c3 <- fma8 x b0 c3; c3' <- fma8 x b1 c3'
                        let x = Vector512.Create a.[qa + 4 * ars]
                        c4 <- fma8 x b0 c4; c4' <- fma8 x b1 c4'
                        let x = Vector512.Create a.[qa + 5 * ars]
                        c5 <- fma8 x b0 c5; c5' <- fma8 x b1 c5'
                        let x = Vector512.Create a.[qa + 6 * ars]
                        c6 <- fma8 x b0 c6; c6' <- fma8 x b1 c6'
                        let x = Vector512.Create a.[qa + 7 * ars]
                        c7 <- fma8 x b0 c7; c7' <- fma8 x b1 c7'
                        bq <- bq + 16
                        qa <- qa + acs
                    store8 c0 c ci; store8 c0' c (ci + 8)
                    store8 c1 c (ci + ldc); store8 c1' c (ci + ldc + 8)
                    store8 c2 c (ci + 2 * ldc); store8 c2' c (ci + 2 * ldc + 8)
                    store8 c3 c (ci + 3 * ldc); store8 c3' c (ci + 3 * ldc + 8)
                    store8 c4 c (ci + 4 * ldc); store8 c4' c (ci + 4 * ldc + 8)
                    store8 c5 c (ci + 5 * ldc); store8 c5' c (ci + 5 * ldc + 8)
                    store8 c6 c (ci + 6 * ldc); store8 c6' c (ci + 6 * ldc + 8)
                    store8 c7 c (ci + 7 * ldc); store8 c7' c (ci + 7 * ldc + 8)
                    i <- i + 8
            while i + 4 <= m do
                let a0, a1, a2, a3 = ao + i * ars, ao + (i + 1) * ars, ao + (i + 2) * ars, ao + (i + 3) * ars
                let c0, c1, c2, c3 = co + i * ldc + j, co + (i + 1) * ldc + j, co + (i + 2) * ldc + j, co + (i + 3) * ldc + j
                let mutable c00 = load c c0
                let mutable c01 = load c (c0 + 4)
                let mutable c02 = load c (c0 + 8)
                let mutable c03 = load c (c0 + 12)
                let mutable c10 = load c c1
                let mutable c11 = load c (c1 + 4)
                let mutable c12 = load c (c1 + 8)
                let mutable c13 = load c (c1 + 12)
                let mutable c20 = load c c2
                let mutable c21 = load c (c2 + 4)
                let mutable c22 = load c (c2 + 8)
                let mutable c23 = load c (c2 + 12)
                let mutable c30 = load c c3
                let mutable c31 = load c (c3 + 4)
                let mutable c32 = load c (c3 + 8)
                let mutable c33 = load c (c3 + 12)
                let mutable bq = jt * p * 16
                for q in 0 .. p - 1 do
                    let b0, b1, b2, b3 = load packed bq, load packed (bq + 4), load packed (bq + 8), load packed (bq + 12)
                    let qa = q * acs
                    let x = splat a.[a0 + qa]
                    c00 <- fma x b0 c00; c01 <- fma x b1 c01; c02 <- fma x b2 c02; c03 <- fma x b3 c03
                    let x = splat a.[a1 + qa]
                    c10 <- fma x b0 c10; c11 <- fma x b1 c11; c12 <- fma x b2 c12; c13 <- fma x b3 c13
                    let x = splat a.[a2 + qa]
                    c20 <- fma x b0 c20; c21 <- fma x b1 c21; c22 <- fma x b2 c22; c23 <- fma x b3 c23
                    let x = splat a.[a3 + qa]
                    c30 <- fma x b0 c30; c31 <- fma x b1 c31; c32 <- fma x b2 c32; c33 <- fma x b3 c33
                    bq <- bq + 16
                store c00 c c0; store c01 c (c0 + 4); store c02 c (c0 + 8); store c03 c (c0 + 12)
                store c10 c c1; store c11 c (c1 + 4); store c12 c (c1 + 8); store c13 c (c1 + 12)
                store c20 c c2; store c21 c (c2 + 4); store c22 c (c2 + 8); store c23 c (c2 + 12)
                store c30 c c3; store c31 c (c3 + 4); store c32 c (c3 + 8); store c33 c (c3 + 12)
                i <- i + 4
            while i < m do
                let ai, ci = ao + i * ars, co + i * ldc + j
                let mutable c0 = load c ci
                let mutable c1 = load c (ci + 4)
                let mutable c2 = load c (ci + 8)
                let mutable c3 = load c (ci + 12)
                let mutable bq = jt * p * 16
                for q in 0 .. p - 1 do
                    let x = splat a.[ai + q * acs]
                    c0 <- fma x (load packed bq) c0
                    c1 <- fma x (load packed (bq + 4)) c1
                    c2 <- fma x (load packed (bq + 8)) c2
                    c3 <- fma x (load packed (bq + 12)) c3
                    bq <- bq + 16
                store c0 c ci; store c1 c (ci + 4); store c2 c (ci + 8); store c3 c (ci + 12)
                i <- i + 1
    // The last n mod 16 columns from B as it is.
    if n16 < n then gemmNN m (n - n16) p a ao ars acs b (bo + n16) ldb c (co + n16) ldc

/// The tail and the final addition shared by every gemmNT tile: C(i, j) += lanes + Σ tail.
let inline private finishDot (lanes: Vector256<float>) (a: float[]) (ai: int) (b: float[]) (bj: int) (p4: int) (p: int) (c: float[]) (cij: int) =
    let mutable s = hsum lanes
    for q in p4 .. p - 1 do
        s <- Math.FusedMultiplyAdd(a.[ai + q], b.[bj + q], s)
    c.[cij] <- c.[cij] + s

/// Four dots finished at once, C(i, j .. j+3) += lanes: the same (l0 + l1) + (l2 + l3) per dot as
/// `finishDot`, computed as a 4 × 4 transpose-and-add so a short dot does not pay four extracts.
/// Only when p is a multiple of 4 (no tail) and AVX is there; otherwise each dot is finished alone.
let inline private finishFour (s0: Vector256<float>) (s1: Vector256<float>) (s2: Vector256<float>) (s3: Vector256<float>)
                              (a: float[]) (ai: int) (b: float[]) (bj: int) (ldb: int) (p4: int) (p: int) (c: float[]) (cij: int) =
    if p4 = p && Avx.IsSupported then
        // x = [s0.0+s0.1, s1.0+s1.1, s0.2+s0.3, s1.2+s1.3],  y = the same for s2, s3
        let x = Avx.Add(Avx.UnpackLow(s0, s1), Avx.UnpackHigh(s0, s1))
        let y = Avx.Add(Avx.UnpackLow(s2, s3), Avx.UnpackHigh(s2, s3))
        // [(s0.0+s0.1) + (s0.2+s0.3), … , (s3.0+s3.1) + (s3.2+s3.3)]
        let sums = Avx.Add(Avx.Permute2x128(x, y, 0x20uy), Avx.Permute2x128(x, y, 0x31uy))
        store (load c cij + sums) c cij
    else
        finishDot s0 a ai b bj p4 p c cij
        finishDot s1 a ai b (bj + ldb) p4 p c (cij + 1)
        finishDot s2 a ai b (bj + 2 * ldb) p4 p c (cij + 2)
        finishDot s3 a ai b (bj + 3 * ldb) p4 p c (cij + 3)

/// C (m, n) += A (m, p) · Bᵀ, where B is (n, p).  A(i, q) = a.[ao + i·lda + q];
/// B(j, q) = b.[bo + j·ldb + q]; C(i, j) = c.[co + i·ldc + j].
let gemmNT (m: int) (n: int) (p: int)
           (a: float[]) (ao: int) (lda: int)
           (b: float[]) (bo: int) (ldb: int)
           (c: float[]) (co: int) (ldc: int) =
    if m > 0 && n > 0 && p > 0 then
        checkExtent "A" a ao m lda 1 0 p
        checkExtent "B" b bo n ldb 1 0 p
        checkExtent "C" c co m ldc 1 0 n
        let p4, n4, m2, m4 = p - p % 4, n - n % 4, m - m % 2, m - m % 4
        // Four columns at a time, whose rows of B stay in cache while every row of A meets them.
        let mutable j = 0
        while j < n4 do
            let b0, b1, b2, b3 = bo + j * ldb, bo + (j + 1) * ldb, bo + (j + 2) * ldb, bo + (j + 3) * ldb
            // Four rows × four columns: sixteen dots at once, eight loads for sixteen FMAs. Each dot's
            // lanes are the same as in the smaller tiles below, so the tile a row falls in changes no bit.
            let mutable i = 0
            while i < m4 do
                let a0, a1, a2, a3 = ao + i * lda, ao + (i + 1) * lda, ao + (i + 2) * lda, ao + (i + 3) * lda
                let mutable s00 = Vector256<float>.Zero
                let mutable s01 = Vector256<float>.Zero
                let mutable s02 = Vector256<float>.Zero
                let mutable s03 = Vector256<float>.Zero
                let mutable s10 = Vector256<float>.Zero
                let mutable s11 = Vector256<float>.Zero
                let mutable s12 = Vector256<float>.Zero
                let mutable s13 = Vector256<float>.Zero
                let mutable s20 = Vector256<float>.Zero
                let mutable s21 = Vector256<float>.Zero
                let mutable s22 = Vector256<float>.Zero
                let mutable s23 = Vector256<float>.Zero
                let mutable s30 = Vector256<float>.Zero
                let mutable s31 = Vector256<float>.Zero
                let mutable s32 = Vector256<float>.Zero
                let mutable s33 = Vector256<float>.Zero
                let mutable q = 0
                while q < p4 do
                    let x0, x1, x2, x3 = load a (a0 + q), load a (a1 + q), load a (a2 + q), load a (a3 + q)
                    let y = load b (b0 + q)
                    s00 <- fma x0 y s00; s10 <- fma x1 y s10; s20 <- fma x2 y s20; s30 <- fma x3 y s30
                    let y = load b (b1 + q)
                    s01 <- fma x0 y s01; s11 <- fma x1 y s11; s21 <- fma x2 y s21; s31 <- fma x3 y s31
                    let y = load b (b2 + q)
                    s02 <- fma x0 y s02; s12 <- fma x1 y s12; s22 <- fma x2 y s22; s32 <- fma x3 y s32
                    let y = load b (b3 + q)
                    s03 <- fma x0 y s03; s13 <- fma x1 y s13; s23 <- fma x2 y s23; s33 <- fma x3 y s33
                    q <- q + 4
                finishFour s00 s01 s02 s03 a a0 b b0 ldb p4 p c (co + i * ldc + j)
                finishFour s10 s11 s12 s13 a a1 b b0 ldb p4 p c (co + (i + 1) * ldc + j)
                finishFour s20 s21 s22 s23 a a2 b b0 ldb p4 p c (co + (i + 2) * ldc + j)
                finishFour s30 s31 s32 s33 a a3 b b0 ldb p4 p c (co + (i + 3) * ldc + j)
                i <- i + 4
            // Two rows × four columns: eight dots at once, each A and B vector loaded once per step.
            while i < m2 do
                let a0, a1 = ao + i * lda, ao + (i + 1) * lda
                let mutable s00 = Vector256<float>.Zero
                let mutable s01 = Vector256<float>.Zero
                let mutable s02 = Vector256<float>.Zero
                let mutable s03 = Vector256<float>.Zero
                let mutable s10 = Vector256<float>.Zero
                let mutable s11 = Vector256<float>.Zero
                let mutable s12 = Vector256<float>.Zero
                let mutable s13 = Vector256<float>.Zero
                let mutable q = 0
                while q < p4 do
                    let x0, x1 = load a (a0 + q), load a (a1 + q)
                    let y = load b (b0 + q)
                    s00 <- fma x0 y s00; s10 <- fma x1 y s10
                    let y = load b (b1 + q)
                    s01 <- fma x0 y s01; s11 <- fma x1 y s11
                    let y = load b (b2 + q)
                    s02 <- fma x0 y s02; s12 <- fma x1 y s12
                    let y = load b (b3 + q)
                    s03 <- fma x0 y s03; s13 <- fma x1 y s13
                    q <- q + 4
                finishFour s00 s01 s02 s03 a a0 b b0 ldb p4 p c (co + i * ldc + j)
                finishFour s10 s11 s12 s13 a a1 b b0 ldb p4 p c (co + (i + 1) * ldc + j)
                i <- i + 2
            // The last row (m odd): one row × four columns.
            if m2 < m then
                let a0 = ao + m2 * lda
                let mutable s0 = Vector256<float>.Zero
                let mutable s1 = Vector256<float>.Zero
                let mutable s2 = Vector256<float>.Zero
                let mutable s3 = Vector256<float>.Zero
                let mutable q = 0
                while q < p4 do
                    let x = load a (a0 + q)
                    s0 <- fma x (load b (b0 + q)) s0
                    s1 <- fma x (load b (b1 + q)) s1
                    s2 <- fma x (load b (b2 + q)) s2
                    s3 <- fma x (load b (b3 + q)) s3
                    q <- q + 4
                finishFour s0 s1 s2 s3 a a0 b b0 ldb p4 p c (co + m2 * ldc + j)
            j <- j + 4
        // The last n mod 4 columns, one dot at a time in the same order.
        for i in 0 .. m - 1 do
            for j in n4 .. n - 1 do
                let ai, bj = ao + i * lda, bo + j * ldb
                let mutable s = Vector256<float>.Zero
                let mutable q = 0
                while q < p4 do
                    s <- fma (load a (ai + q)) (load b (bj + q)) s
                    q <- q + 4
                finishDot s a ai b bj p4 p c (co + i * ldc + j)

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

/// The register tile: C (MR × NR) at c.[co + r·ldc + j] += Σ_{q < kc} Ap(r, q) · Bp(q, j), where the
/// micro-panels hold Ap(·, q) at ap.[aq + q·MR + r] and Bp(q, ·) at bp.[bq + q·NR + j].
let private microTile (kc: int) (ap: float[]) (aq: int) (bp: float[]) (bq: int) (c: float[]) (co: int) (ldc: int) =
    let c0, c1, c2, c3 = co, co + ldc, co + 2 * ldc, co + 3 * ldc
    let mutable c00 = load c c0
    let mutable c01 = load c (c0 + 4)
    let mutable c02 = load c (c0 + 8)
    let mutable c03 = load c (c0 + 12)
    let mutable c10 = load c c1
    let mutable c11 = load c (c1 + 4)
    let mutable c12 = load c (c1 + 8)
    let mutable c13 = load c (c1 + 12)
    let mutable c20 = load c c2
    let mutable c21 = load c (c2 + 4)
    let mutable c22 = load c (c2 + 8)
    let mutable c23 = load c (c2 + 12)
    let mutable c30 = load c c3
    let mutable c31 = load c (c3 + 4)
    let mutable c32 = load c (c3 + 8)
    let mutable c33 = load c (c3 + 12)
    let mutable ai = aq
    let mutable bi = bq
    for _ in 1 .. kc do
        let b0, b1, b2, b3 = load bp bi, load bp (bi + 4), load bp (bi + 8), load bp (bi + 12)
        let x = splat ap.[ai]
        c00 <- fma x b0 c00; c01 <- fma x b1 c01; c02 <- fma x b2 c02; c03 <- fma x b3 c03
        let x = splat ap.[ai + 1]
        c10 <- fma x b0 c10; c11 <- fma x b1 c11; c12 <- fma x b2 c12; c13 <- fma x b3 c13
        let x = splat ap.[ai + 2]
        c20 <- fma x b0 c20; c21 <- fma x b1 c21; c22 <- fma x b2 c22; c23 <- fma x b3 c23
        let x = splat ap.[ai + 3]
        c30 <- fma x b0 c30; c31 <- fma x b1 c31; c32 <- fma x b2 c32; c33 <- fma x b3 c33
        ai <- ai + MR
        bi <- bi + NR
    store c00 c c0; store c01 c (c0 + 4); store c02 c (c0 + 8); store c03 c (c0 + 12)
    store c10 c c1; store c11 c (c1 + 4); store c12 c (c1 + 8); store c13 c (c1 + 12)
    store c20 c c2; store c21 c (c2 + 4); store c22 c (c2 + 8); store c23 c (c2 + 12)
    store c30 c c3; store c31 c (c3 + 4); store c32 c (c3 + 8); store c33 c (c3 + 12)

/// Packs the `width` columns col0 .. of the rows rows.[q0 .. q0 + kc − 1] of x (row r at x.[xo + r·ld])
/// into panels `tile` wide: panel k holds, for each q, its `tile` values contiguous (zeros past `width`).
let private packPanels (tile: int) (kc: int) (q0: int) (width: int) (col0: int)
                       (x: float[]) (xo: int) (ld: int) (rows: int[]) (dst: float[]) (d0: int) =
    let panels = (width + tile - 1) / tile
    for k in 0 .. panels - 1 do
        let j0 = k * tile
        let w = min tile (width - j0)
        let pd = d0 + k * kc * tile
        for q in 0 .. kc - 1 do
            let s = xo + rows.[q0 + q] * ld + col0 + j0
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

/// C (m, n) += Aᵀ B over the listed rows: C(i, j) += Σ_q a.[ao + rows.[q]·lda + i] · b.[bo + rows.[q]·ldb + j],
/// q = 0 .. p−1 in that order, one fused multiply-add after another (gemmNN's order). A's and B's rows
/// are contiguous (i, j run along them); C(i, j) = c.[co + i·ldc + j]. `scratch` (blockedScratchLength
/// values) is the caller's: overwritten, never read before written.
let gemmTNRows (m: int) (n: int) (p: int)
               (a: float[]) (ao: int) (lda: int)
               (b: float[]) (bo: int) (ldb: int) (rows: int[])
               (c: float[]) (co: int) (ldc: int) (scratch: float[]) =
    if m > 0 && n > 0 && p > 0 then
        if rows.Length < p then invalidArg "rows" (sprintf "rows lists %d rows, the product needs %d" rows.Length p)
        if scratch.Length < blockedScratchLength then
            invalidArg "scratch" (sprintf "scratch has %d values, the product needs %d" scratch.Length blockedScratchLength)
        for q in 0 .. p - 1 do
            let r = rows.[q]
            if r < 0 then invalidArg "rows" (sprintf "row %d is negative" r)
            checkExtent "A" a (ao + r * lda) 1 0 1 0 m
            checkExtent "B" b (bo + r * ldb) 1 0 1 0 n
        checkExtent "C" c co m ldc 1 0 n
        let bPack, aPack, edge = 0, KCB * NC, KCB * NC + MC * KCB   // offsets into scratch: B block, A block, edge tile
        let mutable jc = 0
        while jc < n do
            let nc = min NC (n - jc)
            let mutable pc = 0
            while pc < p do
                let kc = min KCB (p - pc)
                // B (kc × nc) in NR-wide micro-panels.
                packPanels NR kc pc nc jc b bo ldb rows scratch bPack
                let mutable ic = 0
                while ic < m do
                    let mc = min MC (m - ic)
                    // A's block, read as Aᵀ (mc × kc), in MR-tall micro-panels.
                    packPanels MR kc pc mc ic a ao lda rows scratch aPack
                    let mutable jr = 0
                    while jr < nc do
                        let nr = min NR (nc - jr)
                        let bq = bPack + (jr / NR) * kc * NR
                        let mutable ir = 0
                        while ir < mc do
                            let mr = min MR (mc - ir)
                            let aq = aPack + (ir / MR) * kc * MR
                            let ct = co + (ic + ir) * ldc + jc + jr
                            if mr = MR && nr = NR then microTile kc scratch aq scratch bq c ct ldc
                            else
                                // An edge tile: through a full tile in scratch; the padding is
                                // zeros in the panels and never leaves the tile.
                                Array.Clear(scratch, edge, MR * NR)
                                for r in 0 .. mr - 1 do Array.Copy(c, ct + r * ldc, scratch, edge + r * NR, nr)
                                microTile kc scratch aq scratch bq scratch edge NR
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

// ---- the cell backwards, one row at a time ----------------------------------------------------
// BPTT's elementwise work for one sample, four units per vector. Every operation is the one the
// scalar formula does, in the same order and unfused (.NET never contracts a·b + c into a fused
// multiply-add), so each unit gets the scalar loop's bits. The last H mod 4 units go through the
// same code in a vector padded with zeros, whose extra lanes are never stored.

/// Four values at a[o + k ..], or the `valid` first of them and zeros.
let inline private loadPart (a: float[]) (o: int) (valid: int) =
    if valid = 4 then load a o
    else Vector256.Create((if valid > 0 then a.[o] else 0.0), (if valid > 1 then a.[o + 1] else 0.0), (if valid > 2 then a.[o + 2] else 0.0), 0.0)

/// Stores the `valid` first lanes of v at a[o ..].
let inline private storePart (v: Vector256<float>) (a: float[]) (o: int) (valid: int) =
    if valid = 4 then store v a o
    else
        for l in 0 .. valid - 1 do
            a.[o + l] <- v.GetElement l

/// One sample's step backwards through the elementwise part: from d h', d c' at dH[d ..], dC[d ..]
/// and the activated gates, tanh(c'), c, writes d z at dz[go ..] (i, f, c, o blocks) and d c into dC[d ..].
let cellBackward (h: int) (gates: float[]) (go: int) (tanhC: float[]) (tc: int) (cs: float[]) (prev: int) (dH: float[]) (dC: float[]) (d: int) (dz: float[]) =
    checkExtent "gates" gates go 1 0 1 0 (4 * h)
    checkExtent "d z" dz go 1 0 1 0 (4 * h)
    checkExtent "tanh c'" tanhC tc 1 0 1 0 h
    checkExtent "c" cs prev 1 0 1 0 h
    checkExtent "d h" dH d 1 0 1 0 h
    checkExtent "d c" dC d 1 0 1 0 h
    let one = Vector256.Create 1.0
    let mutable k = 0
    while k < h do
        let valid = min 4 (h - k)
        let i = loadPart gates (go + k) valid
        let f = loadPart gates (go + h + k) valid
        let g = loadPart gates (go + 2 * h + k) valid
        let o = loadPart gates (go + 3 * h + k) valid
        let th = loadPart tanhC (tc + k) valid
        let dh = loadPart dH (d + k) valid
        // h' = o ⊙ tanh(c')
        let dcNext = loadPart dC (d + k) valid + dh * o * (one - th * th)
        storePart (dh * th * o * (one - o)) dz (go + 3 * h + k) valid
        // c' = f ⊙ c + i ⊙ g
        storePart (dcNext * g * i * (one - i)) dz (go + k) valid
        storePart (dcNext * loadPart cs (prev + k) valid * f * (one - f)) dz (go + h + k) valid
        storePart (dcNext * i * (one - g * g)) dz (go + 2 * h + k) valid
        storePart (dcNext * f) dC (d + k) valid
        k <- k + 4
