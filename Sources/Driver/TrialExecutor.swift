import Analysis
import ChildProcesses
import Datasets
import Foundation
import KernelBuild
import KernelCodegen
import KernelRun
import NeuralNets
import ResultStore
import Search
import Tensors
import Training
import TuningSchema

/// Runs one trial inside its own child process (`blkrew _trial RUN_DIR TRIAL_ID`): trains, prunes,
/// generates, builds, verifies and measures the kernels of every layer, and writes
/// `trials/<id>.json` atomically. Every failure of the trial itself is written as its status; only
/// an unusable run directory is thrown.
/// Accumulates a trial's seconds by category (a class: the executor's helpers add to it).
final class TimingLedger: @unchecked Sendable {
  var timing = TrialTiming()
  func time<T>(_ keyPath: WritableKeyPath<TrialTiming, Double>, _ body: () throws -> T) rethrows
    -> T
  {
    let t0 = ChildProcess.monotonicSeconds()
    defer { timing[keyPath: keyPath] += ChildProcess.monotonicSeconds() - t0 }
    return try body()
  }
}

public struct TrialExecutor {
  public let run: RunDirectory
  public let trialID: String
  let ledger = TimingLedger()
  /// Progress lines with the seconds since the trial started (the parent keeps them in
  /// `logs/<trial>.log`).
  public let log: @Sendable (String) -> Void

  public init(run: RunDirectory, trialID: String) {
    self.run = run
    self.trialID = trialID
    let start = ChildProcess.monotonicSeconds()
    self.log = { line in
      let t = String(format: "%8.2f", ChildProcess.monotonicSeconds() - start)
      FileHandle.standardError.write(Data("[\(t) s] \(line)\n".utf8))
    }
  }

  public func execute() throws {
    let manifest = try run.readManifest()
    let suite = manifest.suite
    let plan = SweepRunner.plan(suite, in: run)
    guard let config = plan.first(where: { $0.id == trialID }) else {
      throw DriverError.usage("\(run.path): no trial \(trialID) in this run's suite")
    }
    Self.testFaultHook(config)
    let start = Date()
    var record = TrialRecord(trialID: trialID, config: config, status: .failed)
    do {
      try executeTrial(
        config, suite: suite, minEffect: manifest.environment.timingNoiseMinEffect ?? 0.01,
        environment: manifest.environment, record: &record)
    } catch let failure as TrainingFailure {
      record.status = .diverged
      record.reason = failure.description
    } catch {
      record.status = .failed
      record.reason = "\(error)"
    }
    record.seconds = Date().timeIntervalSince(start)
    var timing = ledger.timing
    timing.other = max(
      0,
      record.seconds - timing.data - timing.train - timing.build - timing.measure - timing.waiting)
    record.timing = timing
    record.finishedAt = ISO8601DateFormatter().string(from: Date())
    try run.writeTrial(record)
    log("trial \(trialID) \(record.status.rawValue)" + (record.reason.map { ": \($0)" } ?? ""))
  }

  /// TEST-ONLY fault hook for the end-to-end tests of crash handling (Tests/EndToEndTests/
  /// SweepFailureTests.swift); never set these variables otherwise. With
  /// `BLKREW_TEST_CRASH_TRIAL` set to a trial's label (`dense`, `8x16 R4`), its ID or `all`, the
  /// child of that trial kills itself at start with `BLKREW_TEST_CRASH_SIGNAL` (a name such as
  /// SEGV, ABRT, KILL, TERM, INT, HUP, or a number; default SEGV).
  static func testFaultHook(_ config: TrialConfig) {
    let env = ProcessInfo.processInfo.environment
    guard let target = env["BLKREW_TEST_CRASH_TRIAL"],
      target == "all" || target == config.label || target == config.id
    else { return }
    let names: [String: Int32] = [
      "SEGV": SIGSEGV, "ABRT": SIGABRT, "KILL": SIGKILL, "BUS": SIGBUS, "ILL": SIGILL,
      "FPE": SIGFPE, "TERM": SIGTERM, "INT": SIGINT, "HUP": SIGHUP,
    ]
    let name = env["BLKREW_TEST_CRASH_SIGNAL"] ?? "SEGV"
    let sig =
      names[name.uppercased().replacingOccurrences(of: "SIG", with: "")] ?? Int32(name) ?? SIGSEGV
    FileHandle.standardError.write(Data("test fault hook: raising signal \(sig)\n".utf8))
    signal(sig, SIG_DFL)
    raise(sig)
  }

