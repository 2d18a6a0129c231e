import Datasets
import Foundation
import NeuralNets
import Pruning
import Tensors
import TuningSchema

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
  public var network: any Network
  public var layers: [TrainedLayer]
  public var phases: [PhaseMetrics]
  /// Test and validation accuracy (classification) after the last phase; nil for a language model.
  public var testAccuracy: Double?
  public var valAccuracy: Double?
  /// Test and validation bits per character (language model) after the last phase.
  public var testBitsPerCharacter: Double?
  public var valBitsPerCharacter: Double?
  /// Group-norm histograms of the pruned layers before and after regularization.
  public var normHistograms: [LayerNormHistograms]
}

/// Runs the phases of a trial (DESIGN.md section 2) on any model of the zoo: pre-train, or for a
/// pruned trial start from the dense baseline's weights, then regularize (reweighted group
/// regularization, group lasso or ADMM), hard prune to the rate, masked retrain. The metric
/// (accuracy, or bits per character for a language model) is recorded after every phase; the
/// Driver decides where checkpoints go.
public struct TrialTrainer {
  public var config: TrialConfig
  public var data: TaskData
  /// Called with one line of progress (phase, epoch, loss, metric).
  public var progress: (String) -> Void
  /// Called between epochs: the Driver briefly gives up its compute slot here so that a waiting
  /// kernel measurement of another worker can run on a quiet machine.
  public var epochBoundary: () -> Void = {}

  public init(config: TrialConfig, data: TaskData, progress: @escaping (String) -> Void = { _ in })
  {
    self.config = config
    self.data = data
    self.progress = progress
  }

  /// A freshly initialised network of the trial's model for its data.
  public func makeNetwork() -> any Network {
    ModelZoo.make(config.model, data: data, seed: UInt64(config.seed), width: config.width ?? 1)
  }

  /// Names of the layers that get pruned, resolving `first` / `last` in `keepDense`.
  public static func prunedLayerNames(_ all: [String], keepDense: [String]) -> [String] {
    all.enumerated().filter { i, name in
      !(keepDense.contains(name) || (i == 0 && keepDense.contains("first"))
        || (i == all.count - 1 && keepDense.contains("last")))
    }.map(\.element)
  }

  /// A seed derived from the trial ID and a phase, so an interrupted and a fresh run shuffle
  /// identically.
  static func seed(from id: String, phase: String) -> UInt64 {
    let salt = phase.utf8.reduce(UInt64(0)) { $0 &* 31 &+ UInt64($1) }
    return (UInt64(id.prefix(16), radix: 16) ?? 0) ^ (salt &* 0x9E37_79B9_7F4A_7C15)
  }

  /// Trains a dense baseline from scratch, or from the suite's `init` checkpoint (then
  /// `pretrain_epochs` may be 0: only evaluated).
  public func trainDense() throws -> TrainedModel {
    let network = makeNetwork()
    if let initial = config.initCheckpoint {
      let state = try Safetensors.read(URL(fileURLWithPath: initial.path))
      try network.loadState(state.tensors)
      progress("dense baseline from \(initial.path)")
    }
    let start = Date()
    let loss = try runEpochs(
      network, phase: "pretrain", epochs: config.phases.pretrainEpochs,
      learningRate: Float(config.training.learningRate))
    let phases = [
      evaluatePhase(
        network, "pretrain", epochs: config.phases.pretrainEpochs, loss: loss, since: start)
    ]
    return finish(network, phases: phases, pruned: [:], histograms: [])
  }

