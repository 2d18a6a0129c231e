import Analysis
import Foundation
import KernelBuild
import KernelCodegen
import KernelRun
import TuningSchema

/// Measures how much the median of one kernel moves between runner processes on this machine,
/// and from it the noise floor (`NoiseFloor.minEffect`) below which blkrew does not call one
/// separately measured kernel faster than another.
public enum TimingNoise {
  public struct Calibration: Sendable {
    public var runMedians: [Double]
    public var minEffect: Double
    public var between: SampleSummary?
  }

  /// A mid-sized dense GEMV (256 x 256, batch 1: ~5 µs), measured in `runs` runner processes
  /// (12: with 7 the widest pair missed the tails the A/A benchmark saw between 20 processes).
  public static func calibrate(
    buildDirectory: String, runs: Int = 12, settings: RunSettings = RunSettings()
  )
    -> Calibration?
  {
    let (rows, cols) = (256, 256)
    let mask = [UInt8](repeating: 1, count: rows * cols)
    let weights = (0..<(rows * cols)).map { Float(($0 * 7919) % 2001 - 1000) / 1000 }
    let workload = Workload(
      rows: rows, cols: cols, format: .dense, blockRows: 1, blockCols: 1, mask: mask)
    guard
      let variant = KernelGenerator.variants(
        for: workload, batch: 1, target: "host", compiler: "gcc",
        flags: LocalBuilder.defaultFlags(for: "host")
      ).first
    else { return nil }
    let built = LocalBuilder(workDirectory: URL(fileURLWithPath: buildDirectory)).build(
      KernelGenerator.generate(variant))
    guard built.ok, let binary = built.binaryPath else { return nil }
    let file = URL(fileURLWithPath: "\(buildDirectory)/noise-\(getpid()).workload")
    defer { try? FileManager.default.removeItem(at: file) }
    guard
      (try? WorkloadFile.write(rows: rows, cols: cols, weights: weights, mask: mask, to: file))
        != nil
    else {
      return nil
    }
    let runner = LocalRunner(settings: settings)
    var medians: [Double] = []
    for _ in 0..<runs {
      let r = runner.run(binaryPath: binary, workloadFile: file, variant: variant, timeout: 60)
      if r.outcome == .measured, let m = r.medianSeconds { medians.append(m) }
    }
    guard medians.count >= 3 else { return nil }
    return Calibration(
      runMedians: medians, minEffect: NoiseFloor.minEffect(runMedians: medians),
      between: SampleSummary(medians))
  }
}
