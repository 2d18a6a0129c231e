import Foundation
import Testing

@testable import NeuralNets
@testable import Tensors

@Suite struct BatchNormTests {
  /// Train-mode BatchNorm in Double: `Σ r ⊙ (γ·(x − μ)/√(σ² + eps) + β)` with batch statistics
  /// over all axes but 1 (biased variance).
  static func referenceLoss(
    x: [Double], shape: [Int], gamma: [Double], beta: [Double], r: [Double], eps: Double
  ) -> Double {
    let (n, c) = (shape[0], shape[1])
    let s = shape.dropFirst(2).reduce(1, *)
    let m = Double(n * s)
    var loss = 0.0
    for ch in 0..<c {
      var idx: [Int] = []
      for i in 0..<n { for j in 0..<s { idx.append((i * c + ch) * s + j) } }
      let mu = idx.reduce(0.0) { $0 + x[$1] } / m
      let v = idx.reduce(0.0) { $0 + (x[$1] - mu) * (x[$1] - mu) } / m
      for k in idx { loss += r[k] * (gamma[ch] * (x[k] - mu) / (v + eps).squareRoot() + beta[ch]) }
    }
    return loss
  }

  @Test(arguments: [[3, 2, 3, 2], [5, 3], [2, 3, 4]])
  func trainModeGradientsMatchDoubleCentralDifferences(shape: [Int]) {
    let bn: BatchNorm =
      shape.count == 4
      ? BatchNorm2d(features: shape[1], name: "bn") : BatchNorm1d(features: shape[1], name: "bn")
    var rng = SeededRNG(seed: 51)
    // Non-trivial affine parameters.
    bn.weight.value = Tensor(
      shape: [shape[1]], data: (0..<shape[1]).map { _ in 0.5 + rng.nextUniformFloat() })
    bn.bias.value = Tensor(shape: [shape[1]], data: (0..<shape[1]).map { _ in rng.nextNormal() })
    let x = seededTensor(shape, seed: 52, scale: 2)
    let r = seededTensor(shape, seed: 53)
    bn.zeroGrad()
    let y = bn.forward(x, training: true)
    let gx = bn.backward(r)
    var xd = x.data.map(Double.init)
    var gamma = bn.weight.value.data.map(Double.init)
    var beta = bn.bias.value.data.map(Double.init)
    let rd = r.data.map(Double.init)
    let eps = 1e-5
    // The Float forward agrees with the reference (loss as the check).
    let yLoss = zip(y.data, rd).reduce(0.0) { $0 + Double($1.0) * $1.1 }
    let refLoss = Self.referenceLoss(x: xd, shape: shape, gamma: gamma, beta: beta, r: rd, eps: eps)
    #expect(abs(yLoss - refLoss) < 1e-4)
    // Double differences with h = 1e-6: error ≈ 1e-12 (truncation) + 1e-10 (rounding); the
    // tolerance absorbs the Float model's own rounding.
    let h = 1e-6
    func numeric(_ perturb: (Double) -> Void) -> Double {
      perturb(h)
      let plus = Self.referenceLoss(x: xd, shape: shape, gamma: gamma, beta: beta, r: rd, eps: eps)
      perturb(-2 * h)
      let minus = Self.referenceLoss(x: xd, shape: shape, gamma: gamma, beta: beta, r: rd, eps: eps)
      perturb(h)
      return (plus - minus) / (2 * h)
    }
    func close(_ a: Float, _ n: Double) -> Bool { abs(Double(a) - n) <= 1e-4 + 1e-3 * abs(n) }
    for i in 0..<x.count {
      let num = numeric { xd[i] += $0 }
      #expect(close(gx.data[i], num), "input[\(i)]: \(gx.data[i]) vs \(num)")
    }
    for ch in 0..<shape[1] {
      let ng = numeric { gamma[ch] += $0 }
      let nb = numeric { beta[ch] += $0 }
      #expect(close(bn.weight.grad.data[ch], ng), "weight[\(ch)]")
      #expect(close(bn.bias.grad.data[ch], nb), "bias[\(ch)]")
    }
    #expect(gx.data.contains { abs($0) > 1e-2 })
  }

  @Test func runningStatisticsFollowPyTorch() {
    let bn = BatchNorm2d(features: 2, name: "features.1")
    #expect(
      bn.stateTensors().map(\.name) == [
        "features.1.weight", "features.1.bias", "features.1.running_mean", "features.1.running_var",
        "features.1.num_batches_tracked",
      ])
    #expect(bn.numBatchesTracked.value.shape == [])
    // Channel 0 holds 1, 2, 3, 4 (N = 2, 1x2 maps); channel 1 holds 10, 10, 10, 14.
    let x = Tensor(shape: [2, 2, 1, 2], data: [1, 2, 10, 10, 3, 4, 10, 14])
    _ = bn.forward(x, training: true)
    // mean 2.5, biased var 1.25, unbiased 5/3; mean 11, unbiased var 12/3 = 4.
    let rm = bn.runningMean.value.data
    let rv = bn.runningVar.value.data
    #expect(abs(rm[0] - 0.25) < 1e-6 && abs(rm[1] - 1.1) < 1e-6)
    #expect(abs(rv[0] - (0.9 + 0.1 * 5 / 3)) < 1e-6 && abs(rv[1] - (0.9 + 0.4)) < 1e-6)
    #expect(bn.numBatchesTracked.value.data == [1])
    _ = bn.forward(x, training: true)
    #expect(abs(bn.runningMean.value.data[0] - (0.9 * 0.25 + 0.25)) < 1e-6)
    #expect(bn.numBatchesTracked.value.data == [2])
    // Eval: no update, running statistics used.
    bn.runningMean.value = Tensor(shape: [2], data: [1, -2])
    bn.runningVar.value = Tensor(shape: [2], data: [4, 0.25])
    bn.weight.value = Tensor(shape: [2], data: [2, 1])
    bn.bias.value = Tensor(shape: [2], data: [0.5, 0])
    let y = bn.forward(x, training: false)
    #expect(bn.numBatchesTracked.value.data == [2])
    let e = Float(1e-5)
    let inputs: [Float] = [1, 2, 10, 10, 3, 4, 10, 14]
    var expected: [Float] = []
    for (i, v) in inputs.enumerated() {
      let scale0: Float = 2 / (4 + e).squareRoot()
      let scale1: Float = 1 / (0.25 + e).squareRoot()
      expected.append((i / 2) % 2 == 0 ? scale0 * (v - 1) + 0.5 : scale1 * (v + 2))
    }
    for i in 0..<8 { #expect(abs(y.data[i] - expected[i]) < 1e-5 * max(1, abs(expected[i]))) }
    // Eval-mode backward treats the statistics as constants.
    bn.zeroGrad()
    let g = bn.backward(Tensor(shape: x.shape, repeating: 1))
    #expect(abs(g.data[0] - 2 / (4 + e).squareRoot()) < 1e-6)
    #expect(abs(g.data[2] - 1 / (0.25 + e).squareRoot()) < 1e-5)
    #expect(bn.bias.grad.data == [4, 4])
    // Train and eval differ on the same input (batch vs running statistics).
    #expect(bn.forward(x, training: true) != y)
  }
}
