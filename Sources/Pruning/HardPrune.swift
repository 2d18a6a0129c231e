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

extension HardPrune {
  /// Block-column-row pruning: every block keeps a subset of its columns *and* of its rows (its
  /// weights at the intersections). Columns are pruned first, to `sqrt(rate)`, by the norms of
  /// the block-column groups; then block-row segments, measured on the column-masked weights and
  /// counted by the weights they still hold, are kept largest first until the layer holds at
  /// most `size / rate` weights.
  public static func pruneColumnRow(
    _ w: [Float], rows: Int, cols: Int, block: BlockShape, rate: Double
  )
    -> Result
  {
    precondition(rate >= 1 && w.count == rows * cols)
    let block = block.resolved(rows: rows, cols: cols)
    let columns = GroupPartition(rows: rows, cols: cols, block: block, scheme: .blockColumn)
    let colMask = prune(w, partition: columns, rate: rate.squareRoot()).mask
    var masked = w
    for i in masked.indices where colMask[i] == 0 { masked[i] = 0 }
    let rowGroups = GroupPartition(rows: rows, cols: cols, block: block, scheme: .blockRow)
    let norms = rowGroups.norms(masked)
    // A row segment's size here is the weights it keeps after the column step.
    let sizes = rowGroups.groups.map { g in
      var n = 0
      for r in g.rows { for c in g.cols where colMask[r * cols + c] != 0 { n += 1 } }
      return n
    }
    let budget = Int((Double(rows * cols) / rate).rounded(.down))
    let order = norms.indices.sorted { a, b in norms[a] != norms[b] ? norms[a] > norms[b] : a < b }
    var kept: [Int] = []
    var count = 0
    for g in order where sizes[g] > 0 && count + sizes[g] <= budget {
      kept.append(g)
      count += sizes[g]
    }
    var mask = [Float](repeating: 0, count: rows * cols)
    for gi in kept {
      let g = rowGroups.groups[gi]
      for r in g.rows {
        for c in g.cols where colMask[r * cols + c] != 0 { mask[r * cols + c] = 1 }
      }
    }
    return Result(mask: mask, kept: count, target: budget, keptGroups: kept)
  }

  /// One global threshold over several layers: all groups of all layers are ranked by their
  /// root-mean-square weight (`||W_g|| / sqrt(|g|)`, so groups of different sizes compare by
  /// magnitude per weight) and kept largest first while the total stays within
  /// `sum(size) / rate`; each layer ends at whatever rate that gives it.
  public static func pruneGlobal(
    _ layers: [(weights: [Float], partition: GroupPartition)], rate: Double
  )
    -> [Result]
  {
    precondition(rate >= 1)
    struct Candidate {
      var layer: Int
      var group: Int
      var score: Float
      var size: Int
    }
    var all: [Candidate] = []
    var total = 0
    for (li, l) in layers.enumerated() {
      let norms = l.partition.norms(l.weights)
      total += l.partition.rows * l.partition.cols
      for (gi, g) in l.partition.groups.enumerated() {
        all.append(
          Candidate(
            layer: li, group: gi, score: norms[gi] / Float(g.size).squareRoot(), size: g.size))
      }
    }
    all.sort { a, b in
      a.score != b.score ? a.score > b.score : (a.layer, a.group) < (b.layer, b.group)
    }
    let budget = Int((Double(total) / rate).rounded(.down))
    var keptGroups = [[Int]](repeating: [], count: layers.count)
    var count = 0
    for c in all where count + c.size <= budget {
      keptGroups[c.layer].append(c.group)
      count += c.size
    }
    return layers.indices.map { li in
      let p = layers[li].partition
      let kept = keptGroups[li]
      let n = kept.reduce(0) { $0 + p.groups[$1].size }
      return Result(mask: p.mask(keeping: kept), kept: n, target: n, keptGroups: kept)
    }
  }
}
