import Tensors

/// Max pooling over `kernel x kernel` windows (`torch.nn.MaxPool2d`, padding 0, floor mode):
/// `[N, C, H, W]` → `[N, C, (H − k) / s + 1, (W − k) / s + 1]`. The gradient goes to the first
/// maximum of each window in row-major order (PyTorch's tie rule); a NaN in a window wins it.
public final class MaxPool2d: Module {
  public let kernel: Int
  public let stride: Int
  private var argmax: [Int32] = []
  private var cachedInputShape: [Int]?

  /// `stride` defaults to `kernel`, as in PyTorch.
  public init(kernel: Int, stride: Int? = nil) {
    precondition(kernel > 0 && (stride ?? 1) > 0, "MaxPool2d: kernel and stride must be positive")
    self.kernel = kernel
    self.stride = stride ?? kernel
  }

  public var parameters: [Parameter] { [] }

  public func forward(_ x: Tensor, training: Bool) -> Tensor {
    precondition(x.rank == 4, "MaxPool2d: input must be [N, C, H, W], got \(x.shape)")
    let (planes, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
    precondition(h >= kernel && w >= kernel, "MaxPool2d: kernel \(kernel) larger than \(h)x\(w)")
    let oh = (h - kernel) / stride + 1
    let ow = (w - kernel) / stride + 1
    let k = kernel
    let s = stride
    cachedInputShape = x.shape
    precondition(h * w <= Int(Int32.max), "MaxPool2d: plane too large")
    // The argmax buffer is private, so it is reused in place (every entry is written).
    var arg: [Int32] = []
    swap(&arg, &argmax)
    if arg.count != planes * oh * ow { arg = [Int32](repeating: 0, count: planes * oh * ow) }
    let y = Tensor(shape: [x.shape[0], x.shape[1], oh, ow]) { yp in
      x.data.withUnsafeBufferPointer { xp in
        arg.withUnsafeMutableBufferPointer { ap in
          let (xb, yb, ab) = (xp.baseAddress!, yp.baseAddress!, ap.baseAddress!)
          Parallel.forEach(planes, grain: Conv2d.grain(itemSize: h * w)) { pl in
            let src = xb + pl * h * w
            let dst = yb + pl * oh * ow
            let idx = ab + pl * oh * ow
            if k == 2 && s == 2 {
              Self.pool2x2(src, width: w, outHeight: oh, outWidth: ow, into: dst, argmax: idx)
              return
            }
            for oy in 0..<oh {
              for ox in 0..<ow {
                var best = (oy * s) * w + ox * s
                var bestValue = src[best]
                for i in 0..<k {
                  let rowStart = (oy * s + i) * w + ox * s
                  for j in 0..<k {
                    let v = src[rowStart + j]
                    // Strictly greater keeps the first maximum; NaN propagates like PyTorch.
                    if v > bestValue || v.isNaN && !bestValue.isNaN {
                      bestValue = v
                      best = rowStart + j
                    }
                  }
                }
                dst[oy * ow + ox] = bestValue
                idx[oy * ow + ox] = Int32(best)
              }
            }
          }
        }
      }
    }
    argmax = arg
    return y
  }

  /// The 2x2, stride-2 case of `forward` for one plane, unrolled (the same tie and NaN rules:
  /// the window is scanned in row-major order, a strictly greater value or the first NaN wins).
  @inline(__always)
  static func pool2x2(
    _ src: UnsafePointer<Float>, width w: Int, outHeight oh: Int, outWidth ow: Int,
    into dst: UnsafeMutablePointer<Float>, argmax idx: UnsafeMutablePointer<Int32>
  ) {
    @inline(__always) func wins(_ v: Float, over best: Float) -> Bool {
      v > best || (v.isNaN && !best.isNaN)
    }
    // Lane j of a vector handles output column ox + j: branch-free selects (the position of the
    // maximum is random, so branches would mispredict about once per window).
    let lane = SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14)
    let lane4 = SIMD4<Int32>(0, 2, 4, 6)
    let width = Int32(truncatingIfNeeded: w)
    for oy in 0..<oh {
      let top = 2 &* oy &* w
      let r0 = src + top
      let r1 = r0 + w
      let d = dst + oy &* ow
      let a = idx + oy &* ow
      // Vectors of 8 (or 4) windows; a last partial vector is recomputed overlapping the one
      // before it (same values), so only maps narrower than 4 windows take the scalar loop.
      @inline(__always) func eight(at ox: Int) {
        let c = 2 &* ox
        let row0 = UnsafeRawPointer(r0 + c).loadUnaligned(as: SIMD16<Float>.self)
        let row1 = UnsafeRawPointer(r1 + c).loadUnaligned(as: SIMD16<Float>.self)
        var best = row0.evenHalf
        var offset = SIMD8<Int32>(repeating: 0)
        @inline(__always) func take(_ v: SIMD8<Float>, _ o: Int32) {
          let m = (v .> best) .| ((v .!= v) .& (best .== best))
          best.replace(with: v, where: m)
          offset.replace(with: o, where: m)
        }
        take(row0.oddHalf, 1)
        take(row1.evenHalf, width)
        take(row1.oddHalf, width &+ 1)
        UnsafeMutableRawPointer(d + ox).storeBytes(of: best, as: SIMD8<Float>.self)
        let at = SIMD8<Int32>(repeating: Int32(truncatingIfNeeded: top &+ c)) &+ lane &+ offset
        UnsafeMutableRawPointer(a + ox).storeBytes(of: at, as: SIMD8<Int32>.self)
      }
      @inline(__always) func four(at ox: Int) {
        let c = 2 &* ox
        let row0 = UnsafeRawPointer(r0 + c).loadUnaligned(as: SIMD8<Float>.self)
        let row1 = UnsafeRawPointer(r1 + c).loadUnaligned(as: SIMD8<Float>.self)
        var best = row0.evenHalf
        var offset = SIMD4<Int32>(repeating: 0)
        @inline(__always) func take(_ v: SIMD4<Float>, _ o: Int32) {
          let m = (v .> best) .| ((v .!= v) .& (best .== best))
          best.replace(with: v, where: m)
          offset.replace(with: o, where: m)
        }
        take(row0.oddHalf, 1)
        take(row1.evenHalf, width)
        take(row1.oddHalf, width &+ 1)
        UnsafeMutableRawPointer(d + ox).storeBytes(of: best, as: SIMD4<Float>.self)
        let at =
          SIMD4<Int32>(repeating: Int32(truncatingIfNeeded: top &+ c)) &+ lane4 &+ offset
        UnsafeMutableRawPointer(a + ox).storeBytes(of: at, as: SIMD4<Int32>.self)
      }
      if ow >= 8 {
        var ox = 0
        while ox &+ 8 <= ow {
          eight(at: ox)
          ox &+= 8
        }
        if ox < ow { eight(at: ow &- 8) }
        continue
      }
      if ow >= 4 {
        four(at: 0)
        if ow > 4 { four(at: ow &- 4) }
        continue
      }
      var ox = 0
      while ox < ow {
        let c = 2 &* ox
        var best = r0[c]
        var at = top &+ c
        let v1 = r0[c &+ 1]
        if wins(v1, over: best) {
          best = v1
          at = top &+ c &+ 1
        }
        let v2 = r1[c]
        if wins(v2, over: best) {
          best = v2
          at = top &+ w &+ c
        }
        let v3 = r1[c &+ 1]
        if wins(v3, over: best) {
          best = v3
          at = top &+ w &+ c &+ 1
        }
        d[ox] = best
        a[ox] = Int32(truncatingIfNeeded: at)
        ox &+= 1
      }
    }
  }

