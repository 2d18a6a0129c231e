import Testing
import TuningSchema

@testable import Search

@Suite struct SearchTests {
  func suite(_ strategy: SearchSpec.Strategy, trials: Int? = nil, seed: Int = 0) -> SweepSpec {
    var s = SweepSpec(
      name: "t", model: "mlp", dataset: "fashion-mnist",
      blocks: [
        BlockShape(rows: 8, cols: 16), BlockShape(rows: 16, cols: 32), BlockShape(rows: 4, cols: 4),
      ],
      rates: [2, 4, 8, 16])
    s.seeds = [1, 2]
    s.search.strategy = strategy
    s.search.trials = trials
    s.search.seed = seed
    return s
  }

  @Test func gridIsDenseFirstThenEveryPair() {
    let t = GridSearch.trials(for: suite(.grid))
    #expect(t.count == 2 * (1 + 12))
    #expect(t[0].kind == .dense && t[13].kind == .dense)
    #expect(Set(t.map(\.id)).count == t.count)
  }

  @Test func randomDrawsWithoutReplacementDeterministically() {
    let a = GridSearch.trials(for: suite(.random, trials: 5, seed: 3))
    let b = GridSearch.trials(for: suite(.random, trials: 5, seed: 3))
    let c = GridSearch.trials(for: suite(.random, trials: 5, seed: 4))
    #expect(a.map(\.id) == b.map(\.id))
    #expect(a.map(\.id) != c.map(\.id))
    #expect(a.count == 2 * 6)
    for seed in [1, 2] {
      let pruned = a.filter { $0.seed == seed && $0.kind == .pruned }
      #expect(pruned.count == 5 && Set(pruned.map(\.id)).count == 5)
      #expect(a.first { $0.seed == seed }?.kind == .dense)
    }
    // Asking for more than the grid gives the whole grid.
    #expect(GridSearch.trials(for: suite(.random, trials: 50)).count == 26)
  }
}

@Suite struct MethodGridTests {
  @Test func everyMethodOnTheSameDenseBaselines() {
    var s = SweepSpec(
      name: "t", model: "mlp", dataset: "fashion-mnist", blocks: [BlockShape(rows: 8, cols: 16)],
      rates: [2, 4])
    s.seeds = [1, 2]
    var lasso = MethodSpec(name: "group-lasso")
    lasso.regularizer = RegularizerSpec()
    lasso.regularizer?.kind = .groupLasso
    var unstructured = MethodSpec(name: "unstructured")
    unstructured.blocks = [BlockShape(rows: 1, cols: 1)]
    unstructured.regularizer = RegularizerSpec()
    unstructured.regularizer?.kind = .none
    s.methods = [MethodSpec(name: "blk-rew"), lasso, unstructured]
    let t = GridSearch.trials(for: s)
    #expect(t.count == 2 * (1 + 3 * 2))
    #expect(t.filter { $0.kind == .dense }.count == 2)
    for p in t where p.kind == .pruned {
      // Every pruned trial's baseline is the seed's one dense trial, whatever the method.
      #expect(t.contains { $0.id == p.denseBaseline.id && $0.kind == .dense })
    }
    #expect(t[1].label == "blk-rew 8x16 R2")
    #expect(t.first { $0.method == "group-lasso" }?.regularizer?.kind == .groupLasso)
    #expect(t.first { $0.method == "unstructured" }?.block == BlockShape(rows: 1, cols: 1))
    #expect(Set(t.map(\.id)).count == t.count)
  }

  @Test func suitesWithoutMethodsKeepTheirTrials() {
    let s = SweepSpec(
      name: "t", model: "mlp", dataset: "fashion-mnist", blocks: [BlockShape(rows: 8, cols: 16)],
      rates: [4])
    let t = GridSearch.trials(for: s)
    #expect(t.map(\.label) == ["dense", "8x16 R4"])
    #expect(t.allSatisfy { $0.method == nil && $0.layerRates == nil && $0.rateMode == nil })
  }
}

@Suite struct SuccessiveHalvingTests {
  func suite() -> SweepSpec {
    var s = SweepSpec(
      name: "h", model: "mlp", dataset: "fashion-mnist",
      blocks: [BlockShape(rows: 8, cols: 16), BlockShape(rows: 4, cols: 4)], rates: [2, 4, 8])
    s.seeds = [1, 2]
    s.phases.regEpochs = 9
    s.phases.retrainEpochs = 3
    s.search.strategy = .halving
    s.search.eta = 3
    s.search.rungs = 3
    return s
  }

  /// A fake objective: accuracy falls with the rate, latency falls with the rate; 4x4 blocks are
  /// dominated (less accurate and slower) at every rate.
  func record(_ t: TrialConfig) -> TrialRecord {
    var r = TrialRecord(trialID: t.id, config: t, status: .ok)
    let rate = t.rate ?? 1
    let small = t.block == BlockShape(rows: 4, cols: 4)
    r.valAccuracy = 0.9 - 0.01 * rate - (small ? 0.05 : 0)
    r.latencySeconds = 1e-5 / rate * (small ? 1.5 : 1)
    r.sizeBytes = Int(1e6 / rate)
    return r
  }

