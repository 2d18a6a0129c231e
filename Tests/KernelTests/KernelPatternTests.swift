import Foundation
import KernelBuild
import KernelCodegen
import KernelRun
import Testing
import TuningSchema

/// Pattern-specialised kernels (`baked`: the kept column indices as constants, one function per
/// distinct block-row pattern) and pattern-ordered block rows (`reorder`): each must give the
/// dense reference's answer and the exact MACs on random layers with edge blocks, at N = 1 and
/// N > 1 with a column tail, for every unroll grouping; a baked kernel must refuse another mask.
@Suite struct KernelPatternTests {
  static let isas = Array(Set([KernelISA.scalar, hostISAs.last ?? .scalar])).sorted {
    $0.rawValue < $1.rawValue
  }

  /// A block-column layer whose block rows repeat a few patterns (and one empty block row), so
  /// baked kernels share code and `reorder` changes the order: rows 8·4 + 3 (an edge block row),
  /// K = 37 (an edge block column).
  static func repeatingLayer(seed: UInt64) -> TestLayer {
    var rng = TestRNG(seed: seed)
    let (rows, cols, br) = (35, 37, 4)
    let weights = (0..<(rows * cols)).map { _ in rng.signed() }
    let patterns: [[Int]] = [[0, 3, 16, 17, 36], [1, 2, 30], [], [0, 3, 16, 17]]
    var mask = [UInt8](repeating: 0, count: rows * cols)
    for (rb, r0) in stride(from: 0, to: rows, by: br).enumerated() {
      let keep = patterns[(rb * 5) % patterns.count]
      for r in r0..<min(rows, r0 + br) {
        for c in keep where rng.unit() < 0.8 || r == r0 { mask[r * cols + c] = 1 }
      }
    }
    return TestLayer(rows: rows, cols: cols, weights: weights, mask: mask)
  }

  @Test func bakedAndReorderedBlockColumnKernelsMatchTheDenseReference() throws {
    let scratch = Scratch("pattern")
    defer { scratch.cleanUp() }
    var rng = TestRNG(seed: 20_261_205)
    var cases: [(TestLayer, Int, Int, Int)] = []  // layer, br, bc, batch
    for batch in [1, 13, 1, 21] {
      let f = FuzzCase.random(&rng, batch: batch)
      cases.append((f.layer, f.br, f.bc, batch))
    }
    cases.append((Self.repeatingLayer(seed: 7), 4, 8, 1))
    cases.append((Self.repeatingLayer(seed: 8), 4, 8, 19))
    var ran = 0
    for (n, (layer, br, bc, batch)) in cases.enumerated() {
      let workload = layer.workload(.blockColumn, br: br, bc: bc)
      let unroll = [1, 2, 4][n % 3]
      for isa in Self.isas {
        for (baked, reorder) in [(true, false), (false, true), (true, true)] {
          let variant = KernelVariant(
            workload: workload,
            knobs: KernelKnobs(
              batch: batch, unroll: unroll, nTile: batch == 1 ? 1 : 8, isa: isa, baked: baked,
              reorder: reorder),
            flags: testFlags + KernelGenerator.isaFlags(isa),
            generatorVersion: KernelGenerator.version)
          let what =
            "\(layer.rows)x\(layer.cols) block \(br)x\(bc) N=\(batch) isa=\(isa.rawValue) unroll=\(unroll) baked=\(baked) reorder=\(reorder)"
          let kernel = KernelGenerator.generate(variant, mask: layer.mask)
          #expect(kernel.source.contains("cols[e + ") == !baked, "\(what): index loads")
          let (_, result) = try buildAndRun(kernel, layer: layer, scratch: scratch)
          guard let result else { continue }
          expectVerified(
            result, macs: layer.expectedMACs(.blockColumn, br: br, bc: bc, batch: batch), what)
          ran += 1
        }
      }
    }
    #expect(ran == cases.count * Self.isas.count * 3)
  }

  /// Identical block rows share one pattern function, and the reordered kernel calls them
  /// grouped; the C sort of `reorder` and the generator's order agree (the same calls).
  @Test func bakedKernelsShareCodeBetweenIdenticalBlockRows() {
    let layer = Self.repeatingLayer(seed: 9)
    let workload = layer.workload(.blockColumn, br: 4, bc: 8)
    let knobs = KernelKnobs(batch: 8, unroll: 2, nTile: 8, isa: .scalar, baked: true)
    let v = KernelVariant(
      workload: workload, knobs: knobs, flags: testFlags, generatorVersion: KernelGenerator.version)
    let text = KernelGenerator.generate(v, mask: layer.mask).source
    let functions = text.components(separatedBy: "void blk_pat").count - 1
    // 9 block rows: 8 of 4 rows cycling 4 patterns (one empty) and the 3-row edge block row; the
    // 80%-kept rows below the first keep each pattern's columns (the first row keeps them all).
    #expect(text.contains("9 block rows"))
    #expect(functions < 9 && functions >= 3, "\(functions) pattern functions")
    #expect(text.contains("memset(Y"), "the empty block rows are zeroed")
    var r = v
    r.knobs.reorder = true
    let reordered = KernelGenerator.generate(r, mask: layer.mask).source
    // Each call as its pattern and output rows (the values' offset moves: with `reorder` the
    // pack stores the block rows in processing order).
    let calls = { (s: String) in
      s.split(separator: "\n").filter { $0.contains("blk_pat") && $0.hasSuffix(");") }.map {
        String($0.prefix { $0 != "(" }) + String($0.split(separator: "X, ").last ?? "")
      }
    }
    #expect(calls(text).count == 7)
    #expect(Set(calls(text)) == Set(calls(reordered)) && calls(text) != calls(reordered))
  }

