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
  /// Compressed sparse rows (row pointers, column indices, values): the unstructured baseline.
  case csr
  /// `br x bc` blocks, each keeping its own subset of rows (row segments of length bc).
  case blockRow = "block-row"
  /// `br x bc` blocks, each keeping a subset of its rows and of its columns (the dense kept
  /// submatrix with the kept row and column indices): the block-column-row scheme's masks.
  case blockColumnRow = "block-column-row"
}

/// The vector instruction set a kernel's explicit vector code is written for.
public enum KernelISA: String, Codable, Sendable, CaseIterable {
  /// Plain C (GCC/Clang vector extensions at most) that the compiler vectorizes: the default.
  case scalar
  /// x86 AVX2 + FMA intrinsics (`__m256`, `_mm256_fmadd_ps`); built with -mavx2 -mfma.
  case avx2
  /// x86 AVX-512F intrinsics (`__m512`, `_mm512_fmadd_ps`, masked tails); built with -mavx512f.
  case avx512
  /// AArch64 NEON intrinsics (`float32x4_t`, `vfmaq_f32`).
  case neon

  /// The ISAs a CPU with these /proc/cpuinfo flags runs (scalar first). aarch64 reports NEON as
  /// `asimd`.
  public static func supported(cpuFlags: Set<String>) -> [KernelISA] {
    var out: [KernelISA] = [.scalar]
    if cpuFlags.contains("avx2") && cpuFlags.contains("fma") { out.append(.avx2) }
    if cpuFlags.contains("avx512f") { out.append(.avx512) }
    if cpuFlags.contains("asimd") || cpuFlags.contains("neon") { out.append(.neon) }
    return out
  }

  /// The flags of the first "flags" / "Features" line of /proc/cpuinfo (empty if unreadable),
  /// read at run time: the stages that generate, build and run kernels all ask here.
  public static func hostCPUFlags(cpuinfo path: String = "/proc/cpuinfo") -> Set<String> {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
    for line in text.split(separator: "\n") {
      let parts = line.split(separator: ":", maxSplits: 1)
      guard parts.count == 2 else { continue }
      let key = parts[0].trimmingCharacters(in: .whitespaces)
      if key == "flags" || key == "Features" {
        return Set(parts[1].split(separator: " ").map(String.init))
      }
    }
    return []
  }
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
  /// The vector ISA of the kernel's explicit vector code (`.scalar` by default).
  public var isa: KernelISA
  /// Threads one call runs on (1 by default): the block rows are split into ranges of about
  /// equal work, one per thread of a persistent pool (`runner/blk_threads.h`). Block-column
  /// kernels only.
  public var threads: Int
  /// Software prefetch distance in kept entries (0: none): block-column kernels with N > 1
  /// prefetch the row of X (the tile's columns) that entry e + prefetch reads.
  public var prefetch: Int
  /// Cache tile over N (0: none): block-column kernels with N > 1 run every block row on
  /// `nBlock` columns of X and Y before the next `nBlock`, so those columns of X stay in cache
  /// across the block rows. A multiple of `nTile` below the tiled width of N.
  public var nBlock: Int
  /// Pattern-specialised code (block-column, explicit ISAs, 1 thread, no cache tile or
  /// prefetch): the kept column indices are baked into the kernel as constants, one function per
  /// distinct block-row pattern (kept columns and height), instead of being read from the index
  /// array. The kernel is then for one mask only (the workload's `maskHash`).
  public var baked: Bool
  /// Block rows processed in the order of their patterns (block-column, 1 thread): block rows with
  /// the same kept columns run one after another (a sort of their index lists, so similar ones
  /// are adjacent too), instead of top to bottom.
  public var reorder: Bool
  /// Packing of X per cache tile (block-column, N > 1, with `nBlock`): columns
  /// [nb, ne) of X are copied into a contiguous buffer of `nBlock`-float rows before the block
  /// rows run on them, as GEMMs pack B. Rows of X `N` floats apart fall into the same cache sets
  /// when N·4 bytes is a multiple of 4 KB (N = 1024: every row); the packed rows do not.
  public var packX: Bool
  /// Software prefetch of the packed weights (block-column, 0: none): each loop iteration
  /// prefetches the values and column indices of the kept entry this many ahead, for the
  /// next-level-out streams of a layer whose weights do not fit the caches (the hardware
  /// prefetcher alone kept fc 4096x4096 at half the machine's read bandwidth).
  public var prefetchW: Int

