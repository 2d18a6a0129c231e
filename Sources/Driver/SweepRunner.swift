import ChildProcesses
import Foundation
import Reporting
import ResultStore
import Search
import TuningSchema

/// The sweep loop: validates the suite, opens (or resumes) its run directory, runs every
/// unfinished trial in its own child process, records crashes and timeouts, and returns the run.
public struct SweepRunner {
  public var suitePath: String
  public var resultsDir: String
  public var fresh: Bool
  /// Writes a progress line to stderr.
  public var progress: (String) -> Void = {
    FileHandle.standardError.write(Data(("blkrew: " + $0 + "\n").utf8))
  }

  public init(suitePath: String, resultsDir: String, fresh: Bool) {
    self.suitePath = suitePath
    self.resultsDir = resultsDir
    self.fresh = fresh
  }

  /// Loads and validates the suite, mapping problems to exit codes (66 no file, 64 invalid).
  public static func loadSuite(_ path: String) throws -> SweepSpec {
    guard FileManager.default.fileExists(atPath: path) else { throw DriverError.noInput(path) }
    do {
      return try SuiteLoader.load(path: path)
    } catch let e as SuiteError {
      throw DriverError.usage(e.description)
    }
  }

  /// The trials of a suite without running anything (for `--dry-run`).
  public static func plan(_ suite: SweepSpec) -> [TrialConfig] { GridSearch.trials(for: suite) }

  public struct Summary: Codable, Sendable {
    public var runDirectory: String
    public var trials: Int
    public var ok: Int
    public var failed: Int
    public var skipped: Int
    public var seconds: Double
    enum CodingKeys: String, CodingKey {
      case trials, ok, failed, skipped, seconds
      case runDirectory = "run_directory"
    }
  }

  public func run() throws -> Summary {
    let start = Date()
    let suite = try Self.loadSuite(suitePath)
    try DataLoading.checkAvailable(suite.dataset)
    guard ChildProcess.which(suite.kernels.compiler) != nil else {
      throw DriverError.unavailable(
        "compiler \(suite.kernels.compiler) not found (run: apt-get install -y --no-install-recommends gcc)"
      )
    }
    let run = RunDirectory.locate(resultsDir: resultsDir, suite: suite, fresh: fresh)
    do { try run.create() } catch { throw DriverError.failed("\(error)") }
    if !run.exists {
      progress("new run \(run.path); probing the environment")
      let env = EnvironmentProbe.collect(kernels: suite.kernels, buildDirectory: run.buildDir)
      let manifest = RunManifest(
        runID: (run.path as NSString).lastPathComponent, suite: suite, suitePath: suitePath,
        blkrewVersion: BlkrewVersion.string, gitCommit: Self.gitCommit(),
        createdAt: ISO8601DateFormatter().string(from: Date()),
        environment: env)
      do { try run.writeManifest(manifest) } catch { throw DriverError.failed("\(error)") }
    } else {
      progress("resuming run \(run.path)")
    }

    let trials = Self.plan(suite)
    var summary = Summary(
      runDirectory: run.path, trials: trials.count, ok: 0, failed: 0, skipped: 0, seconds: 0)
    let selfExe = Self.executablePath()
    for (i, config) in trials.enumerated() {
      let tag = "[\(i + 1)/\(trials.count)] \(config.label) seed \(config.seed)"
      if let done = run.trial(config.id) {
        summary.skipped += 1
        if done.status == .ok { summary.ok += 1 } else { summary.failed += 1 }
        progress("\(tag): already done (\(done.status.rawValue)), skipped")
        continue
      }
      progress("\(tag): running (log: \(run.trialLogPath(config.id)))")
      let child = try? ChildProcess.run(
        selfExe, ["_trial", run.path, config.id], timeout: suite.trialTimeoutSeconds,
        stdoutPath: "\(run.logsDir)/\(config.id).out", stderrPath: run.trialLogPath(config.id))
      var record = run.trial(config.id)
      if record == nil {
        // The child ended without writing its record: crash, timeout, or it could not start.
        var r = TrialRecord(trialID: config.id, config: config, status: .crashed)
        if let child {
          r.status = child.timedOut ? .timedOut : (child.signal != nil ? .crashed : .failed)
          let lastLine = child.stderrText.split(separator: "\n").last.map(String.init) ?? ""
          r.reason = child.summary + (lastLine.isEmpty ? "" : ": \(lastLine)")
          r.seconds = child.seconds
        } else {
          r.status = .failed
          r.reason = "could not start \(selfExe)"
        }
        r.finishedAt = ISO8601DateFormatter().string(from: Date())
        do { try run.writeTrial(r) } catch { throw DriverError.failed("\(error)") }
        record = r
      }
      guard let record else { continue }
      if record.status == .ok { summary.ok += 1 } else { summary.failed += 1 }
      let acc = record.accuracy.map { String(format: "accuracy %.4f", $0) } ?? ""
      let lat = record.latencySeconds.map { String(format: ", latency %.2f µs", $0 * 1e6) } ?? ""
      progress(
        "\(tag): \(record.status.rawValue) \(acc)\(lat) (\(String(format: "%.1f", record.seconds)) s)"
          + (record.reason.map { " — \($0)" } ?? ""))
    }
    summary.seconds = Date().timeIntervalSince(start)
    progress(
      "done: \(summary.ok) ok, \(summary.failed) not ok, \(summary.skipped) already done, \(String(format: "%.0f", summary.seconds)) s"
    )
    return summary
  }

  /// This executable, to start trial children with.
  static func executablePath() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
      ?? CommandLine.arguments[0]
  }

  /// The git commit of the working directory, when it is a blkrew checkout.
  static func gitCommit() -> String? {
    guard let r = try? ChildProcess.run("git", ["rev-parse", "HEAD"], timeout: 5), r.succeeded
    else { return nil }
    return r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
  }
}

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
    let report = RunReport(manifest: manifest, trials: run.trials())
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
