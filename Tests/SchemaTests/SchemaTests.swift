import Foundation
import Testing

@testable import TuningSchema

@Suite struct ContentHashTests {
  /// FIPS 180-4 test vectors.
  @Test func sha256KnownVectors() {
    #expect(
      SHA256.hex(of: []) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    #expect(
      SHA256.hex(of: Array("abc".utf8))
        == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    #expect(
      SHA256.hex(of: Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
        == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    #expect(
      SHA256.hex(of: [UInt8](repeating: 0x61, count: 1_000_000))
        == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
  }

  @Test func idsIgnoreKeyOrderAndSeeContent() {
    struct A: Codable {
      var x = 1
      var y = "b"
    }
    struct B: Codable {
      var y = "b"
      var x = 1
    }
    #expect(ContentHash.id(of: A()) == ContentHash.id(of: B()))
    #expect(ContentHash.id(of: A()) != ContentHash.id(of: A(x: 2)))
    #expect(ContentHash.id(of: A()).count == 16)
  }

  /// Progress lines show knobs with the JSON's names, defaults beyond N/unroll/tile left out.
  @Test func knobsDescribeThemselvesCompactly() {
    #expect(KernelKnobs(batch: 1).description == "scalar N=1 unroll=1 n_tile=1")
    let k = KernelKnobs(
      batch: 64, unroll: 2, nTile: 32, isa: .avx512, threads: 2, prefetch: 8, nBlock: 256,
      baked: true, reorder: true)
    #expect(
      k.description
        == "avx512 N=64 unroll=2 n_tile=32 threads=2 prefetch=8 n_block=256 baked reorder")
  }
}

@Suite struct SuiteLoaderTests {
  let good = """
    schema_version: 1
    name: quickstart
    model: mlp
    dataset: fashion-mnist
    subset: {train: 10000, val: 2000}
    phases: {pretrain_epochs: 3, reg_epochs: 2, retrain_epochs: 1}
    scheme: block-column
    regularizer: {kind: reweighted, lambda: 1.0e-4, eps: 1.0e-3, refresh_steps: 200}
    blocks: [8x16, 16x32]
    rates: [2, 4, 8]
    latency: {batch: 1, threads: 1}
    seeds: [1]
    """

  @Test func parsesTheDesignSketch() throws {
    let s = try SuiteLoader.parse(good, file: "q.yaml")
    #expect(s.name == "quickstart")
    #expect(s.blocks == [BlockShape(rows: 8, cols: 16), BlockShape(rows: 16, cols: 32)])
    #expect(s.rates == [2, 4, 8])
    #expect(s.regularizer.kind == .reweighted && s.regularizer.refreshSteps == 200)
    #expect(s.phases.retrainEpochs == 1)
  }

  func error(_ text: String) -> SuiteError? {
    do {
      _ = try SuiteLoader.parse(text, file: "s.yaml")
      return nil
    } catch let e as SuiteError {
      return e
    } catch {
      return nil
    }
  }

  @Test func rejectsWithLineNumbers() throws {
    let unknown = error(good + "\nbogus: 3")
    #expect(unknown?.line == 13)
    #expect(unknown?.message.contains("unknown key 'bogus'") == true)
    let nested = error(good.replacingOccurrences(of: "val: 2000", with: "val: 2000, tset: 5"))
    #expect(nested?.message.contains("unknown key 'subset.tset'") == true)
    #expect(nested?.line == 5)
    let badBlock = error(good.replacingOccurrences(of: "[8x16, 16x32]", with: "[8x16, 0x32]"))
    #expect(badBlock?.line == 9)
    #expect(badBlock?.message.contains("0x32") == true)
    let badRate = error(good.replacingOccurrences(of: "[2, 4, 8]", with: "[2, 0.5]"))
    #expect(badRate?.message.contains("'rates' must be >= 1") == true)
    let noDataset = error(good.replacingOccurrences(of: "dataset: fashion-mnist\n", with: ""))
    #expect(noDataset?.message == "missing required key 'dataset'")
    let unknownDataset = error(
      good.replacingOccurrences(of: "dataset: fashion-mnist", with: "dataset: cifar10"))
    #expect(unknownDataset?.message.contains("dataset 'cifar10' is unknown") == true)
    let yaml = error("name: [unclosed\n")
    #expect(yaml?.message.hasPrefix("bad YAML") == true)
    #expect(yaml?.description.hasPrefix("s.yaml:") == true)
    let flag = error(good + "\nkernels: {flags: [-O3, -fplugin=evil.so]}")
    #expect(flag?.message.contains("not allowed") == true)
  }

