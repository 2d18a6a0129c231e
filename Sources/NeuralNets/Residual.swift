import Tensors

/// The residual block of the CIFAR ResNets (He et al. 2016, §4.2):
///
///     out = ReLU(bn2(conv2(ReLU(bn1(conv1(x))))) + shortcut(x))
///
/// with 3x3 convolutions without bias (`conv1` carries the stride). When the shape changes
/// (stride ≠ 1 or `inPlanes ≠ planes`) the shortcut is either
/// - `.zeroPad` (option A of the paper, the common CIFAR ResNet-20 code): `x[:, :, ::s, ::s]`
///   padded with zero channels, `(planes − inPlanes)/2` before and the rest after; no parameters;
/// - `.projection` (option B): 1x1 convolution with the stride and BatchNorm, named
///   `<name>.shortcut.0` and `<name>.shortcut.1`.
/// Otherwise it is the identity. Names: `<name>.conv1`, `<name>.bn1`, `<name>.conv2`, `<name>.bn2`.
public final class BasicBlock: Module {
  public enum Shortcut: Sendable, Equatable {
    case zeroPad
    case projection
  }

  public let conv1: Conv2d
  public let bn1: BatchNorm2d
  public let conv2: Conv2d
  public let bn2: BatchNorm2d
  /// The projection shortcut (`.projection` with a shape change), else nil.
  public let shortcutConv: Conv2d?
  public let shortcutBN: BatchNorm2d?
  public let inPlanes: Int
  public let planes: Int
  public let stride: Int
  private let relu1 = ReLU()
  private let relu2 = ReLU()
  private var cachedInputShape: [Int]?

  /// Draws conv1, conv2 and then the shortcut convolution from `rng`.
  public init(
    inPlanes: Int, planes: Int, stride: Int = 1, shortcut: Shortcut = .zeroPad, name: String,
    rng: inout SeededRNG
  ) {
    precondition(planes >= inPlanes, "BasicBlock: planes \(planes) < inPlanes \(inPlanes)")
    self.inPlanes = inPlanes
    self.planes = planes
    self.stride = stride
    conv1 = Conv2d(
      inChannels: inPlanes, outChannels: planes, kernel: 3, stride: stride, padding: 1,
      bias: false, name: "\(name).conv1", rng: &rng)
    bn1 = BatchNorm2d(features: planes, name: "\(name).bn1")
    conv2 = Conv2d(
      inChannels: planes, outChannels: planes, kernel: 3, stride: 1, padding: 1, bias: false,
      name: "\(name).conv2", rng: &rng)
    bn2 = BatchNorm2d(features: planes, name: "\(name).bn2")
    if shortcut == .projection && (stride != 1 || inPlanes != planes) {
      shortcutConv = Conv2d(
        inChannels: inPlanes, outChannels: planes, kernel: 1, stride: stride, padding: 0,
        bias: false, name: "\(name).shortcut.0", rng: &rng)
      shortcutBN = BatchNorm2d(features: planes, name: "\(name).shortcut.1")
    } else {
      shortcutConv = nil
      shortcutBN = nil
    }
  }

  /// The convolutions in forward order (conv1, conv2, then the projection if any).
  public var convolutions: [Conv2d] { [conv1, conv2] + (shortcutConv.map { [$0] } ?? []) }

  public var parameters: [Parameter] {
    conv1.parameters + bn1.parameters + conv2.parameters + bn2.parameters
      + (shortcutConv?.parameters ?? []) + (shortcutBN?.parameters ?? [])
  }

  public var buffers: [Buffer] { bn1.buffers + bn2.buffers + (shortcutBN?.buffers ?? []) }

  public func forward(_ x: Tensor, training: Bool) -> Tensor {
    cachedInputShape = x.shape
    var h = conv1.forward(x, training: training)
    h = relu1.forward(bn1.forward(h, training: training), training: training)
    h = bn2.forward(conv2.forward(h, training: training), training: training)
    let s: Tensor
    if let shortcutConv, let shortcutBN {
      s = shortcutBN.forward(shortcutConv.forward(x, training: training), training: training)
    } else if stride != 1 || inPlanes != planes {
      s = padShortcut(x, outHeight: h.shape[2], outWidth: h.shape[3])
    } else {
      s = x
    }
    precondition(s.shape == h.shape, "BasicBlock: shortcut \(s.shape) vs main path \(h.shape)")
    h.data.withUnsafeMutableBufferPointer { hp in
      s.data.withUnsafeBufferPointer { sp in
        addInPlace(hp.baseAddress!, sp.baseAddress!, count: hp.count)
      }
    }
    return relu2.forward(h, training: training)
  }

  public func backward(_ gradOutput: Tensor) -> Tensor {
    guard let inputShape = cachedInputShape else {
      preconditionFailure("BasicBlock.backward called before forward")
    }
    let g = relu2.backward(gradOutput)
    var gx = conv1.backward(bn1.backward(relu1.backward(conv2.backward(bn2.backward(g)))))
    let gs: Tensor
    if let shortcutConv, let shortcutBN {
      gs = shortcutConv.backward(shortcutBN.backward(g))
    } else if stride != 1 || inPlanes != planes {
      gs = padShortcutBackward(g, inputShape: inputShape)
    } else {
      gs = g
    }
    gx.data.withUnsafeMutableBufferPointer { xp in
      gs.data.withUnsafeBufferPointer { sp in
        addInPlace(xp.baseAddress!, sp.baseAddress!, count: xp.count)
      }
    }
    return gx
  }

  private var padBefore: Int { (planes - inPlanes) / 2 }

  /// Option A: `y[n, c + padBefore, i, j] = x[n, c, i·s, j·s]`, zero elsewhere.
  private func padShortcut(_ x: Tensor, outHeight oh: Int, outWidth ow: Int) -> Tensor {
    let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
    var y = Tensor(zeros: [n, planes, oh, ow])
    let (s, inP, outP, before) = (stride, inPlanes, planes, padBefore)
    y.data.withUnsafeMutableBufferPointer { yp in
      x.data.withUnsafeBufferPointer { xp in
        for i in 0..<n {
          for c in 0..<inP {
            let src = xp.baseAddress! + (i * inP + c) * h * w
            let dst = yp.baseAddress! + (i * outP + c + before) * oh * ow
            for r in 0..<oh {
              for q in 0..<ow { dst[r * ow + q] = src[r * s * w + q * s] }
            }
          }
        }
      }
    }
    return y
  }

  private func padShortcutBackward(_ g: Tensor, inputShape: [Int]) -> Tensor {
    let (n, h, w) = (inputShape[0], inputShape[2], inputShape[3])
    let (oh, ow) = (g.shape[2], g.shape[3])
    var gx = Tensor(zeros: inputShape)
    let (s, inP, outP, before) = (stride, inPlanes, planes, padBefore)
    gx.data.withUnsafeMutableBufferPointer { xp in
      g.data.withUnsafeBufferPointer { gp in
        for i in 0..<n {
          for c in 0..<inP {
            let dst = xp.baseAddress! + (i * inP + c) * h * w
            let src = gp.baseAddress! + (i * outP + c + before) * oh * ow
            for r in 0..<oh {
              for q in 0..<ow { dst[r * s * w + q * s] = src[r * ow + q] }
            }
          }
        }
      }
    }
    return gx
  }
}
