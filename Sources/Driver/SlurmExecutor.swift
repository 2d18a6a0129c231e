import ChildProcesses
import Foundation
import ResultStore
import TuningSchema

/// `slurm/job.json` in a run directory: the last job array submitted for the run.
public struct SlurmJob: Codable, Sendable {
  public var jobID: String
  public var arraySize: Int
  public var submittedAt: String
  /// The job array script (`slurm/array.sh`), absolute.
  public var script: String
  public var timeLimitMinutes: Int
  /// The trials that had no record when the array was submitted.
  public var trials: [String]
  /// The argv given to sbatch (after the program name).
  public var sbatch: [String]
  enum CodingKeys: String, CodingKey {
    case jobID = "job_id"
    case arraySize = "array_size"
    case submittedAt = "submitted_at"
    case script
    case timeLimitMinutes = "time_limit_min"
    case trials, sbatch
  }
}

/// `sweep run --executor slurm`: writes a job array script under the run directory and submits it
/// with `sbatch` (argv only). Task i of n runs `blkrew _shard RUN_DIR i n` (`SlurmShard`): the
/// unfinished trials whose index in the plan is i mod n, into the shared run directory; claims
/// keep two processes from running one trial, whatever host they are on. Without `wait` it returns
/// right after submission; with `wait` it follows the array (squeue and the trial files) to its
/// end. Resume is the same command: it submits a new array for what has no record, unless the
/// run's previous array is still queued or running.
public struct SlurmExecutor {
  /// Array tasks when `--workers` is not given.
  public static let defaultShards = 4

  public let run: RunDirectory
  public let suite: SweepSpec
  /// The most array tasks to submit (`--workers`); fewer when fewer trials are unfinished.
  public var shards: Int
  public var wait: Bool
  public var progress: (String) -> Void
  /// Seconds between polls of squeue and the trial files with `wait`.
  public var pollSeconds: Double = 2

  public init(
    run: RunDirectory, suite: SweepSpec, shards: Int, wait: Bool,
    progress: @escaping (String) -> Void
  ) {
    self.run = run
    self.suite = suite
    self.shards = shards
    self.wait = wait
    self.progress = progress
  }

  public var slurmDir: String { "\(run.path)/slurm" }
  public var jobPath: String { "\(slurmDir)/job.json" }
  public var scriptPath: String { "\(slurmDir)/array.sh" }

  /// The run's last submitted array, if any.
  public static func lastJob(of run: RunDirectory) -> SlurmJob? {
    try? run.read(SlurmJob.self, at: "\(run.path)/slurm/job.json")
  }

  /// Submits an array for the unfinished trials (or follows the run's still active one) and, with
  /// `wait`, waits for it. The summary counts every trial of the plan.
  public func submit(start: Date) throws -> SweepRunner.Summary {
    // Successive halving: the rungs planned so far (the array's tasks plan the later ones as
    // they go, from the same records).
    let plan = SweepRunner.plan(suite, in: run)
    var summary = SweepRunner.Summary(
      runDirectory: run.path, trials: plan.count, ok: 0, failed: 0, skipped: 0, seconds: 0)
    var unfinished: [Int] = []
    for (i, t) in plan.enumerated() {
      if let r = run.trial(t.id) {
        summary.skipped += 1
        if r.status == .ok { summary.ok += 1 } else { summary.failed += 1 }
      } else {
        unfinished.append(i)
      }
    }
    guard !unfinished.isEmpty else {
      progress("all \(plan.count) trials are done; nothing to submit")
      summary.unfinished = 0
      summary.seconds = Date().timeIntervalSince(start)
      return summary
    }

    var job: SlurmJob
    if let previous = Self.lastJob(of: run), try Self.isActive(previous.jobID) {
      progress(
        "slurm job \(previous.jobID) of this run is still queued or running; not submitting another"
          + (wait ? "; following it" : " (rerun when it has ended, or add --wait to follow it)"))
      job = previous
    } else {
      job = try submitArray(plan: plan, unfinished: unfinished)
    }
    summary.slurmJobID = job.jobID
    guard wait else {
      summary.unfinished = unfinished.count
      summary.seconds = Date().timeIntervalSince(start)
      return summary
    }

    try follow(job)
    summary.ok = 0
    summary.failed = 0
    var left: [String] = []
    let finalPlan = SweepRunner.plan(suite, in: run)
    summary.trials = finalPlan.count
    for t in finalPlan {
      guard let r = run.trial(t.id) else {
        left.append(t.id)
        continue
      }
      if r.status == .ok { summary.ok += 1 } else { summary.failed += 1 }
    }
    summary.unfinished = left.count
    if !left.isEmpty, let cap = suite.budget?.trials, run.trials().count >= cap {
      summary.budgetSpent = "trials"  // the tasks stopped at the suite's budget, as asked
    }
    summary.interrupted = !left.isEmpty && summary.budgetSpent == nil
    summary.seconds = Date().timeIntervalSince(start)
    progress(
      "done: \(summary.ok) ok, \(summary.failed) not ok, \(summary.skipped) already done"
        + (left.isEmpty
          ? "" : ", \(left.count) unfinished (rerun the same command to submit them again)")
        + ", \(String(format: "%.0f", summary.seconds)) s")
    if !left.isEmpty { reportTaskOutputs(job) }
    return summary
  }

