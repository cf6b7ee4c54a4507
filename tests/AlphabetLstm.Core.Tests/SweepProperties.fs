/// Sweeps: the grid, the run list, its shards, and a point applied to an experiment.
module AlphabetLstm.Core.Tests.SweepProperties

open System
open Xunit
open FsCheck
open FsCheck.Xunit
open AlphabetLstm.Core
open AlphabetLstm.Tutorial

/// Up to three axes (units, learning rate, epochs) of 1..4 values each, from bounded draws.
let private axesOf (counts: int list) : SweepAxis[] =
    let settings = [| SweepSetting.Units; SweepSetting.LearningRate; SweepSetting.Epochs |]
    counts
    |> List.truncate 3
    |> List.mapi (fun a n ->
        let n = 1 + abs n % 4
        let values = Array.init n (fun k -> if settings.[a] = SweepSetting.LearningRate then 0.001 * float (k + 1) else float (8 * (k + 1)))
        { Setting = settings.[a]; Values = values })
    |> List.toArray

[<Property(MaxTest = 60, QuietOnSuccess = true)>]
let ``the grid holds every combination of the axes' values once, the last axis varying fastest`` (counts: int list) =
    let axes = axesOf (if counts.IsEmpty then [ 0 ] else counts)
    let points = Sweep.grid axes
    let product = axes |> Array.fold (fun n a -> n * a.Values.Length) 1
    Assert.Equal(product, points.Length)
    Assert.Equal(product, points |> Array.distinctBy (fun p -> List.ofArray p.Values) |> Array.length)
    Assert.Equal<int[]>(Array.init product id, points |> Array.map (fun p -> p.Index))
    // Mixed radix: point k's value on the last axis is k mod its length.
    let last = axes.[axes.Length - 1]
    for p in points do
        Assert.Equal(last.Values.[p.Index % last.Values.Length], p.Values.[axes.Length - 1])

[<Property(MaxTest = 60, QuietOnSuccess = true)>]
let ``the shards of a sweep hold every run exactly once, run k in shard k mod N`` (counts: int list) (seedCount: int) (shardCount: int) =
    let axes = axesOf (if counts.IsEmpty then [ 0 ] else counts)
    let seeds = Array.init (1 + abs seedCount % 4) (fun k -> int64 (k + 1))
    let n = 1 + abs shardCount % 7
    let runs = Sweep.runs axes seeds
    Assert.Equal((Sweep.grid axes).Length * seeds.Length, runs.Length)
    // Point by point, seeds in order within a point.
    for r in runs do
        Assert.Equal(r.Index / seeds.Length, r.Point.Index)
        Assert.Equal(seeds.[r.Index % seeds.Length], r.Seed)
    let shards = Array.init n (fun k -> Sweep.shard k n runs)
    Assert.Equal<int[]>(Array.init runs.Length id, shards |> Array.concat |> Array.map (fun r -> r.Index) |> Array.sort)
    shards |> Array.iteri (fun k s -> for r in s do Assert.Equal(k, r.Index % n))

[<Fact>]
let ``a point sets units, learning rate, window, batch size and epochs, and the prepared run trains with them`` () =
    let axes =
        [| Sweep.parseAxis SweepSetting.Units "4,6"
           Sweep.parseAxis SweepSetting.LearningRate "0.01"
           Sweep.parseAxis SweepSetting.Window "2"
           Sweep.parseAxis SweepSetting.BatchSize "3"
           Sweep.parseAxis SweepSetting.Epochs "7" |]
    let point = (Sweep.grid axes).[1]
    let spec = Sweep.apply axes point (Experiments.find "timestep-window")
    Assert.Equal(6, spec.Units)
    Assert.Equal(7, spec.Epochs)
    Assert.Equal(3, spec.BatchSize)
    Assert.Equal(DataSpec.Window(2, Layout.TimeSteps), spec.Data)
    let prepared = Experiments.prepare spec 1L
    Assert.Equal(0.01, prepared.Config.Optimizer.LearningRate)
    Assert.Equal(24, prepared.Data.Count)
    Assert.Equal("units 6, learning-rate 0.01, window 2, batch-size 3, epochs 7", Sweep.describe axes point)
    // The tutorial's experiments keep Keras' learning rate.
    Assert.Equal(0.001, (Experiments.prepare (Experiments.find "one-char") 1L).Config.Optimizer.LearningRate)

