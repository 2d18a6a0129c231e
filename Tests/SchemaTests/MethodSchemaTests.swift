import Foundation
import Testing
import TuningSchema

/// Suites that compare methods, per-layer rates, a global threshold and whole-dimension blocks.
@Suite struct MethodSchemaTests {
  let base = """
    schema_version: 1
    name: m
    model: lenet5
    dataset: fashion-mnist
    regularizer: {kind: reweighted, lambda: 1.0e-4, eps: 1.0e-3}
    blocks: [8x16]
    rates: [2, 4]

    """

  func error(_ text: String) -> SuiteError? {
    do {
      _ = try SuiteLoader.parse(text, file: "m.yaml")
      return nil
    } catch let e as SuiteError { return e } catch { return nil }
  }

  @Test func methodsInheritAndOverride() throws {
    let s = try SuiteLoader.parse(
      base + """
        methods:
          - {name: blk-rew}
          - {name: group-lasso, regularizer: {kind: group-lasso}}
          - {name: admm, regularizer: {kind: admm, rho: 0.01, rho_growth: 1.5}}
          - {name: unstructured, blocks: [1x1], regularizer: {kind: none}}
          - {name: whole-column, scheme: block-column, blocks: ["*x1"]}
        layer_rates: {features.0: 2}
        """, file: "m.yaml")
    let m = try #require(s.methods)
    #expect(m.map(\.name) == ["blk-rew", "group-lasso", "admm", "unstructured", "whole-column"])
    #expect(m[0].regularizer == nil && m[0].blocks == nil)
    #expect(m[1].regularizer?.kind == .groupLasso && m[1].regularizer?.lambda == 1e-4)
    #expect(m[2].regularizer?.rho == 0.01 && m[2].regularizer?.rhoGrowth == 1.5)
    #expect(m[3].blocks == [BlockShape(rows: 1, cols: 1)])
    #expect(m[4].blocks == [BlockShape(rows: BlockShape.whole, cols: 1)])
    #expect(m[4].blocks?.first?.description == "*x1")
    #expect(s.layerRates == ["features.0": 2])
  }

  @Test func badMethodsAndRatesAreRejectedWithTheirLine() {
    let noName = error(base + "methods:\n  - {scheme: block-row}\n")
    #expect(noName?.message.contains("needs a 'name'") == true)
    #expect(noName?.line == 9)
    let unknown = error(base + "methods:\n  - {name: a, rate: 3}\n")
    #expect(unknown?.message.contains("unknown key 'methods[0].rate'") == true)
    let dup = error(base + "methods:\n  - {name: a}\n  - {name: a}\n")
    #expect(dup?.message.contains("unique") == true)
    let rhoWithoutADMM = error(base + "methods:\n  - {name: a, regularizer: {rho: 1}}\n")
    #expect(rhoWithoutADMM?.message.contains("only applies to kind: admm") == true)
    let global = error(base + "scheme: block-column-row\nrate_mode: global\n")
    #expect(global?.message.contains("block-column-row") == true)
    let lowRate = error(base + "layer_rates: {fc1: 0.5}\n")
    #expect(lowRate?.message.contains("layer_rates.fc1") == true)
    let wrongData = error(base.replacingOccurrences(of: "model: lenet5", with: "model: gru"))
    #expect(wrongData?.message.contains("does not train on 'fashion-mnist'") == true)
  }

  @Test func optimizerScheduleAndWidth() throws {
    let s = try SuiteLoader.parse(
      base.replacingOccurrences(
        of: "model: lenet5\ndataset: fashion-mnist", with: "model: vgg11\ndataset: fashion-mnist-32"
      )
        + "training: {optimizer: adamw, schedule: cosine, warmup_steps: 10}\nwidth: 0.25\n",
      file: "m.yaml")
    #expect(s.training.optimizer == .adamw && s.training.schedule == .cosine)
    #expect(s.training.warmupSteps == 10 && s.width == 0.25)
    let bad = error(base + "training: {optimizer: rmsprop}\n")
    #expect(bad?.message.contains("training.optimizer") == true)
    #expect(error(base + "width: 0\n")?.message.contains("width") == true)
  }

  @Test func initCheckpointIsHashedAndPretrainMayBeZero() throws {
    let dir = NSTemporaryDirectory() + "blkrew-init-\(getpid())"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Data("abc".utf8).write(to: URL(fileURLWithPath: "\(dir)/c.safetensors"))
    let text = base + "init: c.safetensors\nphases: {pretrain_epochs: 0}\n"
    try text.write(toFile: "\(dir)/s.yaml", atomically: true, encoding: .utf8)
    let s = try SuiteLoader.load(path: "\(dir)/s.yaml")
    #expect(s.initCheckpoint?.path == "\(dir)/c.safetensors")
    // SHA-256 of "abc" (FIPS 180-2).
    #expect(
      s.initCheckpoint?.sha256
        == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    let missing = error(base + "init: nowhere.safetensors\n")
    #expect(missing?.message.contains("no such file") == true && missing?.line == 8)
    let zero = error(base + "phases: {pretrain_epochs: 0}\n")
    #expect(zero?.message.contains("only with an 'init' checkpoint") == true)
  }

  @Test func wholeDimensionBlocks() {
    #expect(
      BlockShape(parsing: "*x1")?.resolved(rows: 30, cols: 7) == BlockShape(rows: 30, cols: 1))
    #expect(BlockShape(parsing: "1x*")?.resolved(rows: 30, cols: 7) == BlockShape(rows: 1, cols: 7))
    #expect(
      BlockShape(parsing: "64x64")?.resolved(rows: 30, cols: 7) == BlockShape(rows: 30, cols: 7))
    #expect(BlockShape(parsing: "**x1") == nil && BlockShape(parsing: "*") == nil)
  }

  /// Suites without the new keys keep their run ids (their canonical JSON has none of them).
  @Test func newKeysAreAbsentUnlessUsed() throws {
    let s = try SuiteLoader.parse(base, file: "m.yaml")
    let json = String(decoding: try ContentHash.canonicalJSON(s), as: UTF8.self)
    for key in ["methods", "layer_rates", "rate_mode", "layer_lambda", "refresh_epochs", "\"rho\""]
    {
      #expect(!json.contains(key), "\(key) in \(json)")
    }
  }
}