  private func executeTrial(
    _ config: TrialConfig, suite: SweepSpec, minEffect: Double, environment: EnvironmentInfo,
    record: inout TrialRecord
  ) throws {
    BLAS.setThreads(1)
    let data = try ledger.time(\.data) { try DataLoading.load(config) }
    log("data: \(DataLoading.describe(data))")
    // Training holds the machine-wide measurement lock shared, letting go between epochs.
    let lock = MeasurementLock()
    var compute: MeasurementLock.Hold? = ledger.time(\.waiting) { lock.acquire(exclusive: false) }
    defer { compute?.release() }
    var trainer = TrialTrainer(config: config, data: data, progress: log)
    trainer.epochBoundary = { [ledger] in
      compute?.release()
      // Waiting here is time another worker measures; it is not training time.
      let t0 = ChildProcess.monotonicSeconds()
      compute = lock.acquire(exclusive: false)
      let waited = ChildProcess.monotonicSeconds() - t0
      ledger.timing.waiting += waited
      ledger.timing.train -= waited
    }
    let trained: TrainedModel
    switch config.kind {
    case .dense:
      trained = try ledger.time(\.train) { try trainer.trainDense() }
    case .pruned:
      let dense = config.denseBaseline
      let ckpt = run.checkpointPath(dense.id)
      if !FileManager.default.fileExists(atPath: ckpt) {
        guard let denseRecord = run.trial(dense.id), denseRecord.status == .ok else {
          let status = run.trial(dense.id)?.status.rawValue ?? "not run"
          throw DriverError.failed(
            "the dense baseline \(dense.id) has no checkpoint (its status: \(status))")
        }
        // Recorded, but its checkpoint is gone (a clone of a committed run keeps the records,
        // not the checkpoints): train it again from the same config and seed, which training
        // does deterministically, and check the accuracy against the record.
        log(
          "the dense baseline \(dense.id) is recorded but its checkpoint is missing: training it again"
        )
        var denseTrainer = TrialTrainer(config: dense, data: data, progress: log)
        denseTrainer.epochBoundary = trainer.epochBoundary
        let again = try ledger.time(\.train) { try denseTrainer.trainDense() }
        if again.testAccuracy != denseRecord.accuracy {
          log(
            "warning: the retrained dense baseline's test accuracy \(again.testAccuracy.map { "\($0)" } ?? "-") differs from its record's \(denseRecord.accuracy.map { "\($0)" } ?? "-")"
          )
        }
        try Safetensors.write(
          again.network.stateTensors(),
          metadata: [
            "model": dense.model, "dataset": dense.dataset, "trial_id": dense.id,
            "blkrew": BlkrewVersion.string,
          ],
          to: URL(fileURLWithPath: ckpt))
      }
      let network = trainer.makeNetwork()
      let state = try Safetensors.read(URL(fileURLWithPath: ckpt))
      try network.loadState(state.tensors)
      trained = try ledger.time(\.train) { try trainer.trainPruned(from: network) }
    }
    try Safetensors.write(
      trained.network.stateTensors(),
      metadata: [
        "model": config.model, "dataset": config.dataset, "trial_id": config.id,
        "blkrew": BlkrewVersion.string,
      ],
      to: URL(fileURLWithPath: run.checkpointPath(config.id)))
    record.phases = trained.phases
    record.kept = trained.layers.map(\.kept)
    record.accuracy = trained.testAccuracy
    record.testCount = DataLoading.testCount(data)
    record.valAccuracy = trained.valAccuracy
    record.bitsPerCharacter = trained.testBitsPerCharacter
    record.valBitsPerCharacter = trained.valBitsPerCharacter
    record.normHistograms = trained.normHistograms.isEmpty ? nil : trained.normHistograms
    record.compression = ModelCompression(record.kept)
    record.status = .ok
    compute?.release()
    compute = nil

    // Kernels: every layer, pruned ones in their scheme's sparse format, the others dense.
    var latency = 0.0
    var size = 0
    var missing: [String] = []
    for layer in trained.layers {
      let measured = measureLayer(
        layer, config: config, suite: suite, minEffect: minEffect, environment: environment)
      record.layers.append(measured)
      size += Self.storedBytes(layer, block: config.block, scheme: config.scheme)
      if let s = measured.bestMedianSeconds { latency += s } else { missing.append(layer.name) }
    }
    record.sizeBytes = size
    if missing.isEmpty {
      record.latencySeconds = latency
    } else {
      record.reason =
        "no verified kernel variant for \(missing.joined(separator: ", ")): latency not recorded"
    }
  }