  @Test func blockShapeParsing() {
    #expect(BlockShape(parsing: "8x16") == BlockShape(rows: 8, cols: 16))
    #expect(BlockShape(parsing: "1x1") != nil)
    for bad in ["0x4", "4x0", "x4", "4x", "-1x4", "4x4x4", "abc", ""] {
      #expect(BlockShape(parsing: bad) == nil)
    }
  }

  @Test func runIDIsTheSuiteContentHash() throws {
    let a = try SuiteLoader.parse(good, file: "a.yaml")
    let b = try SuiteLoader.parse(
      good.replacingOccurrences(of: "rates: [2, 4, 8]", with: "rates: [2.0, 4, 8]"), file: "b.yaml")
    let c = try SuiteLoader.parse(
      good.replacingOccurrences(of: "rates: [2, 4, 8]", with: "rates: [2, 4]"), file: "c.yaml")
    #expect(a.contentID == b.contentID)
    #expect(a.contentID != c.contentID)
  }

  /// Run ids of existing suites must not move when keys are added: a key at its default value
  /// is not in the canonical JSON. The id below is the design sketch's, computed before
  /// `kernels.ci_fraction`, `min_time_s` and `multiplex` existed.
  @Test func newKeysAtTheirDefaultsKeepTheRunID() throws {
    let a = try SuiteLoader.parse(good, file: "a.yaml")
    #expect(a.contentID == "e4d3e186ad760cfa")
    let explicit = try SuiteLoader.parse(
      good + "\nkernels: {ci_fraction: 0.02, min_time_s: 0, multiplex: false}", file: "b.yaml")
    #expect(explicit.contentID == a.contentID)
    let json = String(decoding: try ContentHash.canonicalJSON(a), as: UTF8.self)
    for key in ["ci_fraction", "min_time_s", "multiplex"] { #expect(!json.contains(key), "\(key)") }
    // A suite that uses them is another run.
    for change in ["ci_fraction: 0.05", "min_time_s: 0.1", "multiplex: true"] {
      let b = try SuiteLoader.parse(good + "\nkernels: {\(change)}", file: "c.yaml")
      #expect(b.contentID != a.contentID, "\(change)")
    }
  }

  @Test func measurementKeysParseAndAreChecked() throws {
    let s = try SuiteLoader.parse(
      good + "\nkernels: {ci_fraction: 0.05, min_time_s: 0.2, multiplex: true}", file: "k.yaml")
    #expect(s.kernels.ciFraction == 0.05)
    #expect(s.kernels.minTimeSeconds == 0.2)
    #expect(s.kernels.multiplex)
    let d = try SuiteLoader.parse(good, file: "d.yaml")
    #expect(d.kernels.ciFraction == 0.02 && d.kernels.minTimeSeconds == 0 && !d.kernels.multiplex)
    // Non-default values survive the record round trip; a record without the keys still decodes.
    let data = try RecordCoding.encoder().encode(s)
    #expect(try RecordCoding.decoder().decode(SweepSpec.self, from: data) == s)
    let old = try RecordCoding.encoder().encode(d)
    #expect(try RecordCoding.decoder().decode(SweepSpec.self, from: old) == d)

    // Line 14 is the value's line in a block mapping after the 12 lines of `good`.
    for (value, expected) in [
      ("ci_fraction: 0", "'kernels.ci_fraction' must be > 0 and < 1, got 0.0"),
      ("ci_fraction: 1", "'kernels.ci_fraction' must be > 0 and < 1, got 1.0"),
      ("ci_fraction: 1.5", "'kernels.ci_fraction' must be > 0 and < 1, got 1.5"),
      ("ci_fraction: -0.1", "'kernels.ci_fraction' must be > 0 and < 1, got -0.1"),
      ("ci_fraction: tight", "'kernels.ci_fraction' must be a number"),
      ("min_time_s: -1", "'kernels.min_time_s' must be >= 0"),
      ("min_time_s: .inf", "'kernels.min_time_s' must be a number"),
      ("multiplex: maybe", "'kernels.multiplex' must be true or false"),
      ("min_time_s: 1", "'kernels.min_time_s' (1.0) must be <= 'kernels.budget_s' (0.3)"),
    ] {
      let e = error(good + "\nkernels:\n  \(value)")
      #expect(e?.line == 14, "\(value): \(e?.description ?? "no error")")
      #expect(e?.message.hasPrefix(expected) == true, "\(value): \(e?.message ?? "no error")")
      #expect(e?.description.hasPrefix("s.yaml:14: ") == true, "\(value)")
    }
    // A minimum time within a raised budget is fine.
    let long = try SuiteLoader.parse(
      good + "\nkernels: {min_time_s: 1, budget_s: 2}", file: "l.yaml")
    #expect(long.kernels.minTimeSeconds == 1 && long.kernels.budgetSeconds == 2)
  }

  @Test func recordsRoundTrip() throws {
    let s = try SuiteLoader.parse(good, file: "q.yaml")
    let data = try RecordCoding.encoder().encode(s)
    let back = try RecordCoding.decoder().decode(SweepSpec.self, from: data)
    #expect(back == s)
    let text = String(decoding: data, as: UTF8.self)
    #expect(text.contains("\"schema_version\"") && text.contains("\"8x16\""))
  }
}

@Suite struct SuiteIncludeTests {
  func dir() -> String {
    let d =
      NSTemporaryDirectory() + "blkrew-include-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try! FileManager.default.createDirectory(atPath: d + "/frag", withIntermediateDirectories: true)
    return d
  }

