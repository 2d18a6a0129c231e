import Analysis
import Foundation
import TuningSchema

/// One of the paper's qualitative claims checked on a run: holds, does not hold, or cannot be
/// tested with the configurations the run has, with the numbers behind the verdict.
public struct ClaimCheck: Codable, Sendable, Hashable {
  public enum Verdict: String, Codable, Sendable, Hashable {
    case holds
    case doesNotHold = "does not hold"
    case notTestable = "not testable in this run"
  }
  /// `a-group-lasso`, `a-admm`, `b`, `c`, `d`.
  public var id: String
  public var claim: String
  public var verdict: Verdict
  /// The numbers: one line per comparison made (or what is missing).
  public var details: [String]
  public init(id: String, claim: String, verdict: Verdict, details: [String]) {
    self.id = id
    self.claim = claim
    self.verdict = verdict
    self.details = details
  }
}

/// The BLK-REW paper's qualitative claims (Ma et al., arXiv 2001.08357), checked on the means
/// across seeds of a run's configurations (the standard deviations are shown, not tested):
///
/// - (a) block-column BLK-REW loses less accuracy than fixed group lasso, and than ADMM block
///   pruning, at the same rate (and block shape): its mean accuracy is higher at every rate both
///   ran;
/// - (b) BLK-REW at 8x and above stays within 1 point (0.01) of the dense mean accuracy;
/// - (c) the model speedup of block-sparse kernels grows with the rate: along each method and
///   block shape (1x1, unstructured, excluded), no step to a higher rate loses more than the
///   machine's noise floor and the highest rate is faster than the lowest by more than it;
/// - (d) larger blocks are faster at the same rate but less accurate: ordering a method's block
///   shapes at one rate by block area (the resolved blocks averaged over the pruned layers; `*`
///   is the layer's dimension), each larger block's mean latency is lower by more than the noise
///   floor and its mean accuracy lower.
///
/// For a language model (bits per character, no accuracy) "accuracy" reads "bits per character,
/// lower is better", and (b), stated in accuracy points, is not testable.
public enum PaperClaims {
  public static func check(_ report: RunReport) -> [ClaimCheck] {
    let ctx = Context(report)
    return [
      ctx.beatsBaseline(id: "a-group-lasso", kind: .groupLasso, name: "group lasso"),
      ctx.beatsBaseline(id: "a-admm", kind: .admm, name: "ADMM"),
      ctx.withinOnePoint(),
      ctx.speedupGrows(),
      ctx.largerBlocks(),
    ]
  }

  /// The claims as a document section: a table of verdicts, then the numbers of each claim.
  public static func add(_ checks: [ClaimCheck], to doc: inout Document) {
    doc.paragraph(
      "Each claim is checked on the means across seeds (standard deviations shown, not tested); "
        + "latency comparisons use this run's noise floor between runner processes.")
    doc.table(
      ["claim", "verdict"], checks.map { ["(\($0.id)) \($0.claim)", "**\($0.verdict.rawValue)**"] })
    for c in checks {
      doc.paragraph("**(\(c.id))** \(c.claim) — **\(c.verdict.rawValue)**.")
      doc.bullets(c.details)
    }
  }

  /// The claims as a LaTeX itemize list.
  public static func latex(_ checks: [ClaimCheck]) -> String {
    var out = "\\begin{itemize}\n"
    for c in checks {
      out +=
        "\\item (\(latexEscape(c.id))) \(latexEscape(c.claim)): \\textbf{\(c.verdict.rawValue)}.\n"
      if !c.details.isEmpty {
        out += "  \\begin{itemize}\n"
        for d in c.details { out += "  \\item \(latexEscape(d))\n" }
        out += "  \\end{itemize}\n"
      }
    }
    return out + "\\end{itemize}\n"
  }

  struct Context {
    let report: RunReport
    let groups: [ConfigGroup]
    let bpc: Bool
    let noise: Double

    init(_ report: RunReport) {
      self.report = report
      groups = report.configGroups()
      bpc = report.usesBitsPerCharacter
      noise = report.noiseFloor
    }

    /// A method's place in the suite's order (for stable, readable output).
    func rank(_ method: String) -> Int {
      let order = report.methodOrder
      return order.firstIndex(of: method) ?? order.count
    }