  /// The kernel format a pruned layer is timed in, the one its scheme's masks are made for:
  /// block-row masks in the block-row format, unstructured ones (1x1 blocks) in CSR, block-column
  /// and block-column-row masks in the block-column format.
  /// The suite's kernel knob space for one build configuration: `spec`'s knob lists (`kernels.*`,
  /// the generator's defaults where unset) for `isas` and `threads`.
  static func variants(
    of spec: KernelSpec, workload: Workload, batch: Int, target: String, compiler: String,
    flags: [String], isas: [KernelISA], threads: [Int]
  ) -> [KernelVariant] {
    KernelGenerator.variants(
      for: workload, batch: batch, target: target, compiler: compiler, flags: flags, isas: isas,
      unrolls: spec.unroll ?? KernelGenerator.unrollValues,
      nTiles: spec.nTile ?? KernelGenerator.nTileValues, threads: threads,
      prefetches: spec.prefetch ?? [0], nBlocks: spec.nBlock ?? [0], bakes: spec.baked ?? [false],
      reorders: spec.reorder ?? [false], packXs: spec.packX ?? [false],
      prefetchWs: spec.prefetchW ?? [0])
  }

  static func kernelFormat(scheme: PruningScheme?, block: BlockShape) -> KernelFormat {
    if block.rows == 1 && block.cols == 1 { return .csr }
    // Block-column-row masks stay in the block-column format: the combined format does half the
    // multiply-adds but measured no faster here (256x1152, 8x16 blocks keeping 4 rows x 8 columns,
    // AVX-512: 169 vs 160 us at N = 64, 24 vs 9.7 us at N = 1): its register tiles hold only a
    // block's kept rows and add into Y block by block, where block-column's vectors span the
    // block's rows (the cleared rows' zeros ride along for free).
    return scheme == .blockRow ? .blockRow : .blockColumn
  }

  /// Bytes the layer's weights take in the kernel's format (`kernelFormat`): dense values; for
  /// block-column the kept values plus one 32-bit column index per kept column segment and one
  /// count per block; for CSR a value and a column index per kept weight plus the row pointers;
  /// for block-row the kept row segments' `bc` values and start column plus the row pointers.
  static func storedBytes(_ layer: TrainedLayer, block: BlockShape?, scheme: PruningScheme?)
    -> Int
  {
    guard let mask = layer.mask, let block = block?.resolved(rows: layer.rows, cols: layer.cols)
    else { return layer.rows * layer.cols * 4 }
    switch kernelFormat(scheme: scheme, block: block) {
    case .csr:
      return layer.kept.kept * 8 + (layer.rows + 1) * 4
    case .blockRow:
      var bytes = (layer.rows + 1) * 4
      for r in 0..<layer.rows {
        for c0 in stride(from: 0, to: layer.cols, by: block.cols) {
          let c1 = min(c0 + block.cols, layer.cols)
          if (c0..<c1).contains(where: { mask[r * layer.cols + $0] != 0 }) {
            bytes += 4 + block.cols * 4
          }
        }
      }
      return bytes
    case .dense, .blockColumn, .blockColumnRow:
      // kernelFormat never picks block-column-row: its masks are timed as block-column.
      break
    }
    var segments = 0
    var blocks = 0
    for r0 in stride(from: 0, to: layer.rows, by: block.rows) {
      for c0 in stride(from: 0, to: layer.cols, by: block.cols) {
        blocks += 1
        for c in c0..<min(c0 + block.cols, layer.cols) where mask[r0 * layer.cols + c] != 0 {
          segments += 1
        }
      }
    }
    return layer.kept.kept * 4 + segments * 4 + blocks * 4
  }

