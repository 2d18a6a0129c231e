import Tensors

extension GEMMWeight {
  /// The GEMM view `[Cout, Cin·kh·kw]` of a convolution's weight, named like its parameter
  /// without `.weight`.
  public init(conv: Conv2d) {
    self.init(
      name: gemmName(conv.weight), parameter: conv.weight, rows: conv.outChannels,
      cols: conv.fanIn)
    positions = { [conv] in conv.lastOutputPositions }
  }

  /// The `[out, in]` weight of a fully connected layer, named like its parameter without `.weight`
  /// (or `name`).
  public init(linear: Linear, name: String? = nil) {
    self.init(
      name: name ?? gemmName(linear.weight), parameter: linear.weight, rows: linear.outFeatures,
      cols: linear.inFeatures)
    positions = { 1 }
  }
}

private func gemmName(_ p: Parameter) -> String {
  p.name.hasSuffix(".weight") ? String(p.name.dropLast(".weight".count)) : p.name
}

/// Every Conv2d and Linear weight inside `modules`, in forward order (descending into
/// `Sequential` and `BasicBlock`).
func collectGEMMWeights(_ modules: [any Module]) -> [GEMMWeight] {
  modules.flatMap { m -> [GEMMWeight] in
    switch m {
    case let conv as Conv2d: return [GEMMWeight(conv: conv)]
    case let linear as Linear: return [GEMMWeight(linear: linear)]
    case let seq as Sequential: return collectGEMMWeights(seq.modules)
    case let block as BasicBlock: return block.convolutions.map { GEMMWeight(conv: $0) }
    default: return []
    }
  }
}

/// `layers` with every ReLU that is directly followed by a 2-D max pool moved after it. The two
/// commute — max(0, max over a window) = max over the window of max(0, ·), and the gradient
/// reaches the same input element (the window's arg-max, when the max is positive; none when it
/// is not) — so the network computes the same function and gradients, with the ReLU's two passes
/// over a quarter of the elements (2x2 pools). The layer indices, and so the checkpoint names, do
/// not change (ReLU and pooling have no parameters).
func poolThenReLU(_ layers: [any Module]) -> [any Module] {
  var out = layers
  var i = 0
  while i + 1 < out.count {
    if out[i] is ReLU, out[i + 1] is MaxPool2d {
      out.swapAt(i, i + 1)
      i += 2
    } else {
      i += 1
    }
  }
  return out
}

/// Channel count `c · widthMultiplier`, rounded, at least 1.
func scaledWidth(_ c: Int, _ widthMultiplier: Double) -> Int {
  max(1, Int((Double(c) * widthMultiplier).rounded()))
}

/// LeNet-5 for `[N, 1, 28, 28]` input (the MNIST variant: the first convolution pads by 2 so
/// 28x28 plays the role of the original 32x32), with ReLU and max pooling:
///
///     features.0  Conv2d(1, 6, 5, padding 2)   features.1 ReLU   features.2 MaxPool2d(2)
///     features.3  Conv2d(6, 16, 5)             features.4 ReLU   features.5 MaxPool2d(2)
///
/// Each ReLU runs after its pool (`poolThenReLU`): max pooling and ReLU commute, so the values
/// and gradients are those of the order above, with the ReLU on a quarter of the elements.
///     (flatten 16·5·5 = 400)
///     classifier.0 Linear(400, 120)  classifier.1 ReLU  classifier.2 Linear(120, 84)
///     classifier.3 ReLU              classifier.4 Linear(84, classes)
///
/// The indices are those of an `nn.Sequential` named `features` / `classifier` (torchvision
/// style), so the checkpoint names are `features.0.weight`, …, `classifier.4.bias`.
public final class LeNet5: Network {
  public let features: Sequential
  public let classifier: Sequential
  private let flatten = Flatten()

  /// Initialises every layer from one `SeededRNG(seed:)` in forward order (PyTorch's default
  /// init per layer).
  public init(inputChannels: Int = 1, classes: Int = 10, seed: UInt64) {
    var rng = SeededRNG(seed: seed)
    let conv1 = Conv2d(
      inChannels: inputChannels, outChannels: 6, kernel: 5, padding: 2, name: "features.0",
      rng: &rng)
    conv1.computesInputGradient = false
    features = Sequential(
      poolThenReLU([
        conv1, ReLU(), MaxPool2d(kernel: 2),
        Conv2d(inChannels: 6, outChannels: 16, kernel: 5, name: "features.3", rng: &rng),
        ReLU(), MaxPool2d(kernel: 2),
      ]))
    classifier = Sequential([
      Linear(inFeatures: 400, outFeatures: 120, name: "classifier.0", rng: &rng), ReLU(),
      Linear(inFeatures: 120, outFeatures: 84, name: "classifier.2", rng: &rng), ReLU(),
      Linear(inFeatures: 84, outFeatures: classes, name: "classifier.4", rng: &rng),
    ])
  }

