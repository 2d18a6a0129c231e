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