  @Test func includeMergesAndOverrides() throws {
    let d = dir()
    defer { try? FileManager.default.removeItem(atPath: d) }
    try """
    schema_version: 1
    model: mlp
    dataset: fashion-mnist
    subset: {train: 5000, val: 500}
    phases: {pretrain_epochs: 4, reg_epochs: 2, retrain_epochs: 1}
    blocks: [8x16]
    rates: [2, 4]
    """.write(toFile: "\(d)/frag/base.inc.yaml", atomically: true, encoding: .utf8)
    try """
    include: frag/base.inc.yaml
    name: child
    subset: {train: 6000}
    rates: [8]
    """.write(toFile: "\(d)/child.yaml", atomically: true, encoding: .utf8)
    let s = try SuiteLoader.load(path: "\(d)/child.yaml")
    #expect(s.name == "child")
    #expect(s.subset.train == 6000 && s.subset.val == 500)  // deep merge of mappings
    #expect(s.rates == [8])  // lists are replaced
    #expect(s.blocks == [BlockShape(rows: 8, cols: 16)])
    #expect(s.phases.pretrainEpochs == 4)
  }

  @Test func errorsNameTheFileTheyAreIn() throws {
    let d = dir()
    defer { try? FileManager.default.removeItem(atPath: d) }
    try "schema_version: 1\nmodel: mlp\nsubset: {trian: 5}\n".write(
      toFile: "\(d)/frag/bad.inc.yaml", atomically: true, encoding: .utf8)
    try "include: frag/bad.inc.yaml\nname: x\ndataset: fashion-mnist\nblocks: [8x16]\nrates: [2]\n"
      .write(
        toFile: "\(d)/s.yaml", atomically: true, encoding: .utf8)
    #expect(throws: SuiteError.self) { try SuiteLoader.load(path: "\(d)/s.yaml") }
    do {
      _ = try SuiteLoader.load(path: "\(d)/s.yaml")
    } catch let e as SuiteError {
      #expect(e.file == "\(d)/frag/bad.inc.yaml")
      #expect(e.line == 3)
      #expect(e.message.contains("unknown key 'subset.trian'"))
    }
    // A missing required key is about the merged suite.
    try "include: frag/ok.inc.yaml\nname: x\nblocks: [8x16]\nrates: [2]\n".write(
      toFile: "\(d)/m.yaml", atomically: true, encoding: .utf8)
    try "schema_version: 1\nmodel: mlp\n".write(
      toFile: "\(d)/frag/ok.inc.yaml", atomically: true, encoding: .utf8)
    do {
      _ = try SuiteLoader.load(path: "\(d)/m.yaml")
      Issue.record("expected an error")
    } catch let e as SuiteError {
      #expect(e.file == "\(d)/m.yaml" && e.message == "missing required key 'dataset'")
    }
  }

  @Test func includeCyclesAndMissingFiles() throws {
    let d = dir()
    defer { try? FileManager.default.removeItem(atPath: d) }
    try "include: b.yaml\nname: a\n".write(toFile: "\(d)/a.yaml", atomically: true, encoding: .utf8)
    try "include: a.yaml\nname: b\n".write(toFile: "\(d)/b.yaml", atomically: true, encoding: .utf8)
    do {
      _ = try SuiteLoader.load(path: "\(d)/a.yaml")
      Issue.record("expected a cycle error")
    } catch let e as SuiteError {
      #expect(e.message.hasPrefix("include cycle"))
    }
    try "include: nope.inc.yaml\nname: c\n".write(
      toFile: "\(d)/c.yaml", atomically: true, encoding: .utf8)
    do {
      _ = try SuiteLoader.load(path: "\(d)/c.yaml")
      Issue.record("expected a missing-include error")
    } catch let e as SuiteError {
      #expect(e.message.contains("does not exist"))
    }
  }
}
