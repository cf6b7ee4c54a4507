using System.Buffers.Binary;
using static AlphabetLstm.Onnx.OnnxModel;

namespace AlphabetLstm.Onnx;

/// <summary>
/// Reads a graph with one forward LSTM node (default activations, no peepholes, no input_forget, no
/// clip), or a stack of them (nn.LSTM(num_layers=N): each next node's X is the previous node's Y with
/// its direction axis squeezed), whose top layer's last h (Y_h, or Y at the last step) feeds a dense
/// layer (Gemm, or MatMul + Add), optionally followed by Softmax. Between them only shape plumbing is allowed (Transpose, Squeeze,
/// Unsqueeze, Gather, Slice, ...), as torch.onnx.export writes it; every other node is refused with
/// one line naming it. The time axis is followed through the plumbing, so a Gather or Slice that
/// picks any step but the last is refused too.
/// </summary>
internal static class OnnxImport
{
    private static readonly HashSet<string> Plumbing =
        ["Transpose", "Squeeze", "Unsqueeze", "Gather", "Slice", "Reshape", "Flatten", "Identity", "Constant",
         "Shape", "Concat", "Expand", "ConstantOfShape", "Cast"];
    private static readonly HashSet<string> Layers = ["LSTM", "Gemm", "MatMul", "Add", "Softmax"];
    /// <summary>The inputs and outputs a node must name (the others are optional); 1 and 1 when not listed.</summary>
    private static readonly Dictionary<string, (int Inputs, int Outputs)> Arity = new()
    {
        ["LSTM"] = (3, 0), ["Gemm"] = (2, 1), ["MatMul"] = (2, 1), ["Add"] = (2, 1), ["Gather"] = (2, 1),
        ["Reshape"] = (2, 1), ["Expand"] = (2, 1), ["Constant"] = (0, 1),
    };
    /// <summary>Bytes an imported number costs at the peak: decoded, as a matrix, as parameters, and as the model file's text and its check.</summary>
    public const int BytesPerImportedNumber = 160;
    /// <summary>The parsed protobuf's cost for each byte of the file (its strings, lists and raw blocks).</summary>
    public const int ProtobufBytesPerFileByte = 4;
    private const string Expected = "only an LSTM (or a stack of LSTMs, each reading the one below) followed by a dense layer (Gemm, or MatMul + Add) and an optional Softmax can be imported";

