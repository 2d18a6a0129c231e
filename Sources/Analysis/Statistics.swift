import Foundation

/// SplitMix64 (Steele, Lea, Flood 2014): a small, fast, seedable generator. Analysis keeps its
/// own so that bootstrap intervals are reproducible from a seed without depending on Tensors, and
/// so that the sequence never changes with the Swift standard library's algorithms.
public struct SplitMix64: RandomNumberGenerator, Sendable {
  public private(set) var state: UInt64

  public init(seed: UInt64) { state = seed }

  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// A uniform integer in `0..<bound` by Lemire's multiply-high (bias below 2^-64 · bound,
  /// negligible here). Used instead of `Int.random(in:using:)` so the sequence is fixed forever.
  public mutating func index(below bound: Int) -> Int {
    precondition(bound > 0)
    return Int(next().multipliedFullWidth(by: UInt64(bound)).high)
  }

  /// A uniform double in [0, 1) with 53 random bits.
  public mutating func unit() -> Double {
    Double(next() >> 11) * 0x1.0p-53
  }

  /// A standard normal deviate (Box–Muller; one of the pair is discarded for simplicity).
  public mutating func normal() -> Double {
    let u1 = 1 - unit()  // (0, 1]
    let u2 = unit()
    return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
  }
}

/// Summary of a set of samples (e.g. the per-call times of one kernel variant).
///
/// Quantiles (median, p90) use linear interpolation between order statistics — Hyndman & Fan
/// type 7, the default of numpy (`np.quantile(..., method="linear")`) and R (`type = 7`): for
/// sorted `x[0..<n]` and `q` in [0, 1], `h = (n-1)·q`, result `x[⌊h⌋] + (h-⌊h⌋)·(x[⌊h⌋+1]-x[⌊h⌋])`.
/// `mad` is the unscaled median absolute deviation `median(|x - median(x)|)`; `madScaled`
/// (= 1.4826·MAD) estimates the standard deviation for normal data. `stddev` is the sample
/// standard deviation (divisor n-1; 0 when n = 1). `cv` = stddev / |mean|, nil when the mean is 0.
public struct SampleSummary: Codable, Sendable, Hashable {
  public var n: Int
  public var min: Double
  public var max: Double
  public var mean: Double
  public var median: Double
  public var mad: Double
  public var madScaled: Double
  public var p90: Double
  public var stddev: Double
  public var cv: Double?

  /// The consistency constant that turns the MAD into a standard-deviation estimate (1/Φ⁻¹(3/4)).
  public static let madNormalConstant = 1.4826

  /// nil for an empty sample or one with a non-finite value (a summary must be encodable).
  public init?(_ samples: [Double]) {
    guard !samples.isEmpty, samples.allSatisfy({ $0.isFinite }) else { return nil }
    let sorted = samples.sorted()
    let n = sorted.count
    self.n = n
    min = sorted[0]
    max = sorted[n - 1]
    let mean = sorted.reduce(0, +) / Double(n)
    self.mean = mean
    median = Statistics.quantile(sorted: sorted, 0.5)
    p90 = Statistics.quantile(sorted: sorted, 0.9)
    mad = Statistics.mad(samples)
    madScaled = SampleSummary.madNormalConstant * mad
    if n > 1 {
      let ss = sorted.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
      stddev = (ss / Double(n - 1)).squareRoot()
    } else {
      stddev = 0
    }
    cv = mean != 0 ? stddev / abs(mean) : nil
  }
}

/// A confidence interval of the median from order statistics (distribution-free).
public struct OrderStatisticInterval: Codable, Sendable, Hashable {
  public var low: Double
  public var high: Double
  /// 1-based ranks of the order statistics used: `[x_(lowRank), x_(highRank)]`.
  public var lowRank: Int
  public var highRank: Int
  /// The exact coverage probability for continuous data (≥ the confidence asked for).
  public var coverage: Double
}

/// Descriptive statistics and confidence intervals of the median.
public enum Statistics {
  /// Type-7 (linear interpolation) quantile of already sorted values; `q` in [0, 1].
  public static func quantile(sorted x: [Double], _ q: Double) -> Double {
    precondition(!x.isEmpty && q >= 0 && q <= 1)
    let h = Double(x.count - 1) * q
    let lo = Int(h.rounded(.down))
    let hi = Swift.min(lo + 1, x.count - 1)
    return x[lo] + (h - Double(lo)) * (x[hi] - x[lo])
  }

