using System.Text;
using System.Text.RegularExpressions;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Google.Protobuf;
using Onnx;

namespace AlphabetLstm.Cli.Tests;

/// <summary>One damage to a valid file: what is done, where (a fraction of the file, in thousandths) and with which value.</summary>
public sealed record Damage(Damage.Kinds Kind, int Where, int Which)
{
    public enum Kinds { Truncate, FlipByte, GrowDeclaredSize, ReplaceDimension }

    /// <summary>The values a dimension or a count is replaced with: 0, −1, 2^31 and 2^31 − 1.</summary>
    public static readonly long[] Dimensions = [0, -1, 1L << 31, int.MaxValue];

    public int At(int length) => Math.Min(length - 1, (int)((long)Where * length / 1000));

    public override string ToString() => $"{Kind} at {Where}/1000, value {Which}";
}

/// <summary>Bounded damage: one of the four kinds, anywhere in the file, one of a few values.</summary>
public static class DamageArbitrary
{
    public static Arbitrary<Damage> Damages() =>
        (from kind in Gen.Elements(Enum.GetValues<Damage.Kinds>())
         from at in Gen.Choose(0, 999)
         from which in Gen.Choose(0, Damage.Dimensions.Length - 1)
         select new Damage(kind, at, which)).ToArbitrary();
}

/// <summary>
/// Fuzz, one property per reader (ONNX, shard JSON, text): a valid file, damaged once, gives either a
/// valid result (exit 0: a flipped byte can land in a weight or a name) or one line and exit 1, never
/// exit 2 or 70, and the command allocates a bounded amount on its thread
/// (GC.GetAllocatedBytesForCurrentThread around the in-process call: other tests run beside it).
/// Damage that cannot leave a valid file (a declared size grown, a dimension replaced) must give exit 1.
/// </summary>
[Properties(Arbitrary = [typeof(DamageArbitrary)], MaxTest = 25)]
public class ReaderFuzzProperties
{
    /// <summary>What any damaged small file may cost: far below the memory limit, far above what reading a few KB needs.</summary>
    private const long AllocationBound = 64L << 20;

    private static void Outcome(CliResult r, long allocated, bool mustFail, Damage d)
    {
        Assert.True(r.ExitCode is 0 or 1, $"{d}: exit {r.ExitCode}: {r.Stderr}");
        if (r.ExitCode == 1 || mustFail) Hostile.OneLine(r, 1);
        Assert.True(allocated < AllocationBound, $"{d}: allocated {allocated:N0} bytes");
    }

    private static (CliResult Result, long Allocated) Measured(string[] args)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var r = Hostile.Run(args);
        return (r, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    private static byte[] FlipOrTruncate(byte[] bytes, Damage d) => d.Kind switch
    {
        Damage.Kinds.Truncate => bytes[..d.At(bytes.Length)],
        _ => bytes.Select((b, k) => k == d.At(bytes.Length) ? (byte)(b ^ (1 << (d.Which + d.Where) % 8)) : b).ToArray(),
    };

    private static readonly byte[] Onnx = Hostile.OnnxBytes();

    [Property]
    public void A_damaged_ONNX_file_imports_or_is_refused_in_one_line_with_bounded_allocation(Damage d)
    {
        using var dir = new TempFolder();
        byte[] bytes;
        var mustFail = d.Kind is Damage.Kinds.GrowDeclaredSize or Damage.Kinds.ReplaceDimension;
        if (mustFail)
        {
            var m = ModelProto.Parser.ParseFrom(Onnx);
            var weights = m.Graph.Initializer.Where(t => t.Dims.Count > 0 && t.DataType == (int)TensorProto.Types.DataType.Float).ToList();
            var t = weights[d.Where % weights.Count];
            var axis = d.Which % t.Dims.Count;
            t.Dims[axis] = d.Kind == Damage.Kinds.GrowDeclaredSize ? t.Dims[axis] * 1000 + 1 : Damage.Dimensions[d.Which];
            bytes = m.ToByteArray();
        }
        else bytes = FlipOrTruncate(Onnx, d);
        File.WriteAllBytes(dir["x.onnx"], bytes);
        var (r, allocated) = Measured(["import", "--onnx", dir["x.onnx"], "--save", dir["m.json"]]);
        Outcome(r, allocated, mustFail, d);
        if (r.ExitCode == 0) Assert.NotNull(ModelCommands.LoadModel(dir["m.json"]));
        else Assert.Equal(["x.onnx"], dir.Files());
    }

    private static readonly Lazy<string> Part = new(() =>
    {
        using var dir = new TempFolder();
        return File.ReadAllText(Hostile.Parts(dir, 1)[0]);
    });

    private static readonly Regex Numbers = new(@"(?<=""(epochs|units|batchSize|seed|index|count|accuracy|loss)"": )-?[0-9.eE+-]+", RegexOptions.CultureInvariant);

    [Property]
    public void A_damaged_shard_file_merges_or_is_refused_in_one_line_with_bounded_allocation(Damage d)
    {
        using var dir = new TempFolder();
        var text = Part.Value;
        var mustFail = false;
        string damaged;
        if (d.Kind is Damage.Kinds.GrowDeclaredSize or Damage.Kinds.ReplaceDimension)
        {
            // A count or figure replaced: 0, −1, 2^31 or 2^31 − 1 for one of the fields merge indexes or reports with.
            var matches = Numbers.Matches(text);
            var m = matches[d.Where % matches.Count];
            var value = d.Kind == Damage.Kinds.GrowDeclaredSize ? "1e999" : Damage.Dimensions[d.Which].ToString(System.Globalization.CultureInfo.InvariantCulture);
            damaged = text[..m.Index] + value + text[(m.Index + m.Length)..];
            mustFail = d.Kind == Damage.Kinds.GrowDeclaredSize;   // infinity is in no field's range; some dims (a seed of −1) are valid
        }
        else damaged = Encoding.UTF8.GetString(FlipOrTruncate(Encoding.UTF8.GetBytes(text), d));
        File.WriteAllText(dir["p.json"], damaged);
        var (r, allocated) = Measured(["merge", dir["p.json"], "--json", dir["merged.json"]]);
        Outcome(r, allocated, mustFail, d);
        if (r.ExitCode == 1) Assert.Equal(["p.json"], dir.Files());
    }

    [Property]
    public void A_damaged_text_trains_or_is_refused_in_one_line_with_bounded_allocation(Damage d)
    {
        using var dir = new TempFolder();
        var bytes = Encoding.UTF8.GetBytes(Hostile.Text);
        var mustFail = d.Kind is Damage.Kinds.GrowDeclaredSize or Damage.Kinds.ReplaceDimension;
        // A text declares no size: the counterparts are bytes no UTF-8 text holds (a lone continuation byte, 0xFF) put in it.
        if (mustFail) bytes = [.. bytes[..d.At(bytes.Length)], d.Kind == Damage.Kinds.GrowDeclaredSize ? (byte)0x80 : (byte)0xFF, .. bytes[d.At(bytes.Length)..]];
        else bytes = FlipOrTruncate(bytes, d);
        File.WriteAllBytes(dir["t.txt"], bytes);
        var (r, allocated) = Measured(["train", "--text", dir["t.txt"], "--save", dir["m.json"], "--epochs", "1", "--units", "2", "--window", "3", "--batch-size", "8", "--quiet"]);
        Outcome(r, allocated, mustFail, d);
        if (r.ExitCode == 1) Assert.Equal(["t.txt"], dir.Files());
    }
}
