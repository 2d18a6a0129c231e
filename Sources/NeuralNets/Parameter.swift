import Tensors

/// A trainable tensor with its gradient and an optional pruning mask.
///
/// Invariants: `grad.shape == value.shape`; when `mask` is set it has `value.count` entries,
/// each 1 (kept) or 0 (pruned), and the optimizer keeps `value * mask == value` after every step.
public final class Parameter {
  /// PyTorch-style name, e.g. `fc1.weight`.
  public let name: String
  public var value: Tensor
  /// Accumulated gradient of the loss with respect to `value`; `backward` adds to it.
  public var grad: Tensor
  /// 1 = keep, 0 = pruned; `nil` = dense.
  public var mask: [Float]? {
    didSet {
      if let mask {
        precondition(
          mask.count == value.count,
          "Parameter \(name): mask has \(mask.count) entries, value has \(value.count)")
      }
    }
  }

  public init(name: String, value: Tensor, mask: [Float]? = nil) {
    self.name = name
    self.value = value
    self.grad = Tensor(zeros: value.shape)
    self.mask = mask
    if let mask {
      precondition(
        mask.count == value.count,
        "Parameter \(name): mask has \(mask.count) entries, value has \(value.count)")
    }
  }

  public var shape: [Int] { value.shape }

  /// Sets every gradient entry to 0.
  public func zeroGrad() {
    if grad.shape != value.shape { grad = Tensor(zeros: value.shape) }
    grad.data.withUnsafeMutableBufferPointer { g in
      g.update(repeating: 0)
    }
  }

  /// `value *= mask` (no-op when dense).
  public func applyMask() {
    guard let mask else { return }
    multiplyInPlace(&value.data, by: mask)
  }

  /// `grad *= mask` (no-op when dense).
  public func maskGradient() {
    guard let mask else { return }
    multiplyInPlace(&grad.data, by: mask)
  }

  /// Number of kept entries (`value.count` when dense).
  public var keptCount: Int {
    guard let mask else { return value.count }
    return mask.withUnsafeBufferPointer { m in
      var kept = 0
      for x in m where x != 0 { kept += 1 }
      return kept
    }
  }
}

/// `x[i] *= m[i]` for all i, except that entries with `m[i] == 0` become +0.0 (a plain product
/// would leave −0.0 for negative weights, which compares equal but differs in bits).
@inline(__always)
func multiplyInPlace(_ x: inout [Float], by m: [Float]) {
  precondition(x.count == m.count, "mask size \(m.count) does not match \(x.count)")
  x.withUnsafeMutableBufferPointer { xp in
    m.withUnsafeBufferPointer { mp in
      for i in 0..<xp.count { xp[i] = mp[i] == 0 ? 0 : xp[i] * mp[i] }
    }
  }
}
