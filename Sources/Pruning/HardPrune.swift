import TuningSchema

/// Hard pruning: keep the groups with the largest norms up to the layer's target rate.
public enum HardPrune {
  public struct Result: Sendable {
    /// 0/1 mask, row-major M x K.
    public var mask: [Float]
    /// Weights kept.
    public var kept: Int
    /// The target: the largest whole-group count not above M*K / rate. `kept` equals it when all
    /// groups have one size; with smaller edge groups the greedy choice may fall short of it by
    /// less than one full group.
    public var target: Int
    public var keptGroups: [Int]
  }

  /// Prunes `w` (M x K) to `rate` by group norm. Ties are broken by group index, so the result is
  /// deterministic. Groups are tried largest-norm first and skipped when they would overshoot the
  /// budget, so smaller edge groups can still fill it.
  public static func prune(_ w: [Float], partition: GroupPartition, rate: Double) -> Result {
    precondition(rate >= 1)
    let norms = partition.norms(w)
    let order = norms.indices.sorted { a, b in
      norms[a] != norms[b] ? norms[a] > norms[b] : a < b
    }
    let (kept, count) = partition.select(rate: rate, order: order)
    return Result(
      mask: partition.mask(keeping: kept), kept: count,
      target: bestAchievableCount(partition: partition, rate: rate), keptGroups: kept)
  }

  /// The largest kept count achievable with whole groups under `M*K / rate` (a knapsack over the
  /// group sizes; sizes take at most a few distinct values, so this is cheap). Used by the tests
  /// and the trial record to state how close a layer comes to its nominal rate.
  public static func bestAchievableCount(partition: GroupPartition, rate: Double) -> Int {
    let budget = Int((Double(partition.rows * partition.cols) / rate).rounded(.down))
    var sizes: [Int: Int] = [:]
    for g in partition.groups { sizes[g.size, default: 0] += 1 }
    // Reachable sums with bounded multiplicities, as a bitset over 0...budget.
    var reachable = [Bool](repeating: false, count: budget + 1)
    reachable[0] = true
    for (size, n) in sizes.sorted(by: { $0.key > $1.key }) {
      // Bounded knapsack by residues: for each sum, the fewest copies of `size` used to reach it.
      var used = [Int](repeating: 0, count: budget + 1)
      for s in 0...budget {
        if reachable[s] {
          used[s] = 0
        } else if s >= size, reachable[s - size], used[s - size] < n {
          reachable[s] = true
          used[s] = used[s - size] + 1
        }
      }
    }
    return reachable.lastIndex(of: true) ?? 0
  }
}