    public static SavedModel FromBytes(byte[] bytes, ImportOptions options)
    {
        ModelProto model;
        try { model = ModelProto.Parser.ParseFrom(bytes); }
        catch (InvalidProtocolBufferException e) { throw Fail($"not an ONNX model (the protobuf does not parse: {OnnxMetadata.OneLine(e.Message)})"); }
        if (bytes.Length == 0) throw Fail("not an ONNX model: the file is empty");
        if (model.Graph is null || model.Graph.Node.Count == 0) throw Fail("not an ONNX model: it holds no graph nodes");
        var g = new Graph(model.Graph);
        // Memory from the declared dims, before a single number is decoded.
        var declared = g.DeclaredNumbers();
        var needed = (double)bytes.Length * ProtobufBytesPerFileByte + declared * BytesPerImportedNumber;
        if (options.MemoryLimit is { } limit && needed > limit)
            throw new OnnxConversionException(
                $"its tensors declare {declared:N0} numbers; importing them would need about {Memory.Describe(needed)} of memory ({BytesPerImportedNumber} bytes a number), more than the limit of {Memory.Describe(limit)}",
                needed);

        foreach (var n in model.Graph.Node)
        {
            if (n.Domain is not ("" or "ai.onnx"))
                throw Fail($"{Graph.Name(n)}: operator domain \"{n.Domain}\" is not supported; {Expected}");
            if (!Plumbing.Contains(n.OpType) && !Layers.Contains(n.OpType))
                throw Fail($"{Graph.Name(n)}: unsupported operator; {Expected}");
            var (inputs, outputs) = Arity.GetValueOrDefault(n.OpType, (1, 1));
            if (n.Input.Count < inputs || n.Input.Take(inputs).Any(i => i == "") || n.Output.Count < outputs || n.Output.Take(outputs).Any(o => o == ""))
                throw Fail($"{Graph.Name(n)}: expects at least {inputs} inputs and {outputs} outputs, found {n.Input.Count(i => i != "")} and {n.Output.Count(o => o != "")}");
        }
        var lstms = model.Graph.Node.Where(n => n.OpType == "LSTM").ToList();
        if (lstms.Count == 0) throw Fail($"the graph has no LSTM node; {Expected}");
        if (lstms.Count > Parameters.MaxLayers) throw Fail($"{Graph.Name(lstms[Parameters.MaxLayers])}: more than {Parameters.MaxLayers} LSTM layers");
        var lstm = lstms[0];
        var (kernel, recurrent, bias, layout) = ReadLstm(g, lstm);
        int I = kernel.RowCount, H = recurrent.RowCount;
        // A stack: layer k reads layer k − 1's Y at every step, with the same units and layout.
        var upper = new List<LstmLayer>();
        for (var k = 1; k < lstms.Count; k++)
        {
            CheckChain(g, lstms[k - 1], lstms[k], layout);
            var (w, r, b, l) = ReadLstm(g, lstms[k]);
            if (r.RowCount != H || w.RowCount != H)
                throw Fail($"{Graph.Name(lstms[k])}: a layer of {r.RowCount} units reading {w.RowCount} features above a layer of {H} units; every layer of a stack has the same units and reads the h below it");
            if (l != layout) throw Fail($"{Graph.Name(lstms[k])}: layout {l}, but the layer below has layout {layout}");
            upper.Add(new LstmLayer(w, r, b));
        }

        var (denseKernel, denseBias, denseOut) = ReadDense(g, lstms[^1], layout, H);
        int V = denseBias.Count;
        CheckHead(g, denseOut);

        var meta = OnnxMetadata.Parse(model);
        if (meta.Features is { } f && f != I)
            throw Fail($"metadata \"features\": {f}, but the LSTM's W has {I} inputs");
        var vocabulary = ChooseVocabulary(meta.Vocabulary, options.Vocabulary, V);
        var steps = ChooseTimeSteps(meta.TimeSteps, StaticTimeSteps(g, lstm, layout), options.TimeSteps);
        var encoding = meta.Encoding ?? options.Encoding ?? (I % V == 0 ? SymbolEncoding.OneHot : SymbolEncoding.Index);
        if (meta.Encoding is { } me && options.Encoding is { } oe && me != oe)
            throw Fail($"the file's metadata says encoding \"{ModelFile.EncodingName(me)}\", not \"{ModelFile.EncodingName(oe)}\"");

        Parameters parameters;
        try { parameters = Parameters.Create(kernel, recurrent, bias, denseKernel, denseBias, upper.ToArray()); }
        catch (ArgumentException e) { throw Fail($"the weights: {OnnxMetadata.OneLine(e.Message)}"); }
        // A float64 model, as before float32 models existed: its values are float32 ones (ONNX's type),
        // but it computes in float64 and saves as the older readers' version 2 or 3.
        var result = new SavedModel(vocabulary, new InputSpec(steps, I, encoding, meta.Masked, meta.PrePadded, meta.Reading, meta.Targets), parameters, Precision.Float64);
        try { _ = result.Serialize(); }
        catch (ArgumentException e) { throw Fail(OnnxMetadata.OneLine(e.Message)); }
        return result;
    }

    // ---- the LSTM node ------------------------------------------------------------------------

