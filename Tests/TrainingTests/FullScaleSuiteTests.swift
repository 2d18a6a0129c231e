import Foundation
import NeuralNets
import Search
import Testing
import TuningSchema

@testable import Training

/// The full-scale paper suites (`suites/paper/full/`) are for bigger machines: here they must
/// validate and start. "Start" = the first trial's real model (at the suite's width), optimizer
/// and batch size takes real training steps on real data; a few images instead of 55,000.
@Suite(.enabled(if: fashionInstalled, "dataset-fashion-mnist is not installed"))
struct FullScaleSuiteTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().path

  @Test(arguments: ["suites/paper/full/vgg16.yaml", "suites/paper/full/gru-1024.yaml"])
  func validatesAndStarts(path: String) throws {
    let suite = try SuiteLoader.load(path: "\(Self.root)/\(path)")
    let trials = GridSearch.trials(for: suite)
    #expect(trials.count > 50)
    var config = try #require(trials.first)
    #expect(config.kind == .dense)
    config.phases.pretrainEpochs = 1
    let bs = config.training.batchSize
    let data = try ModelZoo.load(
      config.dataset, train: 2 * bs, validation: 8, test: 16, seed: UInt64(config.seed))
    let trainer = TrialTrainer(config: config, data: data)
    let network = trainer.makeNetwork()
    let weights = network.parameters.reduce(0) { $0 + $1.value.count }
    #expect(weights > 1_000_000, "\(path): \(weights) weights is not full scale")
    let before = network.parameters[0].value.data
    var nt = NetworkTrainer(
      network: network, data: data, batchSize: bs,
      optimizer: trainer.makeOptimizer(learningRate: Float(config.training.learningRate)),
      seed: 1)
    let loss = try nt.trainEpoch(1)  // two real steps
    #expect(loss.isFinite)
    #expect(network.parameters[0].value.data != before)
  }
}
