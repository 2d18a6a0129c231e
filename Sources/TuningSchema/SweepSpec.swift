import Foundation

/// A block shape `RxC`: `rows` output rows by `cols` input columns of the GEMM-view weight.
public struct BlockShape: Codable, Hashable, Sendable, CustomStringConvertible, Comparable {
  public var rows: Int
  public var cols: Int

  public init(rows: Int, cols: Int) {
    self.rows = rows
    self.cols = cols
  }

  /// A dimension written `*`: the whole dimension of each layer (`*x1` = whole columns, the
  /// structured channel pruning of the GEMM view; `1x*` = whole rows, i.e. filters).
  public static let whole = 0

  /// Parses `"8x16"`, `"*x1"`, `"1x*"`; nil unless each part is a positive integer or `*`.
  public init?(parsing text: String) {
    let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
    func dim(_ p: Substring) -> Int? {
      if p == "*" { return Self.whole }
      guard let n = Int(p), n > 0 else { return nil }
      return n
    }
    guard parts.count == 2, let r = dim(parts[0]), let c = dim(parts[1]) else { return nil }
    self.init(rows: r, cols: c)
  }

  public var description: String {
    (rows == Self.whole ? "*" : "\(rows)") + "x" + (cols == Self.whole ? "*" : "\(cols)")
  }

  /// The concrete block of an `rows x cols` layer: `*` becomes the layer's dimension, and no
  /// side exceeds it.
  public func resolved(rows m: Int, cols k: Int) -> BlockShape {
    BlockShape(
      rows: rows == Self.whole ? m : min(rows, m), cols: cols == Self.whole ? k : min(cols, k))
  }

  public init(from decoder: Decoder) throws {
    let text = try decoder.singleValueContainer().decode(String.self)
    guard let shape = BlockShape(parsing: text) else {
      throw DecodingError.dataCorrupted(
        .init(codingPath: decoder.codingPath, debugDescription: "bad block shape \(text)"))
    }
    self = shape
  }

  public func encode(to encoder: Encoder) throws {
    var c = encoder.singleValueContainer()
    try c.encode(description)
  }

  public static func < (a: BlockShape, b: BlockShape) -> Bool {
    (a.rows, a.cols) < (b.rows, b.cols)
  }
}

/// Pruning schemes of DESIGN.md section 2.
public enum PruningScheme: String, Codable, Hashable, Sendable, CaseIterable {
  /// A group is one column segment (length br) of one block.
  case blockColumn = "block-column"
  /// A group is one row segment (length bc) of one block.
  case blockRow = "block-row"
  /// Both group sets in every block: a block keeps a subset of its rows and of its columns.
  case blockColumnRow = "block-column-row"
}

/// The regularizer applied in the regularization phase.
public struct RegularizerSpec: Codable, Hashable, Sendable {
  public enum Kind: String, Codable, Hashable, Sendable, CaseIterable {
    /// Reweighted group regularization (BLK-REW): alpha_g refreshed every `refreshSteps`.
    case reweighted
    /// Fixed-penalty group lasso (alpha_g = 1).
    case groupLasso = "group-lasso"
    /// No regularization: hard prune by magnitude, then retrain.
    case none
    /// ADMM block pruning: `(rho/2)||W - Z + U||^2` with `Z` the projection of `W + U` onto the
    /// block-sparse set at the trial's rate and `U` the scaled dual, both updated every
    /// `refreshSteps` steps, `rho` multiplied by `rhoGrowth` at each update up to `rhoMax`.
    case admm
  }
  /// `norm`: pen = ||W_g||, alpha = 1/(||W_g|| + eps) (the authors' code; default).
  /// `squared`: pen = ||W_g||^2, alpha = 1/(||W_g||^2 + eps).
  public enum Form: String, Codable, Hashable, Sendable, CaseIterable {
    case norm
    case squared
  }
  public var kind: Kind = .reweighted
  public var lambda: Double = 1e-4
  public var eps: Double = 1e-3
  public var refreshSteps: Int = 200
  public var form: Form = .norm
  /// Refresh the reweighted penalty weights (or ADMM's Z and U) at the end of every this many
  /// epochs instead of every `refreshSteps` steps (nil: by steps).
  public var refreshEpochs: Int? = nil
  /// Per-layer lambda overriding `lambda` for the named layers.
  public var layerLambda: [String: Double]? = nil
  /// ADMM only (nil elsewhere, so other suites' canonical forms and run ids do not change).
  public var rho: Double? = nil
  public var rhoGrowth: Double? = nil
  public var rhoMax: Double? = nil