    private static (Matrix<double> Kernel, Matrix<double> Recurrent, Vector<double> Bias, long Layout) ReadLstm(Graph g, NodeProto n)
    {
        var name = Graph.Name(n);
        long layout = 0, hidden = -1;
        foreach (var a in n.Attribute)
        {
            switch (a.Name)
            {
                case "hidden_size": hidden = a.I; break;
                case "layout" when a.I is 0 or 1: layout = a.I; break;
                case "direction" when a.S.ToStringUtf8() == "forward": break;
                case "direction": throw Fail($"{name}: direction \"{a.S.ToStringUtf8()}\"; only a forward LSTM can be imported");
                case "input_forget" when a.I == 0: break;
                case "input_forget": throw Fail($"{name}: input_forget = {a.I} (coupled input and forget gates) is not supported");
                case "clip": throw Fail($"{name}: clip = {a.F} (cell clipping) is not supported");
                case "activations":
                    var acts = a.Strings.Select(s => s.ToStringUtf8()).ToArray();
                    if (!acts.Select(s => s.ToLowerInvariant()).SequenceEqual(["sigmoid", "tanh", "tanh"]))
                        throw Fail($"{name}: activations [{string.Join(", ", acts)}]; only the default Sigmoid, Tanh, Tanh are supported");
                    break;
                default: throw Fail($"{name}: attribute {a.Name} is not supported");
            }
        }
        string Input(int k) => n.Input.Count > k ? n.Input[k] : "";
        if (Input(4) != "") throw Fail($"{name}: input sequence_lens ('{Input(4)}') is not supported: every step must be real");
        if (Input(7) != "") throw Fail($"{name}: peepholes (input P, '{Input(7)}') are not supported");
        if (Input(1) == "" || Input(2) == "") throw Fail($"{name}: W and R must be given");

        var (wDims, w) = g.Floats(Input(1), $"{name}: W");
        var (rDims, r) = g.Floats(Input(2), $"{name}: R");
        if (wDims.Length != 3 || rDims.Length != 3)
            throw Fail($"{name}: W and R must have 3 dimensions, found [{string.Join(", ", wDims)}] and [{string.Join(", ", rDims)}]");
        if (wDims[0] != 1) throw Fail($"{name}: W holds {wDims[0]} directions; only a forward LSTM can be imported");
        if (wDims[1] % 4 != 0 || wDims[1] == 0) throw Fail($"{name}: W has {wDims[1]} rows, expected 4 × hidden_size");
        int H = (int)(wDims[1] / 4), I = (int)wDims[2];
        if (hidden >= 0 && hidden != H) throw Fail($"{name}: hidden_size = {hidden}, but W has {wDims[1]} = 4 × {H} rows");
        if (rDims[0] != 1 || rDims[1] != 4 * H || rDims[2] != H)
            throw Fail($"{name}: R has shape [{string.Join(", ", rDims)}], expected [1, {4 * H}, {H}]");
        var bias = Vector<double>.Build.Dense(4 * H);
        if (Input(3) != "")
        {
            var (bDims, b) = g.Floats(Input(3), $"{name}: B");
            if (bDims.Length != 2 || bDims[0] != 1 || bDims[1] != 8 * H)
                throw Fail($"{name}: B has shape [{string.Join(", ", bDims)}], expected [1, {8 * H}]");
            for (var k = 0; k < 4; k++)
                for (var u = 0; u < H; u++)
                    bias[OnnxToOurs[k] * H + u] = b[k * H + u] + b[4 * H + k * H + u];   // Wb + Rb
        }
        return (Kernel(w, H, I), Kernel(r, H, H), bias, layout);
    }

    /// <summary>ONNX's (4H, n) row-major in gate order i, o, f, c as a Keras kernel (n, 4H), gates i, f, c, o.</summary>
    private static Matrix<double> Kernel(double[] rows, int H, int n)
    {
        var m = Matrix<double>.Build.Dense(n, 4 * H);
        for (var k = 0; k < 4; k++)
            for (var u = 0; u < H; u++)
                for (var j = 0; j < n; j++)
                    m[j, OnnxToOurs[k] * H + u] = rows[(k * H + u) * n + j];
        return m;
    }

