import ChildProcesses
import Foundation
import KernelBuild
import KernelCodegen
import KernelRun
import Testing
import TuningSchema

/// The threads knob: block-column kernels split their block rows over a persistent pool
/// (runner/blk_threads.h). Every split must give the dense reference's answer and the exact MACs,
/// also when there are more threads than block rows (empty ranges) and at edge blocks.
@Suite struct KernelThreadsTests {
  /// Random shapes and masks (edge blocks in every case) x threads 2, 3 x scalar and the widest
  /// ISA of the CPU x N = 1 and N > 1, verified against the runner's dense reference.
  @Test func threadedBlockColumnKernelsMatchTheDenseReference() throws {
    let scratch = Scratch("threads")
    defer { scratch.cleanUp() }
    var rng = TestRNG(seed: 20_261_202)
    let isas = Array(Set([KernelISA.scalar, hostISAs.last ?? .scalar])).sorted {
      $0.rawValue < $1.rawValue
    }
    var ran = 0
    for (n, threads) in [2, 3, 2, 3, 2, 3].enumerated() {
      let batch = n < 2 ? 1 : 5 + Int(rng.next() % 20)
      let fuzz = FuzzCase.random(&rng, batch: batch)
      let workload = fuzz.layer.workload(.blockColumn, br: fuzz.br, bc: fuzz.bc)
      for isa in isas {
        let variant = KernelVariant(
          workload: workload,
          knobs: KernelKnobs(
            batch: batch, unroll: 2, nTile: batch == 1 ? 1 : 8, isa: isa, threads: threads),
          flags: testFlags + KernelGenerator.isaFlags(isa),
          generatorVersion: KernelGenerator.version)
        let what = "\(fuzz) isa=\(isa.rawValue) threads=\(threads)"
        let (_, result) = try buildAndRun(
          KernelGenerator.generate(variant), layer: fuzz.layer, scratch: scratch)
        guard let result else { continue }
        expectVerified(
          result,
          macs: fuzz.layer.expectedMACs(.blockColumn, br: fuzz.br, bc: fuzz.bc, batch: batch),
          what)
        #expect(
          result.warnings?.contains { $0.contains("runs on \(threads) threads") } == true,
          "\(what): the runner did not see the kernel's threads")
        ran += 1
      }
    }
    #expect(ran >= 12)
  }

  /// The prefetch knob: random layers x distances 1, 4 x unroll 1, 4 x scalar and the widest
  /// ISA at N > 1 (tiles wide enough for two prefetched lines too), against the dense reference.
  @Test func prefetchingBlockColumnKernelsMatchTheDenseReference() throws {
    let scratch = Scratch("prefetch")
    defer { scratch.cleanUp() }
    var rng = TestRNG(seed: 20_261_203)
    let isas = Array(Set([KernelISA.scalar, hostISAs.last ?? .scalar])).sorted {
      $0.rawValue < $1.rawValue
    }
    var ran = 0
    for (n, (distance, unroll)) in [(1, 1), (4, 4), (1, 4), (4, 1)].enumerated() {
      let nTile = n % 2 == 0 ? 8 : 32
      let fuzz = FuzzCase.random(&rng, batch: nTile + 3)
      let workload = fuzz.layer.workload(.blockColumn, br: fuzz.br, bc: fuzz.bc)
      for isa in isas {
        let variant = KernelVariant(
          workload: workload,
          knobs: KernelKnobs(
            batch: fuzz.batch, unroll: unroll, nTile: nTile, isa: isa, prefetch: distance),
          flags: testFlags + KernelGenerator.isaFlags(isa),
          generatorVersion: KernelGenerator.version)
        let text = KernelGenerator.generate(variant).source
        #expect(text.contains("__builtin_prefetch") && text.contains("#define BLK_PF \(distance)"))
        let what = "\(fuzz) isa=\(isa.rawValue) prefetch=\(distance) unroll=\(unroll)"
        let (_, result) = try buildAndRun(
          KernelGenerator.generate(variant), layer: fuzz.layer, scratch: scratch)
        guard let result else { continue }
        expectVerified(
          result,
          macs: fuzz.layer.expectedMACs(.blockColumn, br: fuzz.br, bc: fuzz.bc, batch: fuzz.batch),
          what)
        ran += 1
      }
    }
    #expect(ran >= 4)
    // The knob only where it applies: block-column with N > 1.
    let layer = TestLayer.blockColumn(rows: 16, cols: 32, br: 8, bc: 16, seed: 5)
    let bc = layer.workload(.blockColumn, br: 8, bc: 16)
    #expect(
      KernelGenerator.variants(
        for: bc, batch: 1, target: "host", compiler: "gcc", flags: [], prefetches: [0, 8]
      ).allSatisfy { $0.knobs.prefetch == 0 })
    #expect(
      Set(
        KernelGenerator.variants(
          for: bc, batch: 16, target: "host", compiler: "gcc", flags: [], prefetches: [0, 8]
        ).map(\.knobs.prefetch)) == [0, 8])
  }

  /// The cache-tile knob (`n_block`): random layers x tiles of 1 and 2 register tiles x 1 and 2
  /// threads x scalar and the widest ISA, with a tail of columns past the last register tile.
  @Test func cacheTiledBlockColumnKernelsMatchTheDenseReference() throws {
    let scratch = Scratch("nblock")
    defer { scratch.cleanUp() }
    var rng = TestRNG(seed: 20_261_204)
    let isas = Array(Set([KernelISA.scalar, hostISAs.last ?? .scalar])).sorted {
      $0.rawValue < $1.rawValue
    }
    var ran = 0
    for (n, (tiles, threads)) in [(1, 1), (2, 2), (1, 2), (2, 1)].enumerated() {
      let nTile = n % 2 == 0 ? 8 : 4
      let fuzz = FuzzCase.random(&rng, batch: 3 * nTile + (n < 2 ? 5 : 0))
      let workload = fuzz.layer.workload(.blockColumn, br: fuzz.br, bc: fuzz.bc)
      for isa in isas {
        let variant = KernelVariant(
          workload: workload,
          knobs: KernelKnobs(
            batch: fuzz.batch, unroll: 2, nTile: nTile, isa: isa, threads: threads,
            nBlock: tiles * nTile),
          flags: testFlags + KernelGenerator.isaFlags(isa),
          generatorVersion: KernelGenerator.version)
        let what = "\(fuzz) isa=\(isa.rawValue) n_block=\(tiles * nTile) threads=\(threads)"
        let (_, result) = try buildAndRun(
          KernelGenerator.generate(variant), layer: fuzz.layer, scratch: scratch)
        guard let result else { continue }
        expectVerified(
          result,
          macs: fuzz.layer.expectedMACs(.blockColumn, br: fuzz.br, bc: fuzz.bc, batch: fuzz.batch),
          what)
        ran += 1
      }
    }
    #expect(ran >= 4)
    // Only tiles that are multiples of n_tile below the tiled width of N are generated.
    let layer = TestLayer.blockColumn(rows: 16, cols: 32, br: 8, bc: 16, seed: 5)
    let bc = layer.workload(.blockColumn, br: 8, bc: 16)
    let vs = KernelGenerator.variants(
      for: bc, batch: 64, target: "host", compiler: "gcc", flags: [], unrolls: [2],
      nTiles: [16, 32], nBlocks: [0, 32, 64])
    #expect(
      Set(vs.map { "\($0.knobs.nTile)/\($0.knobs.nBlock)" }) == ["16/0", "16/32", "32/0", "32/32"])
  }

  /// X packed per cache tile (`pack_x`): random layers x cache tiles of 1 and 2 register tiles
  /// (with 3 register tiles over N, so the last cache tile is narrower than the buffer) x 1-3
  /// threads x scalar and the widest ISA, against the dense reference with exact MACs; and where
  /// the space offers it.
  @Test func packedXBlockColumnKernelsMatchTheDenseReference() throws {
    let scratch = Scratch("packx")
    defer { scratch.cleanUp() }
    var rng = TestRNG(seed: 20_261_205)
    let isas = Array(Set([KernelISA.scalar, hostISAs.last ?? .scalar])).sorted {
      $0.rawValue < $1.rawValue
    }
    var ran = 0
    for (n, (tiles, threads)) in [(1, 1), (2, 1), (2, 2), (1, 3)].enumerated() {
      let nTile = n % 2 == 0 ? 8 : 16
      let fuzz = FuzzCase.random(&rng, batch: 3 * nTile)
      let workload = fuzz.layer.workload(.blockColumn, br: fuzz.br, bc: fuzz.bc)
      for isa in isas {
        for unroll in [1, 4] {
          let variant = KernelVariant(
            workload: workload,
            knobs: KernelKnobs(
              batch: fuzz.batch, unroll: unroll, nTile: nTile, isa: isa, threads: threads,
              nBlock: tiles * nTile, packX: true),
            flags: testFlags + KernelGenerator.isaFlags(isa),
            generatorVersion: KernelGenerator.version)
          let what = "\(fuzz) \(variant.knobs)"
          let (_, result) = try buildAndRun(
            KernelGenerator.generate(variant), layer: fuzz.layer, scratch: scratch)
          guard let result else { continue }
          expectVerified(
            result,
            macs: fuzz.layer.expectedMACs(
              .blockColumn, br: fuzz.br, bc: fuzz.bc, batch: fuzz.batch),
            what)
          ran += 1
        }
      }
    }
    #expect(ran >= 8)
    // Offered with a cache tile and N a multiple of the register tile only.
    let layer = TestLayer.blockColumn(rows: 16, cols: 32, br: 8, bc: 16, seed: 5)
    let bc = layer.workload(.blockColumn, br: 8, bc: 16)
    let vs = KernelGenerator.variants(
      for: bc, batch: 64, target: "host", compiler: "gcc", flags: [], unrolls: [2],
      nTiles: [16], threads: [1, 2], nBlocks: [0, 32], packXs: [false, true])
    #expect(
      Set(vs.map { "\($0.knobs.threads)/\($0.knobs.nBlock)/\($0.knobs.packX)" }) == [
        "1/0/false", "1/32/false", "1/32/true", "2/0/false", "2/32/false", "2/32/true",
      ])
    let odd = KernelGenerator.variants(
      for: bc, batch: 60, target: "host", compiler: "gcc", flags: [], unrolls: [2],
      nTiles: [16], nBlocks: [32], packXs: [false, true])
    #expect(odd.allSatisfy { !$0.knobs.packX }, "N 60 has a column tail past the tiles")
    // The default text does not mention it.
    #expect(!KernelGenerator.generate(vs[1]).source.contains("blk_xp"))
    #expect(KernelGenerator.generate(vs[2]).source.contains("blk_xp"))
  }

  /// The weight-prefetch knob (`prefetch_w`): random layers x N = 1 and N > 1 x scalar and the
  /// widest ISA x unroll 1 and 4, with distances past the end of the arrays (a prefetch must not
  /// fault), and with X prefetch, packing and threads, against the dense reference.
  @Test func weightPrefetchingBlockColumnKernelsMatchTheDenseReference() throws {
    let scratch = Scratch("prefetchw")
    defer { scratch.cleanUp() }
    var rng = TestRNG(seed: 20_261_206)
    let isas = Array(Set([KernelISA.scalar, hostISAs.last ?? .scalar])).sorted {
      $0.rawValue < $1.rawValue
    }
    var ran = 0
    for batch in [1, 16, 3, 32] {
      let fuzz = FuzzCase.random(&rng, batch: batch)
      let workload = fuzz.layer.workload(.blockColumn, br: fuzz.br, bc: fuzz.bc)
      for isa in isas {
        for (unroll, distance) in [(1, 4), (4, 1 << 12)] {
          var knobs = KernelKnobs(
            batch: batch, unroll: unroll, nTile: batch == 1 ? 1 : min(8, batch), isa: isa,
            prefetchW: distance)
          if batch == 32 {  // with the other knobs that touch the same loops
            knobs.nBlock = 16
            knobs.packX = unroll == 1
            knobs.prefetch = unroll == 1 ? 0 : 2
            knobs.threads = 2
          }
          let variant = KernelVariant(
            workload: workload, knobs: knobs, flags: testFlags + KernelGenerator.isaFlags(isa),
            generatorVersion: KernelGenerator.version)
          let source = KernelGenerator.generate(variant).source
          #expect(source.contains("BLK_PFW"))
          let (_, result) = try buildAndRun(
            KernelGenerator.generate(variant), layer: fuzz.layer, scratch: scratch)
          guard let result else { continue }
          expectVerified(
            result,
            macs: fuzz.layer.expectedMACs(.blockColumn, br: fuzz.br, bc: fuzz.bc, batch: batch),
            "\(fuzz) \(knobs)")
          ran += 1
        }
      }
    }
    #expect(ran >= 8)
    let layer = TestLayer.blockColumn(rows: 16, cols: 32, br: 8, bc: 16, seed: 5)
    let vs = KernelGenerator.variants(
      for: layer.workload(.blockColumn, br: 8, bc: 16), batch: 1, target: "host",
      compiler: "gcc", flags: [], unrolls: [2], prefetchWs: [0, 256])
    #expect(vs.map(\.knobs.prefetchW) == [0, 256])
    #expect(!KernelGenerator.generate(vs[0]).source.contains("BLK_PFW"))
    let dense = KernelGenerator.variants(
      for: layer.workload(.dense, br: 1, bc: 1), batch: 1, target: "host", compiler: "gcc",
      flags: [], unrolls: [2], prefetchWs: [0, 256])
    #expect(dense.map(\.knobs.prefetchW) == [0], "block-column only")
  }

  /// The knob space crosses threads with the other knobs for block-column only; one thread is
  /// the default and leaves the kernel text (and the ID) as before the knob existed.
  @Test func threadsKnobSpaceAndOneThreadTextUnchanged() {
    let layer = TestLayer.blockColumn(rows: 29, cols: 45, br: 8, bc: 16, seed: 21)
    let bc = layer.workload(.blockColumn, br: 8, bc: 16)
    let one = KernelGenerator.variants(
      for: bc, batch: 16, target: "host", compiler: "gcc", flags: ["-O2"])
    let both = KernelGenerator.variants(
      for: bc, batch: 16, target: "host", compiler: "gcc", flags: ["-O2"], threads: [1, 2])
    #expect(both.count == 2 * one.count)
    #expect(Set(both.filter { $0.knobs.threads == 1 }.map(\.id)) == Set(one.map(\.id)))
    for v in one {
      let text = KernelGenerator.generate(v).source
      #expect(!text.contains("blk_threads.h") && !text.contains("threads="))
    }
    let two = both.first { $0.knobs.threads == 2 }!
    let text = KernelGenerator.generate(two).source
    #expect(text.contains("#define BLK_THREADS 2") && text.contains("threads=2"))
    for format in [KernelFormat.dense, .csr, .blockRow] {
      let w = layer.workload(format, br: 8, bc: 16)
      let vs = KernelGenerator.variants(
        for: w, batch: 16, target: "host", compiler: "gcc", flags: ["-O2"], threads: [1, 2])
      #expect(vs.allSatisfy { $0.knobs.threads == 1 }, "\(format)")
    }
    // The JSON leaves threads out at 1 and round-trips it otherwise.
    let json = String(decoding: try! JSONEncoder().encode(two.knobs), as: UTF8.self)
    #expect(json.contains("\"threads\":2"))
    let back = try! JSONDecoder().decode(KernelKnobs.self, from: Data(json.utf8))
    #expect(back == two.knobs)
    let oneJSON = String(decoding: try! JSONEncoder().encode(one[0].knobs), as: UTF8.self)
    #expect(!oneJSON.contains("threads"))
  }
}
