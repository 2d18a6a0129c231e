import Tensors

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Mean softmax cross-entropy over every counted time step of a batch of sequences (language
/// modelling: one next-token prediction per step).
///
/// `logits` is `[N·T, V]` (rows in batch-first order `n·T + t`, as `CharGRU` produces them) or
/// `[N, T, V]`; `targets` has `N·T` entries in the same order. Steps whose target equals
/// `ignoreIndex` (e.g. padding) count neither in the loss nor in the mean and get a zero
/// gradient; the loss is `(1/K) Σ_counted CE_step` over the K counted steps, computed by
/// `softmaxCrossEntropy` on those rows (so with nothing ignored the two are identical). The
/// gradient has the shape of `logits`.
public func sequenceCrossEntropy(logits: Tensor, targets: [Int], ignoreIndex: Int = -1)
  -> (loss: Float, gradLogits: Tensor)
{
  precondition(
    logits.rank == 2 || logits.rank == 3,
    "sequenceCrossEntropy: logits must be [N·T, V] or [N, T, V], got \(logits.shape)")
  let v = logits.shape[logits.rank - 1]
  let rows = logits.count / max(v, 1)
  precondition(
    targets.count == rows, "sequenceCrossEntropy: \(targets.count) targets for \(rows) steps")
  let flat = logits.reshaped([rows, v])
  let counted = targets.indices.filter { targets[$0] != ignoreIndex }
  if counted.count == rows {
    let (loss, grad) = softmaxCrossEntropy(logits: flat, labels: targets)
    return (loss, grad.reshaped(logits.shape))
  }
  var compact = [Float](repeating: 0, count: counted.count * v)
  for (k, r) in counted.enumerated() {
    compact[(k * v)..<((k + 1) * v)] = flat.data[(r * v)..<((r + 1) * v)]
  }
  let (loss, compactGrad) = softmaxCrossEntropy(
    logits: Tensor(shape: [counted.count, v], data: compact), labels: counted.map { targets[$0] })
  var grad = Tensor(zeros: logits.shape)
  for (k, r) in counted.enumerated() {
    grad.data[(r * v)..<((r + 1) * v)] = compactGrad.data[(k * v)..<((k + 1) * v)]
  }
  return (loss, grad)
}

/// Bits per character from a mean cross-entropy in nats: `CE / ln 2`.
public func bitsPerCharacter(meanCrossEntropy: Float) -> Float {
  meanCrossEntropy / Float(M_LN2)
}
