import Tensors

/// A differentiable layer. `forward` caches what `backward` needs (so call them in pairs, one
/// batch at a time); `backward` returns the gradient with respect to the input of the last
/// `forward` and ADDS the parameter gradients into `Parameter.grad` (call `zeroGrad` first).
public protocol Module: AnyObject {
  var parameters: [Parameter] { get }
  /// Non-trained state saved in checkpoints (BatchNorm running statistics); `[]` by default.
  /// Containers list their children's buffers in order.
  var buffers: [Buffer] { get }
  func forward(_ x: Tensor, training: Bool) -> Tensor
  func backward(_ gradOutput: Tensor) -> Tensor
}

extension Module {
  /// No buffers (the default for layers without running state).
  public var buffers: [Buffer] { [] }

  /// Zeroes the gradients of all parameters.
  public func zeroGrad() {
    for p in parameters { p.zeroGrad() }
  }

  /// Total number of scalar parameters.
  public var parameterCount: Int {
    parameters.reduce(0) { $0 + $1.value.count }
  }

  /// Parameters by name.
  public var namedParameters: [String: Parameter] {
    Dictionary(parameters.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
  }
}

/// Fully connected layer `y = x · Wᵀ + b` with PyTorch's layout: `weight [out, in]`,
/// `bias [out]`, input `[N, in]`, output `[N, out]`.
public final class Linear: Module {
  public let inFeatures: Int
  public let outFeatures: Int
  public let weight: Parameter
  public let bias: Parameter
  private var cachedInput: Tensor?

  /// PyTorch's default initialisation: kaiming-uniform with a = √5 for the weight, which is
  /// U(−1/√in, 1/√in), and the same bound for the bias. Draws weight (row-major) then bias.
  public init(inFeatures: Int, outFeatures: Int, name: String, rng: inout SeededRNG) {
    precondition(inFeatures > 0 && outFeatures > 0, "Linear: sizes must be positive")
    self.inFeatures = inFeatures
    self.outFeatures = outFeatures
    let bound = 1 / Float(inFeatures).squareRoot()
    var w = [Float](repeating: 0, count: outFeatures * inFeatures)
    for i in w.indices { w[i] = rng.nextUniform(-bound, bound) }
    var b = [Float](repeating: 0, count: outFeatures)
    for i in b.indices { b[i] = rng.nextUniform(-bound, bound) }
    self.weight = Parameter(
      name: name.isEmpty ? "weight" : "\(name).weight",
      value: Tensor(shape: [outFeatures, inFeatures], data: w))
    self.bias = Parameter(
      name: name.isEmpty ? "bias" : "\(name).bias", value: Tensor(shape: [outFeatures], data: b))
  }

  public var parameters: [Parameter] { [weight, bias] }

  public func forward(_ x: Tensor, training: Bool) -> Tensor {
    precondition(
      x.shape.count == 2 && x.shape[1] == inFeatures,
      "Linear(\(inFeatures)->\(outFeatures)): input shape \(x.shape)")
    let n = x.shape[0]
    cachedInput = x
    var y = Tensor(zeros: [n, outFeatures])
    if n == 0 { return y }
    let out = outFeatures
    let inF = inFeatures
    x.data.withUnsafeBufferPointer { xp in
      weight.value.data.withUnsafeBufferPointer { wp in
        bias.value.data.withUnsafeBufferPointer { bp in
          y.data.withUnsafeMutableBufferPointer { yp in
            let yb = yp.baseAddress!
            // Broadcast the bias into every row, then y += x · Wᵀ.
            for r in 0..<n {
              let row = yb + r * out
              for j in 0..<out { row[j] = bp[j] }
            }
            BLAS.sgemm(
              transA: false, transB: true, m: n, n: out, k: inF, alpha: 1,
              a: xp.baseAddress!, lda: inF, b: wp.baseAddress!, ldb: inF,
              beta: 1, c: yb, ldc: out)
          }
        }
      }
    }
    return y
  }

