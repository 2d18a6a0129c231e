import Foundation
import Testing

@testable import Datasets
@testable import Tensors

private let dataInstalled = FileManager.default.fileExists(
  atPath: FashionMNIST.imagesPath(.test))

private func temporaryDirectory() throws -> URL {
  let dir = FileManager.default.temporaryDirectory
    .appendingPathComponent("blkrew-datasets-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
  return dir
}

/// The test split is loaded once and shared by the tests below.
private let testSplit: Result<ImageDataset, DatasetError> = Result { () throws(DatasetError) in
  try FashionMNIST.load(.test)
}

@Suite(.enabled(if: dataInstalled, "dataset-fashion-mnist is not installed"))
struct FashionMNISTTests {
  @Test func loadsTestSplit() throws {
    let data = try testSplit.get()
    #expect(data.count == 10000)
    #expect(data.rows == 28 && data.cols == 28)
    #expect(data.images.count == 10000 * 784)
    #expect(data.labels.allSatisfy { (0..<10).contains($0) })
    #expect(data.classCounts() == [Int](repeating: 1000, count: 10))
    // Normalisation: pixel 0 maps to −0.2860/0.3530, pixel 255 to (1 − 0.2860)/0.3530.
    let low = (0 - FashionMNIST.mean) / FashionMNIST.std
    let high = (1 - FashionMNIST.mean) / FashionMNIST.std
    #expect(data.images.min()! == low)
    #expect(data.images.max()! == high)
    // The test set's mean pixel is near (not exactly) the training mean: ≈ 0 after normalising.
    let mean = data.images.reduce(0.0) { $0 + Double($1) } / Double(data.images.count)
    #expect(abs(mean) < 0.05)
  }

  @Test func batchAndSubsetCopyTheRightImages() throws {
    let data = try testSplit.get()
    let (x, y) = data.batch([5, 0, 9999][...])
    #expect(x.shape == [3, 784])
    #expect(y == [data.labels[5], data.labels[0], data.labels[9999]])
    #expect(Array(x.data[0..<784]) == Array(data.images[(5 * 784)..<(6 * 784)]))
    #expect(Array(x.data[(2 * 784)...]) == Array(data.images[(9999 * 784)...]))
    let sub = data.subset([3, 1])
    #expect(sub.count == 2 && sub.labels == [data.labels[3], data.labels[1]])
  }

  @Test func trainValidationSplitIsDisjointAndDeterministic() throws {
    let data = try testSplit.get()
    // Tag each image by its index through the first pixel so the subsets can be traced back.
    var tagged = data
    for i in 0..<data.count { tagged.images[i * 784] = Float(i) }
    let (train, validation) = FashionMNIST.trainValidationSplit(
      tagged, train: 7000, validation: 2000, seed: 17)
    #expect(train.count == 7000 && validation.count == 2000)
    let trainIDs = (0..<train.count).map { Int(train.images[$0 * 784]) }
    let validationIDs = (0..<validation.count).map { Int(validation.images[$0 * 784]) }
    #expect(Set(trainIDs).count == 7000)
    #expect(Set(validationIDs).count == 2000)
    #expect(Set(trainIDs).isDisjoint(with: validationIDs))
    for (k, id) in trainIDs.enumerated() { #expect(train.labels[k] == data.labels[id]) }

    let again = FashionMNIST.trainValidationSplit(tagged, train: 7000, validation: 2000, seed: 17)
    #expect(again.train == train && again.validation == validation)
    let other = FashionMNIST.trainValidationSplit(tagged, train: 7000, validation: 2000, seed: 18)
    #expect(other.validation != validation)
    // A larger training set from the same seed keeps the same validation set.
    let bigger = FashionMNIST.trainValidationSplit(tagged, train: 8000, validation: 2000, seed: 17)
    #expect(bigger.validation == validation)
  }
}

@Suite struct DatasetErrorTests {
  @Test func missingFiles() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let expectedPath = FashionMNIST.imagesPath(.train, directory: dir.path)
    #expect(throws: DatasetError.missing(path: expectedPath)) {
      try FashionMNIST.load(.train, directory: dir.path)
    }
    #expect(DatasetError.missing(path: "/a/b.gz").description == "/a/b.gz: file not found")
  }

  @Test func wrongMagicAndSizes() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    // Uncompressed files are read as-is by zlib, so plain bytes exercise the IDX checks.
    let images = FashionMNIST.imagesPath(.test, directory: dir.path)
    let labels = FashionMNIST.labelsPath(.test, directory: dir.path)
    let header: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2]
    try Data(header + [0, 255, 128, 7, 1, 2, 3, 4]).write(to: URL(fileURLWithPath: images))
    try Data([0, 0, 8, 1, 0, 0, 0, 2, 3, 9]).write(to: URL(fileURLWithPath: labels))
    let tiny = try FashionMNIST.load(.test, directory: dir.path)
    #expect(tiny.count == 2 && tiny.rows == 2 && tiny.labels == [3, 9])
    #expect(tiny.images[1] == (1 - FashionMNIST.mean) / FashionMNIST.std)

    // Labels file given where images are expected: magic 2049.
    try Data([0, 0, 8, 1, 0, 0, 0, 2, 3, 9, 0, 0, 0, 0, 0, 0]).write(
      to: URL(fileURLWithPath: images))
    #expect(
      throws: DatasetError.corrupt(path: images, reason: "not an IDX image file (magic 2049)")
    ) {
      try FashionMNIST.load(.test, directory: dir.path)
    }
    // One pixel short.
    try Data(header + [0, 255, 128, 7, 1, 2, 3]).write(to: URL(fileURLWithPath: images))
    #expect {
      try FashionMNIST.load(.test, directory: dir.path)
    } throws: { error in
      guard case .corrupt(images, let reason) = error as? DatasetError else { return false }
      return reason.contains("need 24 bytes, found 23")
    }
    // Label count differs from image count.
    try Data(header + [0, 255, 128, 7, 1, 2, 3, 4]).write(to: URL(fileURLWithPath: images))
    try Data([0, 0, 8, 1, 0, 0, 0, 1, 3]).write(to: URL(fileURLWithPath: labels))
    #expect {
      try FashionMNIST.load(.test, directory: dir.path)
    } throws: { error in
      if case .corrupt(labels, _) = error as? DatasetError { return true }
      return false
    }
    // A label outside 0..<10.
    try Data([0, 0, 8, 1, 0, 0, 0, 2, 3, 10]).write(to: URL(fileURLWithPath: labels))
    #expect {
      try FashionMNIST.load(.test, directory: dir.path)
    } throws: { error in
      if case .corrupt(labels, _) = error as? DatasetError { return true }
      return false
    }
  }

  @Test(.enabled(if: dataInstalled, "dataset-fashion-mnist is not installed"))
  func truncatedGzip() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let original = try Data(contentsOf: URL(fileURLWithPath: FashionMNIST.labelsPath(.test)))
    let cut = dir.appendingPathComponent("t10k-labels-idx1-ubyte.gz")
    try original.prefix(original.count / 2).write(to: cut)
    #expect {
      try IDX.readLabels(path: cut.path)
    } throws: { error in
      guard case .corrupt(cut.path, let reason) = error as? DatasetError else { return false }
      return reason.contains("gzip")
    }
  }
}
