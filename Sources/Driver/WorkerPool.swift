import Analysis
import ChildProcesses
import Foundation
import Reporting
import ResultStore
import TuningSchema

/// Runs the trials of one run with up to `workers` child processes at a time.
///
/// - A trial is started only once its claim (`trials/<id>.claim`, an exclusive flock) is taken, so
///   two sweeps on the same run directory never run the same trial; a trial claimed by another
///   live process is waited for.
/// - A pruned trial waits for the dense baseline of its seed (it starts from its checkpoint).
/// - SIGINT / SIGTERM are counted (`Interrupts`) and polled: the first drains (no new trials;
///   running ones finish and are written), the second kills the running children at once; killed
///   trials are not recorded, so a rerun starts them again.
/// - A child ended by SIGTERM, SIGINT or SIGHUP was stopped from outside (shutdown or reboot,
///   Slurm's scancel, time limit or preemption, Ctrl-C reaching its process group): nothing is
///   wrong with the trial, so it is not recorded either (it runs again on resume), and the pool
///   drains as on a first Ctrl-C — whatever stopped that child is stopping the work.
/// - A child that crashes (any other signal, SIGKILL included unless the pool sent it for the
///   time limit) or passes its time limit is recorded as crashed / timed_out and the sweep goes
///   on.
struct WorkerPool {
  let run: RunDirectory
  let suite: SweepSpec
  let trials: [TrialConfig]
  let workers: Int
  let executable: String
  // Slurm shards (`blkrew _shard`, SlurmExecutor.swift): the plan indices this process starts
  // (nil: all), what its claims say about it, how long it sleeps while only waiting, and when it
  // adopts a dense baseline that another shard owns.
  var ownedIndices: Set<Int>? = nil
  var claimInfo: [String: String] = ["executor": "local"]
  var idleSleepMicroseconds: UInt32 = 20_000
  /// A dense baseline needed by an owned trial but owned by another shard is run here once it has
  /// been neither finished nor claimed for this long (its shard is gone or queued behind this one).
  var adoptAfterSeconds: Double = 60
  /// The suite's budget: no trial starts once the run has this many records (those there when
  /// the pool started plus those it started), or after `deadline` (monotonic seconds).
  var budgetTrials: Int? = nil
  var deadline: Double? = nil

  private struct Running {
    var config: TrialConfig
    var index: Int
    var pid: pid_t
    var claim: TrialClaim
    var started: Double
    var killedForTimeout = false
  }

