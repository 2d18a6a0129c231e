import Analysis
import Foundation
import TuningSchema

extension RunReport {
  /// Every plot of the report, in the order the document shows them: the Pareto front, accuracy
  /// vs compression per method, speedup vs compression per block shape, the per-layer latency of
  /// the front, counters per kernel variant, and group-norm histograms (one plot per method).
  public func plots() -> [Plot] {
    [paretoPlot(), accuracyPlot(), speedupPlot(), layerLatencyPlot(), counterPlot()]
      + normHistogramPlots()
  }

  // MARK: - Pareto front

  func paretoPlot() -> Plot {
    let name = "pareto"
    let title = "Pareto front: test accuracy vs model latency"
    let metric = usesBitsPerCharacter ? "test bits per character" : "test accuracy"
    let caption =
      "Every ok trial: \(metric) against the model latency (batch \(manifest.suite.latency.batch), "
      + "\(manifest.suite.latency.threads) thread; µs, with the conservative 95% interval as a horizontal bar). "
      + "Marker area grows with the weights' stored size. The Pareto front of (\(Self.describe(objectives))) "
      + "is the filled markers, each labelled; the line joins the front of test accuracy and latency alone."
    let front = frontIDs
    let front2D = Self.frontIDs(
      of: trials, objectives: [ObjectiveSpec(metric: .accuracy), ObjectiveSpec(metric: .latency)])
    let ok = trials.filter {
      $0.status == .ok && $0.latencySeconds != nil
        && (usesBitsPerCharacter ? $0.bitsPerCharacter != nil : $0.accuracy != nil)
    }
    // The accuracy-latency front's rows first (by latency), then the others: `every ::0::K-1`
    // selects the line; the `front` column marks the objectives' front.
    func byLatency(_ a: TrialRecord, _ b: TrialRecord) -> Bool {
      (a.latencySeconds!, a.trialID) < (b.latencySeconds!, b.trialID)
    }
    let onFront = ok.filter { front2D.contains($0.trialID) }.sorted(by: byLatency)
    let rest = ok.filter { !front2D.contains($0.trialID) }.sorted(by: byLatency)
    let header = [
      "trial_id", "label", "method", "block", "rate", "seed", "latency_us", "latency_ci_low_us",
      "latency_ci_high_us", "quality", "size_kib", "front",
    ]
    var rows: [[String]] = []
    for t in onFront + rest {
      let ci = latencyInterval(t)
      rows.append([
        t.trialID, "\(t.config.label) s\(t.config.seed)", t.config.methodName,
        t.config.block?.description ?? "", (t.config.rate ?? 1).formatted(), "\(t.config.seed)",
        num(t.latencySeconds! * 1e6), num(ci.map { $0.low * 1e6 }),
        num(ci.map { $0.high * 1e6 }),
        num(usesBitsPerCharacter ? t.bitsPerCharacter : t.accuracy),
        num(t.sizeBytes.map { Double($0) / 1024 }),
        front.contains(t.trialID) ? "1" : "0",
      ])
    }
    let csv = csvText(header, rows)
    guard !ok.isEmpty else {
      return Plot(
        name: name, title: title, caption: caption, csv: csv, script: nil,
        note: "No ok trial with a latency: nothing to plot.")
    }
    let maxSize = max(ok.compactMap(\.sizeBytes).map { Double($0) / 1024 }.max() ?? 1, 1e-9)
    var g = GnuplotScript(name: name, title: title)
    g.add("set xlabel 'model latency (µs)'")
    g.add("set ylabel \(gq(metric))")
    let lat = ok.compactMap(\.latencySeconds)
    if let lo = lat.min(), let hi = lat.max(), lo > 0, hi / lo > 20 {
      g.add("set logscale x")
      g.add("set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05")
    } else {
      g.add("set xrange [0:*]")
      g.add("set offsets 0, graph 0.05, graph 0.05, graph 0.05")
    }
    g.add("size(kib) = 0.8 + 2.2 * sqrt(kib / \(num(maxSize)))")
    let k = onFront.count
    var elements = [
      "'\(name).csv' skip 1 using 7:10:8:9 with xerrorbars lc rgb '#999999' pt -1 notitle",
      "'' skip 1 using 7:10:(size($11)) with points pt 6 ps variable lc rgb '#1f77b4' title 'trial (area ∝ weights size)'",
    ]
    if k > 0 {
      elements += [
        "'' skip 1 every ::0::\(k - 1) using 7:10 with lines lw 2 lc rgb '#d62728' title 'accuracy-latency front'"
      ]
    }
    if !front.isEmpty {
      elements += [
        "'' skip 1 using 7:($12 > 0 ? $10 : 1/0):(size($11)) with points pt 7 ps variable lc rgb '#d62728' title 'Pareto front'",
        "'' skip 1 using 7:($12 > 0 ? $10 : 1/0):2 with labels offset char 1,0.8 left font ',9' notitle",
      ]
    }
    g.plot(elements)
    return Plot(name: name, title: title, caption: caption, csv: csv, script: g.text)
  }

