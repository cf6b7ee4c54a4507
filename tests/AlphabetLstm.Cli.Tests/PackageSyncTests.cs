using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace AlphabetLstm.Cli.Tests;

/// <summary>Directory.Packages.props (what restore uses) and paket.dependencies name the same packages at the same versions.</summary>
public partial class PackageSyncTests
{
    [GeneratedRegex(@"^\s*nuget\s+(\S+)\s+(\S+)", RegexOptions.Multiline)]
    private static partial Regex PaketLine();

    [Fact]
    public void Paket_dependencies_and_central_package_versions_agree()
    {
        var props = XDocument.Load(Path.Combine(Repo.Root, "Directory.Packages.props"))
            .Descendants("PackageVersion")
            .ToDictionary(e => (string)e.Attribute("Include")!, e => (string)e.Attribute("Version")!);
        var paketText = File.ReadAllText(Path.Combine(Repo.Root, "paket.dependencies"));
        var paket = PaketLine().Matches(paketText).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);

        Assert.NotEmpty(props);
        foreach (var (name, version) in props)
        {
            Assert.True(paket.TryGetValue(name, out var pv), $"{name} is in Directory.Packages.props but not in paket.dependencies");
            Assert.True(pv == version, $"{name}: Directory.Packages.props has {version}, paket.dependencies has {pv}");
        }
        foreach (var name in paket.Keys)
            Assert.True(props.ContainsKey(name), $"{name} is in paket.dependencies but not in Directory.Packages.props");
    }

    [Fact]
    public void The_MKL_provider_stays_named_in_paket_dependencies_behind_a_comment()
    {
        var paketText = File.ReadAllText(Path.Combine(Repo.Root, "paket.dependencies"));
        Assert.Matches(@"(?m)^//\s*nuget MathNet\.Numerics\.Providers\.MKL ", paketText);
    }
}
