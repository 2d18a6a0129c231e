import Testing
import TuningSchema

@testable import Pruning

/// A small deterministic generator for test data.
struct LCG {
  var state: UInt64
  mutating func next() -> Float {
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return Float(state >> 40) / Float(1 << 24) * 2 - 1
  }
  mutating func array(_ n: Int) -> [Float] { (0..<n).map { _ in next() } }
}

@Suite struct GroupPartitionTests {
  @Test(arguments: [
    (16, 32, 8, 16), (13, 37, 8, 16), (5, 7, 8, 16), (300, 784, 16, 32), (10, 100, 8, 16),
  ])
  func groupsCoverTheMatrixOnce(m: Int, k: Int, br: Int, bc: Int) {
    for scheme in PruningScheme.allCases where scheme != .blockColumnRow {
      let p = GroupPartition(
        rows: m, cols: k, block: BlockShape(rows: br, cols: bc), scheme: scheme)
      var seen = [Int](repeating: 0, count: m * k)
      for g in p.groups { for r in g.rows { for c in g.cols { seen[r * k + c] += 1 } } }
      #expect(seen.allSatisfy { $0 == 1 })
      for g in p.groups {
        // A group never crosses a block boundary.
        #expect(g.rows.lowerBound / br == (g.rows.upperBound - 1) / br)
        #expect(g.cols.lowerBound / bc == (g.cols.upperBound - 1) / bc)
        if scheme == .blockColumn {
          #expect(g.cols.count == 1 && g.rows.count == min(br, m - g.rows.lowerBound))
        }
        if scheme == .blockRow { #expect(g.rows.count == 1) }
      }
    }
  }
}

@Suite struct HardPruneTests {
  /// Every block keeps whole columns (block-column), the kept count meets the target, and the
  /// kept groups are the largest-norm ones.
  @Test(arguments: [
    (16, 32, 8, 16, 4.0), (13, 37, 8, 16, 2.0), (13, 37, 4, 4, 8.0), (300, 784, 16, 32, 8.0),
    (100, 300, 8, 16, 3.0),
  ])
  func maskInvariants(m: Int, k: Int, br: Int, bc: Int, rate: Double) {
    var rng = LCG(state: UInt64(m * 1000 + k))
    let w = rng.array(m * k)
    let block = BlockShape(rows: br, cols: bc)
    let p = GroupPartition(rows: m, cols: k, block: block, scheme: .blockColumn)
    let r = HardPrune.prune(w, partition: p, rate: rate)
    let kept = r.mask.reduce(0) { $0 + Int($1) }
    #expect(kept == r.kept)
    let budget = Int((Double(m * k) / rate).rounded(.down))
    #expect(kept <= budget)
    #expect(kept > budget - br)  // within one group of the budget
    #expect(r.target == HardPrune.bestAchievableCount(partition: p, rate: rate))
    if m % br == 0 { #expect(kept == r.target && kept == budget / br * br) }
    // Whole column segments: within a block, a column is all kept or all pruned.
    for r0 in stride(from: 0, to: m, by: br) {
      for c in 0..<k {
        let vals = (r0..<min(r0 + br, m)).map { r.mask[$0 * k + c] }
        #expect(Set(vals).count == 1)
      }
    }
    // Largest norms kept: the smallest kept full-size group norm >= the largest pruned one.
    let norms = p.norms(w)
    let keptSet = Set(r.keptGroups)
    let full = p.groups.indices.filter { p.groups[$0].size == br }
    if let minKept = full.filter({ keptSet.contains($0) }).map({ norms[$0] }).min(),
      let maxPruned = full.filter({ !keptSet.contains($0) }).map({ norms[$0] }).max(), m % br == 0
    {
      #expect(minKept >= maxPruned)
    }
  }

  @Test func rateOneKeepsEverything() {
    var rng = LCG(state: 3)
    let w = rng.array(12 * 20)
    let p = GroupPartition(
      rows: 12, cols: 20, block: BlockShape(rows: 8, cols: 16), scheme: .blockColumn)
    let r = HardPrune.prune(w, partition: p, rate: 1)
    #expect(r.kept == 240 && r.mask.allSatisfy { $0 == 1 })
  }

  @Test func knapsackTarget() {
    // 10 x 3 with 8x1 blocks: column groups of 8 rows (3 of them) and of 2 rows (3 of them).
    let p = GroupPartition(
      rows: 10, cols: 3, block: BlockShape(rows: 8, cols: 1), scheme: .blockColumn)
    // Budget floor(30 / 2.5) = 12: best = 8 + 2 + 2 = 12.
    #expect(HardPrune.bestAchievableCount(partition: p, rate: 2.5) == 12)
    // Budget 7: only 2-row groups fit: 6.
    #expect(HardPrune.bestAchievableCount(partition: p, rate: 30.0 / 7) == 6)
  }
}

@Suite struct RegularizerTests {
  func spec(_ kind: RegularizerSpec.Kind, _ form: RegularizerSpec.Form) -> RegularizerSpec {
    var s = RegularizerSpec()
    s.kind = kind
    s.form = form
    s.lambda = 0.01
    s.eps = 1e-3
    return s
  }

