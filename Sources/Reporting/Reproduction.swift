import Foundation
import TuningSchema

/// What `blkrew reproduce` writes for a run: the paper-style table and the paper's claims checked
/// one by one, as Markdown and as LaTeX.
public struct Reproduction: Sendable {
  public var table: PaperTable
  public var claims: [ClaimCheck]
  var suiteName: String
  var runID: String
  var suitePath: String

  public init(_ report: RunReport) {
    table = PaperTable(report)
    claims = PaperClaims.check(report)
    suiteName = report.manifest.suite.name
    runID = report.manifest.runID
    suitePath = report.manifest.suitePath
  }

  public func document() -> Document {
    var doc = Document(title: "Reproduction: \(suiteName)")
    doc.paragraph(
      "Run `\(runID)` of suite `\(suitePath)`; the full report (every trial, per-layer latency, "
        + "counters, environment and plots) is `report.html` / `report.md` beside this file, the "
        + "LaTeX of this table `reproduce.tex`.")
    doc.heading("Table")
    table.add(to: &doc)
    doc.heading("The paper's claims")
    PaperClaims.add(claims, to: &doc)
    return doc
  }

  public func latex() -> String {
    "% blkrew reproduce: suite \(suiteName), run \(runID). Needs \\usepackage{booktabs}.\n"
      + table.latex() + "\n\\paragraph{The paper's claims, checked on this run}\n"
      + PaperClaims.latex(claims)
  }

  /// One line per claim: `(a-admm) holds: …`.
  public var summaryLines: [String] {
    claims.map { "(\($0.id)) \($0.claim): \($0.verdict.rawValue)" }
  }
}
