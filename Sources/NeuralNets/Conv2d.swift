import Tensors

/// 2-D convolution with PyTorch's layout and semantics (`torch.nn.Conv2d`, dilation 1,
/// groups 1): input `[N, Cin, H, W]`, weight `[Cout, Cin, kh, kw]`, bias `[Cout]`, output
/// `[N, Cout, Hout, Wout]` with `Hout = (H + 2·padding − kh) / stride + 1`.
///
/// Computed as one GEMM over the whole batch: `cols = im2col(x)` is `[K, N·Hout·Wout]` with
/// `K = Cin·kh·kw`, `Y = W · cols` is `[Cout, N·Hout·Wout]` (the weight's memory read as
/// `[Cout, K]`, which is its `GEMMWeight` view), then `Y` is permuted to NCHW with the bias added.
/// Backward: `gradW += gY · colsᵀ`, `gradCols = Wᵀ · gY`, `gradX = col2im(gradCols)`.
///
/// The column matrix of the last `forward` is kept for `backward`, and the scratch matrices are
/// reused between calls, so a layer's memory is about `2·K·N·Hout·Wout + 2·Cout·N·Hout·Wout` floats.
public final class Conv2d: Module {
  public let inChannels: Int
  public let outChannels: Int
  public let kernelH: Int
  public let kernelW: Int
  public let stride: Int
  public let padding: Int
  /// `[Cout, Cin, kh, kw]`.
  public let weight: Parameter
  /// `[Cout]`, or nil for `bias: false`.
  public let bias: Parameter?
  /// When false, `backward` skips the input gradient (the col2im and one GEMM) and returns zeros:
  /// set it on a network's first layer, whose input gradient nobody uses (PyTorch skips it too,
  /// since the input does not require grad).
  public var computesInputGradient = true

  private var cols: [Float] = []
  private var scratch: [Float] = []
  private var cachedInputShape: [Int]?
  private var cachedGeometry: ConvGeometry?

  /// PyTorch's default initialisation: kaiming-uniform with a = √5, i.e. U(−1/√fan_in, 1/√fan_in)
  /// with `fan_in = Cin·kh·kw`, and the same bound for the bias. Draws the weight (row-major)
  /// then the bias from `rng`. Parameters are named `<name>.weight` and `<name>.bias`.
  public init(
    inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
    bias: Bool = true, name: String, rng: inout SeededRNG
  ) {
    precondition(inChannels > 0 && outChannels > 0, "Conv2d: channel counts must be positive")
    precondition(kernel > 0 && stride > 0 && padding >= 0, "Conv2d: bad kernel/stride/padding")
    self.inChannels = inChannels
    self.outChannels = outChannels
    self.kernelH = kernel
    self.kernelW = kernel
    self.stride = stride
    self.padding = padding
    let fanIn = inChannels * kernel * kernel
    let bound = 1 / Float(fanIn).squareRoot()
    var w = [Float](repeating: 0, count: outChannels * fanIn)
    for i in w.indices { w[i] = rng.nextUniform(-bound, bound) }
    let prefix = name.isEmpty ? "" : "\(name)."
    self.weight = Parameter(
      name: prefix + "weight",
      value: Tensor(shape: [outChannels, inChannels, kernel, kernel], data: w))
    if bias {
      var b = [Float](repeating: 0, count: outChannels)
      for i in b.indices { b[i] = rng.nextUniform(-bound, bound) }
      self.bias = Parameter(name: prefix + "bias", value: Tensor(shape: [outChannels], data: b))
    } else {
      self.bias = nil
    }
  }

  /// The GEMM's inner size `Cin·kh·kw` (the columns of the weight's GEMM view).
  public var fanIn: Int { inChannels * kernelH * kernelW }
  /// Hout·Wout of the last forward pass (nil before the first).
  public var lastOutputPositions: Int? { cachedGeometry.map { $0.outHeight * $0.outWidth } }

  public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

  func geometry(height: Int, width: Int) -> ConvGeometry {
    ConvGeometry(
      channels: inChannels, height: height, width: width, kernelH: kernelH, kernelW: kernelW,
      strideH: stride, strideW: stride, padH: padding, padW: padding)
  }

