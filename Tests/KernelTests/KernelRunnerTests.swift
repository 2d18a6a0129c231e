import ChildProcesses
import Foundation
import KernelBuild
import KernelCodegen
import KernelRun
import Testing
import TuningSchema

@Suite struct KernelRunnerTests {
  /// Skips the last kept column of block row 0: must be caught before any timing.
  @Test func aWrongKernelIsReportedWrongAndNotTimed() throws {
    let scratch = Scratch("wrong")
    defer { scratch.cleanUp() }
    let layer = TestLayer.blockColumn(rows: 16, cols: 32, br: 8, bc: 8, seed: 3)
    for batch in [1, 4] {
      let variant = KernelVariant(
        workload: layer.workload(.blockColumn, br: 8, bc: 8),
        knobs: KernelKnobs(batch: batch, unroll: 1, nTile: batch), flags: testFlags,
        generatorVersion: KernelGenerator.version)
      var kernel = KernelGenerator.generate(variant)
      let line = "const int e1 = p->row_start[rb + 1];"
      #expect(kernel.source.contains(line))
      kernel.source = kernel.source.replacingOccurrences(
        of: line,
        with:
          "const int e1 = p->row_start[rb + 1] - (rb == 0 && p->row_start[1] > p->row_start[0]);")
      let (_, result) = try buildAndRun(kernel, layer: layer, scratch: scratch)
      let r = try #require(result)
      #expect(r.outcome == .wrongResult)
      #expect(r.samplesSeconds.isEmpty)
      #expect(r.callsCounted == 0)
      #expect(r.medianSeconds == nil)
      #expect((r.maxAbsErr ?? 0) > (r.tolerance ?? .infinity))
      #expect(r.message?.isEmpty == false)
    }
  }

  @Test func runnerJSONDecodesAndTheSDECounterIsExact() throws {
    let scratch = Scratch("sde")
    defer { scratch.cleanUp() }
    let layer = TestLayer.blockColumn(rows: 29, cols: 40, br: 8, bc: 16, seed: 11)
    let workload = layer.workload(.blockColumn, br: 8, bc: 8)
    let batch = 5
    let variant = KernelVariant(
      workload: workload, knobs: KernelKnobs(batch: batch, unroll: 4, nTile: 4), flags: testFlags,
      generatorVersion: KernelGenerator.version)
    let settings = RunSettings(
      warmup: 1, minRepeats: 3, maxRepeats: 5, minSampleSeconds: 0.0002, budgetSeconds: 0,
      cpu: 0, idleWindowSeconds: 0.01)
    let (_, result) = try buildAndRun(
      KernelGenerator.generate(variant), layer: layer, scratch: scratch, settings: settings)
    let r = try #require(result)
    #expect(r.outcome == .measured, "\(r.message ?? "")")
    #expect(r.variantID == variant.id)
    #expect(r.schemaVersion == RunResult.currentSchemaVersion)
    #expect((3...5).contains(r.samplesSeconds.count))
    #expect(r.callsCounted == Int64(r.samplesSeconds.count) * (r.innerCalls ?? -1))
    #expect(r.macsPerCall == Int64(workload.kept * batch))
    let sde = try #require(r.sde)
    #expect(sde.event == "sde:::blkrew::MACS")
    #expect(sde.works)
    #expect(sde.read == Int64(workload.kept * batch) * r.callsCounted)
    #expect(sde.expected == sde.read)
    #expect(r.papiVersion?.isEmpty == false)
    #expect(r.cpu == 0)
    #expect(r.counters.map(\.name) == RunSettings.defaultEvents)
    for counter in r.counters {
      if counter.available && eventsThatMayBeZero.contains(counter.name) {
        #expect((counter.value ?? -1) >= 0, "\(counter.name)")
      } else if counter.available {
        #expect((counter.value ?? 0) > 0, "\(counter.name)")
      } else {
        #expect(counter.value == nil)
        #expect(counter.reason?.isEmpty == false, "\(counter.name)")
      }
    }
    #expect(r.medianSeconds != nil)
    // The record survives a JSON round trip with snake_case keys.
    let data = try JSONEncoder().encode(r)
    let text = String(decoding: data, as: UTF8.self)
    #expect(text.contains("\"samples_s\"") && text.contains("\"variant_id\""))
    let back = try JSONDecoder().decode(RunResult.self, from: data)
    #expect(back.samplesSeconds == r.samplesSeconds && back.variant == variant)
  }