  public static let defaultRho = 1e-3
  public static let defaultRhoGrowth = 1.3
  public static let defaultRhoMax = 1.0

  public init() {}

  enum CodingKeys: String, CodingKey {
    case kind, lambda, eps, form, rho
    case refreshSteps = "refresh_steps"
    case refreshEpochs = "refresh_epochs"
    case layerLambda = "layer_lambda"
    case rhoGrowth = "rho_growth"
    case rhoMax = "rho_max"
  }
}

/// Epochs of each phase of a trial.
public struct PhaseSpec: Codable, Hashable, Sendable {
  public var pretrainEpochs: Int = 3
  public var regEpochs: Int = 2
  public var retrainEpochs: Int = 1
  public init() {}
  enum CodingKeys: String, CodingKey {
    case pretrainEpochs = "pretrain_epochs"
    case regEpochs = "reg_epochs"
    case retrainEpochs = "retrain_epochs"
  }
}

/// Optimizer settings shared by every phase (SGD with momentum).
public struct TrainingSpec: Codable, Hashable, Sendable {
  public var batchSize: Int = 64
  public var learningRate: Double = 0.05
  /// Learning rate of the masked retrain phase (smaller: fine-tuning).
  public var retrainLearningRate: Double = 0.01
  /// Learning rate of the regularization phase (nil: `learningRate`).
  public var regLearningRate: Double? = nil
  public var momentum: Double = 0.9
  public var weightDecay: Double = 0
  /// nil: SGD with `momentum` (the default; nil keeps older suites' canonical form).
  public var optimizer: OptimizerKind? = nil
  /// Learning-rate schedule of each phase, restarted at every phase (nil: constant).
  public var schedule: ScheduleKind? = nil
  /// Linear warm-up steps at the start of each phase (nil: none).
  public var warmupSteps: Int? = nil
  public init() {}
  enum CodingKeys: String, CodingKey {
    case batchSize = "batch_size"
    case learningRate = "learning_rate"
    case retrainLearningRate = "retrain_learning_rate"
    case regLearningRate = "reg_learning_rate"
    case momentum, optimizer, schedule
    case weightDecay = "weight_decay"
    case warmupSteps = "warmup_steps"
  }

  public enum OptimizerKind: String, Codable, Hashable, Sendable, CaseIterable {
    /// SGD with `momentum` (heavy ball).
    case sgd
    /// SGD with Nesterov momentum.
    case nesterov
    /// Adam (L2 weight decay added to the gradient).
    case adam
    /// AdamW (decoupled weight decay).
    case adamw
  }

  public enum ScheduleKind: String, Codable, Hashable, Sendable, CaseIterable {
    case constant
    /// Cosine annealing to 0 over the phase's steps.
    case cosine
    /// x0.1 after each third of the phase's steps.
    case step
  }
}

/// Training/validation sizes taken from the training set (test accuracy always uses the whole
/// test set). The validation split is fixed and seeded; model selection uses it only.
public struct SubsetSpec: Codable, Hashable, Sendable {
  public var train: Int = 10000
  public var val: Int = 2000
  /// Test images used for the reported accuracy; nil = all of them. Only tests shrink this.
  public var test: Int? = nil
  public init() {}
}

/// How latency is measured: the batch of the model latency, an extra batch-N variant, threads.
public struct LatencySpec: Codable, Hashable, Sendable {
  public var batch: Int = 1
  /// A second batch size also measured for every layer (0 = none).
  public var batchN: Int = 16
  public var threads: Int = 1
  public init() {}
  enum CodingKeys: String, CodingKey {
    case batch, threads
    case batchN = "batch_n"
  }
}