  /// gradW += gradOutᵀ · x, gradb += Σ_rows gradOut, returns gradX = gradOut · W.
  public func backward(_ gradOutput: Tensor) -> Tensor {
    guard let x = cachedInput else {
      preconditionFailure("Linear.backward called before forward")
    }
    let n = x.shape[0]
    precondition(
      gradOutput.shape == [n, outFeatures],
      "Linear.backward: gradOutput shape \(gradOutput.shape), expected \([n, outFeatures])")
    var gradInput = Tensor(zeros: [n, inFeatures])
    if n == 0 { return gradInput }
    let out = outFeatures
    let inF = inFeatures
    gradOutput.data.withUnsafeBufferPointer { gp in
      let g = gp.baseAddress!
      x.data.withUnsafeBufferPointer { xp in
        weight.grad.data.withUnsafeMutableBufferPointer { gwp in
          BLAS.sgemm(
            transA: true, transB: false, m: out, n: inF, k: n, alpha: 1,
            a: g, lda: out, b: xp.baseAddress!, ldb: inF,
            beta: 1, c: gwp.baseAddress!, ldc: inF)
        }
      }
      bias.grad.data.withUnsafeMutableBufferPointer { gbp in
        for r in 0..<n {
          let row = g + r * out
          for j in 0..<out { gbp[j] += row[j] }
        }
      }
      weight.value.data.withUnsafeBufferPointer { wp in
        gradInput.data.withUnsafeMutableBufferPointer { gip in
          BLAS.sgemm(
            transA: false, transB: false, m: n, n: inF, k: out, alpha: 1,
            a: g, lda: out, b: wp.baseAddress!, ldb: inF,
            beta: 0, c: gip.baseAddress!, ldc: inF)
        }
      }
    }
    return gradInput
  }
}

/// `max(x, 0)` elementwise; the gradient at 0 is taken as 0.
public final class ReLU: Module {
  private var cachedOutput: Tensor?

  public init() {}

  public var parameters: [Parameter] { [] }

  public func forward(_ x: Tensor, training: Bool) -> Tensor {
    // A fresh output in one pass (the input is shared with the caller, so changing it in place
    // would copy it first); NaN → 0.
    let y = Tensor(shape: x.shape) { yp in
      x.data.withUnsafeBufferPointer { xp in
        guard let src = xp.baseAddress, let dst = yp.baseAddress else { return }
        Parallel.forEachRange(xp.count, grain: 1 << 15) { r in
          Vectorized.relu(src + r.lowerBound, into: dst + r.lowerBound, count: r.count)
        }
      }
    }
    cachedOutput = y
    return y
  }

  public func backward(_ gradOutput: Tensor) -> Tensor {
    guard let y = cachedOutput else {
      preconditionFailure("ReLU.backward called before forward")
    }
    precondition(
      gradOutput.shape == y.shape, "ReLU.backward: shape \(gradOutput.shape) != \(y.shape)")
    return Tensor(shape: y.shape) { dp in
      gradOutput.data.withUnsafeBufferPointer { gp in
        y.data.withUnsafeBufferPointer { yp in
          guard let g = gp.baseAddress, let yb = yp.baseAddress, let d = dp.baseAddress else {
            return
          }
          Parallel.forEachRange(gp.count, grain: 1 << 15) { r in
            let o = r.lowerBound
            Vectorized.reluGradient(g + o, output: yb + o, into: d + o, count: r.count)
          }
        }
      }
    }
  }
}

/// Modules applied in order; backward runs them in reverse.
public final class Sequential: Module {
  public let modules: [any Module]

  public init(_ modules: [any Module]) {
    self.modules = modules
  }

  public var parameters: [Parameter] { modules.flatMap { $0.parameters } }

  public var buffers: [Buffer] { modules.flatMap { $0.buffers } }

  public func forward(_ x: Tensor, training: Bool) -> Tensor {
    var h = x
    for m in modules { h = m.forward(h, training: training) }
    return h
  }

  public func backward(_ gradOutput: Tensor) -> Tensor {
    var g = gradOutput
    for m in modules.reversed() { g = m.backward(g) }
    return g
  }
}
