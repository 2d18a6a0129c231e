import Testing

@testable import NeuralNets
@testable import Tensors

@Suite struct LayerTests {
  @Test func mlpNamesShapesAndInit() {
    let model = MLP(sizes: [784, 300, 100, 10], seed: 1)
    #expect(
      model.parameters.map(\.name) == [
        "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias",
      ])
    #expect(model.linearLayers.map(\.name) == ["fc1", "fc2", "fc3"])
    #expect(model.linearLayers[0].layer.weight.shape == [300, 784])
    #expect(model.linearLayers[2].layer.bias.shape == [10])
    #expect(model.parameterCount == 784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10)
    for (_, layer) in model.linearLayers {
      let bound = 1 / Float(layer.inFeatures).squareRoot()
      for p in layer.parameters {
        #expect(p.value.data.allSatisfy { abs($0) <= bound })
        // Uniform on (−bound, bound): the spread nearly fills the interval.
        #expect(p.value.data.max()! > 0.8 * bound && p.value.data.min()! < -0.8 * bound)
      }
    }
    let again = MLP(sizes: [784, 300, 100, 10], seed: 1)
    let other = MLP(sizes: [784, 300, 100, 10], seed: 2)
    #expect(again.parameters.map(\.value) == model.parameters.map(\.value))
    #expect(other.parameters[0].value != model.parameters[0].value)
    let y = model.forward(Tensor(zeros: [3, 784]), training: false)
    #expect(y.shape == [3, 10])
    // Zero input: the logits are the network's response to biases only, identical per row.
    #expect(Array(y.data[0..<10]) == Array(y.data[10..<20]))
  }

  @Test func linearForwardIsXTimesWTransposedPlusBias() {
    var rng = SeededRNG(seed: 4)
    let layer = Linear(inFeatures: 3, outFeatures: 2, name: "fc", rng: &rng)
    layer.weight.value = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
    layer.bias.value = Tensor(shape: [2], data: [0.5, -1])
    let y = layer.forward(Tensor(shape: [2, 3], data: [1, 0, -1, 2, 1, 0]), training: true)
    // Row 1: [1+0-3+0.5, 4+0-6-1]; row 2: [2+2+0+0.5, 8+5+0-1].
    let expected: [Float] = [-1.5, -3, 4.5, 12]
    #expect(y.data == expected)
    #expect(layer.weight.name == "fc.weight")
  }

  @Test func reluForwardBackward() {
    let relu = ReLU()
    let y = relu.forward(Tensor(shape: [1, 4], data: [-1, 0, 2, -0.5]), training: true)
    #expect(y.data == [0, 0, 2, 0])
    #expect(relu.backward(Tensor(shape: [1, 4], data: [1, 1, 1, 1])).data == [0, 0, 1, 0])
  }
}

