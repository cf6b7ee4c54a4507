/// Datasets: labelled sequences of symbols, built from any vocabulary; the tutorial's are the alphabet's.
///
/// Inputs are time-major: `Inputs.[t]` is an (N, I) matrix holding every sample's input at step t.
/// Targets are one-hot rows over the vocabulary's V symbols. Two ways to lay out a window of n symbols:
/// as n symbols side by side in one step (Layout.Features: I = n × features per symbol) or as n steps
/// of one symbol each (Layout.TimeSteps). Variable-length samples are pre-padded with zeros (Keras'
/// `pad_sequences` default) and keep their true lengths, so masking can skip the padding.
namespace AlphabetLstm.Core

open System
open System.Collections.Generic
open MathNet.Numerics.LinearAlgebra

/// A labelled set of sequences.
type Dataset =
    { /// Time-major inputs: T matrices, each (N, I).
      Inputs: Matrix<float>[]
      /// One-hot targets, (N, V).
      Targets: Matrix<float>
      /// The true (unpadded) number of steps of each sample; T where nothing is padded.
      Lengths: int[]
      /// Each sample's input symbols for display, e.g. "ABC" (Vocabulary.Join).
      Patterns: string[]
      /// The symbols the targets are one-hot over.
      Vocabulary: Vocabulary }

    /// N, the number of samples.
    member d.Count = d.Targets.RowCount
    /// T, the number of time steps.
    member d.TimeSteps = d.Inputs.Length
    /// I, the number of input features.
    member d.Features = d.Inputs.[0].ColumnCount
    /// The symbol each sample should predict.
    member d.Expected : string[] = Array.init d.Count (fun n -> d.Vocabulary.[d.Targets.Row(n).MaximumIndex()])
    /// Whether any sample is shorter than T (so padding is present).
    member d.IsPadded = d.Lengths |> Array.exists (fun l -> l < d.Inputs.Length)