  /// The rule `Analysis.Pareto.select` implements, restated for the test (Search does not import
  /// Analysis): keep the non-dominated points first.
  func select(_ points: [[Double]], _ keep: Int) -> [Int] {
    func dominates(_ a: [Double], _ b: [Double]) -> Bool {
      a[0] >= b[0] && a[1] <= b[1] && a[2] <= b[2] && (a[0] > b[0] || a[1] < b[1] || a[2] < b[2])
    }
    let front = points.indices.filter { i in
      !points.indices.contains { dominates(points[$0], points[i]) }
    }
    return Array(front.prefix(keep))
  }

  @Test func rungsShrinkAndLengthen() {
    let s = suite()
    #expect(SuccessiveHalving.epochs(9, rung: 0, rungs: 3, eta: 3) == 1)
    #expect(SuccessiveHalving.epochs(9, rung: 1, rungs: 3, eta: 3) == 3)
    #expect(SuccessiveHalving.epochs(9, rung: 2, rungs: 3, eta: 3) == 9)
    #expect(SuccessiveHalving.epochs(3, rung: 0, rungs: 3, eta: 3) == 1)
    #expect(SuccessiveHalving.epochs(0, rung: 0, rungs: 3, eta: 3) == 0)

    // Nothing recorded: dense baselines and rung 0 only.
    var (plan, complete) = SuccessiveHalving.plan(for: s, records: [:], select: select)
    #expect(!complete)
    #expect(plan.filter { $0.kind == .dense }.count == 2)
    let rung0 = plan.filter { $0.rung == 0 }
    #expect(rung0.count == 2 * 6 && rung0.allSatisfy { $0.rungPhases?.regEpochs == 1 })
    // The dense baseline of any rung trial is the suite's one dense trial of its seed.
    let denseIDs = Set(plan.filter { $0.kind == .dense }.map(\.id))
    #expect(rung0.allSatisfy { denseIDs.contains($0.denseBaseline.id) })

    var records: [String: TrialRecord] = [:]
    for t in plan { records[t.id] = record(t) }
    (plan, complete) = SuccessiveHalving.plan(for: s, records: records, select: select)
    let rung1 = plan.filter { $0.rung == 1 }
    // 6 configurations -> ceil(6/3) = 2 kept, both seeds each; never a dominated 4x4 one.
    #expect(rung1.count == 2 * 2)
    #expect(rung1.allSatisfy { $0.block == BlockShape(rows: 8, cols: 16) })
    #expect(rung1.allSatisfy { $0.rungPhases?.regEpochs == 3 && $0.rungPhases?.retrainEpochs == 1 })
    #expect(!complete)
    for t in plan { records[t.id] = record(t) }
    (plan, complete) = SuccessiveHalving.plan(for: s, records: records, select: select)
    let rung2 = plan.filter { $0.rung == 2 }
    #expect(complete && rung2.count == 2 * 1)
    #expect(rung2.allSatisfy { $0.rungPhases?.regEpochs == 9 && $0.rungPhases?.retrainEpochs == 3 })
    #expect(Set(plan.map(\.id)).count == plan.count)
    // Deterministic: the same records plan the same trials.
    #expect(
      SuccessiveHalving.plan(for: s, records: records, select: select).trials.map(\.id)
        == plan.map(\.id))
  }

  @Test func failedConfigurationsAreStopped() {
    let s = suite()
    var (plan, _) = SuccessiveHalving.plan(for: s, records: [:], select: select)
    var records: [String: TrialRecord] = [:]
    for t in plan {
      var r = record(t)
      if t.rate == 8 && t.block == BlockShape(rows: 8, cols: 16) { r.status = .diverged }
      records[t.id] = r
    }
    (plan, _) = SuccessiveHalving.plan(for: s, records: records, select: select)
    #expect(
      !plan.contains { $0.rung == 1 && $0.rate == 8 && $0.block == BlockShape(rows: 8, cols: 16) })
  }
}

@Suite struct KnobSearchTests {
  /// A separable bowl with its minimum at (2, 1, 3) and one failing point.
  func cost(_ p: [Int]) -> Double? {
    if p == [0, 0, 0] { return nil }
    return Double((p[0] - 2) * (p[0] - 2) + (p[1] - 1) * (p[1] - 1) + (p[2] - 3) * (p[2] - 3))
  }

  @Test func exhaustiveMeasuresEveryPointOnce() {
    let o = KnobSearch.run(.exhaustive, sizes: [3, 2, 4], cost: cost)
    #expect(o.measured.count == 24 && Set(o.measured.map(\.0)).count == 24)
    #expect(o.best == [2, 1, 3])
  }

  @Test func greedyFindsTheBowlsMinimumWithFewMeasurements() {
    let o = KnobSearch.run(.greedy, sizes: [3, 2, 4], start: [0, 0, 1], cost: cost)
    #expect(o.best == [2, 1, 3])
    #expect(o.measured.count < 24)
    #expect(Set(o.measured.map(\.0)).count == o.measured.count)
  }

  @Test func randomKeepsToTheLimitAndTheSeed() {
    let a = KnobSearch.run(.random, sizes: [3, 2, 4], limit: 6, seed: 7, cost: cost)
    let b = KnobSearch.run(.random, sizes: [3, 2, 4], limit: 6, seed: 7, cost: cost)
    #expect(a.measured.count == 6 && a.measured.map(\.0) == b.measured.map(\.0))
  }
}