  /// Generates, builds, verifies and times every variant of one layer at the suite's batches,
  /// reusing measurements of identical variants (same shape, mask, knobs, compiler) from
  /// `kernels/`.
  func measureLayer(
    _ layer: TrainedLayer, config: TrialConfig, suite: SweepSpec, minEffect: Double,
    environment: EnvironmentInfo?
  ) -> LayerLatency {
    let maskBytes: [UInt8] =
      layer.mask.map { m in m.map { $0 != 0 ? 1 : 0 } }
      ?? [UInt8](repeating: 1, count: layer.rows * layer.cols)
    let block = (config.block ?? BlockShape(rows: 1, cols: 1)).resolved(
      rows: layer.rows, cols: layer.cols)
    let format =
      layer.mask == nil
      ? KernelFormat.dense : Self.kernelFormat(scheme: config.scheme, block: block)
    let blocked = format != .dense && format != .csr
    let workload = Workload(
      rows: layer.rows, cols: layer.cols, format: format,
      blockRows: blocked ? block.rows : 1, blockCols: blocked ? block.cols : 1,
      maskHash: Workload.maskHash(maskBytes), kept: layer.kept.kept)
    // A convolution runs as one GEMM with N = output positions x batch (im2col); its kernels
    // are timed at that N only. Other layers: the latency batch and batch_n.
    let positions = max(1, layer.kept.positions ?? 1)
    let latencyN = suite.latency.batch * positions
    let batches =
      [latencyN]
      + (positions == 1 && suite.latency.batchN > 0 && suite.latency.batchN != suite.latency.batch
        ? [suite.latency.batchN] : [])
    var settings = RunSettings()
    settings.events = suite.kernels.events
    if let passes = environment?.eventPasses, !passes.isEmpty {
      settings.eventGroups = passes
      settings.events = Array(Set(passes.joined())).sorted()
    }
    settings.waitIdleSeconds = suite.kernels.waitIdleSeconds
    settings.minRepeats = suite.kernels.minRepeats
    settings.maxRepeats = suite.kernels.maxRepeats
    settings.warmup = suite.kernels.warmup
    settings.budgetSeconds = suite.kernels.budgetSeconds
    settings.ciFraction = suite.kernels.ciFraction
    settings.minTimeSeconds = suite.kernels.minTimeSeconds
    settings.multiplex = suite.kernels.multiplex
    let runner = LocalRunner(settings: settings)
    // The runner's own C is compiled once per run and compiler setting, not into every variant
    // (~1 s of each build: most of a sweep's build time).
    let builder = LocalBuilder(
      workDirectory: URL(fileURLWithPath: run.buildDir), reuseRunnerObjects: true)
    let workloadFile = URL(fileURLWithPath: "\(run.buildDir)/\(workload.id).workload")
    var summaries: [LayerLatency.VariantSummary] = []
    var best: RunResult?
    var measuredAtLatencyBatch: [RunResult] = []
    // The suite's knob space; ISAs this CPU cannot run are left out here (another machine of
    // the run may run them).
    let isas = suite.kernels.isas(
      supported: KernelGenerator.supportedISAs(cpuFlags: KernelGenerator.hostCPUFlags()))
    if !isas.skipped.isEmpty {
      log(
        "\(layer.name): skipping ISA(s) \(isas.skipped.map(\.rawValue).joined(separator: ", ")): this CPU does not run them"
      )
    }
    let threads = suite.kernels.threadCounts(cpus: ProcessInfo.processInfo.activeProcessorCount)
    if !threads.skipped.isEmpty {
      log(
        "\(layer.name): skipping threads \(threads.skipped.map(String.init).joined(separator: ", ")): this machine has \(ProcessInfo.processInfo.activeProcessorCount) CPU(s)"
      )
    }
    // Compilers and flag sets as knobs: each variant's are recorded with it.
    let buildKnobs = suite.kernels.allCompilers.count > 1 || suite.kernels.allFlagSets.count > 1
    for batch in batches {
      let variants = suite.kernels.allCompilers.flatMap { compiler in
        suite.kernels.allFlagSets.flatMap { flags in
          Self.variants(
            of: suite.kernels, workload: workload, batch: batch, target: "host",
            compiler: compiler, flags: flags, isas: isas.run, threads: threads.run)
        }
      }
      for variant in variants {
        let result: RunResult
        if let cached = run.kernelResult(variant.id) {
          result = cached
        } else {
          // Measures and records it, unless another worker does first (see `measure`).
          result = measure(
            variant, builder: builder, runner: runner, workloadFile: workloadFile, layer: layer,
            mask: maskBytes)
        }
        log(
          "\(layer.name) \(variant.knobs) -> \(result.outcome.rawValue)"
            + (result.medianSeconds.map { String(format: " %.3g s", $0) } ?? ""))
        summaries.append(
          .init(
            variantID: variant.id, knobs: variant.knobs, outcome: result.outcome,
            medianSeconds: result.medianSeconds,
            maxAbsErr: result.maxAbsErr, tolerance: result.tolerance,
            compiler: buildKnobs ? variant.compiler : nil, flags: buildKnobs ? variant.flags : nil))
        // The model latency is at `latency.threads` (1): variants with other thread counts are
        // measured and recorded beside it, never summed into it.
        let latencyVariant =
          batch == latencyN && result.outcome == .measured
          && variant.knobs.threads == suite.latency.threads
        if latencyVariant { measuredAtLatencyBatch.append(result) }
        if latencyVariant, let m = result.medianSeconds, m < (best?.medianSeconds ?? .infinity) {
          best = result
        }
      }
    }
    // Per call; the SDE counter is listed once, as "sde MACs", with its check against the MACs.
    let perCall: [CounterReading] =
      (best?.counters ?? []).filter { !$0.name.hasPrefix("sde:::") }.map { c in
        var c = c
        if let v = c.value, let calls = best?.callsCounted, calls > 0 { c.value = v / calls }
        return c
      }
      + (best?.sde.map { s in
        [
          CounterReading(
            name: "sde MACs", available: s.works,
            value: s.works ? s.read / max(best?.callsCounted ?? 1, 1) : nil,
            reason: s.works ? nil : "SDE read \(s.read), expected \(s.expected)")
        ]
      } ?? [])
    var result = LayerLatency(
      layer: layer.name, workloadID: workload.id, format: workload.format, rows: layer.rows,
      cols: layer.cols,
      kept: layer.kept.kept, variants: summaries, bestVariantID: best?.variantID,
      bestMedianSeconds: best?.medianSeconds,
      counters: perCall)
    if let best, !best.samplesSeconds.isEmpty {
      let ci = Statistics.bootstrapMedianCI(best.samplesSeconds, seed: 1)
      result.bestCILow = ci.low
      result.bestCIHigh = ci.high
      // The best is only "the" best against variants the test can tell apart from it.
      result.derived = Self.derivedMetrics(
        best, layer: layer, batch: latencyN, block: config.block, scheme: config.scheme)
      if suite.kernels.cold {
        var coldSettings = settings
        coldSettings.flushCache = true
        let cold = measuring {
          LocalRunner(settings: coldSettings).run(
            binaryPath: "\(run.buildDir)/\(best.variantID)/runner", workloadFile: workloadFile,
            variant: best.variant, timeout: 120)
        }
        result.bestColdMedianSeconds = cold.medianSeconds
        if cold.outcome != .measured {
          result.extraMeasurementNote = "cold: \(cold.outcome.rawValue) \(cold.message ?? "")"
        }
      }
      if suite.kernels.simulate {
        switch simulate(best.variant, workloadFile: workloadFile, layer: layer, mask: maskBytes) {
        case .success(let cost): result.simulated = cost
        case .failure(let why):
          result.extraMeasurementNote =
            (result.extraMeasurementNote.map { $0 + "; " } ?? "") + "simulated: \(why)"
        }
      }
      result.tiedVariantIDs = measuredAtLatencyBatch.filter { other in
        other.variantID != best.variantID && !other.samplesSeconds.isEmpty
          && Comparison.compare(best.samplesSeconds, other.samplesSeconds, minEffect: minEffect)
            .verdict
            == .indistinguishable
      }.map(\.variantID)
    }
    // The suite's other targets: the same workload's variants built, verified and (natively)
    // timed there; the trial's latency stays this machine's.
    let others = suite.resolvedTargets.filter { $0 != "host" }
    if !others.isEmpty {
      result.targets = others.map { name in
        measureOnTarget(
          name, workload: workload, batch: latencyN, settings: settings,
          workloadFile: workloadFile, layer: layer, mask: maskBytes, suite: suite)
      }
    }
    return result
  }

