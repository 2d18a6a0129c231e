import Analysis
import ChildProcesses
import Foundation
import KernelBuild
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
  /// Trials run at once (each in its own child process); with Slurm, the most array tasks.
  public var workers: Int = 1
  /// Where the trials run: `local` (the worker pool here) or `slurm` (a job array, SlurmExecutor).
  public enum Executor: String, CaseIterable, Sendable { case local, slurm }
  public var executor: Executor = .local
  /// Slurm: follow the array until it ends instead of returning after submission.
  public var wait = false
  /// Writes a progress line to stderr.
  public var progress: (String) -> Void = {
    FileHandle.standardError.write(Data(("blkrew: " + $0 + "\n").utf8))
  }

  public init(suitePath: String, resultsDir: String, fresh: Bool) {
    self.suitePath = suitePath
    self.resultsDir = resultsDir
    self.fresh = fresh
  }

  /// Loads and validates the suite, mapping problems to exit codes (66 no file, 64 invalid). The
  /// message is the first error's line, saying how many more there are; with `everyError`, one
  /// line per error (for `suite validate`).
  public static func loadSuite(_ path: String, everyError: Bool = false) throws -> SweepSpec {
    guard FileManager.default.fileExists(atPath: path) else { throw DriverError.noInput(path) }
    do {
      return try SuiteLoader.load(path: path)
    } catch let e as SuiteError {
      if everyError {
        throw DriverError.usage(
          e.all.map(\.description).joined(separator: "\nblkrew: error: "))
      }
      let more = e.others.count
      throw DriverError.usage(
        e.description
          + (more == 0
            ? ""
            : " (and \(more) more error\(more == 1 ? "" : "s"): blkrew suite validate \(path))"))
    }
  }

  /// The trials of a suite (for `--dry-run`, status and the trial children): the grid or random
  /// draw; for successive halving, every rung that `records` (trial ID -> record) lets plan.
  public static func plan(_ suite: SweepSpec, records: [String: TrialRecord] = [:])
    -> [TrialConfig]
  {
    guard suite.search.strategy == .halving else { return GridSearch.trials(for: suite) }
    return halvingPlan(suite, records: records).trials
  }

  /// Successive halving's plan, promoting by the suite's objectives (validation accuracy for
  /// accuracy; by default accuracy ↑, latency ↓, size ↓).
  static func halvingPlan(_ suite: SweepSpec, records: [String: TrialRecord])
    -> (trials: [TrialConfig], complete: Bool)
  {
    let directions: [Direction] = suite.resolvedObjectives.map {
      $0.direction == .max ? .higherIsBetter : .lowerIsBetter
    }
    return SuccessiveHalving.plan(for: suite, records: records) { points, keep in
      Pareto.select(points, directions: directions, keep: keep)
    }
  }

  /// The plan of `suite` in `run`: reads the run's records only when halving needs them (a grid
  /// or random plan does not depend on them, and every trial child asks for its plan).
  static func plan(_ suite: SweepSpec, in run: RunDirectory) -> [TrialConfig] {
    suite.search.strategy == .halving ? plan(suite, records: records(run)) : plan(suite)
  }

  static func records(_ run: RunDirectory) -> [String: TrialRecord] {
    Dictionary(run.trials().map { ($0.trialID, $0) }, uniquingKeysWith: { a, _ in a })
  }

  public struct Summary: Codable, Sendable {
    public var runDirectory: String
    public var trials: Int
    public var ok: Int
    public var failed: Int
    public var skipped: Int
    public var seconds: Double
    /// True when Ctrl-C (or SIGTERM) ended the sweep before every trial ran.
    public var interrupted = false
    /// The harness's own share of the trials' wall time (not data, training, builds, measuring
    /// or lock waits), and data loading's share.
    public var harnessOverhead: Double? = nil
    public var dataLoading: Double? = nil
    /// Seconds before the first trial (suite, run directory, environment probe and calibration).
    public var setupSeconds: Double? = nil
    /// Slurm: the job array submitted (or followed), and the trials without a record at the end.
    public var slurmJobID: String? = nil
    public var unfinished: Int? = nil
    /// `trials` or `time` when the suite's budget stopped the sweep with trials left (exit 0:
    /// the sweep did what it was asked; `unfinished` says how many).
    public var budgetSpent: String? = nil
    enum CodingKeys: String, CodingKey {
      case trials, ok, failed, skipped, seconds, interrupted, unfinished
      case budgetSpent = "budget_spent"
      case slurmJobID = "slurm_job_id"
      case harnessOverhead = "harness_overhead"
      case dataLoading = "data_loading"
      case setupSeconds = "setup_s"
      case runDirectory = "run_directory"
    }
  }

  public func run() throws -> Summary {
    let start = Date()
    let suite = try Self.loadSuite(suitePath)
    try DataLoading.checkAvailable(suite.dataset)
    for compiler in suite.kernels.allCompilers where ChildProcess.which(compiler) == nil {
      throw DriverError.unavailable(
        "compiler \(compiler) not found (run: apt-get install -y --no-install-recommends \(compiler == "cc" ? "gcc" : compiler))"
      )
    }
    // Every target's tools (compiler, qemu, arm64 libraries, ssh), before anything is written;
    // a target this CPU cannot run is built only, which is no error.
    for name in suite.resolvedTargets where name != "host" {
      do {
        let missing = try TargetRegistry.target(named: name).missingTools(forRunning: true)
        guard missing.isEmpty else {
          throw TargetError.missingToolchain(target: name, packages: missing)
        }
      } catch let e as TargetError {
        let line = e.description.replacingOccurrences(of: "blkrew: error: ", with: "")
        throw DriverError(e.exitCode, "\(suitePath): \(line)")
      }
    }
    let run = RunDirectory.locate(resultsDir: resultsDir, suite: suite, fresh: fresh)
    do { try run.create() } catch { throw DriverError.failed("\(error)") }
    if !run.exists {
      progress("new run \(run.path); probing the environment")
      let env = EnvironmentProbe.collect(kernels: suite.kernels, buildDirectory: run.buildDir)
      let manifest = RunManifest(
        runID: (run.path as NSString).lastPathComponent, suite: suite, suitePath: suitePath,
        blkrewVersion: BlkrewVersion.string, gitCommit: Self.gitCommit(),
        createdAt: ISO8601DateFormatter().string(from: Date()), environment: env)
      // Created once: a second process starting the same run meanwhile uses the first's.
      let created: Bool
      do { created = try run.createManifest(manifest) } catch {
        throw DriverError.failed("\(error)")
      }
      if !created { progress("another process created \(run.path) meanwhile; joining it") }
    } else {
      progress("resuming run \(run.path)")
    }
    if executor == .slurm {
      return try SlurmExecutor(
        run: run, suite: suite, shards: max(1, workers), wait: wait, progress: progress
      ).submit(start: start)
    }
    removeStaleTemporaries(run)
    let setup = Date().timeIntervalSince(start)
    var summary: Summary
    if suite.search.strategy == .halving {
      summary = try runHalving(run, suite: suite, start: start)
    } else {
      var pool = WorkerPool(
        run: run, suite: suite, trials: Self.plan(suite), workers: max(1, workers),
        executable: Self.executablePath())
      Self.applyBudget(suite, to: &pool, start: start)
      summary = try pool.runAll()
    }
    // Compilers left running by trials killed earlier may have finished since.
    removeStaleTemporaries(run)
    summary.seconds = Date().timeIntervalSince(start)
    // Where the trials' time went: the harness's own share is what is neither data loading,
    // training, building, measuring nor waiting for the measurement lock.
    let timed = run.trials().compactMap { r in r.timing.map { (r.seconds, $0) } }
    let total = timed.reduce(0) { $0 + $1.0 }
    if total > 0 {
      let other = timed.reduce(0) { $0 + $1.1.other }
      let data = timed.reduce(0) { $0 + $1.1.data }
      summary.harnessOverhead = other / total
      summary.dataLoading = data / total
    }
    summary.setupSeconds = setup
    progress(
      "done: \(summary.ok) ok, \(summary.failed) not ok, \(summary.skipped) already done"
        + (summary.interrupted ? ", interrupted (rerun the same command to resume)" : "")
        + (summary.budgetSpent.map {
          ", \($0) budget spent with \(summary.unfinished ?? 0) trial(s) not started"
        } ?? "")
        + ", \(String(format: "%.0f", summary.seconds)) s")
    if let h = summary.harnessOverhead, let d = summary.dataLoading {
      progress(
        String(
          format:
            "time: harness overhead %.2f%% of trial time, data loading %.1f%%; run setup %.1f s",
          h * 100,
          d * 100, setup))
    }
    return summary
  }

  /// Successive halving: one worker pool per rung, each rung planned from the records of the
  /// one before (so a resumed sweep replans the same rungs and skips what is done).
  private func runHalving(_ run: RunDirectory, suite: SweepSpec, start: Date) throws -> Summary {
    try Self.halvingRungs(run: run, suite: suite, progress: progress) { trials in
      var pool = WorkerPool(
        run: run, suite: suite, trials: trials, workers: max(1, workers),
        executable: Self.executablePath())
      Self.applyBudget(suite, to: &pool, start: start)
      return pool
    }
  }

  /// The rung loop of successive halving, shared by the local executor and Slurm's array
  /// tasks: plan from the records, run the plan's pool (`pool` makes it), until the last rung is
  /// planned and run, nothing new can be planned, the pool was interrupted or the budget spent.
  static func halvingRungs(
    run: RunDirectory, suite: SweepSpec, progress: (String) -> Void,
    pool makePool: ([TrialConfig]) -> WorkerPool
  ) throws -> Summary {
    var total: Summary?
    var planned = -1
    while true {
      let (trials, complete) = halvingPlan(suite, records: records(run))
      if trials.count == planned { break }  // nothing new could be planned
      planned = trials.count
      let rung = trials.compactMap(\.rung).max() ?? 0
      progress(
        "successive halving: rung \(rung + 1) of \(SuccessiveHalving.settings(suite).rungs), \(trials.count) trials planned"
      )
      var pool = makePool(trials)
      let s = try pool.runAll()
      if var t = total {
        t.ok += s.ok
        t.failed += s.failed
        t.trials = s.trials
        t.interrupted = s.interrupted
        t.budgetSpent = s.budgetSpent
        t.unfinished = s.unfinished
        total = t
      } else {
        total = s
      }
      if s.interrupted || s.budgetSpent != nil || complete { break }
    }
    return total!
  }

  /// The suite's `budget` on a pool: the trial cap, and the time limit counted from `start`
  /// (this invocation's start).
  static func applyBudget(_ suite: SweepSpec, to pool: inout WorkerPool, start: Date) {
    pool.budgetTrials = suite.budget?.trials
    if let t = suite.budget?.timeSeconds {
      pool.deadline = ChildProcess.monotonicSeconds() + t - Date().timeIntervalSince(start)
    }
  }

  /// Deletes the temporaries that processes killed earlier left in the run (reads ignore them).
  private func removeStaleTemporaries(_ run: RunDirectory) {
    let removed = run.removeStaleTemporaries()
    if !removed.isEmpty {
      progress("removed \(removed.count) temporary file(s) left by killed processes")
    }
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

/// What `sweep status` shows about a run: its planned trials by state (a record's status;
/// `running` while a live worker holds the trial's claim; `pending` otherwise), who holds each
/// running trial, and the run's last Slurm job array.
public struct SweepStatus: Encodable, Sendable {
  /// The run directory.
  public var run: String
  public var suite: String
  public var runID: String
  /// Trials in the run's plan.
  public var trials: Int
  /// Trials by state: `pending`, `running` and every record status present.
  public var counts: [String: Int]
  /// Each running trial's claim (executor, host, pid, heartbeat, Slurm job) with its `trial_id`
  /// and `label`.
  public var running: [[String: String]]
  /// One line about the run's last Slurm job array, if it had one.
  public var slurm: String?
  enum CodingKeys: String, CodingKey {
    case run, trials, running
    case counts = "status"
  }

  /// The status of the run at `runPath` (exit 66 when it does not exist, 65 for a bad run.json).
  public static func read(_ runPath: String) throws -> SweepStatus {
    guard FileManager.default.fileExists(atPath: runPath) else {
      throw DriverError.noInput(runPath)
    }
    let run = RunDirectory(path: runPath)
    let manifest: RunManifest
    do { manifest = try run.readManifest() } catch { throw DriverError.badData("\(error)") }
    let planned = SweepRunner.plan(manifest.suite, in: run)
    var counts: [String: Int] = ["pending": 0, "running": 0]
    var running: [[String: String]] = []
    for t in planned {
      let state =
        run.trial(t.id)?.status.rawValue
        ?? (TrialClaim.isHeld(t.id, in: run) ? "running" : "pending")
      counts[state, default: 0] += 1
      if state == "running" {
        running.append(
          (TrialClaim.info(t.id, in: run) ?? [:]).merging(
            ["trial_id": t.id, "label": "\(t.label) seed \(t.seed)"], uniquingKeysWith: { $1 }))
      }
    }
    return SweepStatus(
      run: runPath, suite: manifest.suite.name, runID: manifest.runID, trials: planned.count,
      counts: counts, running: running, slurm: SlurmExecutor.statusLine(of: run))
  }

  /// The most recently modified run under `resultsDir`, for `sweep status` without a run
  /// directory (exit 66 when there is none).
  public static func latestRun(under resultsDir: String) throws -> String {
    guard let run = RunDirectory.mostRecent(under: resultsDir) else {
      throw DriverError(
        66, "\(resultsDir): no run found (start one with: blkrew sweep run SUITE)")
    }
    return run.path
  }

  /// The text of `sweep status`: a header line, one line per state, one per running trial, and
  /// the Slurm line.
  public func text() -> String {
    var lines = ["\(suite) \(runID): \(trials) trials (\(run))"]
    for (k, v) in counts.sorted(by: { $0.key < $1.key })
    where v > 0 || k == "pending" || k == "running" {
      lines.append("  \(k): \(v)")
    }
    for r in running {
      lines.append("  running \(r["label"] ?? ""): \(SlurmExecutor.describeClaim(r))")
    }
    if let slurm { lines.append(slurm) }
    return lines.joined(separator: "\n") + "\n"
  }
}
