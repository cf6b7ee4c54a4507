/// The alphabet, its encodings, and the tutorial's datasets (DESIGN.md §4).
///
/// Inputs are time-major: `Inputs.[t]` is an (N, I) matrix holding every sample's input at step t.
/// Letters encode as index / 26, so 'A' is 0.0 (the same value as padding: the tutorial's flaw,
/// kept on purpose; masking is the fix). Targets are one-hot rows over the 26 letters.
namespace AlphabetLstm.Core

open MathNet.Numerics.LinearAlgebra

/// How a window of n letters is laid out: as n features of one step, or as n steps of one feature.
type Layout =
    /// Shape (samples, 1, n): the whole window is one time step.
    | Features = 0
    /// Shape (samples, n, 1): one letter per time step.
    | TimeSteps = 1

/// The 26 letters and their encodings.
[<AbstractClass; Sealed>]
type Alphabet =
    /// "ABCDEFGHIJKLMNOPQRSTUVWXYZ".
    static member Letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    /// V = 26.
    static member Size = 26
    /// The letter with index 0..25.
    static member Letter(index: int) : char =
        if index < 0 || index >= Alphabet.Size then
            invalidArg "index" (sprintf "letter index must be in 0..25, got %d" index)
        Alphabet.Letters.[index]
    /// The index 0..25 of an upper-case letter.
    static member Index(letter: char) : int =
        let k = Alphabet.Letters.IndexOf letter
        if k < 0 then
            invalidArg "letter" (sprintf "'%c' is not a letter of the alphabet A..Z" letter)
        k
    /// The model input for a letter: index / 26.
    static member Encode(letter: char) : float = float (Alphabet.Index letter) / float Alphabet.Size

/// A labelled set of sequences.
type Dataset =
    { /// Time-major inputs: T matrices, each (N, I).
      Inputs: Matrix<float>[]
      /// One-hot targets, (N, V).
      Targets: Matrix<float>
      /// The true (unpadded) number of steps of each sample; T where nothing is padded.
      Lengths: int[]
      /// Each sample's input letters, e.g. "ABC".
      Patterns: string[] }

    /// N, the number of samples.
    member d.Count = d.Targets.RowCount
    /// T, the number of time steps.
    member d.TimeSteps = d.Inputs.Length
    /// I, the number of input features.
    member d.Features = d.Inputs.[0].ColumnCount
    /// The letter each sample should predict.
    member d.Expected = Array.init d.Count (fun n -> Alphabet.Letter (d.Targets.Row(n).MaximumIndex()))
    /// Whether any sample is shorter than T (so padding is present).
    member d.IsPadded = d.Lengths |> Array.exists (fun l -> l < d.Inputs.Length)

module Datasets =
    let private V = Alphabet.Size

    /// A one-hot (N, V) matrix from letter indices.
    [<CompiledName("OneHot")>]
    let oneHot (indices: int[]) : Matrix<float> =
        Matrix<float>.Build.Dense(indices.Length, V, fun n v -> if indices.[n] = v then 1.0 else 0.0)

    /// Encodes a window of letters as one sample in the given layout: T matrices of shape (1, I).
    [<CompiledName("EncodeWindow")>]
    let encodeWindow (layout: Layout) (letters: string) : Matrix<float>[] =
        let codes = letters |> Seq.map Alphabet.Encode |> Seq.toArray
        match layout with
        | Layout.Features -> [| Matrix<float>.Build.Dense(1, codes.Length, codes) |]
        | _ -> codes |> Array.map (fun c -> Matrix<float>.Build.Dense(1, 1, c))

    /// The window dataset for seq_length n: alphabet[i..i+n-1] -> alphabet[i+n], i = 0 .. 25-n.
    [<CompiledName("Window")>]
    let window (n: int) (layout: Layout) : Dataset =
        if n < 1 || n > V - 1 then
            invalidArg "n" (sprintf "window length must be in 1..25, got %d" n)
        let count = V - n
        let patterns = Array.init count (fun i -> Alphabet.Letters.Substring(i, n))
        let code i k = float (i + k) / float V
        let inputs =
            match layout with
            | Layout.Features -> [| Matrix<float>.Build.Dense(count, n, fun i k -> code i k) |]
            | _ -> Array.init n (fun k -> Matrix<float>.Build.Dense(count, 1, fun i _ -> code i k))
        { Inputs = inputs
          Targets = oneHot (Array.init count (fun i -> i + n))
          Lengths = Array.create count inputs.Length
          Patterns = patterns }

    /// The tutorial's variable-length dataset: `count` samples; start uniform in [0, 24), end uniform in
    /// [start, min(start + maxLen, 25)); input alphabet[start..end], target alphabet[end + 1];
    /// pre-padded with 0.0 to maxLen steps (Keras `pad_sequences`). Returns the set and the next generator.
    [<CompiledName("VariableLength")>]
    let variableLength (count: int) (maxLen: int) (rng: Rng) : Draw<Dataset> =
        if count < 1 then invalidArg "count" (sprintf "sample count must be positive, got %d" count)
        if maxLen < 1 then invalidArg "maxLen" (sprintf "maxLen must be positive, got %d" maxLen)
        let starts = Array.zeroCreate count
        let ends = Array.zeroCreate count
        let mutable r = rng
        for k in 0 .. count - 1 do
            let s = Rng.nextInt 0 (V - 2) r
            let e = Rng.nextInt s.Value (min (s.Value + maxLen) (V - 1)) s.Next
            starts.[k] <- s.Value
            ends.[k] <- e.Value
            r <- e.Next
        let lengths = Array.init count (fun k -> ends.[k] - starts.[k] + 1)
        // Step t of sample k holds letter starts + (t - pad), where pad = maxLen - length leading zeros.
        let value k t =
            let pad = maxLen - lengths.[k]
            if t < pad then 0.0 else float (starts.[k] + t - pad) / float V
        { Value =
            { Inputs = Array.init maxLen (fun t -> Matrix<float>.Build.Dense(count, 1, fun k _ -> value k t))
              Targets = oneHot (Array.init count (fun k -> ends.[k] + 1))
              Lengths = lengths
              Patterns = Array.init count (fun k -> Alphabet.Letters.Substring(starts.[k], lengths.[k])) }
          Next = r }

    /// The samples at `indices`, in that order (a subset, a permutation or a batch).
    [<CompiledName("Select")>]
    let select (indices: int[]) (data: Dataset) : Dataset =
        let rows (m: Matrix<float>) =
            Matrix<float>.Build.Dense(indices.Length, m.ColumnCount, fun n j -> m.[indices.[n], j])
        { Inputs = data.Inputs |> Array.map rows
          Targets = rows data.Targets
          Lengths = indices |> Array.map (fun n -> data.Lengths.[n])
          Patterns = indices |> Array.map (fun n -> data.Patterns.[n]) }

    /// Whether step t (0-based, of T) of a sample with `length` real steps is real, not padding.
    /// Padding is leading (pre-padding), so the real steps are the last `length`.
    [<CompiledName("IsReal")>]
    let isReal (timeSteps: int) (length: int) (t: int) = t >= timeSteps - length