  mutating func runAll() throws -> SweepRunner.Summary {
    var display = ProgressDisplay(write: { FileHandle.standardError.write(Data($0.utf8)) })
    var durations: [Double] = []
    var summary = SweepRunner.Summary(
      runDirectory: run.path, trials: ownedIndices?.count ?? trials.count, ok: 0, failed: 0,
      skipped: 0, seconds: 0)
    var pending: [Int] = []
    var unclaimedSince: [String: Double] = [:]  // shards: foreign baselines seen unclaimed
    for (i, t) in trials.enumerated() {
      if let owned = ownedIndices, !owned.contains(i) { continue }  // another shard's
      if let done = run.trial(t.id) {
        summary.skipped += 1
        if done.status == .ok { summary.ok += 1 } else { summary.failed += 1 }
        display.event("\(tag(i)): already done (\(done.status.rawValue)), skipped")
      } else {
        pending.append(i)
      }
    }
    Interrupts.install()
    let interruptsBefore = Interrupts.count

    var running: [Running] = []
    var interrupts = 0
    var terminated = 0  // trials stopped from outside, left unrecorded
    var waitingNoted = Set<Int>()
    var lastHeartbeat = ChildProcess.monotonicSeconds()
    var lastRefresh = 0.0
    // Records in the run before this pool started anything (dense baselines, earlier rungs,
    // other executors' work), for the trial budget.
    let recordedBefore = budgetTrials == nil ? 0 : run.trials().count
    var startedHere = 0
    var budgetSpent: String? = nil
    while true {
      // Signals: drain on the first, stop on the second.
      while Interrupts.count - interruptsBefore > interrupts {
        interrupts += 1
        if interrupts == 1 {
          display.event(
            "interrupted: finishing \(running.count) running trial(s); press Ctrl-C again to stop now"
          )
        } else {
          display.event(
            "stopping now: killing \(running.count) running trial(s); they will run again on resume"
          )
          for r in running {
            kill(-r.pid, SIGKILL)
            kill(r.pid, SIGKILL)
            var st: Int32 = 0
            waitpid(r.pid, &st, 0)
            r.claim.release()
          }
          summary.interrupted = true
          return summary
        }
      }
      // Reap finished children.
      var still: [Running] = []
      for var r in running {
        var status: Int32 = 0
        let w = waitpid(r.pid, &status, WNOHANG)
        if w == r.pid {
          guard let record = finish(r, status: status) else {
            r.claim.release()
            let sig = status & 0x7f
            if terminated == 0 && interrupts == 0 {
              display.event(
                "a trial was terminated from outside: finishing \(running.count - 1) other running trial(s), starting no new ones"
              )
            }
            terminated += 1
            display.event(
              "\(tag(r.index)): terminated by signal \(sig) (\(String(cString: strsignal(sig)))); not recorded, it runs again on resume"
            )
            continue
          }
          display.event(outcomeLine(r, record))
          durations.append(ChildProcess.monotonicSeconds() - r.started)
          r.claim.release()
          if record.status == .ok { summary.ok += 1 } else { summary.failed += 1 }
          continue
        }
        let elapsed = ChildProcess.monotonicSeconds() - r.started
        if elapsed > suite.trialTimeoutSeconds && !r.killedForTimeout {
          r.killedForTimeout = true
          kill(-r.pid, SIGKILL)
          kill(r.pid, SIGKILL)
        }
        still.append(r)
      }
      running = still
      if ChildProcess.monotonicSeconds() - lastHeartbeat > 30 {
        for r in running { r.claim.heartbeat() }
        lastHeartbeat = ChildProcess.monotonicSeconds()
      }
      // The budget: running trials finish, no new ones start.
      if budgetSpent == nil && !pending.isEmpty {
        if let cap = budgetTrials, recordedBefore + startedHere >= cap {
          budgetSpent = "trials"
          display.event(
            "budget of \(cap) trials reached: \(pending.count) trial(s) not started"
              + (running.isEmpty ? "" : "; finishing \(running.count) running"))
        } else if let deadline, ChildProcess.monotonicSeconds() >= deadline {
          budgetSpent = "time"
          display.event(
            "time budget spent: \(pending.count) trial(s) not started"
              + (running.isEmpty ? "" : "; finishing \(running.count) running"))
        }
      }
      // Start what is ready.
      if interrupts == 0 && terminated == 0 && budgetSpent == nil {
        var remaining: [Int] = []
        for i in pending {
          let t = trials[i]
          if run.trial(t.id) != nil {  // finished by another process meanwhile
            if run.trial(t.id)?.status == .ok { summary.ok += 1 } else { summary.failed += 1 }
            display.event("\(tag(i)): finished by another worker")
            continue
          }
          guard running.count < workers, isReady(t),
            budgetTrials.map({ recordedBefore + startedHere < $0 }) ?? true
          else {
            if ownedIndices != nil, !isReady(t),
              let j = abandonedBaseline(of: t, since: &unclaimedSince), !pending.contains(j),
              !remaining.contains(j), !running.contains(where: { $0.index == j })
            {
              let after = Int(adoptAfterSeconds)
              display.event("\(tag(j)): not started by its shard in \(after) s; running it here")
              remaining.insert(j, at: 0)
            }
            remaining.append(i)
            continue
          }
          guard let claim = TrialClaim.acquire(t.id, in: run, info: claimInfo) else {
            if waitingNoted.insert(i).inserted {
              display.event("\(tag(i)): claimed by another live process; waiting")
            }
            remaining.append(i)
            continue
          }
          do {
            let pid = try ChildProcess.spawn(
              executable, ["_trial", run.path, t.id], stdoutPath: "\(run.logsDir)/\(t.id).out",
              stderrPath: run.trialLogPath(t.id))
            running.append(
              Running(
                config: t, index: i, pid: pid, claim: claim,
                started: ChildProcess.monotonicSeconds()))
            startedHere += 1
            display.event("\(tag(i)): running (log: \(run.trialLogPath(t.id)))")
          } catch {
            var r = TrialRecord(trialID: t.id, config: t, status: .failed)
            r.reason = "\(error)"
            r.finishedAt = ISO8601DateFormatter().string(from: Date())
            try? run.writeTrial(r)
            claim.release()
            summary.failed += 1
          }
        }
        pending = remaining
      }
      if running.isEmpty
        && (pending.isEmpty || interrupts > 0 || terminated > 0 || budgetSpent != nil)
      {
        break
      }
      let now = ChildProcess.monotonicSeconds()
      if now - lastRefresh >= 1 {
        lastRefresh = now
        let remaining = pending.count + running.count
        let eta =
          durations.isEmpty
          ? nil
          : durations.reduce(0, +) / Double(durations.count) * Double(remaining) / Double(workers)
        display.refresh(
          workers: running.map {
            .init(
              label: tag($0.index), logPath: run.trialLogPath($0.config.id), started: $0.started)
          },
          done: summary.ok + summary.failed, failed: summary.failed, total: trials.count,
          front: frontSummary(), eta: eta,
          now: now)
      }
      usleep(running.isEmpty ? idleSleepMicroseconds : 20_000)
    }
    display.clear()
    // Stopped before every trial finished: unstarted ones are left, or terminated ones.
    summary.interrupted = terminated > 0 || (interrupts > 0 && !pending.isEmpty)
    if budgetSpent != nil && !pending.isEmpty {
      summary.budgetSpent = budgetSpent
      summary.unfinished = pending.count
    }
    return summary
  }

