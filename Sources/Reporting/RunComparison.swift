import Analysis
import Foundation
import TuningSchema

/// One run as `compare` reads it: its manifest, trial records and kernel records.
public struct RunSnapshot: Sendable {
  public var path: String
  public var manifest: RunManifest
  public var trials: [TrialRecord]
  public var kernels: [RunResult]
  public init(path: String, manifest: RunManifest, trials: [TrialRecord], kernels: [RunResult]) {
    self.path = path
    self.manifest = manifest
    self.trials = trials
    self.kernels = kernels
  }
}

/// Two runs of one suite side by side (e.g. before and after a compiler upgrade): trials matched
/// by their configuration without the trainer version, kernels by workload (shape, format, blocks,
/// mask hash), knobs and target — never by compiler, flags or generator version, which is what
/// usually changed. Each matched kernel's raw samples are compared with `Comparison.compare`
/// (two-sided Mann–Whitney at `alpha`, the candidate run's noise floor as the smallest effect);
/// each matched trial's model latency with the conservative intervals of the report (the sums of
/// the layers' bootstrap bounds: slower when the candidate's interval lies above the base's and
/// the medians differ by more than the noise floor).
///
/// A **regression** is a matched kernel or trial that the test calls slower and whose latency
/// grew by more than `thresholdPercent`, or one that was measured (ok) in the base and is not in
/// the candidate (build failure, wrong result, crash).
public struct RunComparison: Codable, Sendable {
  public struct Side: Codable, Sendable {
    public var path: String
    public var runID: String
    public var suite: String
    public var blkrewVersion: String
    public var gitCommit: String?
    public var compilers: [String]
    public var compilerFlags: [String]
    public var cpuModel: String
    public var noiseFloor: Double?
    enum CodingKeys: String, CodingKey {
      case path, suite, compilers
      case runID = "run_id"
      case blkrewVersion = "blkrew_version"
      case gitCommit = "git_commit"
      case compilerFlags = "compiler_flags"
      case cpuModel = "cpu_model"
      case noiseFloor = "timing_noise_min_effect"
    }
  }

  public struct KernelDiff: Codable, Sendable {
    public var key: String
    /// `trial label seed/layer` of every layer using the workload (either run).
    public var usedBy: [String]
    public var shape: String
    public var format: String
    public var block: String
    public var kept: Int
    public var knobs: KernelKnobs
    public var target: String
    public var baseVariantID: String
    public var candidateVariantID: String
    public var baseOutcome: RunOutcome
    public var candidateOutcome: RunOutcome
    public var baseMedian: Double?
    public var candidateMedian: Double?
    public var baseSamples: Int
    public var candidateSamples: Int
    /// `(candidate / base − 1) · 100`.
    public var changePercent: Double?
    public var pValue: Double?
    /// The candidate relative to the base; nil when either side has no samples.
    public var verdict: Verdict?
    public var regression: Bool
    enum CodingKeys: String, CodingKey {
      case key, shape, format, block, kept, knobs, target, verdict, regression
      case usedBy = "used_by"
      case baseVariantID = "base_variant_id"
      case candidateVariantID = "candidate_variant_id"
      case baseOutcome = "base_outcome"
      case candidateOutcome = "candidate_outcome"
      case baseMedian = "base_median_s"
      case candidateMedian = "candidate_median_s"
      case baseSamples = "base_samples"
      case candidateSamples = "candidate_samples"
      case changePercent = "change_percent"
      case pValue = "p_value"
    }
  }

  public struct TrialDiff: Codable, Sendable {
    public var key: String
    public var label: String
    public var seed: Int
    public var baseTrialID: String
    public var candidateTrialID: String
    public var baseStatus: TrialStatus
    public var candidateStatus: TrialStatus
    public var baseAccuracy: Double?
    public var candidateAccuracy: Double?
    /// `(candidate − base) · 100`, accuracy points.
    public var accuracyDeltaPoints: Double?
    public var baseLatency: Double?
    public var candidateLatency: Double?
    public var changePercent: Double?
    /// The candidate's model latency relative to the base's; nil without intervals.
    public var verdict: Verdict?
    public var regression: Bool
    enum CodingKeys: String, CodingKey {
      case key, label, seed, verdict, regression
      case baseTrialID = "base_trial_id"
      case candidateTrialID = "candidate_trial_id"
      case baseStatus = "base_status"
      case candidateStatus = "candidate_status"
      case baseAccuracy = "base_accuracy"
      case candidateAccuracy = "candidate_accuracy"
      case accuracyDeltaPoints = "accuracy_delta_points"
      case baseLatency = "base_latency_s"
      case candidateLatency = "candidate_latency_s"
      case changePercent = "change_percent"
    }
  }

  public struct Unmatched: Codable, Sendable {
    public var trials: [String]
    public var kernels: Int
  }

