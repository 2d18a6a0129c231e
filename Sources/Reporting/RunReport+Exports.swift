import Analysis
import Foundation
import TuningSchema

extension RunReport {
  /// One row per measured layer of every trial: its best variant, median and CI, and the
  /// statistics of that variant's raw samples.
  public func layersCSV() -> String {
    let header = [
      "trial_id", "label", "method", "seed", "layer", "rows", "cols", "format", "kept",
      "workload_id", "best_variant_id", "best_median_s", "best_ci_low_s", "best_ci_high_s",
      "min_s", "mad_s", "p90_s", "n_samples", "variants", "variants_not_verified", "tied_variants",
    ]
    var rows: [[String]] = []
    for t in trials {
      for l in t.layers {
        let s = l.bestVariantID.flatMap { samples[$0] ?? kernels[$0]?.samplesSeconds }.flatMap(
          SampleSummary.init)
        rows.append([
          t.trialID, t.config.label, t.config.methodName, "\(t.config.seed)", l.layer,
          "\(l.rows)", "\(l.cols)", l.format.rawValue, "\(l.kept)", l.workloadID,
          l.bestVariantID ?? "", num(l.bestMedianSeconds), num(l.bestCILow), num(l.bestCIHigh),
          num(s?.min), num(s?.mad), num(s?.p90), s.map { "\($0.n)" } ?? "",
          "\(l.variants.count)", "\(l.variants.filter { $0.outcome != .measured }.count)",
          "\(l.tiedVariantIDs?.count ?? 0)",
        ])
      }
    }
    return csvText(header, rows)
  }

  /// One row per kernel record of the run (every variant, every outcome): workload, knobs,
  /// toolchain, outcome, statistics of the raw samples, and per-call counters and derived metrics.
  public func kernelsCSV() -> String {
    let records = kernels.values.sorted { $0.variantID < $1.variantID }
    let counterNames = Array(
      Set(records.flatMap { $0.counters.filter(\.available).map(\.name) })
    ).sorted()
    let derivedNames = ["ipc", "l1_mpki", "l2_mpki", "l3_mpki", "branch_mpki", "gflops"]
    let header =
      [
        "variant_id", "workload_id", "rows", "cols", "format", "block", "kept", "batch", "unroll",
        "n_tile", "isa", "target", "compiler", "flags", "generator_version", "outcome",
        "max_abs_err",
        "tolerance", "n_samples", "median_s", "min_s", "mad_s", "p90_s", "ci_low_s", "ci_high_s",
        "calls_counted",
      ] + counterNames.map { "\($0)_per_call" } + derivedNames
    var rows: [[String]] = []
    for r in records {
      let w = r.variant.workload
      let s = SampleSummary(r.samplesSeconds)
      let d = Self.derivedMetrics(r)
      let calls = Double(max(r.callsCounted, 1))
      rows.append(
        [
          r.variantID, w.id, "\(w.rows)", "\(w.cols)", w.format.rawValue,
          "\(w.blockRows)x\(w.blockCols)", "\(w.kept)", "\(r.variant.knobs.batch)",
          "\(r.variant.knobs.unroll)", "\(r.variant.knobs.nTile)", r.variant.knobs.isa.rawValue,
          r.variant.target,
          r.variant.compiler, r.variant.flags.joined(separator: " "), r.variant.generatorVersion,
          r.outcome.rawValue, num(r.maxAbsErr), num(r.tolerance), s.map { "\($0.n)" } ?? "0",
          num(s?.median), num(s?.min), num(s?.mad), num(s?.p90), num(r.ciLowSeconds),
          num(r.ciHighSeconds), "\(r.callsCounted)",
        ]
          + counterNames.map { n in
            num(
              r.counters.first { $0.name == n && $0.available }?.value.map { Double($0) / calls })
          } + derivedNames.map { num(d[$0]) })
    }
    return csvText(header, rows)
  }

  /// Everything the run recorded, as one JSON document: the manifest, every trial, every kernel
  /// record (raw samples included) with the statistics computed from its samples, the Pareto
  /// front and the configurations over seeds.
  public func jsonExport() throws -> Data {
    try RecordCoding.encoder().encode(
      Export(
        run: manifest, trials: trials, paretoFront: frontIDs.sorted(),
        kernels: kernels.values.sorted { $0.variantID < $1.variantID }.map {
          KernelExport(
            result: $0, summary: SampleSummary($0.samplesSeconds), derived: Self.derivedMetrics($0))
        },
        configurations: configGroups().map {
          ConfigExport(
            method: $0.method, block: $0.block?.description, rate: $0.rate,
            trialIDs: $0.trials.map(\.trialID), accuracy: $0.accuracy,
            bitsPerCharacter: $0.bitsPerCharacter, latency: $0.latency,
            achievedRate: $0.achievedRate)
        }))
  }

  struct Export: Encodable {
    let run: RunManifest
    let trials: [TrialRecord]
    let paretoFront: [String]
    let kernels: [KernelExport]
    let configurations: [ConfigExport]
    enum CodingKeys: String, CodingKey {
      case run, trials, kernels, configurations
      case paretoFront = "pareto_front"
    }
  }

  struct ConfigExport: Encodable {
    let method: String
    let block: String?
    let rate: Double
    let trialIDs: [String]
    let accuracy: MeanSD?
    let bitsPerCharacter: MeanSD?
    let latency: MeanSD?
    let achievedRate: MeanSD?
    enum CodingKeys: String, CodingKey {
      case method, block, rate, accuracy, latency
      case trialIDs = "trial_ids"
      case bitsPerCharacter = "bits_per_character"
      case achievedRate = "achieved_rate"
    }
  }

  /// A kernel record with the statistics of its raw samples and its derived metrics.
  struct KernelExport: Encodable {
    let result: RunResult
    let summary: SampleSummary?
    let derived: [String: Double]
    struct Summary: Encodable {
      let n: Int
      let min, median, mad, p90, mean, stddev: Double
      enum CodingKeys: String, CodingKey {
        case n
        case min = "min_s"
        case median = "median_s"
        case mad = "mad_s"
        case p90 = "p90_s"
        case mean = "mean_s"
        case stddev = "stddev_s"
      }
    }
    enum CodingKeys: String, CodingKey {
      case summary = "sample_summary"
      case derived
    }
    func encode(to encoder: Encoder) throws {
      try result.encode(to: encoder)
      var c = encoder.container(keyedBy: CodingKeys.self)
      if let s = summary {
        try c.encode(
          Summary(
            n: s.n, min: s.min, median: s.median, mad: s.mad, p90: s.p90, mean: s.mean,
            stddev: s.stddev), forKey: .summary)
      }
      try c.encode(derived, forKey: .derived)
    }
  }
}
