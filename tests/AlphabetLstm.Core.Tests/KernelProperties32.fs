/// The kernels in float32: the same documented summation order as in float64, checked bit for bit
/// against plain float32 loops over every tile shape (sizes around 1, 8 and 32: a float32 vector has
/// 8 lanes, a register tile 32 columns); the products against float64 within a rounding bound; the
/// activations against the exact functions within a stated number of float32 ulps.
module AlphabetLstm.Core.Tests.KernelProperties32

open System
open Xunit
open AlphabetLstm.Core

let private sizes = [ 1; 2; 3; 7; 8; 9; 17; 31; 32; 33; 65 ]

let private randoms (seed: int) (count: int) =
    let r = Random(seed)
    Array.init count (fun _ -> float32 (r.NextDouble() * 2.0 - 1.0))

let private sameBits (what: string) (expected: float32[]) (actual: float32[]) =
    for k in 0 .. expected.Length - 1 do
        if BitConverter.SingleToInt32Bits expected.[k] <> BitConverter.SingleToInt32Bits actual.[k] then
            failwithf "%s: element %d is %.9g, the reference gives %.9g" what k actual.[k] expected.[k]

/// s + x·y rounded once, in float32.
let private fma32 (x: float32) (y: float32) (s: float32) = MathF.FusedMultiplyAdd(x, y, s)

[<Fact>]
let ``float32 gemmNN adds the products into each element in order, one fused multiply-add after another`` () =
    for m in sizes do
        for n in sizes do
            for p in [ 1; 3; 8; 9; 300 ] do
                // A is read transposed (row stride 1, column stride m) and B's rows backwards.
                let a, b, c0 = randoms 1 (m * p), randoms 2 (p * n), randoms 3 (m * n)
                let c = Array.copy c0
                Kernels.gemmNNOf m n p (Kernels.strided a 0 1 m) (Kernels.rowMajor b ((p - 1) * n) -n) (Kernels.rowMajor c 0 n)
                let expected = Array.copy c0
                for i in 0 .. m - 1 do
                    for j in 0 .. n - 1 do
                        let mutable s = expected.[i * n + j]
                        for q in 0 .. p - 1 do
                            s <- fma32 a.[q * m + i] b.[(p - 1 - q) * n + j] s
                        expected.[i * n + j] <- s
                sameBits (sprintf "gemmNN float32 m=%d n=%d p=%d" m n p) expected c

[<Fact>]
let ``float32 gemmNT sums eight lanes, adds them as a pairwise tree, then the tail, then C`` () =
    for m in sizes do
        for n in sizes do
            for p in sizes do
                let a, b, c0 = randoms 4 (m * p), randoms 5 (n * p), randoms 6 (m * n)
                let c = Array.copy c0
                Kernels.gemmNTOf m n p (Kernels.rowMajor a 0 p) (Kernels.rowMajor b 0 p) (Kernels.rowMajor c 0 n)
                let expected = Array.copy c0
                let p8 = p - p % 8
                for i in 0 .. m - 1 do
                    for j in 0 .. n - 1 do
                        let lane l =
                            let mutable s = 0.0f
                            for q in l .. 8 .. p8 - 1 do
                                s <- fma32 a.[i * p + q] b.[j * p + q] s
                            s
                        let mutable s = ((lane 0 + lane 1) + (lane 2 + lane 3)) + ((lane 4 + lane 5) + (lane 6 + lane 7))
                        for q in p8 .. p - 1 do
                            s <- fma32 a.[i * p + q] b.[j * p + q] s
                        expected.[i * n + j] <- expected.[i * n + j] + s
                sameBits (sprintf "gemmNT float32 m=%d n=%d p=%d" m n p) expected c

[<Fact>]
let ``float32 gemmNN on a packed B (blocks of 32 columns) gives the same bits as on B itself`` () =
    Assert.Equal(32, Kernels.packWidth<float32> ())
    for m in sizes do
        for n in sizes do
            for p in [ 1; 5; 300 ] do
                let a, b, c0 = randoms 8 (m * p), randoms 9 (p * n), randoms 10 (m * n)
                let plain, packed = Array.copy c0, Array.copy c0
                Kernels.gemmNNOf m n p (Kernels.rowMajor a 0 p) (Kernels.rowMajor b 0 n) (Kernels.rowMajor plain 0 n)
                let pack = Array.zeroCreate (Kernels.packedLength<float32> p n)
                Kernels.packColumns p n (Kernels.rowMajor b 0 n) pack
                Kernels.gemmNNPackedOf m n p (Kernels.rowMajor a 0 p) pack (Kernels.rowMajor b 0 n) (Kernels.rowMajor packed 0 n)
                sameBits (sprintf "packed float32 m=%d n=%d p=%d" m n p) plain packed

