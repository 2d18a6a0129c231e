import ChildProcesses
import Foundation
import TuningSchema

/// How the runner measures: warm-up samples, then timed samples of `inner` calls each (`inner`
/// calibrated so a sample lasts at least `minSampleSeconds`; one call per sample when
/// `flushCache`). After `minRepeats` samples the runner stops as soon as the 95% bootstrap CI of
/// the median is narrower than `ciFraction` of the median (stop reason "ci") — but not before
/// `minTimeSeconds` of sampling — else at `maxRepeats` samples ("max_repeats") or once
/// `maxTimeSeconds` of sampling have passed ("max_time"); `minRepeats` always come first, and the
/// two bounds also cut a minimum time that is longer than they allow.
///
/// `budgetSeconds` is the stored name of the time limit (JSON key `budget_s`, the suites'
/// `kernels.budget_s`); `maxTimeSeconds` is the same value under its new name. Before the CI rule
/// existed the runner always sampled for the whole budget; now the budget is an upper bound.
public struct RunSettings: Codable, Sendable, Hashable {
  /// Warm-up samples (of `inner` calls each) after calibration, not timed or counted.
  public var warmup: Int
  public var minRepeats: Int
  public var maxRepeats: Int
  /// The shortest a sample may last; `inner` calls per sample are calibrated to reach it.
  public var minSampleSeconds: Double
  /// Sampling time after which the runner stops once `minRepeats` samples are done (the time
  /// limit of the stopping rule; see `maxTimeSeconds`).
  public var budgetSeconds: Double
  /// Events to count: PAPI presets or native names, `perf::task-clock`-style perf software
  /// events, SDE names. Unavailable ones are recorded with the reason. The runner's SDE counter
  /// is always added. Ignored when `eventGroups` is set.
  public var events: [String]
  /// Pin the runner to this CPU (sched_setaffinity); nil pins to the last online CPU unless
  /// `pin` is false.
  public var cpu: Int?
  /// Seed of the random inputs X (and of the bootstrap).
  public var seed: UInt64
  /// Target relative width of the median's CI, (hi - lo) / median; 0 turns the CI stop off.
  public var ciFraction: Double
  /// Seconds of sampling before the CI rule may stop (google/benchmark's min-time); 0: none.
  public var minTimeSeconds: Double
  /// Evict the caches before every sample and time one call per sample ("cold").
  public var flushCache: Bool
  /// Explicit measurement passes: one group of events per pass (e.g. from an event planner).
  /// nil: all `events` in one pass, and the runner opens further passes itself when a PAPI
  /// component runs out of counters.
  public var eventGroups: [[String]]?
  /// PAPI multiplexing for every EventSet.
  public var multiplex: Bool
  /// Wait up to this many seconds for the other CPUs to become idle before measuring.
  public var waitIdleSeconds: Double
  /// Busy fraction of the other CPUs below which the machine counts as idle.
  public var idleThreshold: Double
  /// Window over which the runner samples /proc/stat before measuring.
  public var idleWindowSeconds: Double
  /// Pin at all (with `cpu` nil: to the last online CPU).
  public var pin: Bool

  public static let defaultEvents = [
    "PAPI_TOT_CYC", "PAPI_TOT_INS", "PAPI_L1_DCM", "PAPI_L2_DCM", "PAPI_BR_MSP",
    "perf::task-clock", "perf::page-faults", "perf::context-switches",
  ]

  public init(
    warmup: Int = 2, minRepeats: Int = 10, maxRepeats: Int = 200, minSampleSeconds: Double = 0.001,
    budgetSeconds: Double = 0.3, events: [String] = RunSettings.defaultEvents, cpu: Int? = nil,
    seed: UInt64 = 1, ciFraction: Double = 0.02, flushCache: Bool = false,
    eventGroups: [[String]]? = nil, multiplex: Bool = false, waitIdleSeconds: Double = 0,
    idleThreshold: Double = 0.1, idleWindowSeconds: Double = 0.1, pin: Bool = true,
    minTimeSeconds: Double = 0
  ) {
    self.warmup = warmup
    self.minRepeats = minRepeats
    self.maxRepeats = maxRepeats
    self.minSampleSeconds = minSampleSeconds
    self.budgetSeconds = budgetSeconds
    self.events = events
    self.cpu = cpu
    self.seed = seed
    self.ciFraction = ciFraction
    self.flushCache = flushCache
    self.eventGroups = eventGroups
    self.multiplex = multiplex
    self.waitIdleSeconds = waitIdleSeconds
    self.idleThreshold = idleThreshold
    self.idleWindowSeconds = idleWindowSeconds
    self.pin = pin
    self.minTimeSeconds = minTimeSeconds
  }

