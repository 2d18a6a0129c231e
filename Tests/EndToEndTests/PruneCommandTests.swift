import ChildProcesses
import Foundation
import NeuralNets
import Testing

/// `blkrew prune`: one checkpoint pruned without a sweep; its pruned weights are exact zeros in
/// whole block-column groups, the rate is met, and plain magnitude pruning keeps the largest
/// groups unchanged.
@Suite(.serialized) struct PruneCommandTests {
  func blkrew(_ args: [String], cwd: String) throws -> ChildResult {
    try ChildProcess.run(blkrewBinary(), args, workingDirectory: cwd, timeout: 600)
  }

  func weight(_ path: String, _ name: String) throws -> [Float] {
    let state = try Safetensors.read(URL(fileURLWithPath: path))
    return try #require(state.tensors[name]).data
  }

  /// Every 8x16 block of `w` (rows x cols) keeps whole column segments.
  func checkBlockColumns(_ w: [Float], rows: Int, cols: Int) {
    for r0 in stride(from: 0, to: rows, by: 8) {
      for c in 0..<cols {
        let zeros = (r0..<min(r0 + 8, rows)).filter { w[$0 * cols + c] == 0 }.count
        #expect(zeros == 0 || zeros == min(8, rows - r0), "block row \(r0), column \(c)")
      }
    }
  }

  @Test func pruneWritesExactZerosAtTheRate() throws {
    let dir = temporaryDirectory("prune")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let trained = try blkrew(
      [
        "train", "--model", "mlp", "--dataset", "fashion-mnist", "--epochs", "1",
        "--train-subset", "1000", "--out", "mlp.safetensors",
      ], cwd: dir)
    #expect(trained.exitCode == 0, "\(trained.stderrText)")

    // Regularize, prune, retrain; fc1 and fc2 pruned (first/last kept dense by default, so
    // keep only the last dense here).
    let pruned = try blkrew(
      [
        "prune", "--checkpoint", "mlp.safetensors", "--scheme", "block-column", "--block", "8x16",
        "--rate", "4", "--reg-epochs", "1", "--retrain-epochs", "1", "--train-subset", "1000",
        "--keep-dense", "last", "--out", "p.safetensors", "--json",
      ], cwd: dir)
    #expect(pruned.exitCode == 0, "\(pruned.stderrText)")
    #expect(pruned.stdoutText.split(separator: "\n").last == "p.safetensors")
    #expect(pruned.stdoutText.contains("\"compression_ratio\""))
    let fc1 = try weight("\(dir)/p.safetensors", "fc1.weight")
    let nonzero = fc1.filter { $0 != 0 }.count
    #expect(nonzero <= 300 * 784 / 4 && nonzero > 300 * 784 / 4 - 8)
    checkBlockColumns(fc1, rows: 300, cols: 784)
    #expect(fc1.allSatisfy { $0 != 0 || $0.bitPattern == 0 }, "pruned weights are +0")
    let fc3Before = try weight("\(dir)/mlp.safetensors", "fc3.weight")
    #expect(try weight("\(dir)/p.safetensors", "fc3.weight").count == fc3Before.count)
    let state = try Safetensors.read(URL(fileURLWithPath: "\(dir)/p.safetensors"))
    #expect(state.metadata["scheme"] == "block-column" && state.metadata["rate"] == "4")
    #expect(state.metadata["model"] == "mlp" && state.metadata["kept"]?.contains("fc1") == true)

    // --reg-epochs 0 --retrain-epochs 0: magnitude pruning only; kept weights are unchanged and
    // the kept column segments are the largest by norm.
    let magnitude = try blkrew(
      [
        "prune", "--checkpoint", "mlp.safetensors", "--block", "8x16", "--rate", "8",
        "--reg-epochs", "0", "--retrain-epochs", "0", "--keep-dense", "last", "--train-subset",
        "1000", "--out", "m.safetensors",
      ], cwd: dir)
    #expect(magnitude.exitCode == 0, "\(magnitude.stderrText)")
    let before = try weight("\(dir)/mlp.safetensors", "fc2.weight")
    let after = try weight("\(dir)/m.safetensors", "fc2.weight")
    for i in after.indices where after[i] != 0 { #expect(after[i] == before[i]) }
    var keptNorms: [Float] = []
    var prunedNorms: [Float] = []
    for r0 in stride(from: 0, to: 96, by: 8) {  // full 8-row block rows of fc2 (100 x 300)
      for c in 0..<300 {
        let n = (r0..<(r0 + 8)).reduce(Float(0)) {
          $0 + before[$1 * 300 + c] * before[$1 * 300 + c]
        }
        if after[r0 * 300 + c] != 0 { keptNorms.append(n) } else { prunedNorms.append(n) }
      }
    }
    #expect((keptNorms.min() ?? 0) >= (prunedNorms.max() ?? 0))
  }

  @Test func badInputExitCodes() throws {
    let dir = temporaryDirectory("prune-bad")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let missing = try blkrew(
      [
        "prune", "--checkpoint", "nope.safetensors", "--block", "8x16", "--rate", "4", "--out", "x",
      ],
      cwd: dir)
    #expect(missing.exitCode == 66)
    #expect(missing.stderrText == "blkrew: error: nope.safetensors: no such file\n")
    try Data("not a checkpoint at all".utf8).write(
      to: URL(fileURLWithPath: "\(dir)/bad.safetensors"))
    let bad = try blkrew(
      ["prune", "--checkpoint", "bad.safetensors", "--block", "8x16", "--rate", "4", "--out", "x"],
      cwd: dir)
    #expect(bad.exitCode == 65)
    #expect(bad.stderrText.split(separator: "\n").count == 1)
    let flag = try blkrew(
      [
        "prune", "--checkpoint", "bad.safetensors", "--block", "8x16", "--rate", "0.5", "--out",
        "x",
      ],
      cwd: dir)
    #expect(flag.exitCode == 64)
    #expect(!FileManager.default.fileExists(atPath: "\(dir)/x"))
  }
}