  private func tag(_ i: Int) -> String {
    "[\(i + 1)/\(trials.count)] \(trials[i].label) seed \(trials[i].seed)"
  }

  /// A dense trial is always ready; a pruned one once its dense baseline has a record.
  private func isReady(_ t: TrialConfig) -> Bool {
    t.kind == .dense || run.trial(t.denseBaseline.id) != nil
  }

  /// The plan index of `t`'s dense baseline when this shard should run it although another shard
  /// owns it: unfinished and unclaimed for `adoptAfterSeconds`.
  private func abandonedBaseline(of t: TrialConfig, since: inout [String: Double]) -> Int? {
    let dense = t.denseBaseline.id
    guard run.trial(dense) == nil, let j = trials.firstIndex(where: { $0.id == dense }) else {
      return nil
    }
    if TrialClaim.isHeld(dense, in: run) {
      since[dense] = nil
      return nil
    }
    let now = ChildProcess.monotonicSeconds()
    let first = since[dense] ?? now
    since[dense] = first
    return now - first >= adoptAfterSeconds ? j : nil
  }

  /// Signals that stop a trial from outside with nothing wrong with it: SIGTERM (shutdown,
  /// reboot, Slurm's scancel, time limit and preemption), SIGINT (Ctrl-C reaching the child's
  /// process group), SIGHUP (its terminal or session closed).
  static let terminationSignals: Set<Int32> = [SIGTERM, SIGINT, SIGHUP]

  /// The record of a child that has ended: its own, or the one written here when it wrote none
  /// (crashed, timed_out, failed with its exit code). Nil, writing nothing, when a termination
  /// signal (`terminationSignals`) ended it: like a trial killed by a second Ctrl-C, it is left
  /// for the next resume.
  private func finish(_ r: Running, status: Int32) -> TrialRecord? {
    let seconds = ChildProcess.monotonicSeconds() - r.started
    if let record = run.trial(r.config.id) { return record }
    let exited = (status & 0x7f) == 0
    if !exited && !r.killedForTimeout && Self.terminationSignals.contains(status & 0x7f) {
      return nil
    }
    let log = (try? String(contentsOfFile: run.trialLogPath(r.config.id), encoding: .utf8)) ?? ""
    let lastLine = log.split(separator: "\n").last.map(String.init) ?? ""
    var rec = TrialRecord(trialID: r.config.id, config: r.config, status: .crashed)
    if r.killedForTimeout {
      rec.status = .timedOut
      rec.reason = "killed after the trial time limit of \(suite.trialTimeoutSeconds) s"
    } else if !exited {
      let sig = status & 0x7f
      rec.status = .crashed
      rec.reason = "killed by signal \(sig) (\(String(cString: strsignal(sig))))"
    } else {
      rec.status = .failed
      rec.reason = "exit code \((status >> 8) & 0xff)"
    }
    if !lastLine.isEmpty { rec.reason! += ": \(lastLine)" }
    rec.seconds = seconds
    rec.finishedAt = ISO8601DateFormatter().string(from: Date())
    try? run.writeTrial(rec)
    return rec
  }

  private func outcomeLine(_ r: Running, _ record: TrialRecord) -> String {
    let acc = record.accuracy.map { String(format: "accuracy %.4f", $0) } ?? ""
    let lat = record.latencySeconds.map { String(format: ", latency %.2f µs", $0 * 1e6) } ?? ""
    return
      "\(tag(r.index)): \(record.status.rawValue) \(acc)\(lat) (\(String(format: "%.1f", record.seconds)) s)"
      + (record.reason.map { " — \($0)" } ?? "")
  }

  /// The Pareto front over the suite's objectives among this run's finished trials: its size
  /// and its normalized hypervolume (`RunReport.hypervolume`).
  private func frontSummary() -> String {
    let trials = run.trials()
    let objectives = suite.resolvedObjectives
    let size = RunReport.frontIDs(of: trials, objectives: objectives).count
    guard let hv = RunReport.hypervolume(of: trials, objectives: objectives) else {
      return "\(size)"
    }
    return "\(size) (hypervolume \(String(format: "%.4f", hv)))"
  }
}
