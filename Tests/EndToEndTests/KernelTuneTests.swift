import ChildProcesses
import Foundation
import Testing

/// `blkrew kernel tune`: a pruned checkpoint's block-sparse layer tuned without a sweep: every
/// variant verified against the dense reference, the JSON contract of DESIGN section 9, and the
/// exit codes for bad input.
@Suite(.serialized) struct KernelTuneTests {
  func blkrew(_ args: [String], cwd: String, environment: [String: String]? = nil) throws
    -> ChildResult
  {
    try ChildProcess.run(
      blkrewBinary(), args, environment: environment, workingDirectory: cwd, timeout: 600)
  }

  @Test func tunesAPrunedLayerAndRejectsBadInput() throws {
    let dir = temporaryDirectory("kernel-tune")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let trained = try blkrew(
      [
        "train", "--model", "mlp", "--dataset", "fashion-mnist", "--epochs", "1",
        "--train-subset", "500", "--out", "mlp.safetensors",
      ], cwd: dir)
    #expect(trained.exitCode == 0, "\(trained.stderrText)")
    let pruned = try blkrew(
      [
        "prune", "--checkpoint", "mlp.safetensors", "--block", "8x16", "--rate", "4",
        "--reg-epochs", "0", "--retrain-epochs", "0", "--out", "p.safetensors",
      ], cwd: dir)
    #expect(pruned.exitCode == 0, "\(pruned.stderrText)")

    for strategy in ["exhaustive", "greedy"] {
      // Exhaustive explores threads 1 and 2 as well (the space doubles for block-column).
      let threads = strategy == "exhaustive" ? ["--threads", "1,2"] : []
      let r = try blkrew(
        [
          "kernel", "tune", "--checkpoint", "p.safetensors", "--layer", "fc2", "--batch", "8",
          "--budget-s", "60", "--strategy", strategy, "--json",
        ] + threads, cwd: dir)
      #expect(r.exitCode == 0, "\(r.stderrText)")
      let json = try #require(
        try JSONSerialization.jsonObject(with: Data(r.stdoutText.utf8)) as? [String: Any])
      #expect(json["emulated"] as? Bool == false)
      let variants = try #require(json["variants"] as? [[String: Any]])
      #expect(!variants.isEmpty)
      for v in variants {
        #expect(v["layer"] as? String == "fc2" && v["id"] is String && v["knobs"] is [String: Any])
        #expect(v["outcome"] as? String == "measured", "\(v)")
        let err = try #require(v["max_abs_err"] as? Double)
        #expect(err <= (v["tolerance"] as? Double ?? 0))
        #expect((v["median_s"] as? Double ?? 0) > 0)
      }
      let layers = try #require(json["layers"] as? [[String: Any]])
      #expect(layers.count == 1 && layers[0]["format"] as? String == "block-column")
      #expect(layers[0]["best_variant_id"] is String)
      if strategy == "exhaustive" {
        #expect(variants.count == layers[0]["space"] as? Int)
        let counts = Set(variants.map { ($0["knobs"] as? [String: Any])?["threads"] as? Int ?? 1 })
        #expect(counts == [1, 2], "\(variants.map { $0["knobs"] ?? "" })")
      } else {
        #expect(variants.count < (layers[0]["space"] as? Int ?? 0))
      }
    }

