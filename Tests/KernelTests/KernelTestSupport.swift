import Foundation
import KernelBuild
import KernelCodegen
import KernelRun
import Testing
import TuningSchema

/// splitmix64: a seeded generator for test data.
struct TestRNG {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
  /// Uniform in [0, 1).
  mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
  /// Uniform in [-1, 1).
  mutating func signed() -> Float { Float(unit() * 2 - 1) }
}

/// A layer for the tests: weights, mask and how it was made.
struct TestLayer {
  var rows: Int
  var cols: Int
  var weights: [Float]
  var mask: [UInt8]

  /// A block-column mask: blocks are cycled through empty, fully kept and half kept (each column
  /// segment of a block kept with probability 1/2), so every test sees all three kinds.
  static func blockColumn(rows: Int, cols: Int, br: Int, bc: Int, seed: UInt64) -> TestLayer {
    var rng = TestRNG(seed: seed)
    let weights = (0..<(rows * cols)).map { _ in rng.signed() }
    var mask = [UInt8](repeating: 0, count: rows * cols)
    let nbr = (rows + br - 1) / br
    let nbc = (cols + bc - 1) / bc
    for rb in 0..<nbr {
      for cb in 0..<nbc {
        let kind = (rb * nbc + cb) % 3  // 0 empty, 1 full, 2 random
        for c in (cb * bc)..<min(cols, cb * bc + bc) {
          let keep = kind == 1 || (kind == 2 && rng.unit() < 0.5)
          guard keep else { continue }
          for r in (rb * br)..<min(rows, rb * br + br) { mask[r * cols + c] = 1 }
        }
      }
    }
    return TestLayer(rows: rows, cols: cols, weights: weights, mask: mask)
  }

  /// An unstructured random mask (each weight kept with probability `p`).
  static func unstructured(rows: Int, cols: Int, p: Double, seed: UInt64) -> TestLayer {
    var rng = TestRNG(seed: seed)
    let weights = (0..<(rows * cols)).map { _ in rng.signed() }
    let mask = (0..<(rows * cols)).map { _ in UInt8(rng.unit() < p ? 1 : 0) }
    return TestLayer(rows: rows, cols: cols, weights: weights, mask: mask)
  }

  func workload(_ format: KernelFormat, br: Int, bc: Int) -> Workload {
    Workload(rows: rows, cols: cols, format: format, blockRows: br, blockCols: bc, mask: mask)
  }

  /// Kept column segments x their heights: the MACs per batch column a block-column kernel runs.
  func blockColumnMACsPerColumn(br: Int, bc: Int) -> Int {
    var total = 0
    for r0 in stride(from: 0, to: rows, by: br) {
      let h = min(br, rows - r0)
      for c in 0..<cols where (r0..<(r0 + h)).contains(where: { mask[$0 * cols + c] != 0 }) {
        total += h
      }
    }
    return total
  }
}

/// A scratch directory removed by `cleanUp()`.
struct Scratch {
  let url: URL
  init(_ tag: String) {
    url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "blkrew-kerneltests-\(getpid())-\(tag)-\(UUID().uuidString.prefix(8))", isDirectory: true)
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  }
  func cleanUp() { try? FileManager.default.removeItem(at: url) }
}

/// Run settings that keep a test run in the milliseconds (a 10 ms idle check).
let quickSettings = RunSettings(
  warmup: 0, minRepeats: 2, maxRepeats: 3, minSampleSeconds: 0.0001, budgetSeconds: 0,
  idleWindowSeconds: 0.01)

/// Events that are 0 over a short, quiet region more often than not.
let eventsThatMayBeZero: Set<String> = ["perf::page-faults", "perf::context-switches"]

/// Warnings are errors: the runner and every generated kernel must compile cleanly.
let testFlags = ["-O2", "-march=native", "-Wall", "-Wextra", "-Werror"]

/// Builds and runs `kernel` on `layer`; records the build log in the issue when it fails.
func buildAndRun(
  _ kernel: GeneratedKernel, layer: TestLayer, scratch: Scratch,
  settings: RunSettings = quickSettings, timeout: Double = 30
) throws -> (BuildResult, RunResult?) {
  let build = LocalBuilder(workDirectory: scratch.url).build(kernel)
  guard build.ok, let binary = build.binaryPath else {
    Issue.record("build failed:\n\(build.log)")
    return (build, nil)
  }
  let file = scratch.url.appendingPathComponent("\(kernel.variant.workload.id).blkw")
  try WorkloadFile.write(
    rows: layer.rows, cols: layer.cols, weights: layer.weights, mask: layer.mask, to: file)
  let result = LocalRunner(settings: settings).run(
    binaryPath: binary, workloadFile: file, variant: kernel.variant, timeout: timeout)
  return (build, result)
}

/// `result` was measured, within its tolerance of the dense reference, with exactly `macs`
/// multiply-adds per call.
func expectVerified(
  _ result: RunResult, macs: Int, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(
    result.outcome == .measured, "\(what): \(result.message ?? "")",
    sourceLocation: sourceLocation)
  #expect(
    (result.maxAbsErr ?? .infinity) <= (result.tolerance ?? 0), "\(what)",
    sourceLocation: sourceLocation)
  #expect(result.macsPerCall == Int64(macs), "\(what): MACs", sourceLocation: sourceLocation)
}