    /// <summary>
    /// Refuses a stack unless <paramref name="next"/>'s X is <paramref name="below"/>'s Y (time, directions, batch,
    /// H for layout 0) with only plumbing between that keeps every time step and drops the directions axis.
    /// </summary>
    private static void CheckChain(Graph g, NodeProto below, NodeProto next, long layout)
    {
        var name = Graph.Name(next);
        var wanted = new Track(layout == 0 ? 0 : 1, 3);
        var tracked = new Dictionary<string, Track>(StringComparer.Ordinal);
        if (below.Output.Count > 0 && below.Output[0] != "") tracked[below.Output[0]] = new Track(layout == 0 ? 0 : 1, 4);
        var T = StaticTimeSteps(g, below, layout);
        var nodes = g.Proto.Node;
        for (var k = nodes.IndexOf(below) + 1; k < nodes.IndexOf(next); k++)
        {
            var n = nodes[k];
            var from = n.Input.Where(tracked.ContainsKey).ToList();
            if (from.Count == 0) continue;
            if (!Plumbing.Contains(n.OpType))
                throw Fail($"{Graph.Name(n)}: a {n.OpType} between two LSTM layers; {Expected}");
            var t = Follow(g, n, tracked[from[0]], T);
            foreach (var o in n.Output) if (o != "") tracked[o] = t;
        }
        if (!tracked.TryGetValue(next.Input[0], out var x) || x != wanted)
            throw Fail($"{name}: a second LSTM whose input X is not every step of the LSTM below's output Y; {Expected}");
    }

    // ---- from the LSTM's outputs to the dense layer ------------------------------------------

    /// <summary>Where the time axis of a tensor derived from the LSTM's output is (null: the last step was picked).</summary>
    private sealed record Track(int? TimeAxis, int Rank);

    private static (Matrix<double> Kernel, Vector<double> Bias, string Output) ReadDense(Graph g, NodeProto lstm, long layout, int H)
    {
        var tracked = new Dictionary<string, Track>(StringComparer.Ordinal);
        if (lstm.Output.Count > 0 && lstm.Output[0] != "") tracked[lstm.Output[0]] = new Track(layout == 0 ? 0 : 1, 4);
        if (lstm.Output.Count > 1 && lstm.Output[1] != "") tracked[lstm.Output[1]] = new Track(null, 3);
        var T = StaticTimeSteps(g, lstm, layout);
        var nodes = g.Proto.Node;
        for (var k = nodes.IndexOf(lstm) + 1; k < nodes.Count; k++)
        {
            var n = nodes[k];
            var from = n.Input.Where(tracked.ContainsKey).ToList();
            if (from.Count == 0) continue;
            var t = tracked[from[0]];
            var name = Graph.Name(n);
            if (n.OpType is "Gemm" or "MatMul")
            {
                if (n.Input[0] != from[0]) throw Fail($"{name}: the LSTM's output is the weight of the dense layer, not its input");
                if (t.TimeAxis is not null)
                    throw Fail($"{name}: the dense layer reads every time step of the LSTM; only a dense layer on the last step can be imported");
                return n.OpType == "Gemm" ? Gemm(g, n, H) : MatMulAdd(g, n, H);
            }
            if (!Plumbing.Contains(n.OpType))
                throw Fail($"{name}: a {n.OpType} between the LSTM and the dense layer; {Expected}");
            var next = Follow(g, n, t, T);
            foreach (var o in n.Output) if (o != "") tracked[o] = next;
        }
        throw Fail($"{Graph.Name(lstm)}: no dense layer (Gemm, or MatMul + Add) reads the LSTM's last h; {Expected}");
    }

