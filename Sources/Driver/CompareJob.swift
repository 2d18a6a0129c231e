import Foundation
import Reporting
import ResultStore
import TuningSchema

/// `blkrew compare BASE CANDIDATE`: reads two runs of one suite and compares them
/// (`RunComparison`). Exit codes: 66 when a run directory does not exist, 65 when its `run.json`
/// cannot be read, 64 when the runs are of different suites (unless `force`).
public struct CompareJob {
  public var basePath: String
  public var candidatePath: String
  public var thresholdPercent: Double = 5
  public var force = false

  public init(basePath: String, candidatePath: String) {
    self.basePath = basePath
    self.candidatePath = candidatePath
  }

  /// A run directory as `compare` reads it: manifest, trials, every kernel record.
  public static func snapshot(_ path: String) throws -> RunSnapshot {
    let run = RunDirectory(path: path)
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory),
      isDirectory.boolValue
    else { throw DriverError.noInput(path) }
    let manifest: RunManifest
    do { manifest = try run.readManifest() } catch {
      throw DriverError.badData(oneLine("\(error)"))
    }
    return RunSnapshot(
      path: path, manifest: manifest, trials: run.trials(),
      kernels: ReportWriter.kernelRecords(run).values.sorted { $0.variantID < $1.variantID })
  }

  public func run() throws -> RunComparison {
    let base = try Self.snapshot(basePath)
    let candidate = try Self.snapshot(candidatePath)
    if base.manifest.suite.name != candidate.manifest.suite.name && !force {
      throw DriverError.usage(
        "\(candidatePath): a run of suite '\(candidate.manifest.suite.name)', not '\(base.manifest.suite.name)' like \(basePath) (pass --force to compare anyway)"
      )
    }
    return RunComparison.compare(
      base: base, candidate: candidate, thresholdPercent: thresholdPercent)
  }
}
