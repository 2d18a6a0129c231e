import Testing

@testable import Tensors

@Suite struct SeededRNGTests {
  @Test func sameSeedSameSequence() {
    var a = SeededRNG(seed: 123)
    var b = SeededRNG(seed: 123)
    var c = SeededRNG(seed: 124)
    let sa = (0..<100).map { _ in a.next() }
    let sb = (0..<100).map { _ in b.next() }
    let sc = (0..<100).map { _ in c.next() }
    #expect(sa == sb)
    #expect(sa != sc)
  }

  /// Pins the generator's output so a change of algorithm (which would silently change every
  /// seeded experiment) fails here. The first value is SplitMix64/xoshiro256** for seed 0.
  @Test func pinnedValues() {
    var rng = SeededRNG(seed: 0)
    let first = (0..<3).map { _ in rng.next() }
    #expect(first == SeededRNGTests.pinnedSeed0)
  }

  static let pinnedSeed0: [UInt64] = [
    0x99EC_5F36_CB75_F2B4, 0xBF6E_1F78_4956_452A, 0x1A5F_849D_4933_E6E0,
  ]

  @Test func uniformRangeAndMean() {
    var rng = SeededRNG(seed: 9)
    var sum = 0.0
    for _ in 0..<20000 {
      let u = rng.nextUniformFloat()
      #expect(u >= 0 && u < 1)
      sum += Double(u)
    }
    #expect(abs(sum / 20000 - 0.5) < 0.01)
  }

  @Test func normalMoments() {
    var rng = SeededRNG(seed: 5)
    let n = 20000
    var s = 0.0
    var s2 = 0.0
    for _ in 0..<n {
      let x = Double(rng.nextNormal())
      #expect(x.isFinite)
      s += x
      s2 += x * x
    }
    let mean = s / Double(n)
    let variance = s2 / Double(n) - mean * mean
    #expect(abs(mean) < 0.03)
    #expect(abs(variance - 1) < 0.05)
  }

  @Test func boundedIntsAndPermutation() {
    var rng = SeededRNG(seed: 11)
    var counts = [Int](repeating: 0, count: 7)
    for _ in 0..<7000 { counts[rng.nextInt(below: 7)] += 1 }
    #expect(counts.allSatisfy { $0 > 850 && $0 < 1150 })
    var r1 = SeededRNG(seed: 3)
    var r2 = SeededRNG(seed: 3)
    let p = r1.permutation(1000)
    #expect(p == r2.permutation(1000))
    #expect(p.sorted() == Array(0..<1000))
    #expect(p != Array(0..<1000))
  }
}
