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
    var arg = [Int32](repeating: 0, count: planes * oh * ow)
    let y = Tensor(shape: [x.shape[0], x.shape[1], oh, ow]) { yp in
      x.data.withUnsafeBufferPointer { xp in
        arg.withUnsafeMutableBufferPointer { ap in
          for pl in 0..<planes {
            let src = xp.baseAddress! + pl * h * w
            let dst = yp.baseAddress! + pl * oh * ow
            let idx = ap.baseAddress! + pl * oh * ow
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
    var gradInput = Tensor(zeros: inputShape)
    gradInput.data.withUnsafeMutableBufferPointer { gp in
      gradOutput.data.withUnsafeBufferPointer { op in
        argmax.withUnsafeBufferPointer { ap in
          for pl in 0..<planes {
            let dst = gp.baseAddress! + pl * hw
            for o in (pl * outPlane)..<((pl + 1) * outPlane) { dst[Int(ap[o])] += op[o] }
          }
        }
      }
    }
    return gradInput
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