/// Kernel build and measurement settings.
public struct KernelSpec: Codable, Hashable, Sendable {
  public var compiler: String = "gcc"
  /// With `compiler: [gcc, clang]`: every compiler is a knob of the kernel search (`compiler` is
  /// then the first). nil for a single compiler, so the canonical form stays as it was.
  public var compilers: [String]? = nil
  /// The compilers the kernel search builds every variant with.
  public var allCompilers: [String] { compilers ?? [compiler] }
  public var flags: [String] = ["-O3", "-march=native"]
  /// With `flags: [[-O3, ...], [-O2, ...]]`: every flag set is a knob of the kernel search
  /// (`flags` is then the first). nil for one set, so the canonical form stays as it was.
  public var flagSets: [[String]]? = nil
  /// The flag sets the kernel search builds every variant with.
  public var allFlagSets: [[String]] { flagSets ?? [flags] }
  public var events: [String] = [
    "PAPI_TOT_CYC", "PAPI_TOT_INS", "PAPI_L1_DCM", "PAPI_L2_DCM", "PAPI_BR_MSP",
    "perf::task-clock", "perf::page-faults", "perf::context-switches",
  ]
  public var minRepeats: Int = 10
  public var maxRepeats: Int = 50
  public var warmup: Int = 3
  /// Seconds of timed repeats per variant once `min_repeats` are done.
  public var budgetSeconds: Double = 0.3
  /// True unless the suite lists `events`: the events are then chosen per platform (presets the
  /// CPU has, the platform's native events, the SDE counter, perf software events) and split into
  /// passes by the counters the PMU has (KernelRun's EventPlan).
  public var autoEvents: Bool = true
  /// Also time each layer's best variant with the caches flushed before every sample.
  public var cold: Bool = false
  /// Also run each layer's best variant under cachegrind (instruction counts and simulated cache
  /// misses; built with -march=x86-64-v3 -mno-fma), labelled simulated.
  public var simulate: Bool = false
  /// Seconds the runner waits for the other CPUs to go idle before measuring (then it warns).
  public var waitIdleSeconds: Double = 0
  /// The stopping rule's target: stop once the median's 95% CI is narrower than this fraction of
  /// the median, (hi - lo) / median.
  public var ciFraction: Double = KernelSpec.defaultCIFraction
  /// Seconds of sampling before the CI rule may stop a variant (still bounded by `budget_s` and
  /// `max_repeats`).
  public var minTimeSeconds: Double = 0
  /// PAPI multiplexing for every EventSet (values become PAPI's estimates).
  public var multiplex: Bool = false
  /// The vector ISAs the kernel search explores (`KernelISA` names, or `auto`: every ISA the
  /// measuring CPU runs); nil: scalar only. An ISA the CPU lacks is skipped there, with a note.
  public var isa: [String]? = nil
  /// Unroll factors explored (nil: the generator's 1, 2, 4).
  public var unroll: [Int]? = nil
  /// Register-tile widths over N explored where they fit the batch (nil: 4, 8, 16, 32).
  public var nTile: [Int]? = nil
  /// Threads per kernel call explored for block-column kernels (nil: 1). More threads than the
  /// measuring machine's CPUs are left out there, with a note. Every count is measured and
  /// recorded with the layer; the model latency sums the best variants at `latency.threads`.
  public var threads: [Int]? = nil
  /// Software prefetch distances (kept entries ahead; 0: none) explored for block-column
  /// kernels with N > 1 (nil: 0 only).
  public var prefetch: [Int]? = nil
  /// Cache tiles over N (`KernelKnobs.nBlock`; 0: none) explored for block-column kernels with
  /// N > 1, where they fit the register tile (nil: 0 only).
  public var nBlock: [Int]? = nil
  /// Baked indices (`KernelKnobs.baked`: pattern-specialised code) explored for block-column
  /// kernels with one thread, no prefetch or cache tile, of at most
  /// `KernelGenerator.bakedEntryLimit` kept-column entries (nil: false only).
  public var baked: [Bool]? = nil
  /// Block rows in pattern order (`KernelKnobs.reorder`) explored for block-column kernels with
  /// one thread (nil: false only).
  public var reorder: [Bool]? = nil
  /// X packed per cache tile (`KernelKnobs.packX`) explored for block-column kernels with a
  /// cache tile, one thread, no prefetch and N a multiple of the register tile (nil: false only).
  public var packX: [Bool]? = nil
  /// Weight-prefetch distances (`KernelKnobs.prefetchW`, kept entries) explored for block-column
  /// kernels that are not baked (nil: 0 only).
  public var prefetchW: [Int]? = nil

  public static let maxUnroll = 16
  public static let maxPrefetch = 256
  public static let maxPrefetchW = 1 << 16
  public static let maxThreads = 64
  public static let maxNTile = 64

  /// The ISAs of `isa` that a CPU running `supported` can run, in the suite's order (`auto`
  /// expands to `supported`); `skipped` the named ones it cannot.
  public func isas(supported: [KernelISA]) -> (run: [KernelISA], skipped: [KernelISA]) {
    guard let isa else { return ([.scalar], []) }
    var run: [KernelISA] = []
    var skipped: [KernelISA] = []
    for name in isa {
      if name == "auto" {
        for s in supported where !run.contains(s) { run.append(s) }
      } else if let i = KernelISA(rawValue: name) {
        if supported.contains(i) {
          if !run.contains(i) { run.append(i) }
        } else {
          skipped.append(i)
        }
      }
    }
    return (run, skipped)
  }