  /// One layer's variants on target `name` at `batch`: built for it; run where it can run here
  /// (natively, under qemu for correctness only — one sample, no counters — or on a remote host);
  /// built only, with the reason, where it cannot (this CPU lacks the target's ISA).
  private func measureOnTarget(
    _ name: String, workload: Workload, batch: Int, settings: RunSettings, workloadFile: URL,
    layer: TrainedLayer, mask: [UInt8], suite: SweepSpec
  ) -> TargetLayerResult {
    let target: KernelTarget
    do { target = try TargetRegistry.target(named: name) } catch {
      var r = TargetLayerResult(target: name, emulated: false, variants: [])
      r.note = "\(error)"
      return r
    }
    var out = TargetLayerResult(target: target.name, emulated: target.emulated, variants: [])
    let variants = Self.variants(
      of: suite.kernels, workload: workload, batch: batch, target: target.name,
      compiler: target.compiler, flags: target.flags,
      isas: suite.kernels.isas(supported: target.isas).run,
      // Emulated targets time nothing, and qemu-user hangs in a threaded runner's
      // pthread_create here: one thread (the split is the same C, run on the host).
      threads: target.emulated
        ? [1] : suite.kernels.threadCounts(cpus: ProcessInfo.processInfo.activeProcessorCount).run)
    let builder = LocalBuilder(
      workDirectory: URL(fileURLWithPath: run.buildDir), target: target, reuseRunnerObjects: true)
    let status = target.status()
    guard status.runnable else {
      out.note = status.runReason
      var built = 0
      for v in variants
      where building({ builder.build(KernelGenerator.generate(v, mask: mask)) }).ok {
        built += 1
      }
      out.built = built
      out.buildFailed = variants.count - built
      log(
        "\(layer.name) on \(name): \(built)/\(variants.count) variants built; \(status.runReason)")
      return out
    }
    let launcher: RunLauncher
    do { launcher = try RunLauncher(target: target) } catch {
      out.note = "\(error)"
      return out
    }
    var s = settings
    if target.emulated { s.checkOnly() }
    let runner = LocalRunner(settings: s, launcher: launcher)
    var best: RunResult?
    for v in variants {
      let result =
        run.kernelResult(v.id)
        ?? measure(
          v, builder: builder, runner: runner, workloadFile: workloadFile, layer: layer, mask: mask)
      log(
        "\(layer.name) on \(name) \(v.knobs) -> \(result.outcome.rawValue)"
          + (target.emulated ? " (emulated)" : ""))
      out.variants.append(
        .init(
          variantID: v.id, knobs: v.knobs, outcome: result.outcome,
          medianSeconds: target.emulated ? nil : result.medianSeconds,
          maxAbsErr: result.maxAbsErr, tolerance: result.tolerance))
      if !target.emulated, result.outcome == .measured, let m = result.medianSeconds,
        v.knobs.threads == suite.latency.threads, m < (best?.medianSeconds ?? .infinity)
      {
        best = result
      }
    }
    out.bestVariantID = best?.variantID
    out.bestMedianSeconds = best?.medianSeconds
    return out
  }