  public var base: Side
  public var candidate: Side
  public var thresholdPercent: Double
  public var alpha: Double
  /// The smallest relative effect the tests call real: the candidate run's noise floor.
  public var minEffect: Double
  public var trials: [TrialDiff]
  public var kernels: [KernelDiff]
  public var onlyInBase: Unmatched
  public var onlyInCandidate: Unmatched
  public var regressions: Int

  enum CodingKeys: String, CodingKey {
    case base, candidate, alpha, trials, kernels, regressions
    case thresholdPercent = "threshold_percent"
    case minEffect = "min_effect"
    case onlyInBase = "only_in_base"
    case onlyInCandidate = "only_in_candidate"
  }

  public var hasRegression: Bool { regressions > 0 }

  /// The smallest two-sided p-value the exact Mann–Whitney test can give for samples of `n1` and
  /// `n2` (complete separation): `2 / C(n1 + n2, n1)`. When it is not below alpha, no difference
  /// between the two kernels can be called significant, however large.
  public static func smallestPValue(_ n1: Int, _ n2: Int) -> Double {
    guard n1 > 0, n2 > 0 else { return 1 }
    var c = 1.0  // C(n1 + n2, k) built up term by term
    for k in 0..<min(n1, n2) { c = c * Double(n1 + n2 - k) / Double(k + 1) }
    return min(1, 2 / c)
  }

  /// Matched kernels with too few samples on a side for the test to reach alpha.
  public var underpoweredKernels: Int {
    kernels.filter {
      $0.baseSamples > 0 && $0.candidateSamples > 0
        && Self.smallestPValue($0.baseSamples, $0.candidateSamples) >= alpha
    }.count
  }

  /// What identifies a trial across runs: its configuration without the trainer version.
  public static func trialKey(_ c: TrialConfig) -> String {
    var c = c
    c.trainerVersion = ""
    return ContentHash.id(of: c)
  }

  /// What identifies a kernel across runs: workload, knobs and target (no compiler, flags or
  /// generator version).
  public static func kernelKey(_ v: KernelVariant) -> String {
    struct Key: Encodable {
      var workload: Workload
      var knobs: KernelKnobs
      var target: String
    }
    return ContentHash.id(of: Key(workload: v.workload, knobs: v.knobs, target: v.target))
  }

