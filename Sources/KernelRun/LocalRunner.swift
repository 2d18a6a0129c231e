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
///
/// The runner runs through `launcher`: directly (`.native`), behind an argv prefix (an emulator:
/// `qemu-aarch64 -L /usr/aarch64-linux-gnu`), or on a remote host (the binary and the workload
/// file copied first, the command line quoted for the remote shell). An emulated launcher's
/// results carry the warning `RunLauncher.emulatedWarning` (`RunResult.emulated`).
public struct LocalRunner: Sendable {
  public var settings: RunSettings
  public var launcher: RunLauncher

  public init(settings: RunSettings = RunSettings(), launcher: RunLauncher = .native) {
    self.settings = settings
    self.launcher = launcher
  }

  public func run(binaryPath: String, workloadFile: URL, variant: KernelVariant, timeout: Double)
    -> RunResult
  {
    let result = launchAndDecode(
      binaryPath: binaryPath, workloadFile: workloadFile, variant: variant, timeout: timeout)
    guard launcher.emulated else { return result }
    var marked = result
    marked.warnings = (result.warnings ?? []) + [launcher.emulatedWarning]
    return marked
  }

  private func launchAndDecode(
    binaryPath: String, workloadFile: URL, variant: KernelVariant, timeout: Double
  ) -> RunResult {
    let child: ChildResult
    do {
      var workload = workloadFile.path
      var binary = binaryPath
      if let remote = launcher.remote {
        let directory = remote.directory(for: variant.id)
        for step in remote.setupCommands(
          files: [binaryPath, workloadFile.path], directory: directory)
        {
          let r = try ChildProcess.run(
            step[0], Array(step.dropFirst()), timeout: remote.copyTimeout)
          guard r.succeeded else {
            return .failed(
              variant, .runFailed,
              message: "\(step.joined(separator: " ")): \(r.summary)" + Self.tail(r.stderrText))
          }
        }
        binary = directory + "/" + URL(fileURLWithPath: binaryPath).lastPathComponent
        workload = directory + "/" + workloadFile.lastPathComponent
      }
      let argv = launcher.command(
        binary: binary, arguments: ["--workload", workload] + settings.arguments)
      child = try ChildProcess.run(argv[0], Array(argv.dropFirst()), timeout: timeout)
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
  /// Local and emulated launchers only (a remote probe would need the binary copied first).
  public func probe(binaryPath: String, timeout: Double = 60) -> RunnerProbe? {
    guard launcher.remote == nil else { return nil }
    let argv = launcher.command(
      binary: binaryPath, arguments: ["--probe"] + settings.eventArguments)
    guard
      let child = try? ChildProcess.run(argv[0], Array(argv.dropFirst()), timeout: timeout),
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

/// How a runner binary is started: directly, behind an argv prefix (an emulator), or on a remote
/// host through a launcher template. Plain data, so the Driver can make one from a
/// `KernelTarget` (KernelBuild) without KernelRun importing it.
public struct RunLauncher: Sendable, Hashable {
  /// argv before the binary, e.g. `["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"]`.
  public var prefix: [String]
  /// Timings under this launcher are not the target CPU's (correctness only).
  public var emulated: Bool
  /// Run on another host instead (then `prefix` is ignored).
  public var remote: RemoteLauncher?

  public init(prefix: [String] = [], emulated: Bool = false, remote: RemoteLauncher? = nil) {
    self.prefix = prefix
    self.emulated = emulated
    self.remote = remote
  }

  public static let native = RunLauncher()

  /// The warning every result of an emulated launcher carries.
  public var emulatedWarning: String {
    "emulated: run under \(prefix.first ?? "an emulator"); timings and counters are not the target CPU's, only correctness (and the SDE count) is"
  }

  /// The argv that runs `binary` (on the remote host: a path there) with `arguments`.
  public func command(binary: String, arguments: [String]) -> [String] {
    if let remote { return remote.runCommand(binary: binary, arguments: arguments) }
    return prefix + [binary] + arguments
  }
}

/// A remote launcher: templates of argv words with placeholders, for a real board or phone.
/// `{host}` is the host; in `run`, `{binary}` the remote binary and `{args}` its arguments (one
/// word each); in `copy`, `{files}` the local files and `{dir}` the remote directory; in
/// `prepare`, `{dir}`. Templates are split at spaces and never given to a local shell. The words
/// that `{binary}` and `{args}` become are quoted for the remote shell (ssh joins its argv with
/// spaces and the remote shell splits the line again), unless `quoteForRemoteShell` is false.
public struct RemoteLauncher: Sendable, Hashable {
  public var host: String
  public var run: [String]
  public var copy: [String]
  public var prepare: [String]
  /// Where binaries go on the remote host: `<remoteDirectory>/<variant id>/`.
  public var remoteDirectory: String
  public var quoteForRemoteShell: Bool
  /// Seconds each of the prepare and copy steps may take.
  public var copyTimeout: Double

  public enum TemplateError: Error, CustomStringConvertible, Equatable {
    case invalid(String)
    public var description: String {
      switch self {
      case .invalid(let s): s
      }
    }
  }

  /// The programs a launcher template (from a suite or the command line) may start.
  public static let allowedPrograms: Set<String> = ["ssh", "scp", "rsync", "adb"]

  public static let defaultRun = "ssh {host} {binary} {args}"
  public static let defaultCopy = "scp -q {files} {host}:{dir}/"
  public static let defaultPrepare = "ssh {host} mkdir -p {dir}"

  /// Parses and checks the templates: `run` must hold `{binary}` and `{args}`; each template's
  /// program must be in `allowedPrograms` (or be a path a caller allowed, e.g. a test's fake);
  /// the host and remote directory must be plain words (no shell syntax).
  public init(
    host: String, run: String = RemoteLauncher.defaultRun,
    copy: String = RemoteLauncher.defaultCopy, prepare: String = RemoteLauncher.defaultPrepare,
    remoteDirectory: String = "/tmp/blkrew-remote", quoteForRemoteShell: Bool = true,
    allowedPrograms: Set<String> = RemoteLauncher.allowedPrograms, copyTimeout: Double = 120
  ) throws {
    func words(_ t: String) -> [String] { t.split(separator: " ").map(String.init) }
    let plain: (String) -> Bool = { s in
      !s.isEmpty && s.first != "-"
        && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-@:/[]+".contains($0)) }
    }
    guard plain(host) else { throw TemplateError.invalid("bad remote host '\(host)'") }
    guard plain(remoteDirectory), remoteDirectory.hasPrefix("/") else {
      throw TemplateError.invalid("bad remote directory '\(remoteDirectory)'")
    }
    let (r, c, p) = (words(run), words(copy), words(prepare))
    guard r.contains("{binary}"), r.contains("{args}") else {
      throw TemplateError.invalid("launcher template '\(run)' needs {binary} and {args}")
    }
    guard c.contains("{files}") else {
      throw TemplateError.invalid("copy template '\(copy)' needs {files}")
    }
    for t in [r, c, p] where !t.isEmpty {
      guard allowedPrograms.contains(t[0]) else {
        throw TemplateError.invalid(
          "launcher program '\(t[0])' is not allowed (allowed: \(allowedPrograms.sorted().joined(separator: ", ")))"
        )
      }
    }
    self.host = host
    self.run = r
    self.copy = c
    self.prepare = p
    self.remoteDirectory = remoteDirectory
    self.quoteForRemoteShell = quoteForRemoteShell
    self.copyTimeout = copyTimeout
  }

  /// `s` as one word for a POSIX shell: unchanged when it has only safe characters, else in
  /// single quotes (a quote inside becomes `'\''`); the empty string is `''`.
  public static func shellQuote(_ s: String) -> String {
    let safe = s.allSatisfy {
      $0.isASCII && ($0.isLetter || $0.isNumber || "_@%+=:,./-".contains($0))
    }
    if !s.isEmpty && safe { return s }
    return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }

  /// The remote directory of one variant.
  public func directory(for variantID: String) -> String {
    remoteDirectory + "/" + variantID.filter { $0.isLetter || $0.isNumber || $0 == "-" }
  }

  private func remoteWord(_ s: String) -> String {
    quoteForRemoteShell ? Self.shellQuote(s) : s
  }

  private func expand(_ template: [String], _ lists: [String: [String]], _ words: [String: String])
    -> [String]
  {
    template.flatMap { token -> [String] in
      if let list = lists[token] { return list }
      var t = token
      for (k, v) in words { t = t.replacingOccurrences(of: k, with: v) }
      return [t]
    }
  }

  /// The commands before a run: make the remote directory, copy the files into it.
  public func setupCommands(files: [String], directory: String) -> [[String]] {
    let words = ["{host}": host, "{dir}": directory]
    var out: [[String]] = []
    if !prepare.isEmpty { out.append(expand(prepare, [:], words)) }
    out.append(expand(copy, ["{files}": files], words))
    return out
  }

  /// The argv that runs `binary` (a remote path) with `arguments` on the host.
  public func runCommand(binary: String, arguments: [String]) -> [String] {
    expand(
      run, ["{binary}": [remoteWord(binary)], "{args}": arguments.map(remoteWord)],
      ["{host}": host])
  }
}

extension RunResult {
  /// Whether the result was run under an emulator (its warnings say so): its timings mean nothing.
  public var emulated: Bool { warnings?.contains { $0.hasPrefix("emulated:") } ?? false }
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
