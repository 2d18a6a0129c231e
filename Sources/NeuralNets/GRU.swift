import Tensors

/// A recurrent layer over batch-first sequences `[N, T, F] → [N, T, H]` whose gates are stacked
/// along the rows of two GEMM-view weights, as PyTorch stores them: `weight_ih_l0 [G·H, F]` and
/// `weight_hh_l0 [G·H, H]` with G = 3 (GRU) or 4 (LSTM).
///
/// Variable lengths: `lengths[n]` real steps of sample n come first, padding after. From step
/// `lengths[n]` on the state is carried unchanged (`h_t = h_{t−1}`), so `output[n, T−1]` is the
/// hidden state after the last real step (PyTorch's `h_n` with packed sequences; PyTorch's padded
/// outputs are 0 where these repeat the carried state). Padded inputs never affect anything: their
/// gradient is exactly 0 and they add nothing to the weight gradients.
public protocol RecurrentLayer: Module {
  /// Name prefix of the parameters (`gru` → `gru.weight_ih_l0`).
  static var defaultName: String { get }
  /// Gates stacked in the weights (3 for GRU, 4 for LSTM).
  static var gateCount: Int { get }
  var inputSize: Int { get }
  var hiddenSize: Int { get }
  var weightIH: Parameter { get }
  var weightHH: Parameter { get }
  init(inputSize: Int, hiddenSize: Int, name: String, rng: inout SeededRNG)
  /// `[N, T, F] → [N, T, H]` from a zero initial state, with optional per-sample lengths.
  func forward(_ x: Tensor, lengths: [Int]?) -> Tensor
}

/// Gated recurrent unit, one layer, batch-first, with PyTorch's equations and layout
/// (`torch.nn.GRU(batch_first=True)`). For each step, with `x = x_t`, `h = h_{t−1}`:
///
///     r = σ(W_ir x + b_ir + W_hr h + b_hr)
///     z = σ(W_iz x + b_iz + W_hz h + b_hz)
///     n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
///     h_t = (1 − z) ⊙ n + z ⊙ h
///
/// `weight_ih_l0 [3H, F]` stacks `W_ir; W_iz; W_in` (rows `0..<H`, `H..<2H`, `2H..<3H`),
/// `weight_hh_l0 [3H, H]` and the biases `[3H]` likewise. The input projection of all steps is one
/// sgemm `[N·T, F] × [F, 3H]`; the recurrent projection is one sgemm per step; backprop through time
/// accumulates the weight gradients with one sgemm per weight over all steps.
public final class GRU: RecurrentLayer {
  public static let defaultName = "gru"
  public static let gateCount = 3
  public let inputSize: Int
  public let hiddenSize: Int
  /// `weight_ih_l0 [3H, F]`, rows r, z, n.
  public let weightIH: Parameter
  /// `weight_hh_l0 [3H, H]`, rows r, z, n.
  public let weightHH: Parameter
  /// `bias_ih_l0 [3H]`.
  public let biasIH: Parameter
  /// `bias_hh_l0 [3H]`.
  public let biasHH: Parameter
  /// The state after the last (real) step of the last `forward`, `[N, H]`.
  public private(set) var lastState: Tensor?
  /// After `backward`: the gradient with respect to the initial state `[N, H]`.
  public private(set) var gradInitialState: Tensor?

  private struct Cache {
    var x: Tensor  // [N, T, F]
    var h0: [Float]  // [N, H]
    var output: [Float]  // [N, T, H]
    var gates: [Float]  // [N·T, 3H]: r, z, n after their nonlinearities
    var hiddenN: [Float]  // [N·T, H]: W_hn h + b_hn
    var lengths: [Int]
  }
  private var cache: Cache?

