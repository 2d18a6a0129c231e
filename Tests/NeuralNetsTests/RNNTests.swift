import Foundation
import Testing

@testable import NeuralNets
@testable import Tensors

/// Double-precision re-implementations of PyTorch's GRU and LSTM equations (written out per
/// unit, independent of the Float code's stacked-buffer layout), used as the reference for the
/// forward pass and, by central differences, for every gradient. As in `GradientCheckTests`, the
/// differences in Double are exact far below the tolerance, which only absorbs Float32 rounding.
enum RNNReference {
  static func sigmoid(_ x: Double) -> Double { 1 / (1 + Foundation.exp(-x)) }

  /// Row `k` of `w [rows, cols]` dotted with `v`.
  static func dot(_ w: [Double], row k: Int, cols: Int, _ v: ArraySlice<Double>) -> Double {
    var s = 0.0
    for (j, x) in v.enumerated() { s += w[k * cols + j] * x }
    return s
  }

  /// All hidden states `[N, T, H]` of a GRU; the state is carried past each sample's length.
  static func gru(
    x: [Double], n: Int, steps: Int, f: Int, h: Int, p: [String: [Double]], prefix: String,
    lengths: [Int], h0: [Double]
  ) -> [Double] {
    let wih = p["\(prefix).weight_ih_l0"]!
    let whh = p["\(prefix).weight_hh_l0"]!
    let bih = p["\(prefix).bias_ih_l0"]!
    let bhh = p["\(prefix).bias_hh_l0"]!
    var out = [Double](repeating: 0, count: n * steps * h)
    for b in 0..<n {
      var state = Array(h0[(b * h)..<((b + 1) * h)])
      for t in 0..<steps {
        if t < lengths[b] {
          let xt = x[((b * steps + t) * f)..<((b * steps + t + 1) * f)]
          var next = state
          for j in 0..<h {
            let r = sigmoid(
              dot(wih, row: j, cols: f, xt) + bih[j] + dot(whh, row: j, cols: h, state[...])
                + bhh[j])
            let z = sigmoid(
              dot(wih, row: h + j, cols: f, xt) + bih[h + j]
                + dot(whh, row: h + j, cols: h, state[...]) + bhh[h + j])
            let nn = Foundation.tanh(
              dot(wih, row: 2 * h + j, cols: f, xt) + bih[2 * h + j]
                + r * (dot(whh, row: 2 * h + j, cols: h, state[...]) + bhh[2 * h + j]))
            next[j] = (1 - z) * nn + z * state[j]
          }
          state = next
        }
        out.replaceSubrange(((b * steps + t) * h)..<((b * steps + t + 1) * h), with: state)
      }
    }
    return out
  }

  /// All hidden states `[N, T, H]` of an LSTM; (h, c) are carried past each sample's length.
  static func lstm(
    x: [Double], n: Int, steps: Int, f: Int, h: Int, p: [String: [Double]], prefix: String,
    lengths: [Int], h0: [Double], c0: [Double]
  ) -> [Double] {
    let wih = p["\(prefix).weight_ih_l0"]!
    let whh = p["\(prefix).weight_hh_l0"]!
    let bih = p["\(prefix).bias_ih_l0"]!
    let bhh = p["\(prefix).bias_hh_l0"]!
    var out = [Double](repeating: 0, count: n * steps * h)
    for b in 0..<n {
      var hs = Array(h0[(b * h)..<((b + 1) * h)])
      var cs = Array(c0[(b * h)..<((b + 1) * h)])
      for t in 0..<steps {
        if t < lengths[b] {
          let xt = x[((b * steps + t) * f)..<((b * steps + t + 1) * f)]
          func pre(_ k: Int) -> Double {
            dot(wih, row: k, cols: f, xt) + bih[k] + dot(whh, row: k, cols: h, hs[...]) + bhh[k]
          }
          var nh = hs
          for j in 0..<h {
            let i = sigmoid(pre(j))
            let fg = sigmoid(pre(h + j))
            let g = Foundation.tanh(pre(2 * h + j))
            let o = sigmoid(pre(3 * h + j))
            cs[j] = fg * cs[j] + i * g
            nh[j] = o * Foundation.tanh(cs[j])
          }
          hs = nh
        }
        out.replaceSubrange(((b * steps + t) * h)..<((b * steps + t + 1) * h), with: hs)
      }
    }
    return out
  }

  /// `y = x Wᵀ + b` for `x [rows, in]`.
  static func linear(_ x: [Double], rows: Int, inF: Int, w: [Double], b: [Double]) -> [Double] {
    let out = b.count
    var y = [Double](repeating: 0, count: rows * out)
    for r in 0..<rows {
      for o in 0..<out {
        y[r * out + o] = b[o] + dot(w, row: o, cols: inF, x[(r * inF)..<((r + 1) * inF)])
      }
    }
    return y
  }