  public static let defaultCIFraction = 0.02

  public init() {}

  enum CodingKeys: String, CodingKey {
    case compiler, flags, events, warmup
    case budgetSeconds = "budget_s"
    case autoEvents = "auto_events"
    case cold, simulate
    case waitIdleSeconds = "wait_idle_s"
    case minRepeats = "min_repeats"
    case maxRepeats = "max_repeats"
    case ciFraction = "ci_fraction"
    case minTimeSeconds = "min_time_s"
    case multiplex, isa, unroll, threads, compilers, prefetch, baked, reorder
    case packX = "pack_x"
    case prefetchW = "prefetch_w"
    case flagSets = "flag_sets"
    case nTile = "n_tile"
    case nBlock = "n_block"
  }

  /// Keys added after suites had run ids are decoded when present and otherwise take their
  /// defaults, so stored run manifests still decode.
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    compiler = try c.decode(String.self, forKey: .compiler)
    flags = try c.decode([String].self, forKey: .flags)
    events = try c.decode([String].self, forKey: .events)
    minRepeats = try c.decode(Int.self, forKey: .minRepeats)
    maxRepeats = try c.decode(Int.self, forKey: .maxRepeats)
    warmup = try c.decode(Int.self, forKey: .warmup)
    budgetSeconds = try c.decode(Double.self, forKey: .budgetSeconds)
    autoEvents = try c.decode(Bool.self, forKey: .autoEvents)
    cold = try c.decode(Bool.self, forKey: .cold)
    simulate = try c.decode(Bool.self, forKey: .simulate)
    waitIdleSeconds = try c.decode(Double.self, forKey: .waitIdleSeconds)
    ciFraction =
      try c.decodeIfPresent(Double.self, forKey: .ciFraction) ?? KernelSpec.defaultCIFraction
    minTimeSeconds = try c.decodeIfPresent(Double.self, forKey: .minTimeSeconds) ?? 0
    multiplex = try c.decodeIfPresent(Bool.self, forKey: .multiplex) ?? false
    isa = try c.decodeIfPresent([String].self, forKey: .isa)
    unroll = try c.decodeIfPresent([Int].self, forKey: .unroll)
    nTile = try c.decodeIfPresent([Int].self, forKey: .nTile)
    threads = try c.decodeIfPresent([Int].self, forKey: .threads)
    compilers = try c.decodeIfPresent([String].self, forKey: .compilers)
    flagSets = try c.decodeIfPresent([[String]].self, forKey: .flagSets)
    prefetch = try c.decodeIfPresent([Int].self, forKey: .prefetch)
    nBlock = try c.decodeIfPresent([Int].self, forKey: .nBlock)
    baked = try c.decodeIfPresent([Bool].self, forKey: .baked)
    reorder = try c.decodeIfPresent([Bool].self, forKey: .reorder)
    packX = try c.decodeIfPresent([Bool].self, forKey: .packX)
    prefetchW = try c.decodeIfPresent([Int].self, forKey: .prefetchW)
  }

  /// The suite's canonical form (its run id) must not change for suites that do not use the
  /// added keys: they are written only when they differ from their defaults.
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(compiler, forKey: .compiler)
    try c.encode(flags, forKey: .flags)
    try c.encode(events, forKey: .events)
    try c.encode(minRepeats, forKey: .minRepeats)
    try c.encode(maxRepeats, forKey: .maxRepeats)
    try c.encode(warmup, forKey: .warmup)
    try c.encode(budgetSeconds, forKey: .budgetSeconds)
    try c.encode(autoEvents, forKey: .autoEvents)
    try c.encode(cold, forKey: .cold)
    try c.encode(simulate, forKey: .simulate)
    try c.encode(waitIdleSeconds, forKey: .waitIdleSeconds)
    if ciFraction != KernelSpec.defaultCIFraction { try c.encode(ciFraction, forKey: .ciFraction) }
    if minTimeSeconds != 0 { try c.encode(minTimeSeconds, forKey: .minTimeSeconds) }
    if multiplex { try c.encode(multiplex, forKey: .multiplex) }
    try c.encodeIfPresent(isa, forKey: .isa)
    try c.encodeIfPresent(unroll, forKey: .unroll)
    try c.encodeIfPresent(nTile, forKey: .nTile)
    try c.encodeIfPresent(threads, forKey: .threads)
    try c.encodeIfPresent(compilers, forKey: .compilers)
    try c.encodeIfPresent(flagSets, forKey: .flagSets)
    try c.encodeIfPresent(prefetch, forKey: .prefetch)
    try c.encodeIfPresent(nBlock, forKey: .nBlock)
    try c.encodeIfPresent(baked, forKey: .baked)
    try c.encodeIfPresent(reorder, forKey: .reorder)
    try c.encodeIfPresent(packX, forKey: .packX)
    try c.encodeIfPresent(prefetchW, forKey: .prefetchW)
  }

  /// The thread counts of `threads` that a machine with `cpus` CPUs runs (at least [1]), and
  /// the ones it leaves out.
  public func threadCounts(cpus: Int) -> (run: [Int], skipped: [Int]) {
    let all = threads ?? [1]
    let run = all.filter { $0 <= max(1, cpus) }
    return (run.isEmpty ? [1] : run, all.filter { $0 > max(1, cpus) })
  }
}

