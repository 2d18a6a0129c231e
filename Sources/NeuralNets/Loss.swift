import Tensors

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Mean softmax cross-entropy over a batch and its gradient.
///
/// For logits `z [N, C]` and labels `y`: `loss = (1/N) Σ_n (logsumexp(z_n) − z_{n,y_n})`, with
/// `logsumexp(z) = max(z) + log Σ_c exp(z_c − max(z))` (stable for large logits), and
/// `∂loss/∂z_{n,c} = (softmax(z_n)_c − [c == y_n]) / N`. Labels must lie in `0..<C`.
public func softmaxCrossEntropy(logits: Tensor, labels: [Int]) -> (loss: Float, gradLogits: Tensor)
{
  precondition(
    logits.shape.count == 2, "softmaxCrossEntropy: logits must be [N, C], got \(logits.shape)")
  let n = logits.shape[0]
  let c = logits.shape[1]
  precondition(labels.count == n, "softmaxCrossEntropy: \(labels.count) labels for \(n) rows")
  var grad = Tensor(zeros: [n, c])
  if n == 0 { return (0, grad) }
  let invN = 1 / Double(n)
  var total = 0.0
  logits.data.withUnsafeBufferPointer { zp in
    grad.data.withUnsafeMutableBufferPointer { gp in
      for r in 0..<n {
        let label = labels[r]
        precondition(label >= 0 && label < c, "softmaxCrossEntropy: label \(label) not in 0..<\(c)")
        let z = zp.baseAddress! + r * c
        let g = gp.baseAddress! + r * c
        var m = -Float.infinity
        for j in 0..<c where z[j] > m { m = z[j] }
        var sum: Float = 0
        for j in 0..<c {
          let e = expf(z[j] - m)
          g[j] = e
          sum += e
        }
        total += Double(m) + Double(logf(sum)) - Double(z[label])
        let scale = Float(invN) / sum
        for j in 0..<c { g[j] *= scale }
        g[label] -= Float(invN)
      }
    }
  }
  return (Float(total * invN), grad)
}

/// Row-wise argmax of `[N, C]` logits (the first index on ties).
public func argmax(logits: Tensor) -> [Int] {
  precondition(logits.shape.count == 2, "argmax: logits must be [N, C], got \(logits.shape)")
  let n = logits.shape[0]
  let c = logits.shape[1]
  precondition(c > 0, "argmax: no classes")
  var result = [Int](repeating: 0, count: n)
  logits.data.withUnsafeBufferPointer { zp in
    result.withUnsafeMutableBufferPointer { rp in
      for r in 0..<n {
        let z = zp.baseAddress! + r * c
        var best = 0
        var bestValue = z[0]
        for j in 1..<max(c, 1) where z[j] > bestValue {
          best = j
          bestValue = z[j]
        }
        rp[r] = best
      }
    }
  }
  return result
}

/// Number of rows whose argmax equals the label, and the number of rows.
public func accuracy(logits: Tensor, labels: [Int]) -> (correct: Int, total: Int) {
  let predicted = argmax(logits: logits)
  precondition(
    predicted.count == labels.count, "accuracy: \(labels.count) labels for \(predicted.count) rows")
  var correct = 0
  for i in predicted.indices where predicted[i] == labels[i] { correct += 1 }
  return (correct, labels.count)
}
