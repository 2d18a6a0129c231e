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
