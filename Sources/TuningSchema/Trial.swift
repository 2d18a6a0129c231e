import Foundation

/// One configuration to train, prune and measure. Its content hash is the trial ID.
public struct TrialConfig: Codable, Hashable, Sendable {
  /// Bumped when the training or pruning code changes what a trial computes.
  public static let trainerVersion = "2"

  public enum Kind: String, Codable, Hashable, Sendable {
    /// The dense baseline: pre-training only; its checkpoint seeds the pruned trials.
    case dense
    /// Regularize, hard prune and retrain the dense baseline of the same seed.
    case pruned
  }

  public var kind: Kind
  public var model: String
  public var dataset: String
  public var subset: SubsetSpec
  public var phases: PhaseSpec
  public var training: TrainingSpec
  public var seed: Int
  /// Nil for the dense baseline.
  public var scheme: PruningScheme?
  public var block: BlockShape?
  public var rate: Double?
  public var regularizer: RegularizerSpec?
  public var keepDense: [String]
  public var trainerVersion: String = TrialConfig.trainerVersion
  /// The suite's name of the pruning method (nil when the suite compares none).
  public var method: String? = nil
  public var layerRates: [String: Double]? = nil
  public var rateMode: RateMode? = nil
  /// Width multiplier of the model (nil: 1).
  public var width: Double? = nil
  /// The checkpoint the dense baseline starts from (nil: a fresh initialisation).
  public var initCheckpoint: InitCheckpoint? = nil
  /// The successive-halving rung (0 = shortest phases; nil outside halving) and its epochs of
  /// the regularize and retrain phases (`phases` keeps the suite's, so the dense baseline's ID is
  /// the same for every rung).
  public var rung: Int? = nil
  public var rungPhases: PhaseSpec? = nil

  public init(
    kind: Kind, model: String, dataset: String, subset: SubsetSpec, phases: PhaseSpec,
    training: TrainingSpec, seed: Int, scheme: PruningScheme? = nil, block: BlockShape? = nil,
    rate: Double? = nil, regularizer: RegularizerSpec? = nil, keepDense: [String]
  ) {
    self.kind = kind
    self.model = model
    self.dataset = dataset
    self.subset = subset
    self.phases = phases
    self.training = training
    self.seed = seed
    self.scheme = scheme
    self.block = block
    self.rate = rate
    self.regularizer = regularizer
    self.keepDense = keepDense
  }

  enum CodingKeys: String, CodingKey {
    case kind, model, dataset, subset, phases, training, seed, scheme, block, rate, regularizer
    case keepDense = "keep_dense"
    case trainerVersion = "trainer_version"
    case method
    case layerRates = "layer_rates"
    case rateMode = "rate_mode"
    case width, rung
    case initCheckpoint = "init"
    case rungPhases = "rung_phases"
  }

  public var id: String { ContentHash.id(of: self) }

  /// The configuration of the dense baseline this trial starts from.
  public var denseBaseline: TrialConfig {
    var c = self
    c.kind = .dense
    c.scheme = nil
    c.block = nil
    c.rate = nil
    c.regularizer = nil
    c.method = nil
    c.layerRates = nil
    c.rateMode = nil
    c.rung = nil
    c.rungPhases = nil
    return c
  }

  /// A short label for tables: `dense`, `8x16 R4`, or with a method `admm 8x16 R4`.
  public var label: String {
    guard kind == .pruned, let block, let rate else { return "dense" }
    return (method.map { "\($0) " } ?? "") + "\(block) R\(rate.formatted())"
      + (rung.map { " rung \($0)" } ?? "")
  }
}

extension Double {
  /// `4` for 4.0, `2.5` for 2.5: rates and similar numbers in labels.
  public func formatted() -> String {
    self == rounded() && abs(self) < 1e15 ? String(Int(self)) : String(self)
  }
}

/// The outcome of a trial (DESIGN.md section 9).
public enum TrialStatus: String, Codable, Hashable, Sendable {
  case ok, failed, crashed
  case timedOut = "timed_out"
  case diverged
}

