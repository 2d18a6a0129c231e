import Datasets
import Foundation
import NeuralNets
import ResultStore
import Tensors
import Training
import TuningSchema

/// `blkrew train`: trains one model on one dataset (or, with `epochs == 0`, only evaluates the
/// `init` checkpoint) and writes a safetensors checkpoint with PyTorch-style names and the model and
/// dataset in its `__metadata__`, so `prune` and `kernel tune` need not be told again.
public struct TrainJob {
  public var model: String
  public var dataset: String
  public var epochs: Int
  public var seed: Int
  public var initPath: String?
  public var outPath: String
  public var batchSize: Int?
  public var learningRate: Double?
  public var optimizer: String?
  public var threads: Int = 1
  public var trainSubset: Int?
  public var width: Double = 1

  public init(
    model: String, dataset: String, epochs: Int, seed: Int, initPath: String?, outPath: String
  ) {
    self.model = model
    self.dataset = dataset
    self.epochs = epochs
    self.seed = seed
    self.initPath = initPath
    self.outPath = outPath
  }

  public struct Summary: Codable, Sendable {
    public var model: String
    public var dataset: String
    public var epochs: Int
    public var metric: String
    public var test: Double
    public var validation: Double
    public var seconds: Double
    public var samplesPerSecond: Double?
    public var checkpoint: String
    enum CodingKeys: String, CodingKey {
      case model, dataset, epochs, metric, test, validation, seconds, checkpoint
      case samplesPerSecond = "samples_per_s"
    }
  }

  /// Per-model defaults: SGD with momentum for the conv nets and the MLP, Adam for the RNNs.
  func defaults() -> (batch: Int, lr: Double, optimizer: String) {
    switch model {
    case "gru", "lstm": (32, 3e-3, "adam")
    case "char-gru": (64, 2e-3, "adam")
    case "vgg11", "vgg16", "resnet20": (64, 0.05, "sgd")
    default: (64, 0.05, "sgd")
    }
  }

  public func run(progress: @escaping (String) -> Void) throws -> Summary {
    guard ModelZoo.models.contains(model) else {
      throw DriverError.usage(
        "unknown model '\(model)' (available: \(ModelZoo.models.joined(separator: ", ")))")
    }
    guard ModelZoo.datasets(for: model).contains(dataset) else {
      throw DriverError.usage(
        "model \(model) trains on \(ModelZoo.datasets(for: model).joined(separator: " or ")), not '\(dataset)'"
      )
    }
    if let initPath, !FileManager.default.fileExists(atPath: initPath) {
      throw DriverError.noInput(initPath)
    }
    BLAS.setThreads(threads)
    let start = Date()
    let data: TaskData
    do {
      data = try ModelZoo.load(
        dataset, train: trainSubset, validation: 5000, test: nil, seed: UInt64(seed))
    } catch let e as DatasetError {
      switch e {
      case .missing, .notFetched: throw DriverError.unavailable(e.description)
      case .corrupt: throw DriverError.badData(e.description)
      }
    }
    let network = ModelZoo.make(model, data: data, seed: UInt64(seed), width: width)
    if let initPath {
      let state: (tensors: [String: Tensor], metadata: [String: String])
      do {
        state = try Safetensors.read(URL(fileURLWithPath: initPath))
      } catch {
        throw DriverError.badData(error.description)
      }
      do {
        try network.loadState(state.tensors)
      } catch {
        throw DriverError.badData("\(initPath): \(error.description)")
      }
    }
    let d = defaults()
    let lr = Float(learningRate ?? d.lr)
    let opt: any Optimizer =
      (optimizer ?? d.optimizer) == "adam"
      ? Adam(learningRate: lr)
      : SGD(
        learningRate: lr, momentum: 0.9,
        weightDecay: model.hasPrefix("vgg") || model == "resnet20" ? 5e-4 : 0)
    var trainer = NetworkTrainer(
      network: network, data: data, batchSize: batchSize ?? d.batch, optimizer: opt,
      seed: UInt64(seed))
    var trainSeconds = 0.0
    var samples = 0
    for epoch in stride(from: 1, through: epochs, by: 1) {
      let t0 = Date()
      let loss: Double
      do { loss = try trainer.trainEpoch(epoch) } catch { throw DriverError.failed("\(error)") }
      trainSeconds += Date().timeIntervalSince(t0)
      samples += Self.trainingSamples(
        data, batch: trainer.batchSize, length: trainer.sequenceLength)
      let val = trainer.evaluate(test: false)
      progress(
        "epoch \(epoch)/\(epochs): loss \(String(format: "%.4f", loss)), validation \(data.metricName) "
          + String(format: "%.4f", val) + String(format: " (%.1f s)", Date().timeIntervalSince(t0)))
    }
    let test = trainer.evaluate(test: true)
    let val = trainer.evaluate(test: false)
    var meta = [
      "model": model, "dataset": dataset, "blkrew": BlkrewVersion.string, "epochs": "\(epochs)",
      "seed": "\(seed)", "test_\(data.metricName)": String(test), "width": width.formatted(),
    ]
    if let initPath { meta["init"] = (initPath as NSString).lastPathComponent }
    do {
      try Safetensors.write(
        network.stateTensors(), metadata: meta, to: URL(fileURLWithPath: outPath))
    } catch {
      throw DriverError.failed("\(error)")
    }
    return Summary(
      model: model, dataset: dataset, epochs: epochs, metric: data.metricName, test: test,
      validation: val,
      seconds: Date().timeIntervalSince(start),
      samplesPerSecond: trainSeconds > 0 ? Double(samples) / trainSeconds : nil,
      checkpoint: outPath)
  }

  static func trainingSamples(_ data: TaskData, batch: Int, length: Int) -> Int {
    switch data {
    case .images(let tr, _, _, _): tr.count / batch * batch
    case .sequences(let tr, _, _, _): tr.count
    case .characters(let c): max(c.train.count - 1, 0) / length
    }
  }
}
