import Analysis
import Foundation
import TuningSchema

/// The report of one run: every trial, the Pareto front over (test accuracy: higher is better,
/// model latency: lower is better), per-layer latencies and counters, and the environment.
public struct RunReport {
  public var manifest: RunManifest
  public var trials: [TrialRecord]
  /// Raw timing samples of kernel variants by variant ID (from `kernels/`), for confidence
  /// intervals and significance tests; statistics are computed here, when read.
  public var samples: [String: [Double]]
  /// Every kernel record of the run (`kernels/<id>.json`) by variant ID, for the counters of each
  /// variant and the exports; empty when the report is made from trial records alone.
  public var kernels: [String: RunResult]

  public init(
    manifest: RunManifest, trials: [TrialRecord], samples: [String: [Double]] = [:],
    kernels: [String: RunResult] = [:]
  ) {
    self.manifest = manifest
    self.samples = samples
    self.kernels = kernels
    // Stable order: dense first, then by block shape and rate, then seed.
    self.trials = trials.sorted { a, b in
      let ka = (
        a.config.kind == .dense ? 0 : 1, a.config.block ?? BlockShape(rows: 0, cols: 0),
        a.config.rate ?? 0, a.config.seed
      )
      let kb = (
        b.config.kind == .dense ? 0 : 1, b.config.block ?? BlockShape(rows: 0, cols: 0),
        b.config.rate ?? 0, b.config.seed
      )
      return ka.0 != kb.0
        ? ka.0 < kb.0 : ka.1 != kb.1 ? ka.1 < kb.1 : ka.2 != kb.2 ? ka.2 < kb.2 : ka.3 < kb.3
    }
  }

  /// The suite's objectives (accuracy ↑, latency ↓, size ↓ unless it names others).
  public var objectives: [ObjectiveSpec] { manifest.suite.resolvedObjectives }

  /// A trial's value of each objective (test accuracy, `latency_s`, `size_bytes`); nil unless
  /// it is ok and has them all.
  public static func values(_ t: TrialRecord, _ objectives: [ObjectiveSpec]) -> [Double]? {
    guard t.status == .ok else { return nil }
    var out: [Double] = []
    for o in objectives {
      let v: Double?
      switch o.metric {
      case .accuracy: v = t.accuracy
      case .latency: v = t.latencySeconds
      case .size: v = t.sizeBytes.map(Double.init)
      }
      guard let v, !v.isNaN else { return nil }
      out.append(v)
    }
    return out
  }

  static func directions(_ objectives: [ObjectiveSpec]) -> [Direction] {
    objectives.map { $0.direction == .max ? .higherIsBetter : .lowerIsBetter }
  }

  /// "test accuracy ↑, latency ↓, size ↓".
  public static func describe(_ objectives: [ObjectiveSpec]) -> String {
    objectives.map { o in
      let name =
        switch o.metric {
        case .accuracy: "test accuracy"
        case .latency: "latency"
        case .size: "size"
        }
      return name + (o.direction == .max ? " ↑" : " ↓")
    }.joined(separator: ", ")
  }

  /// IDs of the trials on the Pareto front (ok trials with a value for every objective).
  public var frontIDs: Set<String> { Self.frontIDs(of: trials, objectives: objectives) }

  public static func frontIDs(
    of trials: [TrialRecord], objectives: [ObjectiveSpec] = ObjectiveSpec.defaults
  ) -> Set<String> {
    let scored = trials.compactMap { t in values(t, objectives).map { (t.trialID, $0) } }
    return Set(
      Pareto.front(scored.map(\.1), directions: directions(objectives)).map { scored[$0].0 })
  }