  /// A baked kernel refuses a mask with another pattern (blk_pack fails) instead of computing
  /// the wrong product.
  @Test func aBakedKernelRefusesAnotherMask() throws {
    let scratch = Scratch("pattern-refuse")
    defer { scratch.cleanUp() }
    let layer = TestLayer.blockColumn(rows: 16, cols: 32, br: 8, bc: 16, seed: 3)
    let workload = layer.workload(.blockColumn, br: 8, bc: 16)
    let v = KernelVariant(
      workload: workload,
      knobs: KernelKnobs(batch: 4, unroll: 2, nTile: 4, baked: true),
      flags: testFlags, generatorVersion: KernelGenerator.version)
    // Block (0, 0) of this layer is empty: keeping one of its weights adds a kept column.
    #expect((0..<8).allSatisfy { layer.mask[$0 * 32] == 0 })
    var other = layer
    other.mask[0] = 1
    let (_, result) = try buildAndRun(
      KernelGenerator.generate(v, mask: layer.mask), layer: other, scratch: scratch)
    let r = try #require(result)
    #expect(r.outcome != .measured)
    #expect(r.message?.contains("blk_pack failed") == true, "\(r.message ?? "")")
  }

  /// The knob space: `baked` only for block-column with 1 thread, no cache tile or prefetch, up
  /// to `bakedEntryLimit` entries; `reorder` for block-column with 1 thread; both left out of
  /// the JSON (and the ID) at their defaults.
  @Test func theKnobSpaceOffersThemWhereTheyApply() throws {
    let layer = TestLayer.blockColumn(rows: 16, cols: 32, br: 8, bc: 16, seed: 5)
    let bc = layer.workload(.blockColumn, br: 8, bc: 16)
    let vs = KernelGenerator.variants(
      for: bc, batch: 1, target: "host", compiler: "gcc", flags: [], unrolls: [2],
      threads: [1, 2], bakes: [false, true], reorders: [false, true])
    // N > 1: reorder only (baked kernels measured slower there).
    let wide = KernelGenerator.variants(
      for: bc, batch: 16, target: "host", compiler: "gcc", flags: [], unrolls: [2], nTiles: [8],
      bakes: [false, true], reorders: [false, true])
    #expect(wide.map(\.knobs.reorder) == [false, true] && wide.allSatisfy { !$0.knobs.baked })
    let one = vs.filter { $0.knobs.threads == 1 }
    #expect(one.count == 4 && Set(one.map { [$0.knobs.baked, $0.knobs.reorder] }).count == 4)
    #expect(vs.filter { $0.knobs.threads == 2 }.allSatisfy { !$0.knobs.baked && !$0.knobs.reorder })
    let csr = KernelGenerator.variants(
      for: layer.workload(.csr, br: 1, bc: 1), batch: 16, target: "host", compiler: "gcc",
      flags: [], bakes: [false, true], reorders: [false, true])
    #expect(csr.allSatisfy { !$0.knobs.baked && !$0.knobs.reorder })
    // A layer past the limit: no baked variants.
    let big = Workload(
      rows: 4096, cols: 4096, format: .blockColumn, blockRows: 8, blockCols: 16, maskHash: "x",
      kept: 4096 * 1024)
    #expect(KernelGenerator.bakedEntryBound(big) > KernelGenerator.bakedEntryLimit)
    #expect(
      KernelGenerator.variants(
        for: big, batch: 1, target: "host", compiler: "gcc", flags: [], bakes: [true]
      ).allSatisfy { !$0.knobs.baked })
    // Defaults are not encoded; the knobs round-trip.
    let plain = String(decoding: try JSONEncoder().encode(one[0].knobs), as: UTF8.self)
    #expect(!plain.contains("baked") && !plain.contains("reorder"))
    let both = one.first { $0.knobs.baked && $0.knobs.reorder }!
    let decoded = try JSONDecoder().decode(
      KernelKnobs.self, from: try JSONEncoder().encode(both.knobs))
    #expect(decoded == both.knobs)
  }
}