/// How the trials of a suite are chosen from its grid of (block shape, rate) per seed.
public struct SearchSpec: Codable, Hashable, Sendable {
  public enum Strategy: String, Codable, Hashable, Sendable, CaseIterable {
    /// Every combination.
    case grid
    /// `trials` combinations drawn without replacement with `seed`.
    case random
    /// Multi-objective successive halving: every configuration with short regularize / retrain
    /// phases, then the best 1/eta (by non-dominated rank on validation accuracy, latency and size,
    /// then crowding) with eta times longer ones, up to the suite's epochs at the last rung.
    case halving
  }
  public var strategy: Strategy = .grid
  /// Pruned configurations per seed for `random` (the dense baseline is always run).
  public var trials: Int? = nil
  public var seed: Int = 0
  /// Successive halving: the reduction factor and the number of rungs (nil: 3 and 3).
  public var eta: Int? = nil
  public var rungs: Int? = nil
  public init() {}
}

/// One pruning method a suite compares: a name, and the scheme, regularizer and block shapes it
/// uses where they differ from the suite's (the suite's values otherwise). Every method runs on
/// the same dense baselines, rates and seeds, so a sweep compares them on equal terms.
public struct MethodSpec: Codable, Hashable, Sendable {
  public var name: String
  public var scheme: PruningScheme? = nil
  /// The method's regularizer, complete (the suite's with the method's overrides applied).
  public var regularizer: RegularizerSpec? = nil
  public var blocks: [BlockShape]? = nil
  public init(name: String) { self.name = name }
}

/// A safetensors checkpoint named by a suite: its path (absolute, or relative to the working
/// directory of the sweep as resolved when the suite was read) and the SHA-256 of its bytes, so
/// that replacing the file changes the run and trial IDs.
public struct InitCheckpoint: Codable, Hashable, Sendable {
  public var path: String
  public var sha256: String
  public init(path: String, sha256: String) {
    self.path = path
    self.sha256 = sha256
  }
}

/// How a trial's rate is met: every pruned layer at the rate (`layer`, the default; with
/// `layer_rates` overriding it for named layers) or one global threshold over all pruned layers
/// whose total meets the rate (`global`).
public enum RateMode: String, Codable, Hashable, Sendable, CaseIterable {
  case layer
  case global
}

/// One objective of a suite's search and Pareto front: a trial metric and whether more or less
/// of it is better.
public struct ObjectiveSpec: Codable, Hashable, Sendable {
  public enum Metric: String, Codable, Hashable, Sendable, CaseIterable {
    /// Test accuracy for the reported front; validation accuracy where the search decides
    /// (successive halving's promotions).
    case accuracy
    /// The model latency (`latency_s`).
    case latency
    /// The model's stored size (`size_bytes`).
    case size
  }
  public enum Goal: String, Codable, Hashable, Sendable, CaseIterable {
    case max
    case min
  }
  public var metric: Metric
  public var direction: Goal
  /// `metric` in its natural direction (accuracy: max; latency, size: min).
  public init(metric: Metric, direction: Goal? = nil) {
    self.metric = metric
    self.direction = direction ?? (metric == .accuracy ? .max : .min)
  }
  /// Accuracy ↑, latency ↓, size ↓: what a suite without `objectives` optimizes.
  public static let defaults = [
    ObjectiveSpec(metric: .accuracy), ObjectiveSpec(metric: .latency), ObjectiveSpec(metric: .size),
  ]
}