/// Metrics after one phase of a trial.
public struct PhaseMetrics: Codable, Hashable, Sendable {
  public var phase: String
  public var epochs: Int
  public var testAccuracy: Double?
  public var valAccuracy: Double?
  public var trainLoss: Double?
  public var seconds: Double
  /// Bits per character on the test and validation text (language models; nil otherwise).
  public var testBitsPerCharacter: Double? = nil
  public var valBitsPerCharacter: Double? = nil
  public init(
    phase: String, epochs: Int, testAccuracy: Double?, valAccuracy: Double?, trainLoss: Double?,
    seconds: Double
  ) {
    self.phase = phase
    self.epochs = epochs
    self.testAccuracy = testAccuracy
    self.valAccuracy = valAccuracy
    self.trainLoss = trainLoss
    self.seconds = seconds
  }
  enum CodingKeys: String, CodingKey {
    case phase, epochs, seconds
    case testAccuracy = "test_accuracy"
    case valAccuracy = "val_accuracy"
    case trainLoss = "train_loss"
    case testBitsPerCharacter = "test_bits_per_character"
    case valBitsPerCharacter = "val_bits_per_character"
  }
}

/// Per-layer kept-weight counts after pruning.
public struct KeptCount: Codable, Hashable, Sendable {
  public var layer: String
  public var rows: Int
  public var cols: Int
  public var total: Int
  public var kept: Int
  /// The target kept count: the largest whole-group count not above total / rate.
  public var target: Int
  public var pruned: Bool
  public init(layer: String, rows: Int, cols: Int, total: Int, kept: Int, target: Int, pruned: Bool)
  {
    self.layer = layer
    self.rows = rows
    self.cols = cols
    self.total = total
    self.kept = kept
    self.target = target
    self.pruned = pruned
  }
  /// Output positions per sample that reuse this weight matrix: 1 for a fully connected layer,
  /// Hout·Wout for a convolution (its GEMM has N = positions × batch), the time steps for an RNN
  /// gate matrix. Nil when not known (records written before it was kept).
  public var positions: Int? = nil
  /// Achieved compression ratio total / kept.
  public var rate: Double { kept == 0 ? .infinity : Double(total) / Double(kept) }
  /// Multiply-adds per sample, dense and after pruning (`positions` × weights).
  public var denseMACs: Int? { positions.map { $0 * total } }
  public var keptMACs: Int? { positions.map { $0 * kept } }

  enum CodingKeys: String, CodingKey {
    case layer, rows, cols, total, kept, target, pruned, positions
  }
}

/// Histogram of one layer's group norms (`log10Edges` has one more entry than `counts`; the
/// exact zeros and the norms below the first edge are counted apart).
public struct GroupNormHistogram: Codable, Hashable, Sendable {
  public var log10Edges: [Double]
  public var counts: [Int]
  public var zeros: Int
  public var belowRange: Int
  public init(log10Edges: [Double], counts: [Int], zeros: Int, belowRange: Int) {
    precondition(log10Edges.count == counts.count + 1)
    self.log10Edges = log10Edges
    self.counts = counts
    self.zeros = zeros
    self.belowRange = belowRange
  }
  enum CodingKeys: String, CodingKey {
    case counts, zeros
    case log10Edges = "log10_edges"
    case belowRange = "below_range"
  }
}

/// A pruned layer's group norms before the regularization phase and right before the hard prune.
public struct LayerNormHistograms: Codable, Hashable, Sendable {
  public var layer: String
  public var before: GroupNormHistogram
  public var after: GroupNormHistogram
  public init(layer: String, before: GroupNormHistogram, after: GroupNormHistogram) {
    self.layer = layer
    self.before = before
    self.after = after
  }
}

/// Sums over a model's layers (dense layers included): weights and multiply-adds per sample,
/// dense and kept, the compression ratio and the FLOP reduction (MACs are known when every
/// layer's `positions` is).
public struct ModelCompression: Codable, Hashable, Sendable {
  public var weights: Int
  public var keptWeights: Int
  public var compressionRatio: Double
  public var macs: Int?
  public var keptMACs: Int?
  public var flopReduction: Double?
  public init(_ kept: [KeptCount]) {
    weights = kept.reduce(0) { $0 + $1.total }
    keptWeights = kept.reduce(0) { $0 + $1.kept }
    compressionRatio = keptWeights == 0 ? .infinity : Double(weights) / Double(keptWeights)
    if kept.allSatisfy({ $0.positions != nil }) {
      let m = kept.reduce(0) { $0 + $1.denseMACs! }
      let k = kept.reduce(0) { $0 + $1.keptMACs! }
      macs = m
      keptMACs = k
      flopReduction = k > 0 ? Double(m) / Double(k) : nil
    }
  }
  enum CodingKeys: String, CodingKey {
    case weights, macs
    case keptWeights = "kept_weights"
    case compressionRatio = "compression_ratio"
    case keptMACs = "kept_macs"
    case flopReduction = "flop_reduction"
  }
}

