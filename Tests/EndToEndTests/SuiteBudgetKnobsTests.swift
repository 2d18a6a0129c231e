import ChildProcesses
import Foundation
import KernelBuild
import KernelCodegen
import Testing
import TuningSchema

/// The suite keys that steer a sweep: `budget` stops starting trials (exit 0, the rest pending,
/// a rerun starts nothing more), and the kernel knobs `isa` / `unroll` / `n_tile` are the space
/// every layer's variants are drawn from.
@Suite(.serialized) struct SuiteBudgetKnobsTests {
  func records(_ dir: String) throws -> [TrialRecord] {
    try FileManager.default.contentsOfDirectory(atPath: "\(dir)/trials")
      .filter { $0.hasSuffix(".json") }
      .map {
        try RecordCoding.decoder().decode(
          TrialRecord.self,
          from: try #require(FileManager.default.contents(atPath: "\(dir)/trials/\($0)")))
      }
  }

  /// Each pruned layer is timed in its scheme's format: block-row masks in the block-row
  /// format, block-column-row ones in block-column (measured faster than the combined format),
  /// unstructured ones (1x1 blocks) in CSR; every variant verified, latency recorded.
  @Test func prunedLayersAreTimedInTheirSchemesFormat() throws {
    let dir = temporaryDirectory("formats")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let suite =
      tinySuite
      .replacingOccurrences(of: "name: tiny", with: "name: tiny-formats")
      .replacingOccurrences(of: "rates: [2, 4]", with: "rates: [4]")
      .replacingOccurrences(of: "batch_n: 4", with: "batch_n: 0")
      .replacingOccurrences(of: "budget_s: 0.01}", with: "budget_s: 0.01, unroll: [2]}")
        + """

        methods:
          - {name: rows, scheme: block-row}
          - {name: both, scheme: block-column-row}
          - {name: unstructured, blocks: [1x1], regularizer: {kind: none}}

        """
    try suite.write(toFile: "\(dir)/f.yaml", atomically: true, encoding: .utf8)
    let r = try ChildProcess.run(
      blkrewBinary(), ["sweep", "run", "f.yaml", "--results", "res", "--workers", "1"],
      workingDirectory: dir, timeout: 600)
    #expect(r.exitCode == 0, "\(r.stderrText)")
    let runDir = "\(dir)/" + (r.stdoutText.split(separator: "\n").last.map(String.init) ?? "")
    let recs = try records(runDir)
    #expect(recs.count == 4, "\(recs.map { $0.config.method ?? "dense" }) \(r.stderrText)")
    for rec in recs {
      #expect(rec.status == .ok && rec.latencySeconds != nil, "\(rec.config.method ?? "dense")")
      let pruned = rec.layers.filter { $0.format != .dense }
      let expected: KernelFormat? =
        ["rows": .blockRow, "both": .blockColumn, "unstructured": .csr][rec.config.method ?? ""]
      if let expected {
        #expect(!pruned.isEmpty && pruned.allSatisfy { $0.format == expected }, "\(expected)")
      } else {
        #expect(pruned.isEmpty)
      }
      for layer in rec.layers {
        #expect(layer.variants.allSatisfy { $0.outcome == .measured }, "\(layer.layer)")
      }
    }
  }

  @Test func trialBudgetAndKernelKnobs() throws {
    let dir = temporaryDirectory("budget")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let suite =
      tinySuite
      .replacingOccurrences(of: "name: tiny", with: "name: tiny-budget")
      .replacingOccurrences(
        of: "kernels: {min_repeats: 3, max_repeats: 5, warmup: 1, budget_s: 0.01}",
        with:
          "kernels: {min_repeats: 3, max_repeats: 5, warmup: 1, budget_s: 0.01, isa: [auto], unroll: [2], n_tile: [4], threads: [1, 2], flags: [[-O3, -march=native], [-O2, -march=native]]}"
      )
      + "\nbudget: {trials: 2}\n"
    try suite.write(toFile: "\(dir)/b.yaml", atomically: true, encoding: .utf8)
    let first = try ChildProcess.run(
      blkrewBinary(), ["sweep", "run", "b.yaml", "--results", "res", "--workers", "1", "--json"],
      workingDirectory: dir, timeout: 600)
    #expect(first.exitCode == 0, "\(first.stderrText)")
    #expect(first.stderrText.contains("budget of 2 trials reached"), "\(first.stderrText)")
    let runDir = "\(dir)/" + (first.stdoutText.split(separator: "\n").last.map(String.init) ?? "")
    let jsonText = first.stdoutText.split(separator: "\n").dropLast().joined(separator: "\n")
    let summary = try JSONSerialization.jsonObject(with: Data(jsonText.utf8)) as? [String: Any]
    #expect(summary?["budget_spent"] as? String == "trials", "\(first.stdoutText)")
    #expect(summary?["unfinished"] as? Int == 1)
    let recs = try records(runDir)
    #expect(recs.count == 2)  // the dense baseline and one of the two pruned trials

    // Every variant of every layer is in the suite's space: unroll 2, tile 4 (or 1 at batch
    // 1), and the ISAs this CPU runs.
    let supported = Set(
      KernelGenerator.supportedISAs(cpuFlags: KernelGenerator.hostCPUFlags()).map(\.rawValue))
    let variants = recs.flatMap { $0.layers.flatMap(\.variants) }
    #expect(!variants.isEmpty)
    #expect(variants.allSatisfy { $0.knobs.unroll == 2 && [1, 4].contains($0.knobs.nTile) })
    // threads [1, 2]: both for block-column layers (on a machine with 2 CPUs), 1 elsewhere.
    let layers = recs.flatMap(\.layers)
    let sparse = layers.filter { $0.format == .blockColumn }.flatMap(\.variants)
    let cpus = ProcessInfo.processInfo.activeProcessorCount
    #expect(!sparse.isEmpty)
    #expect(Set(sparse.map { $0.knobs.threads }) == (cpus >= 2 ? [1, 2] : [1]))
    #expect(
      layers.filter { $0.format != .blockColumn }.flatMap(\.variants).allSatisfy {
        $0.knobs.threads == 1
      })
    // The model latency is at latency.threads (1): the best of each layer is a 1-thread variant.
    for layer in layers {
      let best = layer.variants.first { $0.variantID == layer.bestVariantID }
      #expect(best?.knobs.threads == 1, "\(layer.layer)")
    }
    #expect(Set(variants.map(\.knobs.isa.rawValue)) == supported)
    // Two flag sets: every variant records its flags (and compiler), and both sets ran.
    #expect(variants.allSatisfy { $0.compiler == "gcc" && $0.flags != nil })
    #expect(Set(variants.compactMap { $0.flags?.first }) == ["-O3", "-O2"])
    #expect(variants.allSatisfy { $0.outcome == .measured }, "\(variants.map(\.outcome))")

    // The budget counts the run's records: a rerun starts nothing.
    let again = try ChildProcess.run(
      blkrewBinary(), ["sweep", "run", "b.yaml", "--results", "res", "--workers", "1"],
      workingDirectory: dir, timeout: 600)
    #expect(again.exitCode == 0, "\(again.stderrText)")
    #expect(!again.stderrText.contains(": running"), "\(again.stderrText)")
    #expect(try records(runDir).count == 2)
  }
}