  public func backward(_ gradOutput: Tensor) -> Tensor {
    guard let inputShape = cachedInputShape else {
      preconditionFailure("MaxPool2d.backward called before forward")
    }
    let planes = inputShape[0] * inputShape[1]
    let hw = inputShape[2] * inputShape[3]
    let outPlane = gradOutput.count / max(planes, 1)
    precondition(
      gradOutput.rank == 4 && Array(gradOutput.shape[0..<2]) == Array(inputShape[0..<2])
        && gradOutput.count == argmax.count,
      "MaxPool2d.backward: gradOutput shape \(gradOutput.shape) does not match the last forward")
    let (h, w) = (inputShape[2], inputShape[3])
    let disjoint = kernel == 2 && stride == 2
    // Per plane: zero the plane's gradient, then add each output's gradient at its argmax; for
    // 2x2 windows, which do not overlap, each window's four gradients are written in one pass.
    return Tensor(shape: inputShape) { gp in
      gradOutput.data.withUnsafeBufferPointer { op in
        argmax.withUnsafeBufferPointer { ap in
          let (gb, ob, ab) = (gp.baseAddress!, op.baseAddress!, ap.baseAddress!)
          Parallel.forEach(planes, grain: Conv2d.grain(itemSize: hw)) { pl in
            let dst = gb + pl * hw
            if disjoint {
              Self.unpool2x2(
                ob + pl * outPlane, argmax: ab + pl * outPlane, height: h, width: w, into: dst)
              return
            }
            Vectorized.zero(dst, count: hw)
            for o in (pl * outPlane)..<((pl + 1) * outPlane) { dst[Int(ab[o])] += ob[o] }
          }
        }
      }
    }
  }

