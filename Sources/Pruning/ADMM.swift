/// ADMM block pruning of one layer (Zhang et al. 2018, with block groups as in Ma et al. 2020):
/// minimize `task_loss(W)` subject to `W` in the block-sparse set `S` (at most `size / rate`
/// weights, kept in whole groups), by the augmented term
///
///     (rho / 2) * ||W - Z + U||^2
///
/// added to the loss, with the auxiliary `Z = Proj_S(W + U)` (keep the largest-norm groups of
/// `W + U` up to the rate, zero the rest) and the scaled dual `U += W - Z`, both updated every
/// `updateSteps` steps; `rho` is multiplied by `rhoGrowth` at each update, up to `rhoMax`, so
/// `W` is pulled harder onto `S` as training goes. The hard prune after this phase projects `W`
/// itself, which by then is close to `Z`.
public struct ADMMPruner: Sendable {
  public let partition: GroupPartition
  public let rate: Double
  public private(set) var rho: Float
  public let rhoGrowth: Float
  public let rhoMax: Float
  /// The projection of `W + U` onto the block-sparse set.
  public private(set) var z: [Float]
  /// The scaled dual variable.
  public private(set) var u: [Float]
  /// Updates of Z and U so far.
  public private(set) var updates = 0

  public init(
    _ w: [Float], partition: GroupPartition, rate: Double, rho: Double, rhoGrowth: Double = 1,
    rhoMax: Double = .infinity
  ) {
    precondition(w.count == partition.rows * partition.cols && rate >= 1 && rho >= 0)
    self.partition = partition
    self.rate = rate
    self.rho = Float(rho)
    self.rhoGrowth = Float(rhoGrowth)
    self.rhoMax = Float(min(rhoMax, Double(Float.greatestFiniteMagnitude)))
    self.u = [Float](repeating: 0, count: w.count)
    self.z = Self.project(w, partition: partition, rate: rate)
  }

  /// `Proj_S(v)`: `v` on the largest-norm groups that fit the rate (as `HardPrune.prune` picks
  /// them), exactly 0 elsewhere.
  public static func project(_ v: [Float], partition: GroupPartition, rate: Double) -> [Float] {
    let mask = HardPrune.prune(v, partition: partition, rate: rate).mask
    var out = v
    for i in out.indices where mask[i] == 0 { out[i] = 0 }
    return out
  }

  /// `(rho / 2) * ||W - Z + U||^2`.
  public func penalty(_ w: [Float]) -> Float {
    var s: Float = 0
    for i in w.indices {
      let d = w[i] - z[i] + u[i]
      s += d * d
    }
    return rho / 2 * s
  }

  /// Adds `rho * (W - Z + U)` to `grad`.
  public func addGradient(_ w: [Float], to grad: inout [Float]) {
    precondition(grad.count == w.count)
    for i in w.indices { grad[i] += rho * (w[i] - z[i] + u[i]) }
  }

  /// One ADMM update: `Z = Proj_S(W + U)`, `U += W - Z`, then `rho *= rhoGrowth` (capped).
  public mutating func update(_ w: [Float]) {
    var v = w
    for i in v.indices { v[i] += u[i] }
    z = Self.project(v, partition: partition, rate: rate)
    for i in u.indices { u[i] += w[i] - z[i] }
    rho = min(rho * rhoGrowth, rhoMax)
    updates += 1
  }

  /// `||W - Z||` / `||W||`: how far the weights still are from the block-sparse set.
  public func primalResidual(_ w: [Float]) -> Double {
    var d = 0.0
    var n = 0.0
    for i in w.indices {
      d += Double(w[i] - z[i]) * Double(w[i] - z[i])
      n += Double(w[i]) * Double(w[i])
    }
    return n > 0 ? (d / n).squareRoot() : 0
  }
}