    // --patterns: the best variant again reordered and (batch 1, a small layer) baked, both
    // verified and in the space.
    let pat = try blkrew(
      [
        "kernel", "tune", "--checkpoint", "p.safetensors", "--layer", "fc2", "--batch", "1",
        "--budget-s", "60", "--strategy", "greedy", "--patterns", "--json",
      ], cwd: dir)
    #expect(pat.exitCode == 0, "\(pat.stderrText)")
    let pj = try #require(
      try JSONSerialization.jsonObject(with: Data(pat.stdoutText.utf8)) as? [String: Any])
    let pv = try #require(pj["variants"] as? [[String: Any]])
    let knobs = pv.compactMap { $0["knobs"] as? [String: Any] }
    #expect(knobs.contains { $0["reorder"] as? Bool == true }, "\(knobs)")
    #expect(knobs.contains { $0["baked"] as? Bool == true }, "\(knobs)")
    #expect(pv.allSatisfy { $0["outcome"] as? String == "measured" }, "\(pv)")

    // Two flag sets (`--flags`, repeated): the space doubles and each variant names its flags.
    let two = try blkrew(
      [
        "kernel", "tune", "--checkpoint", "p.safetensors", "--layer", "fc2", "--batch", "8",
        "--budget-s", "60", "--flags", "-O3 -march=native", "--flags", "-O2 -march=native",
        "--json",
      ], cwd: dir)
    #expect(two.exitCode == 0, "\(two.stderrText)")
    let tj = try #require(
      try JSONSerialization.jsonObject(with: Data(two.stdoutText.utf8)) as? [String: Any])
    let tv = try #require(tj["variants"] as? [[String: Any]])
    let tl = try #require((tj["layers"] as? [[String: Any]])?.first)
    #expect(tv.count == tl["space"] as? Int && tv.count % 2 == 0)
    // The generator appends each ISA's flags (-mavx2 -mfma, ...) to the set.
    let sets = tv.map { ($0["flags"] as? [String] ?? []).prefix(2).joined(separator: " ") }
    #expect(Set(sets) == ["-O3 -march=native", "-O2 -march=native"], "\(sets)")
    #expect(sets.filter { $0.hasPrefix("-O2") }.count == tv.count / 2)
    #expect(
      tv.allSatisfy { $0["outcome"] as? String == "measured" && $0["compiler"] as? String == "gcc" }
    )
    let badFlags = try blkrew(
      ["kernel", "tune", "--checkpoint", "p.safetensors", "--flags", " "], cwd: dir)
    #expect(badFlags.exitCode == 64 && badFlags.stderrText.contains("--flags"))

    let badThreads = try blkrew(
      ["kernel", "tune", "--checkpoint", "p.safetensors", "--threads", "0,2"], cwd: dir)
    #expect(badThreads.exitCode == 64 && badThreads.stderrText.contains("--threads"))
    let badCompiler = try blkrew(
      ["kernel", "tune", "--checkpoint", "p.safetensors", "--compiler", "gcc,icc"], cwd: dir)
    #expect(badCompiler.exitCode == 64 && badCompiler.stderrText.contains("--compiler"))
    let missing = try blkrew(["kernel", "tune", "--checkpoint", "nope.safetensors"], cwd: dir)
    #expect(missing.exitCode == 66)
    let badLayer = try blkrew(
      ["kernel", "tune", "--checkpoint", "p.safetensors", "--layer", "conv9"], cwd: dir)
    #expect(badLayer.exitCode == 64 && badLayer.stderrText.contains("fc1, fc2, fc3"))
    try Data("not a checkpoint".utf8).write(to: URL(fileURLWithPath: "\(dir)/bad.safetensors"))
    let corrupt = try blkrew(["kernel", "tune", "--checkpoint", "bad.safetensors"], cwd: dir)
    #expect(corrupt.exitCode == 65, "\(corrupt.stderrText)")
    let unknown = try blkrew(
      ["kernel", "tune", "--checkpoint", "p.safetensors", "--target", "riscv"], cwd: dir)
    #expect(unknown.exitCode == 64, "\(unknown.stderrText)")
    // A PATH without the cross tools: the aarch64 target's toolchain is missing.
    let bin = "\(dir)/bin"
    try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
    let env = ["PATH": bin, "HOME": NSHomeDirectory()]
    let noCross = try blkrew(
      ["kernel", "tune", "--checkpoint", "p.safetensors", "--target", "aarch64"], cwd: dir,
      environment: env)
    #expect(noCross.exitCode == 69, "\(noCross.stderrText)")
    #expect(noCross.stderrText.contains("gcc-aarch64-linux-gnu"))
  }
}