  /// The hypervolume of the front of the ok trials over the objectives, normalized to [0, 1]:
  /// accuracy as a fraction, latency and size as fractions of 1.1 × the largest of the dense
  /// baselines (of every trial when no dense one is done); the reference point is the worst end
  /// of each (accuracy 0, latency and size 1 for objectives to minimize; 0 for those to
  /// maximize). 1 would be accuracy 1 at no latency and no size; for a fixed reference it grows
  /// exactly when the front improves.
  public static func hypervolume(
    of trials: [TrialRecord], objectives: [ObjectiveSpec] = ObjectiveSpec.defaults
  ) -> Double? {
    let scored = trials.compactMap { t in values(t, objectives).map { (t, $0) } }
    guard !scored.isEmpty else { return nil }
    let dense = scored.filter { $0.0.config.kind == .dense }
    let basis = dense.isEmpty ? scored : dense
    var scales: [Double] = []
    for (k, o) in objectives.enumerated() {
      if o.metric == .accuracy {
        scales.append(1)
      } else {
        guard let worst = basis.map({ $0.1[k] }).max(), worst > 0 else { return nil }
        scales.append(1.1 * worst)
      }
    }
    let points = scored.map { s in s.1.indices.map { s.1[$0] / scales[$0] } }
    let reference = objectives.map { o -> Double in
      o.metric == .accuracy ? (o.direction == .max ? 0 : 1) : (o.direction == .min ? 1 : 0)
    }
    return Pareto.hypervolume(
      points, directions: directions(objectives), reference: reference)
  }

  public var hypervolume: Double? { Self.hypervolume(of: trials, objectives: objectives) }

  /// The dense baseline of the same seed, for speedups and accuracy deltas.
  func dense(for t: TrialRecord) -> TrialRecord? {
    trials.first { $0.config.kind == .dense && $0.config.seed == t.config.seed && $0.status == .ok }
  }

  /// A conservative interval for the model latency: the sums of the layers' lower and upper
  /// bootstrap bounds (nil when a layer has none).
  func latencyInterval(_ t: TrialRecord) -> (low: Double, high: Double)? {
    guard t.latencySeconds != nil, !t.layers.isEmpty else { return nil }
    let lows = t.layers.compactMap(\.bestCILow)
    let highs = t.layers.compactMap(\.bestCIHigh)
    guard lows.count == t.layers.count, highs.count == t.layers.count else { return nil }
    return (lows.reduce(0, +), highs.reduce(0, +))
  }

  func latencyCI(_ t: TrialRecord) -> String {
    latencyInterval(t).map { fmtCI($0.low, $0.high) } ?? ""
  }

  /// `dense / pruned` model latency as a speedup, stated only when the two conservative intervals
  /// do not overlap and the medians differ by more than the machine's noise floor.
  func modelSpeedup(dense: TrialRecord, pruned: TrialRecord) -> String {
    guard let l = pruned.latencySeconds, let dl = dense.latencySeconds, l > 0 else { return "" }
    if dense.trialID == pruned.trialID { return "1.00x (baseline)" }
    let ratio = String(format: "%.2fx", dl / l)
    guard let significant = speedupIsSignificant(dense: dense, pruned: pruned) else {
      return ratio + " (untested)"
    }
    return significant ? ratio : "≈1x (n.s.; \(ratio))"
  }

  /// Min, MAD and p90 of a variant's raw samples, computed here from `kernels/<id>.json`.
  func spread(_ variantID: String?) -> String {
    guard let id = variantID, let x = samples[id], let s = SampleSummary(x) else { return "" }
    return "\(fmtTime(s.min)) / \(fmtTime(s.mad)) / \(fmtTime(s.p90)) (\(s.n))"
  }

