import ChildProcesses
import Foundation
import Testing
import TuningSchema

/// How `sweep run` ends when it is interrupted or its trials fail: Ctrl-C once drains and exits
/// 130, twice stops at once; a trial stopped from outside (SIGTERM, SIGINT, SIGHUP) is not
/// recorded and runs on resume; diverged, timed-out and crashed trials are recorded with their
/// reason while the sweep goes on; `sweep status` without a run directory. Uses the tiny suite of
/// EndToEndTests and the test-only fault hook of `blkrew _trial` (BLKREW_TEST_CRASH_TRIAL,
/// BLKREW_TEST_CRASH_SIGNAL; TrialExecutor.swift).
@Suite(.serialized) struct SweepFailureTests {
  /// A `sweep run` started in the background, its output in `<dir>/<tag>.out` / `.err`.
  struct Background {
    let pid: pid_t
    let dir: String
    let tag: String
    var stderr: String {
      (try? String(contentsOfFile: "\(dir)/\(tag).err", encoding: .utf8)) ?? ""
    }
    var stdout: String {
      (try? String(contentsOfFile: "\(dir)/\(tag).out", encoding: .utf8)) ?? ""
    }

    /// Waits until stderr contains `text`; false after `timeout` seconds or when the sweep ended.
    func waitFor(_ text: String, timeout: Double = 300) -> Bool {
      let end = ChildProcess.monotonicSeconds() + timeout
      while ChildProcess.monotonicSeconds() < end {
        if stderr.contains(text) { return true }
        if kill(pid, 0) != 0 { return false }
        usleep(50_000)
      }
      return false
    }

    /// Waits for the sweep to end; its exit code, or 128 + the signal that killed it.
    func exitCode() -> Int32 {
      var status: Int32 = 0
      while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
      return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
  }

  func start(
    _ dir: String, results: String, tag: String, environment: [String: String] = [:]
  ) throws -> Background {
    let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let pid = try ChildProcess.spawn(
      blkrewBinary(), ["sweep", "run", "tiny.yaml", "--results", results], environment: env,
      workingDirectory: dir, stdoutPath: "\(dir)/\(tag).out", stderrPath: "\(dir)/\(tag).err")
    return Background(pid: pid, dir: dir, tag: tag)
  }

  func blkrew(_ args: [String], cwd: String, environment: [String: String] = [:]) throws
    -> ChildResult
  {
    try ChildProcess.run(
      blkrewBinary(), args,
      environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
      workingDirectory: cwd, timeout: 600)
  }

  func sweep(
    _ dir: String, results: String, suite: String = "tiny.yaml", extra: [String] = [],
    environment: [String: String] = [:]
  ) throws -> ChildResult {
    try blkrew(
      ["sweep", "run", suite, "--results", results] + extra, cwd: dir, environment: environment)
  }

  /// The suite directory of a finished or stopped sweep: its last stdout line.
  func runDirectory(_ stdout: String, in dir: String) -> String {
    "\(dir)/" + (stdout.split(separator: "\n").last.map(String.init) ?? "")
  }

