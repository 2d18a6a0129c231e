import Tensors

/// Inverted dropout (`torch.nn.Dropout(p)`): in training each element is kept with probability
/// `1 − p` and scaled by `1/(1 − p)`, otherwise zeroed; in eval it is the identity. The mask is
/// drawn from the layer's own `SeededRNG` (one `nextUniformFloat()` per element, kept when
/// `u ≥ p`), so the same seed gives the same masks in the same order of calls.
public final class Dropout: Module {
  public let p: Float
  private var rng: SeededRNG
  /// The scaled mask of the last training-mode forward (`0` or `1/(1 − p)` per element), or nil
  /// after an eval-mode forward (backward is then the identity).
  public private(set) var lastMask: [Float]?

  public init(p: Float, seed: UInt64) {
    precondition(p >= 0 && p <= 1, "Dropout: p must be in [0, 1], got \(p)")
    self.p = p
    self.rng = SeededRNG(seed: seed)
  }

  public var parameters: [Parameter] { [] }

  public func forward(_ x: Tensor, training: Bool) -> Tensor {
    guard training, p > 0 else {
      lastMask = nil
      return x
    }
    let keepScale: Float = p < 1 ? 1 / (1 - p) : 0
    var mask = [Float](repeating: 0, count: x.count)
    for i in mask.indices { mask[i] = rng.nextUniformFloat() >= p ? keepScale : 0 }
    return apply(mask, to: x)
  }

  /// Forward in training mode with a given scaled mask instead of a drawn one (for tests).
  public func forward(_ x: Tensor, mask: [Float]) -> Tensor {
    precondition(mask.count == x.count, "Dropout: mask has \(mask.count) entries for \(x.count)")
    return apply(mask, to: x)
  }

  private func apply(_ mask: [Float], to x: Tensor) -> Tensor {
    lastMask = mask
    var y = x
    multiply(&y.data, mask)
    return y
  }

  public func backward(_ gradOutput: Tensor) -> Tensor {
    guard let mask = lastMask else { return gradOutput }
    precondition(
      gradOutput.count == mask.count,
      "Dropout.backward: \(gradOutput.count) elements, the last forward had \(mask.count)")
    var g = gradOutput
    multiply(&g.data, mask)
    return g
  }

  private func multiply(_ x: inout [Float], _ m: [Float]) {
    x.withUnsafeMutableBufferPointer { xp in
      m.withUnsafeBufferPointer { mp in
        for i in 0..<xp.count { xp[i] = mp[i] == 0 ? 0 : xp[i] * mp[i] }
      }
    }
  }
}