  /// Mean softmax cross-entropy of `logits [rows, c]` over the rows whose label is not -1.
  static func crossEntropy(_ logits: [Double], c: Int, labels: [Int]) -> Double {
    var total = 0.0
    var counted = 0
    for (r, l) in labels.enumerated() where l != -1 {
      let row = logits[(r * c)..<((r + 1) * c)]
      let m = row.max()!
      let lse = m + Foundation.log(row.map { Foundation.exp($0 - m) }.reduce(0, +))
      total += lse - row[r * c + l]
      counted += 1
    }
    return total / Double(counted)
  }
}

/// Compares Float analytic gradients with central differences of a Double loss over named
/// tensors; returns how many entries were checked.
@discardableResult
func expectGradientsMatch(
  _ values: inout [String: [Double]], analytic: [String: [Float]],
  sourceLocation: SourceLocation = #_sourceLocation, loss: ([String: [Double]]) -> Double
) -> Int {
  let h = 1e-6
  var checked = 0
  for name in analytic.keys.sorted() {
    let grads = analytic[name]!
    #expect(grads.count == values[name]!.count, "\(name)", sourceLocation: sourceLocation)
    for i in grads.indices {
      let saved = values[name]![i]
      values[name]![i] = saved + h
      let plus = loss(values)
      values[name]![i] = saved - h
      let minus = loss(values)
      values[name]![i] = saved
      let numeric = (plus - minus) / (2 * h)
      #expect(
        abs(Double(grads[i]) - numeric) <= 1e-4 + 1e-3 * abs(numeric),
        "\(name)[\(i)]: analytic \(grads[i]) numeric \(numeric)", sourceLocation: sourceLocation)
      checked += 1
    }
  }
  return checked
}

func randomTensor(_ shape: [Int], _ rng: inout SeededRNG, scale: Float = 1) -> Tensor {
  Tensor(shape: shape, data: (0..<Tensor.elementCount(shape)).map { _ in scale * rng.nextNormal() })
}

@Suite struct RNNTests {
  let n = 3
  let steps = 4
  let f = 3
  let h = 3