  /// One row per trial and other target: verified / wrong / failed variant counts and the
  /// summed best latency (native targets only).
  func targetRows() -> [[String]] {
    var rows: [[String]] = []
    for t in trials where t.layers.contains(where: { $0.targets != nil }) {
      var order: [String] = []
      var byTarget: [String: [TargetLayerResult]] = [:]
      for l in t.layers {
        for r in l.targets ?? [] {
          if byTarget[r.target] == nil { order.append(r.target) }
          byTarget[r.target, default: []].append(r)
        }
      }
      for name in order {
        let results = byTarget[name]!
        let variants = results.flatMap(\.variants)
        let verified = variants.filter { $0.outcome == .measured }.count
        let wrong = variants.filter { $0.outcome == .wrongResult }.count
        let failed =
          variants.count - verified - wrong + results.compactMap(\.buildFailed).reduce(0, +)
        let emulated = results.contains(where: \.emulated)
        let bests = results.compactMap(\.bestMedianSeconds)
        let latency =
          emulated
          ? "emulated"
          : bests.count == results.count && !bests.isEmpty
            ? fmtTime(bests.reduce(0, +)) : ""
        let notes = Set(results.compactMap(\.note)).sorted().joined(separator: "; ")
        let built = results.compactMap(\.built).reduce(0, +)
        rows.append([
          t.config.label, "\(t.config.seed)", name, "\(verified)", "\(wrong)", "\(failed)", latency,
          notes + (built > 0 ? (notes.isEmpty ? "" : "; ") + "\(built) built, not run" : ""),
        ])
      }
    }
    return rows
  }

  /// The summed best medians of the block-sparse layers (nil for the dense baseline).
  func prunedLatency(_ t: TrialRecord) -> Double? {
    let pruned = t.layers.filter { $0.format != .dense }
    guard !pruned.isEmpty else { return nil }
    let times = pruned.compactMap(\.bestMedianSeconds)
    return times.count == pruned.count ? times.reduce(0, +) : nil
  }

