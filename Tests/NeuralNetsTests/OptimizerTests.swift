import Foundation
import Testing

@testable import NeuralNets
@testable import Tensors

@Suite struct OptimizerTests {
  /// One Adam/AdamW step in Double following torch.optim's `_single_tensor_adam(w)`.
  static func reference(
    w: [Double], g: [Double], m: [Double], v: [Double], t: Int, lr: Double, b1: Double, b2: Double,
    eps: Double, wd: Double, decoupled: Bool
  ) -> (w: [Double], m: [Double], v: [Double]) {
    var w = w
    var m = m
    var v = v
    let bc1 = 1 - pow(b1, Double(t))
    let bc2 = (1 - pow(b2, Double(t))).squareRoot()
    for i in w.indices {
      var grad = g[i]
      if decoupled { w[i] *= 1 - lr * wd } else { grad += wd * w[i] }
      m[i] = b1 * m[i] + (1 - b1) * grad
      v[i] = b2 * v[i] + (1 - b2) * grad * grad
      w[i] -= lr / bc1 * m[i] / (v[i].squareRoot() / bc2 + eps)
    }
    return (w, m, v)
  }

  @Test(arguments: [false, true])
  func adamMatchesPyTorchFormulasOverThreeSteps(decoupled: Bool) {
    let p = Parameter(name: "w", value: Tensor(shape: [5], data: [0.5, -1, 2, 0, -0.25]))
    var opt = Adam(
      learningRate: 0.01, beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.1,
      decoupledWeightDecay: decoupled)
    var w = p.value.data.map(Double.init)
    var m = [Double](repeating: 0, count: 5)
    var v = [Double](repeating: 0, count: 5)
    let grads: [[Float]] = [
      [0.1, -0.2, 0.3, 1e-4, 0], [-0.5, 0.2, 0.1, 0.2, 0.3], [1, 1, -1, -1, 0.5],
    ]
    for (t, g) in grads.enumerated() {
      p.grad = Tensor(shape: [5], data: g)
      opt.step([p])
      (w, m, v) = Self.reference(
        w: w, g: g.map(Double.init), m: m, v: v, t: t + 1, lr: 0.01, b1: 0.8, b2: 0.95, eps: 1e-6,
        wd: 0.1, decoupled: decoupled)
      for i in 0..<5 {
        #expect(abs(Double(p.value.data[i]) - w[i]) < 1e-6, "step \(t + 1) w[\(i)]")
      }
      let state = opt.moments(for: p)!
      #expect(state.step == t + 1)
      for i in 0..<5 {
        #expect(abs(Double(state.m[i]) - m[i]) < 1e-6 && abs(Double(state.v[i]) - v[i]) < 1e-7)
      }
    }
  }

  @Test func firstAdamStepIsLearningRateTimesSign() {
    // t = 1, no decay: m̂ = g, v̂ = g², so the step is lr·g/(|g| + eps) ≈ lr·sign(g).
    let p = Parameter(name: "w", value: Tensor(shape: [3], data: [1, 1, 1]))
    p.grad = Tensor(shape: [3], data: [3, -0.02, 0])
    var opt = Adam(learningRate: 0.1)
    opt.step([p])
    #expect(abs(p.value.data[0] - 0.9) < 1e-6 && abs(p.value.data[1] - 1.1) < 1e-6)
    #expect(p.value.data[2] == 1)
    // AdamW: decay applied first, w·(1 − lr·wd).
    let q = Parameter(name: "q", value: Tensor(shape: [1], data: [2]))
    var w = Adam.adamW(learningRate: 0.1, weightDecay: 0.5)
    #expect(w.decoupledWeightDecay && w.weightDecay == 0.5)
    w.step([q])  // zero gradient: only the decay
    #expect(abs(q.value.data[0] - 2 * 0.95) < 1e-6)
  }

  @Test(arguments: [false, true])
  func masksKeepPrunedWeightsAtPositiveZeroAndZeroTheirMoments(decoupled: Bool) {
    let p = Parameter(
      name: "w", value: Tensor(shape: [4], data: [-0.5, 0.7, -0.3, 0.2]), mask: [0, 1, 0, 1])
    p.applyMask()
    var opt = Adam(learningRate: 0.05, weightDecay: 0.01, decoupledWeightDecay: decoupled)
    for s in 0..<3 {
      p.grad = Tensor(shape: [4], data: [1, -1, -2, 0.5].map { $0 * Float(s + 1) })
      opt.step([p])
      for i in [0, 2] {
        #expect(p.value.data[i].bitPattern == Float(0).bitPattern)
        #expect(opt.moments(for: p)!.m[i] == 0 && opt.moments(for: p)!.v[i] == 0)
      }
      #expect(p.value.data[1] != 0.7 && opt.moments(for: p)!.m[1] != 0)
    }
    opt.resetState()
    #expect(opt.moments(for: p) == nil)
  }

  @Test func optimizerProtocolCoversSGDAndAdam() {
    var opts: [any Optimizer] = [SGD(learningRate: 0.1, momentum: 0.9), Adam(learningRate: 0.1)]
    for i in opts.indices {
      opts[i].learningRate = 0.5
      #expect(opts[i].learningRate == 0.5)
      let p = Parameter(name: "w", value: Tensor(shape: [1], data: [1]))
      p.grad = Tensor(shape: [1], data: [1])
      opts[i].step([p])
      #expect(abs(p.value.data[0] - 0.5) < 1e-6)  // SGD: 1 − 0.5·1; Adam: 1 − 0.5·sign
    }
  }

  @Test func schedulesMatchPyTorchClosedForms() {
    let base: Float = 0.1
    #expect(LRSchedule.constant.rate(at: 1234, base: base) == base)
    // StepLR(step_size=3, gamma=0.5): 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025.
    let step = LRSchedule.step(every: 3, gamma: 0.5)
    #expect(
      (0..<7).map { step.rate(at: $0, base: base) } == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025])
    // CosineAnnealingLR(T_max=4, eta_min=0.01): η + (0.1 − η)(1 + cos(π s/4))/2.
    let cosine = LRSchedule.cosine(total: 4, minLR: 0.01)
    let expected: [Double] = [
      0.1, 0.01 + 0.09 * (1 + 0.5.squareRoot()) / 2, 0.055,
      0.01 + 0.09 * (1 - 0.5.squareRoot()) / 2, 0.01, 0.01,
    ]
    for s in 0..<6 { #expect(abs(Double(cosine.rate(at: s, base: base)) - expected[s]) < 1e-8) }
    // Warm-up of 4: 0.025, 0.05, 0.075, 0.1, then the schedule from its own step 0.
    let warm = LRSchedule.cosine(total: 4, minLR: 0.01).warmup(steps: 4)
    let w = (0..<10).map { Double(warm.rate(at: $0, base: base)) }
    for (s, e) in [0.025, 0.05, 0.075, 0.1].enumerated() { #expect(abs(w[s] - e) < 1e-8) }
    for s in 4..<10 { #expect(abs(w[s] - Double(cosine.rate(at: s - 4, base: base))) < 1e-12) }
    #expect(LRSchedule.warmup(steps: 2).rate(at: 0, base: 1) == 0.5)
    #expect(LRSchedule.warmup(steps: 2).rate(at: 5, base: 1) == 1)
    #expect(
      LRSchedule.step(every: 2, gamma: 0.1).warmup(steps: 1).rate(at: 3, base: 1) == Float(0.1))
  }
}