  /// The 2x2, stride-2 case of `backward` for one plane: every input pixel is written once,
  /// with its window's gradient where the window's maximum was and 0 elsewhere (the last row
  /// and column of an odd-sized plane belong to no window).
  @inline(__always)
  static func unpool2x2(
    _ grad: UnsafePointer<Float>, argmax idx: UnsafePointer<Int32>, height h: Int, width w: Int,
    into dst: UnsafeMutablePointer<Float>
  ) {
    let (oh, ow) = (h / 2, w / 2)
    let width = Int32(truncatingIfNeeded: w)
    let lane = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
    for oy in 0..<oh {
      let top = 2 &* oy &* w
      let (r0, r1) = (dst + top, dst + (top &+ w))
      let (g, a) = (grad + oy &* ow, idx + oy &* ow)
      // Four windows at a time, without branches (the argmax positions are data, so branches on
      // them mispredicted about once a window): each gradient and argmax is duplicated into the
      // two pixels of its window's row, and a pixel takes the gradient where it is the argmax.
      @inline(__always) func four(at ox: Int) {
        let v = UnsafeRawPointer(g + ox).loadUnaligned(as: SIMD4<Float>.self)
        let i = UnsafeRawPointer(a + ox).loadUnaligned(as: SIMD4<Int32>.self)
        let v8 = SIMD8(v[0], v[0], v[1], v[1], v[2], v[2], v[3], v[3])
        let i8 = SIMD8(i[0], i[0], i[1], i[1], i[2], i[2], i[3], i[3])
        let at = SIMD8<Int32>(repeating: Int32(truncatingIfNeeded: top &+ 2 &* ox)) &+ lane
        let zero = SIMD8<Float>()
        UnsafeMutableRawPointer(r0 + 2 &* ox).storeBytes(
          of: zero.replacing(with: v8, where: i8 .== at), as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(r1 + 2 &* ox).storeBytes(
          of: zero.replacing(with: v8, where: i8 .== at &+ width), as: SIMD8<Float>.self)
      }
      var ox = 0
      if ow >= 4 {
        while ox &+ 4 <= ow {
          four(at: ox)
          ox &+= 4
        }
        // The last windows overlap the previous four, which writes the same values again.
        if ox < ow { four(at: ow &- 4) }
        ox = ow
      }
      while ox < ow {
        let c = 2 &* ox
        let v = g[ox]
        let offset = a[ox] &- Int32(truncatingIfNeeded: top &+ c)
        r0[c] = offset == 0 ? v : 0
        r0[c &+ 1] = offset == 1 ? v : 0
        r1[c] = offset == width ? v : 0
        r1[c &+ 1] = offset == width &+ 1 ? v : 0
        ox &+= 1
      }
      if w & 1 == 1 {
        r0[w &- 1] = 0
        r1[w &- 1] = 0
      }
    }
    if h & 1 == 1 { Vectorized.zero(dst + (h &- 1) &* w, count: w) }
  }
}

/// Average pooling over `kernel x kernel` windows (`torch.nn.AvgPool2d`, padding 0, floor mode):
/// each output is the mean of its window, and each window entry receives `gradOut / k²`.
public final class AvgPool2d: Module {
  public let kernel: Int
  public let stride: Int
  private var cachedInputShape: [Int]?