  struct SimulationError: Error, CustomStringConvertible {
    var description: String
  }

  /// Builds `variant` for simulation (no AVX-512, no FMA) and runs it under cachegrind.
  private func simulate(
    _ variant: KernelVariant, workloadFile: URL, layer: TrainedLayer, mask: [UInt8]
  )
    -> Result<SimulatedCost, SimulationError>
  {
    let cachegrind = CachegrindRunner()
    guard cachegrind.valgrindVersion() != nil else {
      return .failure(
        SimulationError(
          description:
            "valgrind is not installed (apt-get install -y --no-install-recommends valgrind)"))
    }
    var simVariant = variant
    simVariant.flags = LocalBuilder.simulationFlags
    let builder = LocalBuilder(workDirectory: URL(fileURLWithPath: run.buildDir))
    let built = building { builder.build(KernelGenerator.generate(simVariant, mask: mask)) }
    guard built.ok, let binary = built.binaryPath else {
      return .failure(SimulationError(description: "simulation build failed"))
    }
    do {
      // Simulation is deterministic, so it needs no quiet machine, but it computes: it holds the
      // lock shared so that no other worker's timing runs meanwhile.
      let hold = ledger.time(\.waiting) { MeasurementLock().acquire(exclusive: false) }
      defer { hold.release() }
      return .success(
        try ledger.time(\.measure) {
          try cachegrind.simulate(
            binaryPath: binary, workloadFile: workloadFile, variant: simVariant)
        })
    } catch {
      return .failure(SimulationError(description: "\(error)"))
    }
  }

