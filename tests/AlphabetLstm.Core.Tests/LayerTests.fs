/// The core's layers: the library (namespace AlphabetLstm.Core) never names the tutorial
/// (AlphabetLstm.Tutorial) or the benchmark's workloads (AlphabetLstm.Bench), read from the compiled
/// assembly: every signature, and every member or type a method body names in its IL. Beside it, a
/// scan of the core's sources: no message names a command-line option, which is the shell's business.
module LayerTests

// Reflection hands out nullable types at every turn (a base type, a namespace, a method body);
// the code below tests for null where it can occur.
#nowarn "3261"

open System
open System.IO
open System.Reflection
open System.Reflection.Emit
open System.Text.RegularExpressions
open Xunit
open AlphabetLstm.Core

let private core = typeof<Vocabulary>.Assembly
let private upper = set [ "AlphabetLstm.Tutorial"; "AlphabetLstm.Bench" ]
let private all = BindingFlags.Public ||| BindingFlags.NonPublic ||| BindingFlags.Instance ||| BindingFlags.Static ||| BindingFlags.DeclaredOnly

let rec private outermost (t: Type) = if isNull t.DeclaringType then t else outermost t.DeclaringType

/// The namespace a type belongs to, closures and nested types counted with the type that holds them.
let private layerOf (t: Type) = (outermost t).Namespace

/// The type and what it is built from: array elements, by-refs, generic arguments.
let rec private parts (t: Type) : Type list =
    if isNull t then []
    elif t.HasElementType then parts (t.GetElementType())
    elif t.IsGenericType && not t.IsGenericTypeDefinition then t.GetGenericTypeDefinition() :: (t.GetGenericArguments() |> Seq.collect parts |> List.ofSeq)
    else [ t ]

/// The one- and two-byte opcodes by value, to walk a method body's IL.
let private opcodes =
    typeof<OpCodes>.GetFields(BindingFlags.Public ||| BindingFlags.Static)
    |> Array.map (fun f -> f.GetValue null :?> OpCode)
    |> Array.map (fun o -> uint16 o.Value, o)
    |> dict

/// The types a resolved member names: its declaring type, and for a method or field its signature.
let private typesOfMember (m: MemberInfo) : Type list =
    match m with
    | :? Type as t -> parts t
    | :? FieldInfo as f -> parts f.DeclaringType @ parts f.FieldType
    | :? MethodInfo as mi ->
        parts mi.DeclaringType @ parts mi.ReturnType
        @ (mi.GetParameters() |> Seq.collect (fun p -> parts p.ParameterType) |> List.ofSeq)
        @ (if mi.IsGenericMethod then mi.GetGenericArguments() |> Seq.collect parts |> List.ofSeq else [])
    | :? ConstructorInfo as c -> parts c.DeclaringType @ (c.GetParameters() |> Seq.collect (fun p -> parts p.ParameterType) |> List.ofSeq)
    | _ -> []

/// Every type a method body names through a token: the members it calls, reads, writes or creates,
/// and the types it allocates, casts to, boxes or loads.
let private typesNamedBy (m: MethodBase) : Type list =
    let body = try m.GetMethodBody() with _ -> null
    if isNull body then [] else
    let il = body.GetILAsByteArray()
    let typeArgs = if m.DeclaringType.IsGenericType then m.DeclaringType.GetGenericArguments() else [||]
    let methodArgs = if m.IsGenericMethod then m.GetGenericArguments() else [||]
    let found = ResizeArray<Type>()
    let mutable pos = 0
    while pos < il.Length do
        let code =
            if il.[pos] = 0xFEuy then
                pos <- pos + 2
                0xFE00us ||| uint16 il.[pos - 1]
            else
                pos <- pos + 1
                uint16 il.[pos - 1]
        let op = opcodes.[code]
        match op.OperandType with
        | OperandType.InlineMethod | OperandType.InlineField | OperandType.InlineType | OperandType.InlineTok ->
            let token = BitConverter.ToInt32(il, pos)
            match (try m.Module.ResolveMember(token, typeArgs, methodArgs) with _ -> null) with
            | null -> ()
            | resolved -> found.AddRange(typesOfMember resolved)
            pos <- pos + 4
        | OperandType.InlineNone -> ()
        | OperandType.ShortInlineBrTarget | OperandType.ShortInlineI | OperandType.ShortInlineVar -> pos <- pos + 1
        | OperandType.InlineVar -> pos <- pos + 2
        | OperandType.InlineI8 | OperandType.InlineR -> pos <- pos + 8
        | OperandType.InlineSwitch -> pos <- pos + 4 + 4 * BitConverter.ToInt32(il, pos)
        | _ -> pos <- pos + 4
    List.ofSeq found

