import Foundation
import Testing

@testable import TuningSchema

/// `suite validate` reports every error of a suite in one pass, with the file and line of each,
/// also through includes; and the schema's objectives, budget and kernel-knob keys.
@Suite struct SuiteValidationTests {
  let base = """
    schema_version: 1
    name: s
    model: mlp
    dataset: fashion-mnist
    blocks: [8x16]
    rates: [4]

    """

  func errors(_ text: String) -> [SuiteError] {
    do {
      _ = try SuiteLoader.parse(text, file: "s.yaml")
      return []
    } catch let e as SuiteError {
      return e.all
    } catch {
      return []
    }
  }

  func dir() -> String {
    let d = NSTemporaryDirectory() + "blkrew-validate-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(
      atPath: "\(d)/frag", withIntermediateDirectories: true)
    return d
  }

  @Test func everyErrorIsReportedWithItsLine() {
    let text = """
      schema_version: 1
      name: bad name
      model: mlp
      dataset: fashion-mnist
      blocks: [8x16, 3y]
      rates: [0.5, 4]
      phases: {pretrain_epochs: -1, regepochs: 2}
      kernels: {isa: [avx512, sse], warmpu: 3}
      colour: blue
      """
    let all = errors(text)
    let byLine = Dictionary(grouping: all, by: { $0.line ?? 0 }).mapValues {
      $0.map(\.message)
    }
    #expect(all.count == 8, "\(all.map(\.description))")
    #expect(byLine[2]?.first?.contains("'name'") == true)
    #expect(byLine[5]?.first?.contains("'3y'") == true)
    #expect(byLine[6]?.first?.contains("'rates' must be >= 1") == true)
    #expect(byLine[7]?.contains { $0.contains("unknown key 'phases.regepochs'") } == true)
    #expect(byLine[7]?.contains { $0.contains("'phases.pretrain_epochs' must be >= 0") } == true)
    #expect(byLine[8]?.contains { $0.contains("unknown key 'kernels.warmpu'") } == true)
    #expect(byLine[8]?.contains { $0.contains("got 'sse'") } == true)
    #expect(byLine[9]?.first?.contains("unknown key 'colour'") == true)
    // Sorted by line; the first is the one-line description of the whole error.
    #expect(all.map { $0.line ?? 0 } == all.map { $0.line ?? 0 }.sorted())
    #expect(all.allSatisfy { $0.file == "s.yaml" })
  }

  @Test func missingRequiredKeysAreAllNamed() {
    let all = errors("schema_version: 1\nname: x\n")
    let missing = all.map(\.message).filter { $0.hasPrefix("missing required key") }
    #expect(missing.count == 4, "\(all.map(\.description))")
  }

  @Test func errorsAcrossIncludesNameTheirFileAndLine() throws {
    let d = dir()
    defer { try? FileManager.default.removeItem(atPath: d) }
    try "schema_version: 1\nmodel: mlp\nsubset: {trian: 5}\nkernels: {max_repeats: 5}\n"
      .write(toFile: "\(d)/frag/a.inc.yaml", atomically: true, encoding: .utf8)
    try """
    include: frag/a.inc.yaml
    name: x
    dataset: fashion-mnist
    blocks: [8x16]
    rates: [2, 0]
    kernels: {min_repeats: 9}

    """.write(toFile: "\(d)/s.yaml", atomically: true, encoding: .utf8)
    do {
      _ = try SuiteLoader.load(path: "\(d)/s.yaml")
      Issue.record("expected errors")
    } catch let e as SuiteError {
      let all = e.all.map { "\(($0.file as NSString).lastPathComponent):\($0.line ?? 0)" }
      #expect(all.contains("a.inc.yaml:3"), "\(e.all.map(\.description))")  // unknown key
      #expect(all.contains("s.yaml:5"), "\(e.all.map(\.description))")  // rate 0
      // A rule about the merged suite: the overriding file's kernels mapping.
      #expect(
        e.all.contains {
          $0.message.contains("max_repeats' must be >= ") && $0.file == "\(d)/s.yaml"
            && $0.line == 6
        }, "\(e.all.map(\.description))")
    }
  }

  @Test func objectivesBudgetAndKnobs() throws {
    let s = try SuiteLoader.parse(
      base + """
        objectives: [accuracy, {metric: latency}, {metric: size, direction: max}]
        budget: {trials: 12, time_s: 3600}
        kernels: {isa: [scalar, avx512], unroll: [1, 4], n_tile: [8, 16], threads: [1, 2, 8]}
        """, file: "s.yaml")
    #expect(
      s.objectives == [
        ObjectiveSpec(metric: .accuracy, direction: .max),
        ObjectiveSpec(metric: .latency, direction: .min),
        ObjectiveSpec(metric: .size, direction: .max),
      ])
    #expect(s.budget?.trials == 12 && s.budget?.timeSeconds == 3600)
    #expect(s.kernels.isa == ["scalar", "avx512"] && s.kernels.unroll == [1, 4])
    #expect(s.kernels.nTile == [8, 16] && s.kernels.threads == [1, 2, 8])
    #expect(s.kernels.threadCounts(cpus: 2) == (run: [1, 2], skipped: [8]))
    #expect(errors(base + "kernels: {threads: [0]}\n").count == 1)
    let two = try SuiteLoader.parse(base + "kernels: {compiler: [gcc, clang]}\n", file: "s.yaml")
    #expect(two.kernels.compiler == "gcc" && two.kernels.allCompilers == ["gcc", "clang"])
    let one = try SuiteLoader.parse(base + "kernels: {compiler: clang}\n", file: "s.yaml")
    #expect(one.kernels.compilers == nil && one.kernels.allCompilers == ["clang"])
    #expect(errors(base + "kernels: {compiler: [gcc, gcc]}\n").count == 1)
    #expect(errors(base + "kernels: {compiler: [gcc, icc]}\n").count == 1)
    let pf = try SuiteLoader.parse(base + "kernels: {prefetch: [0, 8]}\n", file: "s.yaml")
    #expect(pf.kernels.prefetch == [0, 8])
    #expect(errors(base + "kernels: {prefetch: [-1]}\n").count == 1)
    #expect(errors(base + "kernels: {prefetch: [8, 8]}\n").count == 1)
    let nb = try SuiteLoader.parse(base + "kernels: {n_block: [0, 128]}\n", file: "s.yaml")
    #expect(nb.kernels.nBlock == [0, 128])
    #expect(errors(base + "kernels: {n_block: [-8]}\n").count == 1)
    let pat = try SuiteLoader.parse(
      base + "kernels: {baked: [false, true], reorder: [true]}\n", file: "s.yaml")
    #expect(pat.kernels.baked == [false, true] && pat.kernels.reorder == [true])
    let px = try SuiteLoader.parse(base + "kernels: {pack_x: [false, true]}\n", file: "s.yaml")
    #expect(px.kernels.packX == [false, true] && px.contentID != pat.contentID)
    #expect(errors(base + "kernels: {pack_x: [yes, true]}\n").count == 1)
    let pw = try SuiteLoader.parse(base + "kernels: {prefetch_w: [0, 512]}\n", file: "s.yaml")
    #expect(pw.kernels.prefetchW == [0, 512] && pw.contentID != px.contentID)
    #expect(errors(base + "kernels: {prefetch_w: [-1]}\n").count == 1)
    #expect(errors(base + "kernels: {prefetch_w: [64, 64]}\n").count == 1)
    #expect(errors(base + "kernels: {baked: [true, true]}\n").count == 1)
    let sets = try SuiteLoader.parse(
      base + "kernels: {flags: [[-O3, -march=native], [-O2, -march=native]]}\n", file: "s.yaml")
    #expect(sets.kernels.flags == ["-O3", "-march=native"])
    #expect(sets.kernels.allFlagSets == [["-O3", "-march=native"], ["-O2", "-march=native"]])
    let flat = try SuiteLoader.parse(base + "kernels: {flags: [-O2]}\n", file: "s.yaml")
    #expect(flat.kernels.flagSets == nil && flat.kernels.allFlagSets == [["-O2"]])
    #expect(errors(base + "kernels: {flags: [[-O2], [-O2]]}\n").count == 1)
    #expect(errors(base + "kernels: {flags: [[-O2], []]}\n").count == 1)
    #expect(errors(base + "kernels: {flags: [[-O2], [-fplugin=x]]}\n").count == 1)
    #expect(errors(base + "kernels: {reorder: [maybe]}\n").count == 1)
    #expect(errors(base + "kernels: {threads: [2, 2]}\n").count == 1)
    #expect(errors(base + "objectives: [accuracy, accuracy]\n").count == 1)
    #expect(errors(base + "objectives: [{metric: latency, direction: up}]\n").count == 1)
    #expect(errors(base + "budget: {}\n").first?.message == "'budget' needs 'trials' or 'time_s'")
    #expect(errors(base + "budget: {trials: 0}\n").count == 1)
    #expect(errors(base + "kernels: {isa: [avx2, avx2]}\n").count == 1)
    #expect(errors(base + "kernels: {n_tile: [0]}\n").count == 1)
  }

  @Test func newKeysStayOutOfTheCanonicalFormWhenUnset() throws {
    let plain = try SuiteLoader.parse(base, file: "s.yaml")
    let json = String(decoding: try JSONEncoder().encode(plain), as: UTF8.self)
    for key in [
      "\"objectives\"", "\"budget\"", "\"isa\"", "\"unroll\"", "\"n_tile\"", "\"threads\":[",
      "\"compilers\"",
    ] {
      #expect(!json.contains(key), "\(key) in \(json)")
    }
    let knobs = try SuiteLoader.parse(base + "kernels: {isa: [auto]}\n", file: "s.yaml")
    #expect(knobs.contentID != plain.contentID)
    let back = try JSONDecoder().decode(
      SweepSpec.self, from: try JSONEncoder().encode(knobs))
    #expect(back == knobs)
  }

  @Test func isaSelectionAgainstTheCPU() {
    var k = KernelSpec()
    #expect(k.isas(supported: [.scalar, .avx2]).run == [.scalar])
    k.isa = ["auto"]
    #expect(k.isas(supported: [.scalar, .avx2, .avx512]).run == [.scalar, .avx2, .avx512])
    k.isa = ["avx512", "neon", "scalar"]
    let r = k.isas(supported: [.scalar, .avx2])
    #expect(r.run == [.scalar] && r.skipped == [.avx512, .neon])
  }
}

