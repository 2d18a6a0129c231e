import Foundation
import NeuralNets
import Tensors

/// The child side of `bench train-speed` (`blkrew _bench-train ARGS`): one measurement in a fresh
/// process, so that `OPENBLAS_CORETYPE` and `OPENBLAS_NUM_THREADS` (read by OpenBLAS when it is
/// loaded) take effect. Prints one JSON object on stdout.
///
///     _bench-train --model mlp|lenet5|vgg11|gru --threads N [--seconds S] [--blocks B] [--warmup W]
///     _bench-train --sgemm-probe [--size 1024]
///     _bench-train --accuracy MODEL --dataset NAME ...   (`TrainAccuracyProbe`)
///
/// A model measurement is forward + loss + backward + optimizer step on a fixed seeded batch of the
/// real shape (the same models, batches and optimizers as `scripts/bench/train_speed.py`): a
/// warm-up (at least `warmup` steps, default 5, and 0.3 s), then `blocks` timed blocks of equal step counts lasting
/// `seconds` in all (`step_s` = the median block's mean step time), then 3 more blocks with
/// `BLAS.Profiler` on, whose sgemm time over their wall time is `sgemm_fraction`.
public enum TrainStepProbe {
  public struct Failure: Error, CustomStringConvertible {
    public let description: String
  }

  /// The models of the benchmark: name, batch, input shape.
  public static let models: [(name: String, batch: Int)] = [
    ("mlp", 64), ("lenet5", 64), ("vgg11", 64), ("gru", 32),
  ]

  /// Runs the child with its arguments (after the subcommand) and returns its JSON line.
  public static func main(_ arguments: [String]) throws -> String {
    var options: [String: String] = [:]
    var flags: Set<String> = []
    var i = 0
    while i < arguments.count {
      let a = arguments[i]
      guard a.hasPrefix("--") else { throw Failure(description: "unexpected argument '\(a)'") }
      if a == "--sgemm-probe" {
        flags.insert(a)
        i += 1
        continue
      }
      guard i + 1 < arguments.count else { throw Failure(description: "\(a) needs a value") }
      options[String(a.dropFirst(2))] = arguments[i + 1]
      i += 2
    }
    let object: [String: Any]
    if flags.contains("--sgemm-probe") {
      object = sgemmProbe(size: Int(options["size"] ?? "") ?? 1024)
    } else if options["accuracy"] != nil {
      object = try TrainAccuracyProbe.run(options)
    } else {
      guard let model = options["model"] else { throw Failure(description: "need --model") }
      guard let threads = Int(options["threads"] ?? "1"), threads >= 1 else {
        throw Failure(description: "--threads must be a positive integer")
      }
      object = try measure(
        model: model, threads: threads, seconds: Double(options["seconds"] ?? "") ?? 3,
        blocks: max(1, Int(options["blocks"] ?? "") ?? 7),
        warmup: max(1, Int(options["warmup"] ?? "") ?? 5))
    }
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    return String(decoding: data, as: UTF8.self)
  }