  // MARK: - Accuracy vs compression

  func accuracyPlot() -> Plot {
    let name = "accuracy-vs-compression"
    let bpc = usesBitsPerCharacter
    let metric = bpc ? "test bits per character" : "test accuracy"
    let title = "\(bpc ? "Bits per character" : "Accuracy") vs compression per method"
    let caption =
      "Mean \(metric) over seeds (error bars: sample standard deviation) against the nominal "
      + "compression rate (weights / kept weights of each pruned layer), one line per method (and "
      + "block shape, when a method ran several). The dashed line is the dense baseline's mean."
    let groups = configGroups()
    let several = methodsWithSeveralBlocks(groups)
    func quality(_ g: ConfigGroup) -> MeanSD? { bpc ? g.bitsPerCharacter : g.accuracy }
    let header = [
      "series", "series_name", "method", "block", "rate", "n", "mean", "sd", "achieved_rate_mean",
    ]
    var rows: [[String]] = []
    var series: [(name: String, first: Int, last: Int, sd: Bool)] = []
    var seriesIndex: [String: Int] = [:]
    for g in groups where !g.isDense {
      guard let q = quality(g) else { continue }
      let label = g.label(withBlock: several.contains(g.method))
      if seriesIndex[label] == nil {
        seriesIndex[label] = series.count
        series.append((label, rows.count, rows.count, false))
      }
      let s = seriesIndex[label]!
      series[s].last = rows.count
      if q.sd != nil { series[s].sd = true }
      rows.append([
        "\(s)", label, g.method, g.block?.description ?? "", g.rate.formatted(), "\(q.n)",
        num(q.mean), num(q.sd), num(g.achievedRate?.mean),
      ])
    }
    let dense = groups.first(where: \.isDense).flatMap(quality)
    if let dense, let g = groups.first(where: \.isDense) {
      rows.append([
        "-1", "dense", "dense", "", "1", "\(dense.n)", num(dense.mean), num(dense.sd),
        num(g.achievedRate?.mean),
      ])
    }
    let csv = csvText(header, rows)
    guard !series.isEmpty else {
      return Plot(
        name: name, title: title, caption: caption, csv: csv, script: nil,
        note: "No ok pruned trial: nothing to plot.")
    }
    var g = GnuplotScript(name: name, title: title)
    g.add("set xlabel 'compression rate (×, log scale)'")
    g.add("set ylabel \(gq(metric))")
    g.add("set logscale x 2")
    let rates = groups.filter { !$0.isDense }.map(\.rate)
    g.add("set xrange [\(num((rates.min() ?? 1) / 1.4)):\(num((rates.max() ?? 2) * 1.4))]")
    g.add("set offsets 0, 0, graph 0.05, graph 0.05")
    var elements: [String] = []
    for (i, s) in series.enumerated() {
      // Lines and error bars apart: a configuration of one seed has no sd (an empty field),
      // and gnuplot drops a row whose used column is empty.
      elements.append(
        "'\(name).csv' skip 1 every ::\(s.first)::\(s.last) using 5:7 with linespoints lw 2 pt 7 lc \(i + 1) title \(gq(s.name))"
      )
      if s.sd {
        elements.append(
          "'' skip 1 every ::\(s.first)::\(s.last) using 5:7:8 with yerrorbars pt -1 lc \(i + 1) notitle"
        )
      }
    }
    if let dense {
      elements.append(
        "\(num(dense.mean)) with lines dt 2 lw 2 lc rgb '#444444' title 'dense (mean)'")
    }
    g.plot(elements)
    return Plot(name: name, title: title, caption: caption, csv: csv, script: g.text)
  }