[<Fact>]
let ``float32 blocked product over listed rows keeps gemmNN's order`` () =
    let r = Random(11)
    let scratch = Array.zeroCreate (Kernels.blockedScratchLengthOf<float32> ())
    // Random shapes around the register tile (4 × 32) and the blocks (64 rows, 512 columns, 256 deep).
    let shapes = [ for _ in 1 .. 30 -> r.Next(1, 140), r.Next(1, 140), r.Next(1, 300) ] @ [ (70, 530, 600); (1, 1, 1); (4, 32, 256) ]
    for (m, n, p) in shapes do
        let stack = p + 3
        let rows = Array.init stack id |> Array.sortBy (fun _ -> r.Next()) |> Array.truncate p
        let lda, ldb, ldc = m + 2, n + 1, n + 3
        let a, b, c0 = randoms (m + 17) (5 + stack * lda), randoms (n + 19) (7 + stack * ldb), randoms (p + 23) (m * ldc)
        let c = Array.copy c0
        Kernels.gemmTNRowsOf m n p (Kernels.rowMajor a 5 lda) (Kernels.rowMajor b 7 ldb) rows (Kernels.rowMajor c 0 ldc) scratch
        let ordered = Array.copy c0
        for i in 0 .. m - 1 do
            for j in 0 .. n - 1 do
                let mutable f = ordered.[i * ldc + j]
                for q in 0 .. p - 1 do
                    f <- fma32 a.[5 + rows.[q] * lda + i] b.[7 + rows.[q] * ldb + j] f
                ordered.[i * ldc + j] <- f
        sameBits (sprintf "gemmTNRows float32 m=%d n=%d p=%d" m n p) ordered c

/// u = 2⁻²⁴, float32's unit roundoff; γ_k = k·u / (1 − k·u) bounds the relative error of a sum of
/// k + 1 terms, each addition rounded once (Higham, Accuracy and Stability, §3.1), whatever the order.
let private gamma (k: int) = let ku = float k * Math.Pow(2.0, -24.0) in ku / (1.0 - ku)

[<Fact>]
let ``float32 products stay within p·u of the exact float64 sum, relative to the sum of magnitudes`` () =
    // A float32 × float32 product is exact in float64 (48 bits of 53), so the float64 sums below are
    // the exact ones to about p·2⁻⁵³: far inside the float32 bound. Every float32 kernel rounds C(i, j)
    // at most p + 1 times (once per fused multiply-add, once per lane or tail addition, once into C),
    // so |C₃₂ − C| ≤ γ_{p+1} · (|C₀| + Σ_q |a_q b_q|).
    let check (what: string) (c32: float32[]) (exact: float[]) (magnitude: float[]) (p: int) =
        for k in 0 .. c32.Length - 1 do
            let err = abs (float c32.[k] - exact.[k])
            if err > gamma (p + 1) * magnitude.[k] then
                failwithf "%s p=%d: element %d is off by %.3g, the bound is %.3g" what p k err (gamma (p + 1) * magnitude.[k])
    for (m, n, p) in [ (9, 33, 1); (17, 65, 8); (33, 31, 300); (8, 64, 2048) ] do
        let a, b, c0 = randoms (m + p) (m * p), randoms (n + p) (p * n), randoms (m + n) (m * n)
        let exact, magnitude = Array.init (m * n) (fun k -> float c0.[k]), Array.init (m * n) (fun k -> abs (float c0.[k]))
        for i in 0 .. m - 1 do
            for j in 0 .. n - 1 do
                for q in 0 .. p - 1 do
                    let ab = float a.[i * p + q] * float b.[q * n + j]
                    exact.[i * n + j] <- exact.[i * n + j] + ab
                    magnitude.[i * n + j] <- magnitude.[i * n + j] + abs ab
        let nn = Array.copy c0
        Kernels.gemmNNOf m n p (Kernels.rowMajor a 0 p) (Kernels.rowMajor b 0 n) (Kernels.rowMajor nn 0 n)
        check "gemmNN" nn exact magnitude p
        // The same product as dots: B transposed into (n, p).
        let bT = Array.init (n * p) (fun k -> b.[(k % p) * n + k / p])
        let nt = Array.copy c0
        Kernels.gemmNTOf m n p (Kernels.rowMajor a 0 p) (Kernels.rowMajor bT 0 p) (Kernels.rowMajor nt 0 n)
        check "gemmNT" nt exact magnitude p

/// Distance from the exact value in float32 ulps: |y − exact| / ulp(exact), ulp(e) = 2^(⌊log₂|e|⌋ − 23)
/// (the spacing of float32s next to e; at least the spacing at the smallest normal).
let private ulps (y: float32) (exact: float) =
    let e = max (abs exact) 1.1754943508222875e-38
    abs (float y - exact) / Math.Pow(2.0, Math.Floor(Math.Log2 e) - 23.0)

