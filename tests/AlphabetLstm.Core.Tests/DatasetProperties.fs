/// The tutorial's datasets: windows in both layouts, and the variable-length set.
module AlphabetLstm.Core.Tests.DatasetProperties

open Xunit
open AlphabetLstm.Core
open AlphabetLstm.Core.Tests.Generators

let private letters = Alphabet.Letters

[<LstmProperty>]
let ``window datasets hold 26 − n samples, each target the letter after its window, values in 0..1, one-hot targets`` (w: WindowCase) =
    let d = Datasets.window w.N w.Layout
    Assert.Equal(26 - w.N, d.Count)
    for n in 0 .. d.Count - 1 do
        Assert.Equal(letters.Substring(n, w.N), d.Patterns.[n])
        Assert.Equal(string letters.[n + w.N], d.Expected.[n])
        Assert.Equal(1.0, d.Targets.Row(n).Sum())
        Assert.Equal(1.0, d.Targets.Row(n).Maximum())
    for x in d.Inputs do
        for v in x.Enumerate() do
            Assert.InRange(v, 0.0, 1.0 - 1e-12)

[<LstmProperty>]
let ``the feature and time-step layouts hold the same numbers in transposed places`` (w: WindowCase) =
    let f = Datasets.window w.N Layout.Features
    let t = Datasets.window w.N Layout.TimeSteps
    Assert.Equal(1, f.TimeSteps)
    Assert.Equal(w.N, f.Features)
    Assert.Equal(w.N, t.TimeSteps)
    Assert.Equal(1, t.Features)
    for n in 0 .. f.Count - 1 do
        for k in 0 .. w.N - 1 do
            Assert.Equal(f.Inputs.[0].[n, k], t.Inputs.[k].[n, 0])
            Assert.Equal(Alphabet.Encode letters.[n + k], f.Inputs.[0].[n, k])
    sameBits "targets" f.Targets t.Targets

[<LstmProperty>]
let ``variable-length samples are contiguous runs of 1..maxLen letters, pre-padded with zeros, followed by their target`` (v: VariableCase) =
    let d = (Datasets.variableLength v.Count v.MaxLen (Rng.create v.Seed)).Value
    Assert.Equal(v.Count, d.Count)
    Assert.Equal(v.MaxLen, d.TimeSteps)
    for n in 0 .. d.Count - 1 do
        let text, len = d.Patterns.[n], d.Lengths.[n]
        Assert.InRange(len, 1, v.MaxLen)
        Assert.Equal(len, text.Length)
        let start = letters.IndexOf text
        Assert.True(start >= 0 && start < 24, sprintf "sample %d: %s is not a run of the alphabet starting before Y" n text)
        Assert.Equal(string letters.[start + len], d.Expected.[n])
        for t in 0 .. v.MaxLen - 1 do
            let x = d.Inputs.[t].[n, 0]
            if t < v.MaxLen - len then Assert.Equal(0.0, x)
            else Assert.Equal(Alphabet.Encode text.[t - (v.MaxLen - len)], x)

[<LstmProperty>]
let ``the same seed gives the same variable-length set`` (v: VariableCase) =
    let a = (Datasets.variableLength v.Count v.MaxLen (Rng.create v.Seed)).Value
    let b = (Datasets.variableLength v.Count v.MaxLen (Rng.create v.Seed)).Value
    Assert.Equal<string[]>(a.Patterns, b.Patterns)
    Array.iteri2 (fun t x y -> sameBits (sprintf "inputs at step %d" t) x y) a.Inputs b.Inputs

[<Fact>]
let ``the tutorial's variable-length settings draw every length from 1 to 5`` () =
    let d = (Datasets.variableLength 1000 5 (Rng.create 1L)).Value
    Assert.Equal<int[]>([| 1; 2; 3; 4; 5 |], d.Lengths |> Array.distinct |> Array.sort)
