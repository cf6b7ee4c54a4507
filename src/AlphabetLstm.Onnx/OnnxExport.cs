using static AlphabetLstm.Onnx.OnnxModel;

namespace AlphabetLstm.Onnx;

/// <summary>
/// Writes the graph
/// <code>
///   x [batch, time, I] ─Transpose(1,0,2)─┐
///   h0 [batch, H] ─Unsqueeze(0)──────────┼─ LSTM ─ Y_h ─Squeeze(0)─ h [batch, H] ─ Gemm ─ Softmax ─ probabilities [batch, V]
///   c0 [batch, H] ─Unsqueeze(0)──────────┘       └ Y_c ─Squeeze(0)─ c [batch, H]
/// </code>
/// in float32, ONNX's gate order (i, o, f, c) and layout 0, with the model file's vocabulary and
/// input in the metadata. A stack of N layers has one LSTM node per layer: layer 1 reads x, layer k + 1
/// reads layer k's Y (every step) with its directions axis squeezed; h0, c0, h and c are then
/// [batch, N·H], each layer's H units side by side (the library's stacked state), sliced per layer
/// on the way in and concatenated on the way out; the dense layer reads the top layer's h.
/// </summary>
internal static class OnnxExport
{
    private const int Float = (int)TensorProto.Types.DataType.Float, Int64 = (int)TensorProto.Types.DataType.Int64;

