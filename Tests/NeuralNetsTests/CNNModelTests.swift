import Foundation
import Testing

@testable import NeuralNets
@testable import Tensors

@Suite struct CNNModelTests {
  @Test func leNet5NamesShapesAndGEMMWeights() {
    let model = LeNet5(seed: 1)
    #expect(
      model.parameters.map(\.name) == [
        "features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias",
        "classifier.0.weight", "classifier.0.bias", "classifier.2.weight", "classifier.2.bias",
        "classifier.4.weight", "classifier.4.bias",
      ])
    #expect(model.buffers.isEmpty)
    let g = model.gemmWeights
    #expect(
      g.map(\.name) == ["features.0", "features.3", "classifier.0", "classifier.2", "classifier.4"])
    #expect(g.map(\.rows) == [6, 16, 120, 84, 10])
    #expect(g.map(\.cols) == [25, 150, 400, 120, 84])
    #expect(model.parameterCount == 61706)  // the classic count with 10 classes
    let y = model.forward(Tensor(zeros: [3, 1, 28, 28]), training: false)
    #expect(y.shape == [3, 10])
    #expect(LeNet5(seed: 1).parameters.map(\.value) == model.parameters.map(\.value))
    #expect(LeNet5(seed: 2).parameters[0].value != model.parameters[0].value)
  }

  /// LeNet-5 in Double with direct loops: conv → ReLU → 2x2 max pool, twice, then three fully
  /// connected layers; returns `Σ r ⊙ logits`. `params` are the model's parameters in order.
  static func referenceLeNet(x: [Double], batch n: Int, params p: [[Double]], r: [Double]) -> Double
  {
    func conv(
      _ input: [Double], c: Int, h: Int, w: Int, weight: [Double], bias: [Double], out: Int, k: Int,
      pad: Int
    ) -> (
      [Double], Int, Int
    ) {
      let oh = h + 2 * pad - k + 1
      let ow = w + 2 * pad - k + 1
      var y = [Double](repeating: 0, count: n * out * oh * ow)
      for b in 0..<n {
        for o in 0..<out {
          for i in 0..<oh {
            for j in 0..<ow {
              var s = bias[o]
              for ci in 0..<c {
                for u in 0..<k {
                  let row = i - pad + u
                  if row < 0 || row >= h { continue }
                  for v in 0..<k {
                    let col = j - pad + v
                    if col < 0 || col >= w { continue }
                    s +=
                      weight[((o * c + ci) * k + u) * k + v]
                      * input[((b * c + ci) * h + row) * w + col]
                  }
                }
              }
              y[((b * out + o) * oh + i) * ow + j] = max(s, 0)  // with the ReLU
            }
          }
        }
      }
      return (y, oh, ow)
    }
    func pool(_ input: [Double], planes: Int, h: Int, w: Int) -> [Double] {
      var y: [Double] = []
      for pl in 0..<planes {
        for i in 0..<(h / 2) {
          for j in 0..<(w / 2) {
            let base = pl * h * w + 2 * i * w + 2 * j
            y.append(
              max(max(input[base], input[base + 1]), max(input[base + w], input[base + w + 1])))
          }
        }
      }
      return y
    }
    func linear(_ input: [Double], inF: Int, weight: [Double], bias: [Double], relu: Bool)
      -> [Double]
    {
      let out = bias.count
      var y = [Double](repeating: 0, count: n * out)
      for b in 0..<n {
        for o in 0..<out {
          var s = bias[o]
          for i in 0..<inF { s += weight[o * inF + i] * input[b * inF + i] }
          y[b * out + o] = relu ? max(s, 0) : s
        }
      }
      return y
    }
    var (h, oh, ow) = conv(x, c: 1, h: 28, w: 28, weight: p[0], bias: p[1], out: 6, k: 5, pad: 2)
    h = pool(h, planes: n * 6, h: oh, w: ow)
    (h, oh, ow) = conv(h, c: 6, h: 14, w: 14, weight: p[2], bias: p[3], out: 16, k: 5, pad: 0)
    h = pool(h, planes: n * 16, h: oh, w: ow)
    h = linear(h, inF: 400, weight: p[4], bias: p[5], relu: true)
    h = linear(h, inF: 120, weight: p[6], bias: p[7], relu: true)
    h = linear(h, inF: 84, weight: p[8], bias: p[9], relu: false)
    return zip(h, r).reduce(0) { $0 + $1.0 * $1.1 }
  }

  @Test func leNet5EndToEndGradients() {
    // Analytic gradients of the Float model against central differences of the Double reference
    // (h = 1e-6: truncation ≈ 1e-12, rounding ≈ 1e-10, and a ReLU / max-pool kink within 1e-6 of
    // a sampled point is unlikely); the tolerance absorbs the Float model's own rounding.
    let model = LeNet5(seed: 3)
    (model.features.modules[0] as! Conv2d).computesInputGradient = true
    let n = 2
    let x = seededTensor([n, 1, 28, 28], seed: 4)
    let y = model.forward(x, training: true)
    let r = seededTensor(y.shape, seed: 5)
    model.zeroGrad()
    let gx = model.backward(r)
    var params = model.parameters.map { $0.value.data.map(Double.init) }
    var input = x.data.map(Double.init)
    let rd = r.data.map(Double.init)
    let reference = Self.referenceLeNet(x: input, batch: n, params: params, r: rd)
    let floatLoss = zip(y.data, rd).reduce(0.0) { $0 + Double($1.0) * $1.1 }
    #expect(abs(floatLoss - reference) < 1e-4 * max(1, abs(reference)))
    let h = 1e-6
    func numeric(_ perturb: (Double) -> Void) -> Double {
      perturb(h)
      let plus = Self.referenceLeNet(x: input, batch: n, params: params, r: rd)
      perturb(-2 * h)
      let minus = Self.referenceLeNet(x: input, batch: n, params: params, r: rd)
      perturb(h)
      return (plus - minus) / (2 * h)
    }
    func close(_ a: Float, _ num: Double) -> Bool { abs(Double(a) - num) <= 1e-4 + 1e-3 * abs(num) }
    var checked = 0
    for (t, p) in model.parameters.enumerated() {
      for i in stride(from: t, to: p.value.count, by: max(1, p.value.count / 4)) {
        let num = numeric { params[t][i] += $0 }
        #expect(
          close(p.grad.data[i], num), "\(p.name)[\(i)]: analytic \(p.grad.data[i]) numeric \(num)")
        checked += 1
      }
    }
    for i in stride(from: 300, to: input.count, by: 150) {
      let num = numeric { input[i] += $0 }
      #expect(close(gx.data[i], num), "input[\(i)]: analytic \(gx.data[i]) numeric \(num)")
      checked += 1
    }
    #expect(checked >= 45)
    #expect(model.parameters.allSatisfy { p in p.grad.data.contains { abs($0) > 1e-3 } })
  }

  @Test func leNet5LearnsASyntheticTask() {
    // Class = which half (left or right) of the image holds a bright 6x6 square.
    var rng = SeededRNG(seed: 5)
    var x = Tensor(zeros: [32, 1, 28, 28])
    var labels: [Int] = []
    for n in 0..<32 {
      let label = n % 2
      labels.append(label)
      let top = rng.nextInt(below: 22)
      let left = label == 0 ? rng.nextInt(below: 8) : 14 + rng.nextInt(below: 8)
      for r in top..<(top + 6) { for c in left..<(left + 6) { x.data[n * 784 + r * 28 + c] = 1 } }
    }
    let model = LeNet5(seed: 6)
    var opt = Adam(learningRate: 3e-3)
    var losses: [Float] = []
    for _ in 0..<15 {
      model.zeroGrad()
      let (loss, grad) = softmaxCrossEntropy(
        logits: model.forward(x, training: true), labels: labels)
      losses.append(loss)
      _ = model.backward(grad)
      opt.step(model.parameters)
    }
    #expect(losses.last! < 0.5 * losses.first!, "losses \(losses)")
  }

  /// A ReLU directly before a max pool runs after it: the same outputs and gradients, bit for bit
  /// (inputs with ties, zeros and all-negative windows), and the models use that order.
  @Test func poolThenReLUIsTheSameFunction() {
    func net(_ swapped: Bool) -> (Conv2d, Sequential) {
      var rng = SeededRNG(seed: 9)
      let conv = Conv2d(inChannels: 2, outChannels: 3, kernel: 3, padding: 1, name: "c", rng: &rng)
      let layers: [any Module] = [conv, ReLU(), MaxPool2d(kernel: 2)]
      return (conv, Sequential(swapped ? poolThenReLU(layers) : layers))
    }
    var rng = SeededRNG(seed: 3)
    // Values on a coarse grid, so windows tie and outputs hit exactly 0; odd sizes leave a row
    // and a column outside every window.
    let x = Tensor(
      shape: [2, 2, 7, 9],
      data: (0..<(2 * 2 * 7 * 9)).map { _ in
        Float(Int(rng.nextUniform(-3, 3))) / 2
      })
    let g = Tensor(
      shape: [2, 3, 3, 4], data: (0..<(2 * 3 * 3 * 4)).map { _ in rng.nextUniform(-1, 1) })
    let (c0, a) = net(false)
    let (c1, b) = net(true)
    #expect(b.modules[1] is MaxPool2d && b.modules[2] is ReLU)
    let ya = a.forward(x, training: true)
    let yb = b.forward(x, training: true)
    #expect(ya == yb)
    #expect(ya.data.contains(0) && ya.data.contains { $0 > 0 })
    #expect(a.backward(g) == b.backward(g))
    #expect(c0.weight.grad == c1.weight.grad && c0.bias!.grad == c1.bias!.grad)

    let lenet = LeNet5(seed: 1).features.modules.map { "\(type(of: $0))" }
    #expect(lenet == ["Conv2d", "MaxPool2d", "ReLU", "Conv2d", "MaxPool2d", "ReLU"])
    let vgg = VGG(layout: .vgg11, widthMultiplier: 0.25, seed: 1).features.modules.prefix(8)
      .map { "\(type(of: $0))" }
    #expect(
      vgg == [
        "Conv2d", "BatchNorm2d", "MaxPool2d", "ReLU", "Conv2d", "BatchNorm2d", "MaxPool2d", "ReLU",
      ])
  }

  @Test func vggLayoutsNamesAndGEMMWeights() {
    let vgg11 = VGG(layout: .vgg11, widthMultiplier: 0.25, inputChannels: 1, seed: 1)
    #expect(
      vgg11.gemmWeights.map(\.name) == [
        "features.0", "features.4", "features.8", "features.11", "features.15", "features.18",
        "features.22", "features.25", "classifier.1", "classifier.4", "classifier.6",
      ])
    #expect(vgg11.gemmWeights.map(\.rows) == [16, 32, 64, 64, 128, 128, 128, 128, 128, 128, 10])
    #expect(
      vgg11.gemmWeights.map(\.cols) == [9, 144, 288, 576, 576, 1152, 1152, 1152, 128, 128, 128])
    #expect(
      vgg11.buffers.map(\.name).prefix(3) == [
        "features.1.running_mean", "features.1.running_var", "features.1.num_batches_tracked",
      ])
    #expect(
      vgg11.parameters.map(\.name).prefix(4) == [
        "features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
      ])
    #expect(vgg11.forward(Tensor(zeros: [2, 1, 32, 32]), training: false).shape == [2, 10])
    let plain = VGG(layout: .vgg11, widthMultiplier: 0.25, batchNorm: false, seed: 1)
    #expect(
      plain.gemmWeights.prefix(8).map(\.name) == [
        "features.0", "features.3", "features.6", "features.8", "features.11", "features.13",
        "features.16", "features.18",
      ])
    #expect(plain.buffers.isEmpty)
    let vgg16 = VGG(layout: .vgg16, widthMultiplier: 0.125, seed: 2)
    #expect(vgg16.gemmWeights.count == 16)
    #expect(vgg16.gemmWeights.last!.name == "classifier.6")
    #expect(vgg16.gemmWeights[12].name == "features.40")  // torchvision vgg16_bn's last conv
    #expect(vgg16.forward(Tensor(zeros: [1, 3, 32, 32]), training: false).shape == [1, 10])
  }

  @Test func resNet20NamesAndGEMMWeights() {
    let model = ResNet20(widthMultiplier: 0.5, inputChannels: 3, classes: 10, seed: 1)
    let g = model.gemmWeights
    #expect(g.count == 20)
    #expect(g.first!.name == "conv1" && g.last!.name == "fc")
    #expect(
      g[1].name == "layer1.0.conv1" && g[8].name == "layer2.0.conv2"
        && g[18].name == "layer3.2.conv2")
    #expect(g[7].rows == 16 && g[7].cols == 8 * 9)  // layer2.0.conv1: 8 → 16 channels
    #expect(g.last!.rows == 10 && g.last!.cols == 32)
    let names = Set(model.stateTensors().map(\.name))
    for n in [
      "conv1.weight", "bn1.running_var", "layer3.2.bn2.num_batches_tracked", "fc.bias",
      "layer2.0.bn1.weight",
    ] {
      #expect(names.contains(n), "missing \(n)")
    }
    #expect(!names.contains("conv1.bias"))
    #expect(model.buffers.count == 3 * (1 + 2 * 9))
    #expect(model.forward(Tensor(zeros: [2, 3, 32, 32]), training: false).shape == [2, 10])
    let b = ResNet20(widthMultiplier: 0.25, shortcut: .projection, seed: 1)
    #expect(b.gemmWeights.count == 22)
    #expect(b.gemmWeights.map(\.name).contains("layer2.0.shortcut.0"))
    #expect(b.forward(Tensor(zeros: [1, 3, 32, 32]), training: true).shape == [1, 10])
  }

  /// Models for the round trip and determinism tests, with their input shape.
  static func models(seed: UInt64) -> [(name: String, model: any Network, input: [Int])] {
    [
      ("lenet5", LeNet5(seed: seed), [4, 1, 28, 28]),
      (
        "vgg11", VGG(layout: .vgg11, widthMultiplier: 0.125, inputChannels: 1, seed: seed),
        [4, 1, 32, 32]
      ),
      (
        "vgg16", VGG(layout: .vgg16, widthMultiplier: 0.0625, inputChannels: 3, seed: seed),
        [2, 3, 32, 32]
      ),
      ("resnet20", ResNet20(widthMultiplier: 0.25, inputChannels: 3, seed: seed), [2, 3, 32, 32]),
      (
        "resnet20b",
        ResNet20(widthMultiplier: 0.25, inputChannels: 1, shortcut: .projection, seed: seed),
        [2, 1, 32, 32]
      ),
    ]
  }

  /// A few SGD steps on fixed random data; returns the losses.
  static func train(_ model: any Network, input: [Int], steps: Int, seed: UInt64) -> [Float] {
    let x = seededTensor(input, seed: seed)
    let labels = (0..<input[0]).map { $0 % 10 }
    var opt = SGD(learningRate: 0.05, momentum: 0.9, weightDecay: 5e-4)
    var losses: [Float] = []
    for _ in 0..<steps {
      model.zeroGrad()
      let (loss, grad) = softmaxCrossEntropy(
        logits: model.forward(x, training: true), labels: labels)
      losses.append(loss)
      _ = model.backward(grad)
      opt.step(model.parameters)
    }
    return losses
  }

  @Test func checkpointRoundTripIncludesBatchNormBuffers() throws {
    for (name, model, input) in Self.models(seed: 7) {
      _ = Self.train(model, input: input, steps: 2, seed: 8)
      let state = model.stateTensors()
      #expect(Set(state.map(\.name)).count == state.count, "\(name): duplicate names")
      let bytes = Safetensors.encode(state, metadata: ["model": name])
      let decoded = try Safetensors.decode(bytes, path: name).tensors
      let fresh = Self.models(seed: 99).first { $0.name == name }!.model
      try fresh.loadState(decoded)
      #expect(fresh.stateTensors().map(\.tensor) == state.map(\.tensor), "\(name)")
      for b in model.buffers where b.name.hasSuffix("num_batches_tracked") {
        #expect(b.value.data == [2], "\(name) \(b.name)")
      }
      let x = seededTensor(input, seed: 9)
      #expect(fresh.forward(x, training: false) == model.forward(x, training: false), "\(name)")
      // A missing buffer is an error naming it.
      if let buffer = model.buffers.first {
        var partial = decoded
        partial[buffer.name] = nil
        #expect(throws: CheckpointError.missingTensor(name: buffer.name)) {
          try fresh.loadState(partial)
        }
      }
    }
  }

  @Test func sameSeedGivesBitwiseIdenticalTraining() {
    BLAS.setThreads(1)
    for ((name, a, input), (_, b, _)) in zip(Self.models(seed: 21), Self.models(seed: 21)) {
      #expect(a.stateTensors().map(\.tensor) == b.stateTensors().map(\.tensor), "\(name) init")
      let la = Self.train(a, input: input, steps: 3, seed: 22)
      let lb = Self.train(b, input: input, steps: 3, seed: 22)
      #expect(la.map(\.bitPattern) == lb.map(\.bitPattern), "\(name) losses")
      let sa = a.stateTensors().flatMap { $0.tensor.data.map(\.bitPattern) }
      let sb = b.stateTensors().flatMap { $0.tensor.data.map(\.bitPattern) }
      #expect(sa == sb, "\(name) weights after training")
      #expect(la.allSatisfy { $0.isFinite }, "\(name): \(la)")
    }
  }

  @Test func batchNormModelsDifferBetweenTrainAndEval() {
    let model = VGG(layout: .vgg11, widthMultiplier: 0.125, inputChannels: 1, dropout: 0, seed: 3)
    let x = seededTensor([4, 1, 32, 32], seed: 4)
    let train1 = model.forward(x, training: true)
    let eval1 = model.forward(x, training: false)
    let eval2 = model.forward(x, training: false)
    #expect(eval1 == eval2)  // eval uses fixed running statistics and no dropout
    #expect(train1 != eval1)
    // Batch statistics: in train mode each sample's output depends on the others.
    let single = model.forward(
      Tensor(shape: [2, 1, 32, 32], data: Array(x.data[0..<2048])), training: true)
    #expect(Array(single.data[0..<10]) != Array(train1.data[0..<10]))
  }
}
