import ChildProcesses
import Foundation
import Testing
import TuningSchema

/// Why the real-Slurm test cannot run here, or nil when it can: it needs `BLKREW_SLURM_TEST=1`
/// (set by scripts/test-slurm.sh, which starts a one-node Slurm) and a controller that answers.
let slurmSkipReason: String? = {
  guard ProcessInfo.processInfo.environment["BLKREW_SLURM_TEST"] == "1" else {
    return "BLKREW_SLURM_TEST=1 is not set (make test-slurm starts a one-node Slurm and sets it)"
  }
  guard ChildProcess.which("sbatch") != nil, let sinfo = ChildProcess.which("sinfo") else {
    return "sbatch or sinfo is not on PATH (apt-get install slurm-client)"
  }
  guard let r = try? ChildProcess.run(sinfo, ["-h", "-o", "%t"], timeout: 30), r.succeeded,
    !r.stdoutText.isEmpty
  else { return "sinfo fails: no Slurm controller answers (is SLURM_CONF set?)" }
  return nil
}()

@Suite(.serialized) struct SlurmTests {
  func blkrew(_ args: [String], cwd: String, environment: [String: String]? = nil) throws
    -> ChildResult
  {
    try ChildProcess.run(
      blkrewBinary(), args, environment: environment, workingDirectory: cwd, timeout: 900)
  }

  func lines(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }

  /// `sweep run --executor slurm --workers 3 --wait` on a real (one-node) Slurm: every trial ok,
  /// none started twice, `sweep status` agrees, and the same command again submits nothing.
  @Test(.enabled(if: slurmSkipReason == nil, Comment(rawValue: slurmSkipReason ?? "")))
  func jobArrayRunsEveryTrialOnce() throws {
    let dir = temporaryDirectory("slurm")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try tinySuite.write(toFile: "\(dir)/tiny.yaml", atomically: true, encoding: .utf8)
    let command = [
      "sweep", "run", "tiny.yaml", "--results", "res", "--executor", "slurm", "--workers", "3",
      "--wait",
    ]

    let first = try blkrew(command, cwd: dir)
    #expect(first.exitCode == 0, "stderr: \(first.stderrText)")
    let out = lines(first.stdoutText)
    #expect(out.count == 2, "stdout: \(first.stdoutText)")
    let jobID = try #require(out.first)
    #expect(!jobID.isEmpty && jobID.allSatisfy(\.isNumber))
    let runDir = try #require(out.last)
    #expect(runDir.hasPrefix("res/tiny/"))
    print("slurm test: job \(jobID) took \(String(format: "%.1f", first.seconds)) s")

    let jobData = try #require(
      FileManager.default.contents(atPath: "\(dir)/\(runDir)/slurm/job.json"))
    let job = try #require(try JSONSerialization.jsonObject(with: jobData) as? [String: Any])
    #expect(job["job_id"] as? String == jobID)
    #expect(job["array_size"] as? Int == 3)