  func claims(_ runDir: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "\(runDir)/trials")) ?? []).filter {
      $0.hasSuffix(".claim")
    }
  }

  /// The trial IDs of the tiny suite in plan order (dense first).
  func plan(_ dir: String) throws -> [String] {
    let r = try blkrew(["sweep", "run", "tiny.yaml", "--dry-run"], cwd: dir)
    return r.stdoutText.split(separator: "\n").compactMap { $0.split(separator: " ").first }.map(
      String.init)
  }

  /// The pid of a `blkrew _trial` child of `parent` (from /proc), waiting up to 60 s for one.
  func trialChild(of parent: pid_t) -> pid_t? {
    let end = ChildProcess.monotonicSeconds() + 60
    while ChildProcess.monotonicSeconds() < end {
      for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = pid_t(entry),
          let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")")
        else { continue }
        // Fields after "(comm)": state, ppid, ...
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 1, pid_t(fields[1]) == parent,
          let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
          String(decoding: cmdline, as: UTF8.self).contains("_trial")
        else { continue }
        return pid
      }
      usleep(50_000)
    }
    return nil
  }

  // MARK: Ctrl-C

  /// Ctrl-C once while the dense trial runs: it finishes and is written (ok), nothing new
  /// starts, exit 130 with the run directory still the last stdout line; the resume runs the
  /// rest.
  @Test func oneInterruptDrainsThenExits130() throws {
    let dir = temporaryDirectory("sigint1")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try tinySuite.write(toFile: "\(dir)/tiny.yaml", atomically: true, encoding: .utf8)
    let ids = try plan(dir)
    #expect(ids.count == 3)

    let s = try start(dir, results: "res", tag: "first")
    #expect(s.waitFor(": running (log: "), "\(s.stderr)")
    kill(s.pid, SIGINT)
    let code = s.exitCode()
    #expect(code == 130, "\(s.stderr)")
    #expect(s.stderr.contains("interrupted: finishing 1 running trial(s)"), "\(s.stderr)")
    #expect(s.stderr.contains("interrupted (rerun the same command to resume)"))
    let runDir = runDirectory(s.stdout, in: dir)
    let got = try trialRecords(runDir)
    #expect(Set(got.keys) == [ids[0]], "only the running dense trial finished")
    #expect(got[ids[0]]?.status == .ok, "\(got[ids[0]]?.reason ?? "")")
    #expect(claims(runDir).isEmpty)

    let resumed = try sweep(dir, results: "res")
    #expect(resumed.exitCode == 0, "\(resumed.stderrText)")
    #expect(
      resumed.stderrText.components(separatedBy: "already done (ok), skipped").count - 1 == 1)
    let after = try trialRecords(runDir)
    #expect(Set(after.keys) == Set(ids))
    #expect(after.values.allSatisfy { $0.status == .ok })
    #expect(after[ids[0]]?.finishedAt == got[ids[0]]?.finishedAt, "the dense trial ran twice")
  }

  /// A trial stopped at once (Ctrl-C twice) or from outside (the child ended by SIGINT, SIGHUP
  /// or SIGTERM: Ctrl-C reaching its group, a closed session, shutdown or scancel) is not
  /// recorded: no record, no claim, exit 130; the resume runs it.
  @Test func stoppedTrialsAreNotRecordedAndRunOnResume() throws {
    let dir = temporaryDirectory("stopped")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try tinySuite.write(toFile: "\(dir)/tiny.yaml", atomically: true, encoding: .utf8)
    let ids = try plan(dir)
    var runDir = ""

    // Ctrl-C twice: the running trial is killed now.
    let twice = try start(dir, results: "res", tag: "twice")
    #expect(twice.waitFor(": running (log: "), "\(twice.stderr)")
    kill(twice.pid, SIGINT)
    #expect(twice.waitFor("interrupted: finishing"), "\(twice.stderr)")
    let second = ChildProcess.monotonicSeconds()
    kill(twice.pid, SIGINT)
    #expect(twice.exitCode() == 130, "\(twice.stderr)")
    #expect(ChildProcess.monotonicSeconds() - second < 10, "a second Ctrl-C stops at once")
    #expect(twice.stderr.contains("stopping now: killing 1 running trial(s)"), "\(twice.stderr)")
    runDir = runDirectory(twice.stdout, in: dir)
    #expect(try trialRecords(runDir).isEmpty)
    #expect(claims(runDir).isEmpty)

    // The trial's child ended by SIGINT, then SIGHUP (the fault hook raises them at its start).
    for (name, number) in [("INT", SIGINT), ("HUP", SIGHUP)] {
      let r = try sweep(
        dir, results: "res",
        environment: ["BLKREW_TEST_CRASH_TRIAL": "dense", "BLKREW_TEST_CRASH_SIGNAL": name])
      #expect(r.exitCode == 130, "SIG\(name): \(r.stderrText)")
      #expect(
        r.stderrText.contains("dense seed 1: terminated by signal \(number)"), "\(r.stderrText)")
      #expect(r.stderrText.contains("not recorded, it runs again on resume"))
      #expect(!r.stderrText.contains("crashed"))
      #expect(try trialRecords(runDir).isEmpty, "SIG\(name) must not record the trial")
      #expect(claims(runDir).isEmpty)
    }

    // SIGTERM sent to the running trial's child from outside (as shutdown or scancel do).
    let term = try start(dir, results: "res", tag: "term")
    #expect(term.waitFor(": running (log: "), "\(term.stderr)")
    let child = try #require(trialChild(of: term.pid), "no _trial child found")
    kill(child, SIGTERM)
    #expect(term.exitCode() == 130, "\(term.stderr)")
    #expect(term.stderr.contains("terminated by signal \(SIGTERM)"), "\(term.stderr)")
    #expect(term.stderr.contains("a trial was terminated from outside"))
    #expect(try trialRecords(runDir).isEmpty)
    #expect(claims(runDir).isEmpty)

    // The resume runs everything.
    let resumed = try sweep(dir, results: "res")
    #expect(resumed.exitCode == 0, "\(resumed.stderrText)")
    #expect(!resumed.stderrText.contains("already done ("))
    let got = try trialRecords(runDir)
    #expect(Set(got.keys) == Set(ids))
    for (id, r) in got { #expect(r.status == .ok, "trial \(id): \(r.reason ?? "")") }
  }

  // MARK: Failed trials

  /// An absurd retraining learning rate: the pruned trials' loss becomes NaN; they are recorded
  /// as diverged with the phase and step, the dense trial is ok, and the sweep exits 0.
  @Test func divergedTrialsAreRecordedAndTheSweepGoesOn() throws {
    let dir = temporaryDirectory("diverged")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let suite = tinySuite.replacingOccurrences(
      of: "learning_rate: 0.05}", with: "learning_rate: 0.05, retrain_learning_rate: 1.0e6}")
    #expect(suite != tinySuite)
    try suite.write(toFile: "\(dir)/tiny.yaml", atomically: true, encoding: .utf8)
    let r = try sweep(dir, results: "res")
    #expect(r.exitCode == 0, "a trial succeeded: \(r.stderrText)")
    let got = Array(try trialRecords(runDirectory(r.stdoutText, in: dir)).values)
    #expect(got.count == 3)
    for t in got {
      if t.config.kind == .dense {
        #expect(t.status == .ok, "\(t.reason ?? "")")
      } else {
        #expect(t.status == .diverged, "\(t.config.label): \(t.status) \(t.reason ?? "")")
        #expect(
          t.reason?.contains("loss is not finite in phase retrain") == true, "\(t.reason ?? "")")
        #expect(t.accuracy == nil)
      }
    }
  }

  /// A time limit shorter than any trial: every trial is killed and recorded as timed_out (a
  /// pruned one may instead fail first for want of its baseline's checkpoint); exit 1.
  @Test func timedOutTrialsAreRecorded() throws {
    let dir = temporaryDirectory("timeout")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try (tinySuite + "\ntrial_timeout_s: 2\n").write(
      toFile: "\(dir)/tiny.yaml", atomically: true, encoding: .utf8)
    let r = try sweep(dir, results: "res")
    #expect(r.exitCode == 1, "no trial succeeded: \(r.stderrText)")
    #expect(r.stderrText.contains("blkrew: error: no trial succeeded"))
    let got = Array(try trialRecords(runDirectory(r.stdoutText, in: dir)).values)
    #expect(got.count == 3)
    for t in got {
      if t.config.kind == .dense || t.status == .timedOut {
        #expect(t.status == .timedOut, "\(t.config.label): \(t.status) \(t.reason ?? "")")
        #expect(
          t.reason?.hasPrefix("killed after the trial time limit of 2.0 s") == true,
          "\(t.reason ?? "")")
      } else {
        #expect(t.status == .failed, "\(t.config.label): \(t.status)")
        #expect(t.reason?.contains("has no checkpoint (its status: timed_out)") == true)
      }
    }
  }

  /// Children that crash (SIGSEGV, SIGABRT, a SIGKILL the sweep did not send) are recorded as
  /// crashed with the signal; the sweep goes on to the other trials and exits 1 when none
  /// succeeded.
  @Test(arguments: [("SEGV", SIGSEGV, "all"), ("ABRT", SIGABRT, "dense"), ("KILL", SIGKILL, "all")])
  func crashedTrialsAreRecordedWithTheirSignal(name: String, number: Int32, target: String)
    throws
  {
    let dir = temporaryDirectory("crash-\(name)")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try tinySuite.write(toFile: "\(dir)/tiny.yaml", atomically: true, encoding: .utf8)
    let r = try sweep(
      dir, results: "res",
      environment: ["BLKREW_TEST_CRASH_TRIAL": target, "BLKREW_TEST_CRASH_SIGNAL": name])
    #expect(r.exitCode == 1, "\(r.stderrText)")
    #expect(r.stderrText.contains("blkrew: error: no trial succeeded"))
    let got = Array(try trialRecords(runDirectory(r.stdoutText, in: dir)).values)
    #expect(got.count == 3, "every trial is recorded")
    let signalName = String(cString: strsignal(number))
    for t in got {
      if target == "all" || t.config.label == target {
        #expect(t.status == .crashed, "\(t.config.label): \(t.status) \(t.reason ?? "")")
        #expect(
          t.reason?.hasPrefix("killed by signal \(number) (\(signalName))") == true,
          "\(t.reason ?? "")")
      } else {
        #expect(t.status == .failed, "\(t.config.label): \(t.status) \(t.reason ?? "")")
        #expect(t.reason?.contains("has no checkpoint (its status: crashed)") == true)
      }
    }
  }

  // MARK: sweep status

  /// `sweep status` without RUN_DIR shows the most recently modified run under --results (or
  /// results/); with none, one error line and exit 66.
  @Test func statusDefaultsToTheLatestRun() throws {
    let dir = temporaryDirectory("status")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try tinySuite.write(toFile: "\(dir)/tiny.yaml", atomically: true, encoding: .utf8)

    let none = try blkrew(["sweep", "status"], cwd: dir)
    #expect(none.exitCode == 66)
    #expect(
      none.stderrText
        == "blkrew: error: results: no run found (start one with: blkrew sweep run SUITE)\n",
      "\(none.stderrText)")

    // Two runs of quickly crashing trials: the first, then a --fresh one beside it.
    let crash = ["BLKREW_TEST_CRASH_TRIAL": "all"]
    let a = try sweep(dir, results: "results", environment: crash)
    let b = try sweep(dir, results: "results", extra: ["--fresh"], environment: crash)
    let runA = try #require(a.stdoutText.split(separator: "\n").last.map(String.init))
    let runB = try #require(b.stdoutText.split(separator: "\n").last.map(String.init))
    #expect(runA != runB)

    let latest = try blkrew(["sweep", "status"], cwd: dir)
    #expect(latest.exitCode == 0, "\(latest.stderrText)")
    #expect(latest.stdoutText.hasPrefix("tiny "), "\(latest.stdoutText)")
    #expect(latest.stdoutText.contains("3 trials (\(runB))"), "\(latest.stdoutText)")
    #expect(latest.stdoutText.contains("crashed: 3"))
    #expect(latest.stdoutText.contains("pending: 0") && latest.stdoutText.contains("running: 0"))

    // Touch run A: one trial record removed and run again (crashing again).
    let planned = try plan(dir)
    try FileManager.default.removeItem(atPath: "\(dir)/\(runA)/trials/\(planned[2]).json")
    usleep(20_000)
    _ = try sweep(dir, results: "results", environment: crash)
    let json = try blkrew(["sweep", "status", "--json", "--results", "results"], cwd: dir)
    #expect(json.exitCode == 0)
    let object =
      try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any] ?? [:]
    #expect(object["run"] as? String == runA, "\(json.stdoutText)")
    #expect(object["trials"] as? Int == 3)
    #expect((object["status"] as? [String: Int])?["crashed"] == 3)

    // An explicit run directory still wins; a missing one is exit 66.
    let explicit = try blkrew(["sweep", "status", runB], cwd: dir)
    #expect(explicit.stdoutText.contains("(\(runB))"))
    let missing = try blkrew(["sweep", "status", "results/tiny/nope"], cwd: dir)
    #expect(missing.exitCode == 66)
    #expect(missing.stderrText == "blkrew: error: results/tiny/nope: no such file\n")
    let elsewhere = try blkrew(["sweep", "status", "--results", "other"], cwd: dir)
    #expect(elsewhere.exitCode == 66)
    #expect(elsewhere.stderrText.hasPrefix("blkrew: error: other: no run found"))
  }
}
