/// The F# view (AlphabetLstm.FSharp) says what the .NET members say: Results and Options where the
/// members throw or return false, F# functions where they take a Func.
module FSharpViewTests

open Xunit
open AlphabetLstm.Core
open AlphabetLstm.Tutorial
open AlphabetLstm.Core.Tests.Generators

[<Fact>]
let ``ModelFile.parse is Ok with the model TryParse reads and Error with the line it gives`` () =
    let p = (build { I = 2; H = 3; V = 4; B = 1; T = 1; Seed = 3L }).Parameters
    let model = SavedModel.Create(Vocabulary.Create [ "a"; "b"; "c"; "d" ], InputSpec.Create(2, 2, SymbolEncoding.Features), p)
    match AlphabetLstm.FSharp.ModelFile.parse (model.Serialize()) with
    | Ok back -> sameParameters model.Parameters back.Parameters
    | Error e -> failwithf "a model file it wrote did not parse: %s" e
    let bad = model.Serialize().Replace("\"units\": 3", "\"units\": 0")
    let _, _, expected = SavedModel.TryParse bad
    Assert.Equal(Error expected, AlphabetLstm.FSharp.ModelFile.parse bad |> Result.map ignore)
    Assert.StartsWith("lstm.units", expected)

[<Fact>]
let ``Experiments.tryFind is Some for an id Find knows and None for one it refuses`` () =
    Assert.Equal(Some(Experiments.find "stateful"), AlphabetLstm.FSharp.Experiments.tryFind "stateful")
    Assert.Equal(None, AlphabetLstm.FSharp.Experiments.tryFind "no-such-experiment")

[<Fact>]
let ``Training.trainWith reset gives the bits Training.Train gives with LstmState.Zeros as a Func`` () =
    let data = Datasets.window 1 Layout.Features
    let init = Parameters.init 1 3 26 (Rng.create 4L)
    let config = FitConfig.Create(3, batchSize = 5, shuffle = false, policy = StatePolicy.Stateful)
    let start = Training.start config init.Value init.Next
    let viaView = AlphabetLstm.FSharp.Training.trainWith AlphabetLstm.FSharp.Training.reset config data start
    let viaMember = AlphabetLstm.Core.Training.Train(config, data, start, System.Func<LstmState, LstmState>(fun s -> LstmState.Zeros s))
    sameParameters viaMember.Parameters viaView.Parameters
    Assert.True(viaView.Carried.H.Enumerate() |> Seq.forall ((=) 0.0), "the reset was not applied after the last epoch")
