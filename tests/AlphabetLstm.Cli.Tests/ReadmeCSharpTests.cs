using System.Text.RegularExpressions;

namespace AlphabetLstm.Cli.Tests;

/// <summary>
/// Every <c>```csharp</c> block of the README is a whole program that builds and runs on its own
/// against the AlphabetLstm.Core package: the core and AlphabetLstm.Onnx are packed into a folder, and
/// each block becomes a console app in a folder of its own that references the core from there (and
/// the ONNX package when it uses its namespace). When the README shows the block's output (a
/// <c>```text</c> block right after it), the program must print exactly that. So the README cannot
/// drift from the API. A block that serves an ONNX model with ONNX Runtime gets that package too, and
/// each file <c>ID.onnx</c> its <c>InferenceSession</c> opens, ID an experiment, is made first with the
/// CLI: <c>train ID</c>, then <c>export</c>.
/// </summary>
public class ReadmeCSharpTests
{
    private static readonly string Root = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "AlphabetLstm.sln"))) return dir.FullName;
        throw new InvalidOperationException("AlphabetLstm.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>The README's C# blocks, each with the text block that follows it (null when none does).</summary>
    public static IReadOnlyList<(string Code, string? Output)> Blocks()
    {
        var readme = File.ReadAllText(Path.Combine(Root, "README.md")).ReplaceLineEndings("\n");
        var fences = Regex.Matches(readme, "^```(\\w*)\\n(.*?)^```\\s*$", RegexOptions.Multiline | RegexOptions.Singleline);
        var blocks = new List<(string, string?)>();
        for (var k = 0; k < fences.Count; k++)
        {
            if (fences[k].Groups[1].Value != "csharp") continue;
            var next = k + 1 < fences.Count ? fences[k + 1] : null;
            var between = next is null ? "" : readme[(fences[k].Index + fences[k].Length)..next.Index];
            var output = next is not null && next.Groups[1].Value == "text" && between.Trim().Length == 0 ? next.Groups[2].Value : null;
            blocks.Add((fences[k].Groups[2].Value, output));
        }
        return blocks;
    }

    public static TheoryData<int> BlockNumbers()
    {
        var data = new TheoryData<int>();
        for (var k = 0; k < Blocks().Count; k++) data.Add(k);
        return data;
    }

    private static readonly Lazy<string> Package = new(PackLibraries);

    /// <summary>
    /// Packs the already-built core and ONNX package (this test run's configuration) into a fresh
    /// folder; the ONNX package depends on the core of the same version.
    /// </summary>
    private static string PackLibraries()
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;   // bin/<configuration>/net10.0
        var folder = Directory.CreateTempSubdirectory("alphabet-lstm-pack-").FullName;
        foreach (var project in new[] { "AlphabetLstm.Core", "AlphabetLstm.Onnx" })
        {
            var r = Run(Root, "pack", Path.Combine(Root, "src", project), "-c", configuration, "--no-build", "-o", folder, "-p:PackageVersion=0.0.0-readme");
            Assert.True(r.ExitCode == 0, $"dotnet pack {project} failed:\n" + r.Stdout + r.Stderr);
            Assert.True(File.Exists(Path.Combine(folder, project + ".0.0.0-readme.nupkg")), $"no {project} package in " + folder);
        }
        return folder;
    }

    private static CliResult Run(string directory, params string[] args) => RunWithCache(directory, null, args);

    private static CliResult RunWithCache(string directory, string? packages, params string[] args)
    {
        var environment = new Dictionary<string, string> { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1" };
        // A package cache of this test's own, so the freshly packed core is never confused with a
        // package of the same version cached by an earlier run.
        if (packages is not null) environment["NUGET_PACKAGES"] = packages;
        return CliProcess.Wait(CliProcess.StartDotnet(directory, environment, args), $"dotnet {string.Join(' ', args)}");
    }

    /// <summary>A package's version in Directory.Packages.props.</summary>
    private static string CentralVersion(string package)
    {
        var props = File.ReadAllText(Path.Combine(Root, "Directory.Packages.props"));
        var m = Regex.Match(props, $"<PackageVersion Include=\"{Regex.Escape(package)}\" Version=\"([^\"]+)\"");
        Assert.True(m.Success, $"{package} is not in Directory.Packages.props");
        return m.Groups[1].Value;
    }

    [Fact]
    public void The_README_has_CSharp_blocks_and_one_trains_on_a_sequence_that_is_not_the_alphabet()
    {
        var blocks = Blocks();
        Assert.True(blocks.Count >= 2, $"expected at least two csharp blocks, found {blocks.Count}");
        Assert.Contains(blocks, b => b.Code.Contains("Vocabulary.Create") && b.Code.Contains("SavedModel.Parse") && b.Code.Contains(".Final"));
    }

    [Fact]
    public void A_README_CSharp_block_continues_training_from_a_checkpoint_of_its_own_data_and_exports_ONNX_in_process()
    {
        Assert.Contains(Blocks(), b => b.Code.Contains("TrainingCheckpoint.Parse") && b.Code.Contains("Training.Continue(")
                                       && b.Code.Contains("using AlphabetLstm.Onnx;") && b.Code.Contains("OnnxModel.Export(")
                                       && !b.Code.Contains("Vocabulary.Alphabet"));
    }

    [Theory]
    [MemberData(nameof(BlockNumbers))]
    public void A_README_CSharp_block_builds_and_runs_against_the_packed_libraries(int block)
    {
        var (code, output) = Blocks()[block];
        using var app = new TempFolder();
        var userCache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } c ? c
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        // Sources: the packed core, and the packages this machine already restored (the core's
        // dependencies), laid out as a local feed; the machine's own sources stay available too.
        File.WriteAllText(app["nuget.config"], $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="packed-libraries" value="{Package.Value}" />
                <add key="restored" value="{userCache}" />
              </packageSources>
            </configuration>
            """);
        var onnxRuntime = code.Contains("using Microsoft.ML.OnnxRuntime;")
            ? $"""<PackageReference Include="Microsoft.ML.OnnxRuntime" Version="{CentralVersion("Microsoft.ML.OnnxRuntime")}" />"""
            : "";
        var onnxPackage = code.Contains("using AlphabetLstm.Onnx;")
            ? """<PackageReference Include="AlphabetLstm.Onnx" Version="0.0.0-readme" />"""
            : "";
        foreach (Match onnx in Regex.Matches(code, "new InferenceSession\\(\"([a-z-]+)\\.onnx\"\\)"))
        {
            var id = onnx.Groups[1].Value;
            var trained = CliProcess.Run(app.Path, "train", id, "--save", id + ".json", "--quiet");
            Assert.True(trained.ExitCode == 0, $"train {id}: {trained.Stderr}");
            var exported = CliProcess.Run(app.Path, "export", "--model", id + ".json", "--onnx", id + ".onnx");
            Assert.True(exported.ExitCode == 0, $"export {id}: {exported.Stderr}");
        }
        File.WriteAllText(app["readme-block.csproj"], $$"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
                <InvariantGlobalization>true</InvariantGlobalization>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="AlphabetLstm.Core" Version="0.0.0-readme" />
                {{onnxPackage}}
                {{onnxRuntime}}
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(app["Program.cs"], code);
        var r = RunWithCache(app.Path, app["packages"], "run", "-c", "Release");
        Assert.True(r.ExitCode == 0, $"README block {block + 1} failed (exit {r.ExitCode}):\n{r.Stdout}\n{r.Stderr}");
        if (output is not null)
            Assert.Equal(output.TrimEnd(), r.Stdout.ReplaceLineEndings("\n").TrimEnd());
    }
}
