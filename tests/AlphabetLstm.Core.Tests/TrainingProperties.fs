/// Training: state policies, determinism, and Keras' batch-size rule for stateful runs.
module AlphabetLstm.Core.Tests.TrainingProperties

open System
open MathNet.Numerics.LinearAlgebra
open Xunit
open AlphabetLstm.Core
open AlphabetLstm.Tutorial
open AlphabetLstm.Bench
open AlphabetLstm.Core.Tests.Generators

/// A dataset of N = B × batches samples and a starting state, all from the case's seed.
let private setup (c: TrainCase) =
    let s = c.Shape
    let n = s.B * c.Batches
    let rng = Rng.create s.Seed
    let xs = Rng.many (s.T * n * s.I) (Rng.uniform 0.0 1.0) rng
    let ys = Rng.many n (Rng.nextInt 0 s.V) xs.Next
    let data =
        { Inputs = Array.init s.T (fun t -> Matrix<float>.Build.Dense(n, s.I, fun r k -> xs.Value.[(t * n + r) * s.I + k]))
          Targets = Matrix<float>.Build.Dense(n, s.V, fun r v -> if ys.Value.[r] = v then 1.0 else 0.0)
          Lengths = Array.create n s.T
          Patterns = Array.init n string
          Vocabulary = Vocabulary.Create(Seq.init s.V (sprintf "s%d")) }
    let p = Parameters.init s.I s.H s.V ys.Next
    data, Training.start { FitConfig.Default(c.Epochs) with BatchSize = s.B } p.Value p.Next

let private config (c: TrainCase) policy shuffle =
    { FitConfig.Default(c.Epochs) with BatchSize = c.Shape.B; Shuffle = shuffle; Policy = policy }

let private stateless, stateful = StatePolicy.Stateless, StatePolicy.Stateful

[<LstmProperty>]
let ``stateful training that resets between epochs of one batch each gives bit-identical weights to stateless training`` (c: TrainCase) =
    let data, start = setup c
    let oneBatch = Datasets.select (Array.init c.Shape.B id) data
    let plain = Training.train (config c stateless false) oneBatch start
    let resetEveryBatch = Training.trainWith Training.reset (config c stateful false) oneBatch start
    sameParameters plain.Parameters resetEveryBatch.Parameters

/// Training runs on private workspaces, skips d h_0 (the state it starts a batch from is a
/// constant) and updates in place; the public per-batch functions allocate and return everything.
/// Both must give the same bits, stateless and with the state carried from batch to batch.
[<LstmProperty>]
let ``an epoch of fit equals lossAndGradients then Adam.step batch by batch, bit for bit`` (c: TrainCase) (carry: bool) =
    let data, start = setup c
    let policy = if carry then stateful else stateless
    let fitted = Training.epoch (config c policy false) data start
    let B, H = c.Shape.B, c.Shape.H
    let rows (k: int) (m: Matrix<float>) = m.SubMatrix(k * B, B, 0, m.ColumnCount)
    let mutable p, adam, state = start.Parameters, start.Optimizer, LstmState.Zeros(B, H)
    for k in 0 .. c.Batches - 1 do
        let g = Model.lossAndGradients p state (data.Inputs |> Array.map (rows k)) (rows k data.Targets) Unmasked
        let r = Adam.step AdamConfig.Keras adam p g.Gradients
        p <- r.Parameters
        adam <- r.State
        if carry then state <- g.Final
    sameParameters p fitted.State.Parameters
    sameParameters adam.M fitted.State.Optimizer.M
    sameParameters adam.V fitted.State.Optimizer.V
    if carry then
        let carried = fitted.State.Carried
        sameBits "carried h" state.H carried.H
        sameBits "carried c" state.C carried.C

[<LstmProperty>]
let ``the same seed and configuration give bit-identical trained weights`` (c: TrainCase) (shuffle: bool) =
    let run () =
        let data, start = setup c
        Training.trainWith Training.reset (config c stateful shuffle) data start
    let a, b = run (), run ()
    sameParameters a.Parameters b.Parameters
    Assert.Equal(a.Rng, b.Rng)

[<LstmProperty>]
let ``training in two calls from the saved state equals training in one`` (c: TrainCase) =
    let data, start = setup c
    let cfg = { config c stateful true with Epochs = c.Epochs + 1 }
    let whole = Training.train cfg data start
    let firstPart = Training.train { cfg with Epochs = 1 } data start
    let resumed = Training.train cfg data firstPart
    sameParameters whole.Parameters resumed.Parameters
    sameParameters whole.Optimizer.M resumed.Optimizer.M
    Assert.Equal(whole.Optimizer.Step, resumed.Optimizer.Step)

