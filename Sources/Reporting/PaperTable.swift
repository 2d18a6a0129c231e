import Analysis
import Foundation
import TuningSchema

/// The run as the paper's tables lay it out: one row per configuration over its seeds — model,
/// method, compression, accuracy (mean ± sd), latency (mean ± sd) and speedup over dense —
/// rendered as a booktabs LaTeX table or as a Markdown table.
public struct PaperTable: Sendable {
  public struct Row: Sendable {
    public var model: String
    public var method: String
    public var block: BlockShape?
    /// The nominal rate of the pruned layers (1 for dense).
    public var rate: Double
    /// The whole model's weights / kept weights (dense layers included), over seeds.
    public var achievedRate: MeanSD?
    /// Test accuracy (fraction) or bits per character, over seeds.
    public var quality: MeanSD?
    public var latency: MeanSD?
    /// Per-seed `dense latency / latency`, over seeds.
    public var speedup: MeanSD?
    /// Seeds whose speedup the interval test establishes, and seeds tested.
    public var significantSeeds: Int
    public var testedSeeds: Int
    public var isDense: Bool
  }

  public var rows: [Row]
  public var modelName: String
  public var datasetName: String
  public var bitsPerCharacter: Bool
  public var batch: Int
  public var threads: Int
  public var suiteName: String
  public var runID: String
  /// Methods whose rows carry their block shape (several block shapes in the run).
  public var blockInMethod: Set<String>

  public init(_ report: RunReport) {
    let suite = report.manifest.suite
    let groups = report.configGroups()
    bitsPerCharacter = report.usesBitsPerCharacter
    modelName = Self.displayModel(suite.model, width: suite.width)
    datasetName = suite.dataset
    batch = suite.latency.batch
    threads = suite.latency.threads
    suiteName = suite.name
    runID = report.manifest.runID
    blockInMethod = report.methodsWithSeveralBlocks(groups)
    let bpc = bitsPerCharacter
    let modelName = self.modelName
    rows = groups.map { g in
      var significant = 0
      var tested = 0
      var ratios: [Double] = []
      if !g.isDense {
        for t in g.trials {
          guard let r = report.speedupRatio(t), let d = report.dense(for: t) else { continue }
          ratios.append(r)
          if let s = report.speedupIsSignificant(dense: d, pruned: t) {
            tested += 1
            if s { significant += 1 }
          }
        }
      }
      return Row(
        model: modelName, method: g.method, block: g.block, rate: g.rate,
        achievedRate: g.achievedRate, quality: bpc ? g.bitsPerCharacter : g.accuracy,
        latency: g.latency, speedup: g.isDense ? MeanSD([1]) : MeanSD(ratios),
        significantSeeds: significant, testedSeeds: tested, isDense: g.isDense)
    }
  }

  /// The paper's names for blkrew's models.
  static func displayModel(_ model: String, width: Double?) -> String {
    let names = [
      "mlp": "MLP", "lenet5": "LeNet-5", "vgg11": "VGG-11", "vgg16": "VGG-16",
      "resnet20": "ResNet-20", "gru": "GRU", "lstm": "LSTM", "char-gru": "char-GRU",
    ]
    let base = names[model] ?? model
    guard let width, width != 1 else { return base }
    return base + " (width \(width.formatted()))"
  }

  /// The paper's names for the methods of `suites/paper/methods.inc.yaml`; others as recorded.
  static func displayMethod(_ method: String) -> String {
    [
      "dense": "Dense", "blk-rew": "BLK-REW", "group-lasso": "Group lasso", "admm": "ADMM",
      "unstructured": "Unstructured", "whole-column": "Whole-column", "none": "Magnitude",
    ][method] ?? method
  }

  func methodText(_ r: Row) -> String {
    let name = Self.displayMethod(r.method)
    guard blockInMethod.contains(r.method), let b = r.block else { return name }
    return "\(name) \(b.description.replacingOccurrences(of: "x", with: "×"))"
  }

  /// Latency unit for the whole table: µs, or ms when some latency reaches 10 ms.
  var latencyUnit: (name: String, latex: String, scale: Double) {
    let worst = rows.compactMap { $0.latency?.mean }.max() ?? 0
    return worst >= 0.01 ? ("ms", "ms", 1e3) : ("µs", "$\\mu$s", 1e6)
  }

  var qualityHeader: (md: String, latex: String) {
    bitsPerCharacter
      ? ("bits/char ↓", "Bits/char $\\downarrow$") : ("accuracy (%)", "Accuracy (\\%)")
  }

  func qualityText(_ q: MeanSD?, pm: String) -> String {
    guard let q else { return "—" }
    return bitsPerCharacter ? q.text("%.3f", pm: pm) : q.text("%.2f", scale: 100, pm: pm)
  }

  func compressionText(_ r: Row, times: String) -> String {
    if r.isDense { return "1\(times)" }
    let nominal = "\(r.rate.formatted())\(times)"
    guard let a = r.achievedRate else { return nominal }
    return nominal + " (" + String(format: "%.2f", a.mean) + "\(times))"
  }

