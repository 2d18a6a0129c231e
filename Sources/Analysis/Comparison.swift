/// Which of two measured variants is faster.
public enum Verdict: String, Codable, Sendable {
  case faster
  case slower
  case indistinguishable
}

/// The outcome of comparing the samples (times; lower is better) of a variant `a` with those of
/// a variant `b`.
public struct ComparisonResult: Codable, Sendable, Hashable {
  public var medianA: Double
  public var medianB: Double
  /// `medianA / medianB`: below 1 means `a` is faster.
  public var ratio: Double
  /// Two-sided Mann–Whitney p-value.
  public var pValue: Double
  public var test: MannWhitneyResult
  public var alpha: Double
  public var minEffect: Double
  /// The verdict about `a` relative to `b`.
  public var verdict: Verdict
}

/// Compares two sets of timing samples.
///
/// `a` is called **faster** only when both hold:
/// 1. the two-sided Mann–Whitney test rejects "same distribution" at `alpha` (p < alpha), and
///    the rank statistic points the same way as the medians (U of `a` below n1·n2/2);
/// 2. the ratio of medians is at most `1 - minEffect` — a practical threshold, so that a
///    difference that is statistically significant but too small to matter on a noisy, shared
///    machine (e.g. 0.3 % with thousands of samples) is not reported.
/// **slower** is the mirror image (ratio at least `1 + minEffect`); everything else is
/// **indistinguishable**. The default `alpha` = 0.01 keeps false alarms to about 1 % per
/// comparison when the samples come from the same distribution.
public struct Comparison: Sendable {
  public static func compare(
    _ a: [Double], _ b: [Double], alpha: Double = 0.01, minEffect: Double = 0.01
  ) -> ComparisonResult {
    precondition(!a.isEmpty && !b.isEmpty, "compare needs samples on both sides")
    precondition(alpha > 0 && alpha < 1 && minEffect >= 0)
    let ma = Statistics.median(a)
    let mb = Statistics.median(b)
    let ratio = ma / mb
    let test = MannWhitney.test(a, b)
    let center = Double(a.count * b.count) / 2
    var verdict = Verdict.indistinguishable
    if test.p < alpha {
      if ratio <= 1 - minEffect && test.u < center {
        verdict = .faster
      } else if ratio >= 1 + minEffect && test.u > center {
        verdict = .slower
      }
    }
    return ComparisonResult(
      medianA: ma, medianB: mb, ratio: ratio, pValue: test.p, test: test, alpha: alpha,
      minEffect: minEffect, verdict: verdict)
  }
}

/// The smallest relative difference between two separately measured kernels that the comparison
/// may call real.
///
/// Timing samples taken inside one process share that process's memory placement, clock and
/// neighbours, so two processes measuring the *same* kernel differ by more than their samples'
/// spread suggests: on the 2-core VM this was measured on, medians of 20 runner processes had a
/// coefficient of variation of 2-7% while each run's own 95% CI was 2% wide, and a sample-level
/// test called 40-70% of identical pairs different. The noise floor turns the between-process
/// spread, measured on the machine by the same runner (`TimingNoise` in the Driver), into the
/// `minEffect` of `Comparison.compare`: the ratio of two medians of identical kernels has a relative
/// standard deviation of about sqrt(2)·CV, so `sigmas` of those (default 3), and never less than
/// the largest relative difference between two of the calibration medians themselves.
///
/// The CV is the classical one (standard deviation / mean). A robust CV (MAD-based) was used
/// first and underestimated the floor: the between-process differences are heavy-tailed (a run
/// now and then lands 10-20% off), and those tails are exactly what make single runs of identical
/// kernels look different — the A/A benchmark measured 57% false calls with the robust floor. A
/// disturbed calibration run now makes the floor larger (fewer, safer claims), never smaller.
public enum NoiseFloor {
  /// `max(floor, sigmas · sqrt(2) · stddev/mean, max_ij |m_i/m_j - 1|)` of `runMedians`; `floor`
  /// (default 1%) when fewer than 3 runs.
  public static func minEffect(runMedians: [Double], sigmas: Double = 3, floor: Double = 0.01)
    -> Double
  {
    guard runMedians.count >= 3, let s = SampleSummary(runMedians), s.mean > 0,
      let lo = runMedians.min(), let hi = runMedians.max(), lo > 0
    else {
      return floor
    }
    return max(floor, sigmas * 2.0.squareRoot() * s.stddev / s.mean, hi / lo - 1)
  }
}

extension Comparison {
  /// Compares two kernels each measured in several runner processes ("runs"), taking the run as
  /// the unit: the two-sided Mann–Whitney test on the runs' medians, so that what moves between
  /// processes (memory placement, clock, neighbours) counts as noise instead of as a difference.
  /// With 5 runs a side the exact test can reach p = 0.008; with 3 it cannot go below 0.1, so use
  /// at least 5 runs for alpha 0.01. `minEffect` applies to the ratio of the medians of run
  /// medians as in `compare`.
  public static func compareRuns(
    _ a: [[Double]], _ b: [[Double]], alpha: Double = 0.01, minEffect: Double = 0.01
  ) -> ComparisonResult {
    let ma = a.filter { !$0.isEmpty }.map { Statistics.median($0) }
    let mb = b.filter { !$0.isEmpty }.map { Statistics.median($0) }
    return compare(ma, mb, alpha: alpha, minEffect: minEffect)
  }
}
