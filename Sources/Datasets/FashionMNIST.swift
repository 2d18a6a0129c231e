import Tensors

/// Fashion-MNIST (Zalando; 60 000 training and 10 000 test images of 28×28, 10 classes) from
/// the IDX `.gz` files that Debian's `dataset-fashion-mnist` installs.
public enum FashionMNIST {
  public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
  /// Mean and standard deviation of the training pixels scaled to [0, 1].
  public static let mean: Float = 0.2860
  public static let std: Float = 0.3530
  public static let classCount = 10

  public enum Split: String, Sendable, CaseIterable {
    case train
    case test

    var filePrefix: String { self == .train ? "train" : "t10k" }
  }

  public static func imagesPath(_ split: Split, directory: String = defaultDirectory) -> String {
    "\(directory)/\(split.filePrefix)-images-idx3-ubyte.gz"
  }

  public static func labelsPath(_ split: Split, directory: String = defaultDirectory) -> String {
    "\(directory)/\(split.filePrefix)-labels-idx1-ubyte.gz"
  }

  /// Loads a split, normalising each pixel p to `(p/255 − mean) / std`.
  public static func load(_ split: Split, directory: String = defaultDirectory) throws(DatasetError)
    -> ImageDataset
  {
    let imagePath = imagesPath(split, directory: directory)
    let labelPath = labelsPath(split, directory: directory)
    let raw = try IDX.readImages(path: imagePath)
    let rawLabels = try IDX.readLabels(path: labelPath)
    guard rawLabels.count == raw.count else {
      throw .corrupt(
        path: labelPath, reason: "\(rawLabels.count) labels but \(raw.count) images in \(imagePath)"
      )
    }
    var labels = [Int](repeating: 0, count: rawLabels.count)
    for i in rawLabels.indices {
      let l = Int(rawLabels[i])
      guard l < classCount else {
        throw .corrupt(
          path: labelPath, reason: "label \(l) at index \(i) is not in 0..<\(classCount)")
      }
      labels[i] = l
    }
    var table = [Float](repeating: 0, count: 256)
    for v in 0..<256 { table[v] = (Float(v) / 255 - mean) / std }
    var images = [Float](repeating: 0, count: raw.pixels.count)
    raw.pixels.withUnsafeBufferPointer { src in
      table.withUnsafeBufferPointer { t in
        images.withUnsafeMutableBufferPointer { dst in
          for i in 0..<src.count { dst[i] = t[Int(src[i])] }
        }
      }
    }
    return ImageDataset(images: images, labels: labels, rows: raw.rows, cols: raw.cols)
  }

  /// Disjoint training and validation subsets of `data`: all indices are shuffled with
  /// `SeededRNG(seed:)`; the first `validation` form the validation set and the next `train` the
  /// training set (each sorted ascending). Same seed, same split, on every machine.
  public static func trainValidationSplit(
    _ data: ImageDataset, train: Int, validation: Int, seed: UInt64
  ) -> (train: ImageDataset, validation: ImageDataset) {
    precondition(train >= 0 && validation >= 0, "trainValidationSplit: negative size")
    precondition(
      train + validation <= data.count,
      "trainValidationSplit: \(train) + \(validation) exceeds \(data.count) examples")
    var rng = SeededRNG(seed: seed)
    let order = rng.permutation(data.count)
    let validationIndices = order[0..<validation].sorted()
    let trainIndices = order[validation..<(validation + train)].sorted()
    return (data.subset(trainIndices), data.subset(validationIndices))
  }
}
