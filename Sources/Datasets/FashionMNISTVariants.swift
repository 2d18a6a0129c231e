extension ImageDataset {
  /// Every image with `by` pixels of `value` added on each side (`rows + 2·by` × `cols + 2·by`).
  public func padded(by pad: Int, value: Float) -> ImageDataset {
    precondition(pad >= 0, "ImageDataset.padded: negative padding \(pad)")
    let outRows = rows + 2 * pad
    let outCols = cols + 2 * pad
    var out = [Float](repeating: value, count: count * outRows * outCols)
    images.withUnsafeBufferPointer { src in
      out.withUnsafeMutableBufferPointer { dst in
        for i in 0..<count {
          for r in 0..<rows {
            (dst.baseAddress! + (i * outRows + r + pad) * outCols + pad).update(
              from: src.baseAddress! + (i * rows + r) * cols, count: cols)
          }
        }
      }
    }
    return ImageDataset(images: out, labels: labels, rows: outRows, cols: outCols)
  }
}

extension FashionMNIST {
  /// The normalised value of a black pixel, `(0 − mean) / std`: the padding of `padded32`.
  public static var backgroundValue: Float { (0 - mean) / std }

  /// 32×32 images for VGG / ResNet: 2 background pixels on each side (as `transforms.Pad(2)`
  /// before `Normalize` in PyTorch).
  public static func padded32(_ data: ImageDataset) -> ImageDataset {
    precondition(
      data.rows == 28 && data.cols == 28, "padded32: images are \(data.rows)x\(data.cols)")
    return data.padded(by: 2, value: backgroundValue)
  }

  /// Sequential Fashion-MNIST: each image as 28 time steps (its rows, top first) of 28 features
  /// (the pixels of the row), all full length. The memory is the same as the image's, so
  /// `ImageDataset.batch` rows `[n, 784]` are already `[n, 28, 28]` for `GRUClassifier`.
  public static func sequential(_ data: ImageDataset) -> SequenceDataset {
    SequenceDataset(
      features: data.images, lengths: [Int](repeating: data.rows, count: data.count),
      labels: data.labels, maxLength: data.rows, featureCount: data.cols)
  }
}
