/// The dense products and gate activations under the LSTM, in float64 and in float32 from one source:
/// their documented summation order, checked bit for bit against plain loops in the same element type
/// over every tile shape (sizes around 1, a vector's lanes and a register tile's width: 4 and 16 in
/// float64, 8 and 32 in float32); the activations against the exact functions within each precision's
/// stated bound. Each property is one generic body run once per precision, and each precision's test
/// names it.
module AlphabetLstm.Core.Tests.KernelProperties

open System
open Xunit
open AlphabetLstm.Core

/// What the properties need to know of one element type.
type private Precision<'T> =
    { Name: string
      /// Elements of a 256-bit vector: 4 float64s, 8 float32s. A register tile is 4 · Lanes columns.
      Lanes: int
      /// Matrix sizes around 1, Lanes and the tile width.
      Sizes: int list
      /// Half the distance between 1 and the next number: 2⁻⁵³, 2⁻²⁴.
      UnitRoundoff: float
      OfFloat: float -> 'T
      ToFloat: 'T -> float
      Bits: 'T -> int64
      /// s + x·y rounded once.
      Fma: 'T -> 'T -> 'T -> 'T
      Add: 'T -> 'T -> 'T
      Show: 'T -> string
      /// Where exp and sigmoid are checked (exp must not overflow), and the error allowed from the
      /// exact value e; the same for tanh.
      ExpDomain: float -> bool
      SigmoidDomain: float -> bool
      ExpSigmoidBound: float -> float
      TanhBound: float -> float
      /// Special values, then how many random ones in [-40, 40], for the activations.
      Specials: float list
      RandomInputs: int }

/// Distance to the next float32 above |e| (at least the spacing at the smallest normal).
let private ulp32 (e: float) = Math.Pow(2.0, Math.Floor(Math.Log2(max (abs e) 1.1754943508222875e-38)) - 23.0)

let private F64: Precision<float> =
    { Name = "float64"; Lanes = 4; Sizes = [ 1; 2; 3; 4; 5; 7; 16; 17; 33 ]; UnitRoundoff = Math.Pow(2.0, -53.0)
      OfFloat = id; ToFloat = id; Bits = BitConverter.DoubleToInt64Bits
      Fma = (fun x y s -> Math.FusedMultiplyAdd(x, y, s)); Add = (+); Show = (fun x -> x.ToString("G17"))
      ExpDomain = (fun x -> x <= 700.0); SigmoidDomain = (fun _ -> true)
      ExpSigmoidBound = (fun e -> 4e-16 * abs e + 1e-300)
      TanhBound = (fun e -> 4e-16 * abs e + 2.3e-16)
      Specials = [ 0.0; -0.0; 1e-300; -1e-12; 1e-8; 0.5; -0.5; 20.0; -20.0; 700.0; -700.0 ]
      RandomInputs = 4001 }

let private F32: Precision<float32> =
    { Name = "float32"; Lanes = 8; Sizes = [ 1; 2; 3; 7; 8; 9; 17; 31; 32; 33; 65 ]; UnitRoundoff = Math.Pow(2.0, -24.0)
      OfFloat = float32; ToFloat = float; Bits = (fun x -> int64 (BitConverter.SingleToInt32Bits x))
      Fma = (fun x y s -> MathF.FusedMultiplyAdd(x, y, s)); Add = (+); Show = (fun x -> x.ToString("G9"))
      ExpDomain = (fun x -> x <= 80.0 && x >= -80.0); SigmoidDomain = (fun x -> x >= -80.0)
      // Two float32 ulps of the exact value.
      ExpSigmoidBound = (fun e -> 2.0 * ulp32 e)
      // tanh = 1 − 2 / (e^{2z} + 1) subtracts from 1: the quotient's rounding (and exp's) is an error of
      // the order of the spacing of float32s near 1, absolute, which no longer shrinks with tanh near 0
      // (float64's bound has the same form with its own eps). 1.2e-7 seen at z = −0.32. eps = 2⁻²³.
      TanhBound = (fun e -> 2.0 * Math.Pow(2.0, -23.0) * abs e + Math.Pow(2.0, -23.0))
      Specials = [ 0.0; -0.0; 1e-30; -1e-6; 1e-3; 0.5; -0.5; 10.0; -10.0; 80.0; -80.0 ]
      RandomInputs = 20001 }