  /// Derived metrics of a measured variant: per-call counters, the kept multiply-adds at `batch`,
  /// and the bytes the kernel must at least read and write (packed weights, X and Y).
  static func derivedMetrics(
    _ r: RunResult, layer: TrainedLayer, batch: Int, block: BlockShape?, scheme: PruningScheme?
  ) -> [String: Double] {
    guard let median = r.medianSeconds, median > 0 else { return [:] }
    let calls = Double(max(r.callsCounted, 1))
    var counters: [String: Double] = [:]
    for c in r.counters where c.available {
      if let v = c.value { counters[c.name] = Double(v) / calls }
    }
    let macs = Double(layer.kept.kept * batch)
    let bytes = Double(
      storedBytes(layer, block: block, scheme: scheme) + (layer.cols + layer.rows) * batch * 4)
    return DerivedMetrics.compute(
      counters: counters, macs: macs, seconds: median, bytesMoved: bytes)
  }

  /// Builds and measures a variant and writes `kernels/<variant id>.json`. Another worker (of
  /// this sweep or of another process on the same run) may be measuring the same variant: the
  /// cache is checked again once the exclusive measurement lock is held, and the result is
  /// written before the lock is let go, so a variant is measured once.
  private func measure(
    _ variant: KernelVariant, builder: LocalBuilder, runner: LocalRunner, workloadFile: URL,
    layer: TrainedLayer,
    mask: [UInt8]
  ) -> RunResult {
    func record(_ result: RunResult) {
      do { try run.writeKernelResult(result) } catch {
        log("cannot record kernel \(variant.id): \(error)")
      }
    }
    let built = building { builder.build(KernelGenerator.generate(variant, mask: mask)) }
    guard built.ok, let binary = built.binaryPath else {
      if let cached = run.kernelResult(variant.id) { return cached }
      let failed = RunResult.failed(variant, .buildFailed, message: String(built.log.suffix(2000)))
      record(failed)
      return failed
    }
    if !FileManager.default.fileExists(atPath: workloadFile.path) {
      do {
        try WorkloadFile.write(
          rows: layer.rows, cols: layer.cols, weights: layer.weights, mask: mask, to: workloadFile)
      } catch {
        let failed = RunResult.failed(
          variant, .runFailed, message: "cannot write workload: \(error)")
        record(failed)
        return failed
      }
    }
    return measuring {
      if let cached = run.kernelResult(variant.id) {
        log("\(variant.id): measured by another worker meanwhile; using its record")
        return cached
      }
      let result = runner.run(
        binaryPath: binary, workloadFile: workloadFile, variant: variant, timeout: 120)
      record(result)
      return result
    }
  }

