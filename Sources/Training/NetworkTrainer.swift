import Datasets
import Foundation
import NeuralNets
import Tensors
import TuningSchema

/// Trains and evaluates any `Network` on any `TaskData` (the loop of `blkrew train`): images
/// (MLPs see `[N, H·W]`, conv nets `[N, C, H, W]`), sequences with lengths, or characters with
/// per-step cross-entropy. SGD with momentum or Adam, an optional schedule, seeded batch order.
public struct NetworkTrainer {
  public let network: any Network
  public let data: TaskData
  public var batchSize: Int
  public var optimizer: any Optimizer
  public var schedule: LRSchedule = .constant
  public var baseLearningRate: Float
  /// Characters per training window of a language model.
  public var sequenceLength = 64
  public var seed: UInt64
  public var progress: (String) -> Void = { _ in }
  /// Called after each backward pass, before the optimizer step, with the step index: adds a
  /// penalty's gradient (regularization, ADMM) to the parameters' gradients and returns the
  /// penalty's value, which counts in the reported loss and the divergence check.
  public var afterBackward: ((Int) -> Double)? = nil
  public private(set) var step = 0

  public init(
    network: any Network, data: TaskData, batchSize: Int, optimizer: any Optimizer, seed: UInt64
  ) {
    self.network = network
    self.data = data
    self.batchSize = batchSize
    self.optimizer = optimizer
    self.baseLearningRate = optimizer.learningRate
    self.seed = seed
  }

  public enum Failure: Error, CustomStringConvertible {
    case diverged(epoch: Int, step: Int)
    public var description: String {
      switch self {
      case .diverged(let e, let s): "loss is not finite in epoch \(e), step \(s)"
      }
    }
  }

  /// One pass over the training data; returns the mean training loss.
  public mutating func trainEpoch(_ epoch: Int) throws -> Double {
    let params = network.parameters
    var sum = 0.0
    var count = 0
    for (x, target) in trainingBatches(epoch: epoch) {
      optimizer.learningRate = schedule.rate(at: step, base: baseLearningRate)
      for p in params { p.zeroGrad() }
      let logits = forward(x, lengths: target.lengths, training: true)
      let (loss, grad) = softmaxCrossEntropy(logits: logits, labels: target.labels)
      guard loss.isFinite else { throw Failure.diverged(epoch: epoch, step: step) }
      _ = network.backward(grad)
      let total = Double(loss) + (afterBackward?(step) ?? 0)
      guard total.isFinite else { throw Failure.diverged(epoch: epoch, step: step) }
      optimizer.step(params)
      sum += total
      count += 1
      step += 1
    }
    return sum / Double(max(count, 1))
  }

  /// Test or validation metric: accuracy, or bits per character for a language model.
  public func evaluate(test: Bool) -> Double {
    switch data {
    case .images(_, let va, let te, let c):
      let set = test ? te : va
      var correct = 0
      for start in stride(from: 0, to: set.count, by: 500) {
        let (x, y) = set.batch(Array(start..<min(start + 500, set.count))[...])
        let logits = forward(
          shape(x, channels: c, rows: set.rows, cols: set.cols), lengths: nil, training: false)
        correct += accuracy(logits: logits, labels: y).correct
      }
      return Double(correct) / Double(max(set.count, 1))
    case .sequences(_, let va, let te, _):
      let set = test ? te : va
      var correct = 0
      for start in stride(from: 0, to: set.count, by: 256) {
        let (x, lengths, y) = set.batch(Array(start..<min(start + 256, set.count))[...])
        correct +=
          accuracy(logits: forward(x, lengths: lengths, training: false), labels: y).correct
      }
      return Double(correct) / Double(max(set.count, 1))
    case .characters(let corpus):
      var total = 0.0
      var n = 0
      for b in corpus.evaluationBatches(test ? .test : .validation, batchSize: 32, length: 256) {
        let (loss, _) = softmaxCrossEntropy(
          logits: network.forward(b.inputs, training: false), labels: b.targets)
        total += Double(loss) * Double(b.targets.count)
        n += b.targets.count
      }
      return bitsPerCharacter(meanCrossEntropy: Float(total / Double(max(n, 1)))).asDouble
    }
  }

  struct Target {
    var labels: [Int]
    var lengths: [Int]?
  }

  private func trainingBatches(epoch: Int) -> [(Tensor, Target)] {
    var rng = SeededRNG(seed: seed ^ (UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15))
    switch data {
    case .images(let tr, _, _, let c):
      let order = rng.permutation(tr.count)
      return stride(from: 0, to: tr.count - batchSize + 1, by: batchSize).map { s in
        let (x, y) = tr.batch(order[s..<(s + batchSize)])
        return (
          shape(x, channels: c, rows: tr.rows, cols: tr.cols), Target(labels: y, lengths: nil)
        )
      }
    case .sequences(let tr, _, _, _):
      let order = rng.permutation(tr.count)
      return stride(from: 0, to: tr.count, by: batchSize).map { s in
        let (x, lengths, y) = tr.batch(order[s..<min(s + batchSize, tr.count)])
        return (x, Target(labels: y, lengths: lengths))
      }
    case .characters(let corpus):
      return corpus.epochBatches(
        .train, batchSize: batchSize, length: sequenceLength, seed: seed, epoch: epoch
      ).map {
        ($0.inputs, Target(labels: $0.targets, lengths: nil))
      }
    }
  }

  private func forward(_ x: Tensor, lengths: [Int]?, training: Bool) -> Tensor {
    if let seq = network as? any SequenceNetwork {
      return seq.forward(x, lengths: lengths, training: training)
    }
    return network.forward(x, training: training)
  }

  /// MLPs take flat images; everything else `[N, C, H, W]`.
  private func shape(_ x: Tensor, channels: Int, rows: Int, cols: Int) -> Tensor {
    network is MLP ? x : x.reshaped([x.shape[0], channels, rows, cols])
  }
}

extension Float {
  var asDouble: Double { Double(self) }
}
