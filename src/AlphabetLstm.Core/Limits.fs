/// The sizes this program accepts, and how much memory a shape needs, so the shell can refuse a
/// command before it allocates anything. Pure: numbers in, numbers out.
///
/// Every product of sizes here is computed in 64-bit floating point (exact up to 2^53 and never
/// wrapping), so a claimed size that would overflow `int` gives a huge estimate, not a negative one.
namespace AlphabetLstm.Core

open System

/// The largest sizes a file or a command line may claim. Memory is the real bound (see Memory);
/// these stop absurd numbers before any arithmetic is done with them. Each is accepted from 1 up to:
///
///     MaxUnits        100,000   LSTM units H (a model file's lstm.units, --units)
///     MaxFeatures     100,000   features per step I
///     MaxTimeSteps    100,000   time steps T per sample
///     MaxBatch        100,000   samples per batch B (a bench grid shape)
///     MaxClasses    1,000,000   classes V (dense.units)
///     MaxEpochs    10,000,000   training epochs (--epochs, a checkpoint's run.epochs)
///     MaxSteps    100,000,000   symbols `generate` may produce (it keeps only the current state)
///     MaxSeeds         10,000   seeds one `experiment` may run (--seeds)
module Limits =
    /// The most LSTM units H a file or command may ask for.
    let [<CompiledName("MaxUnits")>] maxUnits = 100000
    /// The most input features I per step.
    let [<CompiledName("MaxFeatures")>] maxFeatures = 100000
    /// The most time steps T per sample.
    let [<CompiledName("MaxTimeSteps")>] maxTimeSteps = 100000
    /// The most samples B per batch.
    let [<CompiledName("MaxBatch")>] maxBatch = 100000
    /// The most classes V.
    let [<CompiledName("MaxClasses")>] maxClasses = 1000000
    /// The most training epochs.
    let [<CompiledName("MaxEpochs")>] maxEpochs = 10000000
    /// The most symbols one generation may produce.
    let [<CompiledName("MaxSteps")>] maxSteps = 100000000
    /// The most seeds one experiment command may run.
    let [<CompiledName("MaxSeeds")>] maxSeeds = 10000

    /// Whether a count of n elements fits in one .NET array (at most Array.MaxLength elements).
    [<CompiledName("FitsInArray")>]
    let fitsInArray (n: float) = n >= 0.0 && n <= float Array.MaxLength