    /// <summary>The time axis after one plumbing node (refused when it cannot be followed).</summary>
    private static Track Follow(Graph g, NodeProto n, Track t, long? T)
    {
        var name = Graph.Name(n);
        int Norm(long axis, int rank) => axis >= -rank && axis < rank ? (int)(axis < 0 ? axis + rank : axis)
            : throw Fail($"{name}: axis {axis} is outside a tensor of rank {rank} (axes go from {-rank} to {rank - 1})");
        long[] Axes() => n.Input.Count > 1 && n.Input[1] != "" ? g.Ints(n.Input[1], $"{name}: axes")
                         : n.Attribute.FirstOrDefault(a => a.Name == "axes")?.Ints.ToArray()
                           ?? throw Fail($"{name}: {n.OpType} without axes cannot be followed");
        switch (n.OpType)
        {
            case "Identity" or "Cast":
                return t;
            case "Squeeze":
            {
                var given = Axes();
                var axes = given.Select(a => Norm(a, t.Rank)).ToHashSet();
                if (axes.Count != given.Length) throw Fail($"{name}: axes [{string.Join(", ", given)}] name an axis twice");
                int? time = t.TimeAxis;
                if (time is { } ta)
                {
                    if (axes.Contains(ta)) time = null;   // only a time axis of one step (the last) can be squeezed
                    else time = ta - axes.Count(a => a < ta);
                }
                return new Track(time, t.Rank - axes.Count);
            }
            case "Unsqueeze":
            {
                var rank = t.Rank + Axes().Length;
                var inserted = Axes().Select(a => Norm(a, rank)).ToHashSet();
                if (inserted.Count != Axes().Length) throw Fail($"{name}: axes [{string.Join(", ", Axes())}] name an axis twice");
                var kept = Enumerable.Range(0, rank).Where(a => !inserted.Contains(a)).ToArray();
                if (kept.Length != t.Rank) throw Fail($"{name}: axes [{string.Join(", ", Axes())}] do not fit a tensor of rank {t.Rank}");
                return new Track(t.TimeAxis is { } ta ? kept[ta] : null, rank);
            }
            case "Transpose":
            {
                var perm = n.Attribute.FirstOrDefault(a => a.Name == "perm")?.Ints.ToArray()
                           ?? Enumerable.Range(0, t.Rank).Reverse().Select(i => (long)i).ToArray();
                if (perm.Length != t.Rank || !perm.Order().SequenceEqual(Enumerable.Range(0, t.Rank).Select(i => (long)i)))
                    throw Fail($"{name}: perm [{string.Join(", ", perm)}] is no permutation of the {t.Rank} axes");
                return new Track(t.TimeAxis is { } ta ? Array.IndexOf(perm, (long)ta) : null, t.Rank);
            }
            case "Gather":
            {
                var axis = Norm(n.Attribute.FirstOrDefault(a => a.Name == "axis")?.I ?? 0, t.Rank);
                var (dims, idx) = g.IntTensor(n.Input[1], $"{name}: indices");
                if (t.TimeAxis != axis) return new Track(t.TimeAxis is { } ta && ta > axis ? ta - 1 + dims.Length : t.TimeAxis, t.Rank - 1 + dims.Length);
                if (idx.Length != 1 || !IsLast(idx[0], T))
                    throw Fail($"{name}: picks time step{(idx.Length == 1 ? $" {idx[0]}" : "s")}; only the last step (-1) can feed the dense layer");
                return new Track(null, t.Rank - 1 + dims.Length);
            }
            case "Slice":
            {
                long[] Get(int k) => n.Input.Count > k && n.Input[k] != "" ? g.Ints(n.Input[k], $"{name}: input {k}") : [];
                long[] starts = Get(1), axesIn = Get(3), steps = Get(4);
                var axes = axesIn.Length > 0 ? axesIn.Select(a => (long)Norm(a, t.Rank)).ToArray() : Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
                if (starts.Length != axes.Length) throw Fail($"{name}: {starts.Length} starts for {axes.Length} axes");
                if (axes.Any(a => a >= t.Rank)) throw Fail($"{name}: {axes.Length} axes for a tensor of rank {t.Rank}");
                var at = t.TimeAxis is { } ta ? Array.IndexOf(axes, (long)ta) : -1;
                if (at < 0) return t;
                if (!IsLast(starts[at], T) || (steps.Length > at && steps[at] != 1))
                    throw Fail($"{name}: slices the time steps from {starts[at]}; only the last step (-1) can feed the dense layer");
                return new Track(t.TimeAxis, t.Rank);   // one step left: a later Squeeze or Reshape removes the axis
            }
            default:
                if (t.TimeAxis is not null && n.OpType is "Reshape" or "Flatten")
                    throw Fail($"{name}: a {n.OpType} of all time steps; only the last step can feed the dense layer");
                if (n.OpType is "Reshape" or "Flatten") return new Track(null, 2);
                return t;
        }
    }

    private static bool IsLast(long index, long? T) => index == -1 || (T is { } t && index == t - 1);