  /// GFLOP/s of a square single-thread sgemm (best of several calls) with the core OpenBLAS chose.
  static func sgemmProbe(size n: Int) -> [String: Any] {
    BLAS.setThreads(1)
    var rng = SeededRNG(seed: 3)
    let a = (0..<(n * n)).map { _ in rng.nextUniform(-1, 1) }
    let b = (0..<(n * n)).map { _ in rng.nextUniform(-1, 1) }
    var c = [Float](repeating: 0, count: n * n)
    var best = Double.infinity
    let start = BLAS.Profiler.now()
    var calls = 0
    while calls < 3 || (calls < 20 && BLAS.Profiler.now() - start < 0.5) {
      let t0 = BLAS.Profiler.now()
      a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
          c.withUnsafeMutableBufferPointer { pc in
            BLAS.sgemm(
              transA: false, transB: false, m: n, n: n, k: n, alpha: 1, a: pa.baseAddress!,
              lda: n, b: pb.baseAddress!, ldb: n, beta: 0, c: pc.baseAddress!, ldc: n)
          }
        }
      }
      best = min(best, BLAS.Profiler.now() - t0)
      calls += 1
    }
    return [
      "size": n, "gflops": 2 * Double(n) * Double(n) * Double(n) / best / 1e9, "calls": calls,
      "core": BLAS.coreName, "config": BLAS.config,
    ]
  }

  /// A model, its input, labels and optimizer, as in `scripts/bench/train_speed.py`.
  static func make(_ name: String) throws -> (
    model: any Network, x: Tensor, labels: [Int], optimizer: any Optimizer, sequence: Bool
  ) {
    var rng = SeededRNG(seed: 1)
    func input(_ shape: [Int]) -> Tensor {
      Tensor(
        shape: shape, data: (0..<Tensor.elementCount(shape)).map { _ in rng.nextNormal() })
    }
    switch name {
    case "mlp":
      return (
        MLP(sizes: [784, 300, 100, 10], seed: 1), input([64, 784]), (0..<64).map { $0 % 10 },
        SGD(learningRate: 0.01, momentum: 0.9), false
      )
    case "lenet5":
      return (
        LeNet5(inputChannels: 1, classes: 10, seed: 1), input([64, 1, 28, 28]),
        (0..<64).map { $0 % 10 }, SGD(learningRate: 0.01, momentum: 0.9), false
      )
    case "vgg11":
      return (
        VGG(layout: .vgg11, widthMultiplier: 0.25, inputChannels: 1, classes: 10, seed: 1),
        input([64, 1, 32, 32]), (0..<64).map { $0 % 10 },
        SGD(learningRate: 0.01, momentum: 0.9, weightDecay: 5e-4), false
      )
    case "gru":
      return (
        GRUClassifier(inputSize: 12, hiddenSize: 128, classes: 9, seed: 1), input([32, 29, 12]),
        (0..<32).map { $0 % 9 }, Adam(learningRate: 1e-3), true
      )
    default:
      throw Failure(
        description:
          "unknown model '\(name)' (available: \(models.map(\.name).joined(separator: ", ")))")
    }
  }

  static func measure(model name: String, threads: Int, seconds: Double, blocks: Int, warmup: Int)
    throws
    -> [String: Any]
  {
    BLAS.setThreads(threads)
    var (model, x, labels, optimizer, sequence) = try make(name)
    let params = model.parameters
    func step() {
      for p in params { p.zeroGrad() }
      let logits =
        sequence
        ? (model as! any SequenceNetwork).forward(x, lengths: nil, training: true)
        : model.forward(x, training: true)
      let (_, grad) = softmaxCrossEntropy(logits: logits, labels: labels)
      _ = model.backward(grad)
      optimizer.step(params)
    }
    let now = BLAS.Profiler.now
    let warmStart = now()
    var warmSteps = 0
    while warmSteps < warmup || now() - warmStart < min(0.3, seconds) {
      step()
      warmSteps += 1
    }
    let perStep = (now() - warmStart) / Double(warmSteps)
    let steps = max(1, Int(seconds / Double(blocks) / perStep))
    var block: [Double] = []
    for _ in 0..<blocks {
      let t0 = now()
      for _ in 0..<steps { step() }
      block.append((now() - t0) / Double(steps))
    }
    // Profiled blocks: sgemm's share of the step (the profiler's clock reads, ~25 ns per sgemm
    // call, are not part of the throughput figure above).
    BLAS.Profiler.reset()
    BLAS.Profiler.isEnabled = true
    var profiledWall = 0.0
    let profiledBlocks = min(3, blocks)
    for _ in 0..<profiledBlocks {
      let t0 = now()
      for _ in 0..<steps { step() }
      profiledWall += now() - t0
    }
    BLAS.Profiler.isEnabled = false
    let profiledSteps = Double(profiledBlocks * steps)
    let median = block.sorted()[block.count / 2]
    let batch = labels.count
    return [
      "model": name, "batch": batch, "threads": threads, "core": BLAS.coreName,
      "steps_per_block": steps, "block_step_s": block, "step_s": median,
      "samples_per_s": Double(batch) / median,
      "sgemm_fraction": BLAS.Profiler.seconds / profiledWall,
      "sgemm_calls_per_step": Double(BLAS.Profiler.calls) / profiledSteps,
      "sgemm_gflop_per_step": 2 * BLAS.Profiler.multiplyAdds / profiledSteps / 1e9,
      "sgemm_gflops":
        BLAS.Profiler.seconds > 0
        ? 2 * BLAS.Profiler.multiplyAdds / BLAS.Profiler.seconds / 1e9 : 0,
    ]
  }
}
