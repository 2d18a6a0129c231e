import Datasets
import Foundation
import NeuralNets
import Testing
import TuningSchema

@testable import Training

let fashionInstalled = FileManager.default.fileExists(
  atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")

/// The phases of a trial on real data (small subsets of the real Fashion-MNIST): every model
/// kind's GEMM-view layers are pruned, masks hold through retraining, and the record knows each
/// layer's output positions.
@Suite(.enabled(if: fashionInstalled, "dataset-fashion-mnist is not installed"))
struct TrialTrainerTests {
  func config(
    model: String, dataset: String = "fashion-mnist", scheme: PruningScheme = .blockColumn,
    block: BlockShape = BlockShape(rows: 4, cols: 4), rate: Double = 4,
    regularizer: RegularizerSpec.Kind = .reweighted
  ) -> (dense: TrialConfig, pruned: TrialConfig) {
    var subset = SubsetSpec()
    subset.train = 256
    subset.val = 64
    subset.test = 128
    var phases = PhaseSpec()
    phases.pretrainEpochs = 1
    phases.regEpochs = 1
    phases.retrainEpochs = 1
    var training = TrainingSpec()
    training.batchSize = 32
    var reg = RegularizerSpec()
    reg.kind = regularizer
    reg.refreshSteps = 3
    reg.lambda = 1e-3
    if regularizer == .admm { reg.rho = 1e-2 }
    let dense = TrialConfig(
      kind: .dense, model: model, dataset: dataset, subset: subset, phases: phases,
      training: training, seed: 1, keepDense: ["last"])
    let pruned = TrialConfig(
      kind: .pruned, model: model, dataset: dataset, subset: subset, phases: phases,
      training: training, seed: 1, scheme: scheme, block: block, rate: rate, regularizer: reg,
      keepDense: ["last"])
    return (dense, pruned)
  }

  func run(_ c: (dense: TrialConfig, pruned: TrialConfig)) throws -> TrainedModel {
    let data = try ModelZoo.load(
      c.dense.dataset, train: c.dense.subset.train, validation: c.dense.subset.val,
      test: c.dense.subset.test, seed: 1)
    let dense = try TrialTrainer(config: c.dense, data: data).trainDense()
    let trainer = TrialTrainer(config: c.pruned, data: data)
    let network = trainer.makeNetwork()
    try network.loadState(Dictionary(uniqueKeysWithValues: dense.network.stateTensors()))
    return try trainer.trainPruned(from: network)
  }

  /// Pruned weights are exact +0 where the mask is 0, the kept count is within the rate, and
  /// the layers not pruned (the last) stay dense.
  func checkMasks(_ t: TrainedModel, rate: Double) {
    let pruned = t.layers.filter(\.kept.pruned)
    #expect(!pruned.isEmpty)
    #expect(t.layers.last?.kept.pruned == false)
    for l in pruned {
      let mask = try! #require(l.mask)
      #expect(mask.reduce(0) { $0 + Int($1) } == l.kept.kept)
      #expect(l.kept.kept <= Int(Double(l.rows * l.cols) / rate), "\(l.name)")
      for i in mask.indices where mask[i] == 0 {
        #expect(l.weights[i].bitPattern == 0, "\(l.name)[\(i)] = \(l.weights[i])")
      }
    }
    #expect(t.phases.map(\.phase) == ["regularize", "prune", "retrain"])
    #expect(t.normHistograms.map(\.layer) == pruned.map(\.name))
  }

  @Test func lenet5PrunesConvolutionsAndFullyConnectedLayers() throws {
    let t = try run(config(model: "lenet5"))
    checkMasks(t, rate: 4)
    // Conv layers: N per sample = output pixels (28x28 with padding 2, then 10x10); FC: 1.
    let positions = Dictionary(uniqueKeysWithValues: t.layers.map { ($0.name, $0.kept.positions) })
    #expect(positions["features.0"] == 28 * 28)
    #expect(positions["features.3"] == 10 * 10)
    #expect(positions["classifier.0"] == 1)
    #expect(t.layers.map(\.name).contains("features.0"))
    #expect(t.layers.first { $0.name == "features.0" }?.kept.pruned == true)
    let c = ModelCompression(t.layers.map(\.kept))
    #expect(c.flopReduction.map { $0 > 2 } == true)
    #expect(t.testAccuracy.map { $0 > 0.1 } == true)
  }

  @Test func admmAndColumnRowOnTheMLP() throws {
    let admm = try run(config(model: "mlp", regularizer: .admm))
    checkMasks(admm, rate: 4)
    let both = try run(
      config(model: "mlp", scheme: .blockColumnRow, block: BlockShape(rows: 8, cols: 16), rate: 4))
    checkMasks(both, rate: 4)
    // Every 8x16 block of fc1 keeps the intersection of some rows and some columns.
    let fc1 = both.layers.first { $0.name == "fc1" }!
    let mask = fc1.mask!
    for r0 in stride(from: 0, to: fc1.rows, by: 8) {
      for c0 in stride(from: 0, to: fc1.cols, by: 16) {
        let rs = r0..<min(r0 + 8, fc1.rows)
        let cs = c0..<min(c0 + 16, fc1.cols)
        let keptRows = rs.filter { r in cs.contains { mask[r * fc1.cols + $0] != 0 } }
        let keptCols = cs.filter { c in rs.contains { mask[$0 * fc1.cols + c] != 0 } }
        #expect(
          keptRows.count * keptCols.count
            == rs.reduce(0) { n, r in n + cs.filter { mask[r * fc1.cols + $0] != 0 }.count })
      }
    }
  }

  @Test func layerRatesGlobalThresholdAndWholeColumns() throws {
    var c = config(model: "mlp", regularizer: .none)
    c.pruned.layerRates = ["fc1": 8]
    let perLayer = try run(c)
    let kept = Dictionary(uniqueKeysWithValues: perLayer.layers.map { ($0.name, $0.kept) })
    #expect(kept["fc1"]!.kept <= 784 * 300 / 8 && kept["fc1"]!.kept > 784 * 300 / 9)
    #expect(kept["fc2"]!.kept <= 300 * 100 / 4 && kept["fc2"]!.kept > 300 * 100 / 5)

    var g = config(model: "mlp", regularizer: .none)
    g.pruned.rateMode = .global
    let global = try run(g)
    let pruned = global.layers.filter(\.kept.pruned)
    let total = pruned.reduce(0) { $0 + $1.kept.total }
    let keptAll = pruned.reduce(0) { $0 + $1.kept.kept }
    #expect(keptAll <= total / 4 && keptAll > total / 4 - 16)
    // One threshold: the layers end at different rates.
    #expect(Set(pruned.map { Int($0.kept.rate * 10) }).count > 1)

    let whole = try run(config(model: "mlp", block: BlockShape(rows: BlockShape.whole, cols: 1)))
    let fc2 = whole.layers.first { $0.name == "fc2" }!
    for col in 0..<fc2.cols {
      let column = (0..<fc2.rows).map { fc2.mask![$0 * fc2.cols + col] }
      #expect(Set(column).count == 1, "column \(col) is partly kept")
    }
  }

  @Test func denseBaselineFromACheckpointIsOnlyEvaluated() throws {
    let c = config(model: "mlp")
    let data = try ModelZoo.load(
      "fashion-mnist", train: c.dense.subset.train, validation: c.dense.subset.val,
      test: c.dense.subset.test, seed: 1)
    let trained = try TrialTrainer(config: c.dense, data: data).trainDense()
    let path = NSTemporaryDirectory() + "blkrew-init-\(getpid()).safetensors"
    defer { try? FileManager.default.removeItem(atPath: path) }
    try Safetensors.write(
      trained.network.stateTensors(), metadata: [:], to: URL(fileURLWithPath: path))
    var fromCheckpoint = c.dense
    fromCheckpoint.phases.pretrainEpochs = 0
    fromCheckpoint.initCheckpoint = InitCheckpoint(path: path, sha256: "test")
    let loaded = try TrialTrainer(config: fromCheckpoint, data: data).trainDense()
    #expect(loaded.layers.map(\.weights) == trained.layers.map(\.weights))
    #expect(loaded.testAccuracy == trained.testAccuracy)
    #expect(loaded.phases.first?.trainLoss == nil)
  }

  @Test func sameConfigSameWeights() throws {
    let a = try run(config(model: "mlp", regularizer: .groupLasso))
    let b = try run(config(model: "mlp", regularizer: .groupLasso))
    #expect(a.layers.map(\.weights) == b.layers.map(\.weights))
    #expect(a.testAccuracy == b.testAccuracy)
  }
}