    private static (Matrix<double>, Vector<double>, string) Gemm(Graph g, NodeProto n, int H)
    {
        var name = Graph.Name(n);
        double alpha = 1, beta = 1;
        long transB = 0;
        foreach (var a in n.Attribute)
        {
            switch (a.Name)
            {
                case "alpha": alpha = a.F; break;
                case "beta": beta = a.F; break;
                case "transB": transB = a.I == 0 ? 0 : 1; break;
                case "transA" when a.I == 0: break;
                default: throw Fail($"{name}: attribute {a.Name} = {(a.Name == "transA" ? a.I : "…")} is not supported");
            }
        }
        var (dims, w) = g.Floats(n.Input[1], $"{name}: B");
        if (dims.Length != 2 || dims[transB == 0 ? 0 : 1] != H)
            throw Fail($"{name}: B has shape [{string.Join(", ", dims)}], expected {(transB == 0 ? $"[{H}, V]" : $"[V, {H}]")}");
        int V = (int)dims[transB == 0 ? 1 : 0];
        var kernel = Matrix<double>.Build.Dense(H, V, (h, v) => alpha * (transB == 0 ? w[h * V + v] : w[v * H + h]));
        var bias = Vector<double>.Build.Dense(V);
        if (n.Input.Count > 2 && n.Input[2] != "") bias = BiasOf(g, n.Input[2], name, V).Multiply(beta);
        return (kernel, bias, n.Output[0]);
    }

    private static (Matrix<double>, Vector<double>, string) MatMulAdd(Graph g, NodeProto n, int H)
    {
        var name = Graph.Name(n);
        var (dims, w) = g.Floats(n.Input[1], $"{name}: B");
        if (dims.Length != 2 || dims[0] != H) throw Fail($"{name}: B has shape [{string.Join(", ", dims)}], expected [{H}, V]");
        int V = (int)dims[1];
        var kernel = Matrix<double>.Build.Dense(H, V, (h, v) => w[h * V + v]);
        var add = g.Consumers(n.Output[0]).FirstOrDefault(c => c.OpType == "Add");
        if (add is null) return (kernel, Vector<double>.Build.Dense(V), n.Output[0]);
        var other = add.Input[0] == n.Output[0] ? add.Input[1] : add.Input[0];
        return (kernel, BiasOf(g, other, Graph.Name(add), V), add.Output[0]);
    }

    private static Vector<double> BiasOf(Graph g, string tensor, string name, int V)
    {
        var (dims, b) = g.Floats(tensor, $"{name}: bias");
        if (b.Length != V || dims.Any(d => d != 1 && d != V)) throw Fail($"{name}: the bias has shape [{string.Join(", ", dims)}], expected [{V}]");
        return Vector<double>.Build.Dense(b);
    }

    /// <summary>After the dense layer: at most a Softmax over the classes; no other layer.</summary>
    private static void CheckHead(Graph g, string denseOut)
    {
        var dense = g.Producer(denseOut);
        foreach (var n in g.Proto.Node)
        {
            if (n.OpType is "Gemm" or "MatMul" && n != dense)
            {
                var isOurMatMul = n.OpType == "MatMul" && g.Consumers(n.Output[0]).Any(c => c.Output.Contains(denseOut));
                if (!isOurMatMul) throw Fail($"{Graph.Name(n)}: a second dense layer; {Expected}");
            }
            if (n.OpType == "Add" && !n.Output.Contains(denseOut)) throw Fail($"{Graph.Name(n)}: an Add outside the dense layer; {Expected}");
            if (n.OpType == "Softmax")
            {
                if (!n.Input.Contains(denseOut)) throw Fail($"{Graph.Name(n)}: a Softmax that does not read the dense layer's output; {Expected}");
                var axis = n.Attribute.FirstOrDefault(a => a.Name == "axis")?.I ?? -1;
                if (axis is not (-1 or 1)) throw Fail($"{Graph.Name(n)}: Softmax over axis {axis}, expected the classes (-1)");
            }
        }
    }

    // ---- time steps, vocabulary ---------------------------------------------------------------

