/// Sweeps: a grid of training settings, and the list of runs it stands for.
///
/// A sweep varies some of one experiment's or one text's settings (units, learning rate, window,
/// batch size, epochs; a text's layers too), each over a list of values; every combination is a point, and every point runs once
/// per seed. The runs are listed point by point (the last setting varying fastest), seeds in
/// order within a point; run k belongs to shard k mod N, as an experiment plan's runs do, so a
/// sharded sweep trains exactly the runs of the whole one. Pure: values in, specs and lists out;
/// nothing here trains, prints or reads a file (the grid file's text is parsed, not read).
namespace AlphabetLstm.Tutorial

open System
open System.Globalization
open AlphabetLstm.Core

/// A training setting a sweep can vary.
type SweepSetting =
    /// H, the LSTM's units.
    | Units = 0
    /// Adam's learning rate.
    | LearningRate = 1
    /// The sample length: a window's n, or the variable-length runs' longest; a text's T.
    | Window = 2
    /// Samples per batch.
    | BatchSize = 3
    /// Passes over the data.
    | Epochs = 4
    /// N, stacked LSTM layers: text sweeps only (the tutorial's experiments have one layer).
    | Layers = 5

/// One swept setting and its values, in the order given.
type SweepAxis =
    { /// The setting this axis varies.
      Setting: SweepSetting
      /// Its values, whole numbers for every setting but the learning rate.
      Values: float[] }

/// One combination of the axes' values: Values.[a] is axis a's value.
type SweepPoint =
    { /// The point's place in the grid, from 0.
      Index: int
      /// One value per axis, in the axes' order.
      Values: float[] }

/// The settings one text run of a sweep trains with: the sweep's defaults, with the point's values in place.
type TextSweepSettings =
    { /// H, the LSTM's units.
      Units: int
      /// Adam's learning rate.
      LearningRate: float
      /// T, the characters of one sample (of one chunk, for streams).
      Window: int
      /// B, samples per batch (the number of streams, for streams).
      BatchSize: int
      /// Passes over the text.
      Epochs: int
      /// N, stacked LSTM layers.
      Layers: int }

/// One run of a sweep: a point of the grid with one seed.
type SweepRun =
    { /// The run's place in the sweep's run list, from 0 (it decides the run's shard).
      Index: int
      /// The settings it trains with.
      Point: SweepPoint
      /// The seed it trains with.
      Seed: int64 }