  public var parameters: [Parameter] { features.parameters + classifier.parameters }
  public var buffers: [Buffer] { features.buffers + classifier.buffers }
  public var gemmWeights: [GEMMWeight] { collectGEMMWeights([features, classifier]) }

  public func forward(_ x: Tensor, training: Bool) -> Tensor {
    classifier.forward(
      flatten.forward(features.forward(x, training: training), training: training),
      training: training)
  }

  public func backward(_ gradOutput: Tensor) -> Tensor {
    features.backward(flatten.backward(classifier.backward(gradOutput)))
  }
}

/// VGG for 32x32 input (CIFAR style): `features` is torchvision's `make_layers` — each
/// convolution is 3x3 with padding 1 (with bias), followed by BatchNorm2d (when `batchNorm`)
/// and ReLU, and each "M" is MaxPool2d(2) — so after five pools the map is 1x1 and the
/// classifier sees `c = 512·widthMultiplier` features:
///
///     classifier.0 Dropout  classifier.1 Linear(c, c)  classifier.2 ReLU
///     classifier.3 Dropout  classifier.4 Linear(c, c)  classifier.5 ReLU
///     classifier.6 Linear(c, classes)
///
/// (the classifier of the common CIFAR-10 VGG code, hidden width scaled with the network). A
/// ReLU followed by a pool runs after it (`poolThenReLU`: the same values and gradients).
/// Layer indices follow `nn.Sequential`, e.g. VGG-11 with BN: `features.0` conv, `features.1`
/// BN, `features.2` ReLU, `features.3` pool, `features.4` conv, …
public final class VGG: Network {
  public enum Layout: String, Sendable, CaseIterable {
    case vgg11
    case vgg16

    /// Output channels of each convolution, `nil` = max pool (torchvision's configs "A", "D").
    public var configuration: [Int?] {
      switch self {
      case .vgg11: return [64, nil, 128, nil, 256, 256, nil, 512, 512, nil, 512, 512, nil]
      case .vgg16:
        return [
          64, 64, nil, 128, 128, nil, 256, 256, 256, nil, 512, 512, 512, nil, 512, 512, 512, nil,
        ]
      }
    }
  }

  public let layout: Layout
  public let features: Sequential
  public let classifier: Sequential
  private let flatten = Flatten()

  /// Channel counts are `round(c · widthMultiplier)` (at least 1). Weights are drawn from one
  /// `SeededRNG(seed:)` in forward order; the two dropout layers are then seeded from it.
  public init(
    layout: Layout, widthMultiplier: Double = 1, inputChannels: Int = 3, classes: Int = 10,
    batchNorm: Bool = true, dropout: Float = 0.5, seed: UInt64
  ) {
    precondition(widthMultiplier > 0, "VGG: widthMultiplier must be positive")
    self.layout = layout
    var rng = SeededRNG(seed: seed)
    var layers: [any Module] = []
    var channels = inputChannels
    for entry in layout.configuration {
      guard let width = entry else {
        layers.append(MaxPool2d(kernel: 2))
        continue
      }
      let out = scaledWidth(width, widthMultiplier)
      let conv = Conv2d(
        inChannels: channels, outChannels: out, kernel: 3, padding: 1,
        name: "features.\(layers.count)", rng: &rng)
      if layers.isEmpty { conv.computesInputGradient = false }
      layers.append(conv)
      if batchNorm { layers.append(BatchNorm2d(features: out, name: "features.\(layers.count)")) }
      layers.append(ReLU())
      channels = out
    }
    features = Sequential(poolThenReLU(layers))
    let c = channels
    let fc1 = Linear(inFeatures: c, outFeatures: c, name: "classifier.1", rng: &rng)
    let fc2 = Linear(inFeatures: c, outFeatures: c, name: "classifier.4", rng: &rng)
    let fc3 = Linear(inFeatures: c, outFeatures: classes, name: "classifier.6", rng: &rng)
    let seed1 = rng.next()
    let seed2 = rng.next()
    classifier = Sequential([
      Dropout(p: dropout, seed: seed1), fc1, ReLU(), Dropout(p: dropout, seed: seed2), fc2, ReLU(),
      fc3,
    ])
  }

