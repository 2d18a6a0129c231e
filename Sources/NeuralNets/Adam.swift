#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Adam and AdamW with PyTorch's update rules (`torch.optim.Adam` / `AdamW`, amsgrad off,
/// maximize off). For each parameter, with its own step count `t` (1 on its first step):
///
///     Adam:   g = grad + weightDecay · w                  (L2 penalty in the gradient)
///     AdamW:  w = w · (1 − learningRate · weightDecay)    (decoupled decay), g = grad
///     m = m + (1 − β₁)·(g − m)             (= β₁·m + (1 − β₁)·g, as PyTorch's lerp)
///     v = β₂·v + (1 − β₂)·g²
///     w = w − (learningRate / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + eps)
///
/// The bias corrections and the step size are computed in Double and rounded to Float, as
/// PyTorch does with Python floats. Masked parameters: after the update `w`, `m` and `v` are
/// multiplied by the mask, so pruned weights stay exactly +0.0 and their moments stay zero.
public struct Adam: Optimizer {
  public var learningRate: Float
  public var beta1: Float
  public var beta2: Float
  public var eps: Float
  public var weightDecay: Float
  /// true = AdamW (decoupled weight decay), false = Adam (L2 added to the gradient).
  public var decoupledWeightDecay: Bool

  private struct State {
    let parameter: Parameter
    var step: Int
    var m: [Float]
    var v: [Float]
  }
  /// Moment buffers keyed by parameter identity (the parameter is kept alive with them).
  private var states: [ObjectIdentifier: State] = [:]

  /// `torch.optim.Adam` defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0.
  public init(
    learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8,
    weightDecay: Float = 0, decoupledWeightDecay: Bool = false
  ) {
    precondition(
      learningRate >= 0 && eps >= 0 && weightDecay >= 0, "Adam: negative hyper-parameter")
    precondition(
      beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "Adam: betas must be in [0, 1)")
    self.learningRate = learningRate
    self.beta1 = beta1
    self.beta2 = beta2
    self.eps = eps
    self.weightDecay = weightDecay
    self.decoupledWeightDecay = decoupledWeightDecay
  }

  /// `torch.optim.AdamW`: decoupled weight decay, default 0.01.
  public static func adamW(
    learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8,
    weightDecay: Float = 0.01
  ) -> Adam {
    Adam(
      learningRate: learningRate, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay,
      decoupledWeightDecay: true)
  }

  public mutating func step(_ params: [Parameter]) {
    for p in params { step(p) }
  }

  private mutating func step(_ p: Parameter) {
    let n = p.value.count
    precondition(p.grad.count == n, "Adam: \(p.name) grad has \(p.grad.count) entries, value \(n)")
    let id = ObjectIdentifier(p)
    var state =
      states.removeValue(forKey: id)
      ?? State(
        parameter: p, step: 0, m: [Float](repeating: 0, count: n),
        v: [Float](repeating: 0, count: n))
    state.step += 1
    let t = Double(state.step)
    let b1 = beta1
    let b2 = beta2
    let biasCorrection1 = 1 - pow(Double(b1), t)
    let biasCorrection2Sqrt = (1 - pow(Double(b2), t)).squareRoot()
    let stepSize = Float(Double(learningRate) / biasCorrection1)
    let bc2 = Float(biasCorrection2Sqrt)
    let epsilon = eps
    let wd = weightDecay
    let decoupled = decoupledWeightDecay
    let decay = Float(1 - Double(learningRate) * Double(weightDecay))
    p.grad.data.withUnsafeBufferPointer { gp in
      p.value.data.withUnsafeMutableBufferPointer { wp in
        state.m.withUnsafeMutableBufferPointer { mp in
          state.v.withUnsafeMutableBufferPointer { vp in
            if decoupled && wd != 0 {
              for i in 0..<n { wp[i] *= decay }
            }
            for i in 0..<n {
              let g = decoupled ? gp[i] : gp[i] + wd * wp[i]
              mp[i] += (1 - b1) * (g - mp[i])  // PyTorch's exp_avg.lerp_(grad, 1 − β₁)
              vp[i] = b2 * vp[i] + (1 - b2) * g * g
              let denom = vp[i].squareRoot() / bc2 + epsilon
              wp[i] -= stepSize * (mp[i] / denom)
            }
          }
        }
      }
    }
    if let mask = p.mask {
      multiplyInPlace(&p.value.data, by: mask)
      multiplyInPlace(&state.m, by: mask)
      multiplyInPlace(&state.v, by: mask)
    }
    states[id] = state
  }

  /// Forgets all moments and step counts (e.g. when retraining after a hard prune).
  public mutating func resetState() {
    states.removeAll()
  }

  /// The first and second moments and the step count of `p`, if a step has run on it.
  public func moments(for p: Parameter) -> (m: [Float], v: [Float], step: Int)? {
    states[ObjectIdentifier(p)].map { ($0.m, $0.v, $0.step) }
  }
}
