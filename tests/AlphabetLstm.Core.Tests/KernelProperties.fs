/// The dense products and gate activations under the LSTM: their documented summation order,
/// checked bit for bit against plain loops, over every tile shape (sizes around 1, 4 and 16).
module AlphabetLstm.Core.Tests.KernelProperties

open System
open Xunit
open AlphabetLstm.Core

let private sizes = [ 1; 2; 3; 4; 5; 7; 16; 17; 33 ]

let private randoms (seed: int) (count: int) =
    let r = Random(seed)
    Array.init count (fun _ -> r.NextDouble() * 2.0 - 1.0)

let private sameBits (what: string) (expected: float[]) (actual: float[]) =
    for k in 0 .. expected.Length - 1 do
        if BitConverter.DoubleToInt64Bits expected.[k] <> BitConverter.DoubleToInt64Bits actual.[k] then
            failwithf "%s: element %d is %.17g, the reference gives %.17g" what k actual.[k] expected.[k]

[<Fact>]
let ``gemmNN adds the products into each element in order, one fused multiply-add after another`` () =
    for m in sizes do
        for n in sizes do
            for p in [ 1; 3; 4; 9; 300 ] do
                // A is read transposed (row stride 1, column stride m) and B's rows backwards.
                let a, b, c0 = randoms 1 (m * p), randoms 2 (p * n), randoms 3 (m * n)
                let c = Array.copy c0
                Kernels.gemmNN m n p (Kernels.strided a 0 1 m) (Kernels.rowMajor b ((p - 1) * n) -n) (Kernels.rowMajor c 0 n)
                let expected = Array.copy c0
                for i in 0 .. m - 1 do
                    for j in 0 .. n - 1 do
                        let mutable s = expected.[i * n + j]
                        for q in 0 .. p - 1 do
                            s <- Math.FusedMultiplyAdd(a.[q * m + i], b.[(p - 1 - q) * n + j], s)
                        expected.[i * n + j] <- s
                sameBits (sprintf "gemmNN m=%d n=%d p=%d" m n p) expected c

[<Fact>]
let ``gemmNT sums four lanes, adds them pairwise, then the tail, then C`` () =
    for m in sizes do
        for n in sizes do
            for p in sizes do
                let a, b, c0 = randoms 4 (m * p), randoms 5 (n * p), randoms 6 (m * n)
                let c = Array.copy c0
                Kernels.gemmNT m n p (Kernels.rowMajor a 0 p) (Kernels.rowMajor b 0 p) (Kernels.rowMajor c 0 n)
                let expected = Array.copy c0
                let p4 = p - p % 4
                for i in 0 .. m - 1 do
                    for j in 0 .. n - 1 do
                        let lane l =
                            let mutable s = 0.0
                            for q in l .. 4 .. p4 - 1 do
                                s <- Math.FusedMultiplyAdd(a.[i * p + q], b.[j * p + q], s)
                            s
                        let mutable s = (lane 0 + lane 1) + (lane 2 + lane 3)
                        for q in p4 .. p - 1 do
                            s <- Math.FusedMultiplyAdd(a.[i * p + q], b.[j * p + q], s)
                        expected.[i * n + j] <- expected.[i * n + j] + s
                sameBits (sprintf "gemmNT m=%d n=%d p=%d" m n p) expected c

[<Fact>]
let ``a product refuses offsets that would read past the end of an array`` () =
    let a = Array.zeroCreate 8
    Assert.Throws<ArgumentException>(fun () -> Kernels.gemmNN 2 4 2 (Kernels.strided a 3 4 1) (Kernels.rowMajor a 0 4) (Kernels.rowMajor a 0 4)) |> ignore
    Assert.Throws<ArgumentException>(fun () -> Kernels.gemmNT 1 2 4 (Kernels.rowMajor a 0 4) (Kernels.rowMajor a 1 4) (Kernels.rowMajor a 0 2)) |> ignore

let private check (name: string) (f: float[] -> int -> float[] -> int -> int -> unit) (reference: float -> float) (tolerance: float -> float) (xs: float[]) =
    let ys = Array.zeroCreate xs.Length
    f xs 0 ys 0 xs.Length
    for k in 0 .. xs.Length - 1 do
        let expected = reference xs.[k]
        if abs (ys.[k] - expected) > tolerance expected then
            failwithf "%s(%.17g) = %.17g, expected %.17g" name xs.[k] ys.[k] expected

