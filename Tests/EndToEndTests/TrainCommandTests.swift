import ChildProcesses
import Foundation
import Testing

/// `blkrew train`: a short real training run, evaluation of a checkpoint written elsewhere, and
/// the exit codes for bad checkpoints.
@Suite(.serialized) struct TrainCommandTests {
  func blkrew(_ args: [String], cwd: String) throws -> ChildResult {
    try ChildProcess.run(blkrewBinary(), args, workingDirectory: cwd, timeout: 600)
  }

  @Test func trainThenEvaluateAndRejectBadCheckpoints() throws {
    let dir = temporaryDirectory("train")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let trained = try blkrew(
      ["train", "--model", "mlp", "--dataset", "fashion-mnist", "--epochs", "1", "--train-subset", "2000", "--out",
       "mlp.safetensors", "--json"], cwd: dir)
    #expect(trained.exitCode == 0, "\(trained.stderrText)")
    #expect(trained.stdoutText.split(separator: "\n").last == "mlp.safetensors")
    #expect(trained.stdoutText.contains("\"metric\" : \"accuracy\""))
    let data = try #require(FileManager.default.contents(atPath: "\(dir)/mlp.safetensors"))
    // The header's metadata names the model and dataset.
    let headerLength = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    let header = String(decoding: data[8..<(8 + headerLength)], as: UTF8.self)
    #expect(header.contains("\"model\":\"mlp\"") && header.contains("\"dataset\":\"fashion-mnist\""))
    #expect(header.contains("\"fc1.weight\""))

    // --epochs 0 evaluates the checkpoint and trains nothing: same weights out.
    let evaluated = try blkrew(
      ["train", "--model", "mlp", "--dataset", "fashion-mnist", "--epochs", "0", "--init", "mlp.safetensors", "--out",
       "again.safetensors"], cwd: dir)
    #expect(evaluated.exitCode == 0, "\(evaluated.stderrText)")

    // A truncated checkpoint: exit 65, one line naming the file.
    try data.prefix(100).write(to: URL(fileURLWithPath: "\(dir)/cut.safetensors"))
    let cut = try blkrew(
      ["train", "--model", "mlp", "--dataset", "fashion-mnist", "--epochs", "0", "--init", "cut.safetensors", "--out",
       "x.safetensors"], cwd: dir)
    #expect(cut.exitCode == 65)
    #expect(cut.stderrText.hasPrefix("blkrew: error: ") && cut.stderrText.contains("cut.safetensors: truncated"))
    #expect(cut.stderrText.split(separator: "\n").count == 1)
    // The checkpoint of another model: a tensor has the wrong shape (or is missing): exit 65 naming it.
    let other = try blkrew(
      ["train", "--model", "lenet5", "--dataset", "fashion-mnist", "--epochs", "0", "--init", "mlp.safetensors",
       "--out", "x.safetensors"], cwd: dir)
    #expect(other.exitCode == 65, "\(other.stderrText)")
    #expect(other.stderrText.contains("features.0.weight") || other.stderrText.contains("classifier"))
    let missing = try blkrew(
      ["train", "--model", "mlp", "--dataset", "fashion-mnist", "--epochs", "0", "--init", "nope.safetensors", "--out",
       "x.safetensors"], cwd: dir)
    #expect(missing.exitCode == 66)
    let mismatch = try blkrew(["train", "--model", "gru", "--dataset", "fashion-mnist", "--out", "x.safetensors"], cwd: dir)
    #expect(mismatch.exitCode == 64)
  }

  /// A checkpoint written by Python's safetensors (no blkrew metadata) loads with --init.
  @Test(.enabled(if: ChildProcess.which("python3") != nil)) func loadsPythonWrittenCheckpoints() throws {
    let probe = try ChildProcess.run("python3", ["-c", "import safetensors, numpy"], timeout: 30)
    guard probe.succeeded else {
      print("TrainCommandTests: skipped: python3 cannot import safetensors and numpy")
      return
    }
    let dir = temporaryDirectory("pytrain")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let script = """
      import numpy as np
      from safetensors.numpy import save_file
      rng = np.random.default_rng(0)
      t = {}
      for name, (o, i) in {"fc1": (300, 784), "fc2": (100, 300), "fc3": (10, 100)}.items():
          b = 1 / np.sqrt(i)
          t[name + ".weight"] = rng.uniform(-b, b, (o, i)).astype(np.float32)
          t[name + ".bias"] = rng.uniform(-b, b, (o,)).astype(np.float32)
      save_file(t, "py.safetensors")
      """
    let py = try ChildProcess.run("python3", ["-c", script], workingDirectory: dir, timeout: 60)
    #expect(py.succeeded, "\(py.stderrText)")
    let r = try blkrew(
      ["train", "--model", "mlp", "--dataset", "fashion-mnist", "--epochs", "0", "--init", "py.safetensors", "--out",
       "ours.safetensors"], cwd: dir)
    #expect(r.exitCode == 0, "\(r.stderrText)")
    // And Python reads ours back with the same tensors.
    let check = try ChildProcess.run(
      "python3",
      ["-c", "from safetensors.numpy import load_file; import numpy as np; a=load_file('py.safetensors'); b=load_file('ours.safetensors'); assert set(a)==set(b); assert all(np.array_equal(a[k], b[k]) for k in a); print('same')"],
      workingDirectory: dir, timeout: 60)
    #expect(check.stdoutText.contains("same"), "\(check.stderrText)")
  }
}