/// Every type a library type names in its signatures and its code, with where.
let private namedByLibrary () : (string * Type) list =
    [ for t in core.GetTypes() do
        if layerOf t = "AlphabetLstm.Core" then
            for b in parts t.BaseType @ (t.GetInterfaces() |> Seq.collect parts |> List.ofSeq) do
                yield t.FullName, b
            for m in t.GetMembers all do
                let where = sprintf "%s.%s" t.FullName m.Name
                match m with
                | :? MethodBase as mb ->
                    for x in typesOfMember m @ typesNamedBy mb do yield where, x
                | :? FieldInfo as f -> for x in parts f.FieldType do yield where, x
                | :? PropertyInfo as p -> for x in parts p.PropertyType do yield where, x
                | _ -> () ]

[<Fact>]
let ``The library's signatures and code never name a type of the tutorial or the bench`` () =
    let named = namedByLibrary ()
    // The scan sees the library's code: it finds the library's own types, through calls and fields.
    Assert.Contains(named, fun (_, t) -> t = typeof<Vocabulary>)
    let crossings =
        named
        |> List.filter (fun (_, t) -> not (isNull t) && upper.Contains(layerOf t))
        |> List.map (fun (where, t) -> sprintf "%s -> %s" where t.FullName)
        |> List.distinct
    Assert.True(crossings.IsEmpty, "the library names the tutorial or the bench: " + String.Join("; ", crossings |> List.truncate 10))

[<Fact>]
let ``The core has its layers as namespaces (library, tutorial, bench, F# view) and every public type is in one of them`` () =
    let namespaces = core.GetExportedTypes() |> Array.map layerOf |> Array.distinct |> Array.sort
    Assert.Equal<string[]>([| "AlphabetLstm.Bench"; "AlphabetLstm.Core"; "AlphabetLstm.FSharp"; "AlphabetLstm.Tutorial" |], namespaces)

let rec private findRoot (dir: DirectoryInfo) =
    if isNull dir then failwith ("AlphabetLstm.sln not found above " + AppContext.BaseDirectory)
    elif File.Exists(Path.Combine(dir.FullName, "AlphabetLstm.sln")) then dir.FullName
    else findRoot dir.Parent

[<Fact>]
let ``No string in the core's sources names a command-line option`` () =
    let src = Path.Combine(findRoot (DirectoryInfo AppContext.BaseDirectory), "src", "AlphabetLstm.Core")
    let files = Directory.GetFiles(src, "*.fs", SearchOption.AllDirectories)
    Assert.True(files.Length >= 10, sprintf "expected the core's sources in %s, found %d files" src files.Length)
    // A string literal on one line holding --word (comments are skipped: they may explain the shell).
    let literal = Regex("\"(?:[^\"\\\\\\n]|\\\\.)*\"")
    let option = Regex("(?<![-\\w])--[a-z][a-z-]*")
    let offending =
        [ for f in files do
            for k, line in Array.indexed (File.ReadAllLines f) do
                let c = line.IndexOf("//", StringComparison.Ordinal)
                let code = if c >= 0 && not (line.Substring(0, c).Contains '"') then line.Substring(0, c) else line
                for m in literal.Matches code do
                    if option.IsMatch m.Value then
                        yield sprintf "%s:%d: %s" (Path.GetFileName f) (k + 1) (option.Match m.Value).Value ]
    Assert.True(offending.IsEmpty, "core messages that name a CLI option: " + String.Join("; ", offending))