  /// `stride` defaults to `kernel`, as in PyTorch.
  public init(kernel: Int, stride: Int? = nil) {
    precondition(kernel > 0 && (stride ?? 1) > 0, "AvgPool2d: kernel and stride must be positive")
    self.kernel = kernel
    self.stride = stride ?? kernel
  }

  public var parameters: [Parameter] { [] }

  public func forward(_ x: Tensor, training: Bool) -> Tensor {
    precondition(x.rank == 4, "AvgPool2d: input must be [N, C, H, W], got \(x.shape)")
    let (planes, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
    precondition(h >= kernel && w >= kernel, "AvgPool2d: kernel \(kernel) larger than \(h)x\(w)")
    let oh = (h - kernel) / stride + 1
    let ow = (w - kernel) / stride + 1
    let k = kernel
    let s = stride
    let scale = 1 / Float(k * k)
    cachedInputShape = x.shape
    return Tensor(shape: [x.shape[0], x.shape[1], oh, ow]) { yp in
      x.data.withUnsafeBufferPointer { xp in
        for pl in 0..<planes {
          let src = xp.baseAddress! + pl * h * w
          let dst = yp.baseAddress! + pl * oh * ow
          for oy in 0..<oh {
            for ox in 0..<ow {
              var sum: Float = 0
              for i in 0..<k {
                let row = src + (oy * s + i) * w + ox * s
                for j in 0..<k { sum += row[j] }
              }
              dst[oy * ow + ox] = sum * scale
            }
          }
        }
      }
    }
  }

  public func backward(_ gradOutput: Tensor) -> Tensor {
    guard let inputShape = cachedInputShape else {
      preconditionFailure("AvgPool2d.backward called before forward")
    }
    let (planes, h, w) = (inputShape[0] * inputShape[1], inputShape[2], inputShape[3])
    let oh = (h - kernel) / stride + 1
    let ow = (w - kernel) / stride + 1
    precondition(
      gradOutput.shape == [inputShape[0], inputShape[1], oh, ow],
      "AvgPool2d.backward: gradOutput shape \(gradOutput.shape), expected \([inputShape[0], inputShape[1], oh, ow])"
    )
    let k = kernel
    let s = stride
    let scale = 1 / Float(k * k)
    var gradInput = Tensor(zeros: inputShape)
    gradInput.data.withUnsafeMutableBufferPointer { gp in
      gradOutput.data.withUnsafeBufferPointer { op in
        for pl in 0..<planes {
          let dst = gp.baseAddress! + pl * h * w
          let src = op.baseAddress! + pl * oh * ow
          for oy in 0..<oh {
            for ox in 0..<ow {
              let g = src[oy * ow + ox] * scale
              for i in 0..<k {
                let row = dst + (oy * s + i) * w + ox * s
                for j in 0..<k { row[j] += g }
              }
            }
          }
        }
      }
    }
    return gradInput
  }
}

/// Adaptive average pooling to a fixed `outputSize x outputSize` (`torch.nn.AdaptiveAvgPool2d`):
/// output cell `(i, j)` averages rows `⌊i·H/o⌋ ..< ⌈(i+1)·H/o⌉` and the columns likewise.
/// `AdaptiveAvgPool2d(outputSize: 1)` is global average pooling, `[N, C, H, W]` → `[N, C, 1, 1]`.
public final class AdaptiveAvgPool2d: Module {
  public let outputSize: Int
  private var cachedInputShape: [Int]?