    public static byte[] ToBytes(SavedModel model)
    {
        if (model.Input.Masked)
            throw new OnnxConversionException(
                "the model masks its pre-padding (\"masked\": true), which ONNX's LSTM cannot express: its sequence_lens "
                + "skips trailing steps, not leading ones; export a model trained without --mask");
        var p = model.Parameters;
        int I = p.Inputs, H = p.Units, V = p.Classes;
        // Every weight is written as float32: one beyond its range would become ±Infinity in the file.
        FitsFloat32("lstm.kernel", p.Kernel);
        FitsFloat32("lstm.recurrentKernel", p.RecurrentKernel);
        FitsFloat32("lstm.bias", p.Bias.ToRowMatrix());
        for (var k = 0; k < p.Upper.Length; k++)
        {
            FitsFloat32($"lstm.upper[{k}].kernel", p.Upper[k].Kernel);
            FitsFloat32($"lstm.upper[{k}].recurrentKernel", p.Upper[k].RecurrentKernel);
            FitsFloat32($"lstm.upper[{k}].bias", p.Upper[k].Bias.ToRowMatrix());
        }
        FitsFloat32("dense.kernel", p.DenseKernel);
        FitsFloat32("dense.bias", p.DenseBias.ToRowMatrix());

        var graph = new GraphProto { Name = "alphabet_lstm", DocString = "LSTM + Dense + softmax; feed h, c back as h0, c0 to carry the state" };
        graph.Input.Add(Info(InputX, "batch", "time", I));
        int N = p.Layers;
        graph.Input.Add(Info(InputH0, "batch", N * H));
        graph.Input.Add(Info(InputC0, "batch", N * H));
        graph.Output.Add(Info(OutputProbabilities, "batch", V));
        graph.Output.Add(Info(OutputH, "batch", N * H));
        graph.Output.Add(Info(OutputC, "batch", N * H));

        AddLstmWeights(graph, "", p.Kernel, p.RecurrentKernel, p.Bias, H);
        graph.Initializer.Add(FloatTensor("dense_kernel", [H, V], RowMajor(p.DenseKernel)));
        graph.Initializer.Add(FloatTensor("dense_bias", [V], p.DenseBias.Select(v => (float)v).ToArray()));
        var axes = new TensorProto { Name = "axis_0", DataType = Int64, Dims = { 1 }, Int64Data = { 0 } };
        graph.Initializer.Add(axes);

        graph.Node.Add(Node("Transpose", "time_major", [InputX], ["x_time_major"], Ints("perm", 1, 0, 2)));
        if (N == 1)
        {
            graph.Node.Add(Node("Unsqueeze", "h0_directions", [InputH0, "axis_0"], ["h0_3d"]));
            graph.Node.Add(Node("Unsqueeze", "c0_directions", [InputC0, "axis_0"], ["c0_3d"]));
            graph.Node.Add(LstmNode("lstm", ["x_time_major", "W", "R", "B", "", "h0_3d", "c0_3d"], ["", "Y_h", "Y_c"], H));
            graph.Node.Add(Node("Squeeze", "h_batch", ["Y_h", "axis_0"], [OutputH]));
            graph.Node.Add(Node("Squeeze", "c_batch", ["Y_c", "axis_0"], [OutputC]));
            graph.Node.Add(Node("Gemm", "dense", [OutputH, "dense_kernel", "dense_bias"], ["logits"]));
        }
        else
        {
            graph.Initializer.Add(new TensorProto { Name = "axis_1", DataType = Int64, Dims = { 1 }, Int64Data = { 1 } });
            var x = "x_time_major";
            for (var k = 0; k < N; k++)
            {
                var s = k == 0 ? "" : $"_{k + 1}";   // layer k + 1's names: W_2, lstm_2, …
                if (k > 0)
                {
                    var l = p.Upper[k - 1];
                    AddLstmWeights(graph, s, l.Kernel, l.RecurrentKernel, l.Bias, H);
                }
                // Layer k's columns of h0, c0: [batch, H] → [1, batch, H].
                graph.Initializer.Add(new TensorProto { Name = $"start{s}", DataType = Int64, Dims = { 1 }, Int64Data = { k * H } });
                graph.Initializer.Add(new TensorProto { Name = $"end{s}", DataType = Int64, Dims = { 1 }, Int64Data = { (k + 1) * H } });
                foreach (var (input, state) in new[] { (InputH0, "h0"), (InputC0, "c0") })
                {
                    graph.Node.Add(Node("Slice", $"{state}_layer{s}", [input, $"start{s}", $"end{s}", "axis_1"], [$"{state}_2d{s}"]));
                    graph.Node.Add(Node("Unsqueeze", $"{state}_directions{s}", [$"{state}_2d{s}", "axis_0"], [$"{state}_3d{s}"]));
                }
                // Y [time, 1, batch, H] feeds the next layer as [time, batch, H]; the top layer's Y is not needed.
                var y = k < N - 1 ? $"Y{s}" : "";
                graph.Node.Add(LstmNode($"lstm{s}", [x, $"W{s}", $"R{s}", $"B{s}", "", $"h0_3d{s}", $"c0_3d{s}"], [y, $"Y_h{s}", $"Y_c{s}"], H));
                graph.Node.Add(Node("Squeeze", $"h_batch{s}", [$"Y_h{s}", "axis_0"], [$"h{s}_layer"]));
                graph.Node.Add(Node("Squeeze", $"c_batch{s}", [$"Y_c{s}", "axis_0"], [$"c{s}_layer"]));
                if (k < N - 1)
                {
                    graph.Node.Add(Node("Squeeze", $"y_directions{s}", [y, "axis_1"], [$"x_layer_{k + 2}"]));
                    x = $"x_layer_{k + 2}";
                }
            }
            string[] Layers(string state) => Enumerable.Range(0, N).Select(k => $"{state}{(k == 0 ? "" : $"_{k + 1}")}_layer").ToArray();
            var concat = new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 };
            graph.Node.Add(Node("Concat", "h_layers", Layers("h"), [OutputH], concat));
            graph.Node.Add(Node("Concat", "c_layers", Layers("c"), [OutputC], concat));
            graph.Node.Add(Node("Gemm", "dense", [Layers("h")[N - 1], "dense_kernel", "dense_bias"], ["logits"]));
        }
        graph.Node.Add(Node("Softmax", "softmax", ["logits"], [OutputProbabilities],
                            new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = -1 }));

        var onnx = new ModelProto
        {
            IrVersion = 8,
            ProducerName = "alphabet-lstm",
            ProducerVersion = "1",
            DocString = $"alphabet-lstm model: {(N > 1 ? $"{N} × " : "")}LSTM({H}) + Dense({V}, softmax) over {model.Vocabulary.Describe()}",
            Graph = graph,
            OpsetImport = { new OperatorSetIdProto { Domain = "", Version = Opset } },
        };
        onnx.MetadataProps.AddRange(OnnxMetadata.Write(model));
        return onnx.ToByteArray();
    }

    /// <summary>One layer's W{suffix}, R{suffix} and B{suffix} initializers, in ONNX's layout and gate order.</summary>
    private static void AddLstmWeights(GraphProto graph, string suffix, Matrix<double> kernel, Matrix<double> recurrent, Vector<double> ourBias, int H)
    {
        graph.Initializer.Add(FloatTensor($"W{suffix}", [1, 4 * H, kernel.RowCount], GateRows(kernel, H)));
        graph.Initializer.Add(FloatTensor($"R{suffix}", [1, 4 * H, H], GateRows(recurrent, H)));
        var bias = new float[8 * H];   // Wb then Rb: our one bias as Wb, zeros as Rb
        for (var k = 0; k < 4; k++)
            for (var u = 0; u < H; u++)
                bias[k * H + u] = (float)ourBias[OnnxToOurs[k] * H + u];
        graph.Initializer.Add(FloatTensor($"B{suffix}", [1, 8 * H], bias));
    }

    private static NodeProto LstmNode(string name, string[] inputs, string[] outputs, int H) =>
        Node("LSTM", name, inputs, outputs,
             new AttributeProto { Name = "hidden_size", Type = AttributeProto.Types.AttributeType.Int, I = H },
             new AttributeProto { Name = "direction", Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8("forward") });

    /// <summary>A Keras kernel (n, 4H) as ONNX's (4H, n), row-major, gate blocks reordered to i, o, f, c.</summary>
    private static float[] GateRows(Matrix<double> kernel, int H)
    {
        int n = kernel.RowCount;
        var rows = new float[4 * H * n];
        for (var k = 0; k < 4; k++)
            for (var u = 0; u < H; u++)
                for (var j = 0; j < n; j++)
                    rows[(k * H + u) * n + j] = (float)kernel[j, OnnxToOurs[k] * H + u];
        return rows;
    }

    /// <summary>Refuses a block holding a number that float32 cannot hold (it would round to ±Infinity), naming the
    /// model file's field and position; a vector is passed as one row and named without the row.</summary>
    private static void FitsFloat32(string field, Matrix<double> m)
    {
        for (var r = 0; r < m.RowCount; r++)
            for (var c = 0; c < m.ColumnCount; c++)
                if (float.IsInfinity((float)m[r, c]))
                {
                    var at = field.EndsWith("bias", StringComparison.Ordinal) ? $"{field}[{c}]" : $"{field}[{r}][{c}]";
                    throw new OnnxConversionException(
                        $"{at} is {m[r, c].ToString("R", System.Globalization.CultureInfo.InvariantCulture)}, beyond float32's range (±{float.MaxValue.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}), "
                        + "which ONNX's LSTM holds; nothing was written");
                }
    }

    private static float[] RowMajor(Matrix<double> m) => Array.ConvertAll(m.ToRowMajorArray(), v => (float)v);

    private static TensorProto FloatTensor(string name, long[] dims, float[] values)
    {
        var t = new TensorProto { Name = name, DataType = Float };
        t.Dims.AddRange(dims);
        t.FloatData.AddRange(values);
        return t;
    }

    private static ValueInfoProto Info(string name, params object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is string s ? new TensorShapeProto.Types.Dimension { DimParam = s }
                                        : new TensorShapeProto.Types.Dimension { DimValue = (int)d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = Float, Shape = shape } },
        };
    }

    private static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    private static NodeProto Node(string op, string name, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var n = new NodeProto { OpType = op, Name = name };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        n.Attribute.AddRange(attributes);
        return n;
    }
}
