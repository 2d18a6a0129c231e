import Datasets
import Foundation
import NeuralNets
import Pruning
import Tensors
import TuningSchema

/// The data of one trial: a seeded train/validation split of the training set and the test set.
public struct TrialData: Sendable {
  public var train: ImageDataset
  public var validation: ImageDataset
  public var test: ImageDataset
  public init(train: ImageDataset, validation: ImageDataset, test: ImageDataset) {
    self.train = train
    self.validation = validation
    self.test = test
  }
}

/// Why training stopped early; the Driver records it as the trial's status.
public enum TrainingFailure: Error, CustomStringConvertible {
  /// The loss became NaN or infinite.
  case diverged(phase: String, epoch: Int, step: Int)
  public var description: String {
    switch self {
    case .diverged(let phase, let epoch, let step):
      "loss is not finite in phase \(phase), epoch \(epoch), step \(step)"
    }
  }
}

/// A pruned (or dense) layer after training: its GEMM-view weight and mask.
public struct TrainedLayer: Sendable {
  public var name: String
  public var rows: Int
  public var cols: Int
  public var weights: [Float]
  /// 0/1 per weight; nil for a dense layer.
  public var mask: [Float]?
  public var kept: KeptCount
}

/// The outcome of training one trial.
public struct TrainedModel {
  public var model: MLP
  public var layers: [TrainedLayer]
  public var phases: [PhaseMetrics]
  public var testAccuracy: Double
  public var valAccuracy: Double
}

/// Runs the phases of a trial (DESIGN.md section 2): pre-train, or for a pruned trial load the
/// dense baseline, then reweighted block regularization, hard prune, masked retrain. Accuracy is
/// recorded after every phase; the Driver decides where checkpoints go.
public struct TrialTrainer {
  public var config: TrialConfig
  public var data: TrialData
  /// Called with one line of progress (phase, epoch, loss, accuracy).
  public var progress: (String) -> Void
  /// Called between epochs: the Driver briefly gives up its compute slot here so that a waiting
  /// kernel measurement of another worker can run on a quiet machine.
  public var epochBoundary: () -> Void = {}

  public init(config: TrialConfig, data: TrialData, progress: @escaping (String) -> Void = { _ in })
  {
    self.config = config
    self.data = data
    self.progress = progress
  }

  /// The architecture of a model name. Only the MLP (LeNet-300-100) exists so far.
  public static func makeModel(_ name: String, seed: UInt64) -> MLP {
    precondition(name == "mlp", "model \(name) is not implemented")
    return MLP(sizes: [784, 300, 100, 10], seed: seed)
  }

  /// Names of the layers that get pruned, resolving `first` / `last` in `keepDense`.
  public static func prunedLayerNames(_ all: [String], keepDense: [String]) -> [String] {
    all.enumerated().filter { i, name in
      !(keepDense.contains(name) || (i == 0 && keepDense.contains("first"))
        || (i == all.count - 1 && keepDense.contains("last")))
    }.map(\.element)
  }

  /// A seed derived from the trial ID, so an interrupted and a fresh run shuffle identically.
  static func seed(from id: String, salt: UInt64) -> UInt64 {
    (UInt64(id.prefix(16), radix: 16) ?? 0) ^ (salt &* 0x9E37_79B9_7F4A_7C15)
  }

  /// Trains a dense baseline from scratch.
  public func trainDense() throws -> TrainedModel {
    let model = Self.makeModel(config.model, seed: UInt64(config.seed))
    var phases: [PhaseMetrics] = []
    let start = Date()
    let loss = try runEpochs(
      model, phase: "pretrain", epochs: config.phases.pretrainEpochs,
      learningRate: Float(config.training.learningRate), regularizers: [:])
    phases.append(
      evaluatePhase(
        model, "pretrain", epochs: config.phases.pretrainEpochs, loss: loss, since: start))
    return finish(model, phases: phases, pruned: [:])
  }

  /// Regularizes, hard prunes and retrains `model` (the dense baseline's weights).
  public func trainPruned(from model: MLP) throws -> TrainedModel {
    guard let block = config.block, let rate = config.rate, let scheme = config.scheme else {
      preconditionFailure("a pruned trial needs block, rate and scheme")
    }
    let regSpec = config.regularizer ?? RegularizerSpec()
    let layers = model.linearLayers
    let prunedNames = Self.prunedLayerNames(layers.map(\.name), keepDense: config.keepDense)
    var partitions: [String: GroupPartition] = [:]
    for (name, layer) in layers where prunedNames.contains(name) {
      let shape = layer.weight.value.shape
      partitions[name] = GroupPartition(
        rows: shape[0], cols: shape[1], block: block, scheme: scheme)
    }
    var phases: [PhaseMetrics] = []

    // 1. Regularize.
    if regSpec.kind != .none && config.phases.regEpochs > 0 {
      let start = Date()
      var regs: [String: GroupRegularizer] = [:]
      for (name, p) in partitions { regs[name] = GroupRegularizer(partition: p, spec: regSpec) }
      let loss = try runEpochs(
        model, phase: "regularize", epochs: config.phases.regEpochs,
        learningRate: Float(config.training.learningRate), regularizers: regs,
        refreshSteps: regSpec.refreshSteps)
      phases.append(
        evaluatePhase(
          model, "regularize", epochs: config.phases.regEpochs, loss: loss, since: start))
    }

    // 2. Hard prune: per layer, keep the largest-norm groups up to the rate.
    let pruneStart = Date()
    var results: [String: HardPrune.Result] = [:]
    for (name, layer) in layers {
      guard let partition = partitions[name] else { continue }
      let r = HardPrune.prune(layer.weight.value.data, partition: partition, rate: rate)
      layer.weight.mask = r.mask
      layer.weight.applyMask()
      results[name] = r
    }
    phases.append(evaluatePhase(model, "prune", epochs: 0, loss: nil, since: pruneStart))

    // 3. Masked retrain.
    if config.phases.retrainEpochs > 0 {
      let start = Date()
      let loss = try runEpochs(
        model, phase: "retrain", epochs: config.phases.retrainEpochs,
        learningRate: Float(config.training.retrainLearningRate), regularizers: [:])
      phases.append(
        evaluatePhase(
          model, "retrain", epochs: config.phases.retrainEpochs, loss: loss, since: start))
    }
    return finish(model, phases: phases, pruned: results)
  }