  public init(
    batch: Int, unroll: Int = 1, nTile: Int = 1, isa: KernelISA = .scalar, threads: Int = 1,
    prefetch: Int = 0, nBlock: Int = 0, baked: Bool = false, reorder: Bool = false,
    packX: Bool = false, prefetchW: Int = 0
  ) {
    self.batch = batch
    self.unroll = unroll
    self.nTile = nTile
    self.isa = isa
    self.threads = threads
    self.prefetch = prefetch
    self.nBlock = nBlock
    self.baked = baked
    self.reorder = reorder
    self.packX = packX
    self.prefetchW = prefetchW
  }

  enum CodingKeys: String, CodingKey {
    case batch, unroll, isa, threads, prefetch, baked, reorder
    case nTile = "n_tile"
    case nBlock = "n_block"
    case packX = "pack_x"
    case prefetchW = "prefetch_w"
  }

  /// `isa`, `threads`, `prefetch`, `n_block`, `baked`, `reorder`, `pack_x` and `prefetch_w` are
  /// optional in the JSON:
  /// records written before they existed are scalar, 1-thread, without prefetch, cache tile,
  /// baked indices, reordering or packing.
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    batch = try c.decode(Int.self, forKey: .batch)
    unroll = try c.decode(Int.self, forKey: .unroll)
    nTile = try c.decode(Int.self, forKey: .nTile)
    isa = try c.decodeIfPresent(KernelISA.self, forKey: .isa) ?? .scalar
    threads = try c.decodeIfPresent(Int.self, forKey: .threads) ?? 1
    prefetch = try c.decodeIfPresent(Int.self, forKey: .prefetch) ?? 0
    nBlock = try c.decodeIfPresent(Int.self, forKey: .nBlock) ?? 0
    baked = try c.decodeIfPresent(Bool.self, forKey: .baked) ?? false
    reorder = try c.decodeIfPresent(Bool.self, forKey: .reorder) ?? false
    packX = try c.decodeIfPresent(Bool.self, forKey: .packX) ?? false
    prefetchW = try c.decodeIfPresent(Int.self, forKey: .prefetchW) ?? 0
  }

  /// Knobs at their defaults are not written, so the canonical JSON (and the ID) of a scalar
  /// variant is the same as before the knob existed.
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(batch, forKey: .batch)
    try c.encode(unroll, forKey: .unroll)
    try c.encode(nTile, forKey: .nTile)
    if isa != .scalar { try c.encode(isa, forKey: .isa) }
    if threads != 1 { try c.encode(threads, forKey: .threads) }
    if prefetch != 0 { try c.encode(prefetch, forKey: .prefetch) }
    if nBlock != 0 { try c.encode(nBlock, forKey: .nBlock) }
    if baked { try c.encode(baked, forKey: .baked) }
    if reorder { try c.encode(reorder, forKey: .reorder) }
    if packX { try c.encode(packX, forKey: .packX) }
    if prefetchW != 0 { try c.encode(prefetchW, forKey: .prefetchW) }
  }
}