  /// The sampling time limit: the same value as `budgetSeconds`.
  public var maxTimeSeconds: Double {
    get { budgetSeconds }
    set { budgetSeconds = newValue }
  }

  /// The CPU the runner is pinned to: `cpu`, else the last online CPU; nil when `pin` is false.
  public var resolvedCPU: Int? {
    guard pin else { return nil }
    return cpu ?? max(0, ProcessInfo.processInfo.activeProcessorCount - 1)
  }

  /// `--events` or `--event-groups` with the events of these settings.
  public var eventArguments: [String] {
    var args: [String]
    if let eventGroups {
      args = [
        "--event-groups", eventGroups.map { $0.joined(separator: ",") }.joined(separator: ";"),
      ]
    } else {
      args = ["--events", events.joined(separator: ",")]
    }
    if multiplex { args.append("--multiplex") }
    return args
  }

  /// The runner's command-line arguments for these settings.
  public var arguments: [String] {
    var args = [
      "--warmup", String(warmup), "--min-repeats", String(minRepeats), "--max-repeats",
      String(maxRepeats), "--min-sample-us", String(Int((minSampleSeconds * 1e6).rounded())),
      "--max-time-s", String(budgetSeconds), "--ci-fraction", String(ciFraction), "--seed",
      String(seed), "--idle-threshold", String(idleThreshold), "--idle-window-ms",
      String(Int((idleWindowSeconds * 1e3).rounded())),
    ]
    args += eventArguments
    if minTimeSeconds > 0 { args += ["--min-time-s", String(minTimeSeconds)] }
    if waitIdleSeconds > 0 { args += ["--wait-idle", String(waitIdleSeconds)] }
    if flushCache { args.append("--flush") }
    if let cpu = resolvedCPU { args += ["--cpu", String(cpu)] }
    return args
  }

  enum CodingKeys: String, CodingKey {
    case warmup, events, cpu, seed, multiplex, pin
    case minRepeats = "min_repeats"
    case maxRepeats = "max_repeats"
    case minSampleSeconds = "min_sample_s"
    case budgetSeconds = "budget_s"
    case ciFraction = "ci_fraction"
    case minTimeSeconds = "min_time_s"
    case flushCache = "flush_cache"
    case eventGroups = "event_groups"
    case waitIdleSeconds = "wait_idle_s"
    case idleThreshold = "idle_threshold"
    case idleWindowSeconds = "idle_window_s"
  }