  @Test func unknownEventsCarryAReason() throws {
    let scratch = Scratch("probe")
    defer { scratch.cleanUp() }
    let build = LocalBuilder(workDirectory: scratch.url).buildProbe()
    let binary = try #require(build.binaryPath, "\(build.log)")
    let runner = LocalRunner(
      settings: RunSettings(events: RunSettings.defaultEvents + ["NO_SUCH_EVENT_X"]))
    let probe = try #require(runner.probe(binaryPath: binary))
    #expect(probe.sdeWorks)
    #expect(probe.sde?.read == probe.sde?.expected)
    #expect(probe.papiVersion?.isEmpty == false)
    #expect(probe.events.count == RunSettings.defaultEvents.count + 1)
    let bogus = try #require(probe.events.last)
    #expect(bogus.name == "NO_SUCH_EVENT_X" && !bogus.available && bogus.reason?.isEmpty == false)
    for e in probe.events where !e.available { #expect(e.reason?.isEmpty == false) }
    for e in probe.events where e.available { #expect((e.value ?? 0) > 0) }
  }

  @Test func aCompileErrorIsABuildResultWithTheLog() throws {
    let scratch = Scratch("compile")
    defer { scratch.cleanUp() }
    let layer = TestLayer.blockColumn(rows: 8, cols: 8, br: 4, bc: 4, seed: 1)
    let variant = KernelVariant(
      workload: layer.workload(.blockColumn, br: 4, bc: 4), knobs: KernelKnobs(batch: 1),
      flags: testFlags, generatorVersion: KernelGenerator.version)
    var kernel = KernelGenerator.generate(variant)
    kernel.source += "\nthis is not C;\n"
    let build = LocalBuilder(workDirectory: scratch.url).build(kernel)
    #expect(!build.ok)
    #expect(build.binaryPath == nil)
    #expect(build.log.contains("error"))
    #expect(build.variantID == variant.id)
    let logFile = scratch.url.appendingPathComponent(variant.id).appendingPathComponent("build.log")
    #expect(FileManager.default.fileExists(atPath: logFile.path))
    // A missing compiler is a failed build too, not a throw.
    var missing = variant
    missing.compiler = "no-such-cc-blkrew"
    let none = LocalBuilder(workDirectory: scratch.url).build(
      GeneratedKernel(variant: missing, source: kernel.source))
    #expect(!none.ok && none.log.contains("not found"))
  }

  @Test func badWorkloadFilesAndHangsAreRunFailures() throws {
    let scratch = Scratch("badfile")
    defer { scratch.cleanUp() }
    let layer = TestLayer.blockColumn(rows: 8, cols: 12, br: 4, bc: 4, seed: 5)
    let variant = KernelVariant(
      workload: layer.workload(.blockColumn, br: 4, bc: 4), knobs: KernelKnobs(batch: 2, nTile: 2),
      flags: testFlags, generatorVersion: KernelGenerator.version)
    let build = LocalBuilder(workDirectory: scratch.url).build(KernelGenerator.generate(variant))
    let binary = try #require(build.binaryPath, "\(build.log)")
    let runner = LocalRunner(settings: quickSettings)

    let garbage = scratch.url.appendingPathComponent("garbage.blkw")
    try Data("not a workload at all".utf8).write(to: garbage)
    let g = runner.run(binaryPath: binary, workloadFile: garbage, variant: variant, timeout: 30)
    #expect(g.outcome == .runFailed)
    #expect(g.message?.contains("magic") == true, "\(g.message ?? "")")
    #expect(g.samplesSeconds.isEmpty)

    let truncated = scratch.url.appendingPathComponent("truncated.blkw")
    let full = try WorkloadFile.encode(
      rows: 8, cols: 12, weights: layer.weights, mask: layer.mask)
    try full.dropLast(3).write(to: truncated)
    let t = runner.run(binaryPath: binary, workloadFile: truncated, variant: variant, timeout: 30)
    #expect(t.outcome == .runFailed && t.message?.contains("size") == true)

    let otherShape = scratch.url.appendingPathComponent("shape.blkw")
    try WorkloadFile.write(
      rows: 12, cols: 8, weights: layer.weights, mask: layer.mask, to: otherShape)
    let s = runner.run(binaryPath: binary, workloadFile: otherShape, variant: variant, timeout: 30)
    #expect(s.outcome == .runFailed && s.message?.contains("does not match") == true)

    let missing = runner.run(
      binaryPath: binary, workloadFile: scratch.url.appendingPathComponent("none.blkw"),
      variant: variant, timeout: 30)
    #expect(missing.outcome == .runFailed)

    let noBinary = runner.run(
      binaryPath: scratch.url.appendingPathComponent("no-runner").path, workloadFile: garbage,
      variant: variant, timeout: 30)
    #expect(noBinary.outcome == .runFailed)

    // A kernel that never returns is killed at the time limit.
    var hanging = KernelGenerator.generate(variant)
    hanging.source = hanging.source.replacingOccurrences(
      of: "long long macs = 0;",
      with: "long long macs = 0;\n  for (volatile int spin = 1; spin;) {}")
    #expect(hanging.source.contains("spin"))
    var hangVariant = variant
    hangVariant.flags = testFlags + ["-DBLK_HANG_TEST"]  // a distinct variant directory
    hanging.variant = hangVariant
    let hb = LocalBuilder(workDirectory: scratch.url).build(hanging)
    let hbin = try #require(hb.binaryPath, "\(hb.log)")
    let file = scratch.url.appendingPathComponent("ok.blkw")
    try WorkloadFile.write(rows: 8, cols: 12, weights: layer.weights, mask: layer.mask, to: file)
    let h = runner.run(binaryPath: hbin, workloadFile: file, variant: hangVariant, timeout: 1)
    #expect(h.outcome == .timedOut)
  }
}