  /// Regularizes, hard prunes and retrains `network` (holding the dense baseline's weights).
  public func trainPruned(from network: any Network) throws -> TrainedModel {
    guard let block = config.block, let rate = config.rate, let scheme = config.scheme else {
      preconditionFailure("a pruned trial needs block, rate and scheme")
    }
    let regSpec = config.regularizer ?? RegularizerSpec()
    // A successive-halving rung trains shorter (or longer) phases than the suite's.
    let phaseSpec = config.rungPhases ?? config.phases
    let weights = network.gemmWeights
    let prunedNames = Set(
      Self.prunedLayerNames(weights.map(\.name), keepDense: config.keepDense))
    let targets = weights.filter { prunedNames.contains($0.name) }
    var partitions: [String: GroupPartition] = [:]
    for w in targets {
      partitions[w.name] = GroupPartition(rows: w.rows, cols: w.cols, block: block, scheme: scheme)
    }
    var before: [String: GroupNormHistogram] = [:]
    for w in targets {
      before[w.name] = GroupNormHistogram(norms: partitions[w.name]!.norms(w.parameter.value.data))
    }
    var phases: [PhaseMetrics] = []

    // 1. Regularize.
    if regSpec.kind != .none && phaseSpec.regEpochs > 0 {
      let start = Date()
      let penalty = Penalty(
        targets, partitions: partitions, spec: regSpec,
        rates: Dictionary(
          uniqueKeysWithValues: targets.map { ($0.name, config.layerRates?[$0.name] ?? rate) }))
      let loss = try runEpochs(
        network, phase: "regularize", epochs: phaseSpec.regEpochs,
        learningRate: Float(config.training.regLearningRate ?? config.training.learningRate),
        penalty: penalty)
      phases.append(
        evaluatePhase(
          network, "regularize", epochs: phaseSpec.regEpochs, loss: loss, since: start))
    }
    let histograms = targets.map { w in
      LayerNormHistograms(
        layer: w.name, before: before[w.name]!,
        after: GroupNormHistogram(norms: partitions[w.name]!.norms(w.parameter.value.data)))
    }

    // 2. Hard prune: per layer, keep the largest-norm groups up to the layer's rate; or one
    // global threshold over all pruned layers.
    let pruneStart = Date()
    var results: [String: HardPrune.Result] = [:]
    if config.rateMode == .global && scheme != .blockColumnRow {
      let all = HardPrune.pruneGlobal(
        targets.map { ($0.parameter.value.data, partitions[$0.name]!) }, rate: rate)
      for (w, r) in zip(targets, all) { results[w.name] = r }
    } else {
      for w in targets {
        let values = w.parameter.value.data
        let layerRate = config.layerRates?[w.name] ?? rate
        results[w.name] =
          scheme == .blockColumnRow
          ? HardPrune.pruneColumnRow(
            values, rows: w.rows, cols: w.cols, block: block, rate: layerRate)
          : HardPrune.prune(values, partition: partitions[w.name]!, rate: layerRate)
      }
    }
    for w in targets {
      w.parameter.mask = results[w.name]!.mask
      w.parameter.applyMask()
    }
    phases.append(evaluatePhase(network, "prune", epochs: 0, loss: nil, since: pruneStart))

    // 3. Masked retrain (the optimizer keeps pruned weights at exactly 0).
    if phaseSpec.retrainEpochs > 0 {
      let start = Date()
      let loss = try runEpochs(
        network, phase: "retrain", epochs: phaseSpec.retrainEpochs,
        learningRate: Float(config.training.retrainLearningRate))
      phases.append(
        evaluatePhase(
          network, "retrain", epochs: phaseSpec.retrainEpochs, loss: loss, since: start))
    }
    return finish(network, phases: phases, pruned: results, histograms: histograms)
  }

