/// The model's parameters, in Keras' layout, and Keras' initialisers.
///
/// Shape legend: I input features, H hidden units, G = 4H fused gates, V classes.
///
/// Keras compatibility lives here, once:
///   - gate order along the 4H axis is i, f, c, o (input, forget, cell candidate, output);
///   - Kernel is (I, 4H) and RecurrentKernel (H, 4H), so z = x·Kernel + h·RecurrentKernel + Bias;
///   - Kernel and DenseKernel are glorot-uniform, limit sqrt(6 / (fan_in + fan_out));
///   - RecurrentKernel is orthogonal (rows orthonormal: U·Uᵀ = I), gain 1;
///   - Bias is zero except the forget block, which is 1 (unit_forget_bias);
///   - the head is Dense(V) with softmax: DenseKernel (H, V), DenseBias zero.
/// Matrices are MathNet dense (column-major) matrices; the hot loops read their storage directly.
/// The same record holds gradients and Adam's moments, so they always have the same shape.
namespace AlphabetLstm.Core

open MathNet.Numerics.LinearAlgebra
open MathNet.Numerics.LinearAlgebra.Storage

/// One upper LSTM layer of a stack (layer 2, 3, …): it reads the h of the layer below, so its
/// kernel is (H, 4H). Keras' layout and initialisers, as for the first layer.
type LstmLayer =
    { /// W, (H, 4H): the layer below's h at each step is this layer's input.
      Kernel: Matrix<float>
      /// U, (H, 4H).
      RecurrentKernel: Matrix<float>
      /// b, (4H).
      Bias: Vector<float> }

/// LSTM weights plus the Dense softmax head. Also used, field for field, for gradients and moments.
/// A stack of N layers (Keras stacking, PyTorch `num_layers`): the first layer's blocks are Kernel,
/// RecurrentKernel and Bias; layers 2 … N are `Upper`, each reading the h of the layer below at
/// every step; the head reads the top layer's h. Every layer has the same H.
type Parameters =
    { /// W, (I, 4H).
      Kernel: Matrix<float>
      /// U, (H, 4H).
      RecurrentKernel: Matrix<float>
      /// b, (4H).
      Bias: Vector<float>
      /// Dense kernel, (H, V).
      DenseKernel: Matrix<float>
      /// Dense bias, (V).
      DenseBias: Vector<float>
      /// Layers 2 … N of a stack, bottom to top (empty for one layer).
      Upper: LstmLayer[] }

    /// I, the number of input features.
    member p.Inputs = p.Kernel.RowCount
    /// H, the number of LSTM units.
    member p.Units = p.RecurrentKernel.RowCount
    /// V, the number of classes.
    member p.Classes = p.DenseBias.Count
    /// N, the number of stacked LSTM layers (1 + Upper.Length).
    member p.Layers = 1 + p.Upper.Length
    /// N·H, the columns of the model's state: one (h, c) of H units per layer, side by side.
    member p.StateUnits = p.Layers * p.Units
    /// The number of scalars in all blocks.
    member p.Count =
        p.Kernel.RowCount * p.Kernel.ColumnCount + p.RecurrentKernel.RowCount * p.RecurrentKernel.ColumnCount
        + p.Bias.Count + p.DenseKernel.RowCount * p.DenseKernel.ColumnCount + p.DenseBias.Count
        + (p.Upper |> Array.sumBy (fun l -> l.Kernel.RowCount * l.Kernel.ColumnCount + l.RecurrentKernel.RowCount * l.RecurrentKernel.ColumnCount + l.Bias.Count))

/// One named block of a Parameters record and its raw storage (column-major for matrices).
type Block =
    { /// The block's name: "kernel", "recurrentKernel", "bias", "denseKernel" or "denseBias"; for
      /// layer k ≥ 2 of a stack "kernel_k", "recurrentKernel_k", "bias_k" (after the head's blocks).
      Name: string
      /// Its numbers, column-major for a matrix (the storage itself, not a copy).
      Values: float[] }

