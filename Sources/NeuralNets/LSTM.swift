import Tensors

/// Long short-term memory, one layer, batch-first, with PyTorch's equations and layout
/// (`torch.nn.LSTM(batch_first=True)`). For each step, with `x = x_t`, `h = h_{t−1}`,
/// `c = c_{t−1}`:
///
///     i = σ(W_ii x + b_ii + W_hi h + b_hi)
///     f = σ(W_if x + b_if + W_hf h + b_hf)
///     g = tanh(W_ig x + b_ig + W_hg h + b_hg)
///     o = σ(W_io x + b_io + W_ho h + b_ho)
///     c_t = f ⊙ c + i ⊙ g
///     h_t = o ⊙ tanh(c_t)
///
/// `weight_ih_l0 [4H, F]` stacks the gates in the order i, f, g, o (rows `k·H..<(k+1)·H`),
/// `weight_hh_l0 [4H, H]` and the biases `[4H]` likewise. Padding and lengths as in
/// `RecurrentLayer` (both h and c are carried past a sample's length).
public final class LSTM: RecurrentLayer {
  public static let defaultName = "lstm"
  public static let gateCount = 4
  public let inputSize: Int
  public let hiddenSize: Int
  /// `weight_ih_l0 [4H, F]`, rows i, f, g, o.
  public let weightIH: Parameter
  /// `weight_hh_l0 [4H, H]`, rows i, f, g, o.
  public let weightHH: Parameter
  /// `bias_ih_l0 [4H]`.
  public let biasIH: Parameter
  /// `bias_hh_l0 [4H]`.
  public let biasHH: Parameter
  /// `(h, c)` after the last (real) step of the last `forward`, each `[N, H]`.
  public private(set) var lastState: (h: Tensor, c: Tensor)?
  /// After `backward`: the gradients with respect to the initial `(h, c)`, each `[N, H]`.
  public private(set) var gradInitialState: (h: Tensor, c: Tensor)?

  private struct Cache {
    var x: Tensor  // [N, T, F]
    var h0: [Float]  // [N, H]
    var c0: [Float]  // [N, H]
    var output: [Float]  // [N, T, H]
    var gates: [Float]  // [N·T, 4H]: i, f, g, o after their nonlinearities
    var cells: [Float]  // [N·T, H]: c_t
    var tanhCells: [Float]  // [N·T, H]: tanh(c_t)
    var lengths: [Int]
  }
  private var cache: Cache?

