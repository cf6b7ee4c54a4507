/// Every public type and member of the core has an XML doc summary, read from the documentation file
/// the build writes beside the assembly (AlphabetLstm.Core.xml, packed with it). F# has no warning for
/// a missing doc comment (C#'s CS1591, an error in the ONNX package's build), so this test is the rule.
/// What the F# compiler generates itself (structural equality and comparison, a union's Tag, Is*,
/// New* and case classes) is documented by the type or the union case it comes from.
module LayerDocsTests

// Reflection hands out nullable types at every turn; the code tests for null where it can occur.
#nowarn "3261"

open System
open System.IO
open System.Reflection
open System.Runtime.CompilerServices
open System.Xml.Linq
open Xunit
open Microsoft.FSharp.Core
open AlphabetLstm.Core

let private core = typeof<Vocabulary>.Assembly

/// The documented ids (without a method's parameter list), each with its summary's text.
let private documented =
    lazy (
        let file = Path.ChangeExtension(core.Location, ".xml")
        XDocument.Load(file).Descendants(XName.Get "member")
        |> Seq.map (fun m ->
            let id = m.Attribute(XName.Get "name").Value
            let cut = id.IndexOf '('
            let name = if cut >= 0 then id.Substring(0, cut) else id
            // A generic method's id carries its arity (Many``1): the reflection name does not.
            let arity = name.IndexOf("``", StringComparison.Ordinal)
            (if arity >= 0 then name.Substring(0, arity) else name), m.Value.Trim())
        |> Seq.filter (fun (_, text) -> text <> "")
        |> Seq.map fst
        |> set)

let private docName (t: Type) = t.FullName.Replace('+', '.')

let private isUnion (t: Type) =
    t.GetCustomAttributes<CompilationMappingAttribute>() |> Seq.exists (fun a -> a.SourceConstructFlags &&& SourceConstructFlags.KindMask = SourceConstructFlags.SumType)

let rec private insideUnion (t: Type) = not (isNull t.DeclaringType) && (isUnion t.DeclaringType || insideUnion t.DeclaringType)

let private generated (m: MemberInfo) = m.IsDefined(typeof<CompilerGeneratedAttribute>, false)

/// The doc ids a public type asks for: its own, and one per public member it declares.
let private wanted (t: Type) : string list =
    if insideUnion t then [] else
    let union = isUnion t
    let caseNames =
        if union then t.GetProperties() |> Array.choose (fun p -> if p.Name.StartsWith "Is" && p.PropertyType = typeof<bool> then Some(p.Name.Substring 2) else None) |> Set.ofArray
        else Set.empty
    let members =
        t.GetMembers(BindingFlags.Public ||| BindingFlags.Instance ||| BindingFlags.Static ||| BindingFlags.DeclaredOnly)
        |> Array.filter (fun m ->
            // A constructor is documented by its type: F# has no doc comment for a record's or a
            // primary constructor.
            not (generated m) && not (m :? ConstructorInfo)
            && not (t.IsEnum && m.Name = "value__")
            && not (m :? Type)
            && (match m with :? MethodInfo as mi -> not mi.IsSpecialName | _ -> true)
            && not (union && (m.Name = "Tag" || m.Name.StartsWith "Is" || m.Name.StartsWith "New" || caseNames.Contains m.Name)))
        |> Array.map (fun m ->
            let prefix = match m with :? MethodBase -> "M" | :? PropertyInfo -> "P" | :? FieldInfo -> "F" | _ -> "E"
            let name = if m :? ConstructorInfo then "#ctor" else m.Name
            sprintf "%s:%s.%s" prefix (docName t) name)
        |> List.ofArray
    let cases = caseNames |> Seq.map (fun c -> sprintf "T:%s.%s" (docName t) c) |> List.ofSeq
    (sprintf "T:%s" (docName t) :: cases) @ members

[<Fact>]
let ``Every public type and member of the core has an XML doc summary`` () =
    let ids = core.GetExportedTypes() |> Seq.collect wanted |> Seq.distinct |> List.ofSeq
    // The check sees the surface: types, members and union cases are all asked for.
    Assert.Contains("T:AlphabetLstm.Core.Vocabulary", ids)
    Assert.Contains("M:AlphabetLstm.Core.SavedModel.Create", ids)
    Assert.Contains("T:AlphabetLstm.Core.Masking.PrePadded", ids)
    let missing = ids |> List.filter (fun id -> not (documented.Force().Contains id))
    Assert.True(missing.IsEmpty, sprintf "%d public types and members have no XML doc summary: %s" missing.Length (String.Join(", ", missing)))