@Suite struct RegularizerGridTests {
  let base = """
    schema_version: 1
    name: s
    model: mlp
    dataset: fashion-mnist
    blocks: [8x16]
    rates: [4]

    """

  @Test func gridsAreCrossedWithTheMethodsThatUseThem() throws {
    let s = try SuiteLoader.parse(
      base + """
        regularizer: {kind: reweighted, lambda: [1.0e-4, 1.0e-5], eps: [1.0e-3, 1.0e-2]}
        methods:
          - {name: blk-rew}
          - {name: gl, regularizer: {kind: group-lasso}}
          - {name: fixed, regularizer: {lambda: 3.0e-4}}
          - {name: none, regularizer: {kind: none}}
        """, file: "s.yaml")
    let names = try #require(s.methods).map(\.name)
    #expect(
      names == [
        "blk-rew lambda=0.0001 eps=0.001", "blk-rew lambda=0.0001 eps=0.01",
        "blk-rew lambda=1e-05 eps=0.001", "blk-rew lambda=1e-05 eps=0.01",
        "gl lambda=0.0001", "gl lambda=1e-05",
        "fixed eps=0.001", "fixed eps=0.01", "none",
      ], "\(names)")
    let m = try #require(s.methods)
    #expect(m[3].regularizer?.lambda == 1e-5 && m[3].regularizer?.eps == 1e-2)
    #expect(m[6].regularizer?.lambda == 3e-4 && m[7].regularizer?.eps == 1e-2)
  }

  @Test func aSuiteWithoutMethodsGetsOneMethodPerValue() throws {
    let s = try SuiteLoader.parse(
      base + "regularizer: {kind: reweighted, refresh_steps: [50, 200]}\n", file: "s.yaml")
    #expect(
      s.methods?.map(\.name) == ["reweighted refresh_steps=50", "reweighted refresh_steps=200"])
    #expect(s.methods?.map { $0.regularizer?.refreshSteps } == [50, 200])
  }

  @Test func badGridValuesAreErrors() {
    for text in [
      "regularizer: {lambda: []}\n", "regularizer: {lambda: [1.0e-4, -1]}\n",
      "regularizer: {eps: [1.0e-3, 1.0e-3]}\n", "regularizer: {refresh_steps: [0]}\n",
    ] {
      #expect(throws: SuiteError.self, "\(text)") {
        try SuiteLoader.parse(base + text, file: "s.yaml")
      }
    }
  }
}
