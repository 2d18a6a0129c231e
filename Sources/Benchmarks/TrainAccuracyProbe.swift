import Datasets
import Foundation
import NeuralNets
import Tensors
import Training

/// The child side of `bench train-accuracy` (`blkrew _bench-train --accuracy MODEL ...`): trains
/// one ModelZoo model on its dataset with `NetworkTrainer` and a recipe given on the command line,
/// then prints one JSON object: the test metric (on the official test split; the KJV model on the
/// held-out last 5% of the text), epochs, wall times and the per-epoch loss and validation metric.
///
///     _bench-train --accuracy lenet5 --dataset fashion-mnist --epochs 10 --batch 64 --lr 0.05
///       --optimizer sgd|adam [--weight-decay W] [--width M] [--schedule cosine|constant]
///       [--warmup-epochs E] [--threads N] [--train-subset N] [--test-subset N]
///       [--validation N] [--corpus-chars N] [--seed S]
///
/// `--corpus-chars` keeps only the first N characters of the KJV text (quick mode).
enum TrainAccuracyProbe {
  static func run(_ o: [String: String]) throws -> [String: Any] {
    let start = Date()
    guard let model = o["accuracy"], let dataset = o["dataset"] else {
      throw TrainStepProbe.Failure(description: "need --accuracy MODEL and --dataset NAME")
    }
    func int(_ k: String, _ d: Int) -> Int { Int(o[k] ?? "") ?? d }
    func double(_ k: String, _ d: Double) -> Double { Double(o[k] ?? "") ?? d }
    let epochs = int("epochs", 1)
    let seed = UInt64(int("seed", 1))
    let batch = int("batch", 64)
    BLAS.setThreads(max(1, int("threads", 1)))
    var data: TaskData
    do {
      data = try ModelZoo.load(
        dataset, train: o["train-subset"].flatMap { Int($0) }, validation: int("validation", 5000),
        test: o["test-subset"].flatMap { Int($0) }, seed: seed)
    } catch {
      throw TrainStepProbe.Failure(description: "cannot load \(dataset): \(error)")
    }
    if case .characters(let corpus) = data, let keep = o["corpus-chars"].flatMap({ Int($0) }),
      keep < corpus.ids.count
    {
      data = .characters(CharCorpus(text: corpus.decode(corpus.ids.prefix(keep))))
    }
    let loadSeconds = Date().timeIntervalSince(start)
    let network = ModelZoo.make(model, data: data, seed: seed, width: double("width", 1))
    let lr = Float(double("lr", 0.05))
    let optimizer: any Optimizer =
      o["optimizer"] == "adam"
      ? Adam(learningRate: lr, weightDecay: Float(double("weight-decay", 0)))
      : SGD(learningRate: lr, momentum: 0.9, weightDecay: Float(double("weight-decay", 0)))
    var trainer = NetworkTrainer(
      network: network, data: data, batchSize: batch, optimizer: optimizer, seed: seed)
    let stepsPerEpoch = Self.stepsPerEpoch(data, batch: batch, length: trainer.sequenceLength)
    let warmup = Int((double("warmup-epochs", 0) * Double(stepsPerEpoch)).rounded())
    if o["schedule"] == "cosine" {
      trainer.schedule = LRSchedule.cosine(total: max(1, epochs * stepsPerEpoch - warmup))
        .warmup(steps: warmup)
    } else if warmup > 0 {
      trainer.schedule = .warmup(steps: warmup)
    }
    var losses: [Double] = []
    var validation: [Double] = []
    var epochSeconds: [Double] = []
    var trainSeconds = 0.0
    for epoch in stride(from: 1, through: epochs, by: 1) {
      let t0 = Date()
      losses.append(try trainer.trainEpoch(epoch))
      let t1 = Date()
      trainSeconds += t1.timeIntervalSince(t0)
      validation.append(trainer.evaluate(test: false))
      epochSeconds.append(Date().timeIntervalSince(t0))
      FileHandle.standardError.write(
        Data(
          ("train-accuracy \(model): epoch \(epoch)/\(epochs) loss "
            + String(format: "%.4f", losses.last!) + " validation \(data.metricName) "
            + String(format: "%.4f", validation.last!)
            + String(format: " (%.1f s)\n", epochSeconds.last!)).utf8))
    }
    let test = trainer.evaluate(test: true)
    return [
      "model": model, "dataset": dataset, "epochs": epochs, "metric": data.metricName,
      "test": test, "validation": validation, "loss": losses, "epoch_seconds": epochSeconds,
      "train_seconds": trainSeconds, "load_seconds": loadSeconds,
      "seconds": Date().timeIntervalSince(start), "steps_per_epoch": stepsPerEpoch,
      "train_items": Self.trainItems(data), "core": BLAS.coreName,
    ]
  }

  static func stepsPerEpoch(_ data: TaskData, batch: Int, length: Int) -> Int {
    switch data {
    case .images(let tr, _, _, _): return max(1, tr.count / batch)
    case .sequences(let tr, _, _, _): return max(1, (tr.count + batch - 1) / batch)
    case .characters(let c):
      let windows = max(c.train.count - 1, 0) / length
      return max(1, (windows + batch - 1) / batch)
    }
  }

  static func trainItems(_ data: TaskData) -> Int {
    switch data {
    case .images(let tr, _, _, _): return tr.count
    case .sequences(let tr, _, _, _): return tr.count
    case .characters(let c): return c.train.count
    }
  }
}