/// The grid of a sweep, its run list and shards, and a point applied to an experiment.
module Sweep =
    /// The most runs (points × seeds) one sweep may list.
    [<CompiledName("MaxRuns")>]
    let maxRuns = 100000

    let private names =
        [| SweepSetting.Units, "units"
           SweepSetting.LearningRate, "learning-rate"
           SweepSetting.Window, "window"
           SweepSetting.BatchSize, "batch-size"
           SweepSetting.Epochs, "epochs"
           SweepSetting.Layers, "layers" |]

    /// The settings in their fixed order (the order of the command's options).
    [<CompiledName("Settings")>]
    let settings = names |> Array.map fst

    /// A setting's name as the command line and the files spell it, e.g. "learning-rate".
    [<CompiledName("NameOf")>]
    let nameOf (setting: SweepSetting) : string =
        match names |> Array.tryFind (fun (s, _) -> s = setting) with
        | Some(_, name) -> name
        | None -> invalidArg "setting" (sprintf "unknown sweep setting %d" (int setting))

    /// The setting with this name, or None.
    let private tryParseSetting (name: string) : SweepSetting option =
        names |> Array.tryFind (fun (_, n) -> n = name) |> Option.map fst

    /// Whether a setting takes whole numbers (every one but the learning rate).
    [<CompiledName("IsWhole")>]
    let isWhole (setting: SweepSetting) = setting <> SweepSetting.LearningRate

    /// A value as the tables and files print it: "64", "0.003".
    [<CompiledName("Format")>]
    let format (value: float) : string = value.ToString("R", CultureInfo.InvariantCulture)

    /// A setting's accepted values: an experiment's window is at most 25 (the alphabet's letters
    /// before the target), a text's is as long as a sample may be.
    let private range (forText: bool) (setting: SweepSetting) =
        match setting with
        | SweepSetting.Units -> 1.0, float Limits.maxUnits
        | SweepSetting.Epochs -> 1.0, float Limits.maxEpochs
        | SweepSetting.Window when forText -> 1.0, float Limits.maxSteps
        | SweepSetting.Window -> 1.0, float (Alphabet.Size - 1)
        | SweepSetting.BatchSize -> 1.0, float Limits.maxBatch
        | SweepSetting.Layers -> 1.0, float Parameters.MaxLayers
        | _ -> Double.Epsilon, Double.MaxValue

    /// One value checked against its setting's range; the error names the setting, the value and what was expected.
    let private checkValue (forText: bool) (setting: SweepSetting) (text: string) : float =
        let name = nameOf setting
        if setting = SweepSetting.Layers && not forText then
            invalidArg "text" "layers can be swept for a text only: the tutorial's experiments have one layer"
        let lo, hi = range forText setting
        let expected =
            if isWhole setting then sprintf "a whole number from %s to %s" (format lo) (hi.ToString("N0", CultureInfo.InvariantCulture))
            else "a positive number"
        match Double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture) with
        | true, v when (if isWhole setting then Double.IsFinite v && v >= lo && v <= hi && Math.Round v = v
                        else Adam.isValidLearningRate v) -> v
        | _ -> invalidArg "text" (sprintf "%s expects %s for each value, got '%s'" name expected (text.Trim()))

    let private parseAxisFor (forText: bool) (setting: SweepSetting) (text: string) : SweepAxis =
        let name = nameOf setting
        let parts = text.Split(',')
        if parts.Length > maxRuns then invalidArg "text" (sprintf "%s lists %d values, at most %d are allowed" name parts.Length maxRuns)
        let values = parts |> Array.map (checkValue forText setting)
        match values |> Array.countBy id |> Array.tryFind (fun (_, n) -> n > 1) with
        | Some(v, _) -> invalidArg "text" (sprintf "%s lists %s twice" name (format v))
        | None -> { Setting = setting; Values = values }

    /// An axis of an experiment's sweep from a comma-separated list ("64,128"): every value checked
    /// (a window at most 25), none repeated.
    [<CompiledName("ParseAxis")>]
    let parseAxis (setting: SweepSetting) (text: string) : SweepAxis = parseAxisFor false setting text

    /// An axis of a text's sweep from a comma-separated list: as ParseAxis, but a window may be as
    /// long as any sample (whether the text is long enough is the run's check, not the grid's).
    [<CompiledName("ParseTextAxis")>]
    let parseTextAxis (setting: SweepSetting) (text: string) : SweepAxis = parseAxisFor true setting text

    let private parseGridFor (forText: bool) (text: string) : SweepAxis[] =
        let expectedNames = String.Join(", ", names |> Array.map snd)
        let axes =
            text.Split('\n')
            |> Array.mapi (fun k line -> k + 1, line.Trim())
            |> Array.filter (fun (_, line) -> line <> "" && not (line.StartsWith "#"))
            |> Array.map (fun (k, line) ->
                match line.IndexOf '=' with
                | -1 -> invalidArg "text" (sprintf "line %d: expected 'setting = value, value, ...', got '%s'" k line)
                | eq ->
                    let name = line.Substring(0, eq).Trim()
                    match tryParseSetting name with
                    | None -> invalidArg "text" (sprintf "line %d: unknown setting '%s'; the settings are %s" k name expectedNames)
                    | Some setting ->
                        try parseAxisFor forText setting (line.Substring(eq + 1))
                        with :? ArgumentException as e -> invalidArg "text" (sprintf "line %d: %s" k (e.Message.Split(" (Parameter").[0])))
        if axes.Length = 0 then invalidArg "text" (sprintf "the grid names no setting; expected lines like 'units = 16, 32' (settings: %s)" expectedNames)
        axes

    /// The axes of an experiment's grid file: one `setting = v1, v2, ...` per line, in any order; blank
    /// lines and lines starting with '#' are skipped. Errors name the line and what was expected.
    [<CompiledName("ParseGrid")>]
    let parseGrid (text: string) : SweepAxis[] = parseGridFor false text

    /// The axes of a text's grid file: as ParseGrid, each value checked as ParseTextAxis checks it.
    [<CompiledName("ParseTextGrid")>]
    let parseTextGrid (text: string) : SweepAxis[] = parseGridFor true text

    /// Checks that no setting appears on two axes, and that the grid times the seeds stays within MaxRuns.
    [<CompiledName("Check")>]
    let check (axes: SweepAxis[]) (seedCount: int) : unit =
        if axes.Length = 0 then invalidArg "axes" "a sweep needs at least one setting with values (units, learning-rate, window, batch-size, epochs or, for a text, layers)"
        match axes |> Array.countBy (fun a -> a.Setting) |> Array.tryFind (fun (_, n) -> n > 1) with
        | Some(s, _) -> invalidArg "axes" (sprintf "%s is given twice (once is enough: list its values together)" (nameOf s))
        | None -> ()
        let runs = (axes |> Array.fold (fun acc a -> acc * float a.Values.Length) 1.0) * float seedCount
        if runs > float maxRuns then
            invalidArg "axes" (sprintf "the sweep has %s runs (points × seeds), at most %s are allowed" (runs.ToString("N0", CultureInfo.InvariantCulture)) (maxRuns.ToString("N0", CultureInfo.InvariantCulture)))

    /// Every combination of the axes' values, the last axis varying fastest.
    [<CompiledName("Grid")>]
    let grid (axes: SweepAxis[]) : SweepPoint[] =
        check axes 1
        let combos =
            axes |> Array.fold (fun acc a -> [| for c in acc do for v in a.Values -> Array.append c [| v |] |]) [| [||] |]
        combos |> Array.mapi (fun k values -> { Index = k; Values = values })

    /// The sweep's runs: point by point, the seeds in order within each point.
    [<CompiledName("Runs")>]
    let runs (axes: SweepAxis[]) (seeds: int64[]) : SweepRun[] =
        check axes seeds.Length
        grid axes
        |> Array.collect (fun p -> seeds |> Array.map (fun seed -> p, seed))
        |> Array.mapi (fun k (p, seed) -> { Index = k; Point = p; Seed = seed })

    /// The shard (0 .. count − 1) run k of a list belongs to: k mod count, as for an experiment plan.
    [<CompiledName("ShardOf")>]
    let shardOf (index: int) (count: int) : int = index % count

    /// The runs of shard `index` of `count`.
    [<CompiledName("Shard")>]
    let shard (index: int) (count: int) (runs: SweepRun[]) : SweepRun[] =
        if count < 1 || index < 0 || index >= count then
            invalidArg "index" (sprintf "a shard is K/N with 0 <= K < N, got %d/%d" index count)
        runs |> Array.filter (fun r -> shardOf r.Index count = index)

    /// The experiment as one point of the sweep runs it, or ArgumentException naming the point's
    /// value that the experiment cannot take (a window longer than 25, a batch larger than the
    /// samples, a stateful batch that does not divide them).
    [<CompiledName("Apply")>]
    let apply (axes: SweepAxis[]) (point: SweepPoint) (spec: ExperimentSpec) : ExperimentSpec =
        if point.Values.Length <> axes.Length then
            invalidArg "point" (sprintf "the point has %d values for %d settings" point.Values.Length axes.Length)
        let applied =
            Array.zip axes point.Values
            |> Array.fold (fun (s: ExperimentSpec) (a, v) ->
                match a.Setting with
                | SweepSetting.Units -> s.WithUnits(int v)
                | SweepSetting.LearningRate -> s.WithLearningRate v
                | SweepSetting.Window -> s.WithWindow(int v)
                | SweepSetting.BatchSize -> s.WithBatchSize(int v)
                | SweepSetting.Epochs -> s.WithEpochs(int v)
                | other -> invalidArg "axes" (sprintf "%s can be swept for a text only" (nameOf other))) spec
        let samples = applied.SampleCount
        if applied.BatchSize > samples then
            invalidArg "point" (sprintf "%s has %d samples with window %d, so batch-size %d is too large" spec.Id samples (match applied.Data with Window(n, _) -> n | VariableLength(_, m) -> m) applied.BatchSize)
        if applied.Policy = StatePolicy.Stateful && samples % applied.BatchSize <> 0 then
            invalidArg "point" (sprintf "%s is stateful: its %d samples must be a multiple of the batch size (as Keras requires), got batch-size %d" spec.Id samples applied.BatchSize)
        applied

    /// The settings a text run trains with at one point: `defaults` with each axis's value in place.
    /// Whether the text is long enough for the point's window and batch is checked when the run is
    /// prepared (TextRuns.Problem), where the text's length is known.
    [<CompiledName("ApplyText")>]
    let applyText (axes: SweepAxis[]) (point: SweepPoint) (defaults: TextSweepSettings) : TextSweepSettings =
        if point.Values.Length <> axes.Length then
            invalidArg "point" (sprintf "the point has %d values for %d settings" point.Values.Length axes.Length)
        Array.zip axes point.Values
        |> Array.fold (fun (s: TextSweepSettings) (a, v) ->
            match a.Setting with
            | SweepSetting.Units -> { s with Units = int v }
            | SweepSetting.LearningRate -> { s with LearningRate = v }
            | SweepSetting.Window -> { s with Window = int v }
            | SweepSetting.BatchSize -> { s with BatchSize = int v }
            | SweepSetting.Layers -> { s with Layers = int v }
            | _ -> { s with Epochs = int v }) defaults

    /// A point's values by name, e.g. "units 64, learning-rate 0.003".
    [<CompiledName("Describe")>]
    let describe (axes: SweepAxis[]) (point: SweepPoint) : string =
        String.Join(", ", Array.map2 (fun a v -> sprintf "%s %s" (nameOf a.Setting) (format v)) axes point.Values)