/// The GRU's stacked gate matrices are pruned like any other GEMM-view weight.
@Suite(
  .enabled(
    if: FileManager.default.fileExists(
      atPath: (ProcessInfo.processInfo.environment["BLKREW_DATA"]
        ?? NSHomeDirectory() + "/.cache/blkrew/data") + "/JapaneseVowels/JapaneseVowels_TRAIN.ts"),
    "JapaneseVowels is not fetched (scripts/fetch-datasets.sh)"))
struct RecurrentTrialTests {
  @Test func gruGateMatricesArePruned() throws {
    var subset = SubsetSpec()
    subset.train = 200
    subset.val = 27
    var phases = PhaseSpec()
    phases.pretrainEpochs = 1
    phases.regEpochs = 1
    phases.retrainEpochs = 1
    var training = TrainingSpec()
    training.batchSize = 16
    training.optimizer = .adam
    training.learningRate = 3e-3
    training.schedule = .cosine
    let dense = TrialConfig(
      kind: .dense, model: "gru", dataset: "japanese-vowels", subset: subset, phases: phases,
      training: training, seed: 2, keepDense: ["last"])
    var pruned = dense
    pruned.kind = .pruned
    pruned.scheme = .blockColumn
    pruned.block = BlockShape(rows: 8, cols: 4)
    pruned.rate = 8
    pruned.regularizer = RegularizerSpec()
    let data = try ModelZoo.load("japanese-vowels", train: nil, validation: 27, test: nil, seed: 2)
    let d = try TrialTrainer(config: dense, data: data).trainDense()
    let trainer = TrialTrainer(config: pruned, data: data)
    let network = trainer.makeNetwork()
    try network.loadState(Dictionary(uniqueKeysWithValues: d.network.stateTensors()))
    let t = try trainer.trainPruned(from: network)
    let names = t.layers.filter(\.kept.pruned).map(\.name)
    #expect(
      names.contains { $0.contains("weight_ih") } && names.contains { $0.contains("weight_hh") })
    for l in t.layers where l.kept.pruned {
      #expect(l.kept.kept <= l.rows * l.cols / 8)
      for i in l.mask!.indices where l.mask![i] == 0 { #expect(l.weights[i] == 0) }
    }
  }
}