/// Functions over Parameters records, curried (the members on Parameters and AlphabetLstm.FSharp.Parameters call them).
module internal Parameters =
    /// The names of a one-layer model's blocks, in the order `blocks` returns them.
    [<CompiledName("BlockNames")>]
    let blockNames = [| "kernel"; "recurrentKernel"; "bias"; "denseKernel"; "denseBias" |]

    /// The names of the blocks of a model of `layers` layers: the one-layer names, then
    /// "kernel_k", "recurrentKernel_k", "bias_k" for k = 2 … N.
    let internal blockNamesOf (layers: int) =
        Array.append blockNames
            (Array.init (3 * (layers - 1)) (fun j -> sprintf "%s_%d" [| "kernel"; "recurrentKernel"; "bias" |].[j % 3] (j / 3 + 2)))

    /// The storage array of a dense matrix (no copy).
    let internal matrixValues (m: Matrix<float>) : float[] =
        match m.Storage with
        | :? DenseColumnMajorMatrixStorage<float> as s -> s.Data
        | _ -> invalidArg "m" "AlphabetLstm works on dense matrices only"

    /// The storage array of a dense vector (no copy).
    let internal vectorValues (v: Vector<float>) : float[] =
        match v.Storage with
        | :? DenseVectorStorage<float> as s -> s.Data
        | _ -> invalidArg "v" "AlphabetLstm works on dense vectors only"

    /// The raw storage of every block, in `blockNames` order. Internal: callers of the public API
    /// never receive a view they could mutate.
    /// The upper layers' blocks follow the head's, so blocks 0 … 4 are those of a one-layer model.
    let internal storage (p: Parameters) : float[][] =
        Array.append
            [| matrixValues p.Kernel; matrixValues p.RecurrentKernel; vectorValues p.Bias
               matrixValues p.DenseKernel; vectorValues p.DenseBias |]
            (p.Upper |> Array.collect (fun l -> [| matrixValues l.Kernel; matrixValues l.RecurrentKernel; vectorValues l.Bias |]))

    /// Builds a record of the same shapes as `shape` whose blocks are the given arrays (no copy).
    let internal ofStorage (shape: Parameters) (blocks: float[][]) : Parameters =
        let m (like: Matrix<float>) (a: float[]) = Matrix<float>.Build.Dense(like.RowCount, like.ColumnCount, a)
        { Kernel = m shape.Kernel blocks.[0]
          RecurrentKernel = m shape.RecurrentKernel blocks.[1]
          Bias = Vector<float>.Build.Dense blocks.[2]
          DenseKernel = m shape.DenseKernel blocks.[3]
          DenseBias = Vector<float>.Build.Dense blocks.[4]
          Upper =
            shape.Upper |> Array.mapi (fun k l ->
                { Kernel = m l.Kernel blocks.[5 + 3 * k]
                  RecurrentKernel = m l.RecurrentKernel blocks.[6 + 3 * k]
                  Bias = Vector<float>.Build.Dense blocks.[7 + 3 * k] }) }

    /// Layer k (0-based) of a stack as a one-layer record whose LSTM blocks are that layer's (no
    /// copy; the head's blocks are the model's): what the tape functions read for that layer.
    let internal layer (p: Parameters) (k: int) : Parameters =
        if k = 0 then p
        else
            let l = p.Upper.[k - 1]
            { p with Kernel = l.Kernel; RecurrentKernel = l.RecurrentKernel; Bias = l.Bias; Upper = Array.empty }

    /// Layer k's three gradient buffers (W, U, b) in a storage array ordered as `storage`.
    let internal layerStorage (grads: float[][]) (k: int) : float[][] =
        if k = 0 then grads else [| grads.[2 + 3 * k]; grads.[3 + 3 * k]; grads.[4 + 3 * k] |]

    /// A copy of every block, named (for checks, file writers and reports).
    [<CompiledName("Blocks")>]
    let blocks (p: Parameters) : Block[] =
        Array.map2 (fun name (values: float[]) -> { Name = name; Values = Array.copy values }) (blockNamesOf p.Layers) (storage p)

    /// A new record with f applied to every scalar.
    let internal map (f: float -> float) (p: Parameters) : Parameters =
        storage p |> Array.map (Array.map f) |> ofStorage p

    /// A new record with f applied to matching scalars of a and b (which must have the same shapes).
    let internal map2 (f: float -> float -> float) (a: Parameters) (b: Parameters) : Parameters =
        Array.map2 (Array.map2 f) (storage a) (storage b) |> ofStorage a

    /// A deep copy.
    [<CompiledName("Copy")>]
    let copy (p: Parameters) : Parameters = storage p |> Array.map Array.copy |> ofStorage p

    /// A record of zeros with the shapes of `p`.
    [<CompiledName("ZerosLike")>]
    let zerosLike (p: Parameters) : Parameters =
        storage p |> Array.map (fun a -> Array.zeroCreate a.Length) |> ofStorage p

    /// Checks the shapes agree with one another and every value is finite; returns the record or
    /// raises ArgumentException naming the bad block, the expected and the found shape or value.
    [<CompiledName("Validate")>]
    let validate (p: Parameters) : Parameters =
        let I, H, V = p.Kernel.RowCount, p.RecurrentKernel.RowCount, p.DenseBias.Count
        let G = 4 * H
        let check name (rows, cols) (r, c) =
            if (rows, cols) <> (r, c) then
                invalidArg name (sprintf "%s has shape (%d, %d), expected (%d, %d)" name r c rows cols)
        if H < 1 then invalidArg "recurrentKernel" "recurrentKernel has no rows: the LSTM needs at least one unit"
        if I < 1 then invalidArg "kernel" "kernel has no rows: the LSTM needs at least one input feature"
        if V < 1 then invalidArg "denseBias" "denseBias is empty: the head needs at least one class"
        check "kernel" (I, G) (p.Kernel.RowCount, p.Kernel.ColumnCount)
        check "recurrentKernel" (H, G) (p.RecurrentKernel.RowCount, p.RecurrentKernel.ColumnCount)
        check "bias" (G, 1) (p.Bias.Count, 1)
        check "denseKernel" (H, V) (p.DenseKernel.RowCount, p.DenseKernel.ColumnCount)
        if isNull (box p.Upper) then invalidArg "upper" "upper is null: expected an array of layers (empty for one layer)"
        p.Upper |> Array.iteri (fun k l ->
            if isNull (box l) then invalidArg "upper" (sprintf "layer %d is null" (k + 2))
            check (sprintf "kernel_%d" (k + 2)) (H, G) (l.Kernel.RowCount, l.Kernel.ColumnCount)
            check (sprintf "recurrentKernel_%d" (k + 2)) (H, G) (l.RecurrentKernel.RowCount, l.RecurrentKernel.ColumnCount)
            check (sprintf "bias_%d" (k + 2)) (G, 1) (l.Bias.Count, 1))
        for b in blocks p do
            match b.Values |> Array.tryFindIndex (fun x -> System.Double.IsNaN x || System.Double.IsInfinity x) with
            | Some k -> invalidArg b.Name (sprintf "%s holds a non-finite value (%g) at flat index %d" b.Name b.Values.[k] k)
            | None -> ()
        p

    /// Builds and validates a record from Keras-layout blocks (copied, so later changes to the
    /// arguments do not reach the model).
    [<CompiledName("Create")>]
    let create (kernel: Matrix<float>) (recurrentKernel: Matrix<float>) (bias: Vector<float>)
               (denseKernel: Matrix<float>) (denseBias: Vector<float>) : Parameters =
        let dm (m: Matrix<float>) = Matrix<float>.Build.DenseOfMatrix m
        let dv (v: Vector<float>) = Vector<float>.Build.DenseOfVector v
        validate { Kernel = dm kernel; RecurrentKernel = dm recurrentKernel; Bias = dv bias
                   DenseKernel = dm denseKernel; DenseBias = dv denseBias; Upper = Array.empty }

    /// `create` for a stack: the first layer and the head as `create`, then layers 2 … N (copied).
    let internal createStack (kernel: Matrix<float>) (recurrentKernel: Matrix<float>) (bias: Vector<float>)
                             (denseKernel: Matrix<float>) (denseBias: Vector<float>) (upper: LstmLayer[]) : Parameters =
        let dm (m: Matrix<float>) = Matrix<float>.Build.DenseOfMatrix m
        let dv (v: Vector<float>) = Vector<float>.Build.DenseOfVector v
        if isNull (box upper) then nullArg "upper"
        let upper =
            upper |> Array.mapi (fun k l ->
                if isNull (box l) then invalidArg "upper" (sprintf "layer %d is null" (k + 2))
                { Kernel = dm l.Kernel; RecurrentKernel = dm l.RecurrentKernel; Bias = dv l.Bias })
        validate { Kernel = dm kernel; RecurrentKernel = dm recurrentKernel; Bias = dv bias
                   DenseKernel = dm denseKernel; DenseBias = dv denseBias; Upper = upper }

    /// Glorot-uniform (rows, cols): uniform in ±sqrt(6 / (rows + cols)).
    [<CompiledName("GlorotUniform")>]
    let glorotUniform (rows: int) (cols: int) (rng: Rng) : Draw<Matrix<float>> =
        let limit = sqrt (6.0 / float (rows + cols))
        let d = Rng.many (rows * cols) (Rng.uniform -limit limit) rng
        // Draws fill row by row, as numpy would, then are stored column-major.
        { Value = Matrix<float>.Build.Dense(rows, cols, fun r c -> d.Value.[r * cols + c]); Next = d.Next }

    /// Keras' Orthogonal initializer for (rows, cols): QR of a normal (max, min) matrix, Q's columns
    /// signed by diag(R), transposed when rows < cols. The result has orthonormal rows or columns.
    [<CompiledName("Orthogonal")>]
    let orthogonal (rows: int) (cols: int) (rng: Rng) : Draw<Matrix<float>> =
        let tall, short = max rows cols, min rows cols
        let d = Rng.many (tall * short) Rng.nextNormal rng
        let a = Matrix<float>.Build.Dense(tall, short, fun r c -> d.Value.[r * short + c])
        let qr = a.QR(Factorization.QRMethod.Thin)
        let q = qr.Q.Multiply(Matrix<float>.Build.DiagonalOfDiagonalArray(Array.init short (fun k -> if qr.R.[k, k] < 0.0 then -1.0 else 1.0)))
        let q = Matrix<float>.Build.DenseOfMatrix q
        { Value = (if rows < cols then q.Transpose() else q); Next = d.Next }

    /// The largest number of stacked layers a model may have.
    [<Literal>]
    let MaxLayers = 64

    /// Fresh parameters for I inputs, `layers` stacked layers of H units and V classes, drawn as
    /// Keras builds a stack: each layer's kernel then recurrent kernel, bottom to top, then the
    /// dense kernel. One layer draws kernel, recurrent kernel, dense kernel, as it always has.
    let internal initStack (inputs: int) (units: int) (classes: int) (layers: int) (rng: Rng) : Draw<Parameters> =
        if inputs < 1 then invalidArg "inputs" (sprintf "inputs must be positive, got %d" inputs)
        if units < 1 then invalidArg "units" (sprintf "units must be positive, got %d" units)
        if classes < 1 then invalidArg "classes" (sprintf "classes must be positive, got %d" classes)
        if layers < 1 || layers > MaxLayers then invalidArg "layers" (sprintf "layers must be in 1 … %d, got %d" MaxLayers layers)
        let G = 4 * units
        let bias () = Vector<float>.Build.Dense(G, fun j -> if j >= units && j < 2 * units then 1.0 else 0.0)
        let w = glorotUniform inputs G rng
        let u = orthogonal units G w.Next
        let mutable next = u.Next
        let upper =
            Array.init (layers - 1) (fun _ ->
                let wk = glorotUniform units G next
                let uk = orthogonal units G wk.Next
                next <- uk.Next
                { Kernel = wk.Value; RecurrentKernel = uk.Value; Bias = bias () })
        let dk = glorotUniform units classes next
        { Value =
            { Kernel = w.Value
              RecurrentKernel = u.Value
              Bias = bias ()
              DenseKernel = dk.Value
              DenseBias = Vector<float>.Build.Dense(classes)
              Upper = upper }
          Next = dk.Next }

    /// Fresh parameters for I inputs, H units and V classes, drawn as Keras draws them:
    /// kernel, recurrent kernel, then the dense kernel.
    [<CompiledName("Init")>]
    let init (inputs: int) (units: int) (classes: int) (rng: Rng) : Draw<Parameters> = initStack inputs units classes 1 rng