  public static func compare(
    base: RunSnapshot, candidate: RunSnapshot, thresholdPercent: Double = 5, alpha: Double = 0.01
  ) -> RunComparison {
    let minEffect = candidate.manifest.environment.timingNoiseMinEffect ?? 0.01
    func side(_ s: RunSnapshot) -> Side {
      let env = s.manifest.environment
      return Side(
        path: s.path, runID: s.manifest.runID, suite: s.manifest.suite.name,
        blkrewVersion: s.manifest.blkrewVersion, gitCommit: s.manifest.gitCommit,
        compilers: env.compilers ?? [env.compiler], compilerFlags: env.compilerFlags,
        cpuModel: env.cpuModel, noiseFloor: env.timingNoiseMinEffect)
    }
    func change(_ a: Double?, _ b: Double?) -> Double? {
      guard let a, let b, a > 0 else { return nil }
      return (b / a - 1) * 100
    }

    // Trials.
    func byKey(_ ts: [TrialRecord]) -> [String: TrialRecord] {
      var out: [String: TrialRecord] = [:]
      for t in ts.sorted(by: { $0.trialID < $1.trialID }) {
        out[trialKey(t.config)] = out[trialKey(t.config)] ?? t
      }
      return out
    }
    let bt = byKey(base.trials)
    let ct = byKey(candidate.trials)
    let baseReport = RunReport(manifest: base.manifest, trials: base.trials)
    var trialDiffs: [TrialDiff] = []
    for t in baseReport.trials {
      let key = trialKey(t.config)
      guard let c = ct[key], bt[key]?.trialID == t.trialID else { continue }
      var verdict: Verdict?
      if let a = baseReport.latencyInterval(t),
        let b = RunReport(manifest: candidate.manifest, trials: [c]).latencyInterval(c),
        let lb = t.latencySeconds, let lc = c.latencySeconds, lb > 0
      {
        let ratio = lc / lb
        verdict = .indistinguishable
        if b.low > a.high && ratio >= 1 + minEffect { verdict = .slower }
        if b.high < a.low && ratio <= 1 - minEffect { verdict = .faster }
      }
      let pct = change(t.latencySeconds, c.latencySeconds)
      let broke = t.status == .ok && c.status != .ok
      trialDiffs.append(
        TrialDiff(
          key: key, label: t.config.label, seed: t.config.seed, baseTrialID: t.trialID,
          candidateTrialID: c.trialID, baseStatus: t.status, candidateStatus: c.status,
          baseAccuracy: t.accuracy, candidateAccuracy: c.accuracy,
          accuracyDeltaPoints: t.accuracy.flatMap { a in c.accuracy.map { ($0 - a) * 100 } },
          baseLatency: t.latencySeconds, candidateLatency: c.latencySeconds, changePercent: pct,
          verdict: verdict,
          regression: broke || (verdict == .slower && (pct ?? 0) > thresholdPercent)))
    }

    // Kernels.
    var users: [String: [String]] = [:]
    for t in base.trials + candidate.trials {
      for l in t.layers {
        let u = "\(t.config.label) s\(t.config.seed)/\(l.layer)"
        if !(users[l.workloadID] ?? []).contains(u) { users[l.workloadID, default: []].append(u) }
      }
    }
    func kernelsByKey(_ ks: [RunResult]) -> [String: RunResult] {
      var out: [String: RunResult] = [:]
      for k in ks.sorted(by: { $0.variantID < $1.variantID }) {
        let key = kernelKey(k.variant)
        if let have = out[key], have.samplesSeconds.count >= k.samplesSeconds.count { continue }
        out[key] = k
      }
      return out
    }
    let bk = kernelsByKey(base.kernels)
    let ck = kernelsByKey(candidate.kernels)
    var kernelDiffs: [KernelDiff] = []
    for (key, b) in bk {
      guard let c = ck[key] else { continue }
      let w = b.variant.workload
      var verdict: Verdict?
      var p: Double?
      if !b.samplesSeconds.isEmpty, !c.samplesSeconds.isEmpty {
        let r = Comparison.compare(
          c.samplesSeconds, b.samplesSeconds, alpha: alpha, minEffect: minEffect)
        verdict = r.verdict
        p = r.pValue
      }
      let pct = change(b.medianSeconds, c.medianSeconds)
      let broke = b.outcome == .measured && c.outcome != .measured
      kernelDiffs.append(
        KernelDiff(
          key: key, usedBy: users[w.id] ?? [], shape: "\(w.rows)x\(w.cols)",
          format: w.format.rawValue, block: "\(w.blockRows)x\(w.blockCols)", kept: w.kept,
          knobs: b.variant.knobs, target: b.variant.target, baseVariantID: b.variantID,
          candidateVariantID: c.variantID, baseOutcome: b.outcome, candidateOutcome: c.outcome,
          baseMedian: b.medianSeconds, candidateMedian: c.medianSeconds,
          baseSamples: b.samplesSeconds.count, candidateSamples: c.samplesSeconds.count,
          changePercent: pct, pValue: p, verdict: verdict,
          regression: broke || (verdict == .slower && (pct ?? 0) > thresholdPercent)))
    }
    kernelDiffs.sort {
      ($0.usedBy.first ?? "~", $0.knobs.batch, $0.knobs.unroll, $0.knobs.nTile, $0.key)
        < ($1.usedBy.first ?? "~", $1.knobs.batch, $1.knobs.unroll, $1.knobs.nTile, $1.key)
    }
    let matchedTrialKeys = Set(trialDiffs.map(\.key))
    func unmatchedTrials(_ m: [String: TrialRecord]) -> [String] {
      m.filter { !matchedTrialKeys.contains($0.key) }.values.map {
        "\($0.config.label) s\($0.config.seed)"
      }.sorted()
    }
    return RunComparison(
      base: side(base), candidate: side(candidate), thresholdPercent: thresholdPercent,
      alpha: alpha, minEffect: minEffect, trials: trialDiffs, kernels: kernelDiffs,
      onlyInBase: Unmatched(
        trials: unmatchedTrials(bt), kernels: bk.keys.filter { ck[$0] == nil }.count),
      onlyInCandidate: Unmatched(
        trials: unmatchedTrials(ct), kernels: ck.keys.filter { bk[$0] == nil }.count),
      regressions: trialDiffs.filter(\.regression).count + kernelDiffs.filter(\.regression).count)
  }

  // MARK: - Text