  /// The speedup cell: the mean ratio when every tested seed's speedup is established, `≈1`
  /// when none is, the ratio with a dagger when some are; `(untested)` without intervals.
  func speedupText(_ r: Row, times: String, dagger: String) -> String {
    guard let s = r.speedup else { return "—" }
    let ratio = String(format: "%.2f", s.mean) + times
    if r.isDense { return ratio }
    if r.testedSeeds == 0 { return ratio + " (untested)" }
    if r.significantSeeds == 0 { return "≈1\(times) (n.s.)" }
    return r.significantSeeds == r.testedSeeds ? ratio : ratio + dagger
  }

  var seedCounts: [Int] { Array(Set(rows.compactMap { $0.quality?.n })).sorted() }

  var caption: String {
    let seeds = seedCounts
    let n = seeds.count == 1 ? "\(seeds[0]) seed\(seeds[0] == 1 ? "" : "s")" : "seeds"
    return
      "\(modelName) on \(datasetName): test \(bitsPerCharacter ? "bits per character" : "accuracy") "
      + "(mean ± sd over \(n)), model latency at batch \(batch) with \(threads) thread "
      + "(mean ± sd; the sum of each layer's best verified kernel, measured) and speedup over the "
      + "dense model of the same seed. Compression: the nominal rate of the pruned layers and, in "
      + "parentheses, the whole model's weights / kept weights."
  }

  // MARK: - LaTeX

  /// A booktabs table (needs `\usepackage{booktabs}`), deterministic.
  public func latex() -> String {
    let unit = latencyUnit
    var out = """
      % blkrew: paper-style table of run \(runID) (suite \(suiteName)); needs \\usepackage{booktabs}.
      \\begin{table}[t]
      \\centering
      \\caption{\(latexEscape(caption))}
      \\label{tab:blkrew-\(fileStem(suiteName))}
      \\begin{tabular}{llrrrr}
      \\toprule
      Model & Method & Compression & \(qualityHeader.latex) & Latency (\(unit.latex)) & Speedup \\\\
      \\midrule

      """
    var daggers = false
    for (i, r) in rows.enumerated() {
      let speed = speedupText(r, times: "$\\times$", dagger: "$^\\dagger$")
      if speed.hasSuffix("$^\\dagger$") { daggers = true }
      let cells = [
        i == 0 ? latexEscape(r.model) : "",
        latexEscape(methodText(r)),
        compressionText(r, times: "$\\times$"),
        qualityText(r.quality, pm: " $\\pm$ "),
        r.latency.map { $0.text("%.2f", scale: unit.scale, pm: " $\\pm$ ") } ?? "---",
        speed.replacingOccurrences(of: "≈", with: "$\\approx$"),
      ]
      out += cells.joined(separator: " & ") + " \\\\\n"
      if r.isDense && i + 1 < rows.count { out += "\\midrule\n" }
    }
    out += "\\bottomrule\n\\end{tabular}\n"
    if daggers {
      out +=
        "\\par\\smallskip{\\footnotesize $^\\dagger$ established (non-overlapping intervals, beyond the noise floor) for some seeds only.}\n"
    }
    out += "\\end{table}\n"
    return out
  }

  // MARK: - Markdown

  public var markdownHeader: [String] {
    [
      "model", "method", "compression", qualityHeader.md, "latency (\(latencyUnit.name))",
      "speedup",
    ]
  }

  public var markdownRows: [[String]] {
    let unit = latencyUnit
    return rows.enumerated().map { i, r in
      [
        i == 0 ? r.model : "", methodText(r), compressionText(r, times: "×"),
        qualityText(r.quality, pm: " ± "),
        r.latency.map { $0.text("%.2f", scale: unit.scale) } ?? "—",
        speedupText(r, times: "×", dagger: " †"),
      ]
    }
  }

  /// The table (with its caption) appended to a document.
  public func add(to doc: inout Document) {
    doc.paragraph(caption)
    doc.table(markdownHeader, markdownRows, alignRight: [2, 3, 4, 5])
    if markdownRows.contains(where: { $0[5].hasSuffix("†") }) {
      doc.paragraph(
        "† established (non-overlapping intervals, beyond the noise floor) for some seeds only.")
    }
  }
}

/// Text safe inside LaTeX: the special characters escaped, `±` `×` `≈` `µ` `→` as math.
func latexEscape(_ s: String) -> String {
  var out = ""
  for c in s {
    switch c {
    case "\\": out += "\\textbackslash{}"
    case "&", "%", "$", "#", "_", "{", "}": out += "\\\(c)"
    case "~": out += "\\textasciitilde{}"
    case "^": out += "\\textasciicircum{}"
    case "±": out += "$\\pm$"
    case "×": out += "$\\times$"
    case "≈": out += "$\\approx$"
    case "µ": out += "$\\mu$"
    case "→": out += "$\\to$"
    case "↓": out += "$\\downarrow$"
    case "↑": out += "$\\uparrow$"
    default: out.append(c)
    }
  }
  return out
}
