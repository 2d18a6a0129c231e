import Foundation
import Testing
import TuningSchema

@testable import Reporting

/// The report states a speedup only when the comparison test says so.
@Suite struct RunReportSpeedupTests {
  func manifest(noiseFloor: Double = 0.05) -> RunManifest {
    var env = EnvironmentInfo(
      hostname: "h", cpuModel: "cpu", cpuFlags: [], cores: 2, memoryBytes: 1 << 30, kernel: "k",
      virtualization: "vm", governor: nil, compiler: "gcc", compilerFlags: ["-O3"],
      blas: "OpenBLAS",
      blasCoreType: "Haswell", openblasCoreTypeEnv: nil, papiVersion: nil, events: [],
      sdeWorks: true)
    env.timingNoiseMinEffect = noiseFloor
    let suite = SweepSpec(
      name: "t", model: "mlp", dataset: "fashion-mnist", blocks: [BlockShape(rows: 8, cols: 16)],
      rates: [4])
    return RunManifest(
      runID: "r", suite: suite, suitePath: "t.yaml", blkrewVersion: "test", gitCommit: nil,
      createdAt: "now", environment: env)
  }

  func trial(_ kind: TrialConfig.Kind, id: String, variant: String, median: Double, ci: Double)
    -> TrialRecord
  {
    let config = TrialConfig(
      kind: kind, model: "mlp", dataset: "fashion-mnist", subset: SubsetSpec(),
      phases: PhaseSpec(), training: TrainingSpec(), seed: 1,
      block: kind == .dense ? nil : BlockShape(rows: 8, cols: 16), rate: kind == .dense ? nil : 4,
      keepDense: [])
    var t = TrialRecord(trialID: id, config: config, status: .ok)
    t.accuracy = 0.8
    t.latencySeconds = median
    var l = LayerLatency(
      layer: "fc1", workloadID: "w-\(id)", format: kind == .dense ? .dense : .blockColumn,
      rows: 8, cols: 16, kept: 32, variants: [], bestVariantID: variant,
      bestMedianSeconds: median, counters: [])
    l.bestCILow = median * (1 - ci)
    l.bestCIHigh = median * (1 + ci)
    t.layers = [l]
    return t
  }

  /// Samples around `median` with a small deterministic spread.
  func samples(_ median: Double, n: Int = 40) -> [Double] {
    (0..<n).map { median * (1 + 0.002 * Double($0 % 7 - 3)) }
  }

  @Test func clearSpeedupIsStated() {
    let d = trial(.dense, id: "d", variant: "vd", median: 2e-6, ci: 0.01)
    let p = trial(.pruned, id: "p", variant: "vp", median: 1e-6, ci: 0.01)
    let r = RunReport(
      manifest: manifest(), trials: [d, p], samples: ["vd": samples(2e-6), "vp": samples(1e-6)])
    #expect(r.modelSpeedup(dense: d, pruned: p) == "2.00x")
    #expect(
      r.speedup(dense: "vd", denseMedian: 2e-6, pruned: "vp", prunedMedian: 1e-6) == "2.00x")
    let md = r.document().markdown()
    #expect(md.contains("2.00x"))
    #expect(!md.contains("≈1x (n.s.;"))
  }

  @Test func differenceBelowTheNoiseFloorIsNotASpeedup() {
    // 3% apart, well separated samples, but the machine's noise floor is 5%.
    let d = trial(.dense, id: "d", variant: "vd", median: 1.03e-6, ci: 0.001)
    let p = trial(.pruned, id: "p", variant: "vp", median: 1e-6, ci: 0.001)
    let r = RunReport(
      manifest: manifest(noiseFloor: 0.05), trials: [d, p],
      samples: ["vd": samples(1.03e-6), "vp": samples(1e-6)])
    #expect(r.modelSpeedup(dense: d, pruned: p) == "≈1x (n.s.; 1.03x)")
    #expect(
      r.speedup(dense: "vd", denseMedian: 1.03e-6, pruned: "vp", prunedMedian: 1e-6)
        == "≈1x (n.s.; 1.03x)")
    #expect(r.document().markdown().contains("≈1x (n.s.; 1.03x)"))
  }

  @Test func overlappingIntervalsAreNotASpeedup() {
    // 20% apart but each interval ±15%: they overlap.
    let d = trial(.dense, id: "d", variant: "vd", median: 1.2e-6, ci: 0.15)
    let p = trial(.pruned, id: "p", variant: "vp", median: 1e-6, ci: 0.15)
    let r = RunReport(manifest: manifest(noiseFloor: 0.01), trials: [d, p])
    #expect(r.modelSpeedup(dense: d, pruned: p) == "≈1x (n.s.; 1.20x)")
    // Without samples the layer ratio is marked untested rather than claimed.
    #expect(
      r.speedup(dense: "vd", denseMedian: 1.2e-6, pruned: "vp", prunedMedian: 1e-6)
        == "1.20x (untested)")
  }
}

@Suite struct AcrossSeedsTests {
  @Test func meanAndStandardDeviationPerMethod() {
    let base = RunReportSpeedupTests()
    var trials: [TrialRecord] = []
    for (seed, acc) in [(1, 0.80), (2, 0.84)] {
      var d = base.trial(.dense, id: "d\(seed)", variant: "vd", median: 2e-6, ci: 0.01)
      d.config.seed = seed
      d.accuracy = acc + 0.01
      var p = base.trial(.pruned, id: "p\(seed)", variant: "vp", median: 1e-6, ci: 0.01)
      p.config.seed = seed
      p.config.method = "admm"
      p.accuracy = acc
      trials += [d, p]
    }
    let r = RunReport(manifest: base.manifest(), trials: trials)
    let rows = r.aggregateRows() ?? []
    #expect(rows.count == 2)
    let admm = rows.first { $0[0] == "admm" }
    // mean 0.82, sample sd sqrt(((0.02)^2 * 2) / 1) = 0.0283
    #expect(admm?[3] == "2")
    #expect(admm?[4] == "0.8200 ± 0.0283")
    #expect(r.document().markdown().contains("Across seeds"))
    #expect(meanSD([1], format: "%.1f") == "1.0")
    #expect(meanSD([], format: "%.1f") == "")
  }
}

@Suite struct AccuracyIntervalTests {
  @Test func wilsonScoreInterval() throws {
    var t = RunReportSpeedupTests().trial(.dense, id: "d", variant: "v", median: 1e-6, ci: 0.01)
    t.accuracy = 0.5
    t.testCount = 100
    // Wilson 95% for 50/100: 0.4038 - 0.5962.
    let ci = try #require(t.accuracyCI)
    #expect(abs(ci.low - 0.40383) < 1e-4 && abs(ci.high - 0.59617) < 1e-4)
    t.accuracy = 1
    #expect(t.accuracyCI!.high == 1 && t.accuracyCI!.low > 0.96)
    t.testCount = nil
    #expect(t.accuracyCI == nil)
    t.testCount = 10000
    t.accuracy = 0.8617
    let r = RunReport(manifest: RunReportSpeedupTests().manifest(), trials: [t])
    #expect(r.document().markdown().contains("0.8548 – 0.8683"))
  }
}
