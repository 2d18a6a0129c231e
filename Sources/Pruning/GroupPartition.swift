import TuningSchema

/// One pruning group: the rectangle `rows x cols` of a weight matrix `W[M, K]` (row-major).
public struct Group: Hashable, Sendable {
  public var rows: Range<Int>
  public var cols: Range<Int>
  public var size: Int { rows.count * cols.count }
}

/// The groups of one layer for a scheme and block shape (DESIGN.md section 2).
///
/// `W` (M x K) is cut into a grid of `br x bc` blocks, edge blocks smaller. Block-column: a group
/// is one column segment of one block (length <= br), so a block keeps a subset of its columns.
/// Block-row: a group is one row segment of one block (length <= bc). Groups are disjoint and
/// cover `W`; their order (block-row major, then block, then column/row) is stable.
/// Block-column-row: both sets, so groups overlap (every weight is in one column group and one
/// row group): right for the regularizer, which penalizes both; its hard prune is
/// `HardPrune.pruneColumnRow`, not `select`/`mask`.
public struct GroupPartition: Sendable {
  public let rows: Int
  public let cols: Int
  public let block: BlockShape
  public let scheme: PruningScheme
  public let groups: [Group]

  /// `block` may use `*` (`BlockShape.whole`) for a whole dimension; it is resolved for this
  /// layer, and `self.block` is the concrete shape.
  public init(rows: Int, cols: Int, block requested: BlockShape, scheme: PruningScheme) {
    precondition(rows > 0 && cols > 0 && requested.rows >= 0 && requested.cols >= 0)
    let block = requested.resolved(rows: rows, cols: cols)
    self.rows = rows
    self.cols = cols
    self.block = block
    self.scheme = scheme
    var groups: [Group] = []
    for r0 in stride(from: 0, to: rows, by: block.rows) {
      let rr = r0..<min(r0 + block.rows, rows)
      for c0 in stride(from: 0, to: cols, by: block.cols) {
        let cr = c0..<min(c0 + block.cols, cols)
        switch scheme {
        case .blockColumn:
          for c in cr { groups.append(Group(rows: rr, cols: c..<(c + 1))) }
        case .blockRow:
          for r in rr { groups.append(Group(rows: r..<(r + 1), cols: cr)) }
        case .blockColumnRow:
          for c in cr { groups.append(Group(rows: rr, cols: c..<(c + 1))) }
          for r in rr { groups.append(Group(rows: r..<(r + 1), cols: cr)) }
        }
      }
    }
    self.groups = groups
  }

  /// Euclidean norm of every group of `w` (row-major M x K).
  public func norms(_ w: [Float]) -> [Float] {
    precondition(w.count == rows * cols)
    return w.withUnsafeBufferPointer { p in
      groups.map { g in
        var s: Float = 0
        for r in g.rows {
          let base = r * cols
          for c in g.cols { s += p[base + c] * p[base + c] }
        }
        return s.squareRoot()
      }
    }
  }

  /// The kept weight count for a compression rate `rate` (>= 1): the largest sum of whole
  /// groups that does not exceed `rows * cols / rate`, filled greedily in `order`.
  /// Returns the indices of the kept groups (in `order`) and their total size.
  public func select(rate: Double, order: [Int]) -> (kept: [Int], count: Int) {
    let budget = Int((Double(rows * cols) / rate).rounded(.down))
    var kept: [Int] = []
    var count = 0
    for g in order where count + groups[g].size <= budget {
      kept.append(g)
      count += groups[g].size
    }
    return (kept, count)
  }

  /// A 0/1 mask (row-major M x K) with the given groups kept.
  public func mask(keeping kept: [Int]) -> [Float] {
    var m = [Float](repeating: 0, count: rows * cols)
    for gi in kept {
      let g = groups[gi]
      for r in g.rows { for c in g.cols { m[r * cols + c] = 1 } }
    }
    return m
  }
}