  /// The report as a document; with `plots`, each plot's figure in its section (the SVG when
  /// `plots` has it, else why not).
  public func document(plots rendering: PlotRendering? = nil) -> Document {
    let allPlots = rendering == nil ? [] : plots()
    func figures(_ match: (String) -> Bool) -> [Figure] {
      guard let rendering else { return [] }
      return allPlots.filter { match($0.name) }.map { rendering.figure($0) }
    }
    let suite = manifest.suite
    let env = manifest.environment
    let front = frontIDs
    var doc = Document(title: "blkrew report: \(suite.name)")
    doc.paragraph(
      "Run `\(manifest.runID)` of suite `\(manifest.suitePath)`: model `\(suite.model)` on `\(suite.dataset)` "
        + "(\(suite.subset.train) training and \(suite.subset.val) validation images; test accuracy on "
        + (suite.subset.test.map { "the first \($0)" } ?? "all")
        + " test images), scheme `\(suite.scheme.rawValue)`, "
        + "regularizer `\(suite.regularizer.kind.rawValue)` (lambda \(suite.regularizer.lambda), eps \(suite.regularizer.eps), "
        + "refresh every \(suite.regularizer.refreshSteps) steps, form `\(suite.regularizer.form.rawValue)`), "
        + "phases \(suite.phases.pretrainEpochs)/\(suite.phases.regEpochs)/\(suite.phases.retrainEpochs) epochs "
        + "(pre-train / regularize / retrain). blkrew \(manifest.blkrewVersion)"
        + (manifest.gitCommit.map { " at `\($0.prefix(12))`" } ?? "") + ".")
    doc.paragraph(
      "**Latency** is the model's latency at batch \(suite.latency.batch) with \(suite.latency.threads) thread: the sum over "
        + "all layers of the median time per call of the fastest verified kernel variant (pruned layers in the "
        + "block-sparse format, dense layers with the dense kernel), as measured by the C runner on this machine; "
        + "bias, activation and data movement between layers are not included. "
        + "Its 95% interval is conservative: the sums of the layers' lower and of their upper "
        + "bootstrap bounds. A model speedup vs dense is stated only when the two intervals do not "
        + "overlap and the medians differ by more than this machine's noise floor between runner "
        + "processes; otherwise it reads `≈1x (n.s.)`. "
        + "Trials on the Pareto front of (\(Self.describe(objectives))) are marked ★. The test "
        + "accuracy's 95% interval is the Wilson score interval over the test items.")

    doc.heading("Trials")
    let done = trials.filter { $0.status == .ok }.count
    doc.paragraph(
      "\(trials.count) trials recorded, \(done) ok, \(front.count) on the Pareto front"
        + (hypervolume.map {
          String(
            format:
              "; hypervolume %.4f (of the front over \(Self.describe(objectives)); latency and size as fractions of 1.1 × the dense model's; 1 is the ideal)",
            $0)
        } ?? "") + ".")
    var rows: [[String]] = []
    for t in trials {
      let d = dense(for: t)
      let speedup = d.map { modelSpeedup(dense: $0, pruned: t) } ?? ""
      let kept = t.kept.filter(\.pruned)
      let achieved: String = {
        let total = kept.reduce(0) { $0 + $1.total }
        let k = kept.reduce(0) { $0 + $1.kept }
        return k > 0 ? String(format: "%.2f", Double(total) / Double(k)) : ""
      }()
      rows.append([
        front.contains(t.trialID) ? "★" : "",
        t.config.label,
        t.config.block?.description ?? "",
        t.config.rate.map { $0.formatted() } ?? "1",
        achieved,
        "\(t.config.seed)",
        t.status.rawValue,
        fmtPct(t.accuracy),
        t.accuracyCI.map { String(format: "%.4f – %.4f", $0.low, $0.high) } ?? "",
        fmtPct(t.accuracyAfterPrune),
        fmtPct(t.valAccuracy),
        fmtTime(t.latencySeconds),
        latencyCI(t),
        fmtTime(prunedLatency(t)),
        speedup,
        t.sizeBytes.map { fmtBytes($0) } ?? "",
        t.reason ?? "",
      ])
    }
    doc.table(
      [
        "front", "trial", "block", "rate", "achieved rate (pruned layers)", "seed", "status",
        "test acc", "test acc 95% CI", "acc after prune", "val acc",
        "latency", "latency 95% CI", "pruned layers' latency", "speedup vs dense", "weights size",
        "reason",
      ],
      rows, alignRight: [3, 4, 7, 8, 9, 10, 11, 12, 13, 14, 15])
    if rendering != nil {
      if let why = rendering?.skippedReason {
        doc.paragraph("**Plots skipped.** " + why)
      }
      for f in figures({ $0 == "pareto" }) { doc.figure(f) }
    }

    if let groups = aggregateRows() {
      doc.heading("Across seeds")
      doc.paragraph(
        "Each configuration over its seeds: mean ± sample standard deviation (n = seeds with an ok "
          + "trial). The dense row is the shared baseline every method starts from; `acc after prune` "
          + "is the test accuracy right after the hard prune, before retraining.")
      doc.table(
        [
          "method", "block", "rate", "n", "test acc", "acc after prune", "latency",
          "MAC reduction",
        ], groups, alignRight: [2, 3, 4, 5, 6, 7])
    }
    for f in figures({ $0 == "accuracy-vs-compression" || $0 == "speedup-vs-compression" }) {
      doc.figure(f)
    }

    doc.heading("Per-layer latency")
    doc.paragraph(
      "Median seconds per call of each layer's best verified variant at batch \(suite.latency.batch); "
        + "the last column gives the best of each batch measured (every variant is in the trial file). "
        + "`kept` is the number of weights the kernel multiplies. The confidence interval is a "
        + "percentile bootstrap of the median over the raw samples; min, MAD and p90 are computed "
        + "from the same raw samples when the report is written. A speedup is stated only when a "
        + "two-sided Mann–Whitney test (alpha 0.01) separates the two kernels' samples and the medians "
        + "differ by more than this machine's noise floor between runner processes ("
        + String(format: "%.1f%%", (manifest.environment.timingNoiseMinEffect ?? 0.01) * 100)
        + ", measured at the start of the run); otherwise it reads `≈1x (n.s.)`. "
        + "`variants tied with the best` counts the other variants at this batch that the same test "
        + "cannot tell apart from the best one: which of them is fastest is not established.")
    var layerRows: [[String]] = []
    for t in trials where !t.layers.isEmpty {
      for l in t.layers {
        let d = dense(for: t)?.layers.first { $0.layer == l.layer }
        let sp: String = {
          guard let a = l.bestMedianSeconds, let b = d?.bestMedianSeconds, a > 0,
            t.config.kind == .pruned
          else { return "" }
          return speedup(
            dense: d?.bestVariantID, denseMedian: b, pruned: l.bestVariantID, prunedMedian: a)
        }()
        let ties = l.tiedVariantIDs ?? []
        // Per batch: the fastest verified variant, and how many variants were tried / failed.
        let batches = Array(Set(l.variants.map(\.knobs.batch))).sorted()
        let variants = batches.map { b -> String in
          let vs = l.variants.filter { $0.knobs.batch == b }
          let ok = vs.filter { $0.outcome == .measured }
          let best = ok.compactMap(\.medianSeconds).min()
          let bad = vs.count - ok.count
          return "b\(b): \(fmtTime(best)) (best of \(vs.count)"
            + (bad > 0 ? ", \(bad) not verified" : "") + ")"
        }.joined(separator: "; ")
        layerRows.append([
          t.config.label, "\(t.config.seed)", l.layer, "\(l.rows)x\(l.cols)", l.format.rawValue,
          "\(l.kept)",
          fmtTime(l.bestMedianSeconds), fmtCI(l.bestCILow, l.bestCIHigh),
          spread(l.bestVariantID), sp,
          ties.isEmpty ? "" : "\(ties.count)", variants,
        ])
      }
    }
    doc.table(
      [
        "trial", "seed", "layer", "M x K", "format", "kept", "best median", "95% CI",
        "min / MAD / p90 (n)", "speedup vs dense layer", "variants tied with the best",
        "variants by batch",
      ],
      layerRows, alignRight: [5, 6, 7, 8, 9, 10])
    for f in figures({ $0 == "layer-latency" }) { doc.figure(f) }

    let targetRows = self.targetRows()
    if !targetRows.isEmpty {
      doc.heading("Targets")
      doc.paragraph(
        "Each layer's variants were also built for the suite's other targets and checked against the "
          + "dense reference there. `verified` counts the variants within tolerance; `wrong` those "
          + "outside it (recorded, never timed as fast); a target run under qemu-user is emulated: "
          + "correctness only, no latency. The latency is the sum of each layer's fastest verified "
          + "variant on that target, natively timed; the trial's own latency (above) is this machine's."
      )
      doc.table(
        ["trial", "seed", "target", "verified", "wrong", "failed", "latency", "note"], targetRows,
        alignRight: [1, 3, 4, 5])
    }

    doc.heading("Counters")
    doc.paragraph(
      "Per call of each layer's best variant. `sde MACs` is the runner's own software-defined PAPI counter "
        + "(multiply-adds the kernel executed), read through a PAPI EventSet; it must equal kept × batch. "
        + "Only events that could be read are columns; the others are listed with PAPI's reason under "
        + "Environment. Counter values have the measured cost of starting and stopping them subtracted."
    )
    let eventNames = Array(
      Set(trials.flatMap { $0.layers.flatMap { $0.counters.filter(\.available).map(\.name) } })
    ).sorted()
    let derivedNames = Array(Set(trials.flatMap { $0.layers.flatMap { ($0.derived ?? [:]).keys } }))
      .sorted()
    let hasCold = trials.contains { $0.layers.contains { $0.bestColdMedianSeconds != nil } }
    let simEvents = ["Ir", "D1mr", "D1mw", "DLmr", "DLmw"]
    let hasSim = trials.contains { $0.layers.contains { $0.simulated != nil } }
    var counterRows: [[String]] = []
    for t in trials {
      for l in t.layers {
        var row = [t.config.label, "\(t.config.seed)", l.layer]
        for name in eventNames {
          let c = l.counters.first { $0.name == name }
          row.append(c.map { $0.available ? ($0.value.map(String.init) ?? "") : "n/a" } ?? "")
        }
        for name in derivedNames {
          row.append(l.derived?[name].map { String(format: "%.3g", $0) } ?? "")
        }
        if hasCold { row.append(fmtTime(l.bestColdMedianSeconds)) }
        if hasSim {
          for e in simEvents {
            row.append(l.simulated?.perCall[e].map { String(format: "%.0f", $0) } ?? "")
          }
        }
        if hasCold || hasSim { row.append(l.extraMeasurementNote ?? "") }
        counterRows.append(row)
      }
    }
    var header = ["trial", "seed", "layer"] + eventNames + derivedNames
    if hasCold { header.append("cold median (caches flushed)") }
    if hasSim { header += simEvents.map { "\($0)/call (simulated)" } }
    if hasCold || hasSim { header.append("note") }
    if header.count > 3 {
      doc.table(
        header, counterRows, alignRight: Set(3..<(header.count - (hasCold || hasSim ? 1 : 0))))
    }
    if hasSim {
      doc.paragraph(
        "Simulated columns come from valgrind's cachegrind (a model of the caches, not the CPU): the kernel "
          + "built with -march=x86-64-v3 -mno-fma, cost per call = (run with n calls − run with 0 calls) / n."
      )
    }
    for f in figures({ $0 == "counters" }) { doc.figure(f) }

    let histogramFigures = figures { $0.hasPrefix("norm-histograms") }
    if !histogramFigures.isEmpty {
      doc.heading("Group norms")
      doc.paragraph(
        "What the regularization did to the groups it prunes: the distribution of group norms "
          + "before the regularization phase and right before the hard prune (the groups with the "
          + "smallest norms are the ones pruned).")
      for f in histogramFigures { doc.figure(f) }
    }

    doc.heading("Environment")
    var envItems = [
      "CPU: \(env.cpuModel), \(env.cores) cores, \(fmtBytes(Int(env.memoryBytes))) memory, \(env.virtualization)",
      "CPU flags (vector): \(env.cpuFlags.joined(separator: " "))",
      "Kernel: \(env.kernel); governor: \(env.governor ?? "not exposed")",
      "Clock: /proc reports "
        + (env.cpuMHzReported.map { String(format: "%.0f MHz", $0) } ?? "nothing")
        + "; a timed chain of dependent adds runs at "
        + (env.measuredGHz.map { String(format: "%.2f GHz", $0) } ?? "not measured"),
      "C compilers: " + (env.compilers ?? [env.compiler]).joined(separator: "; "),
      "Compiler: \(env.compiler); flags: `\(env.compilerFlags.joined(separator: " "))`",
      "BLAS (training): \(env.blasConfig ?? env.blas), core type \(env.blasCoreType)"
        + (env.openblasCoreTypeEnv.map { " (OPENBLAS_CORETYPE=\($0))" } ?? ""),
      "PAPI: \(env.papiVersion ?? "not available"); SDE counter works: \(env.sdeWorks ? "yes" : "no")",
    ]
    for c in env.papiComponents ?? [] { envItems.append("PAPI component \(c)") }
    if let presets = env.papiAvailablePresets {
      envItems.append(
        "PAPI presets available on this CPU (papi_avail): "
          + (presets.isEmpty ? "none" : presets.joined(separator: " "))
          + (env.papiHardwareCounters.map { "; \($0) hardware counters" } ?? ""))
    }
    for p in env.eventPasses ?? [] { envItems.append("event pass: " + p.joined(separator: ", ")) }
    for e in env.eventsLeftOut ?? [] {
      envItems.append("event \(e.name): left out — \(e.reason ?? "")")
    }
    for e in env.events {
      envItems.append(
        "event \(e.name): "
          + (e.available ? "available" : "unavailable — \(e.reason ?? "no reason given")"))
    }
    doc.bullets(envItems)
    return doc
  }