/// Limits of a run: the most trials it executes (every finished trial of the run counts, on
/// every executor and across resumes) and the wall time of one `sweep run`.
public struct BudgetSpec: Codable, Hashable, Sendable {
  public var trials: Int? = nil
  public var timeSeconds: Double? = nil
  public init() {}
  enum CodingKeys: String, CodingKey {
    case trials
    case timeSeconds = "time_s"
  }
}

/// A suite: everything a sweep needs. Parsed from `suites/*.yaml` by `SuiteLoader`.
public struct SweepSpec: Codable, Hashable, Sendable {
  public static let currentSchemaVersion = 1
  public var schemaVersion: Int = SweepSpec.currentSchemaVersion
  public var name: String
  public var model: String
  public var dataset: String
  public var subset = SubsetSpec()
  public var phases = PhaseSpec()
  public var training = TrainingSpec()
  public var scheme: PruningScheme = .blockColumn
  public var regularizer = RegularizerSpec()
  public var blocks: [BlockShape]
  public var rates: [Double]
  /// Layers kept dense: `first`, `last` or layer names (`fc2`).
  public var keepDense: [String] = ["first", "last"]
  public var latency = LatencySpec()
  public var kernels = KernelSpec()
  public var seeds: [Int] = [1]
  public var search = SearchSpec()
  /// Seconds after which one trial is stopped and recorded as timed_out.
  public var trialTimeoutSeconds: Double = 1800
  /// The methods compared (nil: one, the suite's scheme and regularizer).
  public var methods: [MethodSpec]? = nil
  /// Per-layer rates overriding `rates` for the named layers (layer rate mode).
  public var layerRates: [String: Double]? = nil
  public var rateMode: RateMode? = nil
  /// Width multiplier of VGG / ResNet channels and RNN hidden sizes (nil: 1).
  public var width: Double? = nil
  /// A checkpoint the dense baselines start from instead of a fresh initialisation (then
  /// `pretrain_epochs` may be 0: the checkpoint is only evaluated).
  public var initCheckpoint: InitCheckpoint? = nil
  /// The objectives of the Pareto front, the hypervolume and successive halving (nil: the
  /// defaults, `ObjectiveSpec.defaults`).
  public var objectives: [ObjectiveSpec]? = nil
  public var budget: BudgetSpec? = nil
  /// The kernel targets every layer's variants are built, verified and (where the target times
  /// natively) measured for: names of `knownTargets` or `ssh:HOST` (nil: `[host]`). `host` is
  /// always measured: the trial's latency is this machine's; the others are recorded per layer.
  public var targets: [String]? = nil

  /// Built-in target names (KernelBuild's `TargetRegistry.builtInNames`; a test keeps the two
  /// equal).
  public static let knownTargets = ["host", "x86-64-v3", "x86-64-v4", "aarch64"]

  /// `targets` or `[host]`.
  public var resolvedTargets: [String] { targets ?? ["host"] }

  /// Whether `name` is a target a suite may name: a built-in one or `ssh:HOST` (HOST letters,
  /// digits, `.`, `-`, `_`, optionally `user@`).
  public static func isValidTarget(_ name: String) -> Bool {
    if knownTargets.contains(name) { return true }
    guard name.hasPrefix("ssh:") else { return false }
    let host = name.dropFirst(4)
    return !host.isEmpty && !host.hasPrefix("-")
      && host.allSatisfy { $0.isLetter || $0.isNumber || ".-_@".contains($0) }
  }

  /// `objectives` or the defaults.
  public var resolvedObjectives: [ObjectiveSpec] { objectives ?? ObjectiveSpec.defaults }

  public init(name: String, model: String, dataset: String, blocks: [BlockShape], rates: [Double]) {
    self.name = name
    self.model = model
    self.dataset = dataset
    self.blocks = blocks
    self.rates = rates
  }

  enum CodingKeys: String, CodingKey {
    case name, model, dataset, subset, phases, training, scheme, regularizer, blocks, rates
    case latency, kernels, seeds, search
    case schemaVersion = "schema_version"
    case keepDense = "keep_dense"
    case trialTimeoutSeconds = "trial_timeout_s"
    case methods
    case layerRates = "layer_rates"
    case rateMode = "rate_mode"
    case width
    case initCheckpoint = "init"
    case objectives, budget, targets
  }

  /// The run id: the content hash of the suite's canonical form.
  public var contentID: String { ContentHash.id(of: self) }
}
