import Foundation
import Testing

@testable import Analysis

/// Reference values marked "numpy"/"scipy" were computed with numpy 2.4.6 / scipy 1.17.1 by the
/// call written next to them.
@Suite struct StatisticsTests {
  func close(_ a: Double, _ b: Double, _ tol: Double = 1e-12) -> Bool {
    abs(a - b) <= tol * Swift.max(1, abs(b))
  }

  // MARK: summaries and quantiles

  @Test func summaryOfHandComputableSet() throws {
    let s = try #require(SampleSummary([4, 1, 3, 2]))
    #expect(s.n == 4 && s.min == 1 && s.max == 4)
    #expect(s.mean == 2.5)
    #expect(s.median == 2.5)
    #expect(close(s.p90, 3.7))  // h = 3·0.9 = 2.7 → 3 + 0.7·(4-3)
    #expect(s.mad == 1.0)  // |x-2.5| = 1.5, .5, .5, 1.5 → median 1
    #expect(close(s.madScaled, 1.4826))
    #expect(close(s.stddev, (5.0 / 3.0).squareRoot()))
    #expect(close(try #require(s.cv), (5.0 / 3.0).squareRoot() / 2.5))
  }

  @Test func summaryAgainstNumpy() throws {
    let x: [Double] = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]
    let s = try #require(SampleSummary(x))
    #expect(s.median == 3.5)  // np.median(x)
    #expect(close(s.p90, 6.299999999999999))  // np.quantile(x, 0.9)
    #expect(close(s.mean, 3.9))
    #expect(close(s.stddev, 2.4698178070456938))  // np.std(x, ddof=1)
    #expect(s.mad == 1.5)  // scipy.stats.median_abs_deviation(x)
    // scipy.stats.median_abs_deviation(x, scale='normal') uses 1/Φ⁻¹(0.75) = 1.482602...
    #expect(abs(s.madScaled - 2.223903327758403) < 1e-4)
    #expect(close(Statistics.quantile(x, 0.25), 2.25))  // np.quantile(x, 0.25)
    #expect(close(Statistics.quantile(x, 0.33), 2.97))  // np.quantile(x, 0.33)
  }

  @Test func summaryEdgeCases() throws {
    #expect(SampleSummary([]) == nil)
    #expect(SampleSummary([1, .nan]) == nil)
    let one = try #require(SampleSummary([7]))
    #expect(one.median == 7 && one.p90 == 7 && one.stddev == 0 && one.mad == 0)
    #expect(try #require(SampleSummary([0, 0])).cv == nil)
  }

  // MARK: confidence intervals of the median

  @Test func bootstrapIsDeterministicAndContainsTheMedian() {
    var g = SplitMix64(seed: 7)
    let x = (0..<40).map { _ in 10 + g.normal() }
    let a = Statistics.bootstrapMedianCI(x, seed: 42)
    let b = Statistics.bootstrapMedianCI(x, seed: 42)
    #expect(a.low == b.low && a.high == b.high)
    let c = Statistics.bootstrapMedianCI(x, seed: 43)
    #expect(c.low != a.low || c.high != a.high)
    let m = Statistics.median(x)
    #expect(a.low <= m && m <= a.high)
    #expect(a.low < a.high)
  }

  @Test func bootstrapNarrowsWithMoreSamples() {
    var g = SplitMix64(seed: 11)
    let small = (0..<20).map { _ in 5 + g.normal() }
    let large = (0..<500).map { _ in 5 + g.normal() }
    let s = Statistics.bootstrapMedianCI(small, seed: 1)
    let l = Statistics.bootstrapMedianCI(large, seed: 1)
    #expect(l.high - l.low < s.high - s.low)
    // Median standard error ≈ 1.2533/√n; the 95% width should be near 2·1.96 of that.
    let expected = 2 * 1.96 * 1.2533 / 500.0.squareRoot()
    #expect((l.high - l.low) > 0.5 * expected && (l.high - l.low) < 1.6 * expected)
  }

  @Test func orderStatisticIntervalMatchesBinomial() throws {
    // k = max{k : 1 - 2·binom.cdf(k-1, n, 0.5) ≥ 0.95} from scipy.stats.binom:
    // n=10 → k=2, coverage 0.978515625; n=20 → k=6, 0.9586105346679688;
    // n=50 → k=18, 0.9671608624357315; n=6 → k=1, 0.96875.
    let ten = try #require(
      Statistics.medianCIOrderStatistics((1...10).map(Double.init), confidence: 0.95))
    #expect(ten.lowRank == 2 && ten.highRank == 9 && ten.low == 2 && ten.high == 9)
    #expect(close(ten.coverage, 0.978515625))
    let twenty = try #require(
      Statistics.medianCIOrderStatistics((1...20).map(Double.init).reversed()))
    #expect(twenty.lowRank == 6 && twenty.highRank == 15 && twenty.low == 6 && twenty.high == 15)
    #expect(close(twenty.coverage, 0.9586105346679688, 1e-10))
    let fifty = try #require(Statistics.medianCIOrderStatistics((1...50).map(Double.init)))
    #expect(fifty.lowRank == 18 && close(fifty.coverage, 0.9671608624357315, 1e-10))
    let six = try #require(Statistics.medianCIOrderStatistics((1...6).map(Double.init)))
    #expect(six.lowRank == 1 && six.highRank == 6 && close(six.coverage, 0.96875))
    #expect(Statistics.medianCIOrderStatistics([1, 2, 3, 4, 5]) == nil)
  }

  @Test func bootstrapAndOrderStatisticIntervalsRoughlyAgree() throws {
    var g = SplitMix64(seed: 3)
    let x = (0..<100).map { _ in 2 + 0.1 * g.normal() }
    let boot = Statistics.bootstrapMedianCI(x, seed: 9)
    let exact = try #require(Statistics.medianCIOrderStatistics(x))
    let width = exact.high - exact.low
    #expect(abs(boot.low - exact.low) < 0.5 * width)
    #expect(abs(boot.high - exact.high) < 0.5 * width)
  }

  // MARK: Mann–Whitney against scipy

  struct MWCase: Sendable {
    var x: [Double]
    var y: [Double]
    var u: Double
    var pAsymptotic: Double
    var pExact: Double?
  }

  /// scipy.stats.mannwhitneyu(x, y, alternative="two-sided", use_continuity=True,
  /// method="asymptotic" / "exact"); `pExact` only for samples without ties.
  static let mwCases: [MWCase] = [
    MWCase(
      x: [1.1, 2.3, 0.7, 3.9, 2.8], y: [4.2, 5.1, 3.3, 6.0, 4.8, 5.5], u: 1,
      pAsymptotic: 0.01371083007813322, pExact: 0.008658008658008658),
    MWCase(
      x: [0.8, 1.9, 2.5, 3.1, 4.4, 5.0, 6.2], y: [1.2, 2.2, 3.5, 3.9, 5.7, 7.1, 7.4, 8.0], u: 18,
      pAsymptotic: 0.27158867424337474, pExact: 0.280963480963481),
    MWCase(
      x: [1, 2, 2, 3, 3, 3, 4, 5, 6, 7, 8, 9], y: [3, 4, 4, 5, 5, 6, 7, 7, 8, 9, 10, 11, 12],
      u: 38, pAsymptotic: 0.030823753409943516, pExact: nil),
    MWCase(
      x: [1, 2, 2, 3], y: [2, 3, 3, 4, 5], u: 3, pAsymptotic: 0.09934224785346528, pExact: nil),
    MWCase(
      x: [
        12.589, 13.582, 14.581, 15.587, 16.598, 17.615, 18.638, 19.665, 20.698, 21.735, 22.777,
        23.823, 24.873, 25.927, 26.986,
      ],
      y: [
        15.385, 16.357, 17.335, 18.318, 19.305, 20.297, 21.294, 22.294, 23.299, 24.308, 25.321,
        26.337, 27.357, 28.38, 29.407, 30.437, 31.47,
      ], u: 78, pAsymptotic: 0.06425958672341184, pExact: 0.06368098138254019),
    MWCase(
      x: [5.5, 6.1, 7.3, 8.8, 9.0, 10.2, 11.7, 12.4],
      y: [
        7.0, 7.45, 7.9, 8.34, 8.79, 9.24, 9.69, 10.14, 10.59, 11.03, 11.48, 11.93, 12.38, 12.83,
        13.28, 13.72, 14.17, 14.62, 15.07, 15.52, 15.97, 16.41, 16.86, 17.31, 17.76, 18.21,
        18.66, 19.1, 19.55, 20.0,
      ], u: 43, pAsymptotic: 0.006160024979024791, pExact: 0.004486264498248918),
  ]

  @Test(arguments: mwCases.indices) func mannWhitneyAgainstScipy(_ i: Int) {
    let c = Self.mwCases[i]
    let asym = MannWhitney.test(c.x, c.y, method: .asymptotic)
    #expect(asym.u == c.u)
    #expect(asym.method == .asymptotic)
    #expect(close(asym.p, c.pAsymptotic, 1e-9))
    let auto = MannWhitney.test(c.x, c.y)
    if let pe = c.pExact {
      let exact = MannWhitney.test(c.x, c.y, method: .exact)
      #expect(exact.method == .exact)
      #expect(exact.u == c.u)
      #expect(close(exact.p, pe, 1e-9))
      // scipy's method="auto": exact when either sample has ≤ 8 values and there are no ties.
      let expectExact = Swift.min(c.x.count, c.y.count) <= 8
      #expect(auto.method == (expectExact ? .exact : .asymptotic))
    } else {
      #expect(auto.method == .asymptotic)
      #expect(MannWhitney.test(c.x, c.y, method: .exact).method == .asymptotic)
    }
  }

  @Test func mannWhitneyIsSymmetric() {
    let c = Self.mwCases[0]
    let ab = MannWhitney.test(c.x, c.y)
    let ba = MannWhitney.test(c.y, c.x)
    #expect(ab.p == ba.p)
    #expect(ab.u + ba.u == Double(c.x.count * c.y.count))
  }

  @Test func uDistributionCountsArrangements() {
    // U for m=2, n=2: arrangements of {1,2,3,4} choose 2 → U = 0,1,2,2,3,4.
    #expect(MannWhitney.uDistribution(2, 2) == [1, 1, 2, 1, 1])
    let d = MannWhitney.uDistribution(5, 9)
    #expect(d.reduce(0, +) == 2002)  // C(14, 5)
    #expect(d == d.reversed())
  }

  @Test func allTiedSamplesAreIndistinguishable() {
    let r = MannWhitney.test([1, 1, 1], [1, 1, 1, 1])
    #expect(r.p == 1)
    #expect(Comparison.compare([1, 1, 1], [1, 1, 1, 1]).verdict == .indistinguishable)
  }

  // MARK: comparison verdicts

  @Test func clearDifferencesAreCalled() {
    var g = SplitMix64(seed: 5)
    let fast = (0..<30).map { _ in 1.0 * exp(0.03 * g.normal()) }
    let slow = (0..<30).map { _ in 1.1 * exp(0.03 * g.normal()) }
    let r = Comparison.compare(fast, slow)
    #expect(r.verdict == .faster)
    #expect(r.ratio < 0.95 && r.pValue < 0.01)
    #expect(Comparison.compare(slow, fast).verdict == .slower)
  }

  @Test func significantButTinyDifferencesAreNotCalled() {
    // 0.3 % apart with almost no noise: the test rejects, the practical threshold does not.
    var g = SplitMix64(seed: 8)
    let a = (0..<200).map { _ in 1.000 + 1e-4 * g.normal() }
    let b = (0..<200).map { _ in 1.003 + 1e-4 * g.normal() }
    let r = Comparison.compare(a, b)
    #expect(r.pValue < 1e-6)
    #expect(r.verdict == .indistinguishable)
    #expect(Comparison.compare(a, b, minEffect: 0.001).verdict == .faster)
  }

  /// 200 pairs drawn from the same (log-normal, 5 % noise) distribution: at alpha 0.01 about 2
  /// false calls are expected; allow at most 2 % of the pairs.
  @Test func falsePositiveRateOnIdenticalDistributions() {
    var g = SplitMix64(seed: 2024)
    var called = 0
    for _ in 0..<200 {
      let a = (0..<30).map { _ in 1.0 * exp(0.05 * g.normal()) }
      let b = (0..<30).map { _ in 1.0 * exp(0.05 * g.normal()) }
      if Comparison.compare(a, b).verdict != .indistinguishable { called += 1 }
    }
    #expect(called <= 4)
  }

  @Test func splitMixKnownSequence() {
    // First outputs of SplitMix64 seeded with 0 (reference implementation by S. Vigna).
    var g = SplitMix64(seed: 0)
    #expect(g.next() == 0xE220_A839_7B1D_CDAF)
    #expect(g.next() == 0x6E78_9E6A_A1B9_65F4)
    var h = SplitMix64(seed: 1)
    for _ in 0..<1000 {
      let i = h.index(below: 7)
      #expect(i >= 0 && i < 7)
    }
  }
}

