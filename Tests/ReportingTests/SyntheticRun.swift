import Foundation
import TuningSchema

@testable import Reporting

/// A run made by hand from records: a dense baseline per seed and, per method, block and rate,
/// one pruned trial per seed with two measured layers, kernel records with raw samples, and
/// group-norm histograms. Everything is a deterministic function of the arguments.
struct SyntheticRun {
  struct Config {
    var method: String
    var kind: RegularizerSpec.Kind
    var block: BlockShape
    var rate: Double
    /// Test accuracy per seed.
    var accuracy: [Double]
    /// Model latency per seed (seconds).
    var latency: [Double]
  }

  var suiteName = "synthetic"
  var model = "lenet5"
  var seeds = [1, 2]
  var denseAccuracy: [Double] = [0.85, 0.87]
  var denseLatency = 10e-6
  var configs: [Config] = []
  /// Whether the kernel records carry PAPI cycle / instruction / L1 miss counts.
  var hardwareCounters = false
  var noiseFloor = 0.02
  var compiler = "gcc (Debian 12.2.0-14) 12.2.0"
  var trainerVersion = TrialConfig.trainerVersion
  var methods: [MethodSpec]? = nil
  /// Multiplies every sample of the kernel records (a slower candidate build).
  var slowdown = 1.0

  static let layerShapes = [("conv1", 16, 150), ("fc1", 120, 400)]

  var manifest: RunManifest {
    var env = EnvironmentInfo(
      hostname: "h", cpuModel: "Test CPU", cpuFlags: ["avx2"], cores: 2, memoryBytes: 1 << 32,
      kernel: "6.1", virtualization: "kvm", governor: nil, compiler: compiler,
      compilerFlags: ["-O3", "-march=native"], blas: "OpenBLAS", blasCoreType: "Haswell",
      openblasCoreTypeEnv: nil, papiVersion: "7.0.0.0",
      events: [
        CounterReading(
          name: "PAPI_TOT_CYC", available: hardwareCounters,
          reason: hardwareCounters ? nil : "PAPI_add_event: Event does not exist (-7)")
      ], sdeWorks: true)
    env.compilers = [compiler]
    env.timingNoiseMinEffect = noiseFloor
    env.papiAvailablePresets = hardwareCounters ? ["PAPI_TOT_CYC", "PAPI_TOT_INS"] : []
    env.papiHardwareCounters = hardwareCounters ? 6 : nil
    var suite = SweepSpec(
      name: suiteName, model: model, dataset: "fashion-mnist",
      blocks: Array(Set(configs.map(\.block))).sorted(),
      rates: Array(Set(configs.map(\.rate))).sorted())
    suite.seeds = seeds
    suite.methods = methods
    return RunManifest(
      runID: "run-\(suiteName)", suite: suite, suitePath: "suites/\(suiteName).yaml",
      blkrewVersion: "test", gitCommit: "0123456789abcdef0123", createdAt: "2026-01-01T00:00:00Z",
      environment: env)
  }

  func trialConfig(seed: Int, config: Config?) -> TrialConfig {
    var c = TrialConfig(
      kind: config == nil ? .dense : .pruned, model: model, dataset: "fashion-mnist",
      subset: SubsetSpec(), phases: PhaseSpec(), training: TrainingSpec(), seed: seed,
      keepDense: ["last"])
    c.trainerVersion = trainerVersion
    if let config {
      c.scheme = .blockColumn
      c.block = config.block
      c.rate = config.rate
      var r = RegularizerSpec()
      r.kind = config.kind
      c.regularizer = r
      c.method = methods == nil ? nil : config.method
    }
    return c
  }

  /// Samples around `median`, deterministic, ±0.3%.
  static func samples(_ median: Double, n: Int = 30) -> [Double] {
    (0..<n).map { median * (1 + 0.001 * Double($0 % 7 - 3)) }
  }

