import TuningSchema

/// Enumerates the trials of a suite: for every seed, the dense baseline followed by the
/// (block shape, rate) pairs the suite's search strategy picks — every pair in suite order
/// (`grid`), or `search.trials` pairs drawn without replacement with `search.seed` (`random`,
/// the same draw on every machine and every resume). Dense baselines come first because the
/// pruned trials of the same seed start from their checkpoint.
public enum GridSearch {
  public static func trials(for suite: SweepSpec) -> [TrialConfig] {
    let all = grid(for: suite)
    guard suite.search.strategy == .random, let n = suite.search.trials else { return all }
    var rng = SplitMixRandom(seed: UInt64(suite.search.seed))
    var out: [TrialConfig] = []
    for seed in suite.seeds {
      let dense = all.filter { $0.seed == seed && $0.kind == .dense }
      var pruned = all.filter { $0.seed == seed && $0.kind == .pruned }
      // Partial Fisher-Yates: the first n of a seeded permutation, in drawn order.
      for i in 0..<min(n, pruned.count) {
        pruned.swapAt(i, i + Int(rng.next() % UInt64(pruned.count - i)))
      }
      out += dense + pruned.prefix(n)
    }
    return out
  }

  /// Every (seed, method, block, rate) combination, dense baselines first per seed (one dense
  /// baseline per seed, shared by every method).
  public static func grid(for suite: SweepSpec) -> [TrialConfig] {
    var out: [TrialConfig] = []
    for seed in suite.seeds {
      var dense = TrialConfig(
        kind: .dense, model: suite.model, dataset: suite.dataset, subset: suite.subset,
        phases: suite.phases, training: suite.training, seed: seed, keepDense: suite.keepDense)
      dense.width = suite.width
      dense.initCheckpoint = suite.initCheckpoint
      out.append(dense)
      let methods: [MethodSpec?] = suite.methods ?? [nil]
      for method in methods {
        for block in method?.blocks ?? suite.blocks {
          for rate in suite.rates {
            var t = dense
            t.kind = .pruned
            t.scheme = method?.scheme ?? suite.scheme
            t.block = block
            t.rate = rate
            t.regularizer = method?.regularizer ?? suite.regularizer
            t.method = method?.name
            t.layerRates = suite.layerRates
            t.rateMode = suite.rateMode
            out.append(t)
          }
        }
      }
    }
    // A suite listing the same block or rate twice yields identical trials: keep one.
    var seen = Set<String>()
    return out.filter { seen.insert($0.id).inserted }
  }
}

/// SplitMix64, for draws that must not depend on the Swift version.
struct SplitMixRandom {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