  private func finish(_ model: MLP, phases: [PhaseMetrics], pruned: [String: HardPrune.Result])
    -> TrainedModel
  {
    let layers = model.linearLayers.map { name, layer -> TrainedLayer in
      let shape = layer.weight.value.shape
      let total = shape[0] * shape[1]
      let r = pruned[name]
      return TrainedLayer(
        name: name, rows: shape[0], cols: shape[1], weights: layer.weight.value.data,
        mask: r?.mask,
        kept: KeptCount(
          layer: name, rows: shape[0], cols: shape[1], total: total, kept: r?.kept ?? total,
          target: r?.target ?? total, pruned: r != nil))
    }
    let last = phases.last!
    return TrainedModel(
      model: model, layers: layers, phases: phases, testAccuracy: last.testAccuracy ?? 0,
      valAccuracy: last.valAccuracy ?? 0)
  }

  private func evaluatePhase(_ model: MLP, _ phase: String, epochs: Int, loss: Double?, since: Date)
    -> PhaseMetrics
  {
    let test = Self.accuracy(model, on: data.test)
    let val = Self.accuracy(model, on: data.validation)
    progress(
      "\(phase): test accuracy \(String(format: "%.4f", test)), validation \(String(format: "%.4f", val))"
    )
    return PhaseMetrics(
      phase: phase, epochs: epochs, testAccuracy: test, valAccuracy: val, trainLoss: loss,
      seconds: Date().timeIntervalSince(since))
  }

  /// Fraction of `set` classified correctly, evaluated in batches of 1000.
  public static func accuracy(_ model: MLP, on set: ImageDataset) -> Double {
    var correct = 0
    let all = Array(0..<set.count)
    for start in stride(from: 0, to: set.count, by: 1000) {
      let (x, y) = set.batch(all[start..<min(start + 1000, set.count)])
      let logits = model.forward(x, training: false)
      correct += NeuralNets.accuracy(logits: logits, labels: y).correct
    }
    return set.count == 0 ? 0 : Double(correct) / Double(set.count)
  }

  /// SGD with momentum over `epochs` epochs; returns the mean training loss of the last epoch
  /// (task loss plus penalty). Regularizer penalty weights are refreshed every `refreshSteps`.
  private func runEpochs(
    _ model: MLP, phase: String, epochs: Int, learningRate: Float,
    regularizers: [String: GroupRegularizer], refreshSteps: Int = 0
  ) throws -> Double? {
    guard epochs > 0 else { return nil }
    var regs = regularizers
    var sgd = SGD(
      learningRate: learningRate, momentum: Float(config.training.momentum),
      weightDecay: Float(config.training.weightDecay), nesterov: false)
    let layers = model.linearLayers
    let params = model.parameters
    let bs = config.training.batchSize
    var order = Array(0..<data.train.count)
    var rng = SeededRNG(
      seed: Self.seed(
        from: config.id, salt: UInt64(phase.utf8.reduce(0) { $0 &* 31 &+ UInt64($1) })))
    var step = 0
    var lastLoss = 0.0
    for name in regs.keys {
      regs[name]!.refresh(layers.first { $0.name == name }!.layer.weight.value.data)
    }
    for epoch in 1...epochs {
      rng.shuffle(&order)  // SeededRNG.shuffle: the same order on every Swift version
      var sum = 0.0
      var batches = 0
      for start in stride(from: 0, to: order.count - bs + 1, by: bs) {
        let (x, y) = data.train.batch(order[start..<(start + bs)])
        for p in params {
          p.grad.data.withUnsafeMutableBufferPointer { g in g.update(repeating: 0) }
        }
        let logits = model.forward(x, training: true)
        let (loss, gradLogits) = softmaxCrossEntropy(logits: logits, labels: y)
        _ = model.backward(gradLogits)
        var total = Double(loss)
        for (name, layer) in layers {
          guard regs[name] != nil else { continue }
          if refreshSteps > 0 && step > 0 && step % refreshSteps == 0 {
            regs[name]!.refresh(layer.weight.value.data)
          }
          let reg = regs[name]!
          total += Double(reg.penalty(layer.weight.value.data))
          reg.addGradient(layer.weight.value.data, to: &layer.weight.grad.data)
        }
        guard total.isFinite else {
          throw TrainingFailure.diverged(phase: phase, epoch: epoch, step: step)
        }
        sgd.step(params)
        sum += total
        batches += 1
        step += 1
      }
      lastLoss = sum / Double(max(batches, 1))
      progress("\(phase) epoch \(epoch)/\(epochs): loss \(String(format: "%.4f", lastLoss))")
      epochBoundary()
    }
    return lastLoss
  }
}
