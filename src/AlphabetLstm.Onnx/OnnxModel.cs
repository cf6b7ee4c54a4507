
namespace AlphabetLstm.Onnx;

/// <summary>
/// A model file's model as ONNX, and back: <see cref="Export"/> writes one standard <c>LSTM</c> node,
/// the dense layer on its last h, and <c>Softmax</c>, with the state as explicit graph inputs and
/// outputs; <see cref="Import"/> reads such a graph (ours, or what <c>torch.onnx.export</c> writes for
/// <c>nn.LSTM(batch_first=True)</c> + <c>nn.Linear</c>). Bytes in, bytes out: no files, no console.
/// </summary>
public static class OnnxModel
{
    /// <summary>The opset the export declares (the LSTM, Squeeze and Unsqueeze of opset 14+).</summary>
    public const int Opset = 17;

    /// <summary>The graph's input and output names.</summary>
    public const string InputX = "x", InputH0 = "h0", InputC0 = "c0", OutputProbabilities = "probabilities", OutputH = "h", OutputC = "c";

    /// <summary>
    /// The model as ONNX bytes (float32). Throws <see cref="OnnxConversionException"/> with one line
    /// for a model ONNX's LSTM cannot express (masked pre-padding).
    /// </summary>
    public static byte[] Export(SavedModel model) => OnnxExport.ToBytes(model);

    /// <summary>
    /// The model an ONNX graph holds. Throws <see cref="OnnxConversionException"/> with one line
    /// naming the node and what is unsupported, or what is missing (vocabulary, time steps).
    /// </summary>
    public static SavedModel Import(byte[] bytes, ImportOptions options) => OnnxImport.FromBytes(bytes, options);

    /// <summary>ONNX's gate blocks are i, o, f, c; ours (Keras') are i, f, c, o. ONNX block k is our block OnnxToOurs[k].</summary>
    internal static readonly int[] OnnxToOurs = [0, 3, 1, 2];
}

/// <summary>
/// What an ONNX file may not say: the vocabulary, the time steps and the encoding. Each is used only
/// when the file's metadata does not give it; a value that disagrees with the file is refused.
/// </summary>
public sealed record ImportOptions
{
    /// <summary>The symbols, one per class (needed when V ≠ 26 and the file has no metadata).</summary>
    public Vocabulary? Vocabulary { get; init; }
    /// <summary>T, when neither the metadata nor the graph's input shape fixes it.</summary>
    public int? TimeSteps { get; init; }
    /// <summary>How symbols become features (default: one-hot when I is a multiple of V, else index).</summary>
    public SymbolEncoding? Encoding { get; init; }
    /// <summary>
    /// The most memory, in bytes, the import may plan to use: checked from the tensors' declared shapes
    /// before any is decoded (<see cref="OnnxConversionException.RequiredBytes"/> says how much it needed). No limit when null.
    /// </summary>
    public long? MemoryLimit { get; init; }
}

/// <summary>A file that cannot be converted: the message is one line naming what and why.</summary>
public sealed class OnnxConversionException : FormatException
{
    /// <summary>A refusal: <paramref name="message"/> is one line naming what and why.</summary>
    public OnnxConversionException(string message) : base(message) { }

    /// <summary>A refusal because the import would need <paramref name="requiredBytes"/> of memory, more than <see cref="ImportOptions.MemoryLimit"/>.</summary>
    public OnnxConversionException(string message, double requiredBytes) : base(message) => RequiredBytes = requiredBytes;

    /// <summary>The memory the import would have needed, when that is why it was refused; else null.</summary>
    public double? RequiredBytes { get; }
}
