import Foundation
import Testing
import TuningSchema

@testable import Reporting

@Suite struct RunComparisonTests {
  func snapshot(_ run: SyntheticRun, path: String) -> RunSnapshot {
    let (m, t, k) = run.build()
    return RunSnapshot(path: path, manifest: m, trials: t, kernels: k)
  }

  /// The candidate: another compiler (other variant IDs), another trainer version (other trial
  /// IDs), optionally slower kernels.
  func candidate(slowdown: Double = 1) -> SyntheticRun {
    var c = SyntheticRun.paperMethods()
    c.compiler = "gcc (Debian 13.1.0-1) 13.1.0"
    c.trainerVersion = "99"
    c.slowdown = slowdown
    return c
  }

  @Test func matchesAcrossCompilerAndTrainerVersions() {
    let base = snapshot(SyntheticRun.paperMethods(), path: "b")
    let cand = snapshot(candidate(), path: "c")
    #expect(Set(base.trials.map(\.trialID)).isDisjoint(with: cand.trials.map(\.trialID)))
    #expect(Set(base.kernels.map(\.variantID)).isDisjoint(with: cand.kernels.map(\.variantID)))
    let r = RunComparison.compare(base: base, candidate: cand)
    #expect(r.trials.count == base.trials.count)
    #expect(r.kernels.count == base.kernels.count)
    #expect(r.onlyInBase.trials.isEmpty && r.onlyInCandidate.kernels == 0)
    #expect(r.kernels.allSatisfy { $0.verdict == .indistinguishable && !$0.regression })
    #expect(r.trials.allSatisfy { $0.verdict == .indistinguishable && $0.accuracyDeltaPoints == 0 })
    #expect(!r.hasRegression)
    #expect(r.minEffect == 0.02)
    #expect(r.summaryLine.hasPrefix("no regression beyond 5%"))
    #expect(r.markdown().contains("gcc (Debian 13.1.0-1) 13.1.0"))
  }

  @Test func slowerBeyondTheThresholdIsARegression() throws {
    let base = snapshot(SyntheticRun.paperMethods(), path: "b")
    let cand = snapshot(candidate(slowdown: 1.10), path: "c")
    let r = RunComparison.compare(base: base, candidate: cand, thresholdPercent: 5)
    #expect(r.kernels.allSatisfy { $0.verdict == .slower && $0.regression })
    #expect(r.trials.allSatisfy { $0.verdict == .slower && $0.regression })
    #expect(r.hasRegression)
    #expect(r.regressions == r.kernels.count + r.trials.count)
    let k = try #require(r.kernels.first)
    #expect(abs((k.changePercent ?? 0) - 10) < 1e-6)
    #expect(k.pValue.map { $0 < 0.01 } == true)
    let md = r.markdown()
    #expect(md.contains("**REGRESSION**"))
    #expect(md.hasSuffix("slower than the base by more than 5% (or no longer ok)\n"))
    // The same slowdown under a 15% threshold is reported slower, but not a regression.
    let lenient = RunComparison.compare(base: base, candidate: cand, thresholdPercent: 15)
    #expect(!lenient.hasRegression)
    #expect(lenient.kernels.allSatisfy { $0.verdict == .slower })
  }

  @Test func slowerWithinTheNoiseFloorIsNotARegression() {
    // 1.5% slower with a 2% noise floor: the test says indistinguishable, whatever the threshold.
    let r = RunComparison.compare(
      base: snapshot(SyntheticRun.paperMethods(), path: "b"),
      candidate: snapshot(candidate(slowdown: 1.015), path: "c"), thresholdPercent: 0)
    #expect(!r.hasRegression)
    #expect(r.kernels.allSatisfy { $0.verdict == .indistinguishable })
  }

  @Test func aKernelThatNoLongerVerifiesIsARegression() {
    let base = snapshot(SyntheticRun.paperMethods(), path: "b")
    var cand = snapshot(candidate(), path: "c")
    cand.kernels[0].outcome = .wrongResult
    cand.kernels[0].samplesSeconds = []
    cand.trials[1].status = .failed
    let r = RunComparison.compare(base: base, candidate: cand)
    #expect(r.kernels.filter(\.regression).count == 1)
    #expect(r.trials.filter(\.regression).count == 1)
    #expect(r.markdown().contains("measured → wrongResult **REGRESSION**"))
  }

  @Test func unmatchedTrialsAndKernelsAreListed() {
    let base = snapshot(SyntheticRun.paperMethods(), path: "b")
    var c = candidate()
    c.configs.removeLast()  // no ADMM at 8x in the candidate
    let r = RunComparison.compare(base: base, candidate: snapshot(c, path: "c"))
    #expect(r.onlyInBase.trials == ["admm 4x4 R8 s1", "admm 4x4 R8 s2"])
    #expect(r.onlyInBase.kernels == 4)
    #expect(r.trials.count == base.trials.count - 2)
  }

  @Test func tooFewSamplesAreFlagged() {
    #expect(abs(RunComparison.smallestPValue(5, 5) - 2.0 / 252) < 1e-12)
    #expect(abs(RunComparison.smallestPValue(5, 4) - 2.0 / 126) < 1e-12)
    #expect(RunComparison.smallestPValue(0, 4) == 1)
    let base = snapshot(SyntheticRun.paperMethods(), path: "b")
    var cand = snapshot(candidate(slowdown: 2), path: "c")
    cand.kernels[0].samplesSeconds = Array(cand.kernels[0].samplesSeconds.prefix(1))
    let r = RunComparison.compare(base: base, candidate: cand)
    #expect(r.underpoweredKernels == 1)
    #expect(r.kernels.filter { $0.verdict == .indistinguishable }.count == 1)
    #expect(r.markdown().contains("1 kernel(s) have too few samples on a side"))
    #expect(!RunComparison.compare(base: base, candidate: base).markdown().contains("too few"))
  }

  @Test func jsonRoundTrip() throws {
    let r = RunComparison.compare(
      base: snapshot(SyntheticRun.paperMethods(), path: "b"),
      candidate: snapshot(candidate(slowdown: 1.2), path: "c"))
    let data = try RecordCoding.encoder().encode(r)
    let back = try RecordCoding.decoder().decode(RunComparison.self, from: data)
    #expect(back.regressions == r.regressions)
    let text = String(decoding: data, as: UTF8.self)
    #expect(text.contains("\"threshold_percent\" : 5"))
    #expect(text.contains("\"candidate_median_s\""))
  }
}