[<Fact>]
let ``exp, sigmoid and tanh are within a few ulps of the exact functions`` () =
    let r = Random(7)
    let xs = Array.append [| 0.0; -0.0; 1e-300; -1e-12; 1e-8; 0.5; -0.5; 20.0; -20.0; 700.0; -700.0 |] (Array.init 4001 (fun _ -> (r.NextDouble() * 2.0 - 1.0) * 40.0))
    let relative (e: float) = 4e-16 * abs e + 1e-300
    check "exp" Kernels.exp Math.Exp relative (xs |> Array.filter (fun x -> x <= 700.0))
    check "sigmoid" Kernels.sigmoid (fun z -> 1.0 / (1.0 + Math.Exp(-z))) relative xs
    check "tanh" Kernels.tanh Math.Tanh (fun e -> 4e-16 * abs e + 2.3e-16) xs

[<Fact>]
let ``an activation gives an element the same bits wherever it sits in the run, and keeps NaN`` () =
    let xs = [| 0.3; -1.7; 2.5; 0.01; 0.3; nan |]
    let ys = Array.zeroCreate xs.Length
    Kernels.tanh xs 0 ys 0 xs.Length
    Assert.Equal(BitConverter.DoubleToInt64Bits ys.[0], BitConverter.DoubleToInt64Bits ys.[4])
    Assert.True(Double.IsNaN ys.[5])
    Kernels.sigmoid xs 0 ys 0 xs.Length
    Assert.Equal(BitConverter.DoubleToInt64Bits ys.[0], BitConverter.DoubleToInt64Bits ys.[4])
    Assert.True(Double.IsNaN ys.[5])

[<Fact>]
let ``gemmNN on a packed B gives the same bits as on B itself`` () =
    for m in sizes do
        for n in sizes do
            for p in [ 1; 5; 300 ] do
                let a, b, c0 = randoms 8 (m * p), randoms 9 (p * n), randoms 10 (m * n)
                let plain, packed = Array.copy c0, Array.copy c0
                Kernels.gemmNN m n p (Kernels.rowMajor a 0 p) (Kernels.rowMajor b 0 n) (Kernels.rowMajor plain 0 n)
                let pack = Array.zeroCreate (p * (n - n % 16))
                Kernels.packColumns16 p n (Kernels.rowMajor b 0 n) pack
                Kernels.gemmNNPacked m n p (Kernels.rowMajor a 0 p) pack (Kernels.rowMajor b 0 n) (Kernels.rowMajor packed 0 n)
                sameBits (sprintf "packed m=%d n=%d p=%d" m n p) plain packed

[<Fact>]
let ``the blocked product over listed rows matches a plain triple loop, and keeps gemmNN's order`` () =
    let r = Random(11)
    let scratch = Array.zeroCreate Kernels.blockedScratchLength
    // Random shapes around the register tile (4 × 16) and the blocks (64 rows, 512 columns, 256 deep).
    let shapes = [ for _ in 1 .. 40 -> r.Next(1, 140), r.Next(1, 140), r.Next(1, 300) ] @ [ (70, 530, 600); (1, 1, 1); (4, 16, 256) ]
    for (m, n, p) in shapes do
        // Rows listed in a shuffled order, out of a taller stack; A's and B's rows are padded (lda > m).
        let stack = p + 3
        let rows = Array.init stack id |> Array.sortBy (fun _ -> r.Next()) |> Array.truncate p
        let lda, ldb, ldc = m + 2, n + 1, n + 3
        let a, b, c0 = randoms (m + 17) (5 + stack * lda), randoms (n + 19) (7 + stack * ldb), randoms (p + 23) (m * ldc)
        let c = Array.copy c0
        Kernels.gemmTNRows m n p (Kernels.rowMajor a 5 lda) (Kernels.rowMajor b 7 ldb) rows (Kernels.rowMajor c 0 ldc) scratch
        let naive = Array.copy c0
        let ordered = Array.copy c0
        for i in 0 .. m - 1 do
            for j in 0 .. n - 1 do
                let mutable s = naive.[i * ldc + j]
                let mutable f = ordered.[i * ldc + j]
                for q in 0 .. p - 1 do
                    let x, y = a.[5 + rows.[q] * lda + i], b.[7 + rows.[q] * ldb + j]
                    s <- s + x * y
                    f <- Math.FusedMultiplyAdd(x, y, f)
                naive.[i * ldc + j] <- s
                ordered.[i * ldc + j] <- f
        for k in 0 .. c.Length - 1 do
            let scale = max 1.0 (abs naive.[k])
            if abs (c.[k] - naive.[k]) > 1e-12 * scale then
                failwithf "gemmTNRows m=%d n=%d p=%d: element %d is %.17g, the triple loop gives %.17g" m n p k c.[k] naive.[k]
        sameBits (sprintf "gemmTNRows order m=%d n=%d p=%d" m n p) ordered c

[<Fact>]
let ``the cell's backward in vectors gives every unit the bits of the scalar formula`` () =
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
