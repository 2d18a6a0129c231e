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

  /// PAPI accepts any `sde:::` name and reads an unregistered one as 0 (or -1): the runner must
  /// record a misspelled SDE counter as unavailable, and still read the real one exactly.
  @Test func aMisspelledSDECounterIsUnavailableNotZero() throws {
    let scratch = Scratch("sdename")
    defer { scratch.cleanUp() }
    let layer = TestLayer.blockColumn(rows: 24, cols: 32, br: 8, bc: 8, seed: 12)
    let workload = layer.workload(.blockColumn, br: 8, bc: 8)
    let batch = 3
    let variant = KernelVariant(
      workload: workload, knobs: KernelKnobs(batch: batch, unroll: 2, nTile: batch),
      flags: testFlags, generatorVersion: KernelGenerator.version)
    var settings = quickSettings
    settings.events = ["sde:::blkrew::MACZ", "sde:::blkrew::MACS", "perf::task-clock"]
    let (_, result) = try buildAndRun(
      KernelGenerator.generate(variant), layer: layer, scratch: scratch, settings: settings)
    let r = try #require(result)
    #expect(r.outcome == .measured, "\(r.message ?? "")")
    let bogus = try #require(r.counters.first { $0.name == "sde:::blkrew::MACZ" })
    #expect(!bogus.available)
    #expect(bogus.value == nil && bogus.rawValue == nil)
    #expect(bogus.reason?.contains("no such SDE counter") == true, "\(bogus.reason ?? "")")
    #expect(bogus.reason?.contains("sde:::blkrew::MACS") == true)
    // The real counter is the run's `sde` reading, exact.
    let sde = try #require(r.sde)
    #expect(sde.event == "sde:::blkrew::MACS")
    #expect(sde.works, "\(sde)")
    #expect(sde.read == Int64(workload.kept * batch) * r.callsCounted && r.callsCounted > 0)
    #expect(r.counters.map(\.name) == ["sde:::blkrew::MACZ", "perf::task-clock"])

    // Any other spelling of the registered name is read as the registered counter (PAPI looks
    // SDE names up case-sensitively); a name of another library is not counted either.
    let probeBuild = LocalBuilder(workDirectory: scratch.url).buildProbe()
    let probeBinary = try #require(probeBuild.binaryPath, "\(probeBuild.log)")
    let probe = try #require(
      LocalRunner(settings: RunSettings(events: ["SDE:::Blkrew::macs", "sde:::otherlib::X"]))
        .probe(binaryPath: probeBinary))
    #expect(probe.sdeWorks && probe.sde?.read == probe.sde?.expected)
    let other = try #require(probe.events.first { $0.name == "sde:::otherlib::X" })
    #expect(!other.available && other.reason?.contains("no such SDE counter") == true)
  }

  /// perf software events are read with their enabled and running times; a count is scaled by
  /// enabled / running (1 here: software events are never multiplexed).
  @Test func perfEventsRecordEnabledAndRunningTimes() throws {
    let scratch = Scratch("perftimes")
    defer { scratch.cleanUp() }
    let layer = TestLayer.blockColumn(rows: 32, cols: 32, br: 8, bc: 8, seed: 13)
    let variant = KernelVariant(
      workload: layer.workload(.blockColumn, br: 8, bc: 8),
      knobs: KernelKnobs(batch: 2, unroll: 2, nTile: 2), flags: testFlags,
      generatorVersion: KernelGenerator.version)
    var settings = quickSettings
    settings.minRepeats = 4
    settings.maxRepeats = 6
    let (_, result) = try buildAndRun(
      KernelGenerator.generate(variant), layer: layer, scratch: scratch, settings: settings)
    let r = try #require(result)
    #expect(r.outcome == .measured, "\(r.message ?? "")")
    let segments = try #require(r.passes?.first?.segments)
    let perf = r.counters.filter { $0.source == "perf" }
    #expect(
      perf.map(\.name) == ["perf::task-clock", "perf::page-faults", "perf::context-switches"])
    for c in perf {
      #expect(c.available, "\(c.name): \(c.reason ?? "")")
      let enabled = try #require(c.timeEnabledNs, "\(c.name)")
      let running = try #require(c.timeRunningNs, "\(c.name)")
      let scale = try #require(c.scale, "\(c.name)")
      #expect(enabled >= running && running > 0, "\(c.name): \(enabled) \(running)")
      #expect(scale >= 1, "\(c.name)")
      // The runner's scale is EventPlan.scaled's.
      let scaled = try #require(c.scaledCount, "\(c.name)")
      #expect(abs((scaled.scale ?? 0) - scale) <= 1e-9 * scale, "\(c.name)")
      let raw = try #require(c.rawValue)
      let estimate = Int64((scaled.estimate ?? -1).rounded())
      #expect(c.value == max(0, estimate - (c.overhead ?? 0) * segments), "\(c.name)")
      #expect((c.estimate ?? false) == (scale > 1), "\(c.name)")
      if scale == 1 { #expect(estimate == raw) }
    }
    // task-clock ran the whole time it was enabled, which covers at least the timed calls.
    let taskClock = try #require(perf.first)
    #expect(Double(taskClock.timeEnabledNs ?? 0) * 1e-9 >= (r.passes?.first?.seconds ?? 1) * 0.5)
    // PAPI events have no times (and are not estimates unless multiplexed).
    for c in r.counters where c.source == "papi" {
      #expect(c.timeEnabledNs == nil && c.scale == nil && c.scaledCount == nil, "\(c.name)")
    }
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