  /// The side-by-side as Markdown: the two runs, the trials, the kernels, and one last line that
  /// says whether there is a regression.
  public func markdown() -> String {
    var doc = Document(title: "blkrew compare: \(base.suite)")
    func describe(_ s: Side) -> String {
      "`\(s.path)` (run `\(s.runID)`, blkrew \(s.blkrewVersion)"
        + (s.gitCommit.map { " at `\($0.prefix(12))`" } ?? "") + "; "
        + s.compilers.joined(separator: "; ")
        + "; flags `\(s.compilerFlags.joined(separator: " "))`; "
        + s.cpuModel + (s.noiseFloor.map { String(format: "; noise floor %.1f%%", $0 * 100) } ?? "")
        + ")"
    }
    doc.bullets(["base: " + describe(base), "candidate: " + describe(candidate)])
    doc.paragraph(
      "Trials are matched by configuration (without the trainer version), kernels by workload, "
        + "knobs and target (without compiler, flags or generator version). Kernel differences: "
        + String(format: "two-sided Mann–Whitney on the raw samples at alpha %.2g", alpha)
        + " with the candidate's noise floor ("
        + String(format: "%.1f%%", minEffect * 100)
        + ") as the smallest real effect; trial latency: the conservative intervals of the report. "
        + "A regression is slower by the test and by more than "
        + String(format: "%g%%", thresholdPercent)
        + ", or ok in the base and not in the candidate.")
    func pct(_ x: Double?) -> String { x.map { String(format: "%+.1f%%", $0) } ?? "" }
    func pts(_ x: Double?) -> String { x.map { String(format: "%+.2f", $0) } ?? "" }
    func v(_ x: Verdict?, _ regression: Bool) -> String {
      (x?.rawValue ?? "untested") + (regression ? " **REGRESSION**" : "")
    }
    doc.heading("Trials")
    doc.paragraph(
      "\(trials.count) matched; only in base: \(onlyInBase.trials.count)"
        + (onlyInBase.trials.isEmpty ? "" : " (\(onlyInBase.trials.joined(separator: ", ")))")
        + "; only in candidate: \(onlyInCandidate.trials.count)"
        + (onlyInCandidate.trials.isEmpty
          ? "" : " (\(onlyInCandidate.trials.joined(separator: ", ")))") + ".")
    doc.table(
      [
        "trial", "seed", "status", "base acc", "cand acc", "Δ acc (points)", "base latency",
        "cand latency", "change", "verdict",
      ],
      trials.map { t in
        [
          t.label, "\(t.seed)",
          t.baseStatus == t.candidateStatus
            ? t.baseStatus.rawValue : "\(t.baseStatus.rawValue) → \(t.candidateStatus.rawValue)",
          fmtPct(t.baseAccuracy), fmtPct(t.candidateAccuracy), pts(t.accuracyDeltaPoints),
          fmtTime(t.baseLatency), fmtTime(t.candidateLatency), pct(t.changePercent),
          v(t.verdict, t.regression),
        ]
      }, alignRight: [3, 4, 5, 6, 7, 8])
    doc.heading("Kernels")
    doc.paragraph(
      "\(kernels.count) matched; only in base: \(onlyInBase.kernels); only in candidate: "
        + "\(onlyInCandidate.kernels). "
        + "\(kernels.filter { $0.verdict == .slower }.count) slower, "
        + "\(kernels.filter { $0.verdict == .faster }.count) faster, "
        + "\(kernels.filter { $0.verdict == .indistinguishable }.count) indistinguishable."
        + (underpoweredKernels == 0
          ? ""
          : " \(underpoweredKernels) kernel(s) have too few samples on a side for the test to reach "
            + String(format: "alpha %.2g", alpha)
            + " (5 a side at least): a slowdown there cannot be detected; raise `kernels.min_repeats`.")
    )
    doc.table(
      [
        "used by", "M x K", "format", "block", "kept", "batch/unroll/n_tile", "base median",
        "cand median", "n (base/cand)", "change", "p", "verdict",
      ],
      kernels.map { k in
        [
          k.usedBy.prefix(3).joined(separator: "; ") + (k.usedBy.count > 3 ? "; …" : ""),
          k.shape, k.format, k.block, "\(k.kept)",
          "\(k.knobs.batch)/\(k.knobs.unroll)/\(k.knobs.nTile)"
            + (k.knobs.isa == .scalar ? "" : " \(k.knobs.isa.rawValue)"),
          fmtTime(k.baseMedian), fmtTime(k.candidateMedian),
          "\(k.baseSamples)/\(k.candidateSamples)", pct(k.changePercent),
          k.pValue.map { String(format: "%.2g", $0) } ?? "",
          k.baseOutcome == k.candidateOutcome
            ? v(k.verdict, k.regression)
            : "\(k.baseOutcome.rawValue) → \(k.candidateOutcome.rawValue)"
              + (k.regression ? " **REGRESSION**" : ""),
        ]
      }, alignRight: [4, 6, 7, 8, 9, 10])
    return doc.markdown() + "\n" + summaryLine + "\n"
  }

  /// `regression: …` or `no regression …`: the last line of the text output.
  public var summaryLine: String {
    let k = kernels.filter(\.regression).count
    let t = trials.filter(\.regression).count
    let threshold = String(format: "%g%%", thresholdPercent)
    return hasRegression
      ? "regression: \(k) kernel(s) and \(t) trial(s) slower than the base by more than \(threshold) (or no longer ok)"
      : "no regression beyond \(threshold): \(kernels.count) kernel(s) and \(trials.count) trial(s) compared"
  }
}