/// Memory estimates, in bytes, for the shapes the core allocates. They count the arrays the core
/// sets up (parameters, gradients, Adam's moments, the tape of the unrolled sequence, the batch
/// buffers and the data) with a margin for the copies handed out; they are estimates to compare
/// with a limit, not exact figures.
module Memory =
    let private d = 8.0

    /// The number of weights of an LSTM(H) + Dense(V) over I features: 4H(I + H + 1) + HV + V.
    [<CompiledName("ParameterCount")>]
    let parameterCount (inputs: int) (units: int) (classes: int) : float =
        let I, H, V = float inputs, float units, float classes
        4.0 * H * (I + H + 1.0) + H * V + V

    /// Bytes of the tape and scratch one forward and backward pass over T steps of B rows needs
    /// (Lstm.newTape and Model.newWorkspace): the inputs T·B·I, h and c for T+1 steps, the gates and
    /// their gradient T·B·4H each, tanh(c) T·B·H, the packed recurrent kernel 4H·H, and the head's B·V
    /// buffers.
    [<CompiledName("Tape")>]
    let tape (inputs: int) (units: int) (classes: int) (batch: int) (timeSteps: int) : float =
        let I, H, V, B, T = float inputs, float units, float classes, float batch, float timeSteps
        d * (T * B * I + 2.0 * (T + 1.0) * B * H + 2.0 * T * B * 4.0 * H + T * B * H
             + 2.0 * I * 4.0 * H + 4.0 * H * H + 4.0 * B * H + 3.0 * B * V + 4.0 * V)
        + T * B * 5.0   // the mask flags and the row order

    /// Bytes a training run needs: the parameters about ten times over (the working copy, the
    /// gradients, Adam's two moments, and the copies of all three handed out with each state), the
    /// tape for one batch, and the data (samples × (T·I inputs + V targets), twice: the dataset and
    /// its batches).
    [<CompiledName("Training")>]
    let training (inputs: int) (units: int) (classes: int) (batch: int) (timeSteps: int) (samples: int) : float =
        let data = float samples * (float timeSteps * float inputs + float classes)
        10.0 * d * parameterCount inputs units classes + tape inputs units classes batch timeSteps + 2.0 * d * data

    /// The symbols a stream model with a target at every step reads per forward call when its loss is
    /// read over a text (TextRuns.evaluateText, the held-out pass): one row of up to this many steps,
    /// the state carried from call to call. Long enough to keep the kernels busy, short enough that
    /// its tape stays a few MB whatever the text's length.
    let [<CompiledName("HeldOutPiece")>] heldOutPiece = 1024

    /// The tape of one text lane of T steps and B rows (a one-hot run's tape holds symbol indices,
    /// not T·B·V inputs), with the every-step head's probabilities and targets, and its d h buffer when
    /// the lane trains.
    let private textLane (features: int) (units: int) (classes: int) (batch: int) (timeSteps: int) (oneHot: bool) (everyStep: bool) (trains: bool) =
        let t, b = float timeSteps, float batch
        tape features units classes batch timeSteps
        - (if oneHot then d * t * b * float features - 4.0 * t * b else 0.0)
        + (if everyStep then d * t * b * (float classes + (if trains then float units else 0.0)) + 4.0 * t * b else 0.0)

    /// The tape of a layer above the first over T steps of B rows (H input features), with the input
    /// gradient T·B·H it hands down when the lane trains.
    let private upperLane (units: int) (classes: int) (batch: int) (timeSteps: int) (trains: bool) =
        tape units units classes batch timeSteps + (if trains then d * float timeSteps * float batch * float units else 0.0)

    /// Bytes of a text run's held-out pass (part of `text`): a stream model with a target at every
    /// step reads in one row of HeldOutPiece steps, whatever the held-out text's length; the others
    /// in batches no larger than the training batch. Each layer above the first adds its own tape
    /// of the same shape, and the workspace of a stack holds one input gradient T·B·H even here.
    let internal textHeldOut (features: int) (units: int) (classes: int) (batch: int) (timeSteps: int) (oneHot: bool) (everyStep: bool) (stateful: bool) (layers: int) : float =
        let upper = float (max 1 layers - 1)
        if stateful && everyStep then
            textLane features units classes 1 heldOutPiece oneHot true false + upper * upperLane units classes 1 heldOutPiece true
        else
            textLane features units classes batch timeSteps oneHot everyStep true + upper * upperLane units classes batch timeSteps true

    /// Bytes a text run needs (`train --text`): the text as 2-byte symbol indices, one flag and one
    /// index per possible code point while reading it (5.6 MB), the parameters about ten times over
    /// (as `training`), the tape of one batch (a one-hot run's tape holds symbol indices, not T·B·V
    /// inputs), the every-step head's buffers (probabilities T·B·V, d h T·B·H, targets), and the
    /// held-out pass's tape: a stream model with a target at every step reads the held-out text in
    /// one row of HeldOutPiece steps (tape, probabilities and targets of HeldOutPiece rows); the
    /// others read it in batches no larger than the training batch (counted as a second such tape).
    /// A stack of N layers adds, per layer above the first, its weights 4H(2H + 1) ten times over, and
    /// a tape over H input features (with the input gradient T·B·H it hands down) to each pass.
    [<CompiledName("Text")>]
    let text (length: float) (features: int) (units: int) (classes: int) (batch: int) (timeSteps: int) (oneHot: bool) (everyStep: bool) (stateful: bool) (layers: int) : float =
        let H = float units
        let upper = float (max 1 layers - 1)
        2.0 * length + float 0x110000 * 5.0
        + 10.0 * d * (parameterCount features units classes + upper * 4.0 * H * (2.0 * H + 1.0))
        + textLane features units classes batch timeSteps oneHot everyStep true
        + upper * upperLane units classes batch timeSteps true
        + textHeldOut features units classes batch timeSteps oneHot everyStep stateful layers

    /// Bytes a prediction needs: the parameters twice (the model and a working copy), the inputs
    /// twice (read, then loaded into the tape) and the tape for B rows over T steps.
    [<CompiledName("Prediction")>]
    let prediction (inputs: int) (units: int) (classes: int) (batch: int) (timeSteps: int) : float =
        2.0 * d * parameterCount inputs units classes
        + d * float timeSteps * float batch * float inputs
        + tape inputs units classes batch timeSteps

    /// A byte count in words: "512 MiB", "3.2 GiB", "12 KiB".
    [<CompiledName("Describe")>]
    let describe (bytes: float) : string =
        let units = [| "bytes"; "KiB"; "MiB"; "GiB"; "TiB"; "PiB"; "EiB" |]
        let mutable x = bytes
        let mutable k = 0
        while x >= 1024.0 && k < units.Length - 1 do
            x <- x / 1024.0
            k <- k + 1
        if k = 0 then sprintf "%.0f bytes" x
        elif x >= 1e6 then sprintf "%.3g %s" x units.[k]
        elif x < 10.0 then String.Format(Globalization.CultureInfo.InvariantCulture, "{0:0.#} {1}", x, units.[k])
        else String.Format(Globalization.CultureInfo.InvariantCulture, "{0:0} {1}", x, units.[k])
