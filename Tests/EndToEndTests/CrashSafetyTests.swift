import ChildProcesses
import Foundation
import Testing
import TuningSchema

/// Trial records of a run directory by trial ID; every file must decode (nothing truncated) and
/// be named after its trial.
func trialRecords(_ runDir: String) throws -> [String: TrialRecord] {
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

/// SplitMix64: a seeded generator whose sequence does not depend on the platform.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// Crash safety of `sweep run`: kill -9 at seeded points and resume; two sweeps on one run
/// directory. Uses the tiny suite of EndToEndTests.
@Suite(.serialized) struct CrashSafetyTests {
  func sweep(_ dir: String, results: String, extra: [String] = []) throws -> ChildResult {
    try ChildProcess.run(
      blkrewBinary(), ["sweep", "run", "tiny.yaml", "--results", results] + extra,
      workingDirectory: dir,
      timeout: 600)
  }

  /// The bytes of every file of `sub` (trials, kernels) ending in `.json`, by name.
  func jsonFiles(_ runDir: String, _ sub: String) -> [String: Data] {
    let dir = "\(runDir)/\(sub)"
    var out: [String: Data] = [:]
    for f in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
    where f.hasSuffix(".json") {
      out[f] = FileManager.default.contents(atPath: "\(dir)/\(f)")
    }
    return out
  }

  /// Every record of the run decodes: run.json (when written), trials/*.json, kernels/*.json.
  func expectEveryRecordDecodes(_ runDir: String, _ context: String) {
    if let manifest = FileManager.default.contents(atPath: "\(runDir)/run.json") {
      #expect(
        (try? RecordCoding.decoder().decode(RunManifest.self, from: manifest)) != nil,
        "run.json does not decode \(context)")
    }
    for (f, data) in jsonFiles(runDir, "trials") {
      #expect(
        (try? RecordCoding.decoder().decode(TrialRecord.self, from: data)) != nil,
        "trials/\(f) does not decode \(context)")
    }
    for (f, data) in jsonFiles(runDir, "kernels") {
      #expect(
        (try? RecordCoding.decoder().decode(RunResult.self, from: data)) != nil,
        "kernels/\(f) does not decode \(context)")
    }
  }

  /// Temporary files anywhere under `runDir` (`*.tmp`, and `*.tmp.*` as Foundation names them).
  func temporaries(_ runDir: String) -> [String] {
    var out: [String] = []
    let walk = FileManager.default.enumerator(atPath: runDir)
    while let f = walk?.nextObject() as? String {
      let name = (f as NSString).lastPathComponent
      if name.hasSuffix(".tmp") || name.contains(".tmp.") { out.append(f) }
    }
    return out.sorted()
  }

  /// The trials an attempt's progress on stderr says it started.
  func started(_ stderr: String) -> Set<String> {
    var ids = Set<String>()
    for line in stderr.split(separator: "\n") where line.contains(": running (log: ") {
      if let log = line.split(separator: "/").last, log.hasSuffix(".log)") {
        ids.insert(String(log.dropLast(".log)".count)))
      }
    }
    return ids
  }

  @Test func killNineAtRandomPointsThenResume() throws {
    let dir = temporaryDirectory("kill9")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try tinySuite.write(toFile: "\(dir)/tiny.yaml", atomically: true, encoding: .utf8)

    // The reference: one uninterrupted run, and how long it takes.
    let t0 = ChildProcess.monotonicSeconds()
    let reference = try sweep(dir, results: "ref")
    let length = ChildProcess.monotonicSeconds() - t0
    #expect(reference.exitCode == 0, "\(reference.stderrText)")
    let refDir =
      "\(dir)/" + (reference.stdoutText.split(separator: "\n").last.map(String.init) ?? "")
    let expected = try trialRecords(refDir)
    #expect(expected.count == 3)
    let runDir = "\(dir)/killed/tiny/\((refDir as NSString).lastPathComponent)"

    // The same sweep killed with SIGKILL at seeded points spread over the reference's length
    // (one in each third, counted in the attempts' total time, as each resumes the last), and
    // resumed each time. BLKREW_KILL_SEED replays another seed.
    let seed =
      ProcessInfo.processInfo.environment["BLKREW_KILL_SEED"].flatMap { UInt64($0) } ?? 20_250_607
    var rng = SplitMix64(state: seed)
    let kills = 3
    let points = (0..<kills).map { i in
      length * (Double(i) + Double.random(in: 0.1...0.9, using: &rng)) / Double(kills)
    }
    let described =
      "seed \(seed), reference \(String(format: "%.1f", length)) s, kill points "
      + points.map { String(format: "%.1f", $0) }.joined(separator: ", ") + " s"
    print("killNineAtRandomPointsThenResume: \(described)")

    var elapsed = 0.0
    var finished: [String: Data] = [:]  // trial records present after the previous attempt
    for (n, point) in points.enumerated() {
      let delay = max(0.5, point - elapsed)
      let begin = ChildProcess.monotonicSeconds()
      let pid = try ChildProcess.spawn(
        blkrewBinary(), ["sweep", "run", "tiny.yaml", "--results", "killed"], workingDirectory: dir,
        stdoutPath: "\(dir)/killed-\(n).out", stderrPath: "\(dir)/killed-\(n).err")
      usleep(UInt32(delay * 1e6))
      kill(pid, SIGKILL)
      var status: Int32 = 0
      waitpid(pid, &status, 0)
      elapsed += ChildProcess.monotonicSeconds() - begin
      let context = "after kill \(n + 1) (\(described))"
      expectEveryRecordDecodes(runDir, context)
      // A finished trial is never run again: its record is byte-identical, and no attempt
      // started it.
      let now = jsonFiles(runDir, "trials")
      for (f, data) in finished { #expect(now[f] == data, "trials/\(f) rewritten \(context)") }
      let err = (try? String(contentsOfFile: "\(dir)/killed-\(n).err", encoding: .utf8)) ?? ""
      let again = started(err).intersection(finished.keys.map { String($0.dropLast(5)) })
      #expect(again.isEmpty, "finished trials started again \(context): \(again)")
      finished = now
    }
    let resumed = try sweep(dir, results: "killed")
    #expect(resumed.exitCode == 0, "\(resumed.stderrText)")
    let resumedDir =
      "\(dir)/" + (resumed.stdoutText.split(separator: "\n").last.map(String.init) ?? "")
    #expect(resumedDir == runDir)
    expectEveryRecordDecodes(runDir, "after the resume (\(described))")
    let now = jsonFiles(runDir, "trials")
    for (f, data) in finished {
      #expect(now[f] == data, "trials/\(f) rewritten by the resume (\(described))")
    }
    let again = started(resumed.stderrText).intersection(
      finished.keys.map { String($0.dropLast(5)) })
    #expect(again.isEmpty, "finished trials started again by the resume: \(again)")
    let got = try trialRecords(runDir)
    #expect(Set(got.keys) == Set(expected.keys), "\(described)")
    for (id, r) in expected {
      #expect(
        got[id]?.status == .ok, "trial \(id) (\(described)): \(got[id]?.reason ?? "missing")")
      #expect(got[id]?.accuracy == r.accuracy, "trial \(id): accuracy differs (\(described))")
      #expect(got[id]?.phases.map(\.testAccuracy) == r.phases.map(\.testAccuracy))
    }
    // A third run has nothing to do; no claim and no temporary file is left behind.
    let third = try sweep(dir, results: "killed")
    #expect(third.stderrText.components(separatedBy: "already done (ok), skipped").count - 1 == 3)
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: "\(runDir)/trials")
      .filter { $0.hasSuffix(".claim") }
    #expect(leftovers.isEmpty)
    #expect(temporaries(runDir).isEmpty, "left behind (\(described)): \(temporaries(runDir))")
  }

  /// Two processes start the same run at once (neither finds a run.json) and share it: run.json
  /// is created by exactly one, every trial runs in exactly one, and no kernel variant is
  /// measured twice. Two seeds make two dense trials run at the same time in the two processes;
  /// their layers are identical workloads, so both reach the same variants together.
  @Test func twoSweepsShareOneRunWithoutDuplicating() throws {
    let dir = temporaryDirectory("two")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let suite = tinySuite.replacingOccurrences(of: "rates: [2, 4]", with: "rates: [2]")
      .replacingOccurrences(of: "seeds: [1]", with: "seeds: [1, 2]")
    #expect(suite.contains("seeds: [1, 2]") && suite.contains("rates: [2]\n"))
    try suite.write(toFile: "\(dir)/tiny.yaml", atomically: true, encoding: .utf8)
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
    let errA = try String(contentsOfFile: "\(dir)/a.err", encoding: .utf8)
    let errB = try String(contentsOfFile: "\(dir)/b.err", encoding: .utf8)
    #expect(sa == 0 && sb == 0, "\(errA)\n\(errB)")
    let runDir =
      "\(dir)/"
      + (try String(contentsOfFile: "\(dir)/a.out", encoding: .utf8).split(separator: "\n").last
        .map(String.init) ?? "")
    let got = try trialRecords(runDir)
    #expect(got.count == 4)
    #expect(got.values.allSatisfy { $0.status == .ok })
    // Every trial was started by exactly one of the two processes.
    for id in got.keys {
      let starts = (errA + errB).split(separator: "\n").filter {
        $0.contains(": running (log: ") && $0.contains(id)
      }
      #expect(starts.count == 1, "trial \(id) started \(starts.count) times:\n\(errA)\n\(errB)")
    }
    // run.json was created once: of the processes that found no run, all but one joined it.
    let all = errA + errB
    let probed = all.components(separatedBy: "blkrew: new run ").count - 1
    let joined = all.components(separatedBy: "meanwhile; joining it").count - 1
    #expect(probed - joined == 1, "run.json created \(probed - joined) times:\n\(errA)\n\(errB)")
    let manifest = try #require(FileManager.default.contents(atPath: "\(runDir)/run.json"))
    #expect((try? RecordCoding.decoder().decode(RunManifest.self, from: manifest)) != nil)

    // No variant was measured twice: a second measurement would have replaced the kernel file,
    // and the trial that recorded the first would disagree with it. The two dense trials share
    // their variants (identical dense workloads), so this is checked where the race is.
    var kernels: [String: RunResult] = [:]
    for (f, data) in jsonFiles(runDir, "kernels") {
      kernels[String(f.dropLast(5))] = try RecordCoding.decoder().decode(RunResult.self, from: data)
    }
    let dense = got.values.filter { $0.config.kind == .dense }
    #expect(dense.count == 2)
    let shared = dense.map { Set($0.layers.flatMap { $0.variants.map(\.variantID) }) }
    #expect(!shared[0].intersection(shared[1]).isEmpty, "the dense trials share no variant")
    for r in got.values {
      for layer in r.layers {
        for v in layer.variants {
          let stored = try #require(kernels[v.variantID], "kernels/\(v.variantID).json missing")
          let a = v.medianSeconds ?? -1
          let b = stored.medianSeconds ?? -1
          #expect(
            abs(a - b) <= 1e-12 * max(abs(a), abs(b)),
            "variant \(v.variantID): trial \(r.config.label) seed \(r.config.seed) recorded \(a) s, kernels/ holds \(b) s: measured twice"
          )
        }
      }
    }
    var reused = 0
    for f in (try? FileManager.default.contentsOfDirectory(atPath: "\(runDir)/logs")) ?? []
    where f.hasSuffix(".log") {
      let log = (try? String(contentsOfFile: "\(runDir)/logs/\(f)", encoding: .utf8)) ?? ""
      reused += log.components(separatedBy: "measured by another worker meanwhile").count - 1
    }
    print(
      "twoSweepsShareOneRunWithoutDuplicating: \(reused) variant(s) found measured after the lock")
  }
}

