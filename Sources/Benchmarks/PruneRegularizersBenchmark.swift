import Analysis
import Foundation
import NeuralNets
import Tensors
import Training
import TuningSchema

/// Does reweighted regularization lose less accuracy at hard-prune time than no regularization and
/// than fixed group lasso at the same rate (issue 4)? On the MLP (block 8x16) and LeNet-5 (block
/// 4x4), rate 8, one dense model per network is trained once; every method starts from its
/// weights: `none` prunes by magnitude right away; `reweighted` and `group-lasso` regularize for
/// the same epochs first, each at the lambda of a small grid that gives the best *validation*
/// accuracy right after the prune (their penalties have different scales, so one shared lambda
/// would not be a fair comparison). Test accuracy is reported right after the prune and after
/// the same masked retraining. The figures are what was measured, whichever method wins.
public struct PruneRegularizersBenchmark: Benchmark {
  public let name = "prune-regularizers"
  public init() {}

  struct Setup {
    var model: String
    var block: BlockShape
    var pretrainEpochs: Int
    var learningRate: Double
  }

  public func run(context: BenchContext) throws -> BenchRecord {
    let start = Date()
    BLAS.setThreads(1)
    let quick = context.quick
    let setups = [
      Setup(
        model: "mlp", block: BlockShape(rows: 8, cols: 16), pretrainEpochs: quick ? 1 : 10,
        learningRate: 0.02),
      Setup(
        model: "lenet5", block: BlockShape(rows: 4, cols: 4), pretrainEpochs: quick ? 1 : 6,
        learningRate: 0.05),
    ]
    let rate = 8.0
    let lambdas = quick ? [1e-4] : [1e-5, 1e-4, 1e-3]
    let regEpochs = quick ? 1 : 3
    let retrainEpochs = quick ? 1 : 2
    var figures: [BenchFigure] = []
    var series: [String: [Double]] = [:]
    for s in setups {
      var subset = SubsetSpec()
      subset.train = quick ? 512 : 20000
      subset.val = quick ? 256 : 2000
      subset.test = quick ? 500 : nil
      let data = try ModelZoo.load(
        "fashion-mnist", train: subset.train, validation: subset.val, test: subset.test, seed: 1)
      var phases = PhaseSpec()
      phases.pretrainEpochs = s.pretrainEpochs
      phases.regEpochs = regEpochs
      phases.retrainEpochs = retrainEpochs
      var training = TrainingSpec()
      training.learningRate = s.learningRate
      training.retrainLearningRate = 0.005
      let dense = TrialConfig(
        kind: .dense, model: s.model, dataset: "fashion-mnist", subset: subset, phases: phases,
        training: training, seed: 1, keepDense: ["last"])
      context.progress("\(name): \(s.model): training the dense model")
      let baseline = try TrialTrainer(config: dense, data: data).trainDense()
      let state = Dictionary(uniqueKeysWithValues: baseline.network.stateTensors())
      figures.append(
        BenchFigure(
          name: "\(s.model).dense_accuracy", value: baseline.testAccuracy, unit: "fraction",
          direction: .higherIsBetter))

      /// Prunes a copy of the dense model with `kind` at `lambda`.
      func prune(_ kind: RegularizerSpec.Kind, lambda: Double) throws -> TrainedModel {
        var c = dense
        c.kind = .pruned
        c.scheme = .blockColumn
        c.block = s.block
        c.rate = rate
        var reg = RegularizerSpec()
        reg.kind = kind
        reg.lambda = lambda
        reg.refreshSteps = 100
        c.regularizer = reg
        let trainer = TrialTrainer(config: c, data: data)
        let network = trainer.makeNetwork()
        try network.loadState(state)
        return try trainer.trainPruned(from: network)
      }
      func afterPrune(_ t: TrainedModel, validation: Bool) -> Double? {
        let p = t.phases.first { $0.phase == "prune" }
        return validation ? p?.valAccuracy : p?.testAccuracy
      }

      var atPrune: [String: Double] = [:]
      for kind in [RegularizerSpec.Kind.none, .groupLasso, .reweighted] {
        var best: (lambda: Double, model: TrainedModel)?
        for lambda in kind == .none ? [0] : lambdas {
          context.progress("\(name): \(s.model): \(kind.rawValue) lambda \(lambda)")
          let t = try prune(kind, lambda: lambda)
          series["\(s.model).\(kind.rawValue).lambda_\(lambda).val_after_prune"] = [
            afterPrune(t, validation: true) ?? .nan
          ]
          if best == nil
            || (afterPrune(t, validation: true) ?? 0)
              > (afterPrune(best!.model, validation: true) ?? 0)
          {
            best = (lambda, t)
          }
        }
        let (lambda, t) = best!
        let acc = afterPrune(t, validation: false)
        atPrune[kind.rawValue] = acc
        figures.append(
          BenchFigure(
            name: "\(s.model).\(kind.rawValue).accuracy_after_prune", value: acc, unit: "fraction",
            direction: .higherIsBetter,
            note: kind == .none
              ? "magnitude pruning of the dense model" : "lambda \(lambda), chosen on validation"))
        figures.append(
          BenchFigure(
            name: "\(s.model).\(kind.rawValue).accuracy_after_retrain", value: t.testAccuracy,
            unit: "fraction", direction: .higherIsBetter,
            note: "\(retrainEpochs) masked retraining epochs"))
      }
      for other in ["none", "group-lasso"] {
        let delta = atPrune["reweighted"].flatMap { r in atPrune[other].map { r - $0 } }
        figures.append(
          BenchFigure(
            name:
              "\(s.model).reweighted_minus_\(other.replacingOccurrences(of: "-", with: "_"))_after_prune",
            value: delta, unit: "accuracy points (fraction)", direction: .higherIsBetter,
            goal: quick ? nil : 0,
            note: "positive: reweighted loses less accuracy at hard-prune time"))
      }
    }
    return context.record(
      name, start: start,
      settings: [
        "rate": rate.formatted(), "mlp_block": "8x16", "lenet5_block": "4x4",
        "lambdas": lambdas.map { "\($0)" }.joined(separator: ","), "reg_epochs": "\(regEpochs)",
        "retrain_epochs": "\(retrainEpochs)", "train_images": quick ? "512" : "20000",
        "test_images": quick ? "500" : "10000",
      ], figures: figures, series: series)
  }
}
