using System.Reflection;
using AlphabetLstm.Core;
using AlphabetLstm.Tutorial;

namespace AlphabetLstm.Cli.Tests;

/// <summary>
/// The core's public surface as a C# caller sees it: every public member whose signature holds an
/// FSharp.Core type (FSharpOption, FSharpResult, FSharpFunc, FSharpList, …) or that is an F# union's
/// <c>New…</c> factory is F#-only by design, and must be listed here with its C# twin: a public member
/// whose signature holds no FSharp.Core type. Any other such member fails the test, and so does a
/// listed twin that is missing or itself holds an F# type.
/// </summary>
public class CSharpSurfaceTests
{
    /// <summary>F#-only member (Type.Member) → its C# twin (Type.Member).</summary>
    private static readonly Dictionary<string, string> Twins = new()
    {
        // Result-returning parsers (F#) and their .NET Parse/TryParse or throwing twins.
        ["ModelFile.ParseResult"] = "SavedModel.TryParse",
        ["CheckpointFile.ParseResult"] = "Checkpoint.TryParse",
        ["ModelFile.EncodeSymbolsResult"] = "SavedModel.Encode",
        ["ModelFile.PredictNextResult"] = "SavedModel.PredictNext",
        ["PredictionFiles.ParseInputsResult"] = "PredictionFiles.ParseInputs",
        ["PredictionFiles.ParseStateResult"] = "PredictionFiles.ParseState",
        // Option-returning lookups and fields.
        ["Experiments.TryFindOption"] = "Experiments.Find",
        ["ExperimentResult.BatchIndependence"] = "ExperimentResult.TryGetBatchIndependence",
        ["ExperimentResult.Generation"] = "ExperimentResult.TryGetGeneration",
        ["ExperimentResult.Traces"] = "ExperimentResult.TryGetTraces",
        ["ExperimentResult.PaddingCollision"] = "ExperimentResult.TryGetPaddingCollision",
        // Building a result by hand is F#'s; C# gets one from the analysis.
        ["ExperimentResult..ctor"] = "Experiments.Analyse",
        // A run is an experiment or a text run: the F# option, and C#'s factories and null view.
        ["RunSettings..ctor"] = "RunSettings.ForExperiment",
        ["RunSettings.Text"] = "RunSettings.TextOrNull",
        // Functions taking F# functions, and their Func twins.
        ["TrainingModule.FitEveryWith"] = "Training.FitEvery",
        ["TrainingModule.FitWith"] = "Training.Fit",
        ["TrainingModule.TrainWith"] = "Training.Train",
        ["ParametersModule.Map"] = "Parameters.Map",
        ["ParametersModule.Map2"] = "Parameters.Map2",
        ["RngModule.Many"] = "Rng.Many",
        // F# union case factories, and static members that build the same case.
        ["Masking.NewPrePadded"] = "Masking.ForLengths",
        ["DataSpec.NewWindow"] = "DataSpec.Windows",
        ["DataSpec.NewVariableLength"] = "DataSpec.VariableRuns",
    };

    private static readonly Assembly Core = typeof(SavedModel).Assembly;

    private static bool HoldsFSharpType(Type t)
    {
        if (t.IsByRef || t.IsArray || t.IsPointer) return HoldsFSharpType(t.GetElementType()!);
        if (t.Assembly.GetName().Name == "FSharp.Core") return true;
        return t.IsGenericType && t.GetGenericArguments().Any(HoldsFSharpType);
    }

    private static bool IsUnionFactory(MethodInfo m) =>
        m.IsStatic && m.Name.StartsWith("New", StringComparison.Ordinal)
        && m.DeclaringType!.GetCustomAttributes().Any(a => a.GetType().Name == "CompilationMappingAttribute"
            && a.GetType().GetProperty("SourceConstructFlags")!.GetValue(a)!.ToString() == "SumType");

    private static IEnumerable<(string Name, MemberInfo Member)> PublicMembers() =>
        from type in Core.GetExportedTypes()
        from member in type.GetMembers(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
        where member is not MethodInfo { IsSpecialName: true }   // property and event accessors: their property is checked
        select ($"{type.Name}.{member.Name}", member);

    private static bool IsFSharpOnly(MemberInfo member) => member switch
    {
        MethodInfo m => IsUnionFactory(m) || HoldsFSharpType(m.ReturnType) || m.GetParameters().Any(p => HoldsFSharpType(p.ParameterType)),
        ConstructorInfo c => c.GetParameters().Any(p => HoldsFSharpType(p.ParameterType)),
        PropertyInfo p => HoldsFSharpType(p.PropertyType),
        FieldInfo f => HoldsFSharpType(f.FieldType),
        _ => false,
    };

    [Fact]
    public void Every_public_member_holding_an_FSharp_Core_type_is_listed_as_FSharp_only_with_a_CSharp_twin()
    {
        var fsharpOnly = PublicMembers().Where(m => IsFSharpOnly(m.Member)).Select(m => m.Name).Distinct().Order().ToList();
        var unlisted = fsharpOnly.Except(Twins.Keys).ToList();
        Assert.True(unlisted.Count == 0, "public members with F# types and no C# twin: " + string.Join(", ", unlisted));
        var stale = Twins.Keys.Except(fsharpOnly).ToList();
        Assert.True(stale.Count == 0, "listed as F#-only but not (or no longer) public with F# types: " + string.Join(", ", stale));
    }

    [Fact]
    public void Every_CSharp_twin_exists_and_holds_no_FSharp_Core_type()
    {
        var members = PublicMembers().ToLookup(m => m.Name, m => m.Member);
        foreach (var (fsharp, twin) in Twins)
        {
            Assert.True(members.Contains(twin), $"{fsharp}: its C# twin {twin} is not a public member of the core");
            Assert.True(members[twin].Any(m => !IsFSharpOnly(m)), $"{fsharp}: its C# twin {twin} holds an FSharp.Core type");
        }
    }
}