  /// Runs a build holding the machine-wide lock shared; lock waits and build time are booked.
  func building<T>(_ body: () -> T) -> T {
    let hold = ledger.time(\.waiting) { MeasurementLock().acquire(exclusive: false) }
    defer { hold.release() }
    return ledger.time(\.build, body)
  }

  /// Runs a measurement holding the machine-wide lock exclusively (nothing else of blkrew computes
  /// meanwhile); lock waits and measuring time are booked.
  func measuring<T>(_ body: () -> T) -> T {
    let hold = ledger.time(\.waiting) { MeasurementLock().acquire(exclusive: true) }
    defer { hold.release() }
    return ledger.time(\.measure, body)
  }
}

/// Loads the data of a trial, mapping dataset problems to exit codes.
public enum DataLoading {
  public static func load(_ config: TrialConfig) throws -> TaskData {
    try ModelZoo.load(
      config.dataset, train: config.subset.train, validation: config.subset.val,
      test: config.subset.test, seed: UInt64(config.seed))
  }

  /// Test items of a classification task (nil for a language model).
  public static func testCount(_ data: TaskData) -> Int? {
    switch data {
    case .images(_, _, let te, _): te.count
    case .sequences(_, _, let te, _): te.count
    case .characters: nil
    }
  }

  /// "20000 train, 2000 validation, 10000 test images" and the like, for the trial log.
  public static func describe(_ data: TaskData) -> String {
    switch data {
    case .images(let tr, let va, let te, _):
      "\(tr.count) train, \(va.count) validation, \(te.count) test images"
    case .sequences(let tr, let va, let te, _):
      "\(tr.count) train, \(va.count) validation, \(te.count) test sequences"
    case .characters(let corpus): "character corpus, vocabulary \(corpus.vocabulary.count)"
    }
  }

  /// Checks that the dataset files exist before a sweep starts: exit 69 with the command that
  /// installs (Debian's Fashion-MNIST) or fetches (JapaneseVowels, the KJV text) them.
  public static func checkAvailable(_ dataset: String) throws {
    let fetch = "run: \(DataDirectory.fetchCommand), or make setup"
    let needed: [(path: String, fix: String)]
    switch dataset {
    case "japanese-vowels":
      needed = ["TRAIN", "TEST"].map {
        ("\(JapaneseVowels.defaultDirectory)/JapaneseVowels_\($0).ts", fetch)
      }
    case "kjv-chars": needed = [(CharCorpus.kjvPath, fetch)]
    default:
      needed = [
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
      ].map {
        (
          "\(FashionMNIST.defaultDirectory)/\($0)",
          "run: apt-get install -y --no-install-recommends dataset-fashion-mnist"
        )
      }
    }
    for (path, fix) in needed where !FileManager.default.fileExists(atPath: path) {
      throw DriverError.unavailable("\(path): dataset \(dataset) is not installed (\(fix))")
    }
  }
}

/// The version of blkrew written into every run and checkpoint.
public enum BlkrewVersion {
  public static let string = "0.1.0"
}
