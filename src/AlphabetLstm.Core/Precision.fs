/// The floating-point type a model computes in: one name for the choice, used by training, model
/// files, checkpoints and the shell alike.
namespace AlphabetLstm.Core

/// The number type of a model's parameters, gradients, Adam moments, tape and data.
type Precision =
    /// float64 (double): the tutorial's precision, the one its numbers and fixtures are in.
    | Float64 = 0
    /// float32 (single): half the bytes and twice the vector lanes; ONNX's type.
    | Float32 = 1
