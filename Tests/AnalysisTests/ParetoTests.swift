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

@Suite struct HypervolumeTests {
  let dirs: [Direction] = [.higherIsBetter, .lowerIsBetter]  // (accuracy, latency)

  @Test func knownAreas() {
    // Reference (accuracy 0, latency 10). One point (0.5, 4): 0.5 x 6 = 3.
    #expect(Pareto.hypervolume2D([[0.5, 4]], directions: dirs, reference: [0, 10]) == 3)
    // Two points: (0.5, 4) and (0.8, 8): union of [0,0.5]x[4,10] and [0,0.8]x[8,10]
    // = 3 + 0.3 x 2 = 3.6; a dominated point (0.4, 5) adds nothing.
    let hv = Pareto.hypervolume2D(
      [[0.5, 4], [0.8, 8], [0.4, 5]], directions: dirs, reference: [0, 10])
    #expect(abs(hv - 3.6) < 1e-12)
    // Beyond the reference: nothing.
    #expect(Pareto.hypervolume2D([[0.5, 11]], directions: dirs, reference: [0, 10]) == 0)
    #expect(Pareto.hypervolume2D([], directions: dirs, reference: [0, 10]) == 0)
  }

  @Test func growsWhenTheFrontImproves() {
    var g = SystemRandomNumberGenerator()
    for _ in 0..<20 {
      var pts = (0..<10).map { _ in
        [Double.random(in: 0...1, using: &g), Double.random(in: 1...9, using: &g)]
      }
      let before = Pareto.hypervolume2D(pts, directions: dirs, reference: [0, 10])
      pts.append([Double.random(in: 0...1, using: &g), Double.random(in: 1...9, using: &g)])
      #expect(Pareto.hypervolume2D(pts, directions: dirs, reference: [0, 10]) >= before)
    }
  }
}

@Suite struct NondominatedSortingTests {
  let dirs: [Direction] = [.higherIsBetter, .lowerIsBetter]

  @Test func frontsPartitionThePoints() {
    // (accuracy, latency): a, b on the first front; c dominated by b only; d by everything.
    let pts: [[Double]] = [[0.9, 10], [0.8, 5], [0.7, 6], [0.5, 20], [.nan, 1]]
    let fronts = Pareto.sortedFronts(pts, directions: dirs)
    #expect(fronts == [[0, 1], [2], [3]])
  }

  @Test func crowdingFavoursTheExtremes() {
    let pts: [[Double]] = [[0.9, 10], [0.85, 8], [0.84, 7.9], [0.8, 5]]
    let d = Pareto.crowdingDistance(pts, front: [0, 1, 2, 3])
    #expect(d[0] == .infinity && d[3] == .infinity)
    #expect(d[1] > 0 && d[2] > 0)
  }

  @Test func selectKeepsWholeBetterFrontsFirst() {
    let pts: [[Double]] = [[0.9, 10], [0.8, 5], [0.7, 6], [0.5, 20], [0.85, 7]]
    // First front: 0, 1, 4. keep 2: the extremes 0 and 1 (infinite crowding).
    #expect(Set(Pareto.select(pts, directions: dirs, keep: 2)) == [0, 1])
    #expect(Set(Pareto.select(pts, directions: dirs, keep: 4)) == [0, 1, 4, 2])
    // A point best on one objective alone is never dropped for a dominated one.
    #expect(Pareto.select(pts, directions: dirs, keep: 1).count == 1)
    #expect(Pareto.select(pts, directions: dirs, keep: 10).count == 5)
  }
}

@Suite struct HypervolumeNDTests {
  /// The union of the boxes [p, r] by inclusion-exclusion over every subset (exact, small n).
  func inclusionExclusion(_ pts: [[Double]], _ r: [Double]) -> Double {
    var total = 0.0
    for mask in 1..<(1 << pts.count) {
      let members = pts.indices.filter { mask & (1 << $0) != 0 }
      var v = 1.0
      for k in r.indices { v *= max(0, r[k] - members.map { pts[$0][k] }.max()!) }
      total += members.count % 2 == 1 ? v : -v
    }
    return total
  }

  @Test func knownVolumes() {
    let min3: [Direction] = [.lowerIsBetter, .lowerIsBetter, .lowerIsBetter]
    #expect(Pareto.hypervolume([[1, 1, 1]], directions: min3, reference: [2, 2, 2]) == 1)
    let two = Pareto.hypervolume(
      [[0, 0.5, 0.5], [0.5, 0, 0.5]], directions: min3, reference: [1, 1, 1])
    #expect(abs(two - 0.375) < 1e-12)
    // A dominated point and one outside the reference add nothing.
    let more = Pareto.hypervolume(
      [[0, 0.5, 0.5], [0.5, 0, 0.5], [0.6, 0.6, 0.6], [0.1, 0.1, 1.5]], directions: min3,
      reference: [1, 1, 1])
    #expect(abs(more - 0.375) < 1e-12)
    // Accuracy up, latency and size down, as the report uses it.
    let mixed = Pareto.hypervolume(
      [[0.9, 0.5, 0.5]], directions: [.higherIsBetter, .lowerIsBetter, .lowerIsBetter],
      reference: [0, 1, 1])
    #expect(abs(mixed - 0.225) < 1e-12)
  }

  @Test func matchesInclusionExclusionAndThe2DVersion() {
    var rng = SystemRandomNumberGenerator()
    for trial in 0..<40 {
      let d = 2 + trial % 3
      let n = 1 + trial % 7
      let pts = (0..<n).map { _ in (0..<d).map { _ in Double.random(in: 0..<1, using: &rng) } }
      let r = [Double](repeating: 1, count: d)
      let dirs = [Direction](repeating: .lowerIsBetter, count: d)
      let hv = Pareto.hypervolume(pts, directions: dirs, reference: r)
      #expect(abs(hv - inclusionExclusion(pts, r)) < 1e-9, "\(pts)")
      if d == 2 {
        #expect(abs(hv - Pareto.hypervolume2D(pts, directions: dirs, reference: r)) < 1e-12)
      }
    }
  }
}