  public var parameters: [Parameter] { features.parameters + classifier.parameters }
  public var buffers: [Buffer] { features.buffers + classifier.buffers }
  public var gemmWeights: [GEMMWeight] { collectGEMMWeights([features, classifier]) }

  public func forward(_ x: Tensor, training: Bool) -> Tensor {
    precondition(
      x.rank == 4 && x.shape[2] == 32 && x.shape[3] == 32,
      "VGG: input must be [N, C, 32, 32], got \(x.shape)")
    return classifier.forward(
      flatten.forward(features.forward(x, training: training), training: training),
      training: training)
  }

  public func backward(_ gradOutput: Tensor) -> Tensor {
    features.backward(flatten.backward(classifier.backward(gradOutput)))
  }
}

/// ResNet-20 for CIFAR (He et al. 2016, §4.2): `conv1` 3x3 (no bias) → `bn1` → ReLU → three
/// stages `layer1`…`layer3` of three `BasicBlock`s with `16, 32, 64` × widthMultiplier channels
/// (the first block of stages 2 and 3 has stride 2) → global average pool → `fc`. Checkpoint
/// names: `conv1.weight`, `bn1.running_mean`, `layer2.0.conv1.weight`, `layer2.0.bn2.bias`,
/// (`layer2.0.shortcut.0.weight` with `.projection`), `fc.weight`, … as in the common PyTorch
/// CIFAR ResNet code. The shortcut defaults to option A (`.zeroPad`), as in the paper on CIFAR.
/// Layers use PyTorch's default initialisation (that code re-initialises with kaiming-normal).
public final class ResNet20: Network {
  public let conv1: Conv2d
  public let bn1: BatchNorm2d
  public let stages: [Sequential]
  public let fc: Linear
  private let relu = ReLU()
  private let pool = AdaptiveAvgPool2d(outputSize: 1)
  private let flatten = Flatten()

  /// Weights are drawn from one `SeededRNG(seed:)` in forward order.
  public init(
    widthMultiplier: Double = 1, inputChannels: Int = 3, classes: Int = 10,
    shortcut: BasicBlock.Shortcut = .zeroPad, seed: UInt64
  ) {
    precondition(widthMultiplier > 0, "ResNet20: widthMultiplier must be positive")
    var rng = SeededRNG(seed: seed)
    let widths = [16, 32, 64].map { scaledWidth($0, widthMultiplier) }
    conv1 = Conv2d(
      inChannels: inputChannels, outChannels: widths[0], kernel: 3, padding: 1, bias: false,
      name: "conv1", rng: &rng)
    conv1.computesInputGradient = false
    bn1 = BatchNorm2d(features: widths[0], name: "bn1")
    var inPlanes = widths[0]
    var stages: [Sequential] = []
    for (s, planes) in widths.enumerated() {
      var blocks: [any Module] = []
      for b in 0..<3 {
        blocks.append(
          BasicBlock(
            inPlanes: inPlanes, planes: planes, stride: (s > 0 && b == 0) ? 2 : 1,
            shortcut: shortcut, name: "layer\(s + 1).\(b)", rng: &rng))
        inPlanes = planes
      }
      stages.append(Sequential(blocks))
    }
    self.stages = stages
    fc = Linear(inFeatures: inPlanes, outFeatures: classes, name: "fc", rng: &rng)
  }

  public var parameters: [Parameter] {
    conv1.parameters + bn1.parameters + stages.flatMap(\.parameters) + fc.parameters
  }
  public var buffers: [Buffer] { bn1.buffers + stages.flatMap(\.buffers) }
  public var gemmWeights: [GEMMWeight] { collectGEMMWeights([conv1] + stages + [fc]) }

  public func forward(_ x: Tensor, training: Bool) -> Tensor {
    var h = relu.forward(
      bn1.forward(conv1.forward(x, training: training), training: training), training: training)
    for stage in stages { h = stage.forward(h, training: training) }
    return fc.forward(
      flatten.forward(pool.forward(h, training: training), training: training), training: training)
  }

  public func backward(_ gradOutput: Tensor) -> Tensor {
    var g = pool.backward(flatten.backward(fc.backward(gradOutput)))
    for stage in stages.reversed() { g = stage.backward(g) }
    return conv1.backward(bn1.backward(relu.backward(g)))
  }
}
