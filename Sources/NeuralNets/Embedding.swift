import Tensors

/// Lookup table `weight [vocab, dim]` (`torch.nn.Embedding`): token `k` maps to row `k`.
///
/// Token ids come in as a Tensor of Float values of any shape (e.g. `[N, T]`), so an Embedding
/// fits the `Module` interface; every value must be a whole number in `0..<vocab`, which Float
/// represents exactly up to 2^24 (16 777 216) — larger vocabularies are not supported. The output
/// has shape `ids.shape + [dim]`. Ids are not differentiable: `backward` scatter-adds the output
/// gradient into the rows of `weight.grad` and returns zeros shaped like the ids.
public final class Embedding: Module {
  public let vocab: Int
  public let dim: Int
  /// `weight [vocab, dim]`.
  public let weight: Parameter
  private var cachedIDs: Tensor?

  /// PyTorch's initialisation: every entry N(0, 1), drawn row-major.
  public init(vocab: Int, dim: Int, name: String, rng: inout SeededRNG) {
    precondition(vocab > 0 && dim > 0, "Embedding: sizes must be positive")
    precondition(vocab <= 1 << 24, "Embedding: vocabulary \(vocab) exceeds 2^24 (ids are Float)")
    self.vocab = vocab
    self.dim = dim
    var w = [Float](repeating: 0, count: vocab * dim)
    for i in w.indices { w[i] = rng.nextNormal() }
    self.weight = Parameter(
      name: name.isEmpty ? "weight" : "\(name).weight", value: Tensor(shape: [vocab, dim], data: w))
  }

  public var parameters: [Parameter] { [weight] }

  /// The row index of a Float id, checked.
  @inline(__always)
  private func row(_ id: Float) -> Int {
    precondition(
      id >= 0 && id < Float(vocab) && id.rounded(.towardZero) == id,
      "Embedding: id \(id) is not a whole number in 0..<\(vocab)")
    return Int(id)
  }

  public func forward(_ ids: Tensor, training: Bool) -> Tensor {
    cachedIDs = ids
    let d = dim
    var y = Tensor(zeros: ids.shape + [d])
    ids.data.withUnsafeBufferPointer { ib in
      weight.value.data.withUnsafeBufferPointer { wb in
        y.data.withUnsafeMutableBufferPointer { yb in
          for i in 0..<ib.count {
            (yb.baseAddress! + i * d).update(from: wb.baseAddress! + row(ib[i]) * d, count: d)
          }
        }
      }
    }
    return y
  }

  /// `weight.grad[id] += gradOutput[position]` for every position; returns zeros like the ids.
  public func backward(_ gradOutput: Tensor) -> Tensor {
    guard let ids = cachedIDs else {
      preconditionFailure("Embedding.backward called before forward")
    }
    precondition(
      gradOutput.shape == ids.shape + [dim],
      "Embedding.backward: gradOutput shape \(gradOutput.shape), expected \(ids.shape + [dim])")
    let d = dim
    ids.data.withUnsafeBufferPointer { ib in
      gradOutput.data.withUnsafeBufferPointer { gb in
        weight.grad.data.withUnsafeMutableBufferPointer { wb in
          for i in 0..<ib.count {
            let dst = wb.baseAddress! + row(ib[i]) * d
            let src = gb.baseAddress! + i * d
            for j in 0..<d { dst[j] += src[j] }
          }
        }
      }
    }
    return Tensor(zeros: ids.shape)
  }
}
