// The namespaces every file of the conversion reads: the core's model, MathNet's matrices, and
// OnnxSharp's generated protobuf classes on Google.Protobuf.
global using AlphabetLstm.Core;
global using Google.Protobuf;
global using MathNet.Numerics.LinearAlgebra;
global using Onnx;