  /// Missing keys take their defaults, so settings written by older versions still decode.
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let d = RunSettings()
    warmup = try c.decodeIfPresent(Int.self, forKey: .warmup) ?? d.warmup
    minRepeats = try c.decodeIfPresent(Int.self, forKey: .minRepeats) ?? d.minRepeats
    maxRepeats = try c.decodeIfPresent(Int.self, forKey: .maxRepeats) ?? d.maxRepeats
    minSampleSeconds =
      try c.decodeIfPresent(Double.self, forKey: .minSampleSeconds) ?? d.minSampleSeconds
    budgetSeconds = try c.decodeIfPresent(Double.self, forKey: .budgetSeconds) ?? d.budgetSeconds
    events = try c.decodeIfPresent([String].self, forKey: .events) ?? d.events
    cpu = try c.decodeIfPresent(Int.self, forKey: .cpu)
    seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
    ciFraction = try c.decodeIfPresent(Double.self, forKey: .ciFraction) ?? d.ciFraction
    flushCache = try c.decodeIfPresent(Bool.self, forKey: .flushCache) ?? d.flushCache
    eventGroups = try c.decodeIfPresent([[String]].self, forKey: .eventGroups)
    multiplex = try c.decodeIfPresent(Bool.self, forKey: .multiplex) ?? d.multiplex
    waitIdleSeconds =
      try c.decodeIfPresent(Double.self, forKey: .waitIdleSeconds) ?? d.waitIdleSeconds
    idleThreshold = try c.decodeIfPresent(Double.self, forKey: .idleThreshold) ?? d.idleThreshold
    idleWindowSeconds =
      try c.decodeIfPresent(Double.self, forKey: .idleWindowSeconds) ?? d.idleWindowSeconds
    pin = try c.decodeIfPresent(Bool.self, forKey: .pin) ?? d.pin
    minTimeSeconds =
      try c.decodeIfPresent(Double.self, forKey: .minTimeSeconds) ?? d.minTimeSeconds
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
      cpu: report.cpu, message: message, stopReason: report.stopReason,
      ciLowSeconds: report.ciLowSeconds, ciHighSeconds: report.ciHighSeconds,
      ciFraction: report.ciFraction, samplingSeconds: report.samplingSeconds, stats: report.stats,
      clockOverheadSeconds: report.clockOverheadSeconds, cacheMode: report.cacheMode,
      flushBytes: report.flushBytes, loadBefore: report.loadBefore, loadAfter: report.loadAfter,
      warnings: report.warnings, passes: report.passes, multiplexed: report.multiplexed,
      minTimeSeconds: report.minTimeSeconds)
  }

  /// Runs `runner --probe` with the settings' events; nil when the runner fails or says nothing
  /// readable.
  public func probe(binaryPath: String, timeout: Double = 60) -> RunnerProbe? {
    guard
      let child = try? ChildProcess.run(
        binaryPath, ["--probe"] + settings.eventArguments,
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
  var stopReason: StopReason?
  var ciLowSeconds: Double?
  var ciHighSeconds: Double?
  var ciFraction: Double?
  var minTimeSeconds: Double?
  var samplingSeconds: Double?
  var stats: SampleStats?
  var clockOverheadSeconds: Double?
  var cacheMode: CacheMode?
  var flushBytes: Int64?
  var loadBefore: LoadSample?
  var loadAfter: LoadSample?
  var warnings: [String]?
  var passes: [MeasurementPass]?
  var multiplexed: Bool?
  /// Simulation mode only.
  var mode: String?
  var simulateCalls: Int64?

  enum CodingKeys: String, CodingKey {
    case outcome, tolerance, counters, sde, cpu, message
    case stats, warnings, passes, multiplexed, mode
    case stopReason = "stop_reason"
    case ciLowSeconds = "ci_low_s"
    case ciHighSeconds = "ci_high_s"
    case ciFraction = "ci_fraction"
    case minTimeSeconds = "min_time_s"
    case samplingSeconds = "sampling_s"
    case clockOverheadSeconds = "clock_overhead_s"
    case cacheMode = "cache_mode"
    case flushBytes = "flush_bytes"
    case loadBefore = "load_before"
    case loadAfter = "load_after"
    case simulateCalls = "simulate_calls"
    case schemaVersion = "schema_version"
    case maxAbsErr = "max_abs_err"
    case macsPerCall = "macs_per_call"
    case samplesSeconds = "samples_s"
    case innerCalls = "inner_calls"
    case callsCounted = "calls_counted"
    case papiVersion = "papi_version"
  }
}

extension CounterReading {
  /// A perf event's count with the scaling the runner applied, recomputed by `EventPlan.scaled`
  /// from the count as read and the recorded enabled / running times: `estimate` is the count
  /// before the overhead is subtracted, nil when the event never ran. nil without recorded times
  /// (PAPI events, records written before the times were kept).
  public var scaledCount: ScaledCount? {
    guard let enabled = timeEnabledNs, let running = timeRunningNs else { return nil }
    return EventPlan.scaled(
      value: Double(rawValue ?? 0), timeEnabled: Double(enabled), timeRunning: Double(running))
  }
}