  // MARK: - Speedup vs compression

  func speedupPlot() -> Plot {
    let name = "speedup-vs-compression"
    let title = "Model speedup vs compression per block shape"
    let caption =
      "Mean over trials (methods and seeds) of the model speedup, dense latency / pruned latency "
      + "against the dense baseline of the same seed, per block shape; error bars are the sample "
      + "standard deviation. `n_significant` in the data counts the trials whose speedup the "
      + "interval test establishes (see the Trials table); the others read ≈1x there."
    struct Key: Hashable {
      var block: BlockShape
      var rate: Double
    }
    var cells: [Key: [(Double, Bool)]] = [:]
    for t in trials where t.status == .ok && t.config.kind == .pruned {
      guard let b = t.config.block, let r = t.config.rate, let s = speedupRatio(t),
        let d = dense(for: t)
      else { continue }
      cells[Key(block: b, rate: r), default: []].append(
        (s, speedupIsSignificant(dense: d, pruned: t) == true))
    }
    let keys = cells.keys.sorted { ($0.block, $0.rate) < ($1.block, $1.rate) }
    let header = ["series", "block", "rate", "n", "speedup_mean", "speedup_sd", "n_significant"]
    var rows: [[String]] = []
    var series: [(name: String, first: Int, last: Int, sd: Bool)] = []
    for k in keys {
      let v = cells[k]!
      let m = MeanSD(v.map(\.0))!
      if series.last?.name != k.block.description {
        series.append((k.block.description, rows.count, rows.count, false))
      }
      series[series.count - 1].last = rows.count
      if m.sd != nil { series[series.count - 1].sd = true }
      rows.append([
        "\(series.count - 1)", k.block.description, k.rate.formatted(), "\(m.n)", num(m.mean),
        num(m.sd), "\(v.filter(\.1).count)",
      ])
    }
    let csv = csvText(header, rows)
    guard !series.isEmpty else {
      return Plot(
        name: name, title: title, caption: caption, csv: csv, script: nil,
        note: "No pruned trial with a latency and a dense baseline of its seed: nothing to plot.")
    }
    var g = GnuplotScript(name: name, title: title)
    g.add("set xlabel 'compression rate (×, log scale)'")
    g.add("set ylabel 'speedup over dense (×)'")
    g.add("set logscale x 2")
    let rates = keys.map(\.rate)
    g.add("set xrange [\(num((rates.min() ?? 1) / 1.4)):\(num((rates.max() ?? 2) * 1.4))]")
    g.add("set offsets 0, 0, graph 0.05, graph 0.05")
    var elements: [String] = []
    for (i, s) in series.enumerated() {
      elements.append(
        "'\(name).csv' skip 1 every ::\(s.first)::\(s.last) using 3:5 with linespoints lw 2 pt 7 lc \(i + 1) title \(gq(s.name))"
      )
      if s.sd {
        elements.append(
          "'' skip 1 every ::\(s.first)::\(s.last) using 3:5:6 with yerrorbars pt -1 lc \(i + 1) notitle"
        )
      }
    }
    elements.append("1 with lines dt 2 lw 2 lc rgb '#444444' title 'dense (1×)'")
    g.plot(elements)
    return Plot(name: name, title: title, caption: caption, csv: csv, script: g.text)
  }

  // MARK: - Per-layer latency of the front

