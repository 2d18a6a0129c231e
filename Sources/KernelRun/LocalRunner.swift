import ChildProcesses
import Foundation
import TuningSchema

/// How the runner measures: warm-up samples, then timed samples of `inner` calls each (`inner`
/// calibrated so a sample lasts at least `minSampleSeconds`), until `maxRepeats` samples or, once
/// `minRepeats` are done, until `budgetSeconds` of sampling have passed. The defaults give
/// about 0.3 s of sampling per variant.
public struct RunSettings: Codable, Sendable, Hashable {
  /// Warm-up samples (of `inner` calls each) after calibration, not timed or counted.
  public var warmup: Int
  public var minRepeats: Int
  public var maxRepeats: Int
  /// The shortest a sample may last; `inner` calls per sample are calibrated to reach it.
  public var minSampleSeconds: Double
  /// Sampling time after which the runner stops once `minRepeats` samples are done.
  public var budgetSeconds: Double
  /// PAPI events to count (presets or native names); unavailable ones are recorded with PAPI's
  /// reason. The runner's SDE counter is always added.
  public var events: [String]
  /// Pin the runner to this CPU (sched_setaffinity); nil leaves it unpinned.
  public var cpu: Int?
  /// Seed of the random inputs X.
  public var seed: UInt64

  public static let defaultEvents = [
    "PAPI_TOT_CYC", "PAPI_TOT_INS", "PAPI_L1_DCM", "PAPI_L2_DCM", "PAPI_BR_MSP",
  ]

  public init(
    warmup: Int = 2, minRepeats: Int = 10, maxRepeats: Int = 200, minSampleSeconds: Double = 0.001,
    budgetSeconds: Double = 0.3, events: [String] = RunSettings.defaultEvents, cpu: Int? = nil,
    seed: UInt64 = 1
  ) {
    self.warmup = warmup
    self.minRepeats = minRepeats
    self.maxRepeats = maxRepeats
    self.minSampleSeconds = minSampleSeconds
    self.budgetSeconds = budgetSeconds
    self.events = events
    self.cpu = cpu
    self.seed = seed
  }

  /// The runner's command-line arguments for these settings.
  public var arguments: [String] {
    var args = [
      "--warmup", String(warmup), "--min-repeats", String(minRepeats), "--max-repeats",
      String(maxRepeats), "--min-sample-us", String(Int((minSampleSeconds * 1e6).rounded())),
      "--budget-s", String(budgetSeconds), "--events", events.joined(separator: ","), "--seed",
      String(seed),
    ]
    if let cpu { args += ["--cpu", String(cpu)] }
    return args
  }

  enum CodingKeys: String, CodingKey {
    case warmup, events, cpu, seed
    case minRepeats = "min_repeats"
    case maxRepeats = "max_repeats"
    case minSampleSeconds = "min_sample_s"
    case budgetSeconds = "budget_s"
  }
}

/// Runs a built runner on a workload file and turns its JSON into a `RunResult`. A crash, a
/// timeout or unreadable output becomes a `runFailed` / `timedOut` result with the reason, never
/// a throw.
public struct LocalRunner: Sendable {
  public var settings: RunSettings

  public init(settings: RunSettings = RunSettings()) {
    self.settings = settings
  }

  public func run(binaryPath: String, workloadFile: URL, variant: KernelVariant, timeout: Double)
    -> RunResult
  {
    let arguments = ["--workload", workloadFile.path] + settings.arguments
    let child: ChildResult
    do {
      child = try ChildProcess.run(binaryPath, arguments, timeout: timeout)
    } catch {
      return .failed(variant, .runFailed, message: "\(error)")
    }
    if child.timedOut {
      return .failed(variant, .timedOut, message: "runner \(child.summary)")
    }
    guard let report = Self.decodeLastObject(RunnerReport.self, from: child.stdout) else {
      return .failed(
        variant, .runFailed,
        message: "runner \(child.summary) without a readable result"
          + Self.tail(child.stderrText, child.stdoutText))
    }
    var message = report.message
    var outcome = report.outcome
    if child.exitCode != 0 && outcome != .runFailed {
      outcome = .runFailed
      message = "runner \(child.summary)" + Self.tail(child.stderrText)
    }
    return RunResult(
      schemaVersion: RunResult.currentSchemaVersion, variantID: variant.id, variant: variant,
      outcome: outcome, maxAbsErr: report.maxAbsErr, tolerance: report.tolerance,
      macsPerCall: report.macsPerCall, samplesSeconds: report.samplesSeconds ?? [],
      innerCalls: report.innerCalls, callsCounted: report.callsCounted ?? 0,
      counters: report.counters ?? [], sde: report.sde, papiVersion: report.papiVersion,
      cpu: report.cpu, message: message)
  }

  /// Runs `runner --probe` with the settings' events; nil when the runner fails or says nothing
  /// readable.
  public func probe(binaryPath: String, timeout: Double = 60) -> RunnerProbe? {
    guard
      let child = try? ChildProcess.run(
        binaryPath, ["--probe", "--events", settings.events.joined(separator: ",")],
        timeout: timeout),
      child.succeeded
    else { return nil }
    return Self.decodeLastObject(RunnerProbe.self, from: child.stdout)
  }

  /// The runner prints one JSON object on its last non-empty stdout line.
  static func decodeLastObject<T: Decodable>(_ type: T.Type, from data: Data) -> T? {
    let text = String(decoding: data, as: UTF8.self)
    guard let line = text.split(separator: "\n").last(where: { !$0.isEmpty }) else { return nil }
    return try? JSONDecoder().decode(T.self, from: Data(line.utf8))
  }

  private static func tail(_ texts: String...) -> String {
    let text = texts.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
    return text.isEmpty ? "" : ": " + String(text.suffix(500))
  }
}

/// The runner's JSON (what it knows; the variant is added by `LocalRunner`).
struct RunnerReport: Decodable {
  var schemaVersion: Int
  var outcome: RunOutcome
  var maxAbsErr: Double?
  var tolerance: Double?
  var macsPerCall: Int64?
  var samplesSeconds: [Double]?
  var innerCalls: Int64?
  var callsCounted: Int64?
  var counters: [CounterReading]?
  var sde: SDEReading?
  var papiVersion: String?
  var cpu: Int?
  var message: String?

  enum CodingKeys: String, CodingKey {
    case outcome, tolerance, counters, sde, cpu, message
    case schemaVersion = "schema_version"
    case maxAbsErr = "max_abs_err"
    case macsPerCall = "macs_per_call"
    case samplesSeconds = "samples_s"
    case innerCalls = "inner_calls"
    case callsCounted = "calls_counted"
    case papiVersion = "papi_version"
  }
}
