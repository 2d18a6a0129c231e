import Foundation
import Testing

@testable import NeuralNets
@testable import Tensors

/// Checks the Float MLP's analytic gradients against central differences of a Double-precision
/// re-implementation of the same network (explicit PyTorch layout `W[out, in]`, `y = W·x + b`,
/// ReLU between layers, mean softmax cross-entropy). Differences in Double with h = 1e-6 have
/// truncation error O(h²) ≈ 1e-12 and rounding error ≈ 1e-16/h ≈ 1e-10, so the reference is
/// exact to far below the tolerance; the tolerance (1e-4 absolute + 1e-3 relative) only has to
/// absorb the Float32 rounding of the model itself (≈ 1e-6 relative per operation).
@Suite struct GradientCheckTests {
  let sizes = [7, 5, 4, 3]
  let batch = 4

  /// Mean cross-entropy of the MLP in Double; `preActivations` collects the hidden layers'
  /// inputs to ReLU so the test can check no point sits on a kink.
  static func referenceLoss(
    sizes: [Int], weights: [[Double]], biases: [[Double]], x: [Double], labels: [Int],
    preActivations: inout [Double]
  ) -> (loss: Double, logits: [Double]) {
    let n = labels.count
    var h = x
    var width = sizes[0]
    for l in 0..<(sizes.count - 1) {
      let out = sizes[l + 1]
      var y = [Double](repeating: 0, count: n * out)
      for r in 0..<n {
        for o in 0..<out {
          var s = biases[l][o]
          for i in 0..<width { s += weights[l][o * width + i] * h[r * width + i] }
          y[r * out + o] = s
        }
      }
      if l < sizes.count - 2 {
        preActivations += y
        y = y.map { max($0, 0) }
      }
      h = y
      width = out
    }
    var loss = 0.0
    for r in 0..<n {
      let row = h[(r * width)..<((r + 1) * width)]
      let m = row.max()!
      let lse = m + Foundation.log(row.map { Foundation.exp($0 - m) }.reduce(0, +))
      loss += lse - row[r * width + labels[r]]
    }
    return (loss / Double(n), h)
  }

  @Test func mlpGradientsMatchCentralDifferences() {
    let model = MLP(sizes: sizes, seed: 2024)
    var rng = SeededRNG(seed: 99)
    let x = Tensor(
      shape: [batch, sizes[0]], data: (0..<(batch * sizes[0])).map { _ in rng.nextNormal() })
    let labels = [0, 2, 1, 2]

    // Analytic gradients from the Float model.
    model.zeroGrad()
    let logits = model.forward(x, training: true)
    let (loss, gradLogits) = softmaxCrossEntropy(logits: logits, labels: labels)
    let gradInput = model.backward(gradLogits)
    #expect(gradInput.shape == x.shape)

    var weights = model.linearLayers.map { $0.layer.weight.value.data.map(Double.init) }
    var biases = model.linearLayers.map { $0.layer.bias.value.data.map(Double.init) }
    var input = x.data.map(Double.init)
    var pre: [Double] = []
    let reference = Self.referenceLoss(
      sizes: sizes, weights: weights, biases: biases, x: input, labels: labels, preActivations: &pre
    )

    // The Float forward pass and loss agree with the Double reference.
    #expect(abs(Double(loss) - reference.loss) < 1e-5)
    for i in 0..<logits.count { #expect(abs(Double(logits.data[i]) - reference.logits[i]) < 1e-5) }
    // Central differences are only valid away from ReLU kinks.
    #expect(
      pre.allSatisfy { abs($0) > 1e-4 }, "a pre-activation lies on a ReLU kink; change the seed")

    let h = 1e-6
    func numeric(_ perturb: (Double) -> Void) -> Double {
      var scratch: [Double] = []
      perturb(h)
      let plus = Self.referenceLoss(
        sizes: sizes, weights: weights, biases: biases, x: input, labels: labels,
        preActivations: &scratch
      ).loss
      perturb(-2 * h)
      let minus = Self.referenceLoss(
        sizes: sizes, weights: weights, biases: biases, x: input, labels: labels,
        preActivations: &scratch
      ).loss
      perturb(h)
      return (plus - minus) / (2 * h)
    }
    func close(_ analytic: Float, _ numerical: Double) -> Bool {
      abs(Double(analytic) - numerical) <= 1e-4 + 1e-3 * abs(numerical)
    }

    var checked = 0
    for (l, entry) in model.linearLayers.enumerated() {
      let gw = entry.layer.weight.grad.data
      for i in 0..<gw.count {
        let num = numeric { weights[l][i] += $0 }
        #expect(close(gw[i], num), "\(entry.name).weight[\(i)]: analytic \(gw[i]) numeric \(num)")
        checked += 1
      }
      let gb = entry.layer.bias.grad.data
      for i in 0..<gb.count {
        let num = numeric { biases[l][i] += $0 }
        #expect(close(gb[i], num), "\(entry.name).bias[\(i)]: analytic \(gb[i]) numeric \(num)")
        checked += 1
      }
    }
    for i in 0..<input.count {
      let num = numeric { input[i] += $0 }
      #expect(
        close(gradInput.data[i], num), "input[\(i)]: analytic \(gradInput.data[i]) numeric \(num)")
      checked += 1
    }
    // 7·5+5 + 5·4+4 + 4·3+3 parameters + 4·7 inputs.
    #expect(checked == 40 + 24 + 15 + 28)
    // Some gradients are clearly nonzero, so the comparison is not vacuous.
    #expect(model.parameters.allSatisfy { p in p.grad.data.contains { abs($0) > 1e-3 } })
  }

  @Test func backwardAccumulatesIntoGradients() {
    let model = MLP(sizes: sizes, seed: 1)
    var rng = SeededRNG(seed: 2)
    let x = Tensor(
      shape: [batch, sizes[0]], data: (0..<(batch * sizes[0])).map { _ in rng.nextNormal() })
    let labels = [1, 0, 2, 1]
    model.zeroGrad()
    _ = model.backward(
      softmaxCrossEntropy(logits: model.forward(x, training: true), labels: labels).gradLogits)
    let once = model.parameters.map { $0.grad.data }
    _ = model.backward(
      softmaxCrossEntropy(logits: model.forward(x, training: true), labels: labels).gradLogits)
    for (p, g1) in zip(model.parameters, once) {
      for i in g1.indices { #expect(abs(p.grad.data[i] - 2 * g1[i]) <= 1e-6 + 1e-5 * abs(g1[i])) }
    }
    model.zeroGrad()
    #expect(model.parameters.allSatisfy { $0.grad.data.allSatisfy { $0 == 0 } })
  }
}
