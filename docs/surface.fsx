// The public surface of the libraries, counted by reflection from the built assemblies: per namespace,
// the public types (top-level and nested) and their public members, with and without what the
// compiler generates for structural equality and comparison.
//
//   dotnet build src/AlphabetLstm.Cli -c Release
//   dotnet fsi docs/surface.fsx                      # prints the table
//   dotnet fsi docs/surface.fsx --write           # puts it into docs/library.md, between its markers
//   dotnet fsi docs/surface.fsx --check           # exit 1 when docs/library.md holds another table
//   dotnet fsi docs/surface.fsx --bin FOLDER      # another build (a folder holding the assemblies)
//
// What counts:
// - a type is public when it is visible outside its assembly (a public type, or a public type nested
//   in one); "nested" counts those declared inside another type (an F# union's cases, for example);
// - a member is one public constructor, method, property, field or event declared by that type
//   (inherited ones are counted where they are declared); a property's get/set methods are not counted
//   beside the property, an event's add/remove not beside the event;
// - "written" leaves out what the compiler generates for every record, union and exception: Equals,
//   GetHashCode, CompareTo and ToString (any overload), a union's Tag and its case tests Is… and
//   factories New… stay in (they are how C# builds and reads a union).
// The assemblies are read in a load context of their own from the build folder, never run.

open System
open System.IO
open System.Reflection
open System.Runtime.Loader

let args = fsi.CommandLineArgs |> Array.skip 1
let root = Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, ".."))
let option name = args |> Array.tryFindIndex ((=) name) |> Option.map (fun k -> args.[k + 1])
let bin = option "--bin" |> Option.defaultValue (Path.Combine(root, "src", "AlphabetLstm.Cli", "bin", "Release", "net10.0"))
let libraries = [ "AlphabetLstm.Core"; "AlphabetLstm.Onnx" ]

/// A load context that finds every dependency in the build folder.
type FolderContext(folder: string) =
    inherit AssemblyLoadContext("surface", isCollectible = true)
    override _.Load(name: AssemblyName) =
        let path = Path.Combine(folder, name.Name + ".dll")
        if File.Exists path then base.LoadFromAssemblyPath path else null

let isPublic (t: Type) =
    let rec visible (t: Type) = if t.IsNested then t.IsNestedPublic && visible t.DeclaringType else t.IsPublic
    visible t

/// Declared public members, a property or event counted once (not its accessors).
let members (t: Type) : MemberInfo[] =
    let flags = BindingFlags.Public ||| BindingFlags.Instance ||| BindingFlags.Static ||| BindingFlags.DeclaredOnly
    t.GetMembers flags
    |> Array.filter (fun m ->
        match m with
        | :? MethodInfo as mi -> not mi.IsSpecialName || mi.Name.StartsWith "op_"
        | :? Type -> false                                 // nested types are counted as types
        | _ -> true)

let generated = set [ "Equals"; "GetHashCode"; "CompareTo"; "ToString" ]
let written (m: MemberInfo) = not (m :? MethodInfo && generated.Contains m.Name)

/// A type's name as C# writes it: Outer.Inner for a nested type, Name<T> for a generic one.
let rec display (t: Type) =
    let own =
        match t.Name.IndexOf '`' with
        | -1 -> t.Name
        | k -> t.Name.Substring(0, k) + "<" + (t.GetGenericArguments() |> Array.map _.Name |> String.concat ", ") + ">"
    if t.IsNested then display t.DeclaringType + "." + own else own

type Row = { Namespace: string; Types: int; Nested: int; Members: int; Written: int; Names: string list }

let rows () =
    let context = FolderContext(bin)
    [ for name in libraries do
        let path = Path.Combine(bin, name + ".dll")
        if not (File.Exists path) then
            eprintfn "no %s in %s: build first (dotnet build src/AlphabetLstm.Cli -c Release), or give --bin FOLDER" (name + ".dll") bin
            exit 1
        let assembly = context.LoadFromAssemblyPath path
        let types = assembly.GetTypes() |> Array.filter isPublic
        for ns, inNamespace in types |> Array.groupBy (fun t -> t.Namespace) |> Array.sortBy fst do
            let all = inNamespace |> Array.collect members
            yield { Namespace = ns
                    Types = inNamespace.Length
                    Nested = inNamespace |> Array.filter (fun t -> t.IsNested) |> Array.length
                    Members = all.Length
                    Written = all |> Array.filter written |> Array.length
                    Names = inNamespace |> Array.map display |> Array.sort |> List.ofArray } ]

let table (rows: Row list) =
    let line (r: Row) = sprintf "| `%s` | %d | %d | %d | %d | %d |" r.Namespace r.Types (r.Types - r.Nested) r.Nested r.Members r.Written
    let total = { Namespace = "all"; Types = rows |> List.sumBy _.Types; Nested = rows |> List.sumBy _.Nested
                  Members = rows |> List.sumBy _.Members; Written = rows |> List.sumBy _.Written; Names = [] }
    [ "| namespace | public types | top-level | nested | members | members written (no Equals, GetHashCode, CompareTo, ToString) |"
      "|---|---|---|---|---|---|"
      yield! rows |> List.map line
      sprintf "| all | %d | %d | %d | %d | %d |" total.Types (total.Types - total.Nested) total.Nested total.Members total.Written
      for r in rows do
          ""
          sprintf "`%s` (%d): %s." r.Namespace r.Types (r.Names |> List.map (sprintf "`%s`") |> String.concat ", ") ]
    |> String.concat "\n"

let begin_, end_ = "<!-- surface.fsx: begin -->", "<!-- surface.fsx: end -->"
let text = table (rows ())
let doc = Path.Combine(root, "docs", "library.md")

let withTable (current: string) =
    let b, e = current.IndexOf begin_, current.IndexOf end_
    if b < 0 || e < b then
        eprintfn "docs/library.md has no %s ... %s markers" begin_ end_
        exit 1
    current.Substring(0, b + begin_.Length) + "\n" + text + "\n" + current.Substring e

if Array.contains "--write" args then
    File.WriteAllText(doc, withTable (File.ReadAllText doc))
    printfn "wrote the table into docs/library.md"
elif Array.contains "--check" args then
    let current = File.ReadAllText doc
    if withTable current <> current then
        eprintfn "docs/library.md's surface table differs from the build's:\n%s" text
        exit 1
    printfn "docs/library.md's surface table matches the build"
else
    printfn "%s" text
