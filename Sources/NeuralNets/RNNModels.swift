import Tensors

/// A network over padded batches of sequences `[N, T, F]` with a per-sample length.
public protocol SequenceNetwork: Network {
  /// `x [N, T, F]` (or `[N, T·F]`, read as T steps of F features); `lengths[n]` real steps of
  /// sample n, padding after (nil = all T). Returns one row of logits per sample.
  func forward(_ x: Tensor, lengths: [Int]?, training: Bool) -> Tensor
}

/// Sequence classifier: a one-layer RNN over the sequence, then its hidden state after each
/// sample's last real step → `Linear(H, classes)`. Parameters (PyTorch names):
/// `gru.weight_ih_l0`, `gru.weight_hh_l0`, `gru.bias_ih_l0`, `gru.bias_hh_l0` (or `lstm.*`),
/// `fc.weight`, `fc.bias`. GEMM-view weights, in forward order: the RNN's `weight_ih_l0`,
/// `weight_hh_l0` (named with their full names, e.g. `gru.weight_ih_l0`), then `fc`.
///
/// Padded steps: the RNN carries its state past each sample's length, so the classifier reads
/// `output[:, T−1]` and gradients flow only through real steps (padded inputs get exactly 0).
public final class RecurrentClassifier<Layer: RecurrentLayer>: SequenceNetwork {
  public let inputSize: Int
  public let hiddenSize: Int
  public let classes: Int
  public let rnn: Layer
  public let fc: Linear
  private var cachedInputShape: [Int]?
  private var cachedSteps = 0

  /// Draws the RNN's parameters then fc's from one `SeededRNG(seed:)`.
  public init(inputSize: Int, hiddenSize: Int, classes: Int, seed: UInt64) {
    self.inputSize = inputSize
    self.hiddenSize = hiddenSize
    self.classes = classes
    var rng = SeededRNG(seed: seed)
    rnn = Layer(inputSize: inputSize, hiddenSize: hiddenSize, name: Layer.defaultName, rng: &rng)
    fc = Linear(inFeatures: hiddenSize, outFeatures: classes, name: "fc", rng: &rng)
  }

  public var parameters: [Parameter] { rnn.parameters + fc.parameters }

  public var gemmWeights: [GEMMWeight] {
    let g = Layer.gateCount * hiddenSize
    return [
      GEMMWeight(name: rnn.weightIH.name, parameter: rnn.weightIH, rows: g, cols: inputSize),
      GEMMWeight(name: rnn.weightHH.name, parameter: rnn.weightHH, rows: g, cols: hiddenSize),
      GEMMWeight(linear: fc, name: "fc"),
    ]
  }

  /// All sequences full length.
  public func forward(_ x: Tensor, training: Bool) -> Tensor {
    forward(x, lengths: nil, training: training)
  }

  public func forward(_ x: Tensor, lengths: [Int]?, training: Bool) -> Tensor {
    let x3: Tensor
    if x.rank == 2 {
      precondition(
        x.shape[1] % inputSize == 0,
        "RecurrentClassifier: input [N, \(x.shape[1])] is not T steps of \(inputSize) features")
      x3 = x.reshaped([x.shape[0], x.shape[1] / inputSize, inputSize])
    } else {
      x3 = x
    }
    precondition(x3.rank == 3 && x3.shape[1] > 0, "RecurrentClassifier: input shape \(x.shape)")
    cachedInputShape = x.shape
    cachedSteps = x3.shape[1]
    let y = rnn.forward(x3, lengths: lengths)
    let last = RecurrentMath.lastStep(
      y.data, initial: [], batch: x3.shape[0], steps: cachedSteps, hidden: hiddenSize)
    return fc.forward(last, training: training)
  }

