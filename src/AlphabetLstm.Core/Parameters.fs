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

/// LSTM weights plus the Dense softmax head. Also used, field for field, for gradients and moments.
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
      DenseBias: Vector<float> }

    /// I, the number of input features.
    member p.Inputs = p.Kernel.RowCount
    /// H, the number of LSTM units.
    member p.Units = p.RecurrentKernel.RowCount
    /// V, the number of classes.
    member p.Classes = p.DenseBias.Count
    /// The number of scalars in all blocks.
    member p.Count = p.Kernel.RowCount * p.Kernel.ColumnCount + p.RecurrentKernel.RowCount * p.RecurrentKernel.ColumnCount
                     + p.Bias.Count + p.DenseKernel.RowCount * p.DenseKernel.ColumnCount + p.DenseBias.Count

/// One named block of a Parameters record and its raw storage (column-major for matrices).
type Block =
    { /// The block's name: "kernel", "recurrentKernel", "bias", "denseKernel" or "denseBias".
      Name: string
      /// Its numbers, column-major for a matrix (the storage itself, not a copy).
      Values: float[] }

/// Functions over Parameters records, curried (the members on Parameters and AlphabetLstm.FSharp.Parameters call them).
module internal Parameters =
    /// The names of the blocks, in the order `blocks` returns them.
    [<CompiledName("BlockNames")>]
    let blockNames = [| "kernel"; "recurrentKernel"; "bias"; "denseKernel"; "denseBias" |]

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
    let internal storage (p: Parameters) : float[][] =
        [| matrixValues p.Kernel; matrixValues p.RecurrentKernel; vectorValues p.Bias
           matrixValues p.DenseKernel; vectorValues p.DenseBias |]

    /// Builds a record of the same shapes as `shape` whose blocks are the given arrays (no copy).
    let internal ofStorage (shape: Parameters) (blocks: float[][]) : Parameters =
        let m (like: Matrix<float>) (a: float[]) = Matrix<float>.Build.Dense(like.RowCount, like.ColumnCount, a)
        { Kernel = m shape.Kernel blocks.[0]
          RecurrentKernel = m shape.RecurrentKernel blocks.[1]
          Bias = Vector<float>.Build.Dense blocks.[2]
          DenseKernel = m shape.DenseKernel blocks.[3]
          DenseBias = Vector<float>.Build.Dense blocks.[4] }

    /// A copy of every block, named (for checks, file writers and reports).
    [<CompiledName("Blocks")>]
    let blocks (p: Parameters) : Block[] =
        Array.map2 (fun name (values: float[]) -> { Name = name; Values = Array.copy values }) blockNames (storage p)

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
                   DenseKernel = dm denseKernel; DenseBias = dv denseBias }

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

    /// Fresh parameters for I inputs, H units and V classes, drawn as Keras draws them:
    /// kernel, recurrent kernel, then the dense kernel.
    [<CompiledName("Init")>]
    let init (inputs: int) (units: int) (classes: int) (rng: Rng) : Draw<Parameters> =
        if inputs < 1 then invalidArg "inputs" (sprintf "inputs must be positive, got %d" inputs)
        if units < 1 then invalidArg "units" (sprintf "units must be positive, got %d" units)
        if classes < 1 then invalidArg "classes" (sprintf "classes must be positive, got %d" classes)
        let G = 4 * units
        let w = glorotUniform inputs G rng
        let u = orthogonal units G w.Next
        let dk = glorotUniform units classes u.Next
        { Value =
            { Kernel = w.Value
              RecurrentKernel = u.Value
              Bias = Vector<float>.Build.Dense(G, fun j -> if j >= units && j < 2 * units then 1.0 else 0.0)
              DenseKernel = dk.Value
              DenseBias = Vector<float>.Build.Dense(classes) }
          Next = dk.Next }

/// C#-friendly entry points on the type itself (F# callers use the Parameters module).
type Parameters with
    /// Fresh Keras-initialised parameters for I inputs, H units and V classes.
    static member Init(inputs: int, units: int, classes: int, rng: Rng) : Draw<Parameters> = Parameters.init inputs units classes rng
    /// Builds and validates parameters from Keras-layout blocks (copied).
    static member Create(kernel, recurrentKernel, bias, denseKernel, denseBias) : Parameters =
        Parameters.create kernel recurrentKernel bias denseKernel denseBias
    /// The names of the blocks, in the order Blocks() returns them.
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