  private func finish(
    _ network: any Network, phases: [PhaseMetrics], pruned: [String: HardPrune.Result],
    histograms: [LayerNormHistograms]
  ) -> TrainedModel {
    let layers = network.gemmWeights.map { w -> TrainedLayer in
      let total = w.rows * w.cols
      let r = pruned[w.name]
      var kept = KeptCount(
        layer: w.name, rows: w.rows, cols: w.cols, total: total, kept: r?.kept ?? total,
        target: r?.target ?? total, pruned: r != nil)
      kept.positions = w.positions()
      return TrainedLayer(
        name: w.name, rows: w.rows, cols: w.cols, weights: w.parameter.value.data, mask: r?.mask,
        kept: kept)
    }
    let last = phases.last!
    return TrainedModel(
      network: network, layers: layers, phases: phases, testAccuracy: last.testAccuracy,
      valAccuracy: last.valAccuracy, testBitsPerCharacter: last.testBitsPerCharacter,
      valBitsPerCharacter: last.valBitsPerCharacter, normHistograms: histograms)
  }

  private func evaluatePhase(
    _ network: any Network, _ phase: String, epochs: Int, loss: Double?, since: Date
  ) -> PhaseMetrics {
    let trainer = NetworkTrainer(
      network: network, data: data, batchSize: config.training.batchSize,
      optimizer: SGD(learningRate: 0), seed: 0)
    let test = trainer.evaluate(test: true)
    let val = trainer.evaluate(test: false)
    let name = data.metricName == "accuracy" ? "accuracy" : "bits per character"
    progress(
      "\(phase): test \(name) \(String(format: "%.4f", test)), validation \(String(format: "%.4f", val))"
    )
    var m = PhaseMetrics(
      phase: phase, epochs: epochs, testAccuracy: nil, valAccuracy: nil, trainLoss: loss,
      seconds: Date().timeIntervalSince(since))
    if data.metricName == "accuracy" {
      m.testAccuracy = test
      m.valAccuracy = val
    } else {
      m.testBitsPerCharacter = test
      m.valBitsPerCharacter = val
    }
    return m
  }

  /// The phase's optimizer (`training.optimizer`, SGD with momentum by default), fresh for
  /// every phase.
  func makeOptimizer(learningRate: Float) -> any Optimizer {
    let t = config.training
    let momentum = Float(t.momentum)
    let wd = Float(t.weightDecay)
    switch t.optimizer ?? .sgd {
    case .sgd: return SGD(learningRate: learningRate, momentum: momentum, weightDecay: wd)
    case .nesterov:
      return SGD(
        learningRate: learningRate, momentum: max(momentum, 1e-3), weightDecay: wd,
        nesterov: true)
    case .adam: return Adam(learningRate: learningRate, weightDecay: wd)
    case .adamw:
      return Adam(learningRate: learningRate, weightDecay: wd, decoupledWeightDecay: true)
    }
  }

  /// The phase's learning-rate schedule over its `steps` (restarted every phase).
  func makeSchedule(steps: Int) -> LRSchedule {
    let t = config.training
    let warm = t.warmupSteps ?? 0
    let rest = max(1, steps - warm)
    let decay: LRSchedule
    switch t.schedule ?? .constant {
    case .constant: decay = .constant
    case .cosine: decay = .cosine(total: rest)
    case .step: decay = .step(every: max(1, rest / 3), gamma: 0.1)
    }
    return warm > 0 ? decay.warmup(steps: warm) : decay
  }

  /// Training batches per epoch of this trial's data.
  func batchesPerEpoch() -> Int {
    let bs = config.training.batchSize
    switch data {
    case .images(let tr, _, _, _): return tr.count / bs
    case .sequences(let tr, _, _, _): return (tr.count + bs - 1) / bs
    case .characters(let c): return max(1, (c.train.count - 1) / (bs * 64))
    }
  }

