import ChildProcesses
import Foundation
import KernelBuild
import KernelCodegen
import KernelRun
import Testing
import TuningSchema

/// The x86 ISAs this CPU runs (from /proc/cpuinfo at run time).
let hostISAs = KernelGenerator.supportedISAs(cpuFlags: KernelGenerator.hostCPUFlags())
  .filter { $0 != .neon }
let hostHasAVX512 = hostISAs.contains(.avx512)

extension TestLayer {
  /// Kept row segments x their widths: the MACs per batch column a block-row kernel runs.
  func blockRowMACsPerColumn(bc: Int) -> Int {
    var total = 0
    for r in 0..<rows {
      for c0 in stride(from: 0, to: cols, by: bc) {
        let w = min(bc, cols - c0)
        if (c0..<(c0 + w)).contains(where: { mask[r * cols + $0] != 0 }) { total += w }
      }
    }
    return total
  }

  /// Per block: its rows with a kept entry x its columns with one.
  func blockColumnRowMACsPerColumn(br: Int, bc: Int) -> Int {
    var total = 0
    for r0 in stride(from: 0, to: rows, by: br) {
      for c0 in stride(from: 0, to: cols, by: bc) {
        let rs = r0..<min(r0 + br, rows)
        let cs = c0..<min(c0 + bc, cols)
        let nr = rs.filter { r in cs.contains { mask[r * cols + $0] != 0 } }.count
        let nc = cs.filter { c in rs.contains { mask[$0 * cols + c] != 0 } }.count
        total += nr * nc
      }
    }
    return total
  }

  func expectedMACs(_ format: KernelFormat, br: Int, bc: Int, batch: Int) -> Int {
    switch format {
    case .dense: rows * cols * batch
    case .blockColumn: blockColumnMACsPerColumn(br: br, bc: bc) * batch
    case .csr: mask.reduce(0) { $0 + ($1 != 0 ? 1 : 0) } * batch
    case .blockRow: blockRowMACsPerColumn(bc: min(bc, cols)) * batch
    case .blockColumnRow: blockColumnRowMACsPerColumn(br: min(br, rows), bc: min(bc, cols)) * batch
    }
  }
}

/// One knob combination of the covering array.
struct KnobCombo: Hashable, CustomTestStringConvertible, Sendable {
  var format: KernelFormat
  var isa: KernelISA
  var unroll: Int
  var nTile: Int
  var testDescription: String {
    "\(format.rawValue) isa=\(isa.rawValue) unroll=\(unroll) n_tile=\(nTile)"
  }
}

/// A greedy pairwise covering array over format x isa x unroll x nTile (nTile 1 = N = 1): every
/// pair of values of two knobs appears in some combination. Deterministic.
func pairwiseCombos(isas: [KernelISA]) -> [KnobCombo] {
  let formats = KernelFormat.allCases
  let tiles = [1] + KernelGenerator.nTileValues
  var all: [KnobCombo] = []
  for f in formats {
    for i in isas {
      for u in KernelGenerator.unrollValues {
        for t in tiles { all.append(KnobCombo(format: f, isa: i, unroll: u, nTile: t)) }
      }
    }
  }
  func pairs(_ c: KnobCombo) -> Set<String> {
    let v = ["f=\(c.format.rawValue)", "i=\(c.isa.rawValue)", "u=\(c.unroll)", "t=\(c.nTile)"]
    var out = Set<String>()
    for a in 0..<v.count { for b in (a + 1)..<v.count { out.insert(v[a] + "," + v[b]) } }
    return out
  }
  var uncovered = all.reduce(into: Set<String>()) { $0.formUnion(pairs($1)) }
  var chosen: [KnobCombo] = []
  while !uncovered.isEmpty {
    let best = all.max {
      pairs($0).intersection(uncovered).count < pairs($1).intersection(uncovered).count
    }!
    chosen.append(best)
    uncovered.subtract(pairs(best))
  }
  return chosen
}

/// Layers the combinations rotate through: edge blocks in both directions, exact multiples, a
/// layer smaller than one block, and an unstructured mask.
let isaLayers: [(name: String, rows: Int, cols: Int, br: Int, bc: Int, structured: Bool)] = [
  ("edges", 37, 53, 8, 16, true),
  ("exact", 16, 32, 4, 8, true),
  ("unstructured", 23, 41, 4, 4, false),
  ("tiny", 5, 7, 8, 16, true),
  ("wide-edge", 19, 70, 4, 32, true),
]