  /// Rows of the "Across seeds" table when the run has several seeds or methods, else nil.
  func aggregateRows() -> [[String]]? {
    let seeds = Set(trials.map(\.config.seed))
    guard seeds.count > 1 || trials.contains(where: { $0.config.method != nil }) else {
      return nil
    }
    struct Key: Hashable {
      var method: String
      var block: String
      var rate: Double
    }
    var order: [Key] = []
    var groups: [Key: [TrialRecord]] = [:]
    for t in trials where t.status == .ok {
      let k = Key(
        method: t.config.methodName,
        block: t.config.block?.description ?? "", rate: t.config.rate ?? 1)
      if groups[k] == nil { order.append(k) }
      groups[k, default: []].append(t)
    }
    return order.map { k in
      let g = groups[k]!
      let reduction = g.compactMap { $0.compression?.flopReduction }
      return [
        k.method, k.block, k.rate.formatted(), "\(g.count)",
        meanSD(g.compactMap(\.accuracy), format: "%.4f"),
        meanSD(g.compactMap(\.accuracyAfterPrune), format: "%.4f"),
        meanSD(g.compactMap(\.latencySeconds).map { $0 * 1e6 }, format: "%.2f", unit: " µs"),
        reduction.isEmpty
          ? "" : String(format: "%.2fx", reduction.reduce(0, +) / Double(reduction.count)),
      ]
    }
  }

