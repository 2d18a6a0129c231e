#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// xoshiro256** seeded through SplitMix64: deterministic on every platform and Swift version
/// (the standard library's default algorithms, e.g. `shuffle(using:)`, are not promised to be,
/// so use `nextInt(below:)` and `shuffle(_:)` here when results must reproduce).
public struct SeededRNG: RandomNumberGenerator, Sendable, Equatable {
  private var s0: UInt64
  private var s1: UInt64
  private var s2: UInt64
  private var s3: UInt64

  /// Seeds the four state words from SplitMix64 started at `seed` (never all zero).
  public init(seed: UInt64) {
    var sm = seed
    func splitMix() -> UInt64 {
      sm &+= 0x9E37_79B9_7F4A_7C15
      var z = sm
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    s0 = splitMix()
    s1 = splitMix()
    s2 = splitMix()
    s3 = splitMix()
  }

  /// The next 64 random bits.
  public mutating func next() -> UInt64 {
    let result = rotl(s1 &* 5, 7) &* 9
    let t = s1 << 17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = rotl(s3, 45)
    return result
  }

  @inline(__always)
  private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 {
    (x << k) | (x >> (64 - k))
  }

  /// Uniform in [0, 1) with 24 random bits (every value a multiple of 2^-24).
  public mutating func nextUniformFloat() -> Float {
    Float(next() >> 40) * 0x1p-24
  }

  /// Uniform in [0, 1) with 53 random bits.
  public mutating func nextUniformDouble() -> Double {
    Double(next() >> 11) * 0x1p-53
  }

  /// Uniform in [low, high).
  public mutating func nextUniform(_ low: Float, _ high: Float) -> Float {
    low + (high - low) * nextUniformFloat()
  }

  /// Standard normal N(0, 1) by Box–Muller (one variate per call, computed in Double).
  public mutating func nextNormal() -> Float {
    let u1 = 1.0 - nextUniformDouble()  // (0, 1]: log is finite
    let u2 = nextUniformDouble()
    return Float((-2.0 * log(u1)).squareRoot() * cos(2.0 * Double.pi * u2))
  }

  /// Uniform integer in `0..<bound` without modulo bias (Lemire's multiply-and-reject).
  public mutating func nextInt(below bound: Int) -> Int {
    precondition(bound > 0, "SeededRNG.nextInt: bound must be positive, got \(bound)")
    let b = UInt64(bound)
    var product = next().multipliedFullWidth(by: b)
    if product.low < b {
      let threshold = (0 &- b) % b
      while product.low < threshold {
        product = next().multipliedFullWidth(by: b)
      }
    }
    return Int(product.high)
  }

  /// Fisher–Yates shuffle with `nextInt(below:)`; the same seed gives the same order everywhere.
  public mutating func shuffle<T>(_ array: inout [T]) {
    guard array.count > 1 else { return }
    for i in stride(from: array.count - 1, to: 0, by: -1) {
      let j = nextInt(below: i + 1)
      if i != j { array.swapAt(i, j) }
    }
  }

  /// `0..<n` in a seeded random order.
  public mutating func permutation(_ n: Int) -> [Int] {
    var p = Array(0..<n)
    shuffle(&p)
    return p
  }
}
