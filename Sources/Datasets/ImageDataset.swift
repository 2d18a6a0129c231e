import Tensors

/// Labelled greyscale images held as normalised Float32 pixels.
public struct ImageDataset: Sendable, Equatable {
  /// `count × (rows · cols)` pixels, row-major per image, normalised (see `FashionMNIST`).
  public var images: [Float]
  /// One class index per image.
  public var labels: [Int]
  public var rows: Int
  public var cols: Int

  public init(images: [Float], labels: [Int], rows: Int, cols: Int) {
    precondition(images.count == labels.count * rows * cols, "ImageDataset: pixel count mismatch")
    self.images = images
    self.labels = labels
    self.rows = rows
    self.cols = cols
  }

  public var count: Int { labels.count }

  /// Pixels per image (`rows · cols`).
  public var featureCount: Int { rows * cols }

  /// The images at `indices`, in that order.
  public func subset(_ indices: [Int]) -> ImageDataset {
    let b = batch(indices[...])
    return ImageDataset(images: b.x.data, labels: b.y, rows: rows, cols: cols)
  }

  /// Images at `indices` as `x [n, rows·cols]` and their labels.
  public func batch(_ indices: ArraySlice<Int>) -> (x: Tensor, y: [Int]) {
    let f = featureCount
    var x = [Float](repeating: 0, count: indices.count * f)
    var y = [Int]()
    y.reserveCapacity(indices.count)
    images.withUnsafeBufferPointer { src in
      x.withUnsafeMutableBufferPointer { dst in
        var row = 0
        for i in indices {
          precondition(i >= 0 && i < count, "ImageDataset.batch: index \(i) out of 0..<\(count)")
          (dst.baseAddress! + row * f).update(from: src.baseAddress! + i * f, count: f)
          y.append(labels[i])
          row += 1
        }
      }
    }
    return (Tensor(shape: [indices.count, f], data: x), y)
  }

  /// How many images each class has (`result[c]` for class c, up to the largest label).
  public func classCounts() -> [Int] {
    var counts = [Int](repeating: 0, count: (labels.max() ?? -1) + 1)
    for l in labels { counts[l] += 1 }
    return counts
  }
}