@Suite struct LossTests {
  /// logits [1, 2, 3], label 2: loss = log(e¹ + e² + e³) − 3 = log(1 + e⁻¹ + e⁻²) = 0.4076059645;
  /// softmax = [0.0900305732, 0.2447284711, 0.6652409558].
  @Test func handComputedCase() {
    let (loss, grad) = softmaxCrossEntropy(
      logits: Tensor(shape: [1, 3], data: [1, 2, 3]), labels: [2])
    #expect(abs(loss - 0.4076059645) < 1e-6)
    let expected: [Float] = [0.0900305732, 0.2447284711, 0.6652409558 - 1]
    for i in 0..<3 { #expect(abs(grad.data[i] - expected[i]) < 1e-6) }
  }

  /// Two rows: the loss is the mean and each row's gradient is divided by N = 2.
  /// Row 2 (logits [0, 0, 0], label 0): loss log 3 = 1.0986122887, softmax 1/3 each.
  @Test func batchMeanAndStability() {
    let logits = Tensor(shape: [2, 3], data: [1, 2, 3, 0, 0, 0])
    let (loss, grad) = softmaxCrossEntropy(logits: logits, labels: [2, 0])
    #expect(abs(loss - (0.4076059645 + 1.0986122887) / 2) < 1e-6)
    #expect(abs(grad[1, 0] - (1.0 / 3 - 1) / 2) < 1e-6)
    #expect(abs(grad[1, 2] - (1.0 / 3) / 2) < 1e-6)
    #expect(abs(grad[0, 2] - (0.6652409558 - 1) / 2) < 1e-6)

    // exp(1000) overflows Float; log-sum-exp must not.
    let big = softmaxCrossEntropy(logits: Tensor(shape: [1, 2], data: [1000, 0]), labels: [1])
    #expect(abs(big.loss - 1000) < 1e-3)
    #expect(big.gradLogits.data == [1, -1])
    let small = softmaxCrossEntropy(
      logits: Tensor(shape: [1, 2], data: [-1000, 1000]), labels: [1])
    #expect(small.loss == 0)
  }

  @Test func accuracyCountsArgmaxMatches() {
    let logits = Tensor(shape: [4, 3], data: [0, 1, 0, 5, 1, 2, 0, 0, 0, -1, -2, -0.5])
    #expect(argmax(logits: logits) == [1, 0, 0, 2])  // row 3 ties: first index
    let acc = accuracy(logits: logits, labels: [1, 2, 2, 2])
    #expect(acc.correct == 2 && acc.total == 4)
  }
}

@Suite struct SGDTests {
  /// PyTorch semantics with w = 1, constant grad 1, lr 0.1, momentum 0.9:
  /// step 1 buf = 1, w = 0.9; step 2 buf = 1.9, w = 0.71. Nesterov: step 1 d = 1 + 0.9 = 1.9,
  /// w = 0.81; step 2 buf = 1.9, d = 1 + 1.71 = 2.71, w = 0.539. Weight decay 0.5 without momentum:
  /// d = 1 + 0.5 = 1.5, w = 0.85.
  @Test func matchesPyTorchUpdateRule() {
    func run(_ opt: SGD, steps: Int) -> Float {
      var opt = opt
      let p = Parameter(name: "w", value: Tensor(shape: [1], data: [1]))
      for _ in 0..<steps {
        p.grad = Tensor(shape: [1], data: [1])
        opt.step([p])
      }
      return p.value.data[0]
    }
    #expect(abs(run(SGD(learningRate: 0.1, momentum: 0.9), steps: 1) - 0.9) < 1e-6)
    #expect(abs(run(SGD(learningRate: 0.1, momentum: 0.9), steps: 2) - 0.71) < 1e-6)
    #expect(abs(run(SGD(learningRate: 0.1, momentum: 0.9, nesterov: true), steps: 1) - 0.81) < 1e-6)
    #expect(
      abs(run(SGD(learningRate: 0.1, momentum: 0.9, nesterov: true), steps: 2) - 0.539) < 1e-6)
    #expect(abs(run(SGD(learningRate: 0.1, weightDecay: 0.5), steps: 1) - 0.85) < 1e-6)
  }

  @Test(arguments: [false, true])
  func maskedWeightsStayExactlyZero(nesterov: Bool) {
    let model = MLP(sizes: [6, 5, 3], seed: 8)
    var rng = SeededRNG(seed: 77)
    let w = model.linearLayers[0].layer.weight
    let mask = (0..<w.value.count).map { _ in Float(rng.nextInt(below: 2)) }
    w.mask = mask
    w.applyMask()
    var opt = SGD(learningRate: 0.05, momentum: 0.9, weightDecay: 5e-4, nesterov: nesterov)
    let before = w.value.data
    for _ in 0..<5 {
      // Nonzero gradients everywhere, including on pruned weights.
      for p in model.parameters {
        p.grad = Tensor(
          shape: p.shape, data: (0..<p.value.count).map { _ in rng.nextUniform(0.1, 1) })
      }
      opt.step(model.parameters)
      for i in mask.indices where mask[i] == 0 {
        #expect(
          w.value.data[i].bitPattern == Float(0).bitPattern,
          "pruned weight \(i) = \(w.value.data[i])")
      }
      let buffer = opt.momentumBuffer(for: w)!
      for i in mask.indices where mask[i] == 0 { #expect(buffer[i] == 0) }
    }
    for i in mask.indices where mask[i] == 1 { #expect(w.value.data[i] != before[i]) }
    #expect(w.keptCount == mask.filter { $0 == 1 }.count)
    #expect(mask.contains(0) && mask.contains(1))
  }
}