  func layerLatencyPlot() -> Plot {
    let name = "layer-latency"
    let title = "Per-layer latency of the Pareto-front configurations"
    let caption =
      "Stacked per-layer latency (µs, median per call of each layer's best verified variant at "
      + "batch \(manifest.suite.latency.batch)) of the dense baseline and of every trial on the "
      + "Pareto front, sorted by latency. The stack is the model latency of the Trials table."
    let front = frontIDs
    var chosen = trials.filter { front.contains($0.trialID) && !$0.layers.isEmpty }
    if let d = trials.first(where: {
      $0.config.kind == .dense && $0.status == .ok && !$0.layers.isEmpty
    }),
      !chosen.contains(where: { $0.trialID == d.trialID })
    {
      chosen.append(d)
    }
    chosen.sort {
      ($0.latencySeconds ?? .infinity, $0.trialID) < ($1.latencySeconds ?? .infinity, $1.trialID)
    }
    var layerNames: [String] = []
    for t in chosen {
      for l in t.layers where !layerNames.contains(l.layer) { layerNames.append(l.layer) }
    }
    let header = ["label", "trial_id"] + layerNames.map { "\($0)_us" }
    let rows = chosen.map { t -> [String] in
      ["\(t.config.label) s\(t.config.seed)", t.trialID]
        + layerNames.map { n in
          num(t.layers.first { $0.layer == n }?.bestMedianSeconds.map { $0 * 1e6 })
        }
    }
    let csv = csvText(header, rows)
    guard !chosen.isEmpty, !layerNames.isEmpty else {
      return Plot(
        name: name, title: title, caption: caption, csv: csv, script: nil,
        note: "No trial with measured layers: nothing to plot.")
    }
    var g = GnuplotScript(
      name: name, title: title, width: 800, height: max(420, 300 + 18 * layerNames.count))
    g.add("set ylabel 'latency (µs)'")
    g.add("set style data histograms")
    g.add("set style histogram rowstacked")
    g.add("set style fill solid 0.85 border -1")
    g.add("set boxwidth 0.7")
    g.add("set xtics rotate by -30 left")
    g.add("set yrange [0:*]")
    var elements: [String] = []
    for (i, l) in layerNames.enumerated() {
      let using = i == 0 ? "using 3:xtic(1)" : "using \(i + 3)"
      elements.append(
        (i == 0 ? "'\(name).csv'" : "''") + " skip 1 \(using) lc \(i + 1) title \(gq(l))")
    }
    g.plot(elements)
    return Plot(name: name, title: title, caption: caption, csv: csv, script: g.text)
  }

  // MARK: - Counters per kernel variant

  /// Derived metrics (IPC, misses per 1k instructions, GFLOP/s) of one measured variant, from
  /// its per-call counters, its median and the multiply-adds of one call.
  static func derivedMetrics(_ r: RunResult) -> [String: Double] {
    guard let median = r.medianSeconds, median > 0 else { return [:] }
    let calls = Double(max(r.callsCounted, 1))
    var counters: [String: Double] = [:]
    for c in r.counters where c.available {
      if let v = c.value { counters[c.name] = Double(v) / calls }
    }
    return DerivedMetrics.compute(
      counters: counters, macs: Double(r.macsPerCall ?? 0), seconds: median, bytesMoved: nil)
  }

  /// The counter metrics a breakdown plots, in this order, when measured.
  static let counterMetrics: [(key: String, label: String)] = [
    ("ipc", "IPC"), ("l1_mpki", "L1D misses/1k ins"), ("l2_mpki", "L2 misses/1k ins"),
    ("l3_mpki", "L3 misses/1k ins"), ("branch_mpki", "branch mispredictions/1k ins"),
  ]

