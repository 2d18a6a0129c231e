import Foundation
import Testing
import TuningSchema

@testable import Pruning

@Suite struct ADMMTests {
  let partition = GroupPartition(
    rows: 13, cols: 37, block: BlockShape(rows: 4, cols: 8), scheme: .blockColumn)

  /// The projection keeps exactly the largest-norm groups that fit the rate, unchanged, and
  /// zeroes everything else.
  @Test(arguments: [2.0, 4.0, 8.0])
  func projectionKeepsExactlyTheLargestGroups(rate: Double) {
    var rng = LCG(state: UInt64(rate * 10))
    let v = rng.array(13 * 37)
    let z = ADMMPruner.project(v, partition: partition, rate: rate)
    let norms = partition.norms(v)
    let kept = partition.groups.indices.filter { g in
      partition.groups[g].rows.contains { r in
        partition.groups[g].cols.contains { z[r * 37 + $0] != 0 }
      }
    }
    // Kept groups carry v exactly; pruned groups are exact zeros.
    for (gi, g) in partition.groups.enumerated() {
      for r in g.rows {
        for c in g.cols {
          if kept.contains(gi) {
            #expect(z[r * 37 + c] == v[r * 37 + c])
          } else {
            #expect(z[r * 37 + c] == 0)
          }
        }
      }
    }
    // Within the budget, and every pruned group of full size is no larger than the smallest
    // kept full-size group (edge groups may be skipped only because they fit where others do not).
    let count = kept.reduce(0) { $0 + partition.groups[$1].size }
    #expect(count <= Int(Double(13 * 37) / rate))
    #expect(count == HardPrune.prune(v, partition: partition, rate: rate).kept)
    let full = partition.groups.indices.filter { partition.groups[$0].size == 4 }
    let keptSet = Set(kept)
    let minKept = full.filter { keptSet.contains($0) }.map { norms[$0] }.min() ?? .infinity
    let maxPruned = full.filter { !keptSet.contains($0) }.map { norms[$0] }.max() ?? 0
    #expect(minKept >= maxPruned)
  }

  @Test func dualUpdateAndRhoSchedule() {
    var rng = LCG(state: 5)
    let w = rng.array(13 * 37)
    var admm = ADMMPruner(w, partition: partition, rate: 4, rho: 0.01, rhoGrowth: 2, rhoMax: 0.03)
    #expect(admm.u.allSatisfy { $0 == 0 })
    #expect(admm.z == ADMMPruner.project(w, partition: partition, rate: 4))
    let w2 = w.map { $0 * 0.9 }
    admm.update(w2)
    // Z = Proj(W + U) with U = 0 before; U = W - Z.
    let z = ADMMPruner.project(w2, partition: partition, rate: 4)
    #expect(admm.z == z)
    for i in w2.indices { #expect(admm.u[i] == w2[i] - z[i]) }
    #expect(admm.rho == 0.02)
    admm.update(w2)
    #expect(admm.rho == 0.03)  // capped
    #expect(admm.updates == 2)
  }

  /// The augmented term's gradient against central differences.
  @Test func penaltyGradient() {
    var rng = LCG(state: 9)
    let w = rng.array(13 * 37)
    var admm = ADMMPruner(w, partition: partition, rate: 4, rho: 0.5)
    admm.update(w.map { $0 * 1.1 })
    var grad = [Float](repeating: 0, count: w.count)
    admm.addGradient(w, to: &grad)
    let h: Float = 1e-2
    for i in stride(from: 0, to: w.count, by: 7) {
      var wp = w
      var wm = w
      wp[i] += h
      wm[i] -= h
      let fd = (Double(admm.penalty(wp)) - Double(admm.penalty(wm))) / Double(2 * h)
      #expect(abs(fd - Double(grad[i])) < 1e-3 * max(1, abs(fd)), "weight \(i)")
    }
  }
}

@Suite struct ColumnRowAndGlobalTests {
  /// Every block keeps a subset of its rows and of its columns: its kept weights are exactly
  /// the intersection of the kept rows and kept columns; the rate is met.
  @Test(arguments: [(16, 32, 4, 8, 4.0), (13, 37, 4, 8, 4.0), (30, 50, 8, 16, 9.0)])
  func blocksKeepRowsAndColumns(m: Int, k: Int, br: Int, bc: Int, rate: Double) {
    var rng = LCG(state: UInt64(m * k))
    let w = rng.array(m * k)
    let r = HardPrune.pruneColumnRow(
      w, rows: m, cols: k, block: BlockShape(rows: br, cols: bc), rate: rate)
    let kept = r.mask.reduce(0) { $0 + Int($1) }
    #expect(kept == r.kept && kept <= Int(Double(m * k) / rate))
    #expect(Double(kept) > Double(m * k) / rate * 0.6, "kept \(kept) of \(m * k) at rate \(rate)")
    for r0 in stride(from: 0, to: m, by: br) {
      for c0 in stride(from: 0, to: k, by: bc) {
        let rs = r0..<min(r0 + br, m)
        let cs = c0..<min(c0 + bc, k)
        let keptRows = Set(rs.filter { row in cs.contains { r.mask[row * k + $0] != 0 } })
        let keptCols = Set(cs.filter { col in rs.contains { r.mask[$0 * k + col] != 0 } })
        for row in rs {
          for col in cs {
            let inside = keptRows.contains(row) && keptCols.contains(col)
            #expect((r.mask[row * k + col] != 0) == inside)
          }
        }
      }
    }
  }

  @Test func globalThresholdKeepsTheLargestAcrossLayers() {
    // Layer a has large weights, layer b small ones: at rate 2 over both, a keeps everything.
    var rng = LCG(state: 1)
    let a = rng.array(8 * 16).map { $0 * 10 + ($0 >= 0 ? 20 : -20) }
    let b = rng.array(8 * 16).map { $0 * 0.1 }
    let block = BlockShape(rows: 4, cols: 4)
    let pa = GroupPartition(rows: 8, cols: 16, block: block, scheme: .blockColumn)
    let pb = GroupPartition(rows: 8, cols: 16, block: block, scheme: .blockColumn)
    let r = HardPrune.pruneGlobal([(a, pa), (b, pb)], rate: 2)
    #expect(r[0].kept == 128)
    #expect(r[1].kept == 0)
    #expect(r[0].kept + r[1].kept <= 128)
    // At rate 1 everything stays.
    let all = HardPrune.pruneGlobal([(a, pa), (b, pb)], rate: 1)
    #expect(all.map(\.kept) == [128, 128])
  }

  @Test func histogramCountsEveryGroup() {
    let norms: [Float] = [0, 0, 1e-8, 1e-3, 0.5, 2, 3]
    let h = GroupNormHistogram(norms: norms, bins: 8)
    #expect(h.zeros == 2 && h.belowRange == 1)
    #expect(h.counts.reduce(0, +) == 4)
    #expect(h.log10Edges.count == 9 && h.log10Edges.first == -6)
    #expect(h.log10Edges.last! >= Double(log10f(3)))
  }
}
