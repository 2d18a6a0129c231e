import Testing

@testable import NeuralNets
@testable import Tensors

/// Central-difference check of a layer's `backward` on the scalar `L(x, θ) = Σ r ⊙ f(x, θ)` with
/// a fixed random `r`, so `backward(r)` must return `∂L/∂x` and accumulate `∂L/∂θ`.
///
/// The layer runs in Float and L is summed in Double. Perturbing one entry changes only the
/// outputs that depend on it, and the other outputs round identically in both evaluations, so
/// the difference quotient's rounding error is about `(Float ε ≈ 6e-8) · Σ|affected r·y| / h`.
/// Layers that are linear in the perturbed entry (convolution, pooling, dropout with a fixed
/// mask, the affine part of BatchNorm) have no truncation error at all; smooth ones (BatchNorm's
/// statistics) have `O(h²)`; ReLU and max pooling are checked only away from their kinks
/// (callers choose inputs whose gaps exceed 2h).
struct GradientChecker {
  var h: Float = 1e-2
  /// Pass when `|analytic − numeric| ≤ absTolerance + relTolerance · |numeric|`.
  var absTolerance: Double = 1e-3
  var relTolerance: Double = 1e-3
  /// Check at most about this many evenly spaced entries per tensor (nil = all).
  var maxEntriesPerTensor: Int? = nil
  /// For networks with ReLU / max-pool kinks: when the quotient at `h` disagrees with the
  /// analytic value, it is recomputed at `h/8`; if the two quotients disagree with each other
  /// the ±h interval crossed a kink (the loss is not differentiable there at scale h) and the
  /// entry is skipped. At most 5% of the entries may be skipped. A wrong gradient still fails:
  /// away from kinks both quotients agree with each other and not with it.
  var skipKinks = false

  func indices(_ count: Int) -> StrideTo<Int> {
    stride(from: 0, to: count, by: max(1, count / max(1, maxEntriesPerTensor ?? count)))
  }

  /// Checks input and parameter gradients of `forward`/`backward` at `x`; returns the number of
  /// entries compared. `forward` must be deterministic (fix dropout masks, BN in train mode is
  /// fine: its output does not depend on the running statistics).
  @discardableResult
  func check(
    _ name: String, parameters: [Parameter], input x: Tensor, seed: UInt64 = 7,
    checkInput: Bool = true, forward: (Tensor) -> Tensor, backward: (Tensor) -> Tensor,
    sourceLocation: SourceLocation = #_sourceLocation
  ) -> Int {
    let y = forward(x)
    var rng = SeededRNG(seed: seed)
    let r = Tensor(shape: y.shape, data: (0..<y.count).map { _ in rng.nextNormal() })
    for p in parameters { p.zeroGrad() }
    let gx = backward(r)
    #expect(gx.shape == x.shape, "\(name): input gradient shape", sourceLocation: sourceLocation)
    func loss(_ input: Tensor) -> Double {
      let out = forward(input)
      var s = 0.0
      for i in 0..<out.count { s += Double(r.data[i]) * Double(out.data[i]) }
      return s
    }
    func close(_ a: Float, _ n: Double) -> Bool {
      abs(Double(a) - n) <= absTolerance + relTolerance * abs(n)
    }
    var compared = 0
    var skipped = 0
    var worst = 0.0
    if checkInput {
      var xp = x
      for i in indices(x.count) {
        let v = x.data[i]
        func quotient(_ step: Float) -> Double {
          xp.data[i] = v + step
          let plus = loss(xp)
          xp.data[i] = v - step
          let minus = loss(xp)
          xp.data[i] = v
          return (plus - minus) / Double(2 * step)
        }
        let numeric = quotient(h)
        if skipKinks && !close(gx.data[i], numeric) && !close(Float(numeric), quotient(h / 8)) {
          skipped += 1
          continue
        }
        worst = max(worst, abs(Double(gx.data[i]) - numeric))
        #expect(
          close(gx.data[i], numeric),
          "\(name) input[\(i)]: analytic \(gx.data[i]) numeric \(numeric)",
          sourceLocation: sourceLocation)
        compared += 1
      }
    }
    for p in parameters {
      let analytic = p.grad.data
      for i in indices(p.value.count) {
        let v = p.value.data[i]
        func quotient(_ step: Float) -> Double {
          p.value.data[i] = v + step
          let plus = loss(x)
          p.value.data[i] = v - step
          let minus = loss(x)
          p.value.data[i] = v
          return (plus - minus) / Double(2 * step)
        }
        let numeric = quotient(h)
        if skipKinks && !close(analytic[i], numeric) && !close(Float(numeric), quotient(h / 8)) {
          skipped += 1
          continue
        }
        worst = max(worst, abs(Double(analytic[i]) - numeric))
        #expect(
          close(analytic[i], numeric),
          "\(name) \(p.name)[\(i)]: analytic \(analytic[i]) numeric \(numeric)",
          sourceLocation: sourceLocation)
        compared += 1
      }
    }
    #expect(
      skipped * 20 <= compared + skipped,
      "\(name): \(skipped) of \(compared + skipped) entries near kinks",
      sourceLocation: sourceLocation)
    // The check is not vacuous: some gradient is clearly nonzero.
    let all = gx.data + parameters.flatMap(\.grad.data)
    #expect(
      all.contains { abs($0) > 1e-2 }, "\(name): all gradients ~0", sourceLocation: sourceLocation)
    return compared
  }
}

/// A tensor of standard normal entries.
func seededTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
  var rng = SeededRNG(seed: seed)
  return Tensor(
    shape: shape, data: (0..<Tensor.elementCount(shape)).map { _ in scale * rng.nextNormal() })
}
