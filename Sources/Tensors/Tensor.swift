/// A dense, row-major, single-precision tensor.
///
/// `shape` lists the extents from the outermost to the innermost dimension; element
/// `[i0, i1, ..., in]` lives at `data[((i0 * s1 + i1) * s2 + ...) + in]`. A matrix `[rows, cols]`
/// therefore has leading dimension `cols`. The invariant `data.count == shape.product` is checked
/// by the initialisers; code that mutates `shape` or `data` directly must keep it.
public struct Tensor: Sendable, Equatable {
  public var shape: [Int]
  public var data: [Float]

  /// Wraps `data` (row-major) with `shape`; traps if the element counts differ.
  public init(shape: [Int], data: [Float]) {
    precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative extent in shape \(shape)")
    precondition(
      Tensor.elementCount(shape) == data.count,
      "Tensor: shape \(shape) needs \(Tensor.elementCount(shape)) elements, got \(data.count)")
    self.shape = shape
    self.data = data
  }

  /// A tensor of `shape` filled with 0.
  public init(zeros shape: [Int]) {
    self.init(shape: shape, repeating: 0)
  }

  /// A tensor of `shape` filled with `value`.
  public init(shape: [Int], repeating value: Float) {
    precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative extent in shape \(shape)")
    self.shape = shape
    self.data = [Float](repeating: value, count: Tensor.elementCount(shape))
  }

  /// Number of elements (the product of `shape`; 1 for a scalar of shape `[]`).
  public var count: Int { data.count }

  /// Number of dimensions.
  public var rank: Int { shape.count }

  /// The product of the extents of `shape` (1 for `[]`).
  public static func elementCount(_ shape: [Int]) -> Int {
    shape.reduce(1, *)
  }

  /// The same data viewed with another shape of equal element count.
  public func reshaped(_ newShape: [Int]) -> Tensor {
    Tensor(shape: newShape, data: data)
  }

  /// Element of a rank-2 tensor (convenient in tests; not for hot loops).
  public subscript(row: Int, column: Int) -> Float {
    get {
      precondition(shape.count == 2, "Tensor: [row, column] needs a matrix, shape is \(shape)")
      return data[row * shape[1] + column]
    }
    set {
      precondition(shape.count == 2, "Tensor: [row, column] needs a matrix, shape is \(shape)")
      data[row * shape[1] + column] = newValue
    }
  }
}

extension Tensor: CustomStringConvertible {
  public var description: String {
    let preview = data.prefix(8).map { String($0) }.joined(separator: ", ")
    return "Tensor(shape: \(shape), data: [\(preview)\(data.count > 8 ? ", ..." : "")])"
  }
}
