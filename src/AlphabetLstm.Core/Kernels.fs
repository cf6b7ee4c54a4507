/// The two dense products the LSTM's hot loops are made of, on flat row-major arrays.
///
///     gemmNN:  C (m, n) += A (m, p) · B (p, n)      B's rows contiguous: vectorised along n
///     gemmNT:  C (m, n) += A (m, p) · Bᵀ             A's and B's rows contiguous: dots along p
///
/// Not a general BLAS: no α, β or transposed C; callers pass offsets and leading dimensions into
/// arrays they own. What they promise is a fixed summation order, so results depend neither on the
/// tile a row falls in, nor on the batch size, nor on the machine's vector width:
///   - gemmNN adds the p products into C(i, j) one after another, q = 0, 1, …, p−1, each with a
///     fused multiply-add;
///   - gemmNT sums q ≡ l (mod 4) into lane l with fused multiply-adds, adds the lanes as
///     (l0 + l1) + (l2 + l3), then the p mod 4 last products one after another, then adds that sum to C.
/// Vector256 falls back to the same per-lane arithmetic where the hardware has no 256-bit vectors.
module internal AlphabetLstm.Core.Kernels

open System
open System.Runtime.Intrinsics

let inline private load (a: float[]) (i: int) = Vector256.LoadUnsafe(&a.[i])
let inline private store (v: Vector256<float>) (a: float[]) (i: int) = Vector256.StoreUnsafe(v, &a.[i])
let inline private fma (a: Vector256<float>) (b: Vector256<float>) (c: Vector256<float>) = Vector256.FusedMultiplyAdd(a, b, c)
let inline private splat (x: float) = Vector256.Create x
let inline private hsum (v: Vector256<float>) = (v.GetElement 0 + v.GetElement 1) + (v.GetElement 2 + v.GetElement 3)

/// Vector loads read 4 elements from an index the array bounds-checks only at its first: check
/// the whole extent of every operand once, up front, so no load or store can leave its array.
let private checkExtent (name: string) (a: float[]) (offset: int) (last: int) =
    if offset < 0 || offset + last >= a.Length then
        invalidArg name (sprintf "%s: a product would read index %d of an array of %d" name (offset + last) a.Length)

/// C (m, n) += A (m, p) · B (p, n).  A(i, q) = a.[ao + i·ars + q·acs] (any strides, so Aᵀ is free);
/// B(q, j) = b.[bo + q·ldb + j]; C(i, j) = c.[co + i·ldc + j].
let gemmNN (m: int) (n: int) (p: int)
           (a: float[]) (ao: int) (ars: int) (acs: int)
           (b: float[]) (bo: int) (ldb: int)
           (c: float[]) (co: int) (ldc: int) =
    if m > 0 && n > 0 && p > 0 then
        checkExtent "A" a ao ((m - 1) * ars + (p - 1) * acs)
        checkExtent "B" b bo ((p - 1) * ldb + n - 1)
        checkExtent "C" c co ((m - 1) * ldc + n - 1)
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
                for q in 0 .. p - 1 do
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
                for q in 0 .. p - 1 do
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
                for q in 0 .. p - 1 do
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
                for q in 0 .. p - 1 do
                    c0 <- fma (splat a.[ai + q * acs]) (load b (bo + q * ldb + j)) c0
                store c0 c (ci + j)
                j <- j + 4
            i <- i + 1
        // The last n mod 4 columns, element by element in the same order.
        for i in 0 .. m - 1 do
            for j in n4 .. n - 1 do
                let mutable s = c.[co + i * ldc + j]
                for q in 0 .. p - 1 do
                    s <- Math.FusedMultiplyAdd(a.[ao + i * ars + q * acs], b.[bo + q * ldb + j], s)
                c.[co + i * ldc + j] <- s

/// The tail and the final addition shared by every gemmNT tile: C(i, j) += lanes + Σ tail.
let inline private finishDot (lanes: Vector256<float>) (a: float[]) (ai: int) (b: float[]) (bj: int) (p4: int) (p: int) (c: float[]) (cij: int) =
    let mutable s = hsum lanes
    for q in p4 .. p - 1 do
        s <- Math.FusedMultiplyAdd(a.[ai + q], b.[bj + q], s)
    c.[cij] <- c.[cij] + s

/// C (m, n) += A (m, p) · Bᵀ, where B is (n, p).  A(i, q) = a.[ao + i·lda + q];
/// B(j, q) = b.[bo + j·ldb + q]; C(i, j) = c.[co + i·ldc + j].
let gemmNT (m: int) (n: int) (p: int)
           (a: float[]) (ao: int) (lda: int)
           (b: float[]) (bo: int) (ldb: int)
           (c: float[]) (co: int) (ldc: int) =
    if m > 0 && n > 0 && p > 0 then
        checkExtent "A" a ao ((m - 1) * lda + p - 1)
        checkExtent "B" b bo ((n - 1) * ldb + p - 1)
        checkExtent "C" c co ((m - 1) * ldc + n - 1)
        let p4, n4 = p - p % 4, n - n % 4
        let mutable i = 0
        // Two rows × four columns: eight dots at once, each A and B vector loaded once per step.
        while i + 2 <= m do
            let a0, a1 = ao + i * lda, ao + (i + 1) * lda
            let mutable j = 0
            while j < n4 do
                let b0, b1, b2, b3 = bo + j * ldb, bo + (j + 1) * ldb, bo + (j + 2) * ldb, bo + (j + 3) * ldb
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
                let c0, c1 = co + i * ldc + j, co + (i + 1) * ldc + j
                finishDot s00 a a0 b b0 p4 p c c0
                finishDot s01 a a0 b b1 p4 p c (c0 + 1)
                finishDot s02 a a0 b b2 p4 p c (c0 + 2)
                finishDot s03 a a0 b b3 p4 p c (c0 + 3)
                finishDot s10 a a1 b b0 p4 p c c1
                finishDot s11 a a1 b b1 p4 p c (c1 + 1)
                finishDot s12 a a1 b b2 p4 p c (c1 + 2)
                finishDot s13 a a1 b b3 p4 p c (c1 + 3)
                j <- j + 4
            i <- i + 2
        // The last row (m odd): one row × four columns.
        if i < m then
            let a0 = ao + i * lda
            let mutable j = 0
            while j < n4 do
                let b0, b1, b2, b3 = bo + j * ldb, bo + (j + 1) * ldb, bo + (j + 2) * ldb, bo + (j + 3) * ldb
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
                let c0 = co + i * ldc + j
                finishDot s0 a a0 b b0 p4 p c c0
                finishDot s1 a a0 b b1 p4 p c (c0 + 1)
                finishDot s2 a a0 b b2 p4 p c (c0 + 2)
                finishDot s3 a a0 b b3 p4 p c (c0 + 3)
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