  /// Loss `Σ w ⊙ y` over all outputs (w random), so every output has its own gradient.
  func recurrentCheck(lstm: Bool, lengths: [Int]?) {
    var rng = SeededRNG(seed: lstm ? 11 : 7)
    let x = randomTensor([n, steps, f], &rng)
    let h0 = randomTensor([n, h], &rng, scale: 0.5)
    let c0 = randomTensor([n, h], &rng, scale: 0.5)
    let w = randomTensor([n, steps, h], &rng)
    let layer: any RecurrentLayer
    let y: Tensor
    var prng = SeededRNG(seed: 3)
    if lstm {
      let l = LSTM(inputSize: f, hiddenSize: h, rng: &prng)
      l.zeroGrad()
      y = l.forward(x, lengths: lengths, initialState: (h0, c0))
      layer = l
    } else {
      let g = GRU(inputSize: f, hiddenSize: h, rng: &prng)
      g.zeroGrad()
      y = g.forward(x, lengths: lengths, initialState: h0)
      layer = g
    }
    let gradX = layer.backward(w)
    let prefix = lstm ? "lstm" : "gru"
    #expect(
      layer.parameters.map(\.name) == [
        "\(prefix).weight_ih_l0", "\(prefix).weight_hh_l0", "\(prefix).bias_ih_l0",
        "\(prefix).bias_hh_l0",
      ])
    let lens = lengths ?? [Int](repeating: steps, count: n)
    var values: [String: [Double]] = [
      "x": x.data.map(Double.init), "h0": h0.data.map(Double.init),
      "c0": c0.data.map(Double.init),
    ]
    var analytic: [String: [Float]] = ["x": gradX.data]
    for p in layer.parameters {
      values[p.name] = p.value.data.map(Double.init)
      analytic[p.name] = p.grad.data
    }
    if let g = layer as? GRU {
      analytic["h0"] = g.gradInitialState!.data
    } else if let l = layer as? LSTM {
      analytic["h0"] = l.gradInitialState!.h.data
      analytic["c0"] = l.gradInitialState!.c.data
    }
    let (nn, ss, ff, hh) = (n, steps, f, h)
    let wd = w.data.map(Double.init)
    func outputs(_ v: [String: [Double]]) -> [Double] {
      lstm
        ? RNNReference.lstm(
          x: v["x"]!, n: nn, steps: ss, f: ff, h: hh, p: v, prefix: prefix, lengths: lens,
          h0: v["h0"]!, c0: v["c0"]!)
        : RNNReference.gru(
          x: v["x"]!, n: nn, steps: ss, f: ff, h: hh, p: v, prefix: prefix, lengths: lens,
          h0: v["h0"]!)
    }
    // Forward agrees with the reference.
    let ref = outputs(values)
    for i in ref.indices {
      #expect(abs(Double(y.data[i]) - ref[i]) < 1e-5, "output[\(i)] \(y.data[i]) vs \(ref[i])")
    }
    let checked = expectGradientsMatch(&values, analytic: analytic) { v in
      zip(outputs(v), wd).reduce(0) { $0 + $1.0 * $1.1 }
    }
    let g = lstm ? 4 : 3
    #expect(checked == n * steps * f + n * h * (lstm ? 2 : 1) + g * h * (f + h + 2))
    // Not vacuous: every parameter tensor has clearly nonzero gradients.
    for p in layer.parameters { #expect(p.grad.data.contains { abs($0) > 1e-2 }, "\(p.name)") }
    // Padded steps: inputs there get exactly zero gradient.
    for b in 0..<n {
      for t in lens[b]..<steps {
        for j in 0..<f { #expect(gradX.data[(b * steps + t) * f + j] == 0) }
      }
    }
  }

  @Test func gruGradientsMatchCentralDifferences() { recurrentCheck(lstm: false, lengths: nil) }
  @Test func lstmGradientsMatchCentralDifferences() { recurrentCheck(lstm: true, lengths: nil) }
  @Test func gruPaddedBatchGradients() { recurrentCheck(lstm: false, lengths: [4, 2, 3]) }
  @Test func lstmPaddedBatchGradients() { recurrentCheck(lstm: true, lengths: [1, 4, 2]) }

  /// One GRU step from h = (0.5, −0.25) with weights chosen so that the r, z and n rows differ,
  /// computed with PyTorch's equations written out by hand.
  @Test func gruStepMatchesHandComputation() {
    var rng = SeededRNG(seed: 0)
    let gru = GRU(inputSize: 2, hiddenSize: 2, rng: &rng)
    // weight_ih_l0 rows: r (2), z (2), n (2); columns: x0, x1.
    gru.weightIH.value = Tensor(
      shape: [6, 2], data: [0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, -0.8, 0.9, 1.0, -1.1, 1.2])
    gru.weightHH.value = Tensor(
      shape: [6, 2], data: [0.2, 0.1, -0.3, 0.5, 0.4, -0.6, 0.05, 0.15, -0.7, 0.25, 0.35, -0.45])
    gru.biasIH.value = Tensor(shape: [6], data: [0.01, 0.02, 0.03, 0.04, 0.05, 0.06])
    gru.biasHH.value = Tensor(shape: [6], data: [-0.01, 0.1, -0.2, 0.3, -0.4, 0.5])
    let x = Tensor(shape: [1, 1, 2], data: [1.5, -2.0])
    let h0 = Tensor(shape: [1, 2], data: [0.5, -0.25])
    let y = gru.forward(x, lengths: nil, initialState: h0)
    func s(_ v: Double) -> Double { 1 / (1 + Foundation.exp(-v)) }
    // Biases by gate: b_ir = (0.01, 0.02), b_iz = (0.03, 0.04), b_in = (0.05, 0.06);
    // b_hr = (−0.01, 0.1), b_hz = (−0.2, 0.3), b_hn = (−0.4, 0.5).
    // Unit 0: rows 0 (r), 2 (z), 4 (n) of both weights.
    let r0 = s((0.1 * 1.5 - 0.2 * -2.0 + 0.01) + (0.2 * 0.5 + 0.1 * -0.25 - 0.01))
    let z0 = s((-0.5 * 1.5 + 0.6 * -2.0 + 0.03) + (0.4 * 0.5 - 0.6 * -0.25 - 0.2))
    let n0 = Foundation.tanh(
      (0.9 * 1.5 + 1.0 * -2.0 + 0.05) + r0 * (-0.7 * 0.5 + 0.25 * -0.25 - 0.4))
    let h0new = (1 - z0) * n0 + z0 * 0.5
    // Unit 1: rows 1 (r), 3 (z), 5 (n).
    let r1 = s((0.3 * 1.5 + 0.4 * -2.0 + 0.02) + (-0.3 * 0.5 + 0.5 * -0.25 + 0.1))
    let z1 = s((0.7 * 1.5 - 0.8 * -2.0 + 0.04) + (0.05 * 0.5 + 0.15 * -0.25 + 0.3))
    let n1 = Foundation.tanh(
      (-1.1 * 1.5 + 1.2 * -2.0 + 0.06) + r1 * (0.35 * 0.5 - 0.45 * -0.25 + 0.5))
    let h1new = (1 - z1) * n1 + z1 * -0.25
    #expect(abs(Double(y.data[0]) - h0new) < 1e-6, "\(y.data[0]) vs \(h0new)")
    #expect(abs(Double(y.data[1]) - h1new) < 1e-6, "\(y.data[1]) vs \(h1new)")
    #expect(gru.lastState == Tensor(shape: [1, 2], data: y.data))
  }

  /// Padded inputs change nothing: not the last state and not the gradients.
  @Test func paddingIsInert() {
    var rng = SeededRNG(seed: 5)
    let gru = GRU(inputSize: 2, hiddenSize: 4, rng: &rng)
    var x = randomTensor([2, 5, 2], &rng)
    let lengths = [5, 3]
    let a = gru.forward(x, lengths: lengths)
    for t in 3..<5 { for j in 0..<2 { x.data[(5 + t) * 2 + j] = 100 } }
    let b = gru.forward(x, lengths: lengths)
    #expect(a == b)
    // Sample 1's state after its last real step is carried to t = T−1.
    let full = gru.forward(
      Tensor(shape: [1, 3, 2], data: Array(x.data[10..<16])), lengths: nil)
    #expect(Array(b.data[(9 * 4)..<(10 * 4)]) == Array(full.data[(2 * 4)..<(3 * 4)]))
  }

  @Test func embeddingLookupAndGradient() {
    var rng = SeededRNG(seed: 9)
    let emb = Embedding(vocab: 5, dim: 3, name: "embedding", rng: &rng)
    #expect(emb.weight.name == "embedding.weight" && emb.weight.shape == [5, 3])
    let ids = Tensor(shape: [2, 3], data: [4, 0, 4, 2, 1, 4])
    let y = emb.forward(ids, training: true)
    #expect(y.shape == [2, 3, 3])
    for (k, id) in ids.data.enumerated() {
      #expect(
        Array(y.data[(k * 3)..<(k * 3 + 3)])
          == Array(emb.weight.value.data[(Int(id) * 3)..<(Int(id) * 3 + 3)]))
    }
    let w = randomTensor([2, 3, 3], &rng)
    emb.zeroGrad()
    let gx = emb.backward(w)
    #expect(gx == Tensor(zeros: [2, 3]))
    var values = ["embedding.weight": emb.weight.value.data.map(Double.init)]
    let wd = w.data.map(Double.init)
    let checked = expectGradientsMatch(
      &values, analytic: ["embedding.weight": emb.weight.grad.data]
    ) { v in
      var s = 0.0
      for (k, id) in ids.data.enumerated() {
        for j in 0..<3 { s += v["embedding.weight"]![Int(id) * 3 + j] * wd[k * 3 + j] }
      }
      return s
    }
    #expect(checked == 15)
    // Row 3 is never used: its gradient is exactly 0; row 4 is used three times.
    #expect(emb.weight.grad.data[9..<12].allSatisfy { $0 == 0 })
  }