  public func forward(_ x: Tensor, training: Bool) -> Tensor {
    precondition(
      x.rank == 4 && x.shape[1] == inChannels,
      "Conv2d(\(inChannels)->\(outChannels)): input shape \(x.shape), expected [N, \(inChannels), H, W]"
    )
    let n = x.shape[0]
    let g = geometry(height: x.shape[2], width: x.shape[3])
    let plane = g.outPlane
    let columns = n * plane
    let k = fanIn
    let cout = outChannels
    cachedInputShape = x.shape
    cachedGeometry = g
    let outShape = [n, cout, g.outHeight, g.outWidth]
    if n == 0 { return Tensor(zeros: outShape) }

    var cols = Self.take(&self.cols, count: k * columns)
    var y = Self.take(&self.scratch, count: cout * columns)
    let out = cols.withUnsafeMutableBufferPointer { cp in
      y.withUnsafeMutableBufferPointer { yp in
        let c = cp.baseAddress!
        let yb = yp.baseAddress!
        x.data.withUnsafeBufferPointer { xp in
          for i in 0..<n {
            Im2col.im2col(
              xp.baseAddress! + i * g.imageSize, geometry: g, into: c + i * plane, ld: columns)
          }
        }
        weight.value.data.withUnsafeBufferPointer { wp in
          BLAS.sgemm(
            transA: false, transB: false, m: cout, n: columns, k: k, alpha: 1,
            a: wp.baseAddress!, lda: k, b: c, ldb: columns, beta: 0, c: yb, ldc: columns)
        }
        // [Cout, N, P] → [N, Cout, P], adding the bias.
        let biasValues = bias?.value.data ?? [Float](repeating: 0, count: cout)
        return Tensor(shape: outShape) { op in
          let o = op.baseAddress!
          for i in 0..<n {
            for ch in 0..<cout {
              let src = yb + ch * columns + i * plane
              let dst = o + (i * cout + ch) * plane
              let b = biasValues[ch]
              for p in 0..<plane { dst[p] = src[p] + b }
            }
          }
        }
      }
    }
    self.cols = cols
    self.scratch = y
    return out
  }

  public func backward(_ gradOutput: Tensor) -> Tensor {
    guard let inputShape = cachedInputShape, let g = cachedGeometry else {
      preconditionFailure("Conv2d.backward called before forward")
    }
    let n = inputShape[0]
    let plane = g.outPlane
    let columns = n * plane
    let k = fanIn
    let cout = outChannels
    precondition(
      gradOutput.shape == [n, cout, g.outHeight, g.outWidth],
      "Conv2d.backward: gradOutput shape \(gradOutput.shape), expected \([n, cout, g.outHeight, g.outWidth])"
    )
    if n == 0 { return Tensor(zeros: inputShape) }
    // gY: [N, Cout, P] → [Cout, N·P] (in the scratch matrix).
    var gy = Self.take(&self.scratch, count: cout * columns)
    gy.withUnsafeMutableBufferPointer { gp in
      gradOutput.data.withUnsafeBufferPointer { op in
        let o = op.baseAddress!
        let dst = gp.baseAddress!
        for i in 0..<n {
          for ch in 0..<cout {
            (dst + ch * columns + i * plane).update(from: o + (i * cout + ch) * plane, count: plane)
          }
        }
      }
    }
    if let bias {
      gradOutput.data.withUnsafeBufferPointer { op in
        bias.grad.data.withUnsafeMutableBufferPointer { bp in
          for i in 0..<n {
            for ch in 0..<cout {
              let src = op.baseAddress! + (i * cout + ch) * plane
              var s: Float = 0
              for p in 0..<plane { s += src[p] }
              bp[ch] += s
            }
          }
        }
      }
    }
    var gradInput = Tensor(zeros: inputShape)
    var cols = self.cols
    self.cols = []
    gy.withUnsafeBufferPointer { gp in
      cols.withUnsafeMutableBufferPointer { cp in
        let gyb = gp.baseAddress!
        let c = cp.baseAddress!
        weight.grad.data.withUnsafeMutableBufferPointer { gwp in
          BLAS.sgemm(
            transA: false, transB: true, m: cout, n: k, k: columns, alpha: 1,
            a: gyb, lda: columns, b: c, ldb: columns, beta: 1, c: gwp.baseAddress!, ldc: k)
        }
        guard computesInputGradient else { return }
        // The column matrix is no longer needed: reuse it for gradCols = Wᵀ · gY.
        weight.value.data.withUnsafeBufferPointer { wp in
          BLAS.sgemm(
            transA: true, transB: false, m: k, n: columns, k: cout, alpha: 1,
            a: wp.baseAddress!, lda: k, b: gyb, ldb: columns, beta: 0, c: c, ldc: columns)
        }
        gradInput.data.withUnsafeMutableBufferPointer { xp in
          for i in 0..<n {
            Im2col.col2im(
              c + i * plane, ld: columns, geometry: g, addingInto: xp.baseAddress! + i * g.imageSize
            )
          }
        }
      }
    }
    // The column matrix was overwritten: a second backward without a forward would be wrong.
    cachedInputShape = nil
    self.cols = cols
    self.scratch = gy
    return gradInput
  }

  /// Takes `storage` out (leaving it empty, so the returned array is uniquely referenced) with at
  /// least `count` elements; contents are unspecified.
  static func take(_ storage: inout [Float], count: Int) -> [Float] {
    var a: [Float] = []
    swap(&a, &storage)
    if a.count < count {
      a = [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    }
    return a
  }
}