extension KernelKnobs: CustomStringConvertible {
  /// The knobs as progress lines and logs show them, with the JSON's names and only the knobs
  /// off their defaults beyond N, unroll and tile: `avx512 N=64 unroll=2 n_tile=32 threads=2`.
  public var description: String {
    var parts = [isa.rawValue, "N=\(batch)", "unroll=\(unroll)", "n_tile=\(nTile)"]
    if threads != 1 { parts.append("threads=\(threads)") }
    if prefetch != 0 { parts.append("prefetch=\(prefetch)") }
    if nBlock != 0 { parts.append("n_block=\(nBlock)") }
    if baked { parts.append("baked") }
    if reorder { parts.append("reorder") }
    if packX { parts.append("pack_x") }
    if prefetchW != 0 { parts.append("prefetch_w=\(prefetchW)") }
    return parts.joined(separator: " ")
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

/// One counter over the timed calls: a value when it could be counted, otherwise the reason
/// (PAPI's, or strerror of perf_event_open).
///
/// `value` is corrected for the counters' own cost: `rawValue x scale - overhead x segments`, where
/// `overhead` is the median reading of one start/stop pair around an empty region and `segments`
/// the start/stop pairs of the event's pass (`RunResult.passes`), clamped at 0. `scale` is 1 (or
/// absent) unless a perf event ran for only part of the time it was enabled; then it is
/// `timeEnabledNs / timeRunningNs` and `estimate` is true. A perf event that was enabled but never
/// ran is unavailable with the reason "never scheduled", never 0.
public struct CounterReading: Codable, Sendable, Hashable {
  public var name: String
  public var available: Bool
  public var value: Int64?
  public var reason: String?
  /// The reading before the overhead was subtracted.
  public var rawValue: Int64?
  /// What one start/stop pair adds to this counter (median over 21 empty regions).
  public var overhead: Int64?
  /// The measurement pass the event was read in (0 unless its component ran out of counters or
  /// the run used explicit event groups).
  public var pass: Int?
  /// Counted in a multiplexed PAPI EventSet (values are PAPI's estimates).
  public var multiplexed: Bool?
  /// "papi" or "perf" (perf software events opened by the runner itself).
  public var source: String?
  /// perf events: opened with exclude_kernel=1 (the fallback for unprivileged processes).
  public var excludeKernel: Bool?
  /// perf events: nanoseconds the event was enabled over the counted segments of its pass.
  public var timeEnabledNs: Int64?
  /// perf events: nanoseconds it was actually counting (less than enabled when multiplexed).
  public var timeRunningNs: Int64?
  /// perf events: the factor `rawValue` was scaled by (`timeEnabledNs / timeRunningNs`, 1 when it
  /// ran the whole time).
  public var scale: Double?
  /// The value is an extrapolation, not a count: a multiplexed PAPI EventSet's estimate, or a perf
  /// count scaled by `scale` > 1.
  public var estimate: Bool?

  public init(
    name: String, available: Bool, value: Int64? = nil, reason: String? = nil,
    rawValue: Int64? = nil, overhead: Int64? = nil, pass: Int? = nil, multiplexed: Bool? = nil,
    source: String? = nil, excludeKernel: Bool? = nil, timeEnabledNs: Int64? = nil,
    timeRunningNs: Int64? = nil, scale: Double? = nil, estimate: Bool? = nil
  ) {
    self.name = name
    self.available = available
    self.value = value
    self.reason = reason
    self.rawValue = rawValue
    self.overhead = overhead
    self.pass = pass
    self.multiplexed = multiplexed
    self.source = source
    self.excludeKernel = excludeKernel
    self.timeEnabledNs = timeEnabledNs
    self.timeRunningNs = timeRunningNs
    self.scale = scale
    self.estimate = estimate
  }

  enum CodingKeys: String, CodingKey {
    case name, available, value, reason, overhead, pass, multiplexed, source, scale, estimate
    case rawValue = "raw_value"
    case excludeKernel = "exclude_kernel"
    case timeEnabledNs = "time_enabled_ns"
    case timeRunningNs = "time_running_ns"
  }
}

/// The runner's own software-defined counter (MACs), read through PAPI and checked against what
/// the runner accounted: `works` only when `read == expected` and `expected > 0`.
public struct SDEReading: Codable, Sendable, Hashable {
  public var event: String
  public var expected: Int64
  public var read: Int64
  public var works: Bool
  /// The pass it was read in.
  public var pass: Int?
  /// Why it could not be read.
  public var reason: String?

  public init(
    event: String, expected: Int64, read: Int64, works: Bool, pass: Int? = nil,
    reason: String? = nil
  ) {
    self.event = event
    self.expected = expected
    self.read = read
    self.works = works
    self.pass = pass
    self.reason = reason
  }
}

/// Why the runner stopped taking samples.
public enum StopReason: String, Codable, Sendable {
  /// The bootstrap CI of the median became narrower than the asked fraction of the median.
  case ci
  case maxRepeats = "max_repeats"
  case maxTime = "max_time"
}

/// Whether the caches were flushed before every sample.
public enum CacheMode: String, Codable, Sendable {
  /// `inner` calls per sample, caches as the previous calls left them.
  case warm
  /// One call per sample after writing and reading a buffer of twice the last-level cache.
  case cold
}

/// How busy the machine was: the busy fraction of the CPUs other than the runner's
/// (/proc/stat), and the runnable tasks other than the runner (/proc/loadavg).
public struct LoadSample: Codable, Sendable, Hashable {
  /// 0...1; nil when /proc/stat could not be read.
  public var busy: Double?
  public var runnable: Int?
  /// The seconds between the two /proc/stat snapshots.
  public var windowSeconds: Double
  /// How many CPUs `busy` covers.
  public var cpus: Int

  public init(busy: Double?, runnable: Int?, windowSeconds: Double, cpus: Int) {
    self.busy = busy
    self.runnable = runnable
    self.windowSeconds = windowSeconds
    self.cpus = cpus
  }

  enum CodingKeys: String, CodingKey {
    case busy, runnable, cpus
    case windowSeconds = "window_s"
  }
}

/// One measurement pass: pass 0 takes the timed samples; a later pass replays the same calls
/// with other counters.
public struct MeasurementPass: Codable, Sendable, Hashable {
  public var index: Int
  public var calls: Int64
  /// Time spent in the timed calls of this pass.
  public var seconds: Double
  /// Counter start/stop pairs (each one's overhead is subtracted).
  public var segments: Int64

  public init(index: Int, calls: Int64, seconds: Double, segments: Int64) {
    self.index = index
    self.calls = calls
    self.seconds = seconds
    self.segments = segments
  }
}

/// Summary statistics of the per-call samples, as the runner computed them.
public struct SampleStats: Codable, Sendable, Hashable {
  public var minSeconds: Double
  public var medianSeconds: Double
  /// Median absolute deviation from the median (unscaled).
  public var madSeconds: Double
  public var p90Seconds: Double

  public init(minSeconds: Double, medianSeconds: Double, madSeconds: Double, p90Seconds: Double) {
    self.minSeconds = minSeconds
    self.medianSeconds = medianSeconds
    self.madSeconds = madSeconds
    self.p90Seconds = p90Seconds
  }

  enum CodingKeys: String, CodingKey {
    case minSeconds = "min_s"
    case medianSeconds = "median_s"
    case madSeconds = "mad_s"
    case p90Seconds = "p90_s"
  }
}

/// The cache hierarchy a cache simulator was given (valgrind's --I1, --D1, --LL).
public struct CacheGeometry: Codable, Sendable, Hashable {
  public struct Level: Codable, Sendable, Hashable {
    public var sizeBytes: Int
    public var ways: Int
    public var lineBytes: Int

    public init(sizeBytes: Int, ways: Int, lineBytes: Int) {
      self.sizeBytes = sizeBytes
      self.ways = ways
      self.lineBytes = lineBytes
    }

    /// "size,ways,line", valgrind's syntax.
    public var valgrindValue: String { "\(sizeBytes),\(ways),\(lineBytes)" }

    /// Sets of the cache; nil when size is not a multiple of ways x line.
    public var sets: Int? {
      guard ways > 0, lineBytes > 0, sizeBytes % (ways * lineBytes) == 0 else { return nil }
      return sizeBytes / (ways * lineBytes)
    }

    enum CodingKeys: String, CodingKey {
      case ways
      case sizeBytes = "size_bytes"
      case lineBytes = "line_bytes"
    }
  }

  public var i1: Level
  public var d1: Level
  /// The last level (the highest data/unified level found).
  public var ll: Level
  /// "sysfs" or "fallback".
  public var source: String
  /// Why the fallback was used.
  public var note: String?

  public init(i1: Level, d1: Level, ll: Level, source: String, note: String? = nil) {
    self.i1 = i1
    self.d1 = d1
    self.ll = ll
    self.source = source
    self.note = note
  }

  /// valgrind's cache options.
  public var valgrindArguments: [String] {
    ["--I1=\(i1.valgrindValue)", "--D1=\(d1.valgrindValue)", "--LL=\(ll.valgrindValue)"]
  }

  enum CodingKeys: String, CodingKey {
    case i1, d1, ll, source, note
  }
}

/// A deterministic cost of one kernel call from a cache simulator (cachegrind): the counts of a
/// run with `calls` calls minus those of a run with 0 calls, divided by `calls`. Simulated, not
/// measured: the simulated caches are `geometry`, the build is the simulation build
/// (`buildFlags`, e.g. -march=x86-64-v3 -mno-fma), and calls run warm (the runner's verification
/// call comes first).
public struct SimulatedCost: Codable, Sendable, Hashable {
  public static let toolName = "cachegrind (simulated)"

  public var tool: String
  public var valgrindVersion: String?
  public var geometry: CacheGeometry
  public var calls: Int
  /// Cachegrind's event names, e.g. Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw.
  public var events: [String]
  /// (run with `calls` - run with 0) / calls, per event.
  public var perCall: [String: Double]
  public var totalsWithCalls: [String: Int64]
  public var totalsWithoutCalls: [String: Int64]
  /// The variant that was simulated (its flags are the simulation flags).
  public var variantID: String?
  public var buildFlags: [String]?

  public init(
    tool: String = SimulatedCost.toolName, valgrindVersion: String?, geometry: CacheGeometry,
    calls: Int, events: [String], perCall: [String: Double], totalsWithCalls: [String: Int64],
    totalsWithoutCalls: [String: Int64], variantID: String? = nil, buildFlags: [String]? = nil
  ) {
    self.tool = tool
    self.valgrindVersion = valgrindVersion
    self.geometry = geometry
    self.calls = calls
    self.events = events
    self.perCall = perCall
    self.totalsWithCalls = totalsWithCalls
    self.totalsWithoutCalls = totalsWithoutCalls
    self.variantID = variantID
    self.buildFlags = buildFlags
  }

  /// Instructions per call.
  public var irPerCall: Double? { perCall["Ir"] }

  enum CodingKeys: String, CodingKey {
    case tool, geometry, calls, events
    case valgrindVersion = "valgrind_version"
    case perCall = "per_call"
    case totalsWithCalls = "totals_with_calls"
    case totalsWithoutCalls = "totals_without_calls"
    case variantID = "variant_id"
    case buildFlags = "build_flags"
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

  // Measurement details (all optional: records written before they existed still decode).

  /// Why sampling stopped.
  public var stopReason: StopReason?
  /// The runner's final 95% bootstrap CI of the median (seeded, so reproducible from the samples).
  public var ciLowSeconds: Double?
  public var ciHighSeconds: Double?
  /// The CI relative width the stopping rule aimed for ((hi - lo) / median).
  public var ciFraction: Double?
  /// Seconds of sampling the rule waited for before a CI stop (0: none).
  public var minTimeSeconds: Double?
  /// Seconds pass 0 sampled for.
  public var samplingSeconds: Double?
  public var stats: SampleStats?
  /// The cost of a clock_gettime pair, subtracted from every sample before dividing by the calls.
  public var clockOverheadSeconds: Double?
  public var cacheMode: CacheMode?
  /// Bytes written and read before every sample when cold.
  public var flushBytes: Int64?
  /// How busy the other CPUs were before measuring (over a short window) and while measuring.
  public var loadBefore: LoadSample?
  public var loadAfter: LoadSample?
  /// Things that make the numbers less trustworthy (a busy machine, no pinning, ...).
  public var warnings: [String]?
  /// The measurement passes (more than one when the counters did not fit one pass).
  public var passes: [MeasurementPass]?
  /// Some counter was read from a multiplexed EventSet.
  public var multiplexed: Bool?
  /// A deterministic simulated cost (cachegrind) of one call of this variant's simulation build.
  public var simulated: SimulatedCost?

  public init(
    schemaVersion: Int = RunResult.currentSchemaVersion, variantID: String, variant: KernelVariant,
    outcome: RunOutcome, maxAbsErr: Double? = nil, tolerance: Double? = nil,
    macsPerCall: Int64? = nil, samplesSeconds: [Double] = [], innerCalls: Int64? = nil,
    callsCounted: Int64 = 0, counters: [CounterReading] = [], sde: SDEReading? = nil,
    papiVersion: String? = nil, cpu: Int? = nil, message: String? = nil,
    stopReason: StopReason? = nil, ciLowSeconds: Double? = nil, ciHighSeconds: Double? = nil,
    ciFraction: Double? = nil, samplingSeconds: Double? = nil, stats: SampleStats? = nil,
    clockOverheadSeconds: Double? = nil, cacheMode: CacheMode? = nil, flushBytes: Int64? = nil,
    loadBefore: LoadSample? = nil, loadAfter: LoadSample? = nil, warnings: [String]? = nil,
    passes: [MeasurementPass]? = nil, multiplexed: Bool? = nil, simulated: SimulatedCost? = nil,
    minTimeSeconds: Double? = nil
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
    self.stopReason = stopReason
    self.ciLowSeconds = ciLowSeconds
    self.ciHighSeconds = ciHighSeconds
    self.ciFraction = ciFraction
    self.samplingSeconds = samplingSeconds
    self.stats = stats
    self.clockOverheadSeconds = clockOverheadSeconds
    self.cacheMode = cacheMode
    self.flushBytes = flushBytes
    self.loadBefore = loadBefore
    self.loadAfter = loadAfter
    self.warnings = warnings
    self.passes = passes
    self.multiplexed = multiplexed
    self.simulated = simulated
    self.minTimeSeconds = minTimeSeconds
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
    case stats, warnings, passes, multiplexed, simulated
    case stopReason = "stop_reason"
    case ciLowSeconds = "ci_low_s"
    case ciHighSeconds = "ci_high_s"
    case ciFraction = "ci_fraction"
    case minTimeSeconds = "min_time_s"
    case samplingSeconds = "sampling_s"
    case clockOverheadSeconds = "clock_overhead_s"
    case cacheMode = "cache_mode"
    case flushBytes = "flush_bytes"
    case loadBefore = "load_before"
    case loadAfter = "load_after"
  }
}

/// What `runner --probe` reports: the PAPI version, each event's availability (with PAPI's
/// reason when unavailable) and whether the runner's SDE counter reads back exactly.
public struct RunnerProbe: Codable, Sendable {
  public var papiVersion: String?
  public var events: [CounterReading]
  public var sde: SDEReading?
  public var sdeWorks: Bool
  /// How many passes the events needed.
  public var passes: Int?
  public var multiplexed: Bool?
  public var warnings: [String]?

  public init(
    papiVersion: String?, events: [CounterReading], sde: SDEReading?, sdeWorks: Bool,
    passes: Int? = nil, multiplexed: Bool? = nil, warnings: [String]? = nil
  ) {
    self.papiVersion = papiVersion
    self.events = events
    self.sde = sde
    self.sdeWorks = sdeWorks
    self.passes = passes
    self.multiplexed = multiplexed
    self.warnings = warnings
  }

  /// Whether `name` was counted by the probe.
  public func isAvailable(_ name: String) -> Bool {
    events.contains { $0.name == name && $0.available }
  }

  enum CodingKeys: String, CodingKey {
    case events, sde, passes, multiplexed, warnings
    case papiVersion = "papi_version"
    case sdeWorks = "sde_works"
  }
}