/// The kernel measurements of one layer of a trial.
public struct LayerLatency: Codable, Hashable, Sendable {
  public struct VariantSummary: Codable, Hashable, Sendable {
    public var variantID: String
    public var knobs: KernelKnobs
    public var outcome: RunOutcome
    public var medianSeconds: Double?
    public var maxAbsErr: Double?
    public var tolerance: Double?
    /// The variant's compiler and flags, recorded when the suite explores more than one compiler
    /// or flag set (else nil: the suite's `kernels.compiler` and `kernels.flags`).
    public var compiler: String?
    public var flags: [String]?
    public init(
      variantID: String, knobs: KernelKnobs, outcome: RunOutcome, medianSeconds: Double?,
      maxAbsErr: Double?, tolerance: Double?, compiler: String? = nil, flags: [String]? = nil
    ) {
      self.variantID = variantID
      self.knobs = knobs
      self.outcome = outcome
      self.medianSeconds = medianSeconds
      self.maxAbsErr = maxAbsErr
      self.tolerance = tolerance
      self.compiler = compiler
      self.flags = flags
    }
    enum CodingKeys: String, CodingKey {
      case knobs, outcome, tolerance, compiler, flags
      case variantID = "variant_id"
      case medianSeconds = "median_s"
      case maxAbsErr = "max_abs_err"
    }
  }
  public var layer: String
  public var workloadID: String
  public var format: KernelFormat
  public var rows: Int
  public var cols: Int
  public var kept: Int
  public var variants: [VariantSummary]
  /// The best verified variant at the latency batch, and its median seconds per call.
  public var bestVariantID: String?
  public var bestMedianSeconds: Double?
  /// Counters of the best variant (per call), as the runner reported them.
  public var counters: [CounterReading]
  /// 95% bootstrap confidence interval of the best variant's median (seconds).
  public var bestCILow: Double? = nil
  public var bestCIHigh: Double? = nil
  /// Other variants at the latency batch that the comparison test cannot tell from the best.
  public var tiedVariantIDs: [String]? = nil
  /// Metrics derived from the best variant's counters and time (IPC, misses per 1k instructions,
  /// GFLOP/s of the kept multiply-adds, bytes per FLOP), only those whose inputs were measured.
  public var derived: [String: Double]? = nil
  /// The best variant timed with the caches flushed before every sample (suite `kernels.cold`).
  public var bestColdMedianSeconds: Double? = nil
  /// The best variant's simulated cost per call under cachegrind (suite `kernels.simulate`).
  public var simulated: SimulatedCost? = nil
  /// Why the cold or simulated measurement is missing, when it was asked for.
  public var extraMeasurementNote: String? = nil
  /// The layer's variants on the suite's other targets (`targets`): verified on each, timed
  /// where the target times natively (the trial's latency is the first target's alone).
  public var targets: [TargetLayerResult]? = nil
  public init(
    layer: String, workloadID: String, format: KernelFormat, rows: Int, cols: Int, kept: Int,
    variants: [VariantSummary], bestVariantID: String?, bestMedianSeconds: Double?,
    counters: [CounterReading]
  ) {
    self.layer = layer
    self.workloadID = workloadID
    self.format = format
    self.rows = rows
    self.cols = cols
    self.kept = kept
    self.variants = variants
    self.bestVariantID = bestVariantID
    self.bestMedianSeconds = bestMedianSeconds
    self.counters = counters
  }
  enum CodingKeys: String, CodingKey {
    case layer, format, rows, cols, kept, variants, counters
    case workloadID = "workload_id"
    case bestVariantID = "best_variant_id"
    case bestMedianSeconds = "best_median_s"
    case bestCILow = "best_ci_low_s"
    case bestCIHigh = "best_ci_high_s"
    case tiedVariantIDs = "tied_variant_ids"
    case derived, simulated
    case bestColdMedianSeconds = "best_cold_median_s"
    case extraMeasurementNote = "extra_measurement_note"
    case targets
  }
}

