/// Training steps split across threads: the same bits as one thread, for every shape and count.
module AlphabetLstm.Core.Tests.ThreadProperties

open System
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open global.Xunit
open AlphabetLstm.Core
open AlphabetLstm.Tutorial
open AlphabetLstm.Bench
open AlphabetLstm.Core.Tests.Generators

/// A step large enough to be split: B 8..21 rows (not always a multiple of the parts' 4-row cut),
/// H 64..100 units (so B·4H·H ≥ 2^18 for most draws, and also some just under), I 1..4, T 1..4,
/// 2..4 threads, masking and the stateful carry on or off.
type ThreadCase =
    { I: int; H: int; B: int; T: int; Threads: int; Masked: bool; Stateful: bool; Seed: int64 }
    override c.ToString() =
        sprintf "Threads(I=%d, H=%d, B=%d, T=%d, threads=%d, masked=%b, stateful=%b, seed=%d)" c.I c.H c.B c.T c.Threads c.Masked c.Stateful c.Seed

type ThreadArbitraries =
    static member Case() =
        gen {
            let! i = Gen.choose (1, 4)
            let! h = Gen.choose (64, 100)
            let! b = Gen.choose (8, 21)
            let! t = Gen.choose (1, 4)
            let! n = Gen.choose (2, 4)
            let! m = Gen.elements [ false; true ]
            let! s = Gen.elements [ false; true ]
            let! seed = Gen.choose (0, Int32.MaxValue)
            return { I = i; H = h; B = b; T = t; Threads = n; Masked = m; Stateful = s; Seed = int64 seed }
        } |> Arb.fromGen

type ThreadPropertyAttribute() =
    inherit PropertyAttribute(Arbitrary = [| typeof<ThreadArbitraries> |], MaxTest = 12, QuietOnSuccess = true)

/// Two epochs of two batches of the case's shape, with `threads` threads.
let private train (c: ThreadCase) (threads: int) =
    let w = Workloads.synthetic { Inputs = c.I; Units = c.H; Batch = c.B; TimeSteps = c.T } 2 c.Seed
    // Masked: sample n is pre-padded to 1 + n mod T real steps (padding is 0.0, as the inputs are zero there).
    let lengths = Array.init w.Data.Count (fun n -> if c.Masked then 1 + n % c.T else c.T)
    let inputs =
        w.Data.Inputs |> Array.mapi (fun t x -> x.MapIndexed(fun n _ v -> if t < c.T - lengths.[n] then 0.0 else v))
    let data = { w.Data with Inputs = inputs; Lengths = lengths }
    let config =
        { w.Config with
            Epochs = 2; Masked = c.Masked; Threads = threads
            Policy = if c.Stateful then StatePolicy.Stateful else StatePolicy.Stateless }
    Training.trainWith Training.reset config data w.Start

[<ThreadProperty>]
let ``training with several threads gives the one-thread weights and moments bit for bit`` (c: ThreadCase) =
    let one = train c 1
    let many = train c c.Threads
    sameParameters one.Parameters many.Parameters
    sameParameters one.Optimizer.M many.Optimizer.M
    sameParameters one.Optimizer.V many.Optimizer.V

[<ThreadProperty>]
let ``the parts of a split step cover every row once, in order, cut at the alignment`` (c: ThreadCase) =
    for count, align in [ c.B, 4; c.B * c.T, 4; 4 * c.H, 16 ] do
        let ranges = List.init c.Threads (Lstm.partRange count align c.Threads)
        let covered = ranges |> List.collect (fun (lo, hi) -> [ lo .. hi - 1 ])
        Assert.Equal<int list>([ 0 .. count - 1 ], covered)
        for lo, hi in ranges do
            Assert.True(lo = count || lo % align = 0, sprintf "part [%d, %d) of %d starts off the %d-alignment" lo hi count align)

[<Fact>]
let ``the tutorial's steps are never split, whatever the thread count`` () =
    // (T, B, I, H) of the six experiments: batch 1 everywhere but batch-state's 25 rows of 16 units.
    for T, B, I, H in [ 1, 1, 1, 32; 1, 1, 3, 32; 3, 1, 1, 32; 1, 25, 1, 16; 1, 1, 1, 50; 5, 1, 1, 32 ] do
        let tape = Lstm.newTape T B I H
        tape.Threads <- 8
        Assert.Equal(1, Lstm.partsOf tape)
    // and the large benchmark shape is.
    let big = Lstm.newTape 50 32 26 128
    big.Threads <- 2
    Assert.Equal(2, Lstm.partsOf big)