  /// Type-7 quantile of unsorted values.
  public static func quantile(_ x: [Double], _ q: Double) -> Double {
    quantile(sorted: x.sorted(), q)
  }

  public static func median(_ x: [Double]) -> Double { quantile(x, 0.5) }

  /// Unscaled median absolute deviation.
  public static func mad(_ x: [Double]) -> Double {
    let m = median(x)
    return median(x.map { abs($0 - m) })
  }

  /// Percentile bootstrap confidence interval of the median: `resamples` resamples with
  /// replacement (indices from `SplitMix64(seed:)`), the median of each, and the type-7
  /// quantiles `(1-confidence)/2` and `(1+confidence)/2` of those medians. Deterministic for a
  /// seed. A single sample gives the degenerate interval (x, x).
  public static func bootstrapMedianCI(
    _ samples: [Double], confidence: Double = 0.95, resamples: Int = 1000, seed: UInt64
  ) -> (low: Double, high: Double) {
    precondition(!samples.isEmpty && confidence > 0 && confidence < 1 && resamples > 0)
    var rng = SplitMix64(seed: seed)
    let n = samples.count
    var medians = [Double](repeating: 0, count: resamples)
    var buffer = [Double](repeating: 0, count: n)
    for r in 0..<resamples {
      for i in 0..<n { buffer[i] = samples[rng.index(below: n)] }
      buffer.sort()
      medians[r] = quantile(sorted: buffer, 0.5)
    }
    medians.sort()
    let tail = (1 - confidence) / 2
    return (quantile(sorted: medians, tail), quantile(sorted: medians, 1 - tail))
  }

  /// The exact distribution-free confidence interval of the median from order statistics:
  /// the number of samples below the true median is Binomial(n, 1/2), so
  /// `[x_(k), x_(n+1-k)]` covers it with probability `1 - 2·P(B ≤ k-1)`. Takes the largest `k`
  /// whose coverage is still at least `confidence`; nil when even `[min, max]` is not enough
  /// (n ≤ 5 at 95%).
  public static func medianCIOrderStatistics(_ samples: [Double], confidence: Double = 0.95)
    -> OrderStatisticInterval?
  {
    precondition(confidence > 0 && confidence < 1)
    let n = samples.count
    guard n > 0 else { return nil }
    let x = samples.sorted()
    // cdf[j] = P(B <= j) for B ~ Binomial(n, 1/2), from log-space pmf to avoid overflow.
    var cdf = [Double](repeating: 0, count: n + 1)
    var acc = 0.0
    for j in 0...n {
      acc += exp(logChoose(n, j) - Double(n) * log(2.0))
      cdf[j] = Swift.min(acc, 1)
    }
    var best: Int?
    var k = 1
    while k <= (n + 1) / 2 {
      let coverage = 1 - 2 * cdf[k - 1]
      if coverage >= confidence { best = k } else { break }
      k += 1
    }
    guard let k = best else { return nil }
    return OrderStatisticInterval(
      low: x[k - 1], high: x[n - k], lowRank: k, highRank: n + 1 - k,
      coverage: 1 - 2 * cdf[k - 1])
  }

  /// log(n choose k).
  static func logChoose(_ n: Int, _ k: Int) -> Double {
    lgamma(Double(n + 1)) - lgamma(Double(k + 1)) - lgamma(Double(n - k + 1))
  }

  /// Upper tail of the standard normal distribution, P(Z > z).
  public static func normalSF(_ z: Double) -> Double { 0.5 * erfc(z / 2.0.squareRoot()) }
}

/// Result of a two-sided Mann–Whitney U test.
public struct MannWhitneyResult: Codable, Sendable, Hashable {
  public enum Method: String, Codable, Sendable { case exact, asymptotic }
  /// U of the first sample: `R1 - n1(n1+1)/2` (scipy's `statistic`); ties count 1/2.
  public var u: Double
  /// The normal deviate of the asymptotic method (nil for the exact method).
  public var z: Double?
  /// Two-sided p-value.
  public var p: Double
  public var method: Method
}

