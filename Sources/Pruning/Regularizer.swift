import TuningSchema

/// Group regularization of one layer: `lambda * sum_g alpha_g * pen(W_g)`.
///
/// - Reweighted (BLK-REW), `norm` form: `pen = ||W_g||`, `alpha_g = 1 / (||W_g|| + eps)`.
/// - Reweighted, `squared` form: `pen = ||W_g||^2`, `alpha_g = 1 / (||W_g||^2 + eps)`.
/// - Group lasso: `pen = ||W_g||`, `alpha_g = 1` (fixed).
///
/// The `alpha_g` are constants between refreshes (`refresh(_:)`, every T steps), so the gradient
/// is `lambda * alpha_g * W_g / ||W_g||` (norm form; 0 where `W_g = 0`) or
/// `2 * lambda * alpha_g * W_g` (squared form).
public struct GroupRegularizer: Sendable {
  public let partition: GroupPartition
  public let kind: RegularizerSpec.Kind
  public let form: RegularizerSpec.Form
  public let lambda: Float
  public let eps: Float
  /// Penalty weights, one per group.
  public private(set) var alphas: [Float]

  public init(partition: GroupPartition, spec: RegularizerSpec) {
    self.partition = partition
    self.kind = spec.kind
    // Group lasso is the norm form with alpha fixed at 1.
    self.form = spec.kind == .groupLasso ? .norm : spec.form
    self.lambda = Float(spec.lambda)
    self.eps = Float(spec.eps)
    self.alphas = [Float](repeating: 1, count: partition.groups.count)
  }

  /// Recomputes the penalty weights from the current weights (reweighted only).
  public mutating func refresh(_ w: [Float]) {
    guard kind == .reweighted else { return }
    let norms = partition.norms(w)
    for i in alphas.indices {
      let n = norms[i]
      alphas[i] = form == .norm ? 1 / (n + eps) : 1 / (n * n + eps)
    }
  }

  /// The penalty value `lambda * sum_g alpha_g * pen(W_g)`.
  public func penalty(_ w: [Float]) -> Float {
    guard kind != .none else { return 0 }
    let norms = partition.norms(w)
    var s: Float = 0
    for i in norms.indices { s += alphas[i] * (form == .norm ? norms[i] : norms[i] * norms[i]) }
    return lambda * s
  }

  /// Adds the penalty's gradient to `grad` (same layout as `w`).
  public func addGradient(_ w: [Float], to grad: inout [Float]) {
    guard kind != .none, lambda > 0 else { return }
    let cols = partition.cols
    let norms = form == .norm ? partition.norms(w) : []
    w.withUnsafeBufferPointer { wp in
      grad.withUnsafeMutableBufferPointer { gp in
        for (i, g) in partition.groups.enumerated() {
          let scale: Float
          if form == .norm {
            guard norms[i] > 0 else { continue }
            scale = lambda * alphas[i] / norms[i]
          } else {
            scale = 2 * lambda * alphas[i]
          }
          for r in g.rows {
            let base = r * cols
            for c in g.cols { gp[base + c] += scale * wp[base + c] }
          }
        }
      }
    }
  }
}