@Suite struct PhaseScheduleTests {
  func trainer(_ schedule: TrainingSpec.ScheduleKind, warmup: Int? = nil) -> TrialTrainer {
    var training = TrainingSpec()
    training.schedule = schedule
    training.warmupSteps = warmup
    let config = TrialConfig(
      kind: .dense, model: "mlp", dataset: "fashion-mnist", subset: SubsetSpec(),
      phases: PhaseSpec(), training: training, seed: 1, keepDense: [])
    let empty = ImageDataset(images: [], labels: [], rows: 28, cols: 28)
    return TrialTrainer(
      config: config, data: .images(train: empty, validation: empty, test: empty, channels: 1))
  }

  @Test func schedulesSpanThePhase() {
    let cosine = trainer(.cosine).makeSchedule(steps: 100)
    #expect(cosine.rate(at: 0, base: 1) == 1)
    #expect(abs(cosine.rate(at: 50, base: 1) - 0.5) < 1e-6)
    #expect(cosine.rate(at: 100, base: 1) < 1e-6)
    let step = trainer(.step).makeSchedule(steps: 99)
    #expect(step.rate(at: 32, base: 1) == 1 && abs(step.rate(at: 33, base: 1) - 0.1) < 1e-6)
    #expect(abs(step.rate(at: 98, base: 1) - 0.01) < 1e-6)
    let warm = trainer(.constant, warmup: 10).makeSchedule(steps: 100)
    #expect(abs(warm.rate(at: 0, base: 1) - 0.1) < 1e-6 && warm.rate(at: 10, base: 1) == 1)
  }
}