  func counterPlot() -> Plot {
    let name = "counters"
    let title = "Counters per kernel variant"
    let caption =
      "Every measured kernel variant of the run (all batches): instructions per cycle and misses "
      + "per 1000 instructions (PAPI, per call: counter ÷ calls counted) against the variant's "
      + "median time per call. Filled markers are the variants chosen as a layer's best."
    // Which layers (trial label/layer) use each workload, and which variants were chosen.
    var users: [String: [String]] = [:]
    var best: Set<String> = []
    for t in trials {
      for l in t.layers {
        let u = "\(t.config.label) s\(t.config.seed)/\(l.layer)"
        if !(users[l.workloadID] ?? []).contains(u) { users[l.workloadID, default: []].append(u) }
        if let b = l.bestVariantID { best.insert(b) }
      }
    }
    let measured = kernels.values.filter { $0.outcome == .measured && $0.medianSeconds != nil }
      .sorted { $0.variantID < $1.variantID }
    let derived = measured.map { Self.derivedMetrics($0) }
    let present = Self.counterMetrics.filter { m in derived.contains { $0[m.key] != nil } }
    let header =
      [
        "variant_id", "used_by", "format", "rows", "cols", "block", "kept", "batch", "unroll",
        "n_tile", "isa", "median_us", "best",
      ] + Self.counterMetrics.map(\.key) + ["gflops"]
    var rows: [[String]] = []
    for (r, d) in zip(measured, derived) {
      let w = r.variant.workload
      rows.append(
        [
          r.variantID, (users[w.id] ?? []).joined(separator: "; "), w.format.rawValue,
          "\(w.rows)", "\(w.cols)", "\(w.blockRows)x\(w.blockCols)", "\(w.kept)",
          "\(r.variant.knobs.batch)", "\(r.variant.knobs.unroll)", "\(r.variant.knobs.nTile)",
          r.variant.knobs.isa.rawValue, num(r.medianSeconds.map { $0 * 1e6 }),
          best.contains(r.variantID) ? "1" : "0",
        ] + Self.counterMetrics.map { num(d[$0.key]) } + [num(d["gflops"])])
    }
    let csv = csvText(header, rows)
    guard !measured.isEmpty else {
      return Plot(
        name: name, title: title, caption: caption, csv: csv, script: nil,
        note: kernels.isEmpty
          ? "The report was written without the run's kernel records: no per-variant counters."
          : "No measured kernel variant: nothing to plot.")
    }
    guard !present.isEmpty else {
      return Plot(
        name: name, title: title, caption: caption, csv: csv, script: nil,
        note: "No hardware counters were readable on this machine (\(hardwareCounterReason())), "
          + "so IPC and misses per 1000 instructions cannot be computed and there is no counter "
          + "plot. The per-variant times and GFLOP/s are in counters.csv; the Counters table lists "
          + "the events that could be read (software events, the SDE MAC counter, and cachegrind's "
          + "simulated misses when the suite asks for them).")
    }
    let hasIPC = present.contains { $0.key == "ipc" }
    let misses = present.filter { $0.key != "ipc" }
    var g = GnuplotScript(
      name: name, title: title, width: 800, height: hasIPC && !misses.isEmpty ? 720 : 420)
    let column: [String: Int] = Dictionary(
      uniqueKeysWithValues: header.enumerated().map { ($0.element, $0.offset + 1) })
    let x = column["median_us"]!
    let b = column["best"]!
    g.add("set xlabel 'median time per call (µs, log scale)'")
    g.add("set logscale x")
    if hasIPC && !misses.isEmpty { g.add("set multiplot layout 2,1 title \(gq(title))") }
    if hasIPC {
      g.add("set title 'Instructions per cycle'")
      g.add("set ylabel 'IPC'")
      let c = column["ipc"]!
      g.plot([
        "'\(name).csv' skip 1 using \(x):($\(b)==0 ? $\(c) : 1/0) with points pt 6 lc 1 title 'variant'",
        "'' skip 1 using \(x):($\(b)==1 ? $\(c) : 1/0) with points pt 7 ps 1.3 lc 1 title 'best of a layer'",
      ])
    }
    if !misses.isEmpty {
      g.add("set title 'Misses per 1000 instructions'")
      g.add("set ylabel 'misses / 1k instructions'")
      var elements: [String] = []
      for (i, m) in misses.enumerated() {
        let c = column[m.key]!
        elements.append(
          (i == 0 ? "'\(name).csv'" : "''")
            + " skip 1 using \(x):\(c) with points pt 6 lc \(i + 2) title \(gq(m.label))")
        elements.append(
          "'' skip 1 using \(x):($\(b)==1 ? $\(c) : 1/0) with points pt 7 ps 1.3 lc \(i + 2) notitle"
        )
      }
      g.plot(elements)
    }
    if hasIPC && !misses.isEmpty { g.add("unset multiplot") }
    return Plot(name: name, title: title, caption: caption, csv: csv, script: g.text)
  }

  /// Why this run has no hardware counters, from its environment.
  func hardwareCounterReason() -> String {
    let env = manifest.environment
    var parts: [String] = []
    if let presets = env.papiAvailablePresets, presets.isEmpty {
      parts.append("papi_avail lists no available preset")
    } else if env.papiAvailablePresets != nil && env.papiHardwareCounters == nil {
      parts.append("papi_avail reports no hardware counters")
    }
    for name in ["PAPI_TOT_CYC", "PAPI_TOT_INS"] {
      let e =
        env.events.first(where: { $0.name == name })
        ?? env.eventsLeftOut?.first(where: { $0.name == name })
      if let e, !e.available { parts.append("\(name): \(e.reason ?? "unavailable")") }
    }
    if env.papiVersion == nil { parts.append("PAPI not available") }
    if parts.isEmpty { parts.append("no cycle or instruction counter among the events measured") }
    return parts.joined(separator: "; ")
  }

  // MARK: - Group-norm histograms

