import ChildProcesses
import Foundation
import Reporting
import ResultStore
import Search
import TuningSchema

/// Writes the reports of a run.
public enum ReportWriter {
  public enum Format: String, CaseIterable, Sendable { case md, html, csv, json }

  /// The default report directory of a run: `reports/<suite>/<run id>` beside `results/`.
  public static func defaultOutput(for runPath: String) -> String {
    let parts = runPath.split(separator: "/")
    let tail = parts.suffix(2).joined(separator: "/")
    return "reports/\(tail)"
  }

  /// Writes the requested formats; returns the paths written, in `formats` order.
  public static func write(runPath: String, formats: [Format], outDir: String?) throws -> [String] {
    let run = RunDirectory(path: runPath)
    guard FileManager.default.fileExists(atPath: runPath) else {
      throw DriverError.noInput(runPath)
    }
    let manifest: RunManifest
    do { manifest = try run.readManifest() } catch { throw DriverError.badData("\(error)") }
    let trials = run.trials()
    var samples: [String: [Double]] = [:]
    for id in Set(trials.flatMap { $0.layers.compactMap(\.bestVariantID) }) {
      if let r = run.kernelResult(id) { samples[id] = r.samplesSeconds }
    }
    let report = RunReport(manifest: manifest, trials: trials, samples: samples)
    let out = outDir ?? defaultOutput(for: runPath)
    var written: [String] = []
    for f in formats {
      let path = "\(out)/report.\(f.rawValue == "md" ? "md" : f.rawValue)"
      let data: Data
      switch f {
      case .md: data = Data(report.document().markdown().utf8)
      case .html: data = Data(report.document().html().utf8)
      case .csv: data = Data(report.csv().utf8)
      case .json:
        struct Export: Encodable {
          let run: RunManifest
          let trials: [TrialRecord]
          let paretoFront: [String]
          enum CodingKeys: String, CodingKey {
            case run, trials
            case paretoFront = "pareto_front"
          }
        }
        data = try RecordCoding.encoder().encode(
          Export(run: manifest, trials: report.trials, paretoFront: report.frontIDs.sorted()))
      }
      do { try AtomicFile.write(data, to: path) } catch { throw DriverError.failed("\(error)") }
      written.append(path)
    }
    return written
  }
}
