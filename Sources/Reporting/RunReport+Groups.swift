import Analysis
import Foundation
import TuningSchema

extension TrialConfig {
  /// The method a report names: `dense` for the baseline, else the suite's name for the method,
  /// else `blk-rew` for the reweighted regularizer (the suite's default) and the regularizer's
  /// kind otherwise (`group-lasso`, `admm`, `none`).
  public var methodName: String {
    if kind == .dense { return "dense" }
    if let method { return method }
    let k = regularizer?.kind ?? .reweighted
    return k == .reweighted ? "blk-rew" : k.rawValue
  }
}

/// Mean and sample standard deviation (nil for one value) of some numbers.
public struct MeanSD: Sendable, Hashable, Codable {
  public var mean: Double
  public var sd: Double?
  public var n: Int
  public init?(_ x: [Double]) {
    let v = x.filter(\.isFinite)
    guard !v.isEmpty else { return nil }
    n = v.count
    mean = v.reduce(0, +) / Double(n)
    if n > 1 {
      let m = mean
      sd = (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(n - 1)).squareRoot()
    }
  }

  /// `mean ± sd` with `format` (just the mean for one value), each scaled by `scale`.
  public func text(_ format: String, scale: Double = 1, pm: String = " ± ") -> String {
    String(format: format, mean * scale)
      + (sd.map { pm + String(format: format, $0 * scale) } ?? "")
  }
}

/// The ok trials of one configuration over its seeds: a method, a block shape and a rate (the
/// dense baseline is the group with method `dense`, no block and rate 1).
public struct ConfigGroup: Sendable {
  public var method: String
  public var block: BlockShape?
  public var rate: Double
  public var trials: [TrialRecord]

  public var accuracy: MeanSD? { MeanSD(trials.compactMap(\.accuracy)) }
  public var bitsPerCharacter: MeanSD? { MeanSD(trials.compactMap(\.bitsPerCharacter)) }
  public var latency: MeanSD? { MeanSD(trials.compactMap(\.latencySeconds)) }
  public var achievedRate: MeanSD? {
    MeanSD(trials.compactMap { $0.compression?.compressionRatio })
  }
  public var seeds: [Int] { trials.map(\.config.seed).sorted() }
  public var isDense: Bool { method == "dense" }
  /// `blk-rew`, `blk-rew 8x16` when the method ran several block shapes.
  public func label(withBlock: Bool) -> String {
    isDense ? "dense" : withBlock ? "\(method) \(block?.description ?? "")" : method
  }
}

extension RunReport {
  /// The methods in the suite's order (`dense` first; methods the suite does not list after, by
  /// name).
  var methodOrder: [String] {
    let listed = manifest.suite.methods?.map(\.name) ?? []
    let present = Set(trials.map(\.config.methodName))
    let rest = present.subtracting(listed).subtracting(["dense"]).sorted()
    return ["dense"] + listed.filter(present.contains) + rest
  }

  /// The ok trials grouped by configuration (method, block, rate) over seeds, in a stable order:
  /// dense, then by method (suite order), block shape and rate.
  public func configGroups() -> [ConfigGroup] {
    struct Key: Hashable {
      var method: String
      var block: BlockShape?
      var rate: Double
    }
    var groups: [Key: [TrialRecord]] = [:]
    for t in trials where t.status == .ok {
      let k = Key(
        method: t.config.methodName, block: t.config.kind == .dense ? nil : t.config.block,
        rate: t.config.kind == .dense ? 1 : (t.config.rate ?? 1))
      groups[k, default: []].append(t)
    }
    let order = methodOrder
    func rank(_ m: String) -> Int { order.firstIndex(of: m) ?? order.count }
    return groups.map {
      ConfigGroup(
        method: $0.key.method, block: $0.key.block, rate: $0.key.rate,
        trials: $0.value.sorted { $0.config.seed < $1.config.seed })
    }.sorted { a, b in
      if rank(a.method) != rank(b.method) { return rank(a.method) < rank(b.method) }
      if a.method != b.method { return a.method < b.method }
      let ba = a.block ?? BlockShape(rows: -1, cols: -1)
      let bb = b.block ?? BlockShape(rows: -1, cols: -1)
      if ba != bb { return ba < bb }
      return a.rate < b.rate
    }
  }

  /// Methods that ran more than one block shape (their labels carry the block).
  func methodsWithSeveralBlocks(_ groups: [ConfigGroup]) -> Set<String> {
    var blocks: [String: Set<String>] = [:]
    for g in groups where !g.isDense {
      blocks[g.method, default: []].insert(g.block?.description ?? "")
    }
    return Set(blocks.filter { $0.value.count > 1 }.keys)
  }

  /// The model speedup `dense / pruned` of a trial over the dense baseline of its seed.
  func speedupRatio(_ t: TrialRecord) -> Double? {
    guard let d = dense(for: t), let dl = d.latencySeconds, let l = t.latencySeconds, l > 0
    else { return nil }
    return dl / l
  }

  /// Whether the model speedup of `pruned` over `dense` is established (the conservative
  /// intervals do not overlap and the medians differ by more than the noise floor); nil when
  /// there are no intervals to test.
  func speedupIsSignificant(dense: TrialRecord, pruned: TrialRecord) -> Bool? {
    guard let l = pruned.latencySeconds, let dl = dense.latencySeconds, l > 0,
      let a = latencyInterval(pruned), let b = latencyInterval(dense)
    else { return nil }
    let separated = a.high < b.low || b.high < a.low
    return separated && abs(dl / l - 1) > noiseFloor
  }

  /// The smallest relative difference of two timings this run calls real.
  var noiseFloor: Double { manifest.environment.timingNoiseMinEffect ?? 0.01 }

  /// The quality metric of the run: test accuracy, or bits per character for a language model
  /// whose trials have no accuracy.
  var usesBitsPerCharacter: Bool {
    let ok = trials.filter { $0.status == .ok }
    return !ok.isEmpty && ok.allSatisfy { $0.accuracy == nil && $0.bitsPerCharacter != nil }
  }
}