    // Every trial ok; no claim left behind.
    let trialsDir = "\(dir)/\(runDir)/trials"
    let names = try FileManager.default.contentsOfDirectory(atPath: trialsDir)
    #expect(!names.contains { $0.hasSuffix(".claim") }, "\(names)")
    let ids = names.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    #expect(ids.count == 3)
    for id in ids {
      let r = try RecordCoding.decoder().decode(
        TrialRecord.self,
        from: try #require(FileManager.default.contents(atPath: "\(trialsDir)/\(id).json")))
      #expect(r.status == .ok, "trial \(id): \(r.reason ?? "")")
    }

    // Each trial was started exactly once, across all array tasks.
    var taskOutput = ""
    for i in 0..<3 {
      let path = "\(dir)/\(runDir)/slurm/\(jobID)_\(i).out"
      taskOutput += (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }
    for id in ids {
      let starts = taskOutput.components(separatedBy: "/logs/\(id).log)").count - 1
      #expect(starts == 1, "trial \(id) started \(starts) times:\n\(taskOutput)")
    }

    let status = try blkrew(["sweep", "status", runDir], cwd: dir)
    #expect(status.exitCode == 0)
    #expect(status.stdoutText.contains("ok: 3"), "\(status.stdoutText)")
    #expect(status.stdoutText.contains("running: 0"))
    #expect(status.stdoutText.contains("slurm job \(jobID)"))

    // The same command again: everything is done, nothing is submitted.
    let again = try blkrew(command, cwd: dir)
    #expect(again.exitCode == 0, "stderr: \(again.stderrText)")
    #expect(lines(again.stdoutText) == [runDir])
    #expect(again.stderrText.contains("nothing to submit"))
    let jobAfter =
      try JSONSerialization.jsonObject(
        with: try #require(FileManager.default.contents(atPath: "\(dir)/\(runDir)/slurm/job.json"))
      ) as? [String: Any]
    #expect(jobAfter?["job_id"] as? String == jobID)
  }

  /// Successive halving on a real Slurm: the tasks share each rung (claims), wait for it to end
  /// and plan the next one from the same records, so the run equals the local executor's plan —
  /// 1 dense + 4 configurations at rung 0 + 2 promoted at rung 1 — with no trial run twice.
  @Test(.enabled(if: slurmSkipReason == nil, Comment(rawValue: slurmSkipReason ?? "")))
  func halvingRungsAcrossArrayTasks() throws {
    let dir = temporaryDirectory("slurm-halving")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let suite =
      tinySuite
      .replacingOccurrences(of: "name: tiny", with: "name: tiny-slurm-halving")
      .replacingOccurrences(of: "blocks: [8x16]", with: "blocks: [8x16, 4x4]")
      + "\nsearch: {strategy: halving, eta: 2, rungs: 2}\n"
    try suite.write(toFile: "\(dir)/h.yaml", atomically: true, encoding: .utf8)
    let command = [
      "sweep", "run", "h.yaml", "--results", "res", "--executor", "slurm", "--workers", "2",
      "--wait",
    ]
    let first = try blkrew(command, cwd: dir)
    #expect(first.exitCode == 0, "stderr: \(first.stderrText)")
    let out = lines(first.stdoutText)
    let jobID = try #require(out.first)
    let runDir = try #require(out.last)
    let trialsDir = "\(dir)/\(runDir)/trials"
    let records = try FileManager.default.contentsOfDirectory(atPath: trialsDir)
      .filter { $0.hasSuffix(".json") }
      .map {
        try RecordCoding.decoder().decode(
          TrialRecord.self,
          from: try #require(FileManager.default.contents(atPath: "\(trialsDir)/\($0)")))
      }
    #expect(records.count == 7, "\(records.map(\.config.label))")
    #expect(records.filter { $0.config.rung == 0 }.count == 4)
    #expect(records.filter { $0.config.rung == 1 }.count == 2)
    #expect(records.allSatisfy { $0.status == .ok })
    var taskOutput = ""
    for i in 0..<2 {
      taskOutput +=
        (try? String(
          contentsOfFile: "\(dir)/\(runDir)/slurm/\(jobID)_\(i).out", encoding: .utf8)) ?? ""
    }
    for r in records {
      let starts = taskOutput.components(separatedBy: "/logs/\(r.trialID).log)").count - 1
      #expect(starts == 1, "trial \(r.trialID) started \(starts) times:\n\(taskOutput)")
    }
    let again = try blkrew(command, cwd: dir)
    #expect(again.exitCode == 0, "stderr: \(again.stderrText)")
    #expect(again.stderrText.contains("nothing to submit"), "\(again.stderrText)")
  }

  /// The submission path without a cluster: a fake `sbatch` records its argv and a fake `squeue`
  /// reports the job gone. Checks the sbatch options, the array script, `slurm/job.json`, how
  /// `sweep status` reads claims of other hosts (heartbeat) and of this host (lock only), and that
  /// `--wait` on an array that ran nothing ends with exit 1.
  @Test func submissionWithFakeSbatch() throws {
    let dir = temporaryDirectory("fake-sbatch")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try tinySuite.write(toFile: "\(dir)/tiny.yaml", atomically: true, encoding: .utf8)
    let bin = "\(dir)/bin"
    try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
    let fakes = [
      "sbatch": "#!/bin/bash\nprintf '%s\\n' \"$@\" > \"\(dir)/sbatch.argv\"\necho 42\n",
      "squeue": "#!/bin/bash\nexit 0\n",
    ]
    for (name, text) in fakes {
      try text.write(toFile: "\(bin)/\(name)", atomically: true, encoding: .utf8)
      chmod("\(bin)/\(name)", 0o755)
    }
    var env = ProcessInfo.processInfo.environment
    env["PATH"] = bin + ":" + (env["PATH"] ?? "/usr/bin:/bin")

    // Flags.
    let noSlurm = try blkrew(["sweep", "run", "tiny.yaml", "--wait"], cwd: dir, environment: env)
    #expect(noSlurm.exitCode == 64)
    let badExecutor = try blkrew(
      ["sweep", "run", "tiny.yaml", "--executor", "pbs"], cwd: dir, environment: env)
    #expect(badExecutor.exitCode == 64)

    let command = ["sweep", "run", "tiny.yaml", "--results", "res", "--executor", "slurm"]
    let submit = try blkrew(command + ["--workers", "2"], cwd: dir, environment: env)
    #expect(submit.exitCode == 0, "stderr: \(submit.stderrText)")
    let out = lines(submit.stdoutText)
    #expect(out.first == "42")
    let runDir = try #require(out.last)
    #expect(out.count == 2 && runDir.hasPrefix("res/tiny/"))
    let absRun = "\(dir)/\(runDir)"
    let argv = lines(try String(contentsOfFile: "\(dir)/sbatch.argv", encoding: .utf8))
    #expect(
      argv == [
        "--parsable", "--array=0-1", "--job-name=blkrew-tiny",
        "--output=\(absRun)/slurm/%A_%a.out", "--time=60", "--cpus-per-task=1", "--export=ALL",
        "\(absRun)/slurm/array.sh",
      ], "\(argv)")
    let script = try String(contentsOfFile: "\(absRun)/slurm/array.sh", encoding: .utf8)
    #expect(script.hasPrefix("#!/bin/bash\n"))
    #expect(script.contains(" _shard '\(absRun)' \\\n"))
    #expect(script.contains("\"${SLURM_ARRAY_TASK_ID:?not a Slurm array task}\" 2\n"))
    let job =
      try JSONSerialization.jsonObject(
        with: try #require(FileManager.default.contents(atPath: "\(absRun)/slurm/job.json"))
      ) as? [String: Any]
    #expect(job?["job_id"] as? String == "42")
    #expect(job?["array_size"] as? Int == 2)
    #expect((job?["trials"] as? [String])?.count == 3)
    #expect(job?["script"] as? String == "\(absRun)/slurm/array.sh")
    #expect(job?["submitted_at"] is String)

    // Claims in `sweep status`.
    let plan = try blkrew(["sweep", "run", "tiny.yaml", "--dry-run"], cwd: dir)
    let trialID = try #require(lines(plan.stdoutText).first?.split(separator: " ").first)
    let claimPath = "\(absRun)/trials/\(trialID).claim"
    func status(claim: [String: String]) throws -> String {
      try JSONSerialization.data(withJSONObject: claim).write(to: URL(fileURLWithPath: claimPath))
      return try blkrew(["sweep", "status", runDir], cwd: dir, environment: env).stdoutText
    }
    let now = ISO8601DateFormatter().string(from: Date())
    let old = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-300))
    let remote = [
      "executor": "slurm", "host": "blkrew-test-other-host", "pid": "1", "slurm_job_id": "42",
      "slurm_array_task_id": "1", "started_at": old, "heartbeat": now,
    ]
    let live = try status(claim: remote)
    #expect(live.contains("running: 1") && live.contains("pending: 2"), "\(live)")
    #expect(live.contains("slurm job 42_1 on blkrew-test-other-host pid 1"), "\(live)")
    #expect(live.contains("slurm job 42: 2 task(s) for 3 trial(s)"), "\(live)")
    var stale = remote
    stale["heartbeat"] = old
    #expect(try status(claim: stale).contains("running: 0"))
    var here = remote
    here["host"] = ProcessInfo.processInfo.hostName
    #expect(try status(claim: here).contains("running: 0"))  // this host: the lock decides
    try FileManager.default.removeItem(atPath: claimPath)

    // --wait: the (fake) array ends without running anything: exit 1, run directory still last.
    let waited = try blkrew(command + ["--wait"], cwd: dir, environment: env)
    #expect(waited.exitCode == 1, "stderr: \(waited.stderrText)")
    #expect(lines(waited.stdoutText).last == runDir)
    #expect(waited.stderrText.contains("3 trial(s) did not finish in slurm job 42"))
  }
}
