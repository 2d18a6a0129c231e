import Foundation

// The records of the kernel stages: Workload -> KernelVariant -> GeneratedKernel -> BuildResult ->
// RunResult. JSON keys are snake_case through explicit CodingKeys, so any plain JSONEncoder /
// JSONDecoder reads and writes the files under results/ the same way.

/// The storage format a kernel uses for a layer's pruned weights.
public enum KernelFormat: String, Codable, Sendable, CaseIterable {
  /// The dense baseline: every weight, masked ones as zeros.
  case dense
  /// `br x bc` blocks, each keeping its own subset of columns (column segments of length br).
  case blockColumn = "block-column"
}

/// One layer's kernel problem in the GEMM view: `W[rows = M outputs, cols = K inputs]` and its
/// mask. Deliberately without the layer's name: two layers with the same shape, format, blocks
/// and mask are the same workload (same ID) and are measured once.
public struct Workload: Codable, Hashable, Sendable {
  /// M: output rows of W.
  public var rows: Int
  /// K: input columns of W.
  public var cols: Int
  public var format: KernelFormat
  /// br: rows of a block (the length of a kept column segment).
  public var blockRows: Int
  /// bc: columns of a block.
  public var blockCols: Int
  /// `Workload.maskHash(_:)` of the row-major mask `[M*K]`.
  public var maskHash: String
  /// The number of kept weights (mask entries equal to 1).
  public var kept: Int

  public init(
    rows: Int, cols: Int, format: KernelFormat, blockRows: Int, blockCols: Int, maskHash: String,
    kept: Int
  ) {
    self.rows = rows
    self.cols = cols
    self.format = format
    self.blockRows = blockRows
    self.blockCols = blockCols
    self.maskHash = maskHash
    self.kept = kept
  }

  /// A workload for a row-major mask `[rows*cols]` (1 = kept): computes its hash and kept count.
  public init(
    rows: Int, cols: Int, format: KernelFormat, blockRows: Int, blockCols: Int, mask: [UInt8]
  ) {
    precondition(mask.count == rows * cols, "mask has \(mask.count) entries, not \(rows)x\(cols)")
    self.init(
      rows: rows, cols: cols, format: format, blockRows: blockRows, blockCols: blockCols,
      maskHash: Workload.maskHash(mask), kept: mask.reduce(0) { $0 + ($1 != 0 ? 1 : 0) })
  }

  /// SHA-256 (hex) of the mask normalised to 0/1 bytes, so any non-zero "kept" marker hashes alike.
  public static func maskHash(_ mask: [UInt8]) -> String {
    SHA256.hex(of: mask.map { $0 != 0 ? 1 : 0 })
  }

  /// Content hash of the workload.
  public var id: String { ContentHash.id(of: self) }

  enum CodingKeys: String, CodingKey {
    case rows, cols, format, kept
    case blockRows = "block_rows"
    case blockCols = "block_cols"
    case maskHash = "mask_hash"
  }
}

/// The performance knobs of one kernel variant.
public struct KernelKnobs: Codable, Hashable, Sendable {
  /// N: the batch, the number of columns of X and Y (a compile-time constant of the kernel).
  public var batch: Int
  /// How many kept columns (block-column) or input columns (dense) one loop iteration handles:
  /// 1, 2 or 4. More independent multiply-adds per iteration, fewer loop overheads.
  public var unroll: Int
  /// Register-tile width over N (how many columns of Y one accumulator tile holds) when N > 1;
  /// 1 when N = 1.
  public var nTile: Int

  public init(batch: Int, unroll: Int = 1, nTile: Int = 1) {
    self.batch = batch
    self.unroll = unroll
    self.nTile = nTile
  }

  enum CodingKeys: String, CodingKey {
    case batch, unroll
    case nTile = "n_tile"
  }
}

/// One kernel to generate, build and measure. Its ID is the content hash of all of it, generator
/// version and toolchain included, so a resumed sweep recognises what it has measured.
public struct KernelVariant: Codable, Hashable, Sendable {
  public var workload: Workload
  public var knobs: KernelKnobs
  /// Target name: "host", "x86-64-v3", "x86-64-v4", "aarch64", ...
  public var target: String
  /// The C compiler (a name looked up in PATH, or a path).
  public var compiler: String
  public var flags: [String]
  public var generatorVersion: String

  public init(
    workload: Workload, knobs: KernelKnobs, target: String = "host", compiler: String = "gcc",
    flags: [String], generatorVersion: String
  ) {
    self.workload = workload
    self.knobs = knobs
    self.target = target
    self.compiler = compiler
    self.flags = flags
    self.generatorVersion = generatorVersion
  }

  /// Content hash of the canonical JSON of every field.
  public var id: String { ContentHash.id(of: self) }

  enum CodingKeys: String, CodingKey {
    case workload, knobs, target, compiler, flags
    case generatorVersion = "generator_version"
  }
}

/// The C source of one variant (kernel.c), ready for a builder.
public struct GeneratedKernel: Sendable {
  public var variant: KernelVariant
  public var source: String

  public init(variant: KernelVariant, source: String) {
    self.variant = variant
    self.source = source
  }
}

/// What building one variant gave. A compile error is `ok == false` with the compiler's log.
public struct BuildResult: Codable, Sendable {
  public var variantID: String
  public var ok: Bool
  /// The runner executable when `ok`.
  public var binaryPath: String?
  /// The compiler's output (and the command line).
  public var log: String
  public var seconds: Double

