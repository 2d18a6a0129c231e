import Foundation
import Reporting
import TuningSchema

/// `blkrew reproduce SUITE`: runs the suite with the sweep (`SweepRunner`, so a rerun resumes
/// the same run), then writes its report (html, md, LaTeX) and `reproduce.md` / `reproduce.tex`:
/// the paper-style table and the paper's claims checked on it.
public struct ReproduceJob {
  public var suitePath: String
  public var resultsDir: String = "results"
  public var fresh = false
  public var workers: Int = ProcessInfo.processInfo.activeProcessorCount
  /// Where the tables go (default: `reports/<suite>/<run>`).
  public var outDir: String?

  public init(suitePath: String) { self.suitePath = suitePath }

  public struct Outcome: Sendable {
    public var summary: SweepRunner.Summary
    /// The files written (reports, then reproduce.tex, then reproduce.md); empty when the sweep
    /// was interrupted.
    public var paths: [String]
    public var reproduction: Reproduction?
  }

  public func run() throws -> Outcome {
    var runner = SweepRunner(suitePath: suitePath, resultsDir: resultsDir, fresh: fresh)
    runner.workers = max(1, workers)
    let summary = try runner.run()
    if summary.interrupted { return Outcome(summary: summary, paths: [], reproduction: nil) }
    if summary.ok == 0 {
      throw DriverError.failed("no trial succeeded; see \(summary.runDirectory)/logs")
    }
    let report = try ReportWriter.load(runPath: summary.runDirectory)
    let out = outDir ?? ReportWriter.defaultOutput(for: summary.runDirectory)
    var paths = try ReportWriter.write(report, formats: [.html, .md, .latex], to: out)
    let reproduction = Reproduction(report)
    try ReportWriter.save(Data(reproduction.latex().utf8), to: "\(out)/reproduce.tex")
    try ReportWriter.save(
      Data(reproduction.document().markdown().utf8), to: "\(out)/reproduce.md")
    paths += ["\(out)/reproduce.tex", "\(out)/reproduce.md"]
    return Outcome(summary: summary, paths: paths, reproduction: reproduction)
  }
}