  public init(outputSize: Int = 1) {
    precondition(outputSize > 0, "AdaptiveAvgPool2d: output size must be positive")
    self.outputSize = outputSize
  }

  public var parameters: [Parameter] { [] }

  /// The input range of output index `i` along an axis of `extent` (PyTorch's start/end index).
  static func window(_ i: Int, extent: Int, out: Int) -> Range<Int> {
    (i * extent / out)..<(((i + 1) * extent + out - 1) / out)
  }

  public func forward(_ x: Tensor, training: Bool) -> Tensor {
    precondition(x.rank == 4, "AdaptiveAvgPool2d: input must be [N, C, H, W], got \(x.shape)")
    let (planes, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
    let o = outputSize
    cachedInputShape = x.shape
    return Tensor(shape: [x.shape[0], x.shape[1], o, o]) { yp in
      x.data.withUnsafeBufferPointer { xp in
        for pl in 0..<planes {
          let src = xp.baseAddress! + pl * h * w
          for oy in 0..<o {
            let rows = Self.window(oy, extent: h, out: o)
            for ox in 0..<o {
              let cols = Self.window(ox, extent: w, out: o)
              var sum: Float = 0
              for r in rows {
                for c in cols { sum += src[r * w + c] }
              }
              yp[(pl * o + oy) * o + ox] = sum / Float(rows.count * cols.count)
            }
          }
        }
      }
    }
  }

  public func backward(_ gradOutput: Tensor) -> Tensor {
    guard let inputShape = cachedInputShape else {
      preconditionFailure("AdaptiveAvgPool2d.backward called before forward")
    }
    let (planes, h, w) = (inputShape[0] * inputShape[1], inputShape[2], inputShape[3])
    let o = outputSize
    precondition(
      gradOutput.shape == [inputShape[0], inputShape[1], o, o],
      "AdaptiveAvgPool2d.backward: gradOutput shape \(gradOutput.shape)")
    var gradInput = Tensor(zeros: inputShape)
    gradInput.data.withUnsafeMutableBufferPointer { gp in
      for pl in 0..<planes {
        let dst = gp.baseAddress! + pl * h * w
        for oy in 0..<o {
          let rows = Self.window(oy, extent: h, out: o)
          for ox in 0..<o {
            let cols = Self.window(ox, extent: w, out: o)
            let g = gradOutput.data[(pl * o + oy) * o + ox] / Float(rows.count * cols.count)
            for r in rows {
              for c in cols { dst[r * w + c] += g }
            }
          }
        }
      }
    }
    return gradInput
  }
}

/// `[N, d1, d2, …]` → `[N, d1·d2·…]` (`torch.nn.Flatten()`, start_dim 1); backward restores the
/// shape. The memory is unchanged (NCHW flattens to C-major features, as in PyTorch).
public final class Flatten: Module {
  private var cachedInputShape: [Int]?

  public init() {}

  public var parameters: [Parameter] { [] }

  public func forward(_ x: Tensor, training: Bool) -> Tensor {
    precondition(x.rank >= 1, "Flatten: input needs a batch dimension")
    cachedInputShape = x.shape
    let n = x.shape[0]
    return x.reshaped([n, Tensor.elementCount(Array(x.shape.dropFirst()))])
  }

  public func backward(_ gradOutput: Tensor) -> Tensor {
    guard let inputShape = cachedInputShape else {
      preconditionFailure("Flatten.backward called before forward")
    }
    precondition(
      gradOutput.count == Tensor.elementCount(inputShape),
      "Flatten.backward: \(gradOutput.count) elements for input shape \(inputShape)")
    return gradOutput.reshaped(inputShape)
  }
}