  public func backward(_ gradOutput: Tensor) -> Tensor {
    guard let inputShape = cachedInputShape else {
      preconditionFailure("RecurrentClassifier.backward called before forward")
    }
    let gradLast = fc.backward(gradOutput)
    let n = gradLast.shape[0]
    let hs = hiddenSize
    let steps = cachedSteps
    var gradY = Tensor(zeros: [n, steps, hs])
    for b in 0..<n {
      let dst = (b * steps + steps - 1) * hs
      gradY.data[dst..<(dst + hs)] = gradLast.data[(b * hs)..<((b + 1) * hs)]
    }
    return rnn.backward(gradY).reshaped(inputShape)
  }
}

/// GRU → last hidden state → Linear; `gru.*`, `fc.*`.
public typealias GRUClassifier = RecurrentClassifier<GRU>
/// LSTM → last hidden state → Linear; `lstm.*`, `fc.*`.
public typealias LSTMClassifier = RecurrentClassifier<LSTM>

/// Character-level language model: `Embedding(vocab, E)` → `GRU(E, H)` → `Linear(H, vocab)`
/// at every step. Input: token ids `[N, T]` as Float values (see `Embedding`); output: logits
/// `[N·T, vocab]` in batch-first row order `n·T + t`, ready for `sequenceCrossEntropy`.
/// Parameters: `embedding.weight`, `gru.weight_ih_l0`, `gru.weight_hh_l0`, `gru.bias_ih_l0`,
/// `gru.bias_hh_l0`, `fc.weight`, `fc.bias`. GEMM-view weights: `gru.weight_ih_l0`,
/// `gru.weight_hh_l0`, `fc` (the embedding is a lookup, not a GEMM).
public final class CharGRU: Network {
  public let vocab: Int
  public let embeddingSize: Int
  public let hiddenSize: Int
  public let embedding: Embedding
  public let gru: GRU
  public let fc: Linear
  private var cachedShape: [Int]?

  /// Draws embedding, GRU and fc parameters in that order from one `SeededRNG(seed:)`.
  public init(vocab: Int, embedding: Int, hidden: Int, seed: UInt64) {
    self.vocab = vocab
    self.embeddingSize = embedding
    self.hiddenSize = hidden
    var rng = SeededRNG(seed: seed)
    self.embedding = Embedding(vocab: vocab, dim: embedding, name: "embedding", rng: &rng)
    gru = GRU(inputSize: embedding, hiddenSize: hidden, name: "gru", rng: &rng)
    fc = Linear(inFeatures: hidden, outFeatures: vocab, name: "fc", rng: &rng)
  }

  public var parameters: [Parameter] { embedding.parameters + gru.parameters + fc.parameters }

  public var gemmWeights: [GEMMWeight] {
    [
      GEMMWeight(
        name: gru.weightIH.name, parameter: gru.weightIH, rows: 3 * hiddenSize,
        cols: embeddingSize),
      GEMMWeight(
        name: gru.weightHH.name, parameter: gru.weightHH, rows: 3 * hiddenSize, cols: hiddenSize),
      GEMMWeight(linear: fc, name: "fc"),
    ]
  }

  /// Zero initial state.
  public func forward(_ ids: Tensor, training: Bool) -> Tensor {
    forward(ids, initialState: nil)
  }

  /// `ids [N, T]` → logits `[N·T, vocab]`. Pass `gru.lastState` of the previous batch as
  /// `initialState` to carry the state across consecutive windows (truncated BPTT: no gradient
  /// flows into the previous batch).
  public func forward(_ ids: Tensor, initialState: Tensor?) -> Tensor {
    precondition(ids.rank == 2, "CharGRU: ids must be [N, T], got \(ids.shape)")
    cachedShape = ids.shape
    let e = embedding.forward(ids, training: true)
    let y = gru.forward(e, lengths: nil, initialState: initialState)
    return fc.forward(y.reshaped([ids.count, hiddenSize]), training: true)
  }

  /// From `gradLogits [N·T, vocab]`; returns zeros shaped like the ids.
  public func backward(_ gradOutput: Tensor) -> Tensor {
    guard let shape = cachedShape else {
      preconditionFailure("CharGRU.backward called before forward")
    }
    let gradY = fc.backward(gradOutput).reshaped(shape + [hiddenSize])
    return embedding.backward(gru.backward(gradY))
  }
}