  @Test func sequenceCrossEntropyGradientAndIgnoredSteps() {
    var rng = SeededRNG(seed: 21)
    let logits = randomTensor([2, 3, 4], &rng, scale: 2)
    let targets = [1, -1, 3, 0, 2, -1]
    let (loss, grad) = sequenceCrossEntropy(logits: logits, targets: targets)
    #expect(grad.shape == [2, 3, 4])
    var values = ["logits": logits.data.map(Double.init)]
    #expect(
      abs(Double(loss) - RNNReference.crossEntropy(values["logits"]!, c: 4, labels: targets))
        < 1e-6)
    expectGradientsMatch(&values, analytic: ["logits": grad.data]) { v in
      RNNReference.crossEntropy(v["logits"]!, c: 4, labels: targets)
    }
    for r in [1, 5] { #expect(grad.data[(r * 4)..<(r * 4 + 4)].allSatisfy { $0 == 0 }) }
    // Nothing ignored: identical to softmaxCrossEntropy on [N·T, V].
    let all = [1, 2, 3, 0, 2, 1]
    let a = sequenceCrossEntropy(logits: logits.reshaped([6, 4]), targets: all)
    let b = softmaxCrossEntropy(logits: logits.reshaped([6, 4]), labels: all)
    #expect(a.loss == b.loss && a.gradLogits == b.gradLogits)
    #expect(abs(bitsPerCharacter(meanCrossEntropy: Float(M_LN2)) - 1) < 1e-7)
    #expect(abs(bitsPerCharacter(meanCrossEntropy: 2) - 2.885_39) < 1e-5)
  }
}
