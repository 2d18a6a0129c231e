import Tensors

/// Stochastic gradient descent with PyTorch's semantics (`torch.optim.SGD`, dampening 0):
///
///     d = grad + weightDecay · w
///     buf = d                        (first step)
///     buf = momentum · buf + d       (later steps)
///     d = d + momentum · buf         (nesterov)   or   d = buf   (plain momentum)
///     w = w − learningRate · d
///
/// Masked parameters: after the update both `w` and `buf` are multiplied by `mask`, so pruned
/// weights stay exactly 0.0 and no momentum leaks back into them.
public struct SGD {
  public var learningRate: Float
  public var momentum: Float
  public var weightDecay: Float
  public var nesterov: Bool
  /// Momentum buffers, keyed by parameter identity (the parameter is kept alive with it).
  private var buffers: [ObjectIdentifier: (parameter: Parameter, buffer: [Float])] = [:]

  public init(
    learningRate: Float, momentum: Float = 0, weightDecay: Float = 0, nesterov: Bool = false
  ) {
    precondition(
      learningRate >= 0 && momentum >= 0 && weightDecay >= 0, "SGD: negative hyper-parameter")
    precondition(!nesterov || momentum > 0, "SGD: Nesterov momentum requires momentum > 0")
    self.learningRate = learningRate
    self.momentum = momentum
    self.weightDecay = weightDecay
    self.nesterov = nesterov
  }

  /// Applies one update to every parameter from its current `grad`.
  public mutating func step(_ params: [Parameter]) {
    for p in params { step(p) }
  }

  private mutating func step(_ p: Parameter) {
    let n = p.value.count
    precondition(p.grad.count == n, "SGD: \(p.name) grad has \(p.grad.count) entries, value \(n)")
    let lr = learningRate
    let wd = weightDecay
    let mu = momentum
    let useMomentum = mu != 0
    let nest = nesterov
    let id = ObjectIdentifier(p)
    var entry = buffers.removeValue(forKey: id)
    let first = entry == nil
    var buf = entry?.buffer ?? (useMomentum ? [Float](repeating: 0, count: n) : [])
    entry = nil
    p.grad.data.withUnsafeBufferPointer { gp in
      p.value.data.withUnsafeMutableBufferPointer { wp in
        if useMomentum {
          buf.withUnsafeMutableBufferPointer { bp in
            // Separate loops per case keep the inner loops branch-free.
            if first {
              for i in 0..<n { bp[i] = gp[i] + wd * wp[i] }
            } else {
              for i in 0..<n { bp[i] = mu * bp[i] + (gp[i] + wd * wp[i]) }
            }
            if nest {
              for i in 0..<n { wp[i] -= lr * ((gp[i] + wd * wp[i]) + mu * bp[i]) }
            } else {
              for i in 0..<n { wp[i] -= lr * bp[i] }
            }
          }
        } else {
          for i in 0..<n { wp[i] -= lr * (gp[i] + wd * wp[i]) }
        }
      }
    }
    if let mask = p.mask {
      multiplyInPlace(&p.value.data, by: mask)
      if useMomentum { multiplyInPlace(&buf, by: mask) }
    }
    if useMomentum { buffers[id] = (p, buf) }
  }

  /// Zeroes the gradients of `params`.
  public func zeroGrad(_ params: [Parameter]) {
    for p in params { p.zeroGrad() }
  }

  /// Forgets all momentum buffers (e.g. when retraining after a hard prune).
  public mutating func resetState() {
    buffers.removeAll()
  }

  /// The momentum buffer of `p`, if a step with momentum has run on it.
  public func momentumBuffer(for p: Parameter) -> [Float]? {
    buffers[ObjectIdentifier(p)]?.buffer
  }
}