let private randoms (num: Precision<'T>) (seed: int) (count: int) =
    let r = Random(seed)
    Array.init count (fun _ -> num.OfFloat (r.NextDouble() * 2.0 - 1.0))

let private sameBits (num: Precision<'T>) (what: string) (expected: 'T[]) (actual: 'T[]) =
    for k in 0 .. expected.Length - 1 do
        if num.Bits expected.[k] <> num.Bits actual.[k] then
            failwithf "%s %s: element %d is %s, the reference gives %s" num.Name what k (num.Show actual.[k]) (num.Show expected.[k])

// ---- the products' summation order -----------------------------------------------------------

let private gemmNNInOrder (num: Precision<'T>) =
    for m in num.Sizes do
        for n in num.Sizes do
            for p in [ 1; 3; num.Lanes; 9; 300 ] do
                // A is read transposed (row stride 1, column stride m) and B's rows backwards.
                let a, b, c0 = randoms num 1 (m * p), randoms num 2 (p * n), randoms num 3 (m * n)
                let c = Array.copy c0
                Kernels.gemmNNOf m n p (Kernels.strided a 0 1 m) (Kernels.rowMajor b ((p - 1) * n) -n) (Kernels.rowMajor c 0 n)
                let expected = Array.copy c0
                for i in 0 .. m - 1 do
                    for j in 0 .. n - 1 do
                        let mutable s = expected.[i * n + j]
                        for q in 0 .. p - 1 do
                            s <- num.Fma a.[q * m + i] b.[(p - 1 - q) * n + j] s
                        expected.[i * n + j] <- s
                sameBits num (sprintf "gemmNN m=%d n=%d p=%d" m n p) expected c

[<Fact>]
let ``float64 gemmNN adds the products into each element in order, one fused multiply-add after another`` () = gemmNNInOrder F64

[<Fact>]
let ``float32 gemmNN adds the products into each element in order, one fused multiply-add after another`` () = gemmNNInOrder F32

let private gemmNTInOrder (num: Precision<'T>) =
    let L = num.Lanes
    for m in num.Sizes do
        for n in num.Sizes do
            for p in num.Sizes do
                let a, b, c0 = randoms num 4 (m * p), randoms num 5 (n * p), randoms num 6 (m * n)
                let c = Array.copy c0
                Kernels.gemmNTOf m n p (Kernels.rowMajor a 0 p) (Kernels.rowMajor b 0 p) (Kernels.rowMajor c 0 n)
                let expected = Array.copy c0
                let pL = p - p % L
                for i in 0 .. m - 1 do
                    for j in 0 .. n - 1 do
                        let lane l =
                            let mutable s = num.OfFloat 0.0
                            for q in l .. L .. pL - 1 do
                                s <- num.Fma a.[i * p + q] b.[j * p + q] s
                            s
                        // Lanes added as a pairwise tree: (l0 + l1) + (l2 + l3), and so on up.
                        let rec tree lo width = if width = 1 then lane lo else num.Add (tree lo (width / 2)) (tree (lo + width / 2) (width / 2))
                        let mutable s = tree 0 L
                        for q in pL .. p - 1 do
                            s <- num.Fma a.[i * p + q] b.[j * p + q] s
                        expected.[i * n + j] <- num.Add expected.[i * n + j] s
                sameBits num (sprintf "gemmNT m=%d n=%d p=%d" m n p) expected c

[<Fact>]
let ``float64 gemmNT sums four lanes, adds them pairwise, then the tail, then C`` () = gemmNTInOrder F64

[<Fact>]
let ``float32 gemmNT sums eight lanes, adds them as a pairwise tree, then the tail, then C`` () = gemmNTInOrder F32

let private refusesOverreach (num: Precision<'T>) =
    let a = Array.zeroCreate<'T> 8
    Assert.Throws<ArgumentException>(fun () -> Kernels.gemmNNOf 2 4 2 (Kernels.strided a 3 4 1) (Kernels.rowMajor a 0 4) (Kernels.rowMajor a 0 4)) |> ignore
    Assert.Throws<ArgumentException>(fun () -> Kernels.gemmNTOf 1 2 4 (Kernels.rowMajor a 0 4) (Kernels.rowMajor a 1 4) (Kernels.rowMajor a 0 2)) |> ignore

[<Fact>]
let ``a float64 product refuses offsets that would read past the end of an array`` () = refusesOverreach F64

[<Fact>]
let ``a float32 product refuses offsets that would read past the end of an array`` () = refusesOverreach F32

let private packedSameBits (num: Precision<'T>) =
    Assert.Equal(4 * num.Lanes, Kernels.packWidth<'T> ())
    for m in num.Sizes do
        for n in num.Sizes do
            for p in [ 1; 5; 300 ] do
                let a, b, c0 = randoms num 8 (m * p), randoms num 9 (p * n), randoms num 10 (m * n)
                let plain, packed = Array.copy c0, Array.copy c0
                Kernels.gemmNNOf m n p (Kernels.rowMajor a 0 p) (Kernels.rowMajor b 0 n) (Kernels.rowMajor plain 0 n)
                let pack = Array.zeroCreate (Kernels.packedLength<'T> p n)
                Kernels.packColumns p n (Kernels.rowMajor b 0 n) pack
                Kernels.gemmNNPackedOf m n p (Kernels.rowMajor a 0 p) pack (Kernels.rowMajor b 0 n) (Kernels.rowMajor packed 0 n)
                sameBits num (sprintf "packed m=%d n=%d p=%d" m n p) plain packed

[<Fact>]
let ``float64 gemmNN on a packed B (blocks of 16 columns) gives the same bits as on B itself`` () = packedSameBits F64

[<Fact>]
let ``float32 gemmNN on a packed B (blocks of 32 columns) gives the same bits as on B itself`` () = packedSameBits F32

let private blockedInOrder (num: Precision<'T>) =
    let r = Random(11)
    let scratch = Array.zeroCreate (Kernels.blockedScratchLengthOf<'T> ())
    // Random shapes around the register tile (4 × 4·Lanes) and the blocks (64 rows, 512 columns, 256 deep).
    let shapes = [ for _ in 1 .. 40 -> r.Next(1, 140), r.Next(1, 140), r.Next(1, 300) ] @ [ (70, 530, 600); (1, 1, 1); (4, 4 * num.Lanes, 256) ]
    // A few thousand roundoffs of the result's size: far more than any summation order rounds away
    // at these depths, far less than a missing, doubled or misplaced product.
    let loose = 9000.0 * num.UnitRoundoff
    for (m, n, p) in shapes do
        // Rows listed in a shuffled order, out of a taller stack; A's and B's rows are padded (lda > m).
        let stack = p + 3
        let rows = Array.init stack id |> Array.sortBy (fun _ -> r.Next()) |> Array.truncate p
        let lda, ldb, ldc = m + 2, n + 1, n + 3
        let a, b, c0 = randoms num (m + 17) (5 + stack * lda), randoms num (n + 19) (7 + stack * ldb), randoms num (p + 23) (m * ldc)
        let c = Array.copy c0
        Kernels.gemmTNRowsOf m n p (Kernels.rowMajor a 5 lda) (Kernels.rowMajor b 7 ldb) rows (Kernels.rowMajor c 0 ldc) scratch
        // The triple loop in float64, and the documented order in the element type.
        let naive = Array.map num.ToFloat c0
        let ordered = Array.copy c0
        for i in 0 .. m - 1 do
            for j in 0 .. n - 1 do
                let mutable s = naive.[i * ldc + j]
                let mutable f = ordered.[i * ldc + j]
                for q in 0 .. p - 1 do
                    let x, y = a.[5 + rows.[q] * lda + i], b.[7 + rows.[q] * ldb + j]
                    s <- s + num.ToFloat x * num.ToFloat y
                    f <- num.Fma x y f
                naive.[i * ldc + j] <- s
                ordered.[i * ldc + j] <- f
        for k in 0 .. c.Length - 1 do
            if abs (num.ToFloat c.[k] - naive.[k]) > loose * max 1.0 (abs naive.[k]) then
                failwithf "%s gemmTNRows m=%d n=%d p=%d: element %d is %s, the triple loop gives %.17g" num.Name m n p k (num.Show c.[k]) naive.[k]
        sameBits num (sprintf "gemmTNRows order m=%d n=%d p=%d" m n p) ordered c

[<Fact>]
let ``the float64 blocked product over listed rows matches a plain triple loop, and keeps gemmNN's order`` () = blockedInOrder F64

[<Fact>]
let ``the float32 blocked product over listed rows matches a plain triple loop, and keeps gemmNN's order`` () = blockedInOrder F32

// ---- the activations -----------------------------------------------------------------------------

let private activationsWithin (num: Precision<'T>) =
    let r = Random(7)
    let xs = Array.append (num.Specials |> List.map num.OfFloat |> Array.ofList)
                          (Array.init num.RandomInputs (fun _ -> num.OfFloat ((r.NextDouble() * 2.0 - 1.0) * 40.0)))
    for name, f, exact, domain, bound in
        [ "exp", Kernels.expOf, Math.Exp, num.ExpDomain, num.ExpSigmoidBound
          "sigmoid", Kernels.sigmoidOf, (fun z -> 1.0 / (1.0 + Math.Exp(-z))), num.SigmoidDomain, num.ExpSigmoidBound
          "tanh", Kernels.tanhOf, Math.Tanh, (fun _ -> true), num.TanhBound ] do
        let xs = xs |> Array.filter (fun x -> domain (num.ToFloat x))
        let ys = Array.zeroCreate xs.Length
        f xs 0 ys 0 xs.Length
        for k in 0 .. xs.Length - 1 do
            let e = exact (num.ToFloat xs.[k])
            let err = abs (num.ToFloat ys.[k] - e)
            if not (err <= bound e) then
                failwithf "%s %s(%s) = %s, expected %.17g: %.3g off, the bound is %.3g" num.Name name (num.Show xs.[k]) (num.Show ys.[k]) e err (bound e)

[<Fact>]
let ``float64 exp, sigmoid and tanh are within 4e-16 relative of the exact functions, tanh plus 2.3e-16 absolute`` () = activationsWithin F64

[<Fact>]
let ``float32 exp and sigmoid are within 2 ulps of the exact functions, tanh within 2 eps relative plus 1 eps absolute, eps = 2^-23`` () =
    activationsWithin F32

let private activationsByPosition (num: Precision<'T>) =
    // One vector of Lanes values, then a tail of three in a padded vector: the first two again, and NaN.
    let first = [| 0.3; -1.7; 2.5; 0.01; 4.0; -3.0; 1.0; 0.7 |].[.. num.Lanes - 1]
    let xs = Array.append first [| 0.3; -1.7; nan |] |> Array.map num.OfFloat
    let L = num.Lanes
    let ys = Array.zeroCreate xs.Length
    for name, f in [ "tanh", Kernels.tanhOf; "sigmoid", Kernels.sigmoidOf; "exp", Kernels.expOf ] do
        f xs 0 ys 0 xs.Length
        Assert.True(num.Bits ys.[0] = num.Bits ys.[L] && num.Bits ys.[1] = num.Bits ys.[L + 1],
                    sprintf "%s %s: %s and %s in the vector, %s and %s in the tail" num.Name name (num.Show ys.[0]) (num.Show ys.[1]) (num.Show ys.[L]) (num.Show ys.[L + 1]))
        Assert.True(Double.IsNaN(num.ToFloat ys.[L + 2]), sprintf "%s %s(NaN) = %s" num.Name name (num.Show ys.[L + 2]))

[<Fact>]
let ``a float64 activation gives an element the same bits wherever it sits in the run, and keeps NaN`` () = activationsByPosition F64

[<Fact>]
let ``a float32 activation gives an element the same bits wherever it sits in the run, and keeps NaN`` () = activationsByPosition F32

// ---- one precision only, or both at once -------------------------------------------------------

/// u = 2⁻²⁴, float32's unit roundoff; γ_k = k·u / (1 − k·u) bounds the relative error of a sum of
/// k + 1 terms, each addition rounded once (Higham, Accuracy and Stability, §3.1), whatever the order.
let private gamma (k: int) = let ku = float k * F32.UnitRoundoff in ku / (1.0 - ku)

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
        let a, b, c0 = randoms F32 (m + p) (m * p), randoms F32 (n + p) (p * n), randoms F32 (m + n) (m * n)
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

[<Fact>]
let ``the float64 cell's backward in vectors gives every unit the bits of the scalar formula`` () =
    for h in 1 .. 9 do
        let r = Random(h)
        let act () = r.NextDouble()
        // Sample 1 of 3 at step 1 of 2, so no row starts at an array's start.
        let tape = Lstm.newTape 2 3 1 h
        let t, b = 1, 1
        let go, row, d = (t * 3 + b) * 4 * h, (t * 3 + b) * h, b * h
        for k in 0 .. tape.Gates.Length - 1 do tape.Gates.[k] <- act ()
        for k in 0 .. tape.TanhC.Length - 1 do tape.TanhC.[k] <- act () * 2.0 - 1.0
        for k in 0 .. tape.Cs.Length - 1 do tape.Cs.[k] <- act () * 4.0 - 2.0
        let dH = Array.init (3 * h) (fun _ -> act () - 0.5)
        let dC = Array.init (3 * h) (fun _ -> act () - 0.5)
        let dz = tape.Scratch.Dz
        Array.Fill(dz, nan)
        let dCOut = Array.copy dC
        Lstm.cellBackward tape t b dH dCOut
        let gates, tanhC, cs = tape.Gates, tape.TanhC, tape.Cs
        let bits (x: float) = BitConverter.DoubleToInt64Bits x
        for k in 0 .. h - 1 do
            let i, f, g, o = gates.[go + k], gates.[go + h + k], gates.[go + 2 * h + k], gates.[go + 3 * h + k]
            let th, dh = tanhC.[row + k], dH.[d + k]
            let dcNext = dC.[d + k] + dh * o * (1.0 - th * th)
            let expect = [| dcNext * g * i * (1.0 - i); dcNext * cs.[row + k] * f * (1.0 - f); dcNext * i * (1.0 - g * g); dh * th * o * (1.0 - o) |]
            for q in 0 .. 3 do
                Assert.True(bits expect.[q] = bits dz.[go + q * h + k], sprintf "H=%d unit %d block %d: %.17g, expected %.17g" h k q dz.[go + q * h + k] expect.[q])
            Assert.Equal(bits (dcNext * f), bits dCOut.[d + k])
        // Nothing outside the row's d z and d c was written.
        Assert.True(Array.forall Double.IsNaN dz.[.. go - 1] && Array.forall Double.IsNaN dz.[go + 4 * h ..])
        Assert.Equal<float>(dC.[.. d - 1], dCOut.[.. d - 1])
        Assert.Equal<float>(dC.[d + h ..], dCOut.[d + h ..])

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