let private inputs () =
    let r = Random(7)
    Array.append [| 0.0f; -0.0f; 1e-30f; -1e-6f; 1e-3f; 0.5f; -0.5f; 10.0f; -10.0f; 80.0f; -80.0f |]
                 (Array.init 20001 (fun _ -> float32 ((r.NextDouble() * 2.0 - 1.0) * 40.0)))

let private worst (f: float32[] -> int -> float32[] -> int -> int -> unit) (exact: float -> float) (xs: float32[]) =
    let ys = Array.zeroCreate xs.Length
    f xs 0 ys 0 xs.Length
    Array.init xs.Length (fun k -> ulps ys.[k] (exact (float xs.[k])), xs.[k], ys.[k]) |> Array.maxBy (fun (u, _, _) -> u)

[<Fact>]
let ``float32 exp and sigmoid are within 2 ulps of the exact functions`` () =
    let xs = inputs ()
    for name, f, exact, domain in
        [ "exp", Kernels.expOf, Math.Exp, (fun (x: float32) -> x <= 80.0f && x >= -80.0f)
          "sigmoid", Kernels.sigmoidOf, (fun z -> 1.0 / (1.0 + Math.Exp(-z))), (fun x -> x >= -80.0f) ] do
        let u, x, y = worst f exact (Array.filter domain xs)
        Assert.True(u <= 2.0, sprintf "%s(%.9g) = %.9g is %.2f ulps from %.9g" name x y u (exact (float x)))

[<Fact>]
let ``float32 tanh is within 2 eps relative plus 1 eps absolute of the exact function, eps = 2^-23`` () =
    // tanh = 1 − 2 / (e^{2z} + 1) subtracts from 1: the quotient's rounding (and exp's) is an error
    // of the order of the spacing of float32s near 1, absolute, which no longer shrinks with tanh
    // near 0 (the float64 kernel has the same form of bound with its own eps). 1.2e-7 seen at z = −0.32.
    let eps = Math.Pow(2.0, -23.0)
    let xs = inputs ()
    let ys = Array.zeroCreate xs.Length
    Kernels.tanhOf xs 0 ys 0 xs.Length
    for k in 0 .. xs.Length - 1 do
        let exact = Math.Tanh(float xs.[k])
        let err = abs (float ys.[k] - exact)
        if err > 2.0 * eps * abs exact + eps then
            failwithf "tanh(%.9g) = %.9g, expected %.9g: %.3g off, the bound is %.3g" xs.[k] ys.[k] exact err (2.0 * eps * abs exact + eps)

[<Fact>]
let ``a float32 activation gives an element the same bits wherever it sits in the run, and keeps NaN`` () =
    // Eleven values: one vector of eight, then a tail of three in a padded vector.
    let xs = [| 0.3f; -1.7f; 2.5f; 0.01f; 4.0f; -3.0f; 1.0f; 0.7f; 0.3f; -1.7f; nanf |]
    let ys = Array.zeroCreate xs.Length
    for f in [ Kernels.tanhOf; Kernels.sigmoidOf; Kernels.expOf ] do
        f xs 0 ys 0 xs.Length
        Assert.Equal(BitConverter.SingleToInt32Bits ys.[0], BitConverter.SingleToInt32Bits ys.[8])
        Assert.Equal(BitConverter.SingleToInt32Bits ys.[1], BitConverter.SingleToInt32Bits ys.[9])
        Assert.True(Single.IsNaN ys.[10])

[<Fact>]
let ``the kernels refuse element types other than float and float32`` () =
    let a = Array.zeroCreate<int> 16
    Assert.Throws<NotSupportedException>(fun () -> Kernels.gemmNNOf 2 2 2 (Kernels.rowMajor a 0 2) (Kernels.rowMajor a 0 2) (Kernels.rowMajor a 0 2)) |> ignore
    Assert.Throws<NotSupportedException>(fun () -> Kernels.tanhOf a 0 a 0 4) |> ignore

[<Fact>]
let ``the benchmark's kernel step gives the same numbers when repeated, and float32 tracks float64`` () =
    let shape: AlphabetLstm.Bench.WorkloadShape = { Inputs = 3; Units = 37; Batch = 5; TimeSteps = 4 }
    let run precision =
        let s = AlphabetLstm.Bench.KernelStep(shape, precision, 7L)
        s.Step()
        let first = s.Checksum()
        s.Step()
        Assert.Equal(BitConverter.DoubleToInt64Bits first, BitConverter.DoubleToInt64Bits (s.Checksum()))
        first
    let c64, c32 = run AlphabetLstm.Bench.KernelPrecision.Float64, run AlphabetLstm.Bench.KernelPrecision.Float32
    // The same random draws rounded to float32: a sum of a few thousand values of order 0.1 agrees to float32's precision.
    Assert.True(abs (c64 - c32) <= 1e-4 * max 1.0 (abs c64), sprintf "float64 checksum %.9g, float32 %.9g" c64 c32)
