/// Search over a kernel's knob space without knowing what the knobs are: the space is a list of
/// dimensions, a point one index per dimension, and `cost` measures a point (seconds; nil when
/// the variant failed or was wrong, which never wins). Each strategy measures a point at most
/// once and returns the points in the order measured.
public enum KnobSearch {
  public enum Strategy: String, Sendable, CaseIterable {
    /// Every point, in order.
    case exhaustive
    /// Points drawn without replacement (seeded), up to the limit.
    case random
    /// Coordinate descent with early stopping: from `start`, try every value of one dimension
    /// at a time, move to the best point found, and stop when a full round over the dimensions
    /// improves nothing (or the limit is reached).
    case greedy
  }

  public struct Outcome: Sendable {
    /// Every measured point with its cost, in the order measured.
    public var measured: [([Int], Double?)]
    public var best: [Int]? {
      measured.filter { $0.1 != nil }.min { $0.1! < $1.1! }?.0
    }
  }

  /// Runs `strategy` over the space of `sizes` (the number of values of each dimension),
  /// measuring at most `limit` points.
  public static func run(
    _ strategy: Strategy, sizes: [Int], start: [Int]? = nil, limit: Int = .max, seed: UInt64 = 1,
    cost: ([Int]) -> Double?
  ) -> Outcome {
    precondition(sizes.allSatisfy { $0 >= 1 })
    var seen: [[Int]: Double?] = [:]
    var out = Outcome(measured: [])
    func measure(_ p: [Int]) -> Double? {
      if let c = seen[p] { return c }
      let c = cost(p)
      seen[p] = c
      out.measured.append((p, c))
      return c
    }
    let all = points(sizes)
    switch strategy {
    case .exhaustive:
      for p in all.prefix(limit) { _ = measure(p) }
    case .random:
      var rng = SplitMixRandom(seed: seed)
      var order = all
      for i in stride(from: order.count - 1, to: 0, by: -1) {
        order.swapAt(i, Int(rng.next() % UInt64(i + 1)))
      }
      for p in order.prefix(limit) { _ = measure(p) }
    case .greedy:
      var current = start ?? sizes.map { _ in 0 }
      var best = measure(current)
      var improved = true
      while improved && out.measured.count < limit {
        improved = false
        for d in sizes.indices {
          for v in 0..<sizes[d] where v != current[d] && out.measured.count < limit {
            var p = current
            p[d] = v
            guard seen[p] == nil else { continue }
            if let c = measure(p), c < (best ?? .infinity) {
              best = c
              current = p
              improved = true
            }
          }
        }
      }
    }
    return out
  }

  /// Every point of the space, the last dimension varying fastest.
  public static func points(_ sizes: [Int]) -> [[Int]] {
    var out: [[Int]] = [[]]
    for n in sizes { out = out.flatMap { p in (0..<n).map { p + [$0] } } }
    return out
  }
}
