import Tensors

/// 2-D convolution with PyTorch's layout and semantics (`torch.nn.Conv2d`, dilation 1,
/// groups 1): input `[N, Cin, H, W]`, weight `[Cout, Cin, kh, kw]`, bias `[Cout]`, output
/// `[N, Cout, Hout, Wout]` with `Hout = (H + 2·padding − kh) / stride + 1`.
///
/// Computed as GEMMs over chunks of the batch: for images `[i0, i1)`, `cols = im2col(x)` is
/// `[K, b·Hout·Wout]` with `K = Cin·kh·kw` and `b = i1 − i0`, `Y = W · cols` is `[Cout, b·Hout·Wout]`
/// (the weight's memory read as `[Cout, K]`, which is its `GEMMWeight` view), then `Y` is permuted
/// to NCHW with the bias added (with b = 1 the GEMM writes the NCHW block itself). Backward, per
/// chunk: `gradW += gY · colsᵀ`, `gradCols = Wᵀ · gY`, `gradX = col2im(gradCols)`. The chunk size
/// keeps a chunk's columns about 1 MB (`chunkImages`), so they are still in cache when used.
///
/// The column matrix of the last `forward` (all chunks) is kept for `backward`, and the scratch
/// matrices are reused between calls, so a layer's memory is about `K·N·Hout·Wout` floats plus a
/// chunk's `Cout·b·Hout·Wout`.
///
/// With more than one thread (`Parallel.threads`), the per-image work of a chunk (im2col,
/// col2im, the permutations) is split over its images and the bias gradient over the channels
/// (each channel summed over the images in order), so those results are the same bits at any
/// thread count; the GEMMs split themselves (`BLAS.sgemm`).
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
  private var biasPartials: [Float] = []
  private var cachedInputShape: [Int]?
  private var cachedGeometry: ConvGeometry?
  /// The zero input gradient `backward` returns without `computesInputGradient` (kept, since the
  /// first layer's would otherwise be a fresh zero-filled batch every step).
  private var zeroInputGradient: Tensor?

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

  /// Images per GEMM: a chunk's column matrix `[K, b·P]` is kept near 256 K floats (1 MB, about
  /// a core's L2 here), so the GEMM reads it, and backward's col2im the gradient columns, while
  /// they are still in cache instead of streaming a whole batch's columns through memory.
  static func chunkImages(fanIn k: Int, plane: Int, batch n: Int) -> Int {
    max(1, min(n, (1 << 18) / max(1, k * plane)))
  }

  public func forward(_ x: Tensor, training: Bool) -> Tensor {
    precondition(
      x.rank == 4 && x.shape[1] == inChannels,
      "Conv2d(\(inChannels)->\(outChannels)): input shape \(x.shape), expected [N, \(inChannels), H, W]"
    )
    let n = x.shape[0]
    let g = geometry(height: x.shape[2], width: x.shape[3])
    let plane = g.outPlane
    let k = fanIn
    let cout = outChannels
    cachedInputShape = x.shape
    cachedGeometry = g
    let outShape = [n, cout, g.outHeight, g.outWidth]
    if n == 0 { return Tensor(zeros: outShape) }
    let chunk = Self.chunkImages(fanIn: k, plane: plane, batch: n)

    // The columns of chunk [i0, i1) are the contiguous matrix `[K, (i1 − i0)·P]` at `i0·K·P`.
    var cols = Self.take(&self.cols, count: k * n * plane)
    var y = Self.take(&self.scratch, count: chunk > 1 ? cout * chunk * plane : 0)
    let hasBias = bias != nil
    let biasValues = bias?.value.data ?? []
    // Per-image work (im2col, the permutation) is split over the images of a chunk, the bias
    // of a single image over its channels; every task writes only its own images' memory.
    let imageGrain = Self.grain(itemSize: k * plane)
    let out = Tensor(shape: outShape) { op in
      cols.withUnsafeMutableBufferPointer { cp in
        y.withUnsafeMutableBufferPointer { yp in
          x.data.withUnsafeBufferPointer { xp in
            weight.value.data.withUnsafeBufferPointer { wp in
              biasValues.withUnsafeBufferPointer { bvp in
                let o = op.baseAddress!
                let xb = xp.baseAddress!
                for i0 in Swift.stride(from: 0, to: n, by: chunk) {
                  let b = min(chunk, n - i0)
                  let ld = b * plane
                  let c = cp.baseAddress! + i0 * k * plane
                  Parallel.forEachRange(b, grain: imageGrain) { r in
                    Im2col.im2col(
                      images: xb + (i0 + r.lowerBound) * g.imageSize, count: r.count, geometry: g,
                      into: c + r.lowerBound * plane, ld: ld)
                  }
                  if b == 1 {
                    // One image: the GEMM's [Cout, P] result is the image's NCHW block.
                    let dst = o + i0 * cout * plane
                    BLAS.sgemm(
                      transA: false, transB: false, m: cout, n: plane, k: k, alpha: 1,
                      a: wp.baseAddress!, lda: k, b: c, ldb: plane, beta: 0, c: dst, ldc: plane)
                    if hasBias {
                      let bv = bvp.baseAddress!
                      Parallel.forEach(cout, grain: Self.grain(itemSize: plane)) { ch in
                        Vectorized.addScalar(bv[ch], to: dst + ch * plane, count: plane)
                      }
                    }
                    continue
                  }
                  let yb = yp.baseAddress!
                  BLAS.sgemm(
                    transA: false, transB: false, m: cout, n: ld, k: k, alpha: 1,
                    a: wp.baseAddress!, lda: k, b: c, ldb: ld, beta: 0, c: yb, ldc: ld)
                  // [Cout, b, P] → [b, Cout, P], adding the bias.
                  Parallel.forEach(b, grain: Self.grain(itemSize: cout * plane)) { i in
                    for ch in 0..<cout {
                      let src = yb + ch * ld + i * plane
                      let dst = o + ((i0 + i) * cout + ch) * plane
                      if hasBias {
                        Vectorized.add(src, scalar: bvp[ch], into: dst, count: plane)
                      } else {
                        Vectorized.copy(src, to: dst, count: plane)
                      }
                    }
                  }
                }
              }
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
    let k = fanIn
    let cout = outChannels
    precondition(
      gradOutput.shape == [n, cout, g.outHeight, g.outWidth],
      "Conv2d.backward: gradOutput shape \(gradOutput.shape), expected \([n, cout, g.outHeight, g.outWidth])"
    )
    if n == 0 { return Tensor(zeros: inputShape) }
    let chunk = Self.chunkImages(fanIn: k, plane: plane, batch: n)
    // The bias gradient is summed per image while the chunk's gY is read for the permutation
    // (`partials[i·Cout + ch]`), then added channel by channel over the images in order, so each
    // channel's sum runs in the same order at any thread count.
    var partials = Self.take(&self.biasPartials, count: bias == nil ? 0 : chunk * cout)
    let computeInput = computesInputGradient
    // Every image's gradient is zeroed by the task that runs its col2im.
    var gradInput =
      computeInput
      ? Tensor(shape: inputShape) { _ in } : Tensor(zeros: [0])
    var gy = Self.take(&self.scratch, count: chunk > 1 ? cout * chunk * plane : 0)
    var cols = self.cols
    self.cols = []
    let imageSize = g.imageSize
    let imageGrain = Self.grain(itemSize: k * plane)
    partials.withUnsafeMutableBufferPointer { pp in
      withBiasGradient { gbp in
        gradOutput.data.withUnsafeBufferPointer { op in
          gy.withUnsafeMutableBufferPointer { gp in
            cols.withUnsafeMutableBufferPointer { cp in
              weight.value.data.withUnsafeBufferPointer { wp in
                weight.grad.data.withUnsafeMutableBufferPointer { gwp in
                  gradInput.data.withUnsafeMutableBufferPointer { xp in
                    let ob = op.baseAddress!
                    for i0 in Swift.stride(from: 0, to: n, by: chunk) {
                      let b = min(chunk, n - i0)
                      let ld = b * plane
                      let c = cp.baseAddress! + i0 * k * plane
                      // gY of the chunk as [Cout, b·P]: one image's NCHW block already is.
                      let gyc: UnsafePointer<Float>
                      let sums = bias == nil ? nil : pp.baseAddress
                      if b == 1 {
                        gyc = ob + i0 * cout * plane
                        if let sums {
                          for ch in 0..<cout {
                            sums[ch] = Vectorized.sum(gyc + ch * plane, count: plane)
                          }
                        }
                      } else {
                        let dst = gp.baseAddress!
                        Parallel.forEach(b, grain: Self.grain(itemSize: cout * plane)) { i in
                          for ch in 0..<cout {
                            let src = ob + ((i0 + i) * cout + ch) * plane
                            Vectorized.copy(src, to: dst + ch * ld + i * plane, count: plane)
                            if let sums {
                              sums[i * cout + ch] = Vectorized.sum(src, count: plane)
                            }
                          }
                        }
                        gyc = UnsafePointer(dst)
                      }
                      if let sums, let gb = gbp?.baseAddress {
                        for i in 0..<b {
                          for ch in 0..<cout { gb[ch] += sums[i * cout + ch] }
                        }
                      }
                      BLAS.sgemm(
                        transA: false, transB: true, m: cout, n: k, k: ld, alpha: 1,
                        a: gyc, lda: ld, b: c, ldb: ld, beta: 1, c: gwp.baseAddress!, ldc: k)
                      guard computeInput else { continue }
                      // The chunk's columns are no longer needed: reuse them for
                      // gradCols = Wᵀ · gY.
                      BLAS.sgemm(
                        transA: true, transB: false, m: k, n: ld, k: cout, alpha: 1,
                        a: wp.baseAddress!, lda: k, b: gyc, ldb: ld, beta: 0, c: c, ldc: ld)
                      let xb = xp.baseAddress!
                      Parallel.forEachRange(b, grain: imageGrain) { r in
                        let images = xb + (i0 + r.lowerBound) * imageSize
                        Vectorized.zero(images, count: r.count * imageSize)
                        Im2col.col2im(
                          c + r.lowerBound * plane, ld: ld, count: r.count,
                          geometry: g,
                          addingInto: images)
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    // The column matrix was overwritten: a second backward without a forward would be wrong.
    cachedInputShape = nil
    self.cols = cols
    self.scratch = gy
    self.biasPartials = partials
    if computeInput { return gradInput }
    if zeroInputGradient?.shape != inputShape { zeroInputGradient = Tensor(zeros: inputShape) }
    return zeroInputGradient!
  }

  /// `body` with the bias gradient's memory, or nil without a bias.
  private func withBiasGradient<R>(_ body: (UnsafeMutableBufferPointer<Float>?) -> R) -> R {
    guard let bias else { return body(nil) }
    return bias.grad.data.withUnsafeMutableBufferPointer { body($0) }
  }

  /// Tasks of parallel loops over items of `itemSize` floats get at least about 16 K floats of
  /// work each (less is faster on one thread than the cost of waking another).
  static func grain(itemSize: Int) -> Int {
    max(1, (1 << 14) / max(1, itemSize))
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
