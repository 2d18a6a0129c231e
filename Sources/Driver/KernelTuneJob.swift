import ChildProcesses
import Datasets
import Foundation
import KernelBuild
import KernelCodegen
import KernelRun
import NeuralNets
import Search
import Tensors
import Training
import TuningSchema

/// `blkrew kernel tune`: the kernel variants of a checkpoint's layers, built for a target,
/// verified against the dense reference and timed, without a sweep. The layers are the model's
/// GEMM-view weights (the model named in the checkpoint's metadata); a layer with zeros is
/// block-sparse in the checkpoint's block shape and scheme (metadata `block` and `scheme`,
/// written by `blkrew prune`: block-row masks in the block-row format, 1x1 blocks in CSR,
/// otherwise block-column) or, without a block, CSR; other layers are dense. The knob space is the target's ISAs × unroll ×
/// register-tile width × `threads` (block-column layers on a timing target), for each of
/// `compilers` on the host; `strategy` walks it (exhaustive by default; greedy coordinate descent
/// with early stopping; random) within `budgetSeconds` over all layers.
public struct KernelTuneJob {
  public var checkpoint: String
  public var layer: String?
  public var target: String = "host"
  public var batch: Int = 1
  public var budgetSeconds: Double = 30
  var strategy: KnobSearch.Strategy = .exhaustive
  /// `exhaustive`, `greedy` or `random` (`strategies`).
  public var strategyName: String {
    get { strategy.rawValue }
    set { strategy = KnobSearch.Strategy(rawValue: newValue) ?? .exhaustive }
  }
  public static let strategies = KnobSearch.Strategy.allCases.map(\.rawValue)
  public var model: String?
  /// Threads per call explored for block-column layers (the others run on one).
  public var threads: [Int] = [1]
  /// Compilers explored on the host (nil: the target's compiler, gcc on the host).
  public var compilers: [String]?
  /// Compiler flag sets explored, each replacing the target's flags (nil: the target's flags,
  /// `-O3 -march=native` on the host).
  public var flagSets: [[String]]?
  /// A last stage per layer: the best (1-thread block-column) variant again with its block rows
  /// in pattern order and, where `KernelGenerator.supportsBaked`, with the indices baked in; a
  /// faster one becomes the layer's best.
  public var patterns = false

  public init(checkpoint: String) { self.checkpoint = checkpoint }

  public struct Variant: Codable, Sendable {
    public var id: String
    public var layer: String
    public var knobs: KernelKnobs
    public var outcome: RunOutcome
    public var maxAbsErr: Double?
    public var tolerance: Double?
    public var medianSeconds: Double?
    /// The variant's compiler and flags, when the run explored more than one compiler or flag
    /// set (otherwise every variant has the target's).
    public var compiler: String?
    public var flags: [String]?
    enum CodingKeys: String, CodingKey {
      case id, layer, knobs, outcome, tolerance, compiler, flags
      case maxAbsErr = "max_abs_err"
      case medianSeconds = "median_s"
    }
  }

  public struct Layer: Codable, Sendable {
    public var layer: String
    public var rows: Int
    public var cols: Int
    public var format: KernelFormat
    public var n: Int
    public var kept: Int
    /// Points of the knob space, and how many were measured.
    public var space: Int
    public var measured: Int
    public var bestVariantID: String?
    public var bestMedianSeconds: Double?
    /// Kept multiply-adds per second of the best variant (GFLOP/s counts 2 per MAC).
    public var bestGFLOPS: Double?
    enum CodingKeys: String, CodingKey {
      case layer, rows, cols, format, n, kept, space, measured
      case bestVariantID = "best_variant_id"
      case bestMedianSeconds = "best_median_s"
      case bestGFLOPS = "best_gflops"
    }
  }