/// A clone of a committed run has its records but not its (git-ignored) checkpoints: a pruned
/// trial still to run trains its recorded dense baseline again, deterministically, instead of
/// failing for want of the checkpoint.
@Suite(.serialized) struct MissingCheckpointTests {
  @Test func aMissingDenseCheckpointIsTrainedAgain() throws {
    let dir = temporaryDirectory("missing-ckpt")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let suite =
      tinySuite
      .replacingOccurrences(of: "name: tiny", with: "name: tiny-ckpt")
      .replacingOccurrences(of: "rates: [2, 4]", with: "rates: [4]")
      .replacingOccurrences(of: "batch_n: 4", with: "batch_n: 0")
      .replacingOccurrences(of: "budget_s: 0.01}", with: "budget_s: 0.01, unroll: [2]}")
    try suite.write(toFile: "\(dir)/c.yaml", atomically: true, encoding: .utf8)
    func sweep() throws -> ChildResult {
      try ChildProcess.run(
        blkrewBinary(), ["sweep", "run", "c.yaml", "--results", "res", "--workers", "1"],
        workingDirectory: dir, timeout: 600)
    }
    let first = try sweep()
    #expect(first.exitCode == 0, "\(first.stderrText)")
    let runDir = "\(dir)/" + (first.stdoutText.split(separator: "\n").last.map(String.init) ?? "")
    let before = try trialRecords(runDir)
    let pruned = try #require(before.values.first { $0.config.kind == .pruned })
    // As in a fresh clone: no checkpoints, and the pruned trial not yet run.
    try FileManager.default.removeItem(atPath: "\(runDir)/checkpoints")
    try FileManager.default.removeItem(atPath: "\(runDir)/trials/\(pruned.trialID).json")
    let again = try sweep()
    #expect(again.exitCode == 0, "\(again.stderrText)")
    let after = try trialRecords(runDir)
    let redone = try #require(after[pruned.trialID])
    #expect(redone.status == .ok, "\(redone.reason ?? "")")
    // Deterministic training: the same dense weights, so the same pruned model.
    #expect(redone.accuracy == pruned.accuracy)
    let log =
      (try? String(contentsOfFile: "\(runDir)/logs/\(pruned.trialID).log", encoding: .utf8)) ?? ""
    #expect(log.contains("checkpoint is missing: training it again"), "\(log.suffix(2000))")
    #expect(!log.contains("warning: the retrained dense baseline"))
    #expect(after.count == before.count)
  }
}
