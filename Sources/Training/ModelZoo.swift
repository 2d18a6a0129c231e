import Datasets
import Foundation
import NeuralNets
import Tensors
import TuningSchema

/// The data of a task, loaded and split: images, sequences or characters.
public enum TaskData: Sendable {
  case images(train: ImageDataset, validation: ImageDataset, test: ImageDataset, channels: Int)
  case sequences(
    train: SequenceDataset, validation: SequenceDataset, test: SequenceDataset, classes: Int)
  case characters(CharCorpus)

  /// "accuracy" (higher is better) or "bits per character" (lower is better).
  public var metricName: String {
    if case .characters = self { return "bits_per_character" }
    return "accuracy"
  }
}

/// Model and dataset names (DESIGN.md section 9) and which go together.
public enum ModelZoo {
  public static let models = Catalog.models
  public static let datasets = Catalog.datasets

  /// The datasets a model can train on.
  public static func datasets(for model: String) -> [String] { Catalog.datasets(for: model) }

  /// Loads `dataset` with a seeded validation split taken from the training set (`validation`
  /// items; for JapaneseVowels, 10% of its 270 training cases) and at most `train` training items.
  public static func load(_ dataset: String, train: Int?, validation: Int, test: Int?, seed: UInt64)
    throws -> TaskData
  {
    func images(_ transform: (ImageDataset) -> ImageDataset) throws -> TaskData {
      let full = transform(try FashionMNIST.load(.train))
      var testSet = transform(try FashionMNIST.load(.test))
      if let test, test < testSet.count { testSet = testSet.subset(Array(0..<test)) }
      let split = FashionMNIST.trainValidationSplit(
        full, train: min(train ?? full.count - validation, full.count - validation),
        validation: validation, seed: seed)
      return .images(train: split.train, validation: split.validation, test: testSet, channels: 1)
    }
    switch dataset {
    case "fashion-mnist": return try images { $0 }
    case "fashion-mnist-32": return try images(FashionMNIST.padded32)
    case "seq-fashion-mnist":
      guard case .images(let tr, let va, let te, _) = try images({ $0 }) else { fatalError() }
      return .sequences(
        train: FashionMNIST.sequential(tr), validation: FashionMNIST.sequential(va),
        test: FashionMNIST.sequential(te),
        classes: 10)
    case "japanese-vowels":
      let (full, testSet) = try JapaneseVowels.loadNormalized()
      var rng = SeededRNG(seed: seed)
      let order = rng.permutation(full.count)
      let nVal = max(1, full.count / 10)
      return .sequences(
        train: full.subset(Array(order[nVal...]).sorted()),
        validation: full.subset(Array(order[..<nVal]).sorted()),
        test: testSet, classes: 9)
    case "kjv-chars": return .characters(try CharCorpus.kjv())
    default: throw DatasetError.corrupt(path: dataset, reason: "unknown dataset")
    }
  }

  /// A freshly initialised model for `data`.
  public static func make(_ model: String, data: TaskData, seed: UInt64, width: Double = 1)
    -> any Network
  {
    switch (model, data) {
    case ("mlp", .images(let tr, _, _, _)):
      return MLP(sizes: [tr.featureCount, 300, 100, 10], seed: seed)
    case ("lenet5", .images(_, _, _, let c)):
      return LeNet5(inputChannels: c, classes: 10, seed: seed)
    case ("vgg11", .images(_, _, _, let c)):
      return VGG(layout: .vgg11, widthMultiplier: width, inputChannels: c, classes: 10, seed: seed)
    case ("vgg16", .images(_, _, _, let c)):
      return VGG(layout: .vgg16, widthMultiplier: width, inputChannels: c, classes: 10, seed: seed)
    case ("resnet20", .images(_, _, _, let c)):
      return ResNet20(widthMultiplier: width, inputChannels: c, classes: 10, seed: seed)
    case ("gru", .sequences(let tr, _, _, let k)):
      return GRUClassifier(
        inputSize: tr.featureCount, hiddenSize: Int(128 * width), classes: k, seed: seed)
    case ("lstm", .sequences(let tr, _, _, let k)):
      return LSTMClassifier(
        inputSize: tr.featureCount, hiddenSize: Int(128 * width), classes: k, seed: seed)
    case ("char-gru", .characters(let corpus)):
      return CharGRU(
        vocab: corpus.vocabulary.count, embedding: 64, hidden: Int(256 * width), seed: seed)
    default: preconditionFailure("model \(model) does not fit this dataset")
    }
  }
}
