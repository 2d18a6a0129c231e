import ChildProcesses
import Foundation
import Reporting
import ResultStore
import Search
import TuningSchema

/// Writes the reports of a run.
public enum ReportWriter {
  public enum Format: String, CaseIterable, Sendable { case md, html, csv, json, latex }

  /// The default report directory of a run: `reports/<suite>/<run id>` beside `results/`.
  public static func defaultOutput(for runPath: String) -> String {
    let parts = runPath.split(separator: "/")
    let tail = parts.suffix(2).joined(separator: "/")
    return "reports/\(tail)"
  }

  /// Reads a run for a report: its manifest (exit 66 when the directory does not exist, 65 when
  /// `run.json` cannot be read), its trial records and every kernel record.
  public static func load(runPath: String) throws -> RunReport {
    let run = RunDirectory(path: runPath)
    guard FileManager.default.fileExists(atPath: runPath) else {
      throw DriverError.noInput(runPath)
    }
    let manifest: RunManifest
    do { manifest = try run.readManifest() } catch {
      throw DriverError.badData(oneLine("\(error)"))
    }
    let trials = run.trials()
    let kernels = kernelRecords(run)
    var samples: [String: [Double]] = [:]
    for id in Set(trials.flatMap { $0.layers.compactMap(\.bestVariantID) }) {
      if let r = kernels[id] ?? run.kernelResult(id) { samples[id] = r.samplesSeconds }
    }
    return RunReport(manifest: manifest, trials: trials, samples: samples, kernels: kernels)
  }

  /// Every readable `kernels/<variant id>.json` of a run by variant ID (temporaries ignored).
  static func kernelRecords(_ run: RunDirectory) -> [String: RunResult] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: run.kernelsDir)) ?? []
    var out: [String: RunResult] = [:]
    for n in names.sorted() where n.hasSuffix(".json") {
      if let r = try? run.read(RunResult.self, at: "\(run.kernelsDir)/\(n)") {
        out[r.variantID] = r
      }
    }
    return out
  }

  /// Writes the requested formats; returns the paths written, in `formats` order (`csv` writes
  /// `report.csv` — one row per trial — then `layers.csv` and `kernels.csv`). With md or html,
  /// the plots are written under `plots/` first (data, gnuplot script and, where gnuplot is
  /// installed, the SVG) and the figures embedded.
  public static func write(runPath: String, formats: [Format], outDir: String?) throws -> [String] {
    try write(load(runPath: runPath), formats: formats, to: outDir ?? defaultOutput(for: runPath))
  }

  public static func write(_ report: RunReport, formats: [Format], to out: String) throws
    -> [String]
  {
    var rendering: PlotRendering?
    if formats.contains(.md) || formats.contains(.html) {
      rendering = try writePlots(report, to: "\(out)/plots")
    }
    var written: [String] = []
    func put(_ text: String, _ name: String) throws {
      let path = "\(out)/\(name)"
      try save(Data(text.utf8), to: path)
      written.append(path)
    }
    for f in formats {
      switch f {
      case .md: try put(report.document(plots: rendering).markdown(), "report.md")
      case .html: try put(report.document(plots: rendering).html(), "report.html")
      case .csv:
        try put(report.csv(), "report.csv")
        try put(report.layersCSV(), "layers.csv")
        try put(report.kernelsCSV(), "kernels.csv")
      case .json:
        let data: Data
        do { data = try report.jsonExport() } catch { throw DriverError.failed("\(error)") }
        try save(data, to: "\(out)/report.json")
        written.append("\(out)/report.json")
      case .latex: try put(PaperTable(report).latex(), "report.tex")
      }
    }
    return written
  }

  /// The message of an unwritable report file (exit 1).
  static func save(_ data: Data, to path: String) throws {
    do { try AtomicFile.write(data, to: path) } catch { throw DriverError.failed("\(error)") }
  }

  /// Writes each plot's CSV and gnuplot script under `dir` and, when gnuplot is installed, runs
  /// it there (argv, no shell; `outfile` set to a temporary that is renamed over `<name>.svg`).
  /// Without gnuplot the data and scripts are still written and the rendering says why the
  /// figures are missing; an SVG left from an earlier report is removed so it cannot go stale.
  public static func writePlots(
    _ report: RunReport, to dir: String, gnuplot: String? = ChildProcess.which("gnuplot")
  ) throws -> PlotRendering {
    var rendering = PlotRendering(
      skippedReason: gnuplot == nil ? PlotRendering.gnuplotMissing : nil)
    for plot in report.plots() {
      try save(Data(plot.csv.utf8), to: "\(dir)/\(plot.csvFile)")
      let svgPath = "\(dir)/\(plot.svgFile)"
      guard let script = plot.script else {
        try? FileManager.default.removeItem(atPath: svgPath)
        continue
      }
      try save(Data(script.utf8), to: "\(dir)/\(plot.scriptFile)")
      guard let gnuplot else {
        try? FileManager.default.removeItem(atPath: svgPath)
        continue
      }
      let tmp = "\(plot.svgFile).\(getpid()).tmp"
      defer { try? FileManager.default.removeItem(atPath: "\(dir)/\(tmp)") }
      let result: ChildResult
      do {
        result = try ChildProcess.run(
          gnuplot, ["-e", "outfile='\(tmp)'", plot.scriptFile], workingDirectory: dir,
          timeout: 120)
      } catch {
        rendering.errors[plot.name] = oneLine("\(error)")
        continue
      }
      guard result.succeeded,
        let svg = FileManager.default.contents(atPath: "\(dir)/\(tmp)"), !svg.isEmpty
      else {
        let lines = result.stderrText.split(separator: "\n").map {
          $0.trimmingCharacters(in: .whitespaces)
        }
        let why = lines.last { !$0.isEmpty && $0 != "^" } ?? result.summary
        rendering.errors[plot.name] = oneLine(why)
        try? FileManager.default.removeItem(atPath: svgPath)
        continue
      }
      if rename("\(dir)/\(tmp)", svgPath) != 0 {
        throw DriverError.failed("\(svgPath): cannot write: \(String(cString: strerror(errno)))")
      }
      rendering.svgs[plot.name] = String(decoding: svg, as: UTF8.self)
    }
    return rendering
  }
}

/// An error message on one line (a JSON decoding error can span several), at most 400 characters.
func oneLine(_ s: String) -> String {
  let flat = s.split(whereSeparator: \.isNewline).map {
    $0.trimmingCharacters(in: .whitespaces)
  }.joined(separator: " ")
  return flat.count > 400 ? String(flat.prefix(397)) + "..." : flat
}
