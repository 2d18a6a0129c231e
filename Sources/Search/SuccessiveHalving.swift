import Foundation
import TuningSchema

/// Multi-objective successive halving over a suite's pruned configurations (`search.strategy:
/// halving`), synchronous so that an interrupted and a fresh sweep plan the same trials.
///
/// Rung 0 runs every configuration of the grid with the shortest regularize / retrain phases;
/// rung r+1 runs the best `ceil(n / eta)` configurations of rung r with `eta` times longer ones,
/// the last rung with the suite's own epochs. A configuration (method, block, rate: the trial
/// without its seed) is judged on the mean over its seeds of the suite's objectives (by default
/// validation accuracy ↑, latency ↓, weights size ↓) at its rung, by non-dominated rank and then crowding — so it is stopped when
/// others dominate it, not because it loses on one metric. Test accuracy is never used. Each rung
/// restarts from the dense baseline (its trials are ordinary trials with their own IDs, stored
/// and resumed like any other), which spends more than continuing would but keeps every trial
/// self-contained and deterministic.
public enum SuccessiveHalving {
  public static let defaultEta = 3
  public static let defaultRungs = 3

  /// Epochs of a phase at `rung` of `rungs`: `full / eta^(rungs - 1 - rung)`, rounded up, at
  /// least 1 (0 stays 0).
  public static func epochs(_ full: Int, rung: Int, rungs: Int, eta: Int) -> Int {
    guard full > 0 else { return 0 }
    let divisor = pow(Double(eta), Double(rungs - 1 - rung))
    return max(1, Int((Double(full) / divisor).rounded(.up)))
  }

  /// `config` at `rung`.
  public static func atRung(_ config: TrialConfig, rung: Int, suite: SweepSpec) -> TrialConfig {
    let (eta, rungs) = settings(suite)
    var c = config
    c.rung = rung
    var p = config.phases
    p.regEpochs = epochs(config.phases.regEpochs, rung: rung, rungs: rungs, eta: eta)
    p.retrainEpochs = epochs(config.phases.retrainEpochs, rung: rung, rungs: rungs, eta: eta)
    c.rungPhases = p
    return c
  }

  public static func settings(_ suite: SweepSpec) -> (eta: Int, rungs: Int) {
    (suite.search.eta ?? defaultEta, suite.search.rungs ?? defaultRungs)
  }

  /// A configuration's key across seeds and rungs.
  static func key(_ c: TrialConfig) -> String {
    var k = c
    k.seed = 0
    k.rung = nil
    k.rungPhases = nil
    return k.id
  }

  /// The trials of every rung that can be planned from `records` (trial ID → record): the dense
  /// baselines and rung 0 always; rung r+1 once every trial of rung r has a record. `select`
  /// picks the indices of the `keep` best points (`Analysis.Pareto.select` over the suite's
  /// objectives, validation accuracy standing for accuracy, passed in by the Driver, as stages do
  /// not import each other). Each point has one value per objective, in the suite's order.
  /// Returns the trials in order, and whether the last rung is planned.
  public static func plan(
    for suite: SweepSpec, records: [String: TrialRecord],
    select: (_ points: [[Double]], _ keep: Int) -> [Int]
  ) -> (trials: [TrialConfig], complete: Bool) {
    let (eta, rungs) = settings(suite)
    var grid = suite
    grid.search.strategy = .grid
    let all = GridSearch.trials(for: grid)
    var out = all.filter { $0.kind == .dense }
    var candidates = all.filter { $0.kind == .pruned }
    for rung in 0..<rungs {
      let trials = candidates.map { atRung($0, rung: rung, suite: suite) }
      out += trials
      guard rung + 1 < rungs else { return (out, true) }
      guard trials.allSatisfy({ records[$0.id] != nil }) else { return (out, false) }
      // One point per configuration: the means over its seeds of its ok trials.
      var order: [String] = []
      var members: [String: [TrialConfig]] = [:]
      for (base, t) in zip(candidates, trials) {
        let k = key(base)
        if members[k] == nil { order.append(k) }
        members[k, default: []].append(t)
      }
      let points: [[Double]] = order.map { k in
        let ok = members[k]!.compactMap { records[$0.id] }.filter { $0.status == .ok }
        func mean(_ x: [Double]) -> Double {
          x.count == ok.count && !x.isEmpty ? x.reduce(0, +) / Double(x.count) : .nan
        }
        return suite.resolvedObjectives.map { o in
          switch o.metric {
          case .accuracy: mean(ok.compactMap(\.valAccuracy))
          case .latency: mean(ok.compactMap(\.latencySeconds))
          case .size: mean(ok.compactMap { $0.sizeBytes.map(Double.init) })
          }
        }
      }
      let keep = Int((Double(order.count) / Double(eta)).rounded(.up))
      let chosen = Set(select(points, keep).map { order[$0] })
      candidates = candidates.filter { chosen.contains(key($0)) }
      if candidates.isEmpty { return (out, true) }
    }
    return (out, true)
  }
}