  /// `epochs` epochs of the phase's optimizer and schedule; returns the mean training loss of
  /// the last epoch (task loss plus penalty).
  private func runEpochs(
    _ network: any Network, phase: String, epochs: Int, learningRate: Float,
    penalty: Penalty? = nil
  ) throws -> Double? {
    guard epochs > 0 else { return nil }
    var trainer = NetworkTrainer(
      network: network, data: data, batchSize: config.training.batchSize,
      optimizer: makeOptimizer(learningRate: learningRate),
      seed: Self.seed(from: config.id, phase: phase))
    trainer.schedule = makeSchedule(steps: epochs * batchesPerEpoch())
    if let penalty {
      penalty.start()
      trainer.afterBackward = { step in penalty.apply(step: step) }
    }
    var lastLoss = 0.0
    for epoch in 1...epochs {
      do {
        lastLoss = try trainer.trainEpoch(epoch)
      } catch NetworkTrainer.Failure.diverged(let e, let s) {
        throw TrainingFailure.diverged(phase: phase, epoch: e, step: s)
      }
      progress("\(phase) epoch \(epoch)/\(epochs): loss \(String(format: "%.4f", lastLoss))")
      penalty?.endEpoch(epoch)
      epochBoundary()
    }
    return lastLoss
  }
}

/// The regularization phase's penalty over the pruned layers: group regularizers (reweighted,
/// their weights refreshed every `refreshSteps` steps or `refreshEpochs` epochs, lambda per layer
/// where `layerLambda` says, or group lasso), or ADMM (Z and U updated on the same schedule,
/// projecting each layer onto its own rate). A class: the training loop's hook mutates it step by step.
final class Penalty {
  let targets: [GEMMWeight]
  let spec: RegularizerSpec
  var groups: [GroupRegularizer]
  var admm: [ADMMPruner]

  init(
    _ targets: [GEMMWeight], partitions: [String: GroupPartition], spec: RegularizerSpec,
    rates: [String: Double]
  ) {
    self.targets = targets
    self.spec = spec
    if spec.kind == .admm {
      groups = []
      admm = targets.map { w in
        // ADMM projects onto the trial's block-sparse set; for block-column-row the column
        // groups stand for it (the projection needs disjoint groups).
        let p = partitions[w.name]!
        let partition =
          p.scheme == .blockColumnRow
          ? GroupPartition(rows: p.rows, cols: p.cols, block: p.block, scheme: .blockColumn) : p
        return ADMMPruner(
          w.parameter.value.data, partition: partition, rate: rates[w.name]!,
          rho: spec.rho ?? RegularizerSpec.defaultRho,
          rhoGrowth: spec.rhoGrowth ?? RegularizerSpec.defaultRhoGrowth,
          rhoMax: spec.rhoMax ?? RegularizerSpec.defaultRhoMax)
      }
    } else {
      groups = targets.map { w in
        var layerSpec = spec
        layerSpec.lambda = spec.layerLambda?[w.name] ?? spec.lambda
        return GroupRegularizer(partition: partitions[w.name]!, spec: layerSpec)
      }
      admm = []
    }
  }

  /// Before the first step: the reweighted penalty weights from the starting weights.
  func start() {
    for i in groups.indices { groups[i].refresh(targets[i].parameter.value.data) }
  }

  /// At the end of an epoch: refreshes when the schedule is by epochs.
  func endEpoch(_ epoch: Int) {
    guard let every = spec.refreshEpochs, every > 0, epoch % every == 0 else { return }
    refresh()
  }

  private func refresh() {
    for (i, w) in targets.enumerated() {
      if spec.kind == .admm {
        admm[i].update(w.parameter.value.data)
      } else {
        groups[i].refresh(w.parameter.value.data)
      }
    }
  }

  /// Refreshes on schedule (by steps), adds the gradient, returns the penalty value.
  func apply(step: Int) -> Double {
    if spec.refreshEpochs == nil && spec.refreshSteps > 0 && step > 0
      && step % spec.refreshSteps == 0
    {
      refresh()
    }
    var total = 0.0
    for (i, w) in targets.enumerated() {
      let p = w.parameter
      if spec.kind == .admm {
        total += Double(admm[i].penalty(p.value.data))
        admm[i].addGradient(p.value.data, to: &p.grad.data)
      } else {
        total += Double(groups[i].penalty(p.value.data))
        groups[i].addGradient(p.value.data, to: &p.grad.data)
      }
    }
    return total
  }
}