// MARK: derived metrics

@Suite struct DerivedMetricsTests {
  @Test func allMetricsFromFullInputs() throws {
    let counters: [String: Double] = [
      "PAPI_TOT_INS": 2_000_000, "PAPI_TOT_CYC": 1_000_000, "PAPI_L1_DCM": 10_000,
      "PAPI_L2_DCM": 2_000, "PAPI_L3_TCM": 100, "PAPI_BR_MSP": 50,
    ]
    let m = DerivedMetrics.compute(
      counters: counters, macs: 1e9, seconds: 0.01, bytesMoved: 4e8)
    #expect(m["ipc"] == 2)
    #expect(m["l1_mpki"] == 5)
    #expect(m["l2_mpki"] == 1)
    #expect(m["l3_mpki"] == 0.05)
    #expect(m["branch_mpki"] == 0.025)
    #expect(m["gflops"] == 200)  // 2e9 FLOP / 0.01 s
    #expect(m["bytes_per_flop"] == 0.2)  // 4e8 B / 2e9 FLOP
    let detailed = DerivedMetrics.computeDetailed(
      counters: counters, macs: 1e9, seconds: 0.01, bytesMoved: 4e8)
    #expect(detailed.count == 7)
    for d in detailed { #expect(DerivedMetrics.catalog[d.info.name] == d.info) }
    #expect(DerivedMetrics.catalog["ipc"]?.direction == .higherIsBetter)
    #expect(DerivedMetrics.catalog["gflops"]?.direction == .higherIsBetter)
    #expect(DerivedMetrics.catalog["l1_mpki"]?.direction == .lowerIsBetter)
    #expect(DerivedMetrics.catalog["bytes_per_flop"]?.direction == .lowerIsBetter)
    #expect(DerivedMetrics.catalog["gflops"]?.unit == "GFLOP/s")
  }

  @Test func onlyMetricsWhoseInputsExist() {
    // No counters at all (this VM): only time-based metrics.
    let none = DerivedMetrics.compute(counters: [:], macs: 5e8, seconds: 0.005, bytesMoved: nil)
    #expect(Set(none.keys) == ["gflops"])
    // Cycles without instructions: no IPC, no MPKI.
    let partial = DerivedMetrics.compute(
      counters: ["PAPI_TOT_CYC": 10, "PAPI_L1_DCM": 3], macs: 0, seconds: 0, bytesMoved: 100)
    #expect(partial.isEmpty)
    // Zero cycles: IPC would divide by zero, so it is absent rather than infinite.
    let zero = DerivedMetrics.compute(
      counters: ["PAPI_TOT_INS": 10, "PAPI_TOT_CYC": 0], macs: 1, seconds: 1, bytesMoved: nil)
    #expect(zero["ipc"] == nil && zero["gflops"] == 2e-9)
  }
}

@Suite struct NoiseFloorTests {
  @Test func floorAndScaling() {
    #expect(NoiseFloor.minEffect(runMedians: []) == 0.01)
    #expect(NoiseFloor.minEffect(runMedians: [1, 1]) == 0.01)
    #expect(NoiseFloor.minEffect(runMedians: [1, 1, 1, 1]) == 0.01)  // no spread: the floor
    // Medians 9, 10, 11: mean 10, sd 1 -> 3 * sqrt(2) * 0.1 = 0.424 (above 11/9 - 1 = 0.222).
    let m = NoiseFloor.minEffect(runMedians: [9, 10, 11])
    #expect(abs(m - 3 * 2.0.squareRoot() * 0.1) < 1e-12)
    // Tight medians but one pair 4% apart: the floor is at least that far (10.4 / 10 - 1).
    let pair = NoiseFloor.minEffect(
      runMedians: [10, 10.4, 10.2, 10.2, 10.2, 10.2, 10.2, 10.2], sigmas: 1)
    #expect(abs(pair - 0.04) < 1e-9)
    // One wild calibration run makes the floor larger (safer), never smaller.
    let wild = NoiseFloor.minEffect(runMedians: [10, 10.1, 9.9, 10, 50])
    #expect(wild > NoiseFloor.minEffect(runMedians: [10, 10.1, 9.9, 10]))
    #expect(wild >= 50 / 9.9 - 1)
    #expect(NoiseFloor.minEffect(runMedians: [9, 10, 11], sigmas: 2, floor: 0.5) == 0.5)
  }
}

@Suite struct CompareRunsTests {
  /// Runs with a per-process offset: sample-level comparison of two runs of the same kernel is
  /// fooled by the offset, the run-level comparison is not; a real 20% difference is found.
  @Test func runLevelComparison() {
    var rng = SplitMix64(seed: 42)
    func run(center: Double) -> [Double] {
      let offset = 1 + 0.03 * rng.normal()  // what differs between processes
      return (0..<30).map { _ in center * offset * (1 + 0.002 * rng.normal()) }
    }
    var falseCalls = 0
    for _ in 0..<50 {
      let a = (0..<6).map { _ in run(center: 10) }
      let b = (0..<6).map { _ in run(center: 10) }
      if Comparison.compareRuns(a, b).verdict != .indistinguishable { falseCalls += 1 }
    }
    #expect(falseCalls <= 2)
    let slow = (0..<6).map { _ in run(center: 12) }
    let fast = (0..<6).map { _ in run(center: 10) }
    #expect(Comparison.compareRuns(fast, slow).verdict == .faster)
    #expect(Comparison.compareRuns(slow, fast).verdict == .slower)
  }
}
