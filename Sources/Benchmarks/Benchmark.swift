import ChildProcesses
import Driver
import Foundation
import ResultStore
import TuningSchema

/// A benchmark of `make bench`: runs, and returns its figures. `--quick` runs it once on its
/// smallest input (for `make bench-quick`, which `make test` runs so no benchmark rots).
public protocol Benchmark: Sendable {
  var name: String { get }
  func run(context: BenchContext) throws -> BenchRecord
}

public enum BenchError: Error, CustomStringConvertible {
  case failed(String)
  public var description: String {
    switch self {
    case .failed(let s): s
    }
  }
}

public struct BenchContext: Sendable {
  public var quick: Bool
  public var workDirectory: String
  public var environment: EnvironmentInfo
  public var progress: @Sendable (String) -> Void

  func record(
    _ name: String, start: Date, settings: [String: String], figures: [BenchFigure],
    series: [String: [Double]]
  ) -> BenchRecord {
    BenchRecord(
      benchmark: name, quick: quick, createdAt: ISO8601DateFormatter().string(from: Date()),
      gitCommit: BenchSuite.gitCommit(), seconds: Date().timeIntervalSince(start),
      environment: environment,
      settings: settings, figures: figures, series: series)
  }
}

/// Runs benchmarks and writes `<out>/<name>.json` for each.
public enum BenchSuite {
  public static let all: [any Benchmark] = [
    AABenchmark(), TrainSpeedBenchmark(), TrainAccuracyBenchmark(), PruneRegularizersBenchmark(),
    KernelBenchmark(),
  ]

  public static func run(names: [String], quick: Bool, outDirectory: String) throws -> [String] {
    let chosen =
      names.isEmpty
      ? all
      : try names.map { n in
        guard let b = all.first(where: { $0.name == n }) else {
          throw DriverError.usage(
            "unknown benchmark '\(n)' (available: \(all.map(\.name).joined(separator: ", ")))")
        }
        return b
      }
    let work = NSTemporaryDirectory() + "blkrew-bench-\(getpid())"
    try? FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: work) }
    let progress: @Sendable (String) -> Void = {
      FileHandle.standardError.write(Data("blkrew bench: \($0)\n".utf8))
    }
    progress("probing the environment")
    let env = EnvironmentProbe.collect(kernels: KernelSpec(), buildDirectory: work)
    var written: [String] = []
    var failures: [String] = []
    for b in chosen {
      let context = BenchContext(
        quick: quick, workDirectory: "\(work)/\(b.name)", environment: env, progress: progress)
      try? FileManager.default.createDirectory(
        atPath: context.workDirectory, withIntermediateDirectories: true)
      do {
        let record = try b.run(context: context)
        let path = "\(outDirectory)/\(b.name).json"
        try AtomicFile.write(json: record, to: path)
        written.append(path)
        progress("\(b.name): \(String(format: "%.1f", record.seconds)) s")
        for f in record.figures {
          let value = f.value.map { String(format: "%.4g", $0) } ?? "not measured"
          let goal =
            f.goal.map { g in
              " (goal \(f.direction == .higherIsBetter ? ">=" : "<=") \(String(format: "%.4g", g)): \(f.meetsGoal == true ? "met" : "NOT met"))"
            } ?? ""
          print("\(b.name).\(f.name) = \(value) \(f.unit)\(goal)")
        }
      } catch {
        failures.append("\(b.name): \(error)")
        progress("\(b.name) FAILED: \(error)")
      }
    }
    if !failures.isEmpty {
      throw DriverError.failed("benchmarks failed: \(failures.joined(separator: "; "))")
    }
    return written
  }

  static func gitCommit() -> String? {
    guard let r = try? ChildProcess.run("git", ["rev-parse", "HEAD"], timeout: 5), r.succeeded
    else { return nil }
    return r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
  }
}