    /// <summary>The graph input's static length of the time axis that reaches the LSTM's X, if any.</summary>
    private static long? StaticTimeSteps(Graph g, NodeProto lstm, long layout)
    {
        var name = lstm.Input[0];
        long axis = layout == 0 ? 0 : 1;
        for (var guard = 0; guard < 64; guard++)
        {
            var info = g.Proto.Input.FirstOrDefault(i => i.Name == name);
            if (info is not null)
            {
                var dims = info.Type?.TensorType?.Shape?.Dim;
                if (dims is null || axis < 0 || axis >= dims.Count) return null;
                var d = dims[(int)axis];
                return d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && d.DimValue > 0 ? d.DimValue : null;
            }
            var p = g.Producer(name);
            if (p is null) return null;
            if (p.OpType == "Transpose")
            {
                var perm = p.Attribute.FirstOrDefault(a => a.Name == "perm")?.Ints;
                if (perm is null || axis < 0 || axis >= perm.Count) return null;
                axis = perm[(int)axis];
            }
            else if (p.OpType is not ("Identity" or "Cast")) return null;
            name = p.Input[0];
        }
        return null;
    }

    private static int ChooseTimeSteps(int? fromMetadata, long? fromGraph, int? fromOption)
    {
        if (fromMetadata is { } m)
        {
            if (fromOption is { } o && o != m) throw Fail($"--time-steps {o} disagrees with the file's metadata \"timeSteps\": {m}");
            return m;
        }
        if (fromGraph is { } s)
        {
            if (fromOption is { } o && o != s) throw Fail($"--time-steps {o} disagrees with the graph's input, which has {s} time steps");
            if (s > Limits.MaxTimeSteps) throw Fail($"the graph's input has {s} time steps, more than {Limits.MaxTimeSteps}");
            return (int)s;
        }
        return fromOption ?? throw Fail("the file does not say how many time steps the model reads (no metadata, no fixed length in the graph's input): give --time-steps T");
    }

    private static Vocabulary ChooseVocabulary(Vocabulary? fromMetadata, Vocabulary? fromOption, int V)
    {
        if (fromMetadata is { } m)
        {
            if (m.Count != V) throw Fail($"metadata \"vocabulary\" has {m.Count} symbols, but the dense layer has {V} classes");
            if (fromOption is { } o && !o.Equals(m)) throw Fail($"--vocabulary disagrees with the file's metadata \"vocabulary\" ({m.Describe()})");
            return m;
        }
        if (fromOption is { } v)
        {
            if (v.Count != V) throw Fail($"--vocabulary has {v.Count} symbols, but the dense layer has {V} classes: give {V}");
            return v;
        }
        if (V == Alphabet.Size) return Vocabulary.Alphabet;
        throw Fail($"the file names no vocabulary and its dense layer has {V} classes (26 would mean the alphabet): give --vocabulary with {V} symbols");
    }

    /// <summary>A refusal; names read from the file may hold anything, so control characters are escaped.</summary>
    private static OnnxConversionException Fail(string message) =>
        new(string.Concat(message.Select(ch => char.IsControl(ch) ? $"\\u{(int)ch:x4}" : ch.ToString())));

    /// <summary>A name from the file, cut to 40 characters for a message.</summary>
    private static string Cut(string name) => Messages.Clip(name);

    // ---- the graph's tensors ------------------------------------------------------------------

    private sealed class Graph(GraphProto proto)
    {
        public GraphProto Proto { get; } = proto;
        private readonly Dictionary<string, TensorProto> constants = Constants(proto);
        private readonly Dictionary<string, NodeProto> producers = Producers(proto);

        public static string Name(NodeProto n) => $"node '{Cut(n.Name != "" ? n.Name : n.Output.FirstOrDefault() ?? "?")}' ({Cut(n.OpType)})";

        private static Dictionary<string, TensorProto> Constants(GraphProto g)
        {
            var d = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
            foreach (var t in g.Initializer) d[t.Name] = t;
            foreach (var n in g.Node)
                if (n.OpType == "Constant" && n.Output.Count == 1 && n.Attribute.FirstOrDefault(a => a.Name == "value")?.T is { } t)
                    d[n.Output[0]] = t;
            return d;
        }

        private static Dictionary<string, NodeProto> Producers(GraphProto g)
        {
            var d = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
            foreach (var n in g.Node) foreach (var o in n.Output) if (o != "") d[o] = n;
            return d;
        }

        public NodeProto? Producer(string name) => producers.GetValueOrDefault(name);
        public IEnumerable<NodeProto> Consumers(string name) => Proto.Node.Where(n => n.Input.Contains(name));

