/// A seeded random generator whose whole state is one value.
///
/// SplitMix64 (Steele, Lea and Flood, 2014): a 64-bit counter passed through a mixing function.
/// Every draw takes an `Rng` and returns the drawn value with the next `Rng`, so a generator can be
/// saved in a checkpoint and resumed exactly. Nothing here reads a clock or a global.
namespace AlphabetLstm.Core

open System

/// The generator's state: a 64-bit counter. Copy it freely; it never changes in place.
[<Struct>]
type Rng =
    { /// The counter: the whole state, what a checkpoint saves.
      State: uint64 }

    /// A generator started from `seed`.
    static member Create(seed: int64) : Rng = { State = uint64 seed }

/// A value drawn from a generator together with the generator to draw from next.
[<Struct>]
type Draw<'T> =
    { /// The value drawn.
      Value: 'T
      /// The generator to draw from next.
      Next: Rng }

/// The generator's functions, curried (the .NET members on Rng and AlphabetLstm.FSharp.Rng call them).
module internal Rng =
    let private golden = 0x9E3779B97F4A7C15UL

    /// A generator started from `seed`.
    [<CompiledName("Create")>]
    let create (seed: int64) : Rng = Rng.Create seed

    /// The next 64 random bits.
    [<CompiledName("NextUInt64")>]
    let nextUInt64 (rng: Rng) : Draw<uint64> =
        let s = rng.State + golden
        let mutable z = s
        z <- (z ^^^ (z >>> 30)) * 0xBF58476D1CE4E5B9UL
        z <- (z ^^^ (z >>> 27)) * 0x94D049BB133111EBUL
        { Value = z ^^^ (z >>> 31); Next = { State = s } }

    /// A double uniform in [0, 1), with 53 random bits.
    [<CompiledName("NextDouble")>]
    let nextDouble (rng: Rng) : Draw<float> =
        let d = nextUInt64 rng
        { Value = float (d.Value >>> 11) * (1.0 / 9007199254740992.0); Next = d.Next }

    /// A double uniform in [low, high).
    [<CompiledName("Uniform")>]
    let uniform (low: float) (high: float) (rng: Rng) : Draw<float> =
        let d = nextDouble rng
        { Value = low + (high - low) * d.Value; Next = d.Next }

    /// An integer uniform in [low, high) (as numpy's `randint(low, high)`); requires low < high.
    [<CompiledName("NextInt")>]
    let nextInt (low: int) (high: int) (rng: Rng) : Draw<int> =
        if high <= low then
            invalidArg "high" (sprintf "nextInt needs low < high, got low = %d, high = %d" low high)
        let span = uint64 (high - low)
        // Rejection sampling removes the modulo bias.
        let limit = UInt64.MaxValue - (UInt64.MaxValue % span)
        let mutable r = rng
        let mutable v = 0UL
        let mutable found = false
        while not found do
            let d = nextUInt64 r
            r <- d.Next
            if d.Value < limit then
                v <- d.Value % span
                found <- true
        { Value = low + int v; Next = r }

    /// A standard normal draw (Box–Muller, using one of the two values).
    [<CompiledName("NextNormal")>]
    let nextNormal (rng: Rng) : Draw<float> =
        let u1 = nextDouble rng
        let u2 = nextDouble u1.Next
        let r = sqrt (-2.0 * log (1.0 - u1.Value))
        { Value = r * cos (2.0 * Math.PI * u2.Value); Next = u2.Next }

    /// `count` draws of `draw`, in order, and the generator after them.
    let internal many (count: int) (draw: Rng -> Draw<'T>) (rng: Rng) : Draw<'T[]> =
        let values = Array.zeroCreate count
        let mutable r = rng
        for k in 0 .. count - 1 do
            let d = draw r
            values.[k] <- d.Value
            r <- d.Next
        { Value = values; Next = r }

    /// A uniformly random permutation of 0 .. n-1 (Fisher–Yates).
    [<CompiledName("Permutation")>]
    let permutation (n: int) (rng: Rng) : Draw<int[]> =
        let p = Array.init n id
        let mutable r = rng
        for k in n - 1 .. -1 .. 1 do
            let d = nextInt 0 (k + 1) r
            r <- d.Next
            let t = p.[k]
            p.[k] <- p.[d.Value]
            p.[d.Value] <- t
        { Value = p; Next = r }

/// The draws, on the generator value itself: each returns the value drawn and the next generator.
type Rng with
    /// The next 64 random bits and the next generator.
    member r.NextUInt64() : Draw<uint64> = Rng.nextUInt64 r
    /// A double uniform in [low, high) and the next generator.
    member r.Uniform(low: float, high: float) : Draw<float> = Rng.uniform low high r
    /// A standard normal draw (Box-Muller) and the next generator.
    member r.NextNormal() : Draw<float> = Rng.nextNormal r
    /// A double uniform in [0, 1) and the next generator.
    member r.NextDouble() : Draw<float> = Rng.nextDouble r
    /// An integer uniform in [low, high) and the next generator.
    member r.NextInt(low: int, high: int) : Draw<int> = Rng.nextInt low high r
    /// A random permutation of 0 .. n-1 and the next generator.
    member r.Permutation(n: int) : Draw<int[]> = Rng.permutation n r
    /// `count` draws of `draw`, in order, and the generator after them.
    member r.Many<'T>(count: int, draw: Func<Rng, Draw<'T>>) : Draw<'T[]> = Rng.many count draw.Invoke r
