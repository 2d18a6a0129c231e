import Foundation

/// Where and on what a run was measured; recorded once per run in `run.json`.
public struct EnvironmentInfo: Codable, Sendable {
  public var hostname: String
  public var cpuModel: String
  public var cpuFlags: [String]
  public var cores: Int
  public var memoryBytes: UInt64
  public var kernel: String
  public var virtualization: String
  public var governor: String?
  public var compiler: String
  public var compilerFlags: [String]
  public var blas: String
  public var blasCoreType: String
  public var openblasCoreTypeEnv: String?
  public var papiVersion: String?
  /// Each requested event with whether it could be read here and, if not, PAPI's reason.
  public var events: [CounterReading]
  public var sdeWorks: Bool
  /// The clock /proc/cpuinfo reports (nominal in most VMs), MHz.
  public var cpuMHzReported: Double? = nil
  /// The clock estimated from a timed chain of dependent adds, GHz (evidence, not calibration).
  public var measuredGHz: Double? = nil
  /// `--version` first lines of the C compilers found (gcc, clang).
  public var compilers: [String]? = nil
  /// PAPI components as `papi_component_avail` lists them (active or disabled with why).
  public var papiComponents: [String]? = nil
  /// Medians of one calibration kernel measured in separate runner processes, and the noise floor
  /// derived from their spread: the smallest relative difference blkrew calls real.
  public var timingNoiseRunMedians: [Double]? = nil
  public var timingNoiseMinEffect: Double? = nil
  /// The events measured, in passes (one runner pass per group), as planned for this platform,
  /// and the events left out with why.
  public var eventPasses: [[String]]? = nil
  public var eventsLeftOut: [CounterReading]? = nil
  /// Every flag /proc/cpuinfo lists (`cpu_flags` keeps the vector ones, for the reports).
  public var cpuFlagsAll: [String]? = nil
  /// The BLAS build as the library describes itself (OpenBLAS: version, options, core).
  public var blasConfig: String? = nil
  /// PAPI presets `papi_avail` lists as available on this CPU (all of them, not only those asked
  /// for); nil when papi-tools is missing.
  public var papiAvailablePresets: [String]? = nil
  /// Hardware counters per `papi_avail` ("Number Hardware Counters"); nil when it says none / NA.
  public var papiHardwareCounters: Int? = nil
  public init(
    hostname: String, cpuModel: String, cpuFlags: [String], cores: Int, memoryBytes: UInt64,
    kernel: String, virtualization: String, governor: String?, compiler: String,
    compilerFlags: [String], blas: String, blasCoreType: String, openblasCoreTypeEnv: String?,
    papiVersion: String?, events: [CounterReading], sdeWorks: Bool
  ) {
    self.hostname = hostname
    self.cpuModel = cpuModel
    self.cpuFlags = cpuFlags
    self.cores = cores
    self.memoryBytes = memoryBytes
    self.kernel = kernel
    self.virtualization = virtualization
    self.governor = governor
    self.compiler = compiler
    self.compilerFlags = compilerFlags
    self.blas = blas
    self.blasCoreType = blasCoreType
    self.openblasCoreTypeEnv = openblasCoreTypeEnv
    self.papiVersion = papiVersion
    self.events = events
    self.sdeWorks = sdeWorks
  }
  enum CodingKeys: String, CodingKey {
    case hostname, cores, kernel, virtualization, governor, compiler, blas, events
    case cpuModel = "cpu_model"
    case cpuFlags = "cpu_flags"
    case memoryBytes = "memory_bytes"
    case compilerFlags = "compiler_flags"
    case blasCoreType = "blas_core_type"
    case openblasCoreTypeEnv = "openblas_coretype_env"
    case papiVersion = "papi_version"
    case sdeWorks = "sde_works"
    case cpuMHzReported = "cpu_mhz_reported"
    case measuredGHz = "measured_ghz"
    case compilers
    case papiComponents = "papi_components"
    case timingNoiseRunMedians = "timing_noise_run_medians_s"
    case timingNoiseMinEffect = "timing_noise_min_effect"
    case eventPasses = "event_passes"
    case eventsLeftOut = "events_left_out"
    case cpuFlagsAll = "cpu_flags_all"
    case blasConfig = "blas_config"
    case papiAvailablePresets = "papi_available_presets"
    case papiHardwareCounters = "papi_hardware_counters"
  }
}

/// `run.json`: the suite, the environment, and the blkrew that ran it.
public struct RunManifest: Codable, Sendable {
  public static let currentSchemaVersion = 1
  public var schemaVersion = RunManifest.currentSchemaVersion
  public var runID: String
  public var suite: SweepSpec
  public var suitePath: String
  public var blkrewVersion: String
  public var gitCommit: String?
  public var createdAt: String
  public var environment: EnvironmentInfo
  public init(
    runID: String, suite: SweepSpec, suitePath: String, blkrewVersion: String, gitCommit: String?,
    createdAt: String, environment: EnvironmentInfo
  ) {
    self.runID = runID
    self.suite = suite
    self.suitePath = suitePath
    self.blkrewVersion = blkrewVersion
    self.gitCommit = gitCommit
    self.createdAt = createdAt
    self.environment = environment
  }
  enum CodingKeys: String, CodingKey {
    case suite, environment
    case schemaVersion = "schema_version"
    case runID = "run_id"
    case suitePath = "suite_path"
    case blkrewVersion = "blkrew_version"
    case gitCommit = "git_commit"
    case createdAt = "created_at"
  }
}

/// Encoders for everything blkrew writes: pretty, sorted keys (diffable), no escaped slashes.
public enum RecordCoding {
  public static func encoder() -> JSONEncoder {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    e.nonConformingFloatEncodingStrategy = .convertToString(
      positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return e
  }
  public static func decoder() -> JSONDecoder {
    let d = JSONDecoder()
    d.nonConformingFloatDecodingStrategy = .convertFromString(
      positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return d
  }
}