/// `targets`: each layer's variants are also built and verified on the listed targets
/// (x86-64-v3 natively timed, aarch64 under qemu: correctness only); a target whose tools are
/// missing stops the sweep before anything is written, exit 69 naming the package.
@Suite(.serialized) struct SuiteTargetsTests {
  static let aarch64Ready: Bool = {
    guard let t = try? TargetRegistry.target(named: "aarch64") else { return false }
    return t.missingTools(forRunning: true).isEmpty
  }()

  @Test(
    .enabled(
      if: aarch64Ready,
      "the aarch64 cross toolchain, qemu-user or arm64 PAPI/json-c is missing (scripts/setup.sh)"))
  func layersAreVerifiedOnEveryTarget() throws {
    let dir = temporaryDirectory("targets")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let suite =
      tinySuite
      .replacingOccurrences(of: "name: tiny", with: "name: tiny-targets")
      .replacingOccurrences(of: "rates: [2, 4]", with: "rates: [4]")
      .replacingOccurrences(of: "batch_n: 4", with: "batch_n: 0")
      .replacingOccurrences(of: "budget_s: 0.01}", with: "budget_s: 0.01, unroll: [2]}")
      + "\ntargets: [host, x86-64-v3, aarch64]\n"
    try suite.write(toFile: "\(dir)/t.yaml", atomically: true, encoding: .utf8)
    let r = try ChildProcess.run(
      blkrewBinary(), ["sweep", "run", "t.yaml", "--results", "res", "--workers", "1"],
      workingDirectory: dir, timeout: 600)
    #expect(r.exitCode == 0, "\(r.stderrText)")
    let runDir = "\(dir)/" + (r.stdoutText.split(separator: "\n").last.map(String.init) ?? "")
    let files = try FileManager.default.contentsOfDirectory(atPath: "\(runDir)/trials")
      .filter { $0.hasSuffix(".json") }
    #expect(files.count == 2)
    for f in files {
      let rec = try RecordCoding.decoder().decode(
        TrialRecord.self,
        from: try #require(FileManager.default.contents(atPath: "\(runDir)/trials/\(f)")))
      #expect(rec.status == .ok && rec.latencySeconds != nil)
      for layer in rec.layers {
        let targets = try #require(layer.targets)
        #expect(targets.map(\.target) == ["x86-64-v3", "aarch64"])
        for t in targets {
          #expect(!t.variants.isEmpty)
          #expect(t.variants.allSatisfy { $0.outcome == .measured }, "\(t)")
          #expect(
            t.variants.allSatisfy { ($0.maxAbsErr ?? .infinity) <= ($0.tolerance ?? 0) })
        }
        #expect(targets[0].emulated == false && targets[0].bestMedianSeconds != nil)
        #expect(targets[1].emulated && targets[1].bestMedianSeconds == nil)
      }
    }
    let report = try ChildProcess.run(
      blkrewBinary(), ["report", runDir, "--format", "md", "--out", "\(dir)/rep"],
      workingDirectory: dir, timeout: 120)
    #expect(report.exitCode == 0, "\(report.stderrText)")
    let md = (try? String(contentsOfFile: "\(dir)/rep/report.md", encoding: .utf8)) ?? ""
    #expect(md.contains("## Targets") && md.contains("| aarch64 |") && md.contains("emulated"))
  }

