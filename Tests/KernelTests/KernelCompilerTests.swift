import ChildProcesses
import Foundation
import KernelBuild
import KernelCodegen
import KernelRun
import Testing
import TuningSchema

/// The compiler knob: every format's kernels, built with clang instead of gcc (warnings are
/// errors), give the dense reference's answer and the exact MACs.
@Suite struct KernelCompilerTests {
  static let clang = ChildProcess.which("clang")

  @Test(.enabled(if: clang != nil, "clang is not in PATH"))
  func clangBuiltKernelsMatchTheDenseReference() throws {
    let scratch = Scratch("clang")
    defer { scratch.cleanUp() }
    let layer = TestLayer.blockColumn(rows: 37, cols: 53, br: 8, bc: 16, seed: 44)
    let isas = Array(Set([KernelISA.scalar, hostISAs.last ?? .scalar])).sorted {
      $0.rawValue < $1.rawValue
    }
    var ran = 0
    for format in KernelFormat.allCases {
      let (br, bc) = format == .dense ? (1, 1) : (8, 16)
      for isa in isas {
        for (batch, nTile) in [(1, 1), (19, 8)] {
          let threads = format == .blockColumn && batch > 1 ? 2 : 1
          let variant = KernelVariant(
            workload: layer.workload(format, br: br, bc: bc),
            knobs: KernelKnobs(
              batch: batch, unroll: 2, nTile: nTile, isa: isa, threads: threads),
            compiler: "clang", flags: testFlags + KernelGenerator.isaFlags(isa),
            generatorVersion: KernelGenerator.version)
          let what = "\(format.rawValue) isa=\(isa.rawValue) N=\(batch) threads=\(threads)"
          let (build, result) = try buildAndRun(
            KernelGenerator.generate(variant), layer: layer, scratch: scratch)
          #expect(build.log.contains("clang"), "\(what): not built with clang")
          guard let result else { continue }
          expectVerified(
            result, macs: layer.expectedMACs(format, br: br, bc: bc, batch: batch), what)
          ran += 1
        }
      }
    }
    #expect(ran == KernelFormat.allCases.count * isas.count * 2)
  }

  /// A second compiler doubles the variants and changes every ID (the compiler is part of it).
  @Test func theCompilerIsPartOfTheVariantID() {
    let layer = TestLayer.blockColumn(rows: 16, cols: 32, br: 8, bc: 16, seed: 3)
    let w = layer.workload(.blockColumn, br: 8, bc: 16)
    let gcc = KernelGenerator.variants(
      for: w, batch: 8, target: "host", compiler: "gcc", flags: ["-O3"])
    let clang = KernelGenerator.variants(
      for: w, batch: 8, target: "host", compiler: "clang", flags: ["-O3"])
    #expect(gcc.count == clang.count)
    #expect(Set(gcc.map(\.id)).isDisjoint(with: clang.map(\.id)))
  }
}