/// C#-friendly entry points on the type itself (F# callers use the Parameters module).
type Parameters with
    /// Fresh Keras-initialised parameters for I inputs, H units and V classes.
    static member Init(inputs: int, units: int, classes: int, rng: Rng) : Draw<Parameters> = Parameters.init inputs units classes rng
    /// Fresh Keras-initialised parameters for a stack of `layers` layers of H units: each layer's
    /// kernel and recurrent kernel bottom to top, then the dense kernel, from the one generator (one
    /// layer draws exactly as the overload without `layers`).
    static member Init(inputs: int, units: int, classes: int, layers: int, rng: Rng) : Draw<Parameters> =
        Parameters.initStack inputs units classes layers rng
    /// The largest number of stacked layers: 64.
    static member MaxLayers = Parameters.MaxLayers
    /// Builds and validates parameters from Keras-layout blocks (copied).
    static member Create(kernel, recurrentKernel, bias, denseKernel, denseBias) : Parameters =
        Parameters.create kernel recurrentKernel bias denseKernel denseBias
    /// Builds and validates a stack from Keras-layout blocks (copied): the first layer, the head, and
    /// layers 2 … N, each with an (H, 4H) kernel.
    static member Create(kernel, recurrentKernel, bias, denseKernel, denseBias, upper: LstmLayer[]) : Parameters =
        Parameters.createStack kernel recurrentKernel bias denseKernel denseBias upper
    /// The names of a one-layer model's blocks, in the order Blocks() returns them.
    static member BlockNames : string[] = Array.copy Parameters.blockNames
    /// A glorot-uniform (rows, cols) matrix: limit sqrt(6 / (rows + cols)), and the next generator.
    static member GlorotUniform(rows: int, cols: int, rng: Rng) : Draw<Matrix<float>> = Parameters.glorotUniform rows cols rng
    /// An orthogonal (rows, cols) matrix (Keras' orthogonal initialiser, gain 1), and the next generator.
    static member Orthogonal(rows: int, cols: int, rng: Rng) : Draw<Matrix<float>> = Parameters.orthogonal rows cols rng
    /// Every block with its name and its storage (column-major for matrices; not a copy).
    member p.Blocks() : Block[] = Parameters.blocks p
    /// A deep copy.
    member p.Copy() : Parameters = Parameters.copy p
    /// A record of zeros of the same shapes (what gradients and Adam's moments start from).
    member p.ZerosLike() : Parameters = Parameters.zerosLike p
    /// This record, after checking the shapes agree and every value is finite (ArgumentException naming the block).
    member p.Validate() : Parameters = Parameters.validate p
    /// A new record with f applied to every scalar.
    member p.Map(f: System.Func<float, float>) : Parameters = Parameters.map f.Invoke p
    /// A new record with f applied to matching scalars of this record and `other` (same shapes).
    member p.Map2(other: Parameters, f: System.Func<float, float, float>) : Parameters = Parameters.map2 (fun a b -> f.Invoke(a, b)) p other
