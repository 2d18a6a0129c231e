import Analysis
import ChildProcesses
import Driver
import Foundation
import KernelBuild
import KernelCodegen
import KernelRun
import TuningSchema

/// The A/A test (issue "Measurements people can trust"): one kernel, built once, measured `runs`
/// times in separate runner processes with the default measurement settings. It reports how much
/// the medians vary between processes (coefficient of variation; goal <= 2% on a quiet machine) and
/// how often the comparison test calls two measurements of the identical kernel different (goal
/// <= 5% of all pairs) — with the noise floor a sweep uses, calibrated beforehand on a different
/// kernel in separate processes (`TimingNoise`, as at the start of every run), and, for
/// comparison, with the sample-level test alone (1% minimum effect).
public struct AABenchmark: Benchmark {
  public let name = "aa"
  public init() {}

  public func run(context: BenchContext) throws -> BenchRecord {
    let start = Date()
    let (rows, cols, runs) = context.quick ? (64, 128, 3) : (300, 784, 20)
    let block = (rows: 8, cols: 16)
    // A block-column mask keeping one column segment in four, chosen with a fixed seed.
    var rng = SplitMix64(seed: 7)
    var mask = [UInt8](repeating: 0, count: rows * cols)
    var weights = [Float](repeating: 0, count: rows * cols)
    for r0 in stride(from: 0, to: rows, by: block.rows) {
      for c in 0..<cols where rng.next() % 4 == 0 {
        for r in r0..<min(r0 + block.rows, rows) { mask[r * cols + c] = 1 }
      }
    }
    for i in weights.indices where mask[i] != 0 {
      weights[i] = Float(Int(rng.next() % 2001) - 1000) / 1000
    }
    let workload = Workload(
      rows: rows, cols: cols, format: .blockColumn, blockRows: block.rows, blockCols: block.cols,
      mask: mask)
    guard
      let variant = KernelGenerator.variants(
        for: workload, batch: 1, target: "host", compiler: "gcc",
        flags: LocalBuilder.defaultFlags(for: "host")
      ).first
    else { throw BenchError.failed("no kernel variant for the A/A workload") }
    let built = LocalBuilder(workDirectory: URL(fileURLWithPath: context.workDirectory)).build(
      KernelGenerator.generate(variant))
    guard built.ok, let binary = built.binaryPath else {
      throw BenchError.failed("A/A kernel did not build: \(built.log)")
    }
    let workloadFile = URL(fileURLWithPath: "\(context.workDirectory)/aa.workload")
    try WorkloadFile.write(rows: rows, cols: cols, weights: weights, mask: mask, to: workloadFile)

    let settings = RunSettings()
    guard
      let noise = TimingNoise.calibrate(buildDirectory: context.workDirectory, settings: settings)
    else {
      throw BenchError.failed("the timing-noise calibration did not measure")
    }
    context.progress(
      "aa: calibrated noise floor \(String(format: "%.2f%%", noise.minEffect * 100))")
    let runner = LocalRunner(settings: settings)
    var results: [RunResult] = []
    for i in 0..<runs {
      let r = runner.run(
        binaryPath: binary, workloadFile: workloadFile, variant: variant, timeout: 120)
      guard r.outcome == .measured, let m = r.medianSeconds else {
        throw BenchError.failed("A/A run \(i + 1): \(r.outcome.rawValue) \(r.message ?? "")")
      }
      context.progress(
        "aa: run \(i + 1)/\(runs): median \(String(format: "%.3f", m * 1e6)) µs, \(r.samplesSeconds.count) samples"
      )
      results.append(r)
    }
    let medians = results.compactMap(\.medianSeconds)
    let summary = SampleSummary(medians)
    var different = 0
    var differentSampleLevel = 0
    var pairs = 0
    for i in results.indices {
      for j in results.indices where j > i {
        pairs += 1
        let a = results[i].samplesSeconds
        let b = results[j].samplesSeconds
        if Comparison.compare(a, b, minEffect: noise.minEffect).verdict != .indistinguishable {
          different += 1
        }
        if Comparison.compare(a, b).verdict != .indistinguishable { differentSampleLevel += 1 }
      }
    }
    let fp = pairs > 0 ? Double(different) / Double(pairs) : nil
    let fpSample = pairs > 0 ? Double(differentSampleLevel) / Double(pairs) : nil
    // Run-level: random halves of the runs compared as two "kernels" measured in several processes.
    var splitsDifferent = 0
    let splits = runs >= 10 ? 200 : 0
    var shuffler = SplitMix64(seed: 11)
    for _ in 0..<splits {
      var idx = Array(results.indices)
      for i in stride(from: idx.count - 1, to: 0, by: -1) {
        idx.swapAt(i, Int(shuffler.next() % UInt64(i + 1)))
      }
      let half = idx.count / 2
      let a = idx[..<half].map { results[$0].samplesSeconds }
      let b = idx[half...].map { results[$0].samplesSeconds }
      if Comparison.compareRuns(a, b).verdict != .indistinguishable { splitsDifferent += 1 }
    }
    let fpRuns = splits > 0 ? Double(splitsDifferent) / Double(splits) : nil
    let figures = [
      BenchFigure(
        name: "cv_of_medians", value: summary?.cv, unit: "fraction", direction: .lowerIsBetter,
        goal: 0.02,
        note: "stddev / mean of the medians of \(runs) runner processes measuring the same kernel"),
      BenchFigure(
        name: "false_difference_rate", value: fpRuns, unit: "fraction of comparisons",
        direction: .lowerIsBetter,
        goal: 0.05,
        note:
          "\(splitsDifferent) of \(splits) random splits of the \(runs) runs into two halves called different by "
          + "Comparison.compareRuns (Mann-Whitney on run medians, alpha 0.01): the test for kernels measured in "
          + "several processes"),
      BenchFigure(
        name: "false_difference_rate_single_runs", value: fp, unit: "fraction of pairs",
        direction: .lowerIsBetter,
        goal: 0.05,
        note:
          "\(different) of \(pairs) pairs of single-run measurements called different by Comparison.compare with "
          + "the calibrated noise floor (what reports use for kernels measured once)"),
      BenchFigure(
        name: "noise_floor_min_effect", value: noise.minEffect, unit: "fraction",
        direction: .lowerIsBetter,
        note:
          "max(1%, 3 * sqrt(2) * sd/mean, widest pair ratio - 1) of the medians of \(noise.runMedians.count) calibration processes (dense 256x256 GEMV)"
      ),
      BenchFigure(
        name: "false_difference_rate_sample_level", value: fpSample, unit: "fraction of pairs",
        direction: .lowerIsBetter,
        note:
          "\(differentSampleLevel) of \(pairs) pairs called different by the sample-level test alone (1% minimum "
          + "effect): why blkrew never compares single runs without the noise floor"),
      BenchFigure(
        name: "median_of_medians", value: summary?.median, unit: "s", direction: .lowerIsBetter),
      BenchFigure(
        name: "samples_per_run",
        value: Double(results.map(\.samplesSeconds.count).reduce(0, +)) / Double(max(runs, 1)),
        unit: "samples", direction: .lowerIsBetter),
    ]
    return context.record(
      name, start: start,
      settings: [
        "workload": "block-column \(rows)x\(cols) block 8x16, 1/4 of column segments kept",
        "batch": "1",
        "variant": variant.id, "runs": "\(runs)",
        "run_settings": settings.arguments.joined(separator: " "),
      ],
      figures: figures,
      series: [
        "medians_s": medians,
        "calibration_medians_s": noise.runMedians,
        "ci_relative_width": results.map { r in
          guard let lo = r.ciLowSeconds, let hi = r.ciHighSeconds, let m = r.medianSeconds, m > 0
          else { return .nan }
          return (hi - lo) / m
        },
        "samples": results.map { Double($0.samplesSeconds.count) },
        "stopped_on_ci": results.map { $0.stopReason == .ci ? 1 : 0 },
        "other_cpus_busy_before": results.map { $0.loadBefore?.busy ?? .nan },
      ].merging(
        Dictionary(
          uniqueKeysWithValues: results.enumerated().map {
            ("run\($0.offset + 1)_samples_s", $0.element.samplesSeconds)
          }),
        uniquingKeysWith: { a, _ in a }))
  }
}
