import Foundation
import TuningSchema

extension GroupNormHistogram {
  /// Histogram of a layer's group norms on a log10 scale: `bins` equal bins from 1e-6 to the
  /// largest norm (at least 1e-5), plus a count of exact zeros (pruned groups) — regularization
  /// should move mass from the middle towards zero while the kept groups stay large.
  public init(norms: [Float], bins: Int = 24) {
    precondition(bins >= 1)
    let positive = norms.filter { $0 > 0 }.map(Double.init)
    let lo = -6.0
    let hi = max(lo + 1, (positive.max().map { log10($0) } ?? lo + 1) + 1e-9)
    let width = (hi - lo) / Double(bins)
    var counts = [Int](repeating: 0, count: bins)
    var below = 0
    for n in positive {
      let l = log10(n)
      if l < lo {
        below += 1
        continue
      }
      counts[min(bins - 1, Int((l - lo) / width))] += 1
    }
    self.init(
      log10Edges: (0...bins).map { lo + Double($0) * width }, counts: counts,
      zeros: norms.count - positive.count, belowRange: below)
  }
}