        private TensorProto Constant(string name, string what) =>
            constants.TryGetValue(name, out var t) ? t
            : throw Fail($"{what} ('{name}') is not a constant in the file (an initializer or a Constant node)");

        public (long[] Dims, double[] Values) Floats(string name, string what)
        {
            var t = Constant(name, what);
            var dims = t.Dims.ToArray();
            var count = Count(dims, what);
            if (t.DataLocation == TensorProto.Types.DataLocation.External) throw Fail($"{what} is stored in an external file, which is not supported");
            double[] values = (TensorProto.Types.DataType)t.DataType switch
            {
                TensorProto.Types.DataType.Float => t.RawData.Length > 0 ? Raw(t.RawData, 4, count, what, s => BinaryPrimitives.ReadSingleLittleEndian(s))
                                                                          : t.FloatData.Select(x => (double)x).ToArray(),
                TensorProto.Types.DataType.Double => t.RawData.Length > 0 ? Raw(t.RawData, 8, count, what, s => BinaryPrimitives.ReadDoubleLittleEndian(s))
                                                                           : t.DoubleData.ToArray(),
                var other => throw Fail($"{what} holds {other} numbers; float or double expected"),
            };
            if (values.Length != count) throw Fail($"{what} holds {values.Length} numbers, but its shape [{string.Join(", ", dims)}] needs {count}");
            return (dims, values);
        }

        public (long[] Dims, long[] Values) IntTensor(string name, string what)
        {
            var t = Constant(name, what);
            var dims = t.Dims.ToArray();
            var count = Count(dims, what);
            long[] values = (TensorProto.Types.DataType)t.DataType switch
            {
                TensorProto.Types.DataType.Int64 => t.RawData.Length > 0 ? RawInts(t.RawData, 8, count, what) : t.Int64Data.ToArray(),
                TensorProto.Types.DataType.Int32 => t.RawData.Length > 0 ? RawInts(t.RawData, 4, count, what) : t.Int32Data.Select(x => (long)x).ToArray(),
                var other => throw Fail($"{what} holds {other} numbers; integers expected"),
            };
            if (values.Length != count) throw Fail($"{what} holds {values.Length} numbers, but its shape [{string.Join(", ", dims)}] needs {count}");
            return (dims, values);
        }

        public long[] Ints(string name, string what) => IntTensor(name, what).Values;

        /// <summary>The numbers every constant tensor declares (its dims' product), summed without decoding any; an impossible dim is refused.</summary>
        public double DeclaredNumbers()
        {
            double total = 0;
            foreach (var (name, t) in constants)
            {
                double count = 1;
                foreach (var d in t.Dims)
                {
                    if (d < 0 || d > int.MaxValue) throw Fail($"tensor '{Cut(name)}' has an impossible shape [{string.Join(", ", t.Dims)}]");
                    count *= d;
                }
                total += count;
            }
            return total;
        }

        private static int Count(long[] dims, string what)
        {
            long count = 1;
            foreach (var d in dims)
            {
                if (d < 0 || d > int.MaxValue) throw Fail($"{what} has an impossible shape [{string.Join(", ", dims)}]");
                count *= d;
                if (count > 100_000_000) throw Fail($"{what} has more than 100000000 numbers");
            }
            return (int)count;
        }

        private static long[] RawInts(ByteString raw, int size, int count, string what)
        {
            if (raw.Length != (long)size * count) throw Fail($"{what} holds {raw.Length} bytes, but its shape needs {size * count}");
            var span = raw.Span;
            var values = new long[count];
            for (var k = 0; k < count; k++)
                values[k] = size == 8 ? BinaryPrimitives.ReadInt64LittleEndian(span.Slice(k * 8, 8)) : BinaryPrimitives.ReadInt32LittleEndian(span.Slice(k * 4, 4));
            return values;
        }

        private delegate double Reader(ReadOnlySpan<byte> bytes);

        private static double[] Raw(ByteString raw, int size, int count, string what, Reader read)
        {
            if (raw.Length != (long)size * count) throw Fail($"{what} holds {raw.Length} bytes, but its shape needs {size * count}");
            var span = raw.Span;
            var values = new double[count];
            for (var k = 0; k < count; k++) values[k] = read(span.Slice(k * size, size));
            return values;
        }
    }
}