/// One layer's kernel variants on one more target of the suite.
public struct TargetLayerResult: Codable, Hashable, Sendable {
  public var target: String
  /// Run under an emulator (qemu-user): the outcomes say whether the kernels compute the right
  /// thing there; their times mean nothing and `bestMedianSeconds` stays nil.
  public var emulated: Bool
  /// Built only, not run (the target cannot run here, e.g. this CPU lacks its ISA): why.
  public var note: String?
  /// The variants run (verified, and timed where native); empty when built only.
  public var variants: [LayerLatency.VariantSummary]
  /// Variants built but not run, and those whose build failed, when built only.
  public var built: Int?
  public var buildFailed: Int?
  public var bestVariantID: String?
  public var bestMedianSeconds: Double?
  public init(target: String, emulated: Bool, variants: [LayerLatency.VariantSummary]) {
    self.target = target
    self.emulated = emulated
    self.variants = variants
  }
  enum CodingKeys: String, CodingKey {
    case target, emulated, note, variants, built
    case buildFailed = "build_failed"
    case bestVariantID = "best_variant_id"
    case bestMedianSeconds = "best_median_s"
  }
}

/// Where a trial's wall time went, in seconds. `other` is the harness itself (process start,
/// reading the run, checkpoints, records): what DESIGN asks to keep under 2%.
public struct TrialTiming: Codable, Hashable, Sendable {
  public var data: Double = 0
  public var train: Double = 0
  public var build: Double = 0
  public var measure: Double = 0
  /// Waiting for the machine-wide measurement lock held by another worker.
  public var waiting: Double = 0
  public var other: Double = 0
  public init() {}
  enum CodingKeys: String, CodingKey {
    case data = "data_s"
    case train = "train_s"
    case build = "build_s"
    case measure = "measure_s"
    case waiting = "waiting_s"
    case other = "other_s"
  }
}

/// A finished trial: the file `trials/<trial id>.json` (DESIGN.md section 9).
public struct TrialRecord: Codable, Sendable {
  public static let currentSchemaVersion = 1
  public var schemaVersion = TrialRecord.currentSchemaVersion
  public var trialID: String
  public var config: TrialConfig
  public var status: TrialStatus
  /// Final test accuracy (fraction); nil unless ok.
  public var accuracy: Double?
  public var valAccuracy: Double?
  /// Test items the accuracy is measured on (for its confidence interval).
  public var testCount: Int? = nil
  /// Final test and validation bits per character of a language model (nil otherwise).
  public var bitsPerCharacter: Double? = nil
  public var valBitsPerCharacter: Double? = nil
  /// Model latency in seconds at the suite's latency batch: the sum over layers of the best
  /// verified variant's median (pruned layers block-sparse, the others dense).
  public var latencySeconds: Double?
  /// Bytes of the weights as stored by the kernels' formats (values + indices).
  public var sizeBytes: Int?
  public var phases: [PhaseMetrics]
  public var kept: [KeptCount]
  public var layers: [LayerLatency]
  /// Why the trial did not finish (nil when ok).
  public var reason: String?
  public var seconds: Double
  public var finishedAt: String
  public var timing: TrialTiming? = nil
  /// Group-norm histograms of the pruned layers before and after regularization.
  public var normHistograms: [LayerNormHistograms]? = nil
  /// Compression and FLOP reduction of the whole model (from `kept`).
  public var compression: ModelCompression? = nil
  public init(trialID: String, config: TrialConfig, status: TrialStatus) {
    self.trialID = trialID
    self.config = config
    self.status = status
    self.phases = []
    self.kept = []
    self.layers = []
    self.seconds = 0
    self.finishedAt = ""
  }
  enum CodingKeys: String, CodingKey {
    case config, status, accuracy, phases, kept, layers, reason, seconds
    case schemaVersion = "schema_version"
    case trialID = "trial_id"
    case valAccuracy = "val_accuracy"
    case latencySeconds = "latency_s"
    case sizeBytes = "size_bytes"
    case finishedAt = "finished_at"
    case timing
    case normHistograms = "norm_histograms"
    case compression
    case testCount = "test_count"
    case bitsPerCharacter = "bits_per_character"
    case valBitsPerCharacter = "val_bits_per_character"
  }

  /// The 95% Wilson score interval of the test accuracy (a binomial proportion over
  /// `testCount` items), when both are known.
  public var accuracyCI: (low: Double, high: Double)? {
    guard let p = accuracy, let n = testCount, n > 0 else { return nil }
    let z = 1.959963984540054
    let nn = Double(n)
    let center = (p + z * z / (2 * nn)) / (1 + z * z / nn)
    let half = z / (1 + z * z / nn) * (p * (1 - p) / nn + z * z / (4 * nn * nn)).squareRoot()
    return (max(0, center - half), min(1, center + half))
  }

  /// Accuracy right after the hard prune (before retraining), when recorded.
  public var accuracyAfterPrune: Double? { phases.first { $0.phase == "prune" }?.testAccuracy }
}