@Suite struct KernelISATests {
  /// Every pair of knob values (format, isa, unroll, nTile) on small layers, each verified
  /// against the runner's dense reference, with the MACs the kernel reports exact.
  @Test func pairwiseKnobCoverageMatchesTheDenseReference() throws {
    let combos = pairwiseCombos(isas: [.scalar, .avx2, .avx512])
    let scratch = Scratch("pairwise")
    defer { scratch.cleanUp() }
    var ran = 0
    for (n, combo) in combos.enumerated() {
      guard hostISAs.contains(combo.isa) else {
        print("skipped \(combo.testDescription): the CPU lacks \(combo.isa.rawValue)")
        continue
      }
      let l = isaLayers[n % isaLayers.count]
      let layer =
        l.structured
        ? TestLayer.blockColumn(rows: l.rows, cols: l.cols, br: l.br, bc: l.bc, seed: UInt64(n + 1))
        : TestLayer.unstructured(rows: l.rows, cols: l.cols, p: 0.3, seed: UInt64(n + 1))
      // A full tile and a tail of columns (none for some, so both paths are seen).
      let batch = combo.nTile == 1 ? 1 : combo.nTile + (n % 2 == 0 ? 3 : 0)
      let (br, bc) = combo.format == .dense ? (1, 1) : (l.br, l.bc)
      let workload = layer.workload(combo.format, br: br, bc: bc)
      let variant = KernelVariant(
        workload: workload,
        knobs: KernelKnobs(batch: batch, unroll: combo.unroll, nTile: combo.nTile, isa: combo.isa),
        flags: testFlags + KernelGenerator.isaFlags(combo.isa),
        generatorVersion: KernelGenerator.version)
      let (_, result) = try buildAndRun(
        KernelGenerator.generate(variant), layer: layer, scratch: scratch)
      guard let result else { continue }
      let what = "\(combo.testDescription) on \(l.name) N=\(batch)"
      #expect(result.outcome == .measured, "\(what): \(result.message ?? "")")
      let err = try #require(result.maxAbsErr)
      let tol = try #require(result.tolerance)
      #expect(err <= tol, "\(what)")
      #expect(
        result.macsPerCall == Int64(layer.expectedMACs(combo.format, br: br, bc: bc, batch: batch)),
        "\(what)")
      ran += 1
    }
    #expect(ran > 0)
  }

  /// The covering array really covers every pair, and is much smaller than the full product.
  @Test func theCoveringArrayCoversEveryPair() {
    let isas: [KernelISA] = [.scalar, .avx2, .avx512]
    let combos = pairwiseCombos(isas: isas)
    let tiles = [1] + KernelGenerator.nTileValues
    for f in KernelFormat.allCases {
      for i in isas { #expect(combos.contains { $0.format == f && $0.isa == i }) }
      for u in KernelGenerator.unrollValues {
        #expect(combos.contains { $0.format == f && $0.unroll == u })
      }
      for t in tiles { #expect(combos.contains { $0.format == f && $0.nTile == t }) }
    }
    for i in isas {
      for u in KernelGenerator.unrollValues {
        #expect(combos.contains { $0.isa == i && $0.unroll == u })
        for t in tiles { #expect(combos.contains { $0.unroll == u && $0.nTile == t }) }
      }
      for t in tiles { #expect(combos.contains { $0.isa == i && $0.nTile == t }) }
    }
    #expect(combos.count < 4 * 3 * 3 * 5 / 2)
  }

  /// Every format x every host ISA at N = 1 and N > 1 on edge blocks, with the SDE counter
  /// reading exactly kept x N x calls.
  @Test(arguments: KernelFormat.allCases)
  func everyISAOfAFormatCountsItsMACsExactly(_ format: KernelFormat) throws {
    let scratch = Scratch("isa-sde")
    defer { scratch.cleanUp() }
    let layer = TestLayer.blockColumn(rows: 29, cols: 45, br: 8, bc: 16, seed: 21)
    let (br, bc) = format == .dense ? (1, 1) : (8, 16)
    let settings = RunSettings(
      warmup: 1, minRepeats: 2, maxRepeats: 3, minSampleSeconds: 0.0002, budgetSeconds: 0,
      idleWindowSeconds: 0.01)
    for isa in hostISAs {
      for (batch, nTile) in [(1, 1), (21, 8)] {
        let variant = KernelVariant(
          workload: layer.workload(format, br: br, bc: bc),
          knobs: KernelKnobs(batch: batch, unroll: 2, nTile: nTile, isa: isa),
          flags: testFlags + KernelGenerator.isaFlags(isa),
          generatorVersion: KernelGenerator.version)
        let (_, result) = try buildAndRun(
          KernelGenerator.generate(variant), layer: layer, scratch: scratch, settings: settings)
        let r = try #require(result)
        let what = "\(isa.rawValue) N=\(batch)"
        #expect(r.outcome == .measured, "\(what): \(r.message ?? "")")
        let macs = Int64(layer.expectedMACs(format, br: br, bc: bc, batch: batch))
        #expect(r.macsPerCall == macs, "\(what)")
        let sde = try #require(r.sde)
        #expect(sde.works, "\(what): \(sde.reason ?? "")")
        #expect(sde.read == macs * r.callsCounted, "\(what)")
      }
    }
  }

  @Test func variantsGrowWithTheISAsPassedIn() {
    let layer = TestLayer.blockColumn(rows: 16, cols: 32, br: 4, bc: 8, seed: 2)
    let w = layer.workload(.blockColumn, br: 4, bc: 8)
    let base = KernelGenerator.variants(
      for: w, batch: 16, target: "host", compiler: "gcc", flags: ["-O3"])
    let more = KernelGenerator.variants(
      for: w, batch: 16, target: "host", compiler: "gcc", flags: ["-O3"],
      isas: [.scalar, .avx2, .avx512])
    #expect(more.count == 3 * base.count)
    #expect(Array(more.prefix(base.count)).map(\.id) == base.map(\.id))
    #expect(base.allSatisfy { $0.knobs.isa == .scalar && $0.flags == ["-O3"] })
    let avx2 = more.filter { $0.knobs.isa == .avx2 }
    #expect(avx2.allSatisfy { $0.flags == ["-O3", "-mavx2", "-mfma"] })
    #expect(Set(more.map(\.id)).count == more.count)
    // Scalar knobs encode without `isa`; others with it, and decode back.
    let scalarJSON = String(decoding: try! JSONEncoder().encode(base[0].knobs), as: UTF8.self)
    #expect(!scalarJSON.contains("isa"))
    let k = avx2[0].knobs
    let decoded = try! JSONDecoder().decode(KernelKnobs.self, from: JSONEncoder().encode(k))
    #expect(decoded == k)
    let old = try! JSONDecoder().decode(
      KernelKnobs.self, from: Data(#"{"batch":4,"unroll":2,"n_tile":4}"#.utf8))
    #expect(old.isa == .scalar)
  }

  @Test func explicitISACodeUsesItsIntrinsics() {
    let layer = TestLayer.blockColumn(rows: 16, cols: 32, br: 8, bc: 16, seed: 4)
    let expected: [KernelISA: [String]] = [
      .avx2: ["immintrin.h", "__m256", "_mm256_fmadd_ps", "_mm256_maskload_ps"],
      .avx512: ["immintrin.h", "__m512", "_mm512_fmadd_ps", "_mm512_maskz_loadu_ps"],
      .neon: ["arm_neon.h", "float32x4_t", "vfmaq_f32"],
    ]
    for (isa, needles) in expected {
      for format in KernelFormat.allCases {
        let v = KernelVariant(
          workload: layer.workload(format, br: 8, bc: 16),
          knobs: KernelKnobs(batch: 8, unroll: 2, nTile: 8, isa: isa), flags: [],
          generatorVersion: KernelGenerator.version)
        let src = KernelGenerator.generate(v).source
        for needle in needles { #expect(src.contains(needle), "\(isa) \(format): \(needle)") }
        #expect(src.contains("isa=\(isa.rawValue)"))
      }
    }
  }

  /// AVX-512 tails: batches below, at and above one vector of 16, masked loads and stores.
  @Test(.enabled(if: hostHasAVX512, "the CPU has no avx512f in /proc/cpuinfo"))
  func avx512MaskedTailsMatchTheDenseReference() throws {
    let scratch = Scratch("avx512")
    defer { scratch.cleanUp() }
    let layer = TestLayer.blockColumn(rows: 37, cols: 53, br: 8, bc: 16, seed: 33)
    for format in KernelFormat.allCases {
      let (br, bc) = format == .dense ? (1, 1) : (8, 16)
      for (batch, nTile) in [(1, 1), (3, 4), (21, 16), (37, 32)] {
        let variant = KernelVariant(
          workload: layer.workload(format, br: br, bc: bc),
          knobs: KernelKnobs(batch: batch, unroll: 4, nTile: nTile, isa: .avx512),
          flags: testFlags + KernelGenerator.isaFlags(.avx512),
          generatorVersion: KernelGenerator.version)
        let (_, result) = try buildAndRun(
          KernelGenerator.generate(variant), layer: layer, scratch: scratch)
        let r = try #require(result)
        #expect(r.outcome == .measured, "\(format) N=\(batch): \(r.message ?? "")")
        #expect(
          r.macsPerCall == Int64(layer.expectedMACs(format, br: br, bc: bc, batch: batch)),
          "\(format) N=\(batch)")
      }
    }
  }

  /// What /proc/cpuinfo says is what the tests run.
  @Test func hostDetectionReadsProcCPUInfo() throws {
    let text = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
    #expect(hostHasAVX512 == text.contains(" avx512f"))
    #expect(hostISAs.contains(.avx2) == (text.contains(" avx2") && text.contains(" fma")))
  }

  @Test func cpuFlagsGiveTheSupportedISAs() {
    #expect(KernelGenerator.supportedISAs(cpuFlags: ["sse2"]) == [.scalar])
    #expect(KernelGenerator.supportedISAs(cpuFlags: ["avx2", "fma"]) == [.scalar, .avx2])
    #expect(
      KernelGenerator.supportedISAs(cpuFlags: ["avx2", "fma", "avx512f"])
        == [.scalar, .avx2, .avx512])
    #expect(KernelGenerator.supportedISAs(cpuFlags: ["fp", "asimd"]) == [.scalar, .neon])
  }
}

/// An aarch64 C compiler that can build a kernel (with libc headers), or nil with the reason.
let aarch64Compiler: (argv: [String]?, reason: String) = {
  if let gcc = ChildProcess.which("aarch64-linux-gnu-gcc") { return ([gcc], "") }
  guard let clang = ChildProcess.which("clang") else {
    return (nil, "no aarch64-linux-gnu-gcc and no clang in PATH")
  }
  let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
    "blkrew-neon-probe-\(getpid())")
  try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
  defer { try? FileManager.default.removeItem(at: dir) }
  let src = dir.appendingPathComponent("p.c")
  try? Data("#include <stdlib.h>\n#include <arm_neon.h>\nint f(void) { return 0; }\n".utf8).write(
    to: src)
  let argv = [clang, "--target=aarch64-linux-gnu"]
  let r = try? ChildProcess.run(
    clang,
    Array(argv.dropFirst()) + ["-c", src.path, "-o", dir.appendingPathComponent("p.o").path],
    timeout: 30)
  if r?.succeeded == true { return (argv, "") }
  return (
    nil,
    "no aarch64 compiler: aarch64-linux-gnu-gcc is not installed and clang --target=aarch64-linux-gnu has no aarch64 libc headers"
  )
}()

@Suite struct KernelNEONTests {
  /// NEON kernels compile for aarch64 (warning-free) in every format at N = 1 and N > 1. Running
  /// them needs qemu-user and arm64 PAPI/json-c: left to the aarch64 target.
  @Test(.enabled(if: aarch64Compiler.argv != nil, Comment(rawValue: aarch64Compiler.reason)))
  func neonKernelsCompileForAArch64() throws {
    let argv = try #require(aarch64Compiler.argv)
    let scratch = Scratch("neon")
    defer { scratch.cleanUp() }
    let layer = TestLayer.blockColumn(rows: 37, cols: 53, br: 8, bc: 16, seed: 9)
    for format in KernelFormat.allCases {
      for (batch, nTile) in [(1, 1), (19, 8)] {
        let v = KernelVariant(
          workload: layer.workload(format, br: 8, bc: 16),
          knobs: KernelKnobs(batch: batch, unroll: 2, nTile: nTile, isa: .neon), target: "aarch64",
          flags: ["-O2", "-march=armv8-a"], generatorVersion: KernelGenerator.version)
        let src = scratch.url.appendingPathComponent("\(format.rawValue)-\(batch).c")
        try Data(KernelGenerator.generate(v).source.utf8).write(to: src)
        let r = try ChildProcess.run(
          argv[0],
          Array(argv.dropFirst()) + [
            "-O2", "-Wall", "-Wextra", "-Werror", "-std=gnu11", "-I",
            LocalBuilder.runnerSource.path, "-c", src.path, "-o", src.path + ".o",
          ], timeout: 60)
        #expect(r.succeeded, "\(format) N=\(batch): \(r.stderrText)")
      }
    }
  }
}