  /// One row per trial, for spreadsheets.
  public func csv() -> String {
    let front = frontIDs
    var out =
      "trial_id,kind,method,block,rate,seed,status,accuracy,accuracy_after_prune,val_accuracy,latency_s,size_bytes,compression_ratio,flop_reduction,pareto\n"
    for t in trials {
      let fields: [String] = [
        t.trialID, t.config.kind.rawValue, t.config.method ?? "", t.config.block?.description ?? "",
        t.config.rate.map { "\($0)" } ?? "1",
        "\(t.config.seed)", t.status.rawValue, t.accuracy.map { "\($0)" } ?? "",
        t.accuracyAfterPrune.map { "\($0)" } ?? "", t.valAccuracy.map { "\($0)" } ?? "",
        t.latencySeconds.map { "\($0)" } ?? "", t.sizeBytes.map { "\($0)" } ?? "",
        t.compression.map { "\($0.compressionRatio)" } ?? "",
        t.compression?.flopReduction.map { "\($0)" } ?? "",
        front.contains(t.trialID) ? "1" : "0",
      ]
      out += fields.joined(separator: ",") + "\n"
    }
    return out
  }
}

extension RunReport {
  /// `dense / pruned` as a speedup, stated only when the comparison test separates the samples.
  func speedup(dense: String?, denseMedian: Double, pruned: String?, prunedMedian: Double) -> String
  {
    let ratio = String(format: "%.2fx", denseMedian / prunedMedian)
    guard let dense, let pruned, let a = samples[pruned], let b = samples[dense], !a.isEmpty,
      !b.isEmpty
    else { return ratio + " (untested)" }
    if dense == pruned { return "1.00x (same kernel)" }
    let minEffect = manifest.environment.timingNoiseMinEffect ?? 0.01
    switch Comparison.compare(a, b, minEffect: minEffect).verdict {
    case .faster, .slower: return ratio
    case .indistinguishable: return "≈1x (n.s.; \(ratio))"
    }
  }
}