let private message (f: unit -> 'a) = (Assert.ThrowsAny<ArgumentException>(fun () -> f () |> ignore)).Message.Split(" (Parameter").[0]

[<Fact>]
let ``bad values are refused naming the setting, the value and what was expected`` () =
    Assert.Equal("units expects a whole number from 1 to 100,000 for each value, got '0'", message (fun () -> Sweep.parseAxis SweepSetting.Units "16,0"))
    Assert.Equal("epochs expects a whole number from 1 to 10,000,000 for each value, got '2.5'", message (fun () -> Sweep.parseAxis SweepSetting.Epochs "2.5"))
    Assert.Equal("learning-rate expects a positive number for each value, got '-0.1'", message (fun () -> Sweep.parseAxis SweepSetting.LearningRate "-0.1"))
    Assert.Equal("learning-rate expects a positive number for each value, got ''", message (fun () -> Sweep.parseAxis SweepSetting.LearningRate "0.1,"))
    Assert.Equal("window expects a whole number from 1 to 25 for each value, got '26'", message (fun () -> Sweep.parseAxis SweepSetting.Window "26"))
    Assert.Equal("units lists 16 twice", message (fun () -> Sweep.parseAxis SweepSetting.Units "16, 32,16"))
    let units = Sweep.parseAxis SweepSetting.Units "16"
    Assert.Equal("units is given twice (once is enough: list its values together)", message (fun () -> Sweep.grid [| units; units |]))
    Assert.Equal("the sweep has 200,000 runs (points × seeds), at most 100,000 are allowed",
                 message (fun () -> Sweep.runs [| { Setting = SweepSetting.Units; Values = Array.init 100 (fun k -> float (k + 1)) } |] (Array.init 2000 int64)))

[<Fact>]
let ``a point the experiment cannot take is refused naming the experiment and the value`` () =
    let batch = [| Sweep.parseAxis SweepSetting.BatchSize "2" |]
    Assert.Equal("stateful is stateful: its 25 samples must be a multiple of the batch size (as Keras requires), got batch-size 2",
                 message (fun () -> Sweep.apply batch (Sweep.grid batch).[0] (Experiments.find "stateful")))
    let big = [| Sweep.parseAxis SweepSetting.Window "20"; Sweep.parseAxis SweepSetting.BatchSize "10" |]
    Assert.Equal("feature-window has 6 samples with window 20, so batch-size 10 is too large",
                 message (fun () -> Sweep.apply big (Sweep.grid big).[0] (Experiments.find "feature-window")))

[<Fact>]
let ``a grid file gives its axes in its order, and a bad line is named by its number`` () =
    let axes = Sweep.parseGrid "# a sweep\nlearning-rate = 0.01, 0.003\n\n  units=16,32,64  \n"
    Assert.Equal<SweepSetting[]>([| SweepSetting.LearningRate; SweepSetting.Units |], axes |> Array.map (fun a -> a.Setting))
    Assert.Equal<float[]>([| 16.0; 32.0; 64.0 |], axes.[1].Values)
    Assert.Equal("line 2: unknown setting 'heads'; the settings are units, learning-rate, window, batch-size, epochs, layers",
                 message (fun () -> Sweep.parseGrid "units = 16\nheads = 2"))
    Assert.Equal("line 2: layers can be swept for a text only: the tutorial's experiments have one layer",
                 message (fun () -> Sweep.parseGrid "units = 16\nlayers = 2"))
    Assert.Equal("line 1: expected 'setting = value, value, ...', got 'units 16'", message (fun () -> Sweep.parseGrid "units 16"))
    Assert.Equal("line 3: units expects a whole number from 1 to 100,000 for each value, got 'x'", message (fun () -> Sweep.parseGrid "\n\nunits = x"))
    Assert.StartsWith("the grid names no setting", message (fun () -> Sweep.parseGrid "# nothing\n"))

[<Fact>]
let ``a text's window may be longer than the alphabet's, and a text point keeps the defaults of the settings it does not sweep`` () =
    Assert.Equal("window expects a whole number from 1 to 25 for each value, got '26'", message (fun () -> Sweep.parseAxis SweepSetting.Window "26"))
    Assert.Equal<float[]>([| 26.0; 500.0 |], (Sweep.parseTextAxis SweepSetting.Window "26,500").Values)
    Assert.Equal("window expects a whole number from 1 to 100,000,000 for each value, got '0'", message (fun () -> Sweep.parseTextAxis SweepSetting.Window "0"))
    Assert.Equal("line 1: window expects a whole number from 1 to 25 for each value, got '40'", message (fun () -> Sweep.parseGrid "window = 40"))
    Assert.Equal<float[]>([| 40.0 |], (Sweep.parseTextGrid "window = 40").[0].Values)
    let defaults = { Units = 64; LearningRate = 0.01; Window = 10; BatchSize = 32; Epochs = 50; Layers = 1 }
    let axes = [| Sweep.parseTextAxis SweepSetting.Units "8,16"; Sweep.parseTextAxis SweepSetting.Window "100" |]
    let points = Sweep.grid axes |> Array.map (fun p -> Sweep.applyText axes p defaults)
    Assert.Equal<TextSweepSettings[]>(
        [| { defaults with Units = 8; Window = 100 }; { defaults with Units = 16; Window = 100 } |], points)
    let all =
        [| Sweep.parseTextAxis SweepSetting.LearningRate "0.5"; Sweep.parseTextAxis SweepSetting.BatchSize "3"; Sweep.parseTextAxis SweepSetting.Epochs "2"
           Sweep.parseTextAxis SweepSetting.Layers "3" |]
    Assert.Equal({ defaults with LearningRate = 0.5; BatchSize = 3; Epochs = 2; Layers = 3 }, Sweep.applyText all (Sweep.grid all).[0] defaults)
    Assert.Equal("layers expects a whole number from 1 to 64 for each value, got '65'", message (fun () -> Sweep.parseTextAxis SweepSetting.Layers "65"))
    Assert.Equal("layers can be swept for a text only: the tutorial's experiments have one layer", message (fun () -> Sweep.parseAxis SweepSetting.Layers "2"))