  public struct Summary: Codable, Sendable {
    public var checkpoint: String
    public var model: String
    public var target: String
    public var emulated: Bool
    public var batch: Int
    public var strategy: String
    public var budgetSeconds: Double
    public var seconds: Double
    public var layers: [Layer]
    public var variants: [Variant]
    enum CodingKeys: String, CodingKey {
      case checkpoint, model, target, emulated, batch, strategy, seconds, layers, variants
      case budgetSeconds = "budget_s"
    }
  }

  public func run(progress: @escaping (String) -> Void) throws -> Summary {
    let start = ChildProcess.monotonicSeconds()
    guard FileManager.default.fileExists(atPath: checkpoint) else {
      throw DriverError.noInput(checkpoint)
    }
    let kernelTarget: KernelTarget
    do {
      kernelTarget = try TargetRegistry.target(named: target)
      let missing = kernelTarget.missingTools(forRunning: true)
      guard missing.isEmpty else {
        throw TargetError.missingToolchain(target: target, packages: missing)
      }
      let status = kernelTarget.status()
      guard status.runnable else {
        throw TargetError.notRunnable(target: target, reason: status.runReason)
      }
    } catch let e as TargetError {
      throw DriverError(
        e.exitCode, e.description.replacingOccurrences(of: "blkrew: error: ", with: ""))
    }
    let state: (tensors: [String: Tensor], metadata: [String: String])
    do { state = try Safetensors.read(URL(fileURLWithPath: checkpoint)) } catch {
      throw DriverError.badData(error.description)
    }
    guard let modelName = model ?? state.metadata["model"], ModelZoo.models.contains(modelName)
    else {
      throw DriverError.usage(
        "\(checkpoint): no known model in the checkpoint's metadata; pass --model NAME (\(ModelZoo.models.joined(separator: ", ")))"
      )
    }
    let datasetName = state.metadata["dataset"] ?? ModelZoo.datasets(for: modelName).first!
    let data: TaskData
    do {
      // Only the shapes matter: a small subset.
      data = try ModelZoo.load(datasetName, train: 64, validation: 16, test: 64, seed: 1)
    } catch let e as DatasetError {
      switch e {
      case .missing, .notFetched: throw DriverError.unavailable(e.description)
      case .corrupt: throw DriverError.badData(e.description)
      }
    }
    let width = state.metadata["width"].flatMap(Double.init) ?? 1
    let network = ModelZoo.make(modelName, data: data, seed: 1, width: width)
    do { try network.loadState(state.tensors) } catch {
      throw DriverError.badData("\(checkpoint): \(error.description)")
    }
    // One forward pass gives the convolutions' output positions (the GEMM's N per sample).
    if case .images(_, _, let test, let channels) = data, !(network is MLP) {
      let (x, _) = test.batch([0][...])
      _ = network.forward(x.reshaped([1, channels, test.rows, test.cols]), training: false)
    }
    var positions: [String: Int] = [:]
    for w in network.gemmWeights { positions[w.name] = w.positions() }
    var weights = network.gemmWeights
    if let layer {
      weights = weights.filter { $0.name == layer }
      guard !weights.isEmpty else {
        throw DriverError.usage(
          "\(checkpoint): no layer '\(layer)' (layers: \(network.gemmWeights.map(\.name).joined(separator: ", ")))"
        )
      }
    }
    let block = state.metadata["block"].flatMap(BlockShape.init(parsing:))
    let work = FileManager.default.temporaryDirectory.appendingPathComponent(
      "blkrew-kernel-tune-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    try? FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: work) }
    let builder =
      target == "host"
      ? LocalBuilder(workDirectory: work, reuseRunnerObjects: true)
      : LocalBuilder(workDirectory: work, target: kernelTarget, reuseRunnerObjects: true)
    let launcher: RunLauncher
    do { launcher = try RunLauncher(target: kernelTarget) } catch {
      throw DriverError.usage("\(error)")
    }
    let isas =
      target == "host"
      ? KernelGenerator.supportedISAs(cpuFlags: KernelGenerator.hostCPUFlags())
        .filter { kernelTarget.isas.contains($0) } : kernelTarget.isas
    let compilers =
      target == "host" ? (self.compilers ?? [kernelTarget.compiler]) : [kernelTarget.compiler]
    for c in compilers where ChildProcess.which(c) == nil {
      throw DriverError.unavailable(
        "compiler \(c) not found (run: apt-get install -y --no-install-recommends \(c == "cc" ? "gcc" : c))"
      )
    }
    let defaultFlags = target == "host" ? ["-O3", "-march=native"] : kernelTarget.flags
    // The build configurations, outermost in the knob space: compiler, then flag set.
    let configs = compilers.flatMap { c in (flagSets ?? [defaultFlags]).map { (c, $0) } }
    let recordsConfig = configs.count > 1

    // The budget is split evenly over the layers; each variant samples for a share of what its
    // layer has left (at most 0.3 s, as a sweep's default).
    var summary = Summary(
      checkpoint: checkpoint, model: modelName, target: target, emulated: kernelTarget.emulated,
      batch: batch, strategy: strategy.rawValue, budgetSeconds: budgetSeconds, seconds: 0,
      layers: [], variants: [])
    for (li, w) in weights.enumerated() {
      let values = w.parameter.value.data
      let mask = values.map { $0 != 0 ? UInt8(1) : 0 }
      let kept = mask.reduce(0) { $0 + Int($1) }
      let sparse = kept < values.count
      let scheme = state.metadata["scheme"].flatMap(PruningScheme.init(rawValue:))
      let format: KernelFormat =
        !sparse
        ? .dense
        : block.map {
          TrialExecutor.kernelFormat(scheme: scheme, block: $0.resolved(rows: w.rows, cols: w.cols))
        } ?? .csr
      let b = (block ?? BlockShape(rows: 1, cols: 1)).resolved(rows: w.rows, cols: w.cols)
      let workload = Workload(
        rows: w.rows, cols: w.cols, format: format,
        blockRows: format != .dense && format != .csr ? b.rows : 1,
        blockCols: format != .dense && format != .csr ? b.cols : 1,
        maskHash: Workload.maskHash(mask),
        kept: kept)
      let n = batch * max(1, positions[w.name] ?? 1)
      // Emulated targets time nothing (and qemu-user hangs in a threaded runner here).
      let threadCounts =
        KernelGenerator.supportsThreads(format) && !kernelTarget.emulated ? threads : [1]
      let variants = configs.flatMap { compiler, flags in
        KernelGenerator.variants(
          for: workload, batch: n, target: target, compiler: compiler, flags: flags, isas: isas,
          threads: threadCounts)
      }
      let tiles = n == 1 ? [1] : KernelGenerator.nTileValues.filter { $0 <= n }
      let sizes = [
        configs.count, isas.count, KernelGenerator.unrollValues.count, max(1, tiles.count),
        threadCounts.count,
      ]
      precondition(sizes.reduce(1, *) == variants.count, "knob space and variants disagree")
      /// The variant at a point of the knob space (compiler and flag set outermost, then the
      /// generator's order: threads innermost).
      func variantIndex(_ p: [Int]) -> Int {
        p.indices.reduce(0) { $0 * sizes[$1] + p[$1] }
      }
      let workloadFile = work.appendingPathComponent("\(workload.id).workload")
      do {
        try WorkloadFile.write(
          rows: w.rows, cols: w.cols, weights: values, mask: mask, to: workloadFile)
      } catch { throw DriverError.failed("cannot write the workload: \(error)") }
      progress(
        "\(w.name): \(w.rows)x\(w.cols) \(format.rawValue)\(format == .blockColumn ? " \(b)" : ""), "
          + "kept \(kept) of \(values.count), N \(n): \(variants.count) variants (\(strategy.rawValue))"
      )
      var results: [Int: RunResult] = [:]
      // This layer's share of the budget (what earlier layers left over carries on).
      let layerDeadline = start + budgetSeconds * Double(li + 1) / Double(weights.count)
      /// Builds and runs `v` with a sampling budget from the `remaining` seconds.
      func runVariant(_ v: KernelVariant, remaining: Double) -> RunResult {
        var settings = RunSettings()
        settings.budgetSeconds = max(0.01, min(0.3, remaining / 8))
        settings.events = ["perf::task-clock"]
        settings.idleWindowSeconds = 0
        if kernelTarget.emulated { settings.checkOnly() }
        let built = builder.build(KernelGenerator.generate(v, mask: mask))
        let r: RunResult
        if built.ok, let binary = built.binaryPath {
          r = LocalRunner(settings: settings, launcher: launcher).run(
            binaryPath: binary, workloadFile: workloadFile, variant: v, timeout: 120)
        } else {
          r = RunResult.failed(v, .buildFailed, message: String(built.log.suffix(400)))
        }
        progress(
          "  \(v.knobs) -> \(r.outcome.rawValue)"
            + (r.medianSeconds.map { String(format: " %.3g s", $0) } ?? ""))
        return r
      }
      let outcome = KnobSearch.run(
        strategy, sizes: sizes,
        start: [0, isas.count - 1, min(1, sizes[2] - 1), sizes[3] / 2, 0]
      ) { point in
        let remaining = layerDeadline - ChildProcess.monotonicSeconds()
        guard remaining > 0 else { return nil }
        let index = variantIndex(point)
        let r = runVariant(variants[index], remaining: remaining)
        results[index] = r
        guard r.outcome == .measured, !kernelTarget.emulated else { return nil }
        return r.medianSeconds
      }
      var best: RunResult?
      var bestKnobs: KernelKnobs?
      func record(_ r: RunResult, _ v: KernelVariant) {
        summary.variants.append(
          Variant(
            id: r.variantID, layer: w.name, knobs: v.knobs, outcome: r.outcome,
            maxAbsErr: r.maxAbsErr, tolerance: r.tolerance,
            medianSeconds: kernelTarget.emulated ? nil : r.medianSeconds,
            compiler: recordsConfig ? v.compiler : nil, flags: recordsConfig ? v.flags : nil))
        if !kernelTarget.emulated, r.outcome == .measured, let m = r.medianSeconds,
          m < (best?.medianSeconds ?? .infinity)
        {
          best = r
          bestKnobs = v.knobs
        }
      }
      for (point, _) in outcome.measured {
        let index = variantIndex(point)
        guard let r = results[index] else { continue }  // out of budget: not run
        record(r, variants[index])
      }
      var extra = 0
      if patterns, let knobs = bestKnobs,
        let v = variants.first(where: { $0.knobs == knobs }),
        KernelGenerator.supportsReorder(format, threads: knobs.threads)
      {
        var candidates: [KernelVariant] = []
        var reordered = v
        reordered.knobs.reorder = true
        candidates.append(reordered)
        var baked = v
        baked.knobs.baked = true
        if KernelGenerator.supportsBaked(workload, knobs: baked.knobs) { candidates.append(baked) }
        for c in candidates {
          let remaining = max(0.05, layerDeadline - ChildProcess.monotonicSeconds())
          record(runVariant(c, remaining: remaining), c)
          extra += 1
        }
      }
      summary.layers.append(
        Layer(
          layer: w.name, rows: w.rows, cols: w.cols, format: format, n: n, kept: kept,
          space: variants.count + extra, measured: results.count + extra,
          bestVariantID: best?.variantID,
          bestMedianSeconds: best?.medianSeconds,
          bestGFLOPS: best?.medianSeconds.map { 2 * Double(kept * n) / $0 / 1e9 }))
    }
    summary.seconds = ChildProcess.monotonicSeconds() - start
    return summary
  }
}
