using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace AlphabetLstm.Onnx;

/// <summary>
/// The model file's vocabulary and "input" as the ONNX model's metadata_props (string → string), so a
/// server knows how to encode symbols and read the probabilities: "vocabulary" (a JSON array of
/// strings), "encoding", "timeSteps", "features", "masked", "padding", "reading", "targets" (the model file's names and values).
/// </summary>
internal static class OnnxMetadata
{
    public const string Vocabulary = "vocabulary", Encoding = "encoding", TimeSteps = "timeSteps",
                        Features = "features", Masked = "masked", Padding = "padding", Reading = "reading",
                        Targets = "targets";

    private static readonly JsonSerializerOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static IEnumerable<StringStringEntryProto> Write(SavedModel model)
    {
        var input = model.Input;
        StringStringEntryProto E(string k, string v) => new() { Key = k, Value = v };
        yield return E(Vocabulary, JsonSerializer.Serialize(model.Vocabulary.Symbols, Json));
        yield return E(Encoding, ModelFile.EncodingName(input.Encoding));
        yield return E(TimeSteps, input.TimeSteps.ToString(CultureInfo.InvariantCulture));
        yield return E(Features, input.Features.ToString(CultureInfo.InvariantCulture));
        yield return E(Masked, input.Masked ? "true" : "false");
        yield return E(Padding, input.PrePadded ? "pre" : "none");
        yield return E(Reading, ModelFile.ReadingName(input.Reading));
        yield return E(Targets, ModelFile.TargetsName(input.Targets));
    }

    /// <summary>What the metadata says; null fields where it says nothing.</summary>
    public sealed record Read(Vocabulary? Vocabulary, SymbolEncoding? Encoding, int? TimeSteps, int? Features, bool Masked, bool PrePadded, Core.Reading Reading, Core.Targets Targets);

    public static Read Parse(ModelProto model)
    {
        var props = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in model.MetadataProps) props[p.Key] = p.Value;
        string? Get(string key) => props.TryGetValue(key, out var v) ? v : null;

        Vocabulary? vocabulary = null;
        if (Get(Vocabulary) is { } text)
        {
            string[]? symbols;
            try { symbols = JsonSerializer.Deserialize<string[]>(text); }
            catch (JsonException) { symbols = null; }
            if (symbols is null || symbols.Any(s => s is null))
                throw Fail($"metadata \"{Vocabulary}\": expected a JSON array of strings, found {Shown(text)}");
            try { vocabulary = Core.Vocabulary.Create(symbols); }
            catch (ArgumentException e) { throw Fail($"metadata \"{Vocabulary}\": {OneLine(e.Message)}"); }
        }
        SymbolEncoding? encoding = null;
        if (Get(Encoding) is { } enc)
        {
            var all = Enum.GetValues<SymbolEncoding>();
            encoding = all.Where(e => ModelFile.EncodingName(e) == enc).Select(e => (SymbolEncoding?)e).FirstOrDefault()
                ?? throw Fail($"metadata \"{Encoding}\": expected {string.Join(" or ", all.Select(e => $"\"{ModelFile.EncodingName(e)}\""))}, found {Shown(enc)}");
        }
        return new Read(vocabulary, encoding, Count(TimeSteps, Get(TimeSteps)), Count(Features, Get(Features)),
                        Flag(Masked, Get(Masked), "true", "false"), Flag(Padding, Get(Padding), "pre", "none"),
                        Flag(Reading, Get(Reading), "stream", "window") ? Core.Reading.Stream : Core.Reading.Window,
                        Flag(Targets, Get(Targets), ModelFile.TargetsName(Core.Targets.Every), ModelFile.TargetsName(Core.Targets.Last)) ? Core.Targets.Every : Core.Targets.Last);
    }

    private static int? Count(string key, string? text)
    {
        if (text is null) return null;
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1)
            throw Fail($"metadata \"{key}\": expected a positive whole number, found {Shown(text)}");
        return n;
    }

    private static bool Flag(string key, string? text, string yes, string no) =>
        text is null || text == no ? false
        : text == yes ? true
        : throw Fail($"metadata \"{key}\": expected \"{yes}\" or \"{no}\", found {Shown(text)}");

    internal static string Shown(string s) => JsonSerializer.Serialize(Messages.Clip(s), Json);

    internal static string OneLine(string message) => Messages.WithoutParameter(message).ReplaceLineEndings(" ");

    private static OnnxConversionException Fail(string message) => new(message);
}
