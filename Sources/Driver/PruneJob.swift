import Datasets
import Foundation
import NeuralNets
import Tensors
import Training
import TuningSchema

/// `blkrew prune`: one model pruned without a sweep. Reads a checkpoint (blkrew's, whose metadata
/// names the model and dataset, or PyTorch's with `--model`), runs the regularize -> hard prune ->
/// masked retrain phases of a trial (DESIGN.md section 2) and writes a safetensors checkpoint
/// whose pruned weights are exact zeros, with the scheme, block, rate and per-layer kept counts
/// in its metadata. `regEpochs == 0 && retrainEpochs == 0` is plain magnitude pruning of the
/// chosen groups.
public struct PruneJob {
  public var checkpoint: String
  public var outPath: String
  public var scheme: PruningScheme
  public var block: BlockShape
  public var rate: Double
  public var regularizer = RegularizerSpec()
  public var regEpochs = 1
  public var retrainEpochs = 1
  public var dataset: String?
  public var model: String?
  public var keepDense = ["first", "last"]
  public var seed = 1
  public var batchSize = 64
  public var learningRate = 0.01
  public var retrainLearningRate = 0.005
  public var trainSubset: Int?
  public var threads = 1
  public var width: Double?

  public init(
    checkpoint: String, outPath: String, scheme: PruningScheme, block: BlockShape, rate: Double
  ) {
    self.checkpoint = checkpoint
    self.outPath = outPath
    self.scheme = scheme
    self.block = block
    self.rate = rate
  }

  public struct Summary: Codable, Sendable {
    public var model: String
    public var dataset: String
    public var metric: String
    public var phases: [PhaseMetrics]
    public var kept: [KeptCount]
    public var compression: ModelCompression
    public var seconds: Double
    public var checkpoint: String
  }

  public func run(progress: @escaping (String) -> Void) throws -> Summary {
    let start = Date()
    guard FileManager.default.fileExists(atPath: checkpoint) else {
      throw DriverError.noInput(checkpoint)
    }
    let state: (tensors: [String: Tensor], metadata: [String: String])
    do { state = try Safetensors.read(URL(fileURLWithPath: checkpoint)) } catch {
      throw DriverError.badData(error.description)
    }
    guard let model = model ?? state.metadata["model"] else {
      throw DriverError.usage(
        "\(checkpoint): no model in the checkpoint's metadata; pass --model NAME")
    }
    guard ModelZoo.models.contains(model) else {
      throw DriverError.usage(
        "unknown model '\(model)' (available: \(ModelZoo.models.joined(separator: ", ")))")
    }
    let datasetName = dataset ?? state.metadata["dataset"] ?? ModelZoo.datasets(for: model).first!
    guard ModelZoo.datasets(for: model).contains(datasetName) else {
      throw DriverError.usage(
        "model \(model) trains on \(ModelZoo.datasets(for: model).joined(separator: " or ")), not '\(datasetName)'"
      )
    }
    BLAS.setThreads(threads)
    let data: TaskData
    do {
      data = try ModelZoo.load(
        datasetName, train: trainSubset, validation: 5000, test: nil, seed: UInt64(seed))
    } catch let e as DatasetError {
      switch e {
      case .missing, .notFetched: throw DriverError.unavailable(e.description)
      case .corrupt: throw DriverError.badData(e.description)
      }
    }
    let w = width ?? state.metadata["width"].flatMap(Double.init) ?? 1
    let network = ModelZoo.make(model, data: data, seed: UInt64(seed), width: w)
    do { try network.loadState(state.tensors) } catch {
      throw DriverError.badData("\(checkpoint): \(error.description)")
    }

    var phases = PhaseSpec()
    phases.pretrainEpochs = 0
    phases.regEpochs = regEpochs
    phases.retrainEpochs = retrainEpochs
    var training = TrainingSpec()
    training.batchSize = batchSize
    training.learningRate = learningRate
    training.retrainLearningRate = retrainLearningRate
    var subset = SubsetSpec()
    subset.train = trainSubset ?? 0
    subset.val = 5000
    let config = TrialConfig(
      kind: .pruned, model: model, dataset: datasetName, subset: subset, phases: phases,
      training: training, seed: seed, scheme: scheme, block: block, rate: rate,
      regularizer: regularizer, keepDense: keepDense)
    let names = network.gemmWeights.map(\.name)
    for k in keepDense where k != "first" && k != "last" && !names.contains(k) {
      throw DriverError.usage(
        "--keep-dense: \(model) has no layer '\(k)' (layers: \(names.joined(separator: ", ")))")
    }
    let trainer = TrialTrainer(config: config, data: data, progress: progress)
    let trained: TrainedModel
    do { trained = try trainer.trainPruned(from: network) } catch {
      throw DriverError.failed("\(error)")
    }
    let kept = trained.layers.map(\.kept)
    var meta = state.metadata
    meta["model"] = model
    meta["dataset"] = datasetName
    meta["blkrew"] = BlkrewVersion.string
    meta["pruned_from"] = (checkpoint as NSString).lastPathComponent
    meta["scheme"] = scheme.rawValue
    meta["block"] = block.description
    meta["rate"] = rate.formatted()
    meta["regularizer"] = regularizer.kind.rawValue
    if let json = try? RecordCoding.encoder().encode(kept) {
      meta["kept"] = String(decoding: json, as: UTF8.self)
    }
    do {
      try Safetensors.write(
        trained.network.stateTensors(), metadata: meta, to: URL(fileURLWithPath: outPath))
    } catch {
      throw DriverError.failed("\(error)")
    }
    return Summary(
      model: model, dataset: datasetName, metric: data.metricName, phases: trained.phases,
      kept: kept, compression: ModelCompression(kept), seconds: Date().timeIntervalSince(start),
      checkpoint: outPath)
  }
}
