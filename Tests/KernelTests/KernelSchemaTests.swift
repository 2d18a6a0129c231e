import Foundation
import KernelBuild
import KernelCodegen
import KernelRun
import Testing
import TuningSchema

@Suite struct KernelSchemaTests {
  let layer = TestLayer.blockColumn(rows: 12, cols: 20, br: 4, bc: 8, seed: 9)

  @Test func workloadIdentityIgnoresWhereTheLayerCameFrom() {
    let a = layer.workload(.blockColumn, br: 4, bc: 8)
    let b = Workload(
      rows: 12, cols: 20, format: .blockColumn, blockRows: 4, blockCols: 8,
      mask: layer.mask.map { $0 * 7 })  // any non-zero marks a kept weight
    #expect(a == b && a.id == b.id)
    #expect(a.kept == layer.mask.filter { $0 != 0 }.count)
    var flipped = layer.mask
    flipped[0] ^= 1
    #expect(Workload.maskHash(flipped) != a.maskHash)
  }

  @Test func variantIDsCoverKnobsAndToolchain() {
    let w = layer.workload(.blockColumn, br: 4, bc: 8)
    let vs = KernelGenerator.variants(
      for: w, batch: 16, target: "host", compiler: "gcc", flags: ["-O3"])
    #expect(vs.count == KernelGenerator.unrollValues.count * 3)  // tiles 4, 8, 16
    #expect(Set(vs.map(\.id)).count == vs.count)
    #expect(Set(vs.map(\.knobs.unroll)) == Set(KernelGenerator.unrollValues))
    var other = vs[0]
    other.flags = ["-O2"]
    #expect(other.id != vs[0].id)
    other = vs[0]
    other.generatorVersion = "other"
    #expect(other.id != vs[0].id)
    let single = KernelGenerator.variants(
      for: w, batch: 1, target: "host", compiler: "gcc", flags: ["-O3"])
    #expect(single.allSatisfy { $0.knobs.nTile == 1 })
    let odd = KernelGenerator.variants(
      for: w, batch: 3, target: "host", compiler: "gcc", flags: ["-O3"])
    #expect(odd.allSatisfy { $0.knobs.nTile == 3 })
  }

  @Test func generatedSourceIsDeterministicAndLabelled() {
    for format in [KernelFormat.dense, .blockColumn] {
      let v = KernelVariant(
        workload: layer.workload(format, br: 4, bc: 8),
        knobs: KernelKnobs(batch: 6, unroll: 2, nTile: 4), flags: ["-O3"],
        generatorVersion: KernelGenerator.version)
      let a = KernelGenerator.generate(v).source
      #expect(a == KernelGenerator.generate(v).source)
      #expect(a.contains(v.id))
      #expect(a.contains("unroll=2 n_tile=4"))
      #expect(a.contains("#define BLK_M 12") && a.contains("#define BLK_N 6"))
    }
  }

  @Test func recordsUseSnakeCaseKeys() throws {
    let v = KernelVariant(
      workload: layer.workload(.blockColumn, br: 4, bc: 8),
      knobs: KernelKnobs(batch: 2, unroll: 4, nTile: 2), flags: ["-O3"],
      generatorVersion: KernelGenerator.version)
    let text = String(decoding: try JSONEncoder().encode(v), as: UTF8.self)
    for key in ["block_rows", "block_cols", "mask_hash", "n_tile", "generator_version"] {
      #expect(text.contains("\"\(key)\""), "\(key)")
    }
    let back = try JSONDecoder().decode(KernelVariant.self, from: Data(text.utf8))
    #expect(back == v && back.id == v.id)
    let build = BuildResult(variantID: v.id, ok: true, binaryPath: "/x", log: "", seconds: 0.1)
    let b = String(decoding: try JSONEncoder().encode(build), as: UTF8.self)
    #expect(b.contains("\"variant_id\"") && b.contains("\"binary_path\""))
    let probe = RunnerProbe(papiVersion: "7.0.0.0", events: [], sde: nil, sdeWorks: true)
    #expect(String(decoding: try JSONEncoder().encode(probe), as: UTF8.self).contains("sde_works"))
    let s = String(decoding: try JSONEncoder().encode(RunSettings()), as: UTF8.self)
    #expect(s.contains("\"min_sample_s\""))
  }

  @Test func medianOfSamples() {
    let v = KernelVariant(
      workload: layer.workload(.dense, br: 1, bc: 1), knobs: KernelKnobs(batch: 1), flags: [],
      generatorVersion: "t")
    var r = RunResult(variantID: v.id, variant: v, outcome: .measured, samplesSeconds: [3, 1, 2])
    #expect(r.medianSeconds == 2)
    r.samplesSeconds = [4, 1, 3, 2]
    #expect(r.medianSeconds == 2.5)
    r.samplesSeconds = []
    #expect(r.medianSeconds == nil)
  }

  @Test func workloadFileRoundTrip() throws {
    let scratch = Scratch("file")
    defer { scratch.cleanUp() }
    let url = scratch.url.appendingPathComponent("w.blkw")
    try WorkloadFile.write(
      rows: layer.rows, cols: layer.cols, weights: layer.weights, mask: layer.mask, to: url)
    let data = try Data(contentsOf: url)
    #expect(data.count == 16 + 5 * layer.rows * layer.cols)
    #expect(Array(data.prefix(4)) == Array("BLKW".utf8))
    let back = try WorkloadFile.read(from: url)
    #expect(back.rows == 12 && back.cols == 20)
    #expect(back.weights == layer.weights && back.mask == layer.mask)
    #expect(throws: WorkloadFile.Error.self) {
      try WorkloadFile.write(rows: 2, cols: 2, weights: [1], mask: [1, 1, 1, 1], to: url)
    }
  }

  @Test func runnerSourcesShipWithTheModule() {
    let dir = LocalBuilder.runnerSource
    for f in ["runner.c", "stats.c", "stats.h", "blk_kernel.h", "probe_kernel.c"] {
      #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), "\(f)")
    }
    #expect(LocalBuilder.defaultFlags(for: "host") == ["-O3", "-march=native"])
  }
}