/// The Mann–Whitney U (Wilcoxon rank-sum) test, two-sided, matching
/// `scipy.stats.mannwhitneyu(x, y, alternative="two-sided", use_continuity=True, method=...)`:
/// - asymptotic: `U = max(U1, U2)`, `z = (U - n1·n2/2 - 0.5) / σ` with the tie-corrected
///   `σ² = n1·n2/12 · ((n+1) - Σ(t³-t)/(n(n-1)))`, `p = min(1, 2·P(Z > z))`;
/// - exact (no ties only): `p = min(1, 2·P(U' ≥ max(U1, U2)))` under the null distribution of U,
///   computed from the Gaussian binomial coefficient (number of rank arrangements per U).
/// `.automatic` follows scipy's `method="auto"`: exact when either sample has at most 8 values
/// and there are no ties, else asymptotic; blkrew also falls back to asymptotic when the
/// number of arrangements C(n1+n2, n1) exceeds 2^53 (counts would no longer be exact doubles).
public enum MannWhitney {
  public enum Method: Sendable { case automatic, exact, asymptotic }

  public static func test(_ x: [Double], _ y: [Double], method: Method = .automatic)
    -> MannWhitneyResult
  {
    let n1 = x.count
    let n2 = y.count
    precondition(n1 > 0 && n2 > 0, "Mann-Whitney needs two non-empty samples")
    let (ranks, tieCounts) = rank(x + y)
    let r1 = ranks[0..<n1].reduce(0, +)
    let u1 = r1 - Double(n1 * (n1 + 1)) / 2
    let u2 = Double(n1 * n2) - u1
    let uMax = Swift.max(u1, u2)
    let hasTies = tieCounts.contains { $0 > 1 }
    let exactFeasible =
      !hasTies && Statistics.logChoose(n1 + n2, n1) < 53 * log(2.0)
    let useExact: Bool
    switch method {
    case .exact: useExact = exactFeasible
    case .asymptotic: useExact = false
    case .automatic: useExact = exactFeasible && Swift.min(n1, n2) <= 8
    }
    if useExact {
      let counts = uDistribution(n1, n2)
      let total = counts.reduce(0, +)
      let k = Int(uMax.rounded())
      let tail = counts[k...].reduce(0, +)
      return MannWhitneyResult(u: u1, z: nil, p: Swift.min(1, 2 * tail / total), method: .exact)
    }
    let n = Double(n1 + n2)
    let tieTerm = tieCounts.reduce(0.0) { $0 + Double($1 * $1 * $1 - $1) }
    let variance = Double(n1 * n2) / 12 * ((n + 1) - tieTerm / (n * (n - 1)))
    let z: Double
    if variance > 0 {
      z = (uMax - Double(n1 * n2) / 2 - 0.5) / variance.squareRoot()
    } else {
      z = 0  // every value tied: no evidence of a difference
    }
    let p = variance > 0 ? Swift.min(1, 2 * Statistics.normalSF(z)) : 1
    return MannWhitneyResult(u: u1, z: z, p: p, method: .asymptotic)
  }

  /// Mid-ranks (1-based, ties get the mean rank) and the size of every tie group.
  static func rank(_ values: [Double]) -> (ranks: [Double], tieCounts: [Int]) {
    let order = values.indices.sorted { values[$0] < values[$1] }
    var ranks = [Double](repeating: 0, count: values.count)
    var ties: [Int] = []
    var i = 0
    while i < order.count {
      var j = i
      while j + 1 < order.count && values[order[j + 1]] == values[order[i]] { j += 1 }
      let mid = Double(i + j + 2) / 2
      for k in i...j { ranks[order[k]] = mid }
      ties.append(j - i + 1)
      i = j + 1
    }
    return (ranks, ties)
  }

  /// Number of arrangements giving each U in 0...m·n: the coefficients of the Gaussian binomial
  /// [m+n choose m]_q = Π_{i=1..m} (1 - q^{n+i}) / (1 - q^i), built one factor pair at a time so
  /// every intermediate polynomial has non-negative integer coefficients.
  static func uDistribution(_ m: Int, _ n: Int) -> [Double] {
    let (m, n) = (Swift.min(m, n), Swift.max(m, n))
    var c = [Double](repeating: 0, count: m * n + 1)
    c[0] = 1
    var degree = 0
    for i in stride(from: 1, through: m, by: 1) {
      let a = n + i
      let newDegree = degree + n
      // Multiply by (1 - q^a), then divide by (1 - q^i); the quotient has degree newDegree.
      var prod = [Double](repeating: 0, count: degree + a + 1)
      for k in 0...degree {
        prod[k] += c[k]
        prod[k + a] -= c[k]
      }
      var quotient = [Double](repeating: 0, count: newDegree + 1)
      for k in 0...newDegree {
        quotient[k] = prod[k] + (k >= i ? quotient[k - i] : 0)
      }
      for k in 0...newDegree { c[k] = quotient[k] }
      degree = newDegree
    }
    return c
  }
}
