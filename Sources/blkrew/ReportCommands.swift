import ArgumentParser
import Driver
import Foundation
import TuningSchema

struct Report: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Write the report of a run (Pareto front, trials, per-layer latency, counters, plots, environment).",
    discussion: """
      html and md carry the same content; the HTML is self-contained (plots inlined as SVG). The \
      plots are drawn by gnuplot (Debian gnuplot-nox) into plots/ beside the report, each with its \
      data as CSV and its gnuplot script; without gnuplot the report is still written and says the \
      plots were skipped. csv writes report.csv (one row per trial), layers.csv and kernels.csv \
      (every measurement); json everything, raw samples included; latex a booktabs table in the \
      paper's layout (report.tex). Prints the paths written; the last line is the Markdown report \
      when md is among the formats. Exit 66 when a run directory does not exist, 65 when its \
      run.json cannot be read.
      """)

  @Argument(help: "Run directories (results/<suite>/<run>).") var runDirs: [String]
  @Option(
    name: .customLong("format"), parsing: .upToNextOption,
    help: "md, html, csv, json, latex (default: html md).")
  var formats: [String] = ["html", "md"]
  @Option(help: "Output directory (default: reports/<suite>/<run>).") var out: String?

  func validate() throws {
    for f in formats where ReportWriter.Format(rawValue: f) == nil {
      throw ValidationError("unknown format '\(f)' (use md, html, csv, json or latex)")
    }
    if runDirs.count > 1 && out != nil { throw ValidationError("--out takes one run directory") }
  }

  func run() throws {
    try guarded {
      for dir in runDirs {
        let paths = try ReportWriter.write(
          runPath: dir, formats: formats.compactMap(ReportWriter.Format.init(rawValue:)),
          outDir: out)
        // The Markdown report prints last, so `| tail -n 1` gives its path.
        for p in paths.filter({ !$0.hasSuffix(".md") }) + paths.filter({ $0.hasSuffix(".md") }) {
          print(p)
        }
      }
    }
  }
}

struct Compare: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Compare two runs of one suite (e.g. before and after a compiler upgrade).",
    discussion: """
      Trials are matched by configuration without the trainer version, kernels by workload \
      (shape, format, blocks, mask hash), knobs and target — not by compiler, flags or generator \
      version. Kernel differences are tested on the raw samples (two-sided Mann–Whitney, alpha \
      0.01, the candidate run's noise floor as the smallest real effect), trial latencies with \
      the report's conservative intervals; accuracy differences are shown. Prints a Markdown \
      side-by-side (or JSON); the last line says whether there is a regression. Exit 2 when a \
      matched kernel or trial is slower by the test and by more than --threshold percent (or was \
      ok in the base and is not in the candidate), 0 otherwise; 66 when a run directory does not \
      exist, 65 when its run.json cannot be read, 64 for runs of different suites (unless --force).
      """)

  @Argument(help: "The base run directory (results/<suite>/<run>).") var baseRun: String
  @Argument(help: "The candidate run directory.") var candidateRun: String
  @Option(help: "Slowdown in percent beyond which a slower kernel or trial is a regression.")
  var threshold: Double = 5
  @Flag(help: "Print JSON instead of Markdown.") var json = false
  @Flag(help: "Compare runs of different suites.") var force = false

  func validate() throws {
    guard threshold >= 0, threshold.isFinite else {
      throw ValidationError("--threshold must be a percentage >= 0")
    }
  }

  func run() throws {
    let comparison = try guarded {
      var job = CompareJob(basePath: baseRun, candidatePath: candidateRun)
      job.thresholdPercent = threshold
      job.force = force
      return try job.run()
    }
    if json {
      print(String(decoding: try RecordCoding.encoder().encode(comparison), as: UTF8.self))
    } else {
      print(comparison.markdown(), terminator: "")
    }
    if comparison.hasRegression { throw ExitCode(2) }
  }
}

struct Reproduce: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Run a suite (suites/paper/*.yaml) and write the paper-style tables with the paper's claims checked.",
    discussion: """
      Runs the suite like `sweep run` (rerunning resumes the same run), then writes the report \
      (html, md, latex) and reproduce.md / reproduce.tex under reports/<suite>/<run>: the table \
      (model, method, compression, accuracy mean ± sd across seeds, latency, speedup) and each of \
      the paper's qualitative claims — (a) block-column BLK-REW loses less accuracy than group \
      lasso and than ADMM at the same rate, (b) BLK-REW at 8x and above stays within 1 point of \
      dense, (c) the block-sparse speedup grows with the rate, (d) larger blocks are faster at the \
      same rate but less accurate — as holds, does not hold or not testable in this run, with the \
      numbers. Prints one line per claim; the last line is the path of reproduce.md. Exit codes as \
      for `sweep run` (a claim that does not hold is a finding, exit 0).
      """)

  @Argument(help: "The suite file (suites/paper/*.yaml).") var suite: String
  @Option(help: "Where runs are stored.") var results: String = "results"
  @Flag(help: "Start a new run instead of resuming the suite's run.") var fresh = false
  @Option(help: "Trials run at once, each in its own process (default: the number of cores).")
  var workers: Int?
  @Option(help: "Output directory (default: reports/<suite>/<run>).") var out: String?

  func validate() throws {
    guard (workers ?? 1) >= 1 else { throw ValidationError("--workers must be at least 1") }
  }

  func run() throws {
    try guarded {
      var job = ReproduceJob(suitePath: suite)
      job.resultsDir = results
      job.fresh = fresh
      if let workers { job.workers = workers }
      job.outDir = out
      let outcome = try job.run()
      if outcome.summary.interrupted { throw ExitCode(130) }  // rerun the same command to resume
      for line in outcome.reproduction?.summaryLines ?? [] { print(line) }
      for p in outcome.paths.filter({ !$0.hasSuffix("reproduce.md") }) {
        FileHandle.standardError.write(Data("blkrew: wrote \(p)\n".utf8))
      }
      if let md = outcome.paths.last { print(md) }
    }
  }
}
