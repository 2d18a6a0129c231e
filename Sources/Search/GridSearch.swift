import TuningSchema

/// Enumerates the trials of a suite: for every seed, the dense baseline followed by every
/// (block shape, rate) pair in suite order. Dense baselines come first because the pruned
/// trials of the same seed start from their checkpoint.
public enum GridSearch {
  public static func trials(for suite: SweepSpec) -> [TrialConfig] {
    var out: [TrialConfig] = []
    for seed in suite.seeds {
      let dense = TrialConfig(
        kind: .dense, model: suite.model, dataset: suite.dataset, subset: suite.subset,
        phases: suite.phases, training: suite.training, seed: seed, keepDense: suite.keepDense)
      out.append(dense)
      for block in suite.blocks {
        for rate in suite.rates {
          var t = dense
          t.kind = .pruned
          t.scheme = suite.scheme
          t.block = block
          t.rate = rate
          t.regularizer = suite.regularizer
          out.append(t)
        }
      }
    }
    // A suite listing the same block or rate twice yields identical trials: keep one.
    var seen = Set<String>()
    return out.filter { seen.insert($0.id).inserted }
  }
}