  @Test func missingTargetToolchainExits69() throws {
    let dir = temporaryDirectory("targets-69")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    // A PATH with the host compiler but no cross compiler and no qemu.
    let bin = "\(dir)/bin"
    try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
    for tool in ["gcc", "cc", "pkg-config"] {
      if let p = ChildProcess.which(tool) {
        try FileManager.default.createSymbolicLink(atPath: "\(bin)/\(tool)", withDestinationPath: p)
      }
    }
    let suite =
      tinySuite.replacingOccurrences(of: "name: tiny", with: "name: tiny-69")
      + "\ntargets: [aarch64]\n"
    try suite.write(toFile: "\(dir)/t.yaml", atomically: true, encoding: .utf8)
    var env = ProcessInfo.processInfo.environment
    env["PATH"] = bin
    let r = try ChildProcess.run(
      blkrewBinary(), ["sweep", "run", "t.yaml", "--results", "res"], environment: env,
      workingDirectory: dir, timeout: 120)
    #expect(r.exitCode == 69, "\(r.stderrText)")
    let lines = r.stderrText.split(separator: "\n").filter { $0.hasPrefix("blkrew: error:") }
    #expect(lines.count == 1 && lines[0].contains("gcc-aarch64-linux-gnu"), "\(r.stderrText)")
    #expect(!FileManager.default.fileExists(atPath: "\(dir)/res"))
  }
}
