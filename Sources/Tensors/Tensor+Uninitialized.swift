extension Tensor {
  /// A tensor of `shape` whose elements `initializer` sets, skipping the zero fill of
  /// `init(zeros:)` (for large outputs every element of which a kernel writes anyway).
  ///
  /// `initializer` must initialise every one of the `elementCount(shape)` elements.
  public init(
    shape: [Int], unsafeUninitializedWith initializer: (UnsafeMutableBufferPointer<Float>) -> Void
  ) {
    precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative extent in shape \(shape)")
    let count = Tensor.elementCount(shape)
    let data = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
      initializer(UnsafeMutableBufferPointer(rebasing: buffer[0..<count]))
      initialized = count
    }
    self.init(shape: shape, data: data)
  }
}
