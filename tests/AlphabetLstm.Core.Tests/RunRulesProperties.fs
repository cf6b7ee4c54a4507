/// The rules of a run, each computed once in the core and only printed by the shell: an
/// experiment's samples, steps per epoch and memory estimate; the divergence rule; the checkpoint
/// cadence.
module AlphabetLstm.Core.Tests.RunRulesProperties

open System
open FsCheck
open FsCheck.FSharp
open global.Xunit
open AlphabetLstm.Core
open AlphabetLstm.Tutorial
open AlphabetLstm.Core.Tests.Generators

// ---- an experiment's counts ---------------------------------------------------------------------

/// The Adam steps one epoch of a prepared experiment takes.
let private stepsOfOneEpoch (p: PreparedExperiment) =
    (Training.epoch p.Config p.Data p.Start).State.Optimizer.Step

[<Fact>]
let ``Each experiment's sample count, steps per epoch and memory estimate are those of the data it prepares and the epoch it trains`` () =
    for spec in Experiments.all do
        let spec = spec.WithEpochs(1).WithUnits(4)
        let p = Experiments.prepare spec 1L
        Assert.True(p.Data.Count = spec.SampleCount, sprintf "%s: %d samples prepared, SampleCount %d" spec.Id p.Data.Count spec.SampleCount)
        Assert.True(stepsOfOneEpoch p = spec.StepsPerEpoch, sprintf "%s: one epoch took %d steps, StepsPerEpoch %d" spec.Id (stepsOfOneEpoch p) spec.StepsPerEpoch)
        let N = p.Data.Count
        let expected = Memory.training p.Data.Features spec.Units Alphabet.Size (min spec.BatchSize N) p.Data.TimeSteps N
        Assert.True(Experiments.memoryEstimate spec = expected, sprintf "%s: estimate %g, the prepared data's %g" spec.Id (Experiments.memoryEstimate spec) expected)

[<LstmProperty>]
let ``An experiment with any window of 1 to 25 letters and batch of 1 to 4 trains StepsPerEpoch steps an epoch on SampleCount samples`` (w: WindowCase) (s: Shape) =
    let template = if w.Layout = Layout.Features then "feature-window" else "timestep-window"
    let spec = (Experiments.find template).WithWindow(w.N).WithBatchSize(s.B).WithEpochs(1).WithUnits(s.H)
    let p = Experiments.prepare spec s.Seed
    p.Data.Count = spec.SampleCount && stepsOfOneEpoch p = spec.StepsPerEpoch

// ---- the divergence rule ------------------------------------------------------------------------

/// A stretch of 1..5 epochs; maybe one epoch's loss not finite (NaN, +∞ or −∞), maybe one weight not finite.
type DivergenceCase =
    { Epochs: int; BadLoss: int option; BadValue: float; BadWeight: (int * int) option; Seed: int64 }
    override c.ToString() = sprintf "Divergence(epochs=%d, badLoss=%A, value=%g, badWeight=%A, seed=%d)" c.Epochs c.BadLoss c.BadValue c.BadWeight c.Seed

type DivergenceArbitraries =
    static member Case() =
        gen {
            let! epochs = Gen.choose (1, 5)
            let! badLoss = Gen.optionOf (Gen.choose (0, epochs - 1))
            let! value = Gen.elements [ nan; infinity; -infinity ]
            let! badWeight = Gen.optionOf (Gen.zip (Gen.choose (0, 4)) (Gen.choose (0, 1000)))
            let! seed = Gen.choose (0, Int32.MaxValue)
            return { Epochs = epochs; BadLoss = badLoss; BadValue = value; BadWeight = badWeight; Seed = int64 seed }
        } |> Arb.fromGen

let private stretchOf (c: DivergenceCase) : EpochStretch =
    let p = (Parameters.init 2 3 4 (Rng.create c.Seed)).Value
    let weights =
        match c.BadWeight with
        | None -> p
        | Some(block, at) ->
            let q = Parameters.copy p
            let storage = Parameters.storage q
            let b = storage.[block % storage.Length]
            b.[at % b.Length] <- c.BadValue
            q
    let reports = Array.init c.Epochs (fun k -> { Epoch = 10 + k; Loss = (if c.BadLoss = Some k then c.BadValue else 1.5); Accuracy = 0.5 })
    let state = Training.start (FitConfig.Default 1) weights (Rng.create c.Seed)
    { Reports = reports; State = { state with Epoch = 10 + c.Epochs - 1 } }

[<global.FsCheck.Xunit.Property(Arbitrary = [| typeof<DivergenceArbitraries> |], MaxTest = 200, QuietOnSuccess = true)>]
let ``The divergence rule names the first epoch whose loss is not finite, else the last epoch when a weight is not, else none`` (c: DivergenceCase) =
    let stretch = stretchOf c
    let mutable epoch, reason = 0, ""
    let diverged = stretch.TryGetDivergence(&epoch, &reason)
    let last = stretch.Reports.[stretch.Reports.Length - 1]
    let expected =
        match c.BadLoss, c.BadWeight with
        | Some k, _ -> Some(10 + k, "the loss became " + c.BadValue.ToString(Globalization.CultureInfo.InvariantCulture))
        | None, Some _ -> Some(last.Epoch, "the weights became non-finite")
        | None, None -> None
    // The same rule for one epoch: the stretch's last report with the state after it.
    let mutable oneEpoch, oneReason = 0, ""
    let lastDiverged = { Report = last; State = stretch.State }.TryGetDivergence(&oneEpoch, &oneReason)
    let lastExpected = last.Loss |> Double.IsFinite |> not || c.BadWeight.IsSome
    (if diverged then Some(epoch, reason) else None) = expected && lastDiverged = lastExpected

// ---- the checkpoint cadence ---------------------------------------------------------------------

type CadenceCase =
    { Epochs: int; Every: int }
    override c.ToString() = sprintf "Cadence(epochs=%d, every=%d)" c.Epochs c.Every

type CadenceArbitraries =
    static member Case() =
        Gen.zip (Gen.choose (1, 60)) (Gen.choose (1, 12)) |> Gen.map (fun (e, k) -> { Epochs = e; Every = k }) |> Arb.fromGen

[<global.FsCheck.Xunit.Property(Arbitrary = [| typeof<CadenceArbitraries> |], MaxTest = 200, QuietOnSuccess = true)>]
let ``A run checkpoints after its last epoch and never lets more than CheckpointEvery epochs pass without one, nor checkpoints more often`` (c: CadenceCase) =
    let run = RunSettings.ForExperiment("stateful", 1L, c.Epochs, 4, false, 0.001, c.Every)
    let written = [ for e in 1 .. c.Epochs do if run.CheckpointsAfter e then yield e ]
    let gaps = List.pairwise (0 :: written) |> List.map (fun (a, b) -> b - a)
    List.last written = c.Epochs
    && gaps |> List.forall (fun g -> g <= c.Every)
    && written.Length <= c.Epochs / c.Every + 1