    func quality(_ g: ConfigGroup) -> MeanSD? { bpc ? g.bitsPerCharacter : g.accuracy }
    /// `a` is better than `b` (accuracy higher; bits per character lower).
    func better(_ a: Double, _ b: Double) -> Bool { bpc ? a < b : a > b }
    func qText(_ m: MeanSD) -> String {
      bpc ? m.text("%.3f") + " bits/char" : m.text("%.2f", scale: 100) + " %"
    }
    /// The difference `a − b` in accuracy points (or bits per character).
    func delta(_ a: MeanSD, _ b: MeanSD) -> String {
      bpc
        ? String(format: "%+.3f bits/char", a.mean - b.mean)
        : String(format: "%+.2f points", (a.mean - b.mean) * 100)
    }
    func name(_ g: ConfigGroup) -> String {
      "\(PaperTable.displayMethod(g.method)) \(g.block?.description ?? "") R\(g.rate.formatted())"
    }
    func regularizer(_ g: ConfigGroup) -> RegularizerSpec.Kind? {
      g.trials.first?.config.regularizer?.kind
    }
    var blkrew: [ConfigGroup] {
      groups.filter {
        $0.method == "blk-rew" && $0.trials.first?.config.scheme == .blockColumn
      }
    }
    /// The model speedups of a configuration's seeds over their dense baselines.
    func speedup(_ g: ConfigGroup) -> MeanSD? {
      MeanSD(g.trials.compactMap { report.speedupRatio($0) })
    }

    // (a)
    func beatsBaseline(id: String, kind: RegularizerSpec.Kind, name other: String) -> ClaimCheck {
      let claim =
        "block-column BLK-REW loses less \(bpc ? "(bits per character)" : "accuracy") than \(other) at the same rate"
      let others = groups.filter { !$0.isDense && regularizer($0) == kind }
      var details: [String] = []
      var failures = 0
      for o in others {
        guard
          let b = blkrew.first(where: { $0.block == o.block && $0.rate == o.rate }),
          let qb = quality(b), let qo = quality(o)
        else { continue }
        let ok = better(qb.mean, qo.mean)
        if !ok { failures += 1 }
        details.append(
          "\(o.block?.description ?? "") R\(o.rate.formatted()): BLK-REW \(qText(qb)) vs \(other) "
            + "\(qText(qo)) (\(delta(qb, qo))): \(ok ? "less lost" : "not less lost")")
      }
      guard !details.isEmpty else {
        let why =
          blkrew.isEmpty
          ? "no block-column BLK-REW trial"
          : others.isEmpty ? "no \(other) trial" : "no rate and block shape both ran"
        return ClaimCheck(
          id: id, claim: claim, verdict: .notTestable,
          details: [why + " (methods in this run: \(methods))"])
      }
      return ClaimCheck(
        id: id, claim: claim, verdict: failures == 0 ? .holds : .doesNotHold, details: details)
    }

    var methods: String {
      Array(Set(groups.filter { !$0.isDense }.map(\.method))).sorted().joined(separator: ", ")
    }

    // (b)
    func withinOnePoint() -> ClaimCheck {
      let claim = "BLK-REW at 8x and above stays within 1 point of the dense accuracy"
      guard !bpc else {
        return ClaimCheck(
          id: "b", claim: claim, verdict: .notTestable,
          details: ["this run measures bits per character, not accuracy"])
      }
      guard let dense = groups.first(where: \.isDense), let qd = quality(dense) else {
        return ClaimCheck(
          id: "b", claim: claim, verdict: .notTestable, details: ["no ok dense baseline"])
      }
      let high = blkrew.filter { $0.rate >= 8 }
      var details: [String] = []
      var failures = 0
      for g in high {
        guard let q = quality(g) else { continue }
        let points = (q.mean - qd.mean) * 100
        let ok = points >= -1
        if !ok { failures += 1 }
        details.append(
          "\(name(g)): \(qText(q)) vs dense \(qText(qd)) (\(delta(q, qd))): \(ok ? "within 1 point" : "more than 1 point lost")"
        )
      }
      guard !details.isEmpty else {
        return ClaimCheck(
          id: "b", claim: claim, verdict: .notTestable,
          details: [
            "no block-column BLK-REW trial at rate 8 or more (rates in this run: "
              + Array(Set(groups.filter { !$0.isDense }.map(\.rate))).sorted().map {
                $0.formatted()
              }.joined(separator: ", ") + ")"
          ])
      }
      return ClaimCheck(
        id: "b", claim: claim, verdict: failures == 0 ? .holds : .doesNotHold, details: details)
    }