  /// PyTorch's initialisation: every entry U(−1/√H, 1/√H), drawn in the order weight_ih_l0,
  /// weight_hh_l0, bias_ih_l0, bias_hh_l0 (row-major). `name` prefixes the parameter names.
  public init(inputSize: Int, hiddenSize: Int, name: String = GRU.defaultName, rng: inout SeededRNG)
  {
    precondition(inputSize > 0 && hiddenSize > 0, "GRU: sizes must be positive")
    self.inputSize = inputSize
    self.hiddenSize = hiddenSize
    let p = RecurrentMath.initialParameters(
      inputSize: inputSize, hiddenSize: hiddenSize, gates: 3, name: name, rng: &rng)
    (weightIH, weightHH, biasIH, biasHH) = (p.0, p.1, p.2, p.3)
  }

  /// weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0 (PyTorch's state_dict order).
  public var parameters: [Parameter] { [weightIH, weightHH, biasIH, biasHH] }

  /// All sequences full length, zero initial state.
  public func forward(_ x: Tensor, training: Bool) -> Tensor {
    forward(x, lengths: nil, initialState: nil)
  }

  public func forward(_ x: Tensor, lengths: [Int]?) -> Tensor {
    forward(x, lengths: lengths, initialState: nil)
  }

  /// Runs the sequences `x [N, T, F]` and returns every hidden state `[N, T, H]`.
  /// `lengths` (each in `0...T`; nil = all T) and `initialState [N, H]` (nil = zeros) are optional.
  public func forward(_ x: Tensor, lengths: [Int]?, initialState: Tensor?) -> Tensor {
    let (n, steps) = RecurrentMath.checkInput(x, inputSize: inputSize, layer: "GRU")
    let hs = hiddenSize
    let g3 = 3 * hs
    let lens = RecurrentMath.checkLengths(lengths, batch: n, steps: steps, layer: "GRU")
    let h0 = RecurrentMath.initialState(initialState, batch: n, hidden: hs, layer: "GRU")
    var gates = RecurrentMath.inputProjection(x, weight: weightIH.value, bias: biasIH.value)
    var hiddenN = [Float](repeating: 0, count: n * steps * hs)
    var output = [Float](repeating: 0, count: n * steps * hs)
    var projected = [Float](repeating: 0, count: n * g3)
    if n > 0 && steps > 0 {
      h0.withUnsafeBufferPointer { h0b in
        weightHH.value.data.withUnsafeBufferPointer { whb in
          biasHH.value.data.withUnsafeBufferPointer { bhb in
            gates.withUnsafeMutableBufferPointer { gb in
              hiddenN.withUnsafeMutableBufferPointer { hnb in
                output.withUnsafeMutableBufferPointer { yb in
                  projected.withUnsafeMutableBufferPointer { pb in
                    let h0p = h0b.baseAddress!
                    let gp = gb.baseAddress!
                    let hnp = hnb.baseAddress!
                    let yp = yb.baseAddress!
                    let pp = pb.baseAddress!
                    let bh = bhb.baseAddress!
                    for t in 0..<steps {
                      let prev = t == 0 ? UnsafePointer(h0p) : UnsafePointer(yp + (t - 1) * hs)
                      let ldPrev = t == 0 ? hs : steps * hs
                      BLAS.sgemm(
                        transA: false, transB: true, m: n, n: g3, k: hs, alpha: 1,
                        a: prev, lda: ldPrev, b: whb.baseAddress!, ldb: hs,
                        beta: 0, c: pp, ldc: g3)
                      for b in 0..<n {
                        let row = b * steps + t
                        let hPrev = prev + b * ldPrev
                        let out = yp + row * hs
                        if t >= lens[b] {
                          out.update(from: hPrev, count: hs)
                          continue
                        }
                        // Simple passes over contiguous rows, so each loop vectorises.
                        let g = gp + row * g3
                        let hh = pp + b * g3
                        let hn = hnp + row * hs
                        RecurrentMath.sigmoidOfSum(g, hh, bh, count: 2 * hs)  // r, z
                        RecurrentMath.add(hh + 2 * hs, bh + 2 * hs, into: hn, count: hs)
                        RecurrentMath.gruCandidate(g, hidden: hs, hn: hn)  // n
                        RecurrentMath.gruBlend(g, hidden: hs, previous: hPrev, into: out)
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    lastState = RecurrentMath.lastStep(output, initial: h0, batch: n, steps: steps, hidden: hs)
    cache = Cache(
      x: x, h0: h0, output: output, gates: gates, hiddenN: hiddenN, lengths: lens)
    return Tensor(shape: [n, steps, hs], data: output)
  }

  /// Backprop through time from `gradOutput [N, T, H]` (the gradient of every output; put the
  /// gradient of the last state at `t = T−1`). Adds the four parameter gradients, sets
  /// `gradInitialState`, and returns the gradient of the input `[N, T, F]`.
  public func backward(_ gradOutput: Tensor) -> Tensor {
    guard let c = cache else { preconditionFailure("GRU.backward called before forward") }
    let n = c.x.shape[0]
    let steps = c.x.shape[1]
    let hs = hiddenSize
    let g3 = 3 * hs
    precondition(
      gradOutput.shape == [n, steps, hs],
      "GRU.backward: gradOutput shape \(gradOutput.shape), expected \([n, steps, hs])")
    let rows = n * steps
    var dGi = [Float](repeating: 0, count: rows * g3)
    var dGh = [Float](repeating: 0, count: rows * g3)
    var dhNext = [Float](repeating: 0, count: n * hs)
    if rows > 0 {
      gradOutput.data.withUnsafeBufferPointer { dyb in
        c.gates.withUnsafeBufferPointer { gb in
          c.hiddenN.withUnsafeBufferPointer { hnb in
            c.output.withUnsafeBufferPointer { yb in
              c.h0.withUnsafeBufferPointer { h0b in
                weightHH.value.data.withUnsafeBufferPointer { whb in
                  dGi.withUnsafeMutableBufferPointer { dgib in
                    dGh.withUnsafeMutableBufferPointer { dghb in
                      dhNext.withUnsafeMutableBufferPointer { dnb in
                        let dyp = dyb.baseAddress!
                        let gp = gb.baseAddress!
                        let hnp = hnb.baseAddress!
                        let yp = yb.baseAddress!
                        let h0p = h0b.baseAddress!
                        let dgip = dgib.baseAddress!
                        let dghp = dghb.baseAddress!
                        let dnp = dnb.baseAddress!
                        for t in (0..<steps).reversed() {
                          for b in 0..<n {
                            let row = b * steps + t
                            let dy = dyp + row * hs
                            let dn = dnp + b * hs
                            if t >= c.lengths[b] {
                              // Carried state: the whole gradient passes to h_{t−1}.
                              for j in 0..<hs { dn[j] += dy[j] }
                              continue
                            }
                            let g = gp + row * g3
                            let hn = hnp + row * hs
                            let hPrev = t == 0 ? h0p + b * hs : yp + (row - 1) * hs
                            let dgi = dgip + row * g3
                            let dgh = dghp + row * g3
                            for j in 0..<hs {
                              let dh = dy[j] + dn[j]
                              let r = g[j]
                              let z = g[hs + j]
                              let nv = g[2 * hs + j]
                              let dnPre = dh * (1 - z) * (1 - nv * nv)
                              let dzPre = dh * (hPrev[j] - nv) * z * (1 - z)
                              let drPre = dnPre * hn[j] * r * (1 - r)
                              dgi[j] = drPre
                              dgi[hs + j] = dzPre
                              dgi[2 * hs + j] = dnPre
                              dgh[j] = drPre
                              dgh[hs + j] = dzPre
                              dgh[2 * hs + j] = dnPre * r
                              dn[j] = dh * z
                            }
                          }
                          // dh_{t−1} += dGh_t · W_hh (rows of carried samples are 0 in dGh).
                          BLAS.sgemm(
                            transA: false, transB: false, m: n, n: hs, k: g3, alpha: 1,
                            a: dghp + t * g3, lda: steps * g3, b: whb.baseAddress!, ldb: hs,
                            beta: 1, c: dnp, ldc: hs)
                        }
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    gradInitialState = Tensor(shape: [n, hs], data: dhNext)
    return RecurrentMath.accumulateGradients(
      x: c.x, output: c.output, initial: c.h0, hidden: hs, gates: 3,
      gradIH: dGi, gradHH: dGh,
      weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH)
  }
}

/// Plumbing shared by `GRU` and `LSTM`.
enum RecurrentMath {
  /// σ(x) = ½·tanh(x/2) + ½ through the rational `tanh` below (no libm call, so the gate loops
  /// can vectorise); absolute error below 2e-7.
  @inline(__always)
  static func sigmoid(_ x: Float) -> Float { 0.5 * tanh(0.5 * x) + 0.5 }

  /// `p[j] = σ(p[j] + a[j] + b[j])` for `j < count`.
  @inline(__always)
  static func sigmoidOfSum(
    _ p: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
    count: Int
  ) {
    for j in 0..<count { p[j] = sigmoid(p[j] + a[j] + b[j]) }
  }

  /// `p[j] = tanh(p[j] + a[j] + b[j])` for `j < count`.
  @inline(__always)
  static func tanhOfSum(
    _ p: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
    count: Int
  ) {
    for j in 0..<count { p[j] = tanh(p[j] + a[j] + b[j]) }
  }

  /// `out[j] = a[j] + b[j]`.
  @inline(__always)
  static func add(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
    count: Int
  ) {
    for j in 0..<count { out[j] = a[j] + b[j] }
  }

  /// GRU gate row `g = [r, z, n_pre]`: `n = tanh(n_pre + r ⊙ hn)` in place.
  @inline(__always)
  static func gruCandidate(
    _ g: UnsafeMutablePointer<Float>, hidden hs: Int, hn: UnsafePointer<Float>
  ) {
    let r = UnsafePointer(g)
    let n = g + 2 * hs
    for j in 0..<hs { n[j] = tanh(n[j] + r[j] * hn[j]) }
  }

  /// GRU output `h = (1 − z) ⊙ n + z ⊙ h_prev` from the gate row `g = [r, z, n]`.
  @inline(__always)
  static func gruBlend(
    _ g: UnsafePointer<Float>, hidden hs: Int, previous: UnsafePointer<Float>,
    into out: UnsafeMutablePointer<Float>
  ) {
    let z = g + hs
    let n = g + 2 * hs
    for j in 0..<hs { out[j] = n[j] + z[j] * (previous[j] - n[j]) }
  }

  /// tanh(x) as Eigen's fast float tanh: an odd [13/6] rational on x clamped to ±7.9988 (where
  /// tanh rounds to ±1), and x itself for |x| < 4e-4. Maximum error 3.4e-7 over the real line
  /// (checked against double tanh at 2·10⁶ points); glibc's `tanhf` goes through `expm1f` and
  /// took 40% of a GRU training step.
  @inline(__always)
  static func tanh(_ x: Float) -> Float {
    let c = min(max(x, -7.998_811_7), 7.998_811_7)
    let x2 = c * c
    var p: Float = -2.760_768_5e-16
    p = p * x2 + 2.000_187_9e-13
    p = p * x2 - 8.604_671_5e-11
    p = p * x2 + 5.122_297_1e-08
    p = p * x2 + 1.485_722_4e-05
    p = p * x2 + 6.372_619_3e-04
    p = p * x2 + 4.893_524_6e-03
    p = p * c
    var q: Float = 1.198_258_4e-06
    q = q * x2 + 1.185_347_1e-04
    q = q * x2 + 2.268_434_6e-03
    q = q * x2 + 4.893_525_2e-03
    return abs(x) < 0.0004 ? x : p / q
  }

  /// The four parameters with PyTorch's U(−1/√H, 1/√H) init, drawn ih weight, hh weight,
  /// ih bias, hh bias.
  static func initialParameters(
    inputSize: Int, hiddenSize: Int, gates: Int, name: String, rng: inout SeededRNG
  ) -> (Parameter, Parameter, Parameter, Parameter) {
    let bound = 1 / Float(hiddenSize).squareRoot()
    let gh = gates * hiddenSize
    func draw(_ shape: [Int], _ suffix: String) -> Parameter {
      var v = [Float](repeating: 0, count: Tensor.elementCount(shape))
      for i in v.indices { v[i] = rng.nextUniform(-bound, bound) }
      return Parameter(
        name: name.isEmpty ? suffix : "\(name).\(suffix)", value: Tensor(shape: shape, data: v))
    }
    let wih = draw([gh, inputSize], "weight_ih_l0")
    let whh = draw([gh, hiddenSize], "weight_hh_l0")
    let bih = draw([gh], "bias_ih_l0")
    let bhh = draw([gh], "bias_hh_l0")
    return (wih, whh, bih, bhh)
  }

  /// `(N, T)` of a batch-first input `[N, T, F]`.
  static func checkInput(_ x: Tensor, inputSize: Int, layer: String) -> (Int, Int) {
    precondition(
      x.rank == 3 && x.shape[2] == inputSize,
      "\(layer): input must be [N, T, \(inputSize)], got \(x.shape)")
    return (x.shape[0], x.shape[1])
  }

  /// The lengths to use (all `steps` when nil), each checked to lie in `0...steps`.
  static func checkLengths(_ lengths: [Int]?, batch: Int, steps: Int, layer: String) -> [Int] {
    guard let lengths else { return [Int](repeating: steps, count: batch) }
    precondition(
      lengths.count == batch, "\(layer): \(lengths.count) lengths for \(batch) sequences")
    for l in lengths {
      precondition(l >= 0 && l <= steps, "\(layer): length \(l) not in 0...\(steps)")
    }
    return lengths
  }

  static func initialState(_ s: Tensor?, batch: Int, hidden: Int, layer: String) -> [Float] {
    guard let s else { return [Float](repeating: 0, count: batch * hidden) }
    precondition(
      s.shape == [batch, hidden],
      "\(layer): initial state must be \([batch, hidden]), got \(s.shape)")
    return s.data
  }

  /// `output[:, T−1, :]` as `[N, H]` (the initial state when T = 0).
  static func lastStep(_ output: [Float], initial: [Float], batch: Int, steps: Int, hidden: Int)
    -> Tensor
  {
    if steps == 0 { return Tensor(shape: [batch, hidden], data: initial) }
    var last = [Float](repeating: 0, count: batch * hidden)
    for b in 0..<batch {
      let src = (b * steps + steps - 1) * hidden
      last[(b * hidden)..<((b + 1) * hidden)] = output[src..<(src + hidden)]
    }
    return Tensor(shape: [batch, hidden], data: last)
  }

  /// `x [N, T, F]` viewed as `[N·T, F]` times `Wᵀ` plus the bias: `[N·T, G]` in one sgemm.
  static func inputProjection(_ x: Tensor, weight: Tensor, bias: Tensor) -> [Float] {
    let rows = x.shape[0] * x.shape[1]
    let f = x.shape[2]
    let g = weight.shape[0]
    var y = [Float](repeating: 0, count: rows * g)
    if rows == 0 { return y }
    x.data.withUnsafeBufferPointer { xb in
      weight.data.withUnsafeBufferPointer { wb in
        bias.data.withUnsafeBufferPointer { bb in
          y.withUnsafeMutableBufferPointer { yb in
            let yp = yb.baseAddress!
            for r in 0..<rows { (yp + r * g).update(from: bb.baseAddress!, count: g) }
            BLAS.sgemm(
              transA: false, transB: true, m: rows, n: g, k: f, alpha: 1,
              a: xb.baseAddress!, lda: f, b: wb.baseAddress!, ldb: f,
              beta: 1, c: yp, ldc: g)
          }
        }
      }
    }
    return y
  }

  /// The states each step started from, `[N·T, H]`: row `(n, t)` is `h_{t−1}` of sample n
  /// (the initial state for t = 0).
  static func previousStates(output: [Float], initial: [Float], batch: Int, steps: Int, hidden: Int)
    -> [Float]
  {
    var prev = [Float](repeating: 0, count: batch * steps * hidden)
    prev.withUnsafeMutableBufferPointer { pb in
      output.withUnsafeBufferPointer { yb in
        initial.withUnsafeBufferPointer { ib in
          for b in 0..<batch where steps > 0 {
            let dst = pb.baseAddress! + b * steps * hidden
            dst.update(from: ib.baseAddress! + b * hidden, count: hidden)
            (dst + hidden).update(
              from: yb.baseAddress! + b * steps * hidden, count: (steps - 1) * hidden)
          }
        }
      }
    }
    return prev
  }

  /// Column sums of `m [rows, cols]` added into `into`.
  static func addColumnSums(_ m: [Float], rows: Int, cols: Int, into: inout [Float]) {
    m.withUnsafeBufferPointer { mb in
      into.withUnsafeMutableBufferPointer { ob in
        for r in 0..<rows {
          let row = mb.baseAddress! + r * cols
          for j in 0..<cols { ob[j] += row[j] }
        }
      }
    }
  }

  /// From the gradients of the gate pre-activations (`gradIH` = ∂L/∂(W_ih x + b_ih) and
  /// `gradHH` = ∂L/∂(W_hh h + b_hh), both `[N·T, G·H]`): `dW_ih += gradIHᵀ · X`,
  /// `dW_hh += gradHHᵀ · H_prev`, the bias gradients as column sums, and returns
  /// `dX = gradIH · W_ih` as `[N, T, F]`. Three sgemms over all steps at once.
  static func accumulateGradients(
    x: Tensor, output: [Float], initial: [Float], hidden: Int, gates: Int,
    gradIH: [Float], gradHH: [Float],
    weightIH: Parameter, weightHH: Parameter, biasIH: Parameter, biasHH: Parameter
  ) -> Tensor {
    let batch = x.shape[0]
    let steps = x.shape[1]
    let f = x.shape[2]
    let rows = batch * steps
    let g = gates * hidden
    var gradInput = Tensor(zeros: x.shape)
    if rows == 0 { return gradInput }
    let prev = previousStates(
      output: output, initial: initial, batch: batch, steps: steps, hidden: hidden)
    gradIH.withUnsafeBufferPointer { dib in
      gradHH.withUnsafeBufferPointer { dhb in
        x.data.withUnsafeBufferPointer { xb in
          weightIH.grad.data.withUnsafeMutableBufferPointer { gwb in
            BLAS.sgemm(
              transA: true, transB: false, m: g, n: f, k: rows, alpha: 1,
              a: dib.baseAddress!, lda: g, b: xb.baseAddress!, ldb: f,
              beta: 1, c: gwb.baseAddress!, ldc: f)
          }
        }
        prev.withUnsafeBufferPointer { pb in
          weightHH.grad.data.withUnsafeMutableBufferPointer { gwb in
            BLAS.sgemm(
              transA: true, transB: false, m: g, n: hidden, k: rows, alpha: 1,
              a: dhb.baseAddress!, lda: g, b: pb.baseAddress!, ldb: hidden,
              beta: 1, c: gwb.baseAddress!, ldc: hidden)
          }
        }
        weightIH.value.data.withUnsafeBufferPointer { wb in
          gradInput.data.withUnsafeMutableBufferPointer { gib in
            BLAS.sgemm(
              transA: false, transB: false, m: rows, n: f, k: g, alpha: 1,
              a: dib.baseAddress!, lda: g, b: wb.baseAddress!, ldb: f,
              beta: 0, c: gib.baseAddress!, ldc: f)
          }
        }
      }
    }
    addColumnSums(gradIH, rows: rows, cols: g, into: &biasIH.grad.data)
    addColumnSums(gradHH, rows: rows, cols: g, into: &biasHH.grad.data)
    return gradInput
  }
}