/// `mean ± sd` (sample standard deviation; just the value for one).
func meanSD(_ x: [Double], format: String, unit: String = "") -> String {
  guard !x.isEmpty else { return "" }
  let mean = x.reduce(0, +) / Double(x.count)
  guard x.count > 1 else { return String(format: format, mean) + unit }
  let sd = (x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(x.count - 1)).squareRoot()
  return String(format: format, mean) + " ± " + String(format: format, sd) + unit
}

func fmtCI(_ low: Double?, _ high: Double?) -> String {
  guard let low, let high else { return "" }
  return "\(fmtTime(low)) – \(fmtTime(high))"
}

func fmtPct(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "" }

func fmtTime(_ s: Double?) -> String {
  guard let s else { return "" }
  if s >= 1 { return String(format: "%.3f s", s) }
  if s >= 1e-3 { return String(format: "%.3f ms", s * 1e3) }
  return String(format: "%.2f µs", s * 1e6)
}

func fmtBytes(_ b: Int) -> String {
  let d = Double(b)
  if d >= 1_073_741_824 { return String(format: "%.1f GiB", d / 1_073_741_824) }
  if d >= 1_048_576 { return String(format: "%.2f MiB", d / 1_048_576) }
  if d >= 1024 { return String(format: "%.1f KiB", d / 1024) }
  return "\(b) B"
}