  /// The penalty against a direct computation, and its gradient against central differences
  /// (in Double, around Float weights; alphas held fixed as between refreshes).
  @Test(arguments: [
    (RegularizerSpec.Kind.reweighted, RegularizerSpec.Form.norm), (.reweighted, .squared),
    (.groupLasso, .norm),
  ])
  func valueAndGradient(kind: RegularizerSpec.Kind, form: RegularizerSpec.Form) {
    let (m, k) = (6, 10)
    var rng = LCG(state: 11)
    let w = rng.array(m * k)
    let p = GroupPartition(
      rows: m, cols: k, block: BlockShape(rows: 4, cols: 4), scheme: .blockColumn)
    var reg = GroupRegularizer(partition: p, spec: spec(kind, form))
    reg.refresh(w)
    // Direct value.
    var direct = 0.0
    for g in p.groups {
      var s = 0.0
      for r in g.rows { for c in g.cols { s += Double(w[r * k + c]) * Double(w[r * k + c]) } }
      let n = s.squareRoot()
      let alpha: Double =
        kind == .groupLasso ? 1 : (form == .norm ? 1 / (n + 1e-3) : 1 / (s + 1e-3))
      direct += alpha * (form == .norm || kind == .groupLasso ? n : s)
    }
    direct *= 0.01
    #expect(abs(Double(reg.penalty(w)) - direct) < 1e-5 * max(1, abs(direct)))
    // Gradient.
    var grad = [Float](repeating: 0, count: m * k)
    reg.addGradient(w, to: &grad)
    let h: Float = 1e-2
    for i in 0..<(m * k) {
      var wp = w
      var wm = w
      wp[i] += h
      wm[i] -= h
      let fd = (Double(reg.penalty(wp)) - Double(reg.penalty(wm))) / Double(2 * h)
      #expect(
        abs(fd - Double(grad[i])) < 2e-3 * max(1, abs(fd)), "weight \(i): fd \(fd) vs \(grad[i])")
    }
  }

  /// alpha_g = 1/(||W_g|| + eps) after a refresh and constant until the next one.
  @Test func refreshRule() {
    var w: [Float] = [3, 0, 4, 0]  // 2 x 2, 2x1 blocks: column groups (3,4)->5 and (0,0)->0
    let p = GroupPartition(
      rows: 2, cols: 2, block: BlockShape(rows: 2, cols: 1), scheme: .blockColumn)
    var reg = GroupRegularizer(partition: p, spec: spec(.reweighted, .norm))
    #expect(reg.alphas == [1, 1])
    reg.refresh(w)
    #expect(abs(reg.alphas[0] - 1 / 5.001) < 1e-6)
    #expect(abs(reg.alphas[1] - 1 / 0.001) < 1e-2)
    w[0] = 30
    #expect(abs(reg.alphas[0] - 1 / 5.001) < 1e-6)  // unchanged until refreshed
    var lasso = GroupRegularizer(partition: p, spec: spec(.groupLasso, .norm))
    lasso.refresh(w)
    #expect(lasso.alphas == [1, 1])
  }
}