/// fitEvery keeps one working copy for k epochs instead of handing out a state every epoch: its
/// reports must be fit's, and its states fit's at the same epochs, for every state policy.
[<LstmProperty>]
let ``fitEvery k gives fit's reports and, every k epochs, fit's state bit for bit`` (c: TrainCase) (every: int) (policy: int) (shuffle: bool) =
    let data, start = setup c
    let k = 1 + abs every % 4
    // Stateless; stateful resetting between epochs; stateful carrying on; stateful with a between-epochs
    // step that is neither (halving the state), so the step's result, not zeros, must reach the next epoch.
    let policy, between =
        match abs policy % 4 with
        | 0 -> stateless, id
        | 1 -> stateful, Training.reset
        | 2 -> stateful, id
        | _ -> stateful, (fun (s: LstmState) -> { H = s.H * 0.5; C = s.C * 0.5 })
    let cfg = { config c policy shuffle with Epochs = c.Epochs + 3 }
    let each = Training.fitWith between cfg data start |> Seq.toArray
    let stretches = Training.fitEvery k between cfg data start |> Seq.toArray
    Assert.Equal<EpochReport>(each |> Array.map (fun o -> o.Report), stretches |> Array.collect (fun s -> s.Reports))
    for s in stretches do
        let last = s.Reports.[s.Reports.Length - 1].Epoch
        Assert.Equal(last, s.State.Epoch)
        let same = each.[last - 1].State
        sameParameters same.Parameters s.State.Parameters
        sameParameters same.Optimizer.V s.State.Optimizer.V
        Assert.Equal(same.Optimizer.Step, s.State.Optimizer.Step)
        Assert.Equal(same.Rng, s.State.Rng)
        sameBits "carried h" same.Carried.H s.State.Carried.H
        sameBits "carried c" same.Carried.C s.State.Carried.C
    Assert.Equal(cfg.Epochs, stretches.[stretches.Length - 1].State.Epoch)

[<LstmProperty>]
let ``training never changes the parameters it was given`` (c: TrainCase) =
    let data, start = setup c
    let before = Parameters.copy start.Parameters
    Training.train (config c stateless true) data start |> ignore
    sameParameters before start.Parameters

[<Fact>]
let ``a stateful fit whose sample count is not a multiple of the batch size is refused, naming both numbers`` () =
    let data = Datasets.window 1 Layout.Features
    let p = Parameters.init 1 4 26 (Rng.create 1L)
    let cfg = { FitConfig.Default(1) with BatchSize = 2; Policy = stateful }
    let ex = Assert.Throws<ArgumentException>(fun () -> Training.train cfg data (Training.start cfg p.Value p.Next) |> ignore)
    Assert.Contains("(25)", ex.Message)
    Assert.Contains("(2)", ex.Message)

[<Fact>]
let ``a stateless fit takes a smaller last batch, as Keras does`` () =
    let data = Datasets.window 1 Layout.Features
    let p = Parameters.init 1 4 26 (Rng.create 1L)
    let cfg = { FitConfig.Default(1) with BatchSize = 2; Shuffle = false }
    let after = Training.train cfg data (Training.start cfg p.Value p.Next)
    Assert.Equal(13, after.Optimizer.Step)

[<Fact>]
let ``a stateful evaluation with any batch size carries the state and returns it`` () =
    let data = Datasets.window 1 Layout.Features
    let p = (Parameters.init 1 4 26 (Rng.create 3L)).Value
    let byOne = Training.evaluateStateful p data (LstmState.Zeros(1, 4)) false
    // Stepping through the letters by hand, carrying the state, gives the same probabilities.
    let mutable state = LstmState.Zeros(1, 4)
    for n in 0 .. data.Count - 1 do
        let pr = Model.predict p state [| data.Inputs.[0].SubMatrix(n, 1, 0, 1) |] Unmasked
        sameBits (sprintf "sample %d" n) pr.Probabilities (byOne.Evaluation.Probabilities.SubMatrix(n, 1, 0, 26))
        state <- pr.Final
    sameBits "final h" state.H byOne.Final.H
    sameBits "final c" state.C byOne.Final.C
    let byFive = Training.evaluateStateful p data (LstmState.Zeros(5, 4)) false
    Assert.Equal(5, byFive.Final.Batch)

/// The tutorial's loop written by hand: one epoch at a time, the caller resetting (or otherwise
/// changing) the carried state between epochs, as Keras code calls reset_states() after each fit.
[<LstmProperty>]
let ``training with a between-epochs step equals epochs run one by one with the caller applying the step to the carried state`` (c: TrainCase) (reset: bool) =
    let data, start = setup c
    let cfg = { config c stateful false with Epochs = c.Epochs + 1 }
    let step = if reset then Training.reset else (fun (s: LstmState) -> { H = s.H * 0.5; C = s.C * 0.5 })
    let mutable byHand = start
    for _ in 1 .. cfg.Epochs do
        let o = Training.epoch cfg data byHand
        byHand <- { o.State with Carried = step o.State.Carried }
    let trained = Training.trainWith step cfg data start
    sameParameters byHand.Parameters trained.Parameters
    sameBits "carried h" byHand.Carried.H trained.Carried.H
    sameBits "carried c" byHand.Carried.C trained.Carried.C

/// What `bench --phases` times: a stateful experiment's step on the batch after ten others, from
/// the state they carry into it; a stateless one's on the first batch, from zeros.
[<Fact>]
let ``a stateful experiment's step stages start from the state its first ten letters carry, fed one at a time`` () =
    let spec = Experiments.find "stateful"
    let stages = StepStages(spec, 1L)
    let prepared = Experiments.prepare spec 1L
    let p, x = prepared.Start.Parameters, prepared.Data.Inputs.[0]
    // 'A' .. 'J' fed one step at a time from a reset, with the weights training starts from.
    let carried = Array.fold (fun s n -> (Lstm.step p s (x.SubMatrix(n, 1, 0, x.ColumnCount))).Next) (LstmState.Zeros(1, p.Units)) [| 0 .. 9 |]
    Assert.Equal(10, stages.BatchIndex)
    sameBits "h" carried.H stages.Initial.H
    sameBits "c" carried.C stages.Initial.C
    let stateless = StepStages(Experiments.find "one-char", 1L)
    Assert.Equal(0, stateless.BatchIndex)
    Assert.True(stateless.Initial.H.Enumerate() |> Seq.forall ((=) 0.0) && stateless.Initial.C.Enumerate() |> Seq.forall ((=) 0.0))