  /// PyTorch's initialisation: every entry U(−1/√H, 1/√H), drawn in the order weight_ih_l0,
  /// weight_hh_l0, bias_ih_l0, bias_hh_l0 (row-major). `name` prefixes the parameter names.
  public init(
    inputSize: Int, hiddenSize: Int, name: String = LSTM.defaultName, rng: inout SeededRNG
  ) {
    precondition(inputSize > 0 && hiddenSize > 0, "LSTM: sizes must be positive")
    self.inputSize = inputSize
    self.hiddenSize = hiddenSize
    let p = RecurrentMath.initialParameters(
      inputSize: inputSize, hiddenSize: hiddenSize, gates: 4, name: name, rng: &rng)
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
  /// `lengths` (each in `0...T`; nil = all T) and `initialState` (`h0`, `c0`, each `[N, H]`;
  /// nil = zeros) are optional.
  public func forward(_ x: Tensor, lengths: [Int]?, initialState: (h: Tensor, c: Tensor)?)
    -> Tensor
  {
    let (n, steps) = RecurrentMath.checkInput(x, inputSize: inputSize, layer: "LSTM")
    let hs = hiddenSize
    let g4 = 4 * hs
    let lens = RecurrentMath.checkLengths(lengths, batch: n, steps: steps, layer: "LSTM")
    let h0 = RecurrentMath.initialState(initialState?.h, batch: n, hidden: hs, layer: "LSTM")
    let c0 = RecurrentMath.initialState(initialState?.c, batch: n, hidden: hs, layer: "LSTM")
    var gates = RecurrentMath.inputProjection(x, weight: weightIH.value, bias: biasIH.value)
    var cells = [Float](repeating: 0, count: n * steps * hs)
    var tanhCells = [Float](repeating: 0, count: n * steps * hs)
    var output = [Float](repeating: 0, count: n * steps * hs)
    var projected = [Float](repeating: 0, count: n * g4)
    if n > 0 && steps > 0 {
      h0.withUnsafeBufferPointer { h0b in
        c0.withUnsafeBufferPointer { c0b in
          weightHH.value.data.withUnsafeBufferPointer { whb in
            biasHH.value.data.withUnsafeBufferPointer { bhb in
              gates.withUnsafeMutableBufferPointer { gb in
                cells.withUnsafeMutableBufferPointer { cb in
                  tanhCells.withUnsafeMutableBufferPointer { tcb in
                    output.withUnsafeMutableBufferPointer { yb in
                      projected.withUnsafeMutableBufferPointer { pb in
                        let h0p = h0b.baseAddress!
                        let c0p = c0b.baseAddress!
                        let gp = gb.baseAddress!
                        let cp = cb.baseAddress!
                        let tcp = tcb.baseAddress!
                        let yp = yb.baseAddress!
                        let pp = pb.baseAddress!
                        let bh = bhb.baseAddress!
                        for t in 0..<steps {
                          let prev = t == 0 ? UnsafePointer(h0p) : UnsafePointer(yp + (t - 1) * hs)
                          let ldPrev = t == 0 ? hs : steps * hs
                          BLAS.sgemm(
                            transA: false, transB: true, m: n, n: g4, k: hs, alpha: 1,
                            a: prev, lda: ldPrev, b: whb.baseAddress!, ldb: hs,
                            beta: 0, c: pp, ldc: g4)
                          for b in 0..<n {
                            let row = b * steps + t
                            let hPrev = prev + b * ldPrev
                            let cPrev =
                              t == 0
                              ? UnsafePointer(c0p + b * hs) : UnsafePointer(cp + (row - 1) * hs)
                            let out = yp + row * hs
                            let cell = cp + row * hs
                            let tc = tcp + row * hs
                            if t >= lens[b] {
                              out.update(from: hPrev, count: hs)
                              cell.update(from: cPrev, count: hs)
                              continue
                            }
                            // Simple passes over contiguous rows, so each loop vectorises.
                            let g = gp + row * g4
                            let hh = pp + b * g4
                            let (h2, h3) = (2 * hs, 3 * hs)
                            RecurrentMath.sigmoidOfSum(g, hh, bh, count: h2)  // i, f
                            RecurrentMath.tanhOfSum(g + h2, hh + h2, bh + h2, count: hs)  // g
                            RecurrentMath.sigmoidOfSum(g + h3, hh + h3, bh + h3, count: hs)  // o
                            LSTM.cellUpdate(
                              g, hidden: hs, previous: cPrev, cell: cell, tanhCell: tc, output: out)
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
    }
    lastState = (
      RecurrentMath.lastStep(output, initial: h0, batch: n, steps: steps, hidden: hs),
      RecurrentMath.lastStep(cells, initial: c0, batch: n, steps: steps, hidden: hs)
    )
    cache = Cache(
      x: x, h0: h0, c0: c0, output: output, gates: gates, cells: cells, tanhCells: tanhCells,
      lengths: lens)
    return Tensor(shape: [n, steps, hs], data: output)
  }

  /// From the gate row `g = [i, f, g, o]`: `c = f ⊙ c_prev + i ⊙ g`, `tanh(c)`, `h = o ⊙ tanh(c)`.
  @inline(__always)
  static func cellUpdate(
    _ g: UnsafePointer<Float>, hidden hs: Int, previous: UnsafePointer<Float>,
    cell: UnsafeMutablePointer<Float>, tanhCell: UnsafeMutablePointer<Float>,
    output: UnsafeMutablePointer<Float>
  ) {
    let (i, f, gg, o) = (g, g + hs, g + 2 * hs, g + 3 * hs)
    for j in 0..<hs { cell[j] = f[j] * previous[j] + i[j] * gg[j] }
    for j in 0..<hs { tanhCell[j] = RecurrentMath.tanh(cell[j]) }
    for j in 0..<hs { output[j] = o[j] * tanhCell[j] }
  }

  /// Backprop through time from `gradOutput [N, T, H]` (the gradient of every output; put the
  /// gradient of the last h at `t = T−1`; the last c is taken to have gradient 0). Adds the four
  /// parameter gradients, sets `gradInitialState`, and returns the gradient of the input.
  public func backward(_ gradOutput: Tensor) -> Tensor {
    guard let c = cache else { preconditionFailure("LSTM.backward called before forward") }
    let n = c.x.shape[0]
    let steps = c.x.shape[1]
    let hs = hiddenSize
    let g4 = 4 * hs
    precondition(
      gradOutput.shape == [n, steps, hs],
      "LSTM.backward: gradOutput shape \(gradOutput.shape), expected \([n, steps, hs])")
    let rows = n * steps
    var dG = [Float](repeating: 0, count: rows * g4)
    var dhNext = [Float](repeating: 0, count: n * hs)
    var dcNext = [Float](repeating: 0, count: n * hs)
    if rows > 0 {
      gradOutput.data.withUnsafeBufferPointer { dyb in
        c.gates.withUnsafeBufferPointer { gb in
          c.cells.withUnsafeBufferPointer { cb in
            c.tanhCells.withUnsafeBufferPointer { tcb in
              c.c0.withUnsafeBufferPointer { c0b in
                weightHH.value.data.withUnsafeBufferPointer { whb in
                  dG.withUnsafeMutableBufferPointer { dgb in
                    dhNext.withUnsafeMutableBufferPointer { dhb in
                      dcNext.withUnsafeMutableBufferPointer { dcb in
                        let dyp = dyb.baseAddress!
                        let gp = gb.baseAddress!
                        let cp = cb.baseAddress!
                        let tcp = tcb.baseAddress!
                        let c0p = c0b.baseAddress!
                        let dgp = dgb.baseAddress!
                        let dhp = dhb.baseAddress!
                        let dcp = dcb.baseAddress!
                        for t in (0..<steps).reversed() {
                          for b in 0..<n {
                            let row = b * steps + t
                            let dy = dyp + row * hs
                            let dhn = dhp + b * hs
                            let dcn = dcp + b * hs
                            if t >= c.lengths[b] {
                              // Carried (h, c): both gradients pass to step t−1 unchanged.
                              for j in 0..<hs { dhn[j] += dy[j] }
                              continue
                            }
                            let g = gp + row * g4
                            let tc = tcp + row * hs
                            let cPrev = t == 0 ? c0p + b * hs : cp + (row - 1) * hs
                            let dg = dgp + row * g4
                            for j in 0..<hs {
                              let dh = dy[j] + dhn[j]
                              let iv = g[j]
                              let fv = g[hs + j]
                              let gv = g[2 * hs + j]
                              let ov = g[3 * hs + j]
                              let tcv = tc[j]
                              let dc = dcn[j] + dh * ov * (1 - tcv * tcv)
                              dg[j] = dc * gv * iv * (1 - iv)
                              dg[hs + j] = dc * cPrev[j] * fv * (1 - fv)
                              dg[2 * hs + j] = dc * iv * (1 - gv * gv)
                              dg[3 * hs + j] = dh * tcv * ov * (1 - ov)
                              dcn[j] = dc * fv
                              dhn[j] = 0
                            }
                          }
                          // dh_{t−1} += dG_t · W_hh (rows of carried samples are 0 in dG).
                          BLAS.sgemm(
                            transA: false, transB: false, m: n, n: hs, k: g4, alpha: 1,
                            a: dgp + t * g4, lda: steps * g4, b: whb.baseAddress!, ldb: hs,
                            beta: 1, c: dhp, ldc: hs)
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
    gradInitialState = (
      Tensor(shape: [n, hs], data: dhNext), Tensor(shape: [n, hs], data: dcNext)
    )
    return RecurrentMath.accumulateGradients(
      x: c.x, output: c.output, initial: c.h0, hidden: hs, gates: 4,
      gradIH: dG, gradHH: dG,
      weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH)
  }
}
