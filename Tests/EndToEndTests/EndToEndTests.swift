import ChildProcesses
import Foundation
import Testing
import TuningSchema

/// The `blkrew` executable built beside this test bundle (or `$BLKREW_BIN`).
func blkrewBinary() -> String {
  if let env = ProcessInfo.processInfo.environment["BLKREW_BIN"] { return env }
  let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
  for candidate in [dir, dir.deletingLastPathComponent()] {
    let p = candidate.appendingPathComponent("blkrew").path
    if FileManager.default.isExecutableFile(atPath: p) { return p }
  }
  let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  return root.appendingPathComponent(".build/debug/blkrew").path
}

func temporaryDirectory(_ tag: String) -> String {
  let path =
    NSTemporaryDirectory() + "blkrew-e2e-\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
  try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// A tiny version of the quickstart: same pipeline, a few hundred training images.
let tinySuite = """
  schema_version: 1
  name: tiny
  model: mlp
  dataset: fashion-mnist
  subset: {train: 640, val: 200, test: 1000}
  phases: {pretrain_epochs: 2, reg_epochs: 1, retrain_epochs: 1}
  training: {batch_size: 64, learning_rate: 0.05}
  scheme: block-column
  regularizer: {kind: reweighted, lambda: 1.0e-4, eps: 1.0e-3, refresh_steps: 5}
  blocks: [8x16]
  rates: [2, 4]
  keep_dense: [last]
  latency: {batch: 1, batch_n: 4, threads: 1}
  kernels: {min_repeats: 3, max_repeats: 5, warmup: 1, budget_s: 0.01}
  seeds: [1]
  """

@Suite(.serialized) struct EndToEndTests {
  func blkrew(_ args: [String], cwd: String) throws -> ChildResult {
    try ChildProcess.run(blkrewBinary(), args, workingDirectory: cwd, timeout: 600)
  }

  @Test func tinySweepEndToEndAndResume() throws {
    let dir = temporaryDirectory("sweep")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    // The tiny suite, also timing each best variant with flushed caches and under cachegrind.
    try tinySuite.replacingOccurrences(
      of: "budget_s: 0.01}", with: "budget_s: 0.01, cold: true, simulate: true}"
    )
    .write(toFile: "\(dir)/tiny.yaml", atomically: true, encoding: .utf8)

    let first = try blkrew(["sweep", "run", "tiny.yaml", "--results", "res"], cwd: dir)
    #expect(first.exitCode == 0, "stderr: \(first.stderrText)")
    let runDir = first.stdoutText.split(separator: "\n").last.map(String.init) ?? ""
    #expect(runDir.hasPrefix("res/tiny/"))
    let trialsDir = "\(dir)/\(runDir)/trials"
    let files = try FileManager.default.contentsOfDirectory(atPath: trialsDir).filter {
      $0.hasSuffix(".json")
    }.sorted()
    #expect(files.count == 3)  // dense + 8x16 at rates 2 and 4
    var before: [String: Data] = [:]
    for f in files {
      let data = try #require(FileManager.default.contents(atPath: "\(trialsDir)/\(f)"))
      before[f] = data
      let r = try RecordCoding.decoder().decode(TrialRecord.self, from: data)
      #expect(r.status == .ok, "trial \(f): \(r.reason ?? "")")
      #expect(r.accuracy.map { $0 > 0.3 && $0 <= 1 } == true)
      #expect(r.latencySeconds.map { $0 > 0 } == true)
      #expect(r.layers.count == 3)
      for l in r.layers {
        #expect(l.variants.allSatisfy { $0.outcome == .measured }, "\(l.layer): \(l.variants)")
        let sde = l.counters.first { $0.name == "sde MACs" }
        #expect(
          sde?.value == Int64(l.kept), "SDE MACs per call at batch 1 must equal the kept weights")
      }
      if r.config.kind == .pruned {
        let pruned = r.kept.filter(\.pruned)
        #expect(pruned.map(\.layer) == ["fc1", "fc2"])
        for k in pruned { #expect(k.kept <= Int(Double(k.total) / r.config.rate!)) }
        #expect(r.phases.map(\.phase) == ["regularize", "prune", "retrain"])
      }
    }
    let manifest = try RecordCoding.decoder().decode(
      RunManifest.self,
      from: try #require(FileManager.default.contents(atPath: "\(dir)/\(runDir)/run.json")))
    #expect(manifest.environment.sdeWorks)
    // The manifest says which BLAS build, every CPU flag, and what papi_avail lists here.
    #expect(manifest.environment.blasConfig?.hasPrefix("OpenBLAS") == true)
    #expect(manifest.environment.cpuFlagsAll.map { !$0.isEmpty } == true)
    #expect(manifest.environment.papiAvailablePresets != nil, "papi-tools is installed by setup")
    #expect(!manifest.environment.cpuModel.isEmpty && manifest.environment.cores >= 1)
    #expect(manifest.environment.compilers?.isEmpty == false)
    #expect(!manifest.environment.events.isEmpty)
    for e in manifest.environment.events where !e.available { #expect(e.reason?.isEmpty == false) }

    // The same command again recomputes nothing: every trial skipped, files byte-identical.
    let second = try blkrew(["sweep", "run", "tiny.yaml", "--results", "res"], cwd: dir)
    #expect(second.exitCode == 0)
    #expect(second.stdoutText.split(separator: "\n").last.map(String.init) == runDir)
    #expect(second.stderrText.components(separatedBy: "already done (ok), skipped").count - 1 == 3)
    #expect(!second.stderrText.contains("running"))
    for f in files {
      #expect(FileManager.default.contents(atPath: "\(trialsDir)/\(f)") == before[f])
    }

    // The report.
    let report = try blkrew(["report", runDir, "--format", "md", "html", "csv", "json"], cwd: dir)
    #expect(report.exitCode == 0, "stderr: \(report.stderrText)")
    let mdPath = report.stdoutText.split(separator: "\n").last.map(String.init) ?? ""
    #expect(mdPath.hasSuffix("report.md"))
    let md = try String(contentsOfFile: "\(dir)/\(mdPath)", encoding: .utf8)
    #expect(md.contains("★"))
    #expect(md.contains("8x16 R2") && md.contains("8x16 R4") && md.contains("dense"))
    #expect(md.contains("sde MACs"))
    let status = try blkrew(["sweep", "status", runDir], cwd: dir)
    #expect(status.stdoutText.contains("ok: 3"))
  }

  /// Malformed suites: one error line naming the problem, exit 64 (66 for a missing file), and
  /// nothing written under results/.
  @Test(arguments: [
    (
      "schema_version: 1\nname: x\nmodel: mlp\ndataset: fashion-mnist\nblocks: [8x16\nrates: [2]\n",
      "bad YAML", Int32(64)
    ),
    (
      "schema_version: 1\nname: x\nmodel: mlp\ndataset: fashion-mnist\nblocks: [8x16]\nrates: [2]\nfoo: 1\n",
      "unknown key 'foo'", 64
    ),
    (
      "schema_version: 1\nname: x\nmodel: mlp\ndataset: fashion-mnist\nblocks: [0x16]\nrates: [2]\n",
      "block shape '0x16'", 64
    ),
    (
      "schema_version: 1\nname: x\nmodel: mlp\ndataset: fashion-mnist\nblocks: [8x16]\nrates: [0.5]\n",
      "'rates' must be >= 1", 64
    ),
    (
      "schema_version: 1\nname: x\nmodel: mlp\nblocks: [8x16]\nrates: [2]\n",
      "missing required key 'dataset'", 64
    ),
  ])
  func malformedSuite(text: String, expected: String, code: Int32) throws {
    let dir = temporaryDirectory("bad")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try text.write(toFile: "\(dir)/bad.yaml", atomically: true, encoding: .utf8)
    try FileManager.default.createDirectory(atPath: "\(dir)/res", withIntermediateDirectories: true)
    let r = try blkrew(["sweep", "run", "bad.yaml", "--results", "res"], cwd: dir)
    #expect(r.exitCode == code)
    let lines = r.stderrText.split(separator: "\n")
    #expect(lines.count == 1, "stderr: \(r.stderrText)")
    #expect(lines.first?.hasPrefix("blkrew: error: bad.yaml:") == true)
    #expect(r.stderrText.contains(expected))
    #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/res").isEmpty)
    let v = try blkrew(["suite", "validate", "bad.yaml"], cwd: dir)
    #expect(v.exitCode == code)
  }

  @Test func missingSuiteFile() throws {
    let dir = temporaryDirectory("missing")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let r = try blkrew(["sweep", "run", "nope.yaml"], cwd: dir)
    #expect(r.exitCode == 66)
    #expect(r.stderrText == "blkrew: error: nope.yaml: no such file\n")
    #expect(!FileManager.default.fileExists(atPath: "\(dir)/results"))
  }

  /// Every committed suite validates (include fragments `*.inc.yaml` excepted).
  @Test func committedSuitesValidate() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent().path
    let enumerator = FileManager.default.enumerator(atPath: "\(root)/suites")
    var suites: [String] = []
    while let f = enumerator?.nextObject() as? String {
      if f.hasSuffix(".yaml") && !f.hasSuffix(".inc.yaml") { suites.append("suites/\(f)") }
    }
    #expect(!suites.isEmpty)
    let r = try blkrew(["suite", "validate"] + suites, cwd: root)
    #expect(r.exitCode == 0, "\(r.stderrText)")
  }
}