  // MARK: Submission

  /// Array tasks and the time limit (minutes) for the unfinished plan indices.
  public static func arrayShape(unfinished: [Int], shards: Int, trialTimeout: Double) -> (
    tasks: Int, minutes: Int
  ) {
    let n = max(1, min(unfinished.count, shards))
    var perShard = [Int](repeating: 0, count: n)
    for i in unfinished { perShard[i % n] += 1 }
    let seconds = trialTimeout * Double(perShard.max() ?? 1)
    return (n, max(1, Int((seconds / 60).rounded(.up))))
  }

  /// The job array script: bash, running this blkrew with fixed arguments (only the task index
  /// comes from Slurm).
  public static func script(executable: String, runPath: String, tasks: Int, suite: String)
    -> String
  {
    """
    #!/bin/bash
    # blkrew job array for suite \(suite): array task i of \(tasks) runs the unfinished trials
    # whose index in the plan is i mod \(tasks). Written and submitted by
    # `blkrew sweep run --executor slurm`; rerun that command to resume, not this script.
    set -eu
    exec \(shellQuoted(executable)) _shard \(shellQuoted(runPath)) \\
      "${SLURM_ARRAY_TASK_ID:?not a Slurm array task}" \(tasks)

    """
  }

  static func shellQuoted(_ s: String) -> String {
    "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }

  private func submitArray(plan: [TrialConfig], unfinished: [Int]) throws -> SlurmJob {
    guard let sbatch = ChildProcess.which("sbatch") else {
      throw DriverError.unavailable(
        "sbatch not found: --executor slurm needs a Slurm cluster and its client (run: apt-get install -y --no-install-recommends slurm-client)"
      )
    }
    var shape = Self.arrayShape(
      unfinished: unfinished, shards: shards, trialTimeout: suite.trialTimeoutSeconds)
    if suite.search.strategy == .halving {
      // The later rungs run in the same tasks: fewer trials than rung 0 has (at most half as
      // many again in all, for eta >= 2), so twice the time is a bound.
      shape.minutes *= 2
    }
    let runPath = Self.absolute(run.path)
    let script = Self.script(
      executable: SweepRunner.executablePath(), runPath: runPath, tasks: shape.tasks,
      suite: suite.name.filter { !$0.isNewline })
    let scriptAbs = "\(runPath)/slurm/array.sh"
    do { try AtomicFile.write(Data(script.utf8), to: scriptAbs) } catch {
      throw DriverError.failed("\(error)")
    }
    chmod(scriptAbs, 0o755)
    let args = [
      "--parsable", "--array=0-\(shape.tasks - 1)", "--job-name=blkrew-\(suite.name)",
      "--output=\(runPath)/slurm/%A_%a.out", "--time=\(shape.minutes)", "--cpus-per-task=1",
      "--export=ALL", scriptAbs,
    ]
    let r: ChildResult
    do { r = try ChildProcess.run(sbatch, args, timeout: 120) } catch {
      throw DriverError.failed("sbatch: \(error)")
    }
    let out = r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    let jobID = out.split(separator: ";").first.map(String.init) ?? ""
    guard r.succeeded, !jobID.isEmpty, jobID.allSatisfy(\.isNumber) else {
      let why = (r.stderrText + r.stdoutText).split(separator: "\n").last.map(String.init)
      throw DriverError.failed("sbatch failed (\(r.summary)): \(why ?? "no output")")
    }
    let job = SlurmJob(
      jobID: jobID, arraySize: shape.tasks,
      submittedAt: ISO8601DateFormatter().string(from: Date()), script: scriptAbs,
      timeLimitMinutes: shape.minutes, trials: unfinished.map { plan[$0].id }, sbatch: args)
    do {
      try AtomicFile.write(json: job, to: jobPath)
      try AtomicFile.write(json: job, to: "\(slurmDir)/job-\(jobID).json")
    } catch { throw DriverError.failed("\(error)") }
    progress(
      "submitted slurm job \(jobID): \(shape.tasks) array task(s) for \(unfinished.count) unfinished trial(s), "
        + "time limit \(shape.minutes) min each; output in \(slurmDir)/\(jobID)_<task>.out")
    return job
  }

  static func absolute(_ path: String) -> String {
    path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
  }

  // MARK: Following a job

  /// Slurm states of a job that is still to run or running (squeue lists COMPLETING too; a task in
  /// it has done its work).
  static let activeStates: Set<String> = [
    "PENDING", "RUNNING", "CONFIGURING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
    "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD",
  ]

  /// The states of the job's array tasks still known to squeue (one per task); empty when the
  /// job has ended and been purged. Throws when squeue cannot be asked.
  static func taskStates(_ jobID: String) throws -> [String] {
    guard let squeue = ChildProcess.which("squeue") else {
      throw DriverError.unavailable(
        "squeue not found (run: apt-get install -y --no-install-recommends slurm-client)")
    }
    let r = try ChildProcess.run(squeue, ["-h", "-r", "-j", jobID, "-o", "%T"], timeout: 20)
    if r.succeeded {
      return r.stdoutText.split(whereSeparator: \.isNewline).map {
        $0.trimmingCharacters(in: .whitespaces)
      }.filter { !$0.isEmpty }
    }
    if r.stderrText.contains("Invalid job id") { return [] }
    throw DriverError.failed("squeue -j \(jobID): \(r.summary): \(r.stderrText)")
  }

  /// Whether the job still has tasks queued or running. False when Slurm is not there at all.
  static func isActive(_ jobID: String) throws -> Bool {
    guard ChildProcess.which("squeue") != nil else { return false }
    return try taskStates(jobID).contains { activeStates.contains($0) }
  }

  /// Polls squeue and the trial files until the array has no active task, printing a line each
  /// time the picture changes. squeue failing a few times in a row (controller restarting) is
  /// waited out; for a minute, it ends the wait with an error.
  private func follow(_ job: SlurmJob) throws {
    var last = ""
    var failures = 0
    while true {
      let states: [String]
      do {
        states = try Self.taskStates(job.jobID)
        failures = 0
      } catch {
        failures += 1
        if Double(failures) * pollSeconds > 60 { throw error }
        usleep(UInt32(pollSeconds * 1e6))
        continue
      }
      var done = 0
      var notOK = 0
      var running = 0
      // Under successive halving the tasks plan later rungs meanwhile: follow the whole plan.
      let ids =
        suite.search.strategy == .halving
        ? SweepRunner.plan(suite, in: run).map(\.id) : job.trials
      for id in ids {
        if let r = run.trial(id) {
          done += 1
          if r.status != .ok { notOK += 1 }
        } else if TrialClaim.isHeld(id, in: run) {
          running += 1
        }
      }
      let tasks = Dictionary(grouping: states, by: { $0 }).map {
        "\($0.value.count) \($0.key.lowercased())"
      }
      .sorted().joined(separator: ", ")
      let line =
        "slurm job \(job.jobID): \(done)/\(ids.count) trials done (\(notOK) not ok), "
        + "\(running) running; tasks: \(tasks.isEmpty ? "none left" : tasks)"
      if line != last {
        progress(line)
        last = line
      }
      if !states.contains(where: { Self.activeStates.contains($0) }) { return }
      usleep(UInt32(pollSeconds * 1e6))
    }
  }

  /// After an array that left trials unfinished: what sacct knows (when accounting is on) and
  /// the last line of each task's output.
  private func reportTaskOutputs(_ job: SlurmJob) {
    if let sacct = ChildProcess.which("sacct"),
      let r = try? ChildProcess.run(
        sacct, ["-n", "-P", "-X", "-j", job.jobID, "--format=JobID,State,ExitCode"], timeout: 60),
      r.succeeded
    {
      for line in r.stdoutText.split(whereSeparator: \.isNewline) where !line.contains("COMPLETED")
      {
        progress("sacct: \(line)")
      }
    }
    for i in 0..<job.arraySize {
      let path = "\(slurmDir)/\(job.jobID)_\(i).out"
      let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
      let lastLine = text.split(whereSeparator: \.isNewline).last.map(String.init) ?? "(no output)"
      progress("task \(i): \(path): \(lastLine)")
    }
  }
}

/// One array task (`blkrew _shard RUN_DIR i n`): runs, one at a time with the worker pool, the
/// trials of the run's plan whose index is i mod n and that have no record (under successive
/// halving: any unclaimed trial of the current rung, rung after rung; see `halving`). A pruned trial whose
/// dense baseline belongs to another shard waits for that baseline's record (polling once a
/// second); a baseline that no process has claimed for a minute (its shard failed, or is queued
/// behind this one on a full node) is run here. Claims say `executor: slurm` and the job and task.
public enum SlurmShard {
  public static func run(runPath: String, index: Int, count: Int) throws -> SweepRunner.Summary {
    let run = RunDirectory(path: runPath)
    guard FileManager.default.fileExists(atPath: run.manifestPath) else {
      throw DriverError.noInput(run.manifestPath)
    }
    let manifest: RunManifest
    do { manifest = try run.readManifest() } catch { throw DriverError.badData("\(error)") }
    let suite = manifest.suite
    let env = ProcessInfo.processInfo.environment
    var info = ["executor": "slurm", "shard": "\(index)/\(count)"]
    info["slurm_job_id"] = env["SLURM_ARRAY_JOB_ID"] ?? env["SLURM_JOB_ID"]
    info["slurm_array_task_id"] = env["SLURM_ARRAY_TASK_ID"]
    let start = Date()
    func pool(_ plan: [TrialConfig]) -> WorkerPool {
      var pool = WorkerPool(
        run: run, suite: suite, trials: plan, workers: 1, executable: SweepRunner.executablePath())
      pool.claimInfo = info
      pool.idleSleepMicroseconds = 1_000_000
      if let s = env["BLKREW_SLURM_ADOPT_S"].flatMap(Double.init) { pool.adoptAfterSeconds = s }
      SweepRunner.applyBudget(suite, to: &pool, start: start)
      return pool
    }
    var summary: SweepRunner.Summary
    if suite.search.strategy == .halving {
      // Every task works on the whole rung (claims share its trials out, and a task waits for
      // the trials others hold), so the rung ends for all tasks together and each plans the next
      // from the same records: the local executor's plan. A dead claim holder's trial is taken
      // over.
      summary = try SweepRunner.halvingRungs(
        run: run, suite: suite,
        progress: { FileHandle.standardError.write(Data("blkrew: \($0)\n".utf8)) }, pool: pool)
    } else {
      let plan = SweepRunner.plan(suite)
      var p = pool(plan)
      p.ownedIndices = Set(plan.indices.filter { $0 % count == index })
      summary = try p.runAll()
    }
    summary.seconds = Date().timeIntervalSince(start)
    FileHandle.standardError.write(
      Data(
        ("blkrew: shard \(index)/\(count) done: \(summary.ok) ok, \(summary.failed) not ok, "
          + "\(summary.skipped) already done" + (summary.interrupted ? ", interrupted" : "")
          + String(format: ", %.0f s\n", summary.seconds)).utf8))
    return summary
  }
}

extension SlurmExecutor {
  /// One line about the run's last job array for `sweep status`, or nil when it never had one.
  public static func statusLine(of run: RunDirectory) -> String? {
    guard let job = lastJob(of: run) else { return nil }
    let state: String
    if ChildProcess.which("squeue") == nil {
      state = "squeue not available here"
    } else if let active = try? isActive(job.jobID) {
      state = active ? "queued or running" : "ended"
    } else {
      state = "squeue failed"
    }
    return
      "slurm job \(job.jobID): \(job.arraySize) task(s) for \(job.trials.count) trial(s), submitted \(job.submittedAt), \(state)"
  }

  /// A short description of who holds a claim, from its content.
  public static func describeClaim(_ info: [String: String]) -> String {
    var s = info["executor"] ?? "local"
    if let job = info["slurm_job_id"] {
      s += " job \(job)" + (info["slurm_array_task_id"].map { "_\($0)" } ?? "")
    }
    if let host = info["host"] { s += " on \(host)" }
    if let pid = info["pid"] { s += " pid \(pid)" }
    if let beat = info["heartbeat"] ?? info["started_at"] { s += ", heartbeat \(beat)" }
    return s
  }
}
