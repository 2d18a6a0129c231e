import Testing

@testable import Analysis

@Suite struct ParetoTests {
  let dirs: [Direction] = [.higherIsBetter, .lowerIsBetter]  // (accuracy, latency)

  @Test func dominance() {
    #expect(Pareto.dominates([0.9, 1.0], [0.8, 2.0], directions: dirs))
    #expect(Pareto.dominates([0.9, 1.0], [0.9, 2.0], directions: dirs))
    #expect(!Pareto.dominates([0.9, 1.0], [0.9, 1.0], directions: dirs))
    #expect(!Pareto.dominates([0.9, 3.0], [0.8, 2.0], directions: dirs))
  }

  @Test func frontOfKnownSet() {
    let pts: [[Double]] = [
      [0.90, 5], [0.88, 2], [0.85, 1], [0.87, 3], [0.80, 4], [.nan, 0.1],
    ]
    #expect(Pareto.front(pts, directions: dirs) == [0, 1, 2])
  }

  /// Properties on random sets: no front point is dominated by any point; every other valid
  /// point is dominated by some front point.
  @Test func frontProperties() {
    var g = SystemRandomNumberGenerator()
    for _ in 0..<50 {
      let pts = (0..<30).map { _ in
        [Double.random(in: 0...1, using: &g), Double.random(in: 0...1, using: &g)]
      }
      let f = Pareto.front(pts, directions: dirs)
      #expect(!f.isEmpty)
      for i in f {
        #expect(!pts.indices.contains { Pareto.dominates(pts[$0], pts[i], directions: dirs) })
      }
      for i in pts.indices where !f.contains(i) {
        #expect(f.contains { Pareto.dominates(pts[$0], pts[i], directions: dirs) })
      }
    }
  }
}
