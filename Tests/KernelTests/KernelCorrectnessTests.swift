import ChildProcesses
import Foundation
import KernelBuild
import KernelCodegen
import KernelRun
import Testing
import TuningSchema

/// One correctness case: a layer, a format and block shape, a batch, and which knob values to
/// build (every value of every knob appears in some case; for the main shapes all pairs).
struct CorrectnessCase: CustomTestStringConvertible, Sendable {
  var name: String
  var rows: Int
  var cols: Int
  var format: KernelFormat
  var br: Int
  var bc: Int
  var batch: Int
  var structured: Bool = true
  /// Keep every `stride`-th variant of the knob space starting at `offset` (1 = all of them).
  var stride: Int = 1
  var offset: Int = 0
  var testDescription: String {
    "\(name) \(format.rawValue) \(rows)x\(cols) \(br)x\(bc) N=\(batch)"
  }

  var layer: TestLayer {
    let seed = UInt64(rows * 1000 + cols * 10 + batch)
    return structured
      ? .blockColumn(rows: rows, cols: cols, br: br, bc: bc, seed: seed)
      : .unstructured(rows: rows, cols: cols, p: 0.3, seed: seed)
  }
}

let correctnessCases: [CorrectnessCase] = [
  // Edge blocks in both directions (37 = 4*8 + 5, 53 = 3*16 + 5), every knob pair.
  .init(name: "edges", rows: 37, cols: 53, format: .blockColumn, br: 8, bc: 16, batch: 1),
  .init(name: "edges", rows: 37, cols: 53, format: .blockColumn, br: 8, bc: 16, batch: 19),
  // Exact multiples; a batch that is a multiple of some tiles.
  .init(
    name: "exact", rows: 16, cols: 32, format: .blockColumn, br: 4, bc: 8, batch: 8, stride: 2),
  .init(
    name: "exact", rows: 16, cols: 32, format: .blockColumn, br: 4, bc: 8, batch: 8, stride: 2,
    offset: 1),
  // Smaller than one block: only an edge block row and column.
  .init(name: "tiny", rows: 5, cols: 7, format: .blockColumn, br: 8, bc: 16, batch: 3),
  // A mask that is not block-column structured (partly kept column segments).
  .init(
    name: "unstructured", rows: 23, cols: 41, format: .blockColumn, br: 4, bc: 4, batch: 1,
    structured: false),
  .init(
    name: "unstructured", rows: 23, cols: 41, format: .blockColumn, br: 4, bc: 4, batch: 6,
    structured: false, stride: 2),
  // Dense baseline: lanes and row tiles with remainders.
  .init(name: "edges", rows: 37, cols: 53, format: .dense, br: 1, bc: 1, batch: 1),
  .init(name: "edges", rows: 37, cols: 53, format: .dense, br: 1, bc: 1, batch: 19, stride: 4),
  .init(name: "tiny", rows: 3, cols: 5, format: .dense, br: 1, bc: 1, batch: 2),
]

@Suite struct KernelCorrectnessTests {
  @Test(arguments: correctnessCases)
  func generatedKernelsMatchTheDenseReference(_ c: CorrectnessCase) throws {
    let scratch = Scratch("correct")
    defer { scratch.cleanUp() }
    let layer = c.layer
    let workload = layer.workload(c.format, br: c.br, bc: c.bc)
    let all = KernelGenerator.variants(
      for: workload, batch: c.batch, target: "host", compiler: "gcc", flags: testFlags)
    let chosen = all.enumerated().filter { $0.offset % c.stride == c.offset }.map(\.element)
    #expect(!chosen.isEmpty)
    let expectedMACs =
      c.format == .dense
      ? c.rows * c.cols * c.batch
      : layer.blockColumnMACsPerColumn(br: c.br, bc: c.bc) * c.batch
    for variant in chosen {
      let (_, result) = try buildAndRun(
        KernelGenerator.generate(variant), layer: layer, scratch: scratch)
      guard let result else { continue }
      #expect(result.outcome == .measured, "\(variant.knobs): \(result.message ?? "")")
      let err = try #require(result.maxAbsErr)
      let tol = try #require(result.tolerance)
      #expect(err <= tol, "\(variant.knobs)")
      #expect(result.macsPerCall == Int64(expectedMACs), "\(variant.knobs)")
      #expect(!result.samplesSeconds.isEmpty)
      #expect(result.samplesSeconds.allSatisfy { $0 > 0 })
    }
  }

  /// The runner's verdict checked from outside: the kernel's output Y (dumped by the runner) is
  /// compared with a reference computed here in Swift from the same X.
  @Test func kernelOutputMatchesASwiftReference() throws {
    let scratch = Scratch("swiftref")
    defer { scratch.cleanUp() }
    let (m, k, n) = (21, 35, 3)
    let layer = TestLayer.blockColumn(rows: m, cols: k, br: 4, bc: 8, seed: 7)
    let variant = KernelVariant(
      workload: layer.workload(.blockColumn, br: 4, bc: 8),
      knobs: KernelKnobs(batch: n, unroll: 2, nTile: 2), flags: testFlags,
      generatorVersion: KernelGenerator.version)
    let build = LocalBuilder(workDirectory: scratch.url).build(KernelGenerator.generate(variant))
    let binary = try #require(build.binaryPath, "\(build.log)")
    let file = scratch.url.appendingPathComponent("w.blkw")
    try WorkloadFile.write(rows: m, cols: k, weights: layer.weights, mask: layer.mask, to: file)
    let dump = scratch.url.appendingPathComponent("dump.f32")
    let child = try ChildProcess.run(
      binary,
      ["--workload", file.path, "--dump", dump.path, "--events", ""] + ["--max-repeats", "1"],
      timeout: 30)
    #expect(child.succeeded, "\(child.summary) \(child.stderrText)")
    let bytes = [UInt8](try Data(contentsOf: dump))
    #expect(bytes.count == 4 * (k * n + m * n))
    let floats = stride(from: 0, to: bytes.count, by: 4).map { i in
      Float(
        bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16
          | UInt32(bytes[i + 3]) << 24)
    }
    let x = Array(floats[0..<(k * n)])
    let y = Array(floats[(k * n)...])
    var worst = 0.0
    var nonzero = 0
    for i in 0..<m {
      for j in 0..<n {
        var s = 0.0
        for kk in 0..<k where layer.mask[i * k + kk] != 0 {
          s += Double(layer.weights[i * k + kk]) * Double(x[kk * n + j])
        }
        worst = max(worst, abs(s - Double(y[i * n + j])))
        if s != 0 { nonzero += 1 }
      }
    }
    #expect(nonzero > 0)
    #expect(worst <= 2 * Double(k) * Double(Float.ulpOfOne), "max error \(worst)")
    let report = try #require(String(data: child.stdout, encoding: .utf8))
    #expect(report.contains("\"outcome\":\"measured\""))
  }
}
