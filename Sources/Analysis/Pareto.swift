/// Whether a larger or a smaller value of a metric is better.
public enum Direction: String, Codable, Sendable {
  case higherIsBetter = "higher"
  case lowerIsBetter = "lower"
}

/// A metric the search optimizes, with its direction.
public struct Objective: Hashable, Sendable {
  public var name: String
  public var direction: Direction
  public init(_ name: String, _ direction: Direction) {
    self.name = name
    self.direction = direction
  }
}

/// Pareto dominance over several objectives.
public enum Pareto {
  /// True when `a` is at least as good as `b` in every objective and strictly better in one.
  public static func dominates(_ a: [Double], _ b: [Double], directions: [Direction]) -> Bool {
    precondition(a.count == directions.count && b.count == directions.count)
    var strictly = false
    for i in directions.indices {
      let (x, y) = directions[i] == .higherIsBetter ? (a[i], b[i]) : (-a[i], -b[i])
      if x < y { return false }
      if x > y { strictly = true }
    }
    return strictly
  }

  /// Indices of the non-dominated points (in input order). Points with a NaN coordinate are never
  /// on the front. Duplicates of a front point are all on the front.
  public static func front(_ points: [[Double]], directions: [Direction]) -> [Int] {
    let valid = points.indices.filter { i in points[i].allSatisfy { !$0.isNaN } }
    return valid.filter { i in
      !valid.contains { j in j != i && dominates(points[j], points[i], directions: directions) }
    }
  }
}

extension Pareto {
  /// The hypervolume of two objectives: the area dominated by `points` and bounded by
  /// `reference` (a point every useful configuration beats, e.g. accuracy 0 and the dense model's
  /// latency × 1.1). Larger is better; it grows as the front improves, so a sweep can report it
  /// as it goes. Points that do not beat the reference in both objectives add nothing.
  public static func hypervolume2D(
    _ points: [[Double]], directions: [Direction], reference: [Double]
  ) -> Double {
    precondition(directions.count == 2 && reference.count == 2)
    // To "smaller is better" in both coordinates.
    func minimized(_ p: [Double]) -> (Double, Double) {
      (
        directions[0] == .lowerIsBetter ? p[0] : -p[0],
        directions[1] == .lowerIsBetter ? p[1] : -p[1]
      )
    }
    let r = minimized(reference)
    var pts: [(Double, Double)] = []
    for p in points where p.count == 2 && !p[0].isNaN && !p[1].isNaN {
      let m = minimized(p)
      if m.0 < r.0 && m.1 < r.1 { pts.append(m) }
    }
    pts.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
    var area = 0.0
    var bestY = r.1
    for (x, y) in pts where y < bestY {
      area += (r.0 - x) * (bestY - y)
      bestY = y
    }
    return area
  }
}

extension Pareto {
  /// Non-dominated sorting (NSGA-II): the first front, then the front of what remains, and so on;
  /// every point with no NaN coordinate is in exactly one front, fronts in input order.
  public static func sortedFronts(_ points: [[Double]], directions: [Direction]) -> [[Int]] {
    var remaining = points.indices.filter { i in points[i].allSatisfy { !$0.isNaN } }
    var fronts: [[Int]] = []
    while !remaining.isEmpty {
      let front = remaining.filter { i in
        !remaining.contains { j in
          j != i && dominates(points[j], points[i], directions: directions)
        }
      }
      fronts.append(front)
      remaining.removeAll { front.contains($0) }
    }
    return fronts
  }

  /// NSGA-II crowding distance of each point of `front` (same order): the sum over objectives of
  /// the normalized gap between its neighbours; the extremes of every objective get infinity.
  public static func crowdingDistance(_ points: [[Double]], front: [Int]) -> [Double] {
    guard let m = front.first.map({ points[$0].count }) else { return [] }
    var distance = [Double](repeating: 0, count: front.count)
    for k in 0..<m {
      let order = front.indices.sorted { points[front[$0]][k] < points[front[$1]][k] }
      let lo = points[front[order.first!]][k]
      let hi = points[front[order.last!]][k]
      distance[order.first!] = .infinity
      distance[order.last!] = .infinity
      guard hi > lo, order.count > 2 else { continue }
      for r in 1..<(order.count - 1) {
        distance[order[r]] +=
          (points[front[order[r + 1]]][k] - points[front[order[r - 1]]][k]) / (hi - lo)
      }
    }
    return distance
  }

  /// The `keep` best points by non-dominated rank, then by crowding distance (larger first) in
  /// the front that does not fit whole, then by index: the promotion rule of multi-objective
  /// successive halving. A point is left behind only if `keep` others are in better fronts or
  /// less crowded in its own front — never on one objective alone.
  public static func select(_ points: [[Double]], directions: [Direction], keep: Int) -> [Int] {
    var chosen: [Int] = []
    for front in sortedFronts(points, directions: directions) where chosen.count < keep {
      if chosen.count + front.count <= keep {
        chosen += front
      } else {
        let d = crowdingDistance(points, front: front)
        let order = front.indices.sorted { d[$0] != d[$1] ? d[$0] > d[$1] : front[$0] < front[$1] }
        chosen += order.prefix(keep - chosen.count).map { front[$0] }
      }
    }
    return chosen
  }
}

extension Pareto {
  /// The hypervolume of any number of objectives: the volume dominated by `points` and bounded
  /// by `reference`, by slicing along the last objective (exact; O(n^d) for n points and d
  /// objectives, fine for a sweep's hundreds of trials). Points that do not beat the reference
  /// in every objective add nothing. For two objectives it equals `hypervolume2D`.
  public static func hypervolume(
    _ points: [[Double]], directions: [Direction], reference: [Double]
  ) -> Double {
    precondition(reference.count == directions.count)
    // To "smaller is better" in every coordinate.
    func minimized(_ p: [Double]) -> [Double] {
      p.indices.map { directions[$0] == .lowerIsBetter ? p[$0] : -p[$0] }
    }
    let r = minimized(reference)
    let pts = points.filter { $0.count == r.count && !$0.contains(where: \.isNaN) }
      .map(minimized).filter { p in p.indices.allSatisfy { p[$0] < r[$0] } }
    return sliced(pts, reference: r)
  }

  /// Hypervolume of minimization points that all beat `reference`.
  private static func sliced(_ pts: [[Double]], reference r: [Double]) -> Double {
    guard !pts.isEmpty else { return 0 }
    let d = r.count
    if d == 1 { return r[0] - pts.map { $0[0] }.min()! }
    let sorted = pts.sorted { $0[d - 1] < $1[d - 1] }
    var volume = 0.0
    for i in sorted.indices {
      let top = i + 1 < sorted.count ? sorted[i + 1][d - 1] : r[d - 1]
      let depth = top - sorted[i][d - 1]
      guard depth > 0 else { continue }
      // The points at or below this slice, projected onto the first d - 1 objectives.
      let slice = sorted[0...i].map { Array($0.prefix(d - 1)) }
      volume += depth * sliced(slice, reference: Array(r.prefix(d - 1)))
    }
    return volume
  }
}