/// Datasets: the tutorial's alphabet windows and variable-length runs, and any vocabulary's windows,
/// streams, pre-padded samples or the caller's own features.
module Datasets =
    /// The index of every symbol, or ArgumentException naming the first one outside the vocabulary.
    let internal indices (vocabulary: Vocabulary) (what: string) (symbols: IReadOnlyList<string>) : int[] =
        Array.init symbols.Count (fun k ->
            let i = vocabulary.IndexOf symbols.[k]
            if i < 0 then
                invalidArg what (sprintf "%s (position %d of %s) is not in %s"
                                     (Vocabulary.Quote symbols.[k]) (k + 1) what (vocabulary.Describe()))
            i)

    /// A one-hot (N, V) matrix from class indices 0 .. V−1.
    [<CompiledName("OneHot")>]
    let oneHot (classes: int) (indices: int[]) : Matrix<float> =
        Matrix<float>.Build.Dense(indices.Length, classes, fun n v -> if indices.[n] = v then 1.0 else 0.0)

    /// T matrices (N, I), entry (n, k) of matrix t being `value n t k`: sample n, step t, feature k.
    let private timeMajor (N: int) (T: int) (I: int) (value: int -> int -> int -> float) : Matrix<float>[] =
        Array.init T (fun t -> Matrix<float>.Build.Dense(N, I, fun n k -> value n t k))

    /// The features of symbol index `s`, feature k (of the encoding's per-symbol count).
    let private feature (vocabulary: Vocabulary) (encoding: SymbolEncoding) (s: int) (k: int) : float =
        match encoding with
        | SymbolEncoding.Index -> float s / float vocabulary.Count
        | _ -> if k = s then 1.0 else 0.0

    let private checkEncoding (vocabulary: Vocabulary) (encoding: SymbolEncoding) : int =
        if isNull (box vocabulary) then nullArg "vocabulary"
        match encoding with
        | SymbolEncoding.Index | SymbolEncoding.OneHot -> vocabulary.FeaturesPerSymbol encoding
        | other -> invalidArg "encoding" (sprintf "symbols can be encoded as Index or OneHot, not %A (Features: use Datasets.ofFeatures)" other)

    /// Windows of n symbols encoded as one sample each, time-major, in the given layout: window j
    /// holds indices.[j] … indices.[j + n − 1].
    let private windowInputs (vocabulary: Vocabulary) (encoding: SymbolEncoding) (layout: Layout) (n: int) (windows: int -> int -> int) (count: int) =
        let per = checkEncoding vocabulary encoding
        match layout with
        | Layout.Features -> timeMajor count 1 (n * per) (fun j _ f -> feature vocabulary encoding (windows j (f / per)) (f % per))
        | _ -> timeMajor count n per (fun j t f -> feature vocabulary encoding (windows j t) f)

    /// Encodes one window of symbols as one sample: T matrices of shape (1, I).
    [<CompiledName("EncodeWindow")>]
    let encodeWindow (vocabulary: Vocabulary) (encoding: SymbolEncoding) (layout: Layout) (symbols: IReadOnlyList<string>) : Matrix<float>[] =
        if symbols.Count = 0 then invalidArg "symbols" "the window is empty: expected at least one symbol"
        let ix = indices vocabulary "symbols" symbols
        windowInputs vocabulary encoding layout ix.Length (fun _ t -> ix.[t]) 1

    /// Every window of n symbols of `sequence`, each labelled with the symbol that follows it:
    /// sequence[j .. j+n−1] → sequence[j+n] for j = 0 .. length − n − 1.
    [<CompiledName("Windows")>]
    let windows (vocabulary: Vocabulary) (encoding: SymbolEncoding) (layout: Layout) (n: int) (sequence: IReadOnlyList<string>) : Dataset =
        if n < 1 then invalidArg "n" (sprintf "the window length must be positive, got %d" n)
        let ix = indices vocabulary "sequence" sequence
        if ix.Length < n + 1 then
            invalidArg "sequence" (sprintf "the sequence has %d symbols, a window of %d needs at least %d (the window and the symbol after it)" ix.Length n (n + 1))
        let count = ix.Length - n
        { Inputs = windowInputs vocabulary encoding layout n (fun j t -> ix.[j + t]) count
          Targets = oneHot vocabulary.Count (Array.init count (fun j -> ix.[j + n]))
          Lengths = Array.create count (if layout = Layout.Features then 1 else n)
          Patterns = Array.init count (fun j -> vocabulary.Join(Seq.init n (fun t -> sequence.[j + t])))
          Vocabulary = vocabulary }

    /// The number of samples `streams` makes of a sequence of `length` symbols: `batch` streams of
    /// length / batch symbols each, every stream giving (its length − 1) / n chunks.
    [<CompiledName("StreamSampleCount")>]
    let streamSampleCount (batch: int) (n: int) (length: int) : int =
        if batch < 1 || n < 1 then 0 else batch * max 0 ((length / batch - 1) / n)

    /// A sequence cut into `batch` parallel streams for stateful training (as char-rnn trains):
    /// stream b is sequence[b·S .. b·S + S − 1] with S = length / batch (the few symbols left over
    /// at the end are dropped), and its k-th chunk is the n symbols stream[k·n .. k·n + n − 1],
    /// labelled with stream[k·n + n], the symbol after them (so chunk k + 1 starts at chunk k's
    /// target). Sample k·batch + b is stream b's chunk k: batch k, row b, so a stateful fit with this
    /// batch size and no shuffle carries each stream's state from one chunk to the next. One symbol
    /// per step (n time steps).
    [<CompiledName("Streams")>]
    let streams (vocabulary: Vocabulary) (encoding: SymbolEncoding) (batch: int) (n: int) (sequence: IReadOnlyList<string>) : Dataset =
        if batch < 1 then invalidArg "batch" (sprintf "the number of streams (batch size) must be positive, got %d" batch)
        if n < 1 then invalidArg "n" (sprintf "the chunk length must be positive, got %d" n)
        let ix = indices vocabulary "sequence" sequence
        let count = streamSampleCount batch n ix.Length
        if count = 0 then
            invalidArg "sequence" (sprintf "the sequence has %d symbols; %d streams of chunks of %d need at least %d (each stream a chunk and the symbol after it)"
                                       ix.Length batch n (batch * (n + 1)))
        let S = ix.Length / batch
        // Sample j = k·batch + b starts at symbol b·S + k·n.
        let first j = (j % batch) * S + (j / batch) * n
        { Inputs = windowInputs vocabulary encoding Layout.TimeSteps n (fun j t -> ix.[first j + t]) count
          Targets = oneHot vocabulary.Count (Array.init count (fun j -> ix.[first j + n]))
          Lengths = Array.create count n
          Patterns = Array.init count (fun j -> vocabulary.Join(Seq.init n (fun t -> sequence.[first j + t])))
          Vocabulary = vocabulary }

    /// Inputs of 1 .. maxLength symbols each, one symbol per step, pre-padded with zero steps to
    /// `maxLength`: T = maxLength matrices (N, I), and each sample's true length.
    let private prePaddedInputs (vocabulary: Vocabulary) (encoding: SymbolEncoding) (maxLength: int) (inputs: IReadOnlyList<IReadOnlyList<string>>) =
        let per = checkEncoding vocabulary encoding
        if maxLength < 1 then invalidArg "maxLength" (sprintf "maxLength must be positive, got %d" maxLength)
        if inputs.Count = 0 then invalidArg "inputs" "expected at least one sample, found none"
        let ix = Array.init inputs.Count (fun j ->
            let s = inputs.[j]
            if s.Count < 1 || s.Count > maxLength then
                invalidArg "inputs" (sprintf "sample %d has %d symbols, expected 1 to %d" j s.Count maxLength)
            indices vocabulary (sprintf "inputs[%d]" j) s)
        let lengths = ix |> Array.map Array.length
        // Step t of sample j holds symbol t − pad, where pad = maxLength − length leading zero steps.
        let value j t f =
            let pad = maxLength - lengths.[j]
            if t < pad then 0.0 else feature vocabulary encoding ix.[j].[t - pad] f
        timeMajor inputs.Count maxLength per value, lengths

    /// One sample of 1 .. maxLength symbols, one per step, pre-padded with zero steps: T = maxLength
    /// matrices (1, I). (Without masking, a symbol that encodes as zeros looks like padding.)
    [<CompiledName("EncodePrePadded")>]
    let encodePrePadded (vocabulary: Vocabulary) (encoding: SymbolEncoding) (maxLength: int) (symbols: IReadOnlyList<string>) : Matrix<float>[] =
        fst (prePaddedInputs vocabulary encoding maxLength [| symbols |])

    /// Variable-length samples, one symbol per step, pre-padded with zero steps to `maxLength`:
    /// sample j reads inputs.[j] (1 .. maxLength symbols) and should predict targets.[j].
    [<CompiledName("PrePadded")>]
    let prePadded (vocabulary: Vocabulary) (encoding: SymbolEncoding) (maxLength: int) (inputs: IReadOnlyList<IReadOnlyList<string>>) (targets: IReadOnlyList<string>) : Dataset =
        let x, lengths = prePaddedInputs vocabulary encoding maxLength inputs
        if targets.Count <> inputs.Count then
            invalidArg "targets" (sprintf "expected one target per sample (%d), found %d" inputs.Count targets.Count)
        { Inputs = x
          Targets = oneHot vocabulary.Count (indices vocabulary "targets" targets)
          Lengths = lengths
          Patterns = Array.init inputs.Count (fun j -> vocabulary.Join inputs.[j])
          Vocabulary = vocabulary }

    /// Samples whose features the caller supplies, [N][T][I], each labelled with a target symbol.
    /// Every sample has T real steps; patterns are "#0", "#1", … .
    [<CompiledName("OfFeatures")>]
    let ofFeatures (vocabulary: Vocabulary) (inputs: float[][][]) (targets: IReadOnlyList<string>) : Dataset =
        if isNull (box vocabulary) then nullArg "vocabulary"
        if inputs.Length = 0 then invalidArg "inputs" "expected at least one sample, found none"
        if targets.Count <> inputs.Length then
            invalidArg "targets" (sprintf "expected one target per sample (%d), found %d" inputs.Length targets.Count)
        let T = inputs.[0].Length
        if T = 0 then invalidArg "inputs" "inputs[0] holds no time step"
        let I = inputs.[0].[0].Length
        if I = 0 then invalidArg "inputs" "inputs[0][0] holds no feature"
        inputs |> Array.iteri (fun n steps ->
            if steps.Length <> T then invalidArg "inputs" (sprintf "inputs[%d] has %d steps, expected %d like inputs[0]" n steps.Length T)
            steps |> Array.iteri (fun t xs ->
                if xs.Length <> I then invalidArg "inputs" (sprintf "inputs[%d][%d] has %d features, expected %d like inputs[0][0]" n t xs.Length I)
                xs |> Array.iteri (fun k x ->
                    if not (Double.IsFinite x) then invalidArg "inputs" (sprintf "inputs[%d][%d][%d] is %g, expected a finite number" n t k x))))
        { Inputs = timeMajor inputs.Length T I (fun n t k -> inputs.[n].[t].[k])
          Targets = oneHot vocabulary.Count (indices vocabulary "targets" targets)
          Lengths = Array.create inputs.Length T
          Patterns = Array.init inputs.Length (fun n -> sprintf "#%d" n)
          Vocabulary = vocabulary }

    // ---- the tutorial's datasets: the functions above applied to the alphabet ----------------------

    let private letters = Vocabulary.Alphabet.Symbols

    /// The tutorial's window dataset for seq_length n: alphabet[i..i+n-1] -> alphabet[i+n],
    /// i = 0 .. 25-n, letters encoded as index / 26.
    [<CompiledName("Window")>]
    let window (n: int) (layout: Layout) : Dataset =
        if n < 1 || n > Alphabet.Size - 1 then
            invalidArg "n" (sprintf "window length must be in 1..25, got %d" n)
        windows Vocabulary.Alphabet SymbolEncoding.Index layout n letters

    /// The tutorial's variable-length dataset: `count` samples; start uniform in [0, 24), end uniform in
    /// [start, min(start + maxLen, 25)); input alphabet[start..end], target alphabet[end + 1];
    /// pre-padded with 0.0 to maxLen steps (Keras `pad_sequences`). Returns the set and the next generator.
    [<CompiledName("VariableLength")>]
    let variableLength (count: int) (maxLen: int) (rng: Rng) : Draw<Dataset> =
        if count < 1 then invalidArg "count" (sprintf "sample count must be positive, got %d" count)
        if maxLen < 1 then invalidArg "maxLen" (sprintf "maxLen must be positive, got %d" maxLen)
        let V = Alphabet.Size
        let runs = Array.zeroCreate count
        let targets = Array.zeroCreate count
        let mutable r = rng
        for k in 0 .. count - 1 do
            let s = Rng.nextInt 0 (V - 2) r
            let e = Rng.nextInt s.Value (min (s.Value + maxLen) (V - 1)) s.Next
            runs.[k] <- Seq.init (e.Value - s.Value + 1) (fun j -> letters.[s.Value + j]) |> Seq.toArray :> IReadOnlyList<string>
            targets.[k] <- letters.[e.Value + 1]
            r <- e.Next
        { Value = prePadded Vocabulary.Alphabet SymbolEncoding.Index maxLen runs targets; Next = r }

    // ---- selecting samples and reading masks ------------------------------------------------------

    /// The samples at `indices`, in that order (a subset, a permutation or a batch).
    [<CompiledName("Select")>]
    let select (indices: int[]) (data: Dataset) : Dataset =
        let rows (m: Matrix<float>) =
            Matrix<float>.Build.Dense(indices.Length, m.ColumnCount, fun n j -> m.[indices.[n], j])
        { Inputs = data.Inputs |> Array.map rows
          Targets = rows data.Targets
          Lengths = indices |> Array.map (fun n -> data.Lengths.[n])
          Patterns = indices |> Array.map (fun n -> data.Patterns.[n])
          Vocabulary = data.Vocabulary }

    /// Whether step t (0-based, of T) of a sample with `length` real steps is real, not padding.
    /// Padding is leading (pre-padding), so the real steps are the last `length`.
    [<CompiledName("IsReal")>]
    let isReal (timeSteps: int) (length: int) (t: int) = t >= timeSteps - length
