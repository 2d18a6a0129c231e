import Tensors

/// Multi-layer perceptron `Linear → ReLU → … → Linear` (no ReLU after the last layer), e.g.
/// LeNet-300-100 = `MLP(sizes: [784, 300, 100, 10], seed:)`. Layers are named `fc1`, `fc2`, …
/// so parameters are `fc1.weight`, `fc1.bias`, … as in PyTorch.
public final class MLP: Module {
  public let sizes: [Int]
  /// The Linear layers in order with their names (`fc1`, `fc2`, …).
  public let linearLayers: [(name: String, layer: Linear)]
  private let body: Sequential

  /// Initialises every layer from one `SeededRNG(seed:)`, fc1 first.
  public init(sizes: [Int], seed: UInt64) {
    precondition(sizes.count >= 2, "MLP: need at least input and output sizes, got \(sizes)")
    self.sizes = sizes
    var rng = SeededRNG(seed: seed)
    var linears: [(name: String, layer: Linear)] = []
    var modules: [any Module] = []
    for i in 0..<(sizes.count - 1) {
      let name = "fc\(i + 1)"
      let layer = Linear(inFeatures: sizes[i], outFeatures: sizes[i + 1], name: name, rng: &rng)
      linears.append((name: name, layer: layer))
      modules.append(layer)
      if i < sizes.count - 2 { modules.append(ReLU()) }
    }
    self.linearLayers = linears
    self.body = Sequential(modules)
  }

  public var parameters: [Parameter] { body.parameters }

  public func forward(_ x: Tensor, training: Bool) -> Tensor {
    body.forward(x, training: training)
  }

  public func backward(_ gradOutput: Tensor) -> Tensor {
    body.backward(gradOutput)
  }
}

extension Module {
  /// All parameter values by name, in parameter order, then the buffers (BatchNorm running
  /// statistics) in module order (for `Safetensors.write`).
  public func stateTensors() -> [(name: String, tensor: Tensor)] {
    parameters.map { (name: $0.name, tensor: $0.value) }
      + buffers.map { (name: $0.name, tensor: $0.value) }
  }

  /// Copies values from `tensors` into the parameters and buffers of the same name (shapes must
  /// agree). Extra tensors are ignored; masks and gradients are left alone.
  public func loadState(_ tensors: [String: Tensor]) throws(CheckpointError) {
    let params = parameters
    let bufs = buffers
    let targets = params.map { ($0.name, $0.value.shape) } + bufs.map { ($0.name, $0.value.shape) }
    for (name, shape) in targets {
      guard let t = tensors[name] else { throw .missingTensor(name: name) }
      guard t.shape == shape else {
        throw .shapeMismatch(name: name, expected: shape, found: t.shape)
      }
    }
    for p in params { p.value = tensors[p.name]! }
    for b in bufs { b.value = tensors[b.name]! }
  }
}