  /// One plot per method: the histograms of its highest-rate trial (lowest seed), one panel per
  /// pruned layer, before regularization and right before the hard prune.
  func normHistogramPlots() -> [Plot] {
    let withHistograms = trials.filter {
      $0.status == .ok && $0.config.kind == .pruned && !($0.normHistograms ?? []).isEmpty
    }
    let caption =
      "Group norms (log10 of each group's L2 norm) of every pruned layer before the regularization "
      + "phase and right before the hard prune, for the method's highest-rate trial. Exact zeros "
      + "and norms below the first bin are counted apart (panel titles)."
    guard !withHistograms.isEmpty else {
      return [
        Plot(
          name: "norm-histograms", title: "Group-norm histograms", caption: caption,
          csv: csvText(Self.histogramHeader, []), script: nil,
          note: "No trial recorded group-norm histograms: nothing to plot.")
      ]
    }
    let order = methodOrder
    let methods = Array(Set(withHistograms.map(\.config.methodName))).sorted {
      (order.firstIndex(of: $0) ?? order.count, $0) < (order.firstIndex(of: $1) ?? order.count, $1)
    }
    return methods.map { method in
      let t = withHistograms.filter { $0.config.methodName == method }.sorted {
        ($1.config.rate ?? 0, $0.config.seed, $0.trialID) < (
          $0.config.rate ?? 0, $1.config.seed, $1.trialID
        )
      }[0]
      return normHistogramPlot(t, name: "norm-histograms-\(fileStem(method))", caption: caption)
    }
  }

  static let histogramHeader = [
    "layer", "phase", "log10_low", "log10_high", "log10_mid", "count", "zeros", "below_range",
  ]

  func normHistogramPlot(_ t: TrialRecord, name: String, caption: String) -> Plot {
    let title = "Group norms: \(t.config.label) seed \(t.config.seed)"
    let hs = t.normHistograms ?? []
    var rows: [[String]] = []
    var ranges:
      [(layer: String, before: (Int, Int), after: (Int, Int), zeros: (Int, Int), below: (Int, Int))] =
        []
    func add(_ layer: String, _ phase: String, _ h: GroupNormHistogram) -> (Int, Int) {
      let first = rows.count
      for i in h.counts.indices {
        let lo = h.log10Edges[i]
        let hi = h.log10Edges[i + 1]
        rows.append([
          layer, phase, num(lo), num(hi), num((lo + hi) / 2), "\(h.counts[i])", "\(h.zeros)",
          "\(h.belowRange)",
        ])
      }
      return (first, rows.count - 1)
    }
    for h in hs {
      let b = add(h.layer, "before", h.before)
      let a = add(h.layer, "after", h.after)
      ranges.append(
        (h.layer, b, a, (h.before.zeros, h.after.zeros), (h.before.belowRange, h.after.belowRange)))
    }
    let csv = csvText(Self.histogramHeader, rows)
    let cols = min(ranges.count, 2)
    let gridRows = (ranges.count + cols - 1) / max(cols, 1)
    var g = GnuplotScript(
      name: name, title: title, width: cols == 1 ? 640 : 900, height: max(360, 300 * gridRows))
    g.add("set style fill transparent solid 0.45 noborder")
    g.add("set key inside top left")
    g.add("set multiplot layout \(gridRows),\(cols) title \(gq(title))")
    for r in ranges {
      g.add(
        "set title \(gq("\(r.layer) (zeros \(r.zeros.0) → \(r.zeros.1); below range \(r.below.0) → \(r.below.1))"))"
      )
      g.add("set xlabel 'log10 group norm'")
      g.add("set ylabel 'groups'")
      g.plot([
        "'\(name).csv' skip 1 every ::\(r.before.0)::\(r.before.1) using 5:6:($4-$3) with boxes lc rgb '#1f77b4' title 'before regularization'",
        "'' skip 1 every ::\(r.after.0)::\(r.after.1) using 5:6:($4-$3) with boxes lc rgb '#d62728' title 'before the hard prune'",
      ])
    }
    g.add("unset multiplot")
    let ok = ranges.contains { $0.before.1 >= $0.before.0 || $0.after.1 >= $0.after.0 }
    return Plot(
      name: name, title: title, caption: caption, csv: csv, script: ok ? g.text : nil,
      note: ok ? nil : "The histograms have no bins: nothing to plot.")
  }
}
