import ChildProcesses
import Foundation
import Testing
import TuningSchema

/// Crash safety of `sweep run`: kill -9 at random points and resume; two sweeps on one run
/// directory. Uses the tiny suite of EndToEndTests.
@Suite(.serialized) struct CrashSafetyTests {
  /// Trial records of a run directory by trial ID; every file must decode (nothing truncated).
  func records(_ runDir: String) throws -> [String: TrialRecord] {
    var out: [String: TrialRecord] = [:]
    let dir = "\(runDir)/trials"
    for f in try FileManager.default.contentsOfDirectory(atPath: dir) where f.hasSuffix(".json") {
      let data = try #require(FileManager.default.contents(atPath: "\(dir)/\(f)"))
      let r = try RecordCoding.decoder().decode(TrialRecord.self, from: data)
      #expect(f == "\(r.trialID).json")
      out[r.trialID] = r
    }
    return out
  }

  func sweep(_ dir: String, results: String, extra: [String] = []) throws -> ChildResult {
    try ChildProcess.run(
      blkrewBinary(), ["sweep", "run", "tiny.yaml", "--results", results] + extra,
      workingDirectory: dir,
      timeout: 600)
  }

  @Test func killNineAtRandomPointsThenResume() throws {
    let dir = temporaryDirectory("kill9")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try tinySuite.write(toFile: "\(dir)/tiny.yaml", atomically: true, encoding: .utf8)

    // The reference: one uninterrupted run.
    let reference = try sweep(dir, results: "ref")
    #expect(reference.exitCode == 0, "\(reference.stderrText)")
    let refDir =
      "\(dir)/" + (reference.stdoutText.split(separator: "\n").last.map(String.init) ?? "")
    let expected = try records(refDir)
    #expect(expected.count == 3)

    // The same sweep killed with SIGKILL at seeded random moments, then resumed each time.
    var rng = SystemRandomNumberGenerator()
    var delays: [Double] = []
    for _ in 0..<3 { delays.append(Double.random(in: 0.5...6.0, using: &rng)) }
    for delay in delays {
      let pid = try ChildProcess.spawn(
        blkrewBinary(), ["sweep", "run", "tiny.yaml", "--results", "killed"], workingDirectory: dir,
        stdoutPath: "\(dir)/killed.out", stderrPath: "\(dir)/killed.err")
      usleep(UInt32(delay * 1e6))
      kill(pid, SIGKILL)
      var status: Int32 = 0
      waitpid(pid, &status, 0)
    }
    let resumed = try sweep(dir, results: "killed")
    #expect(resumed.exitCode == 0, "\(resumed.stderrText)")
    let resumedDir =
      "\(dir)/" + (resumed.stdoutText.split(separator: "\n").last.map(String.init) ?? "")
    #expect((resumedDir as NSString).lastPathComponent == (refDir as NSString).lastPathComponent)
    let got = try records(resumedDir)
    #expect(Set(got.keys) == Set(expected.keys), "kill delays \(delays)")
    for (id, r) in expected {
      #expect(
        got[id]?.status == .ok,
        "trial \(id) after kills at \(delays): \(got[id]?.reason ?? "missing")")
      #expect(
        got[id]?.accuracy == r.accuracy, "trial \(id): accuracy differs after kills at \(delays)")
      #expect(got[id]?.phases.map(\.testAccuracy) == r.phases.map(\.testAccuracy))
    }
    // No claim is left behind, and a third run has nothing to do.
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: "\(resumedDir)/trials")
      .filter {
        $0.hasSuffix(".claim")
      }
    #expect(leftovers.isEmpty)
    let again = try sweep(dir, results: "killed")
    #expect(again.stderrText.components(separatedBy: "already done (ok), skipped").count - 1 == 3)
  }

  @Test func twoSweepsShareOneRunWithoutDuplicating() throws {
    let dir = temporaryDirectory("two")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try tinySuite.write(toFile: "\(dir)/tiny.yaml", atomically: true, encoding: .utf8)
    // Create the run first so both processes resume the same directory.
    let plan = try sweep(dir, results: "res", extra: ["--dry-run"])
    #expect(plan.exitCode == 0)
    let a = try ChildProcess.spawn(
      blkrewBinary(), ["sweep", "run", "tiny.yaml", "--results", "res", "--workers", "1"],
      workingDirectory: dir,
      stdoutPath: "\(dir)/a.out", stderrPath: "\(dir)/a.err")
    let b = try ChildProcess.spawn(
      blkrewBinary(), ["sweep", "run", "tiny.yaml", "--results", "res", "--workers", "1"],
      workingDirectory: dir,
      stdoutPath: "\(dir)/b.out", stderrPath: "\(dir)/b.err")
    var sa: Int32 = 0
    var sb: Int32 = 0
    waitpid(a, &sa, 0)
    waitpid(b, &sb, 0)
    #expect(sa == 0 && sb == 0)
    let errA = try String(contentsOfFile: "\(dir)/a.err", encoding: .utf8)
    let errB = try String(contentsOfFile: "\(dir)/b.err", encoding: .utf8)
    let runDir =
      try String(contentsOfFile: "\(dir)/a.out", encoding: .utf8).split(separator: "\n").last.map(
        String.init) ?? ""
    let got = try records("\(dir)/\(runDir)")
    #expect(got.count == 3)
    #expect(got.values.allSatisfy { $0.status == .ok })
    // Every trial was started by exactly one of the two processes.
    for id in got.keys {
      let starts = (errA + errB).split(separator: "\n").filter {
        $0.contains(": running (log: ") && $0.contains(id)
      }
      #expect(starts.count == 1, "trial \(id) started \(starts.count) times:\n\(errA)\n\(errB)")
    }
  }
}