  public init(variantID: String, ok: Bool, binaryPath: String?, log: String, seconds: Double) {
    self.variantID = variantID
    self.ok = ok
    self.binaryPath = binaryPath
    self.log = log
    self.seconds = seconds
  }

  enum CodingKeys: String, CodingKey {
    case ok, log, seconds
    case variantID = "variant_id"
    case binaryPath = "binary_path"
  }
}

/// How measuring a variant ended.
public enum RunOutcome: String, Codable, Sendable {
  case measured, buildFailed, runFailed, timedOut, wrongResult
}

/// One counter over the timed calls: a value when PAPI could count it, otherwise PAPI's reason.
public struct CounterReading: Codable, Sendable, Hashable {
  public var name: String
  public var available: Bool
  public var value: Int64?
  public var reason: String?

  public init(name: String, available: Bool, value: Int64? = nil, reason: String? = nil) {
    self.name = name
    self.available = available
    self.value = value
    self.reason = reason
  }
}

/// The runner's own software-defined counter (MACs), read through PAPI and checked against what
/// the runner accounted: `works` only when `read == expected` and `expected > 0`.
public struct SDEReading: Codable, Sendable, Hashable {
  public var event: String
  public var expected: Int64
  public var read: Int64
  public var works: Bool

  public init(event: String, expected: Int64, read: Int64, works: Bool) {
    self.event = event
    self.expected = expected
    self.read = read
    self.works = works
  }
}

/// The verified measurement of one variant (raw samples; statistics are computed when read).
public struct RunResult: Codable, Sendable {
  public static let currentSchemaVersion = 1

  public var schemaVersion: Int
  public var variantID: String
  public var variant: KernelVariant
  public var outcome: RunOutcome
  /// max |Y - Y_ref| against the double-precision dense reference.
  public var maxAbsErr: Double?
  public var tolerance: Double?
  /// Multiply-adds one kernel call executes (what the kernel reports).
  public var macsPerCall: Int64?
  /// Seconds per call, one entry per sample (each sample averages `innerCalls` calls).
  public var samplesSeconds: [Double]
  /// Calls per sample.
  public var innerCalls: Int64?
  /// Calls the counters cover: all the timed calls.
  public var callsCounted: Int64
  public var counters: [CounterReading]
  public var sde: SDEReading?
  public var papiVersion: String?
  /// The CPU the runner pinned itself to, if it did.
  public var cpu: Int?
  /// Why the run failed or the result is wrong.
  public var message: String?

  public init(
    schemaVersion: Int = RunResult.currentSchemaVersion, variantID: String, variant: KernelVariant,
    outcome: RunOutcome, maxAbsErr: Double? = nil, tolerance: Double? = nil,
    macsPerCall: Int64? = nil, samplesSeconds: [Double] = [], innerCalls: Int64? = nil,
    callsCounted: Int64 = 0, counters: [CounterReading] = [], sde: SDEReading? = nil,
    papiVersion: String? = nil, cpu: Int? = nil, message: String? = nil
  ) {
    self.schemaVersion = schemaVersion
    self.variantID = variantID
    self.variant = variant
    self.outcome = outcome
    self.maxAbsErr = maxAbsErr
    self.tolerance = tolerance
    self.macsPerCall = macsPerCall
    self.samplesSeconds = samplesSeconds
    self.innerCalls = innerCalls
    self.callsCounted = callsCounted
    self.counters = counters
    self.sde = sde
    self.papiVersion = papiVersion
    self.cpu = cpu
    self.message = message
  }

  /// A result without a measurement (build failure, crash, timeout) for `variant`.
  public static func failed(_ variant: KernelVariant, _ outcome: RunOutcome, message: String)
    -> RunResult
  {
    RunResult(variantID: variant.id, variant: variant, outcome: outcome, message: message)
  }

  /// The median of the per-call sample times, nil without samples.
  public var medianSeconds: Double? {
    guard !samplesSeconds.isEmpty else { return nil }
    let s = samplesSeconds.sorted()
    let mid = s.count / 2
    return s.count % 2 == 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
  }

  enum CodingKeys: String, CodingKey {
    case variant, outcome, tolerance, counters, sde, cpu, message
    case schemaVersion = "schema_version"
    case variantID = "variant_id"
    case maxAbsErr = "max_abs_err"
    case macsPerCall = "macs_per_call"
    case samplesSeconds = "samples_s"
    case innerCalls = "inner_calls"
    case callsCounted = "calls_counted"
    case papiVersion = "papi_version"
  }
}

/// What `runner --probe` reports: the PAPI version, each event's availability (with PAPI's
/// reason when unavailable) and whether the runner's SDE counter reads back exactly.
public struct RunnerProbe: Codable, Sendable {
  public var papiVersion: String?
  public var events: [CounterReading]
  public var sde: SDEReading?
  public var sdeWorks: Bool

  public init(papiVersion: String?, events: [CounterReading], sde: SDEReading?, sdeWorks: Bool) {
    self.papiVersion = papiVersion
    self.events = events
    self.sde = sde
    self.sdeWorks = sdeWorks
  }

  enum CodingKeys: String, CodingKey {
    case events, sde
    case papiVersion = "papi_version"
    case sdeWorks = "sde_works"
  }
}
