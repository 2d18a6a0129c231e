/// What a derived metric is measured in, and which way is better.
public struct MetricInfo: Codable, Sendable, Hashable {
  public var name: String
  public var unit: String
  public var direction: Direction
  public var summary: String
}

/// A derived metric with its value.
public struct DerivedMetric: Codable, Sendable, Hashable {
  public var info: MetricInfo
  public var value: Double
}

/// Metrics derived from raw counter values, MAC counts and time.
///
/// All inputs must describe the same interval (e.g. one call of the kernel, or one whole
/// sample): counters are ratios of each other, GFLOP/s uses `macs` and `seconds`. A metric is
/// produced only when every input it needs is present, finite and its denominator positive;
/// nothing is ever reported as 0 for lack of data.
public enum DerivedMetrics {
  public static let ipc = MetricInfo(
    name: "ipc", unit: "instructions/cycle", direction: .higherIsBetter,
    summary: "PAPI_TOT_INS / PAPI_TOT_CYC")
  public static let l1MPKI = MetricInfo(
    name: "l1_mpki", unit: "misses/1k instructions", direction: .lowerIsBetter,
    summary: "1000 · PAPI_L1_DCM / PAPI_TOT_INS")
  public static let l2MPKI = MetricInfo(
    name: "l2_mpki", unit: "misses/1k instructions", direction: .lowerIsBetter,
    summary: "1000 · PAPI_L2_DCM / PAPI_TOT_INS")
  public static let l3MPKI = MetricInfo(
    name: "l3_mpki", unit: "misses/1k instructions", direction: .lowerIsBetter,
    summary: "1000 · PAPI_L3_TCM / PAPI_TOT_INS")
  public static let branchMPKI = MetricInfo(
    name: "branch_mpki", unit: "mispredictions/1k instructions", direction: .lowerIsBetter,
    summary: "1000 · PAPI_BR_MSP / PAPI_TOT_INS")
  public static let gflops = MetricInfo(
    name: "gflops", unit: "GFLOP/s", direction: .higherIsBetter,
    summary: "2 · MACs / seconds / 1e9 (useful FLOPs of the workload, not counted FP ops)")
  public static let bytesPerFlop = MetricInfo(
    name: "bytes_per_flop", unit: "B/FLOP", direction: .lowerIsBetter,
    summary: "bytes moved / (2 · MACs)")

  /// Every metric this type can produce, by name.
  public static let catalog: [String: MetricInfo] = Dictionary(
    uniqueKeysWithValues: [ipc, l1MPKI, l2MPKI, l3MPKI, branchMPKI, gflops, bytesPerFlop].map {
      ($0.name, $0)
    })

  /// The metrics whose inputs exist, by name (see `catalog` for units and directions).
  public static func compute(
    counters: [String: Double], macs: Double, seconds: Double, bytesMoved: Double?
  ) -> [String: Double] {
    var out: [String: Double] = [:]
    for m in computeDetailed(
      counters: counters, macs: macs, seconds: seconds, bytesMoved: bytesMoved)
    {
      out[m.info.name] = m.value
    }
    return out
  }

  /// The metrics whose inputs exist, each with its unit and direction, in catalog order.
  public static func computeDetailed(
    counters: [String: Double], macs: Double, seconds: Double, bytesMoved: Double?
  ) -> [DerivedMetric] {
    var out: [DerivedMetric] = []
    func value(_ name: String) -> Double? {
      guard let v = counters[name], v.isFinite, v >= 0 else { return nil }
      return v
    }
    func add(_ info: MetricInfo, _ numerator: Double?, _ denominator: Double?, scale: Double = 1) {
      guard let num = numerator, let den = denominator, den > 0 else { return }
      let v = scale * num / den
      if v.isFinite { out.append(DerivedMetric(info: info, value: v)) }
    }
    let ins = value("PAPI_TOT_INS")
    add(ipc, ins, value("PAPI_TOT_CYC"))
    add(l1MPKI, value("PAPI_L1_DCM"), ins, scale: 1000)
    add(l2MPKI, value("PAPI_L2_DCM"), ins, scale: 1000)
    add(l3MPKI, value("PAPI_L3_TCM"), ins, scale: 1000)
    add(branchMPKI, value("PAPI_BR_MSP"), ins, scale: 1000)
    let flops: Double? = macs.isFinite && macs > 0 ? 2 * macs : nil
    let secs: Double? = seconds.isFinite && seconds > 0 ? seconds : nil
    add(gflops, flops, secs, scale: 1e-9)
    let bytes: Double? = bytesMoved.flatMap { $0.isFinite && $0 >= 0 ? $0 : nil }
    add(bytesPerFlop, bytes, flops)
    return out
  }
}