  func build() -> (manifest: RunManifest, trials: [TrialRecord], kernels: [RunResult]) {
    var trials: [TrialRecord] = []
    var kernels: [RunResult] = []
    func make(seedIndex: Int, config: Config?) {
      let seed = seeds[seedIndex]
      let c = trialConfig(seed: seed, config: config)
      var t = TrialRecord(trialID: c.id, config: c, status: .ok)
      t.accuracy = config?.accuracy[seedIndex] ?? denseAccuracy[seedIndex]
      t.valAccuracy = t.accuracy
      let latency = config?.latency[seedIndex] ?? denseLatency
      t.latencySeconds = latency
      let rate = config?.rate ?? 1
      var layers: [LayerLatency] = []
      var kept: [KeptCount] = []
      for (i, (name, rows, cols)) in Self.layerShapes.enumerated() {
        let total = rows * cols
        let k = Int(Double(total) / rate)
        var kc = KeptCount(
          layer: name, rows: rows, cols: cols, total: total, kept: k, target: k,
          pruned: config != nil)
        kc.positions = i == 0 ? 100 : 1
        kept.append(kc)
        let median = latency * (i == 0 ? 0.4 : 0.6)
        let workload = Workload(
          rows: rows, cols: cols, format: config == nil ? .dense : .blockColumn,
          blockRows: config?.block.rows ?? 1, blockCols: config?.block.cols ?? 1,
          maskHash: "mask-\(name)-\(config?.method ?? "dense")-\(rate)-\(seed)", kept: k)
        let batch = i == 0 ? 100 : 1
        let variant = KernelVariant(
          workload: workload, knobs: KernelKnobs(batch: batch, unroll: 2, nTile: 1),
          compiler: compiler, flags: ["-O3"], generatorVersion: "gen-\(compiler)")
        let samples = Self.samples(median * slowdown)
        var counters: [CounterReading] = []
        let calls: Int64 = 1000
        if hardwareCounters {
          let cycles = Int64(median * 3e9) * calls
          counters = [
            CounterReading(name: "PAPI_TOT_CYC", available: true, value: cycles),
            CounterReading(name: "PAPI_TOT_INS", available: true, value: cycles * 2),
            CounterReading(name: "PAPI_L1_DCM", available: true, value: cycles / 100),
          ]
        }
        kernels.append(
          RunResult(
            variantID: variant.id, variant: variant, outcome: .measured,
            macsPerCall: Int64(k * batch), samplesSeconds: samples, callsCounted: calls,
            counters: counters))
        var l = LayerLatency(
          layer: name, workloadID: workload.id, format: workload.format, rows: rows, cols: cols,
          kept: k,
          variants: [
            .init(
              variantID: variant.id, knobs: variant.knobs, outcome: .measured,
              medianSeconds: median * slowdown, maxAbsErr: 0, tolerance: 1e-6)
          ], bestVariantID: variant.id, bestMedianSeconds: median * slowdown, counters: [])
        l.bestCILow = median * slowdown * 0.995
        l.bestCIHigh = median * slowdown * 1.005
        layers.append(l)
      }
      t.latencySeconds = latency * slowdown
      t.layers = layers
      t.kept = kept
      t.compression = ModelCompression(kept)
      t.sizeBytes = kept.reduce(0) { $0 + $1.kept } * 6
      if config != nil {
        t.phases = [
          PhaseMetrics(
            phase: "prune", epochs: 0, testAccuracy: (t.accuracy ?? 0) - 0.1, valAccuracy: nil,
            trainLoss: nil, seconds: 1)
        ]
        let edges = (0...8).map { -4 + 0.5 * Double($0) }
        t.normHistograms = Self.layerShapes.map { (name, _, _) in
          LayerNormHistograms(
            layer: name,
            before: GroupNormHistogram(
              log10Edges: edges, counts: [0, 0, 1, 2, 4, 8, 4, 2], zeros: 0, belowRange: 0),
            after: GroupNormHistogram(
              log10Edges: edges, counts: [6, 5, 2, 1, 1, 3, 2, 1], zeros: 1, belowRange: 2))
        }
      }
      trials.append(t)
    }
    for s in seeds.indices {
      make(seedIndex: s, config: nil)
      for c in configs { make(seedIndex: s, config: c) }
    }
    return (manifest, trials, kernels)
  }

  func report() -> RunReport {
    let (m, trials, kernels) = build()
    var samples: [String: [Double]] = [:]
    for k in kernels { samples[k.variantID] = k.samplesSeconds }
    return RunReport(
      manifest: m, trials: trials, samples: samples,
      kernels: Dictionary(uniqueKeysWithValues: kernels.map { ($0.variantID, $0) }))
  }

  /// The methods of the paper at rates 2 and 8 on 4x4 blocks: BLK-REW best, then group lasso,
  /// then ADMM; latency falls with the rate.
  static func paperMethods(hardwareCounters: Bool = false) -> SyntheticRun {
    var r = SyntheticRun()
    r.hardwareCounters = hardwareCounters
    let b = BlockShape(rows: 4, cols: 4)
    r.configs = [
      Config(
        method: "blk-rew", kind: .reweighted, block: b, rate: 2, accuracy: [0.85, 0.86],
        latency: [7e-6, 7.1e-6]),
      Config(
        method: "blk-rew", kind: .reweighted, block: b, rate: 8, accuracy: [0.855, 0.86],
        latency: [3e-6, 3.1e-6]),
      Config(
        method: "group-lasso", kind: .groupLasso, block: b, rate: 2, accuracy: [0.84, 0.845],
        latency: [7e-6, 7.2e-6]),
      Config(
        method: "group-lasso", kind: .groupLasso, block: b, rate: 8, accuracy: [0.80, 0.81],
        latency: [3e-6, 3.2e-6]),
      Config(
        method: "admm", kind: .admm, block: b, rate: 2, accuracy: [0.83, 0.84],
        latency: [7e-6, 7.1e-6]),
      Config(
        method: "admm", kind: .admm, block: b, rate: 8, accuracy: [0.79, 0.80],
        latency: [3e-6, 3.1e-6]),
    ]
    r.methods = ["blk-rew", "group-lasso", "admm"].map { MethodSpec(name: $0) }
    return r
  }
}
