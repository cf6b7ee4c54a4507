using System.Reflection;
using AlphabetLstm.Core;

namespace AlphabetLstm.Cli.Tests;

/// <summary>
/// The core's public surface as a C# caller sees it, after the F# component design guidelines: outside
/// the namespace <c>AlphabetLstm.FSharp</c> (curried functions, Result and Option, built on the rest), no
/// public member's signature holds an FSharp.Core type (FSharpOption, FSharpResult, FSharpFunc,
/// FSharpList, …); and nothing is there twice under two names, as an F# module beside a type of the
/// same name (C# would see both <c>RngModule.Create</c> and <c>Rng.Create</c>).
/// </summary>
public class CSharpSurfaceTests
{
    private const string FSharpNamespace = "AlphabetLstm.FSharp";

    private static readonly Assembly Core = typeof(SavedModel).Assembly;

    private static bool HoldsFSharpType(Type t)
    {
        if (t.IsByRef || t.IsArray || t.IsPointer) return HoldsFSharpType(t.GetElementType()!);
        if (t.Assembly.GetName().Name == "FSharp.Core") return true;
        return t.IsGenericType && t.GetGenericArguments().Any(HoldsFSharpType);
    }

    private static IEnumerable<(Type Type, MemberInfo Member)> PublicMembers(Func<Type, bool> keep) =>
        from type in Core.GetExportedTypes()
        where keep(type)
        from member in type.GetMembers(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
        where member is not MethodInfo { IsSpecialName: true }   // property and event accessors: their property is checked
        select (type, member);

    private static bool HoldsFSharpType(MemberInfo member) => member switch
    {
        MethodInfo m => HoldsFSharpType(m.ReturnType) || m.GetParameters().Any(p => HoldsFSharpType(p.ParameterType)),
        ConstructorInfo c => c.GetParameters().Any(p => HoldsFSharpType(p.ParameterType)),
        PropertyInfo p => HoldsFSharpType(p.PropertyType),
        FieldInfo f => HoldsFSharpType(f.FieldType),
        _ => false,
    };

    private static bool OutsideFSharp(Type t) => t.Namespace != FSharpNamespace;

    [Fact]
    public void No_public_member_outside_the_FSharp_namespace_holds_an_FSharp_Core_type()
    {
        // The check sees F# types where they are allowed: the F# view returns Results.
        Assert.Contains(PublicMembers(t => !OutsideFSharp(t)), m => HoldsFSharpType(m.Member));
        var offending = PublicMembers(OutsideFSharp).Where(m => HoldsFSharpType(m.Member))
            .Select(m => $"{m.Type.FullName}.{m.Member.Name}").Distinct().Order().ToList();
        Assert.True(offending.Count == 0, "public members with FSharp.Core types outside " + FSharpNamespace + ": " + string.Join(", ", offending));
    }

    [Fact]
    public void No_module_stands_beside_a_type_of_the_same_name_so_no_member_is_there_twice()
    {
        var exported = Core.GetExportedTypes().Where(OutsideFSharp).ToList();
        var names = exported.Select(t => t.FullName!).ToHashSet();
        var twins = exported.Where(t => t.Name.EndsWith("Module", StringComparison.Ordinal) && names.Contains(t.FullName![..^"Module".Length]))
            .Select(t => t.FullName!).Order().ToList();
        Assert.True(twins.Count == 0, "modules shown beside a type of the same name (the same members twice): " + string.Join(", ", twins));
    }

    /// <summary>
    /// One concept, one name: what makes a zero LSTM state (a reset) is <c>LstmState.Zeros</c> alone,
    /// its overloads (a batch and units, or another state's shape). No other public member that hands
    /// out a state, or a function of one, is named for zeros or a reset (as <c>Training.Reset</c> and
    /// <c>SavedModel.ZeroState</c> once were).
    /// </summary>
    [Fact]
    public void The_zero_state_has_one_name_LstmState_Zeros_and_no_twin()
    {
        static bool GivesState(Type t) => t == typeof(LstmState) || t == typeof(Func<LstmState, LstmState>);
        static bool NamedForReset(string name) =>
            name.Contains("Zero", StringComparison.OrdinalIgnoreCase) || name.Contains("Reset", StringComparison.OrdinalIgnoreCase);
        var resets = PublicMembers(OutsideFSharp)
            .Where(m => NamedForReset(m.Member.Name) && m.Member switch
            {
                MethodInfo method => GivesState(method.ReturnType),
                PropertyInfo property => GivesState(property.PropertyType),
                FieldInfo field => GivesState(field.FieldType),
                _ => false,
            })
            .Select(m => $"{m.Type.Name}.{m.Member.Name}").Distinct().Order().ToList();
        Assert.Equal(["LstmState.Zeros"], resets);
    }
}