    // (c)
    func speedupGrows() -> ClaimCheck {
      let claim = "block-sparse latency speedup grows with the rate"
      struct Key: Hashable {
        var method: String
        var block: BlockShape
      }
      var series: [Key: [(rate: Double, s: MeanSD)]] = [:]
      for g in groups where !g.isDense {
        guard let b = g.block, !(b.rows == 1 && b.cols == 1),
          let s = speedup(g)
        else { continue }
        series[Key(method: g.method, block: b), default: []].append((g.rate, s))
      }
      let keys = series.keys.filter { series[$0]!.count >= 2 }.sorted {
        (rank($0.method), $0.method, $0.block) < (rank($1.method), $1.method, $1.block)
      }
      guard !keys.isEmpty else {
        return ClaimCheck(
          id: "c", claim: claim, verdict: .notTestable,
          details: [
            "needs one method and block shape at two rates or more, with latencies and a dense baseline"
          ])
      }
      var details: [String] = []
      var failures = 0
      for k in keys {
        let pts = series[k]!.sorted { $0.rate < $1.rate }
        var problems: [String] = []
        for (a, b) in zip(pts, pts.dropFirst()) where b.s.mean < a.s.mean * (1 - noise) {
          problems.append(
            "R\(a.rate.formatted()) → R\(b.rate.formatted()) drops by more than the noise floor")
        }
        if !(pts.last!.s.mean > pts.first!.s.mean * (1 + noise)) {
          problems.append(
            "R\(pts.last!.rate.formatted()) is not faster than R\(pts.first!.rate.formatted()) beyond the noise floor"
          )
        }
        if !problems.isEmpty { failures += 1 }
        details.append(
          "\(PaperTable.displayMethod(k.method)) \(k.block): "
            + pts.map { "R\($0.rate.formatted()) \($0.s.text("%.2f"))×" }.joined(separator: ", ")
            + (problems.isEmpty ? ": grows" : ": " + problems.joined(separator: "; ")))
      }
      details.append(String(format: "noise floor %.1f%%", noise * 100))
      return ClaimCheck(
        id: "c", claim: claim, verdict: failures == 0 ? .holds : .doesNotHold, details: details)
    }

    /// The mean area of a trial's resolved blocks over its pruned layers.
    func blockArea(_ g: ConfigGroup) -> Double? {
      guard let b = g.block, let t = g.trials.first else { return nil }
      let layers = t.kept.filter(\.pruned)
      guard !layers.isEmpty else {
        return b.rows > 0 && b.cols > 0 ? Double(b.rows * b.cols) : nil
      }
      let areas = layers.map { k -> Double in
        let r = b.resolved(rows: k.rows, cols: k.cols)
        return Double(r.rows * r.cols)
      }
      return areas.reduce(0, +) / Double(areas.count)
    }

    // (d)
    func largerBlocks() -> ClaimCheck {
      let claim = "larger blocks are faster at the same rate but less accurate"
      struct Key: Hashable {
        var method: String
        var rate: Double
      }
      var sets: [Key: [(g: ConfigGroup, area: Double)]] = [:]
      for g in groups where !g.isDense {
        guard let a = blockArea(g), g.latency != nil, quality(g) != nil else { continue }
        sets[Key(method: g.method, rate: g.rate), default: []].append((g, a))
      }
      let keys = sets.keys.filter { Set(sets[$0]!.map(\.area)).count >= 2 }.sorted {
        (rank($0.method), $0.method, $0.rate) < (rank($1.method), $1.method, $1.rate)
      }
      guard !keys.isEmpty else {
        return ClaimCheck(
          id: "d", claim: claim, verdict: .notTestable,
          details: [
            "needs one method at one rate with two block shapes or more (the block-shape suite)"
          ])
      }
      var details: [String] = []
      var failures = 0
      for k in keys {
        let pts = sets[k]!.sorted { ($0.area, $0.g.block!) < ($1.area, $1.g.block!) }
        details.append(
          "\(PaperTable.displayMethod(k.method)) R\(k.rate.formatted()), by block area: "
            + pts.map { p in
              "\(p.g.block!) (area \(String(format: "%.0f", p.area))): "
                + "\(fmtTime(p.g.latency!.mean)) ± \(fmtTime(p.g.latency!.sd ?? 0)), \(qText(quality(p.g)!))"
            }.joined(separator: "; "))
        for (a, b) in zip(pts, pts.dropFirst()) where b.area > a.area {
          let la = a.g.latency!.mean
          let lb = b.g.latency!.mean
          let faster = lb < la * (1 - noise)
          let lessAccurate = better(quality(a.g)!.mean, quality(b.g)!.mean)
          if !(faster && lessAccurate) { failures += 1 }
          details.append(
            "\(b.g.block!) vs \(a.g.block!): "
              + String(format: "%.2f× the speed", la / lb)
              + (faster ? " (faster)" : " (not faster beyond the noise floor)")
              + ", \(delta(quality(b.g)!, quality(a.g)!))"
              + (lessAccurate ? " (less accurate)" : " (not less accurate)"))
        }
      }
      details.append(String(format: "noise floor %.1f%%", noise * 100))
      return ClaimCheck(
        id: "d", claim: claim, verdict: failures == 0 ? .holds : .doesNotHold, details: details)
    }
  }
}
