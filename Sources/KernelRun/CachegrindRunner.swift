import ChildProcesses
import Foundation
import TuningSchema

/// A deterministic cost of one kernel call: the runner's simulation mode (`--simulate N`, which
/// never initialises PAPI) run under valgrind's cachegrind with an explicit cache geometry, once
/// with N calls and once with 0; the difference of the two summaries divided by N is the cost of
/// one (warm) call: instructions (Ir), and simulated I1/D1/LL misses.
///
/// The binary must be a simulation build (`LocalBuilder.simulationFlags`: valgrind 3.19 cannot
/// run AVX-512 and runs FMA very slowly); the caller builds the variant with those flags.
/// Counts are simulated, not measured: the records say `"tool": "cachegrind (simulated)"` and
/// carry the geometry used.
public struct CachegrindRunner: Sendable {
  /// Kernel calls of the counted run.
  public var calls: Int
  public var geometry: CacheGeometry
  /// valgrind's path; nil when it is not installed.
  public var valgrindPath: String?
  /// Seed of the runner's inputs.
  public var seed: UInt64

  public enum Failure: Error, CustomStringConvertible {
    case valgrindMissing
    case valgrindFailed(String)
    case unreadableOutput(String)
    case wrongResult(String)

    public var description: String {
      switch self {
      case .valgrindMissing: "valgrind is not installed (apt-get install valgrind)"
      case .valgrindFailed(let s): "valgrind failed: \(s)"
      case .unreadableOutput(let s): "cannot read cachegrind's output: \(s)"
      case .wrongResult(let s): "the kernel is wrong: \(s)"
      }
    }
  }

  public init(
    calls: Int = 20, geometry: CacheGeometry? = nil,
    valgrindPath: String? = ChildProcess.which("valgrind"), seed: UInt64 = 1
  ) {
    self.calls = max(1, calls)
    self.geometry = geometry ?? CachegrindRunner.detectGeometry()
    self.valgrindPath = valgrindPath
    self.seed = seed
  }

  /// The geometry MACHINE-FACTS.md gives for the reference machine (Zen 5): used when this
  /// machine's caches cannot be simulated as they are.
  public static let fallbackGeometry = CacheGeometry(
    i1: .init(sizeBytes: 32768, ways: 8, lineBytes: 64),
    d1: .init(sizeBytes: 49152, ways: 12, lineBytes: 64),
    ll: .init(sizeBytes: 1_048_576, ways: 16, lineBytes: 64), source: "fallback")

  /// Why valgrind would refuse a cache level (its own checks), nil when it is fine.
  public static func problem(with level: CacheGeometry.Level) -> String? {
    func isPowerOfTwo(_ v: Int) -> Bool { v > 0 && v & (v - 1) == 0 }
    guard let sets = level.sets else { return "size is not a multiple of ways x line" }
    if !isPowerOfTwo(sets) { return "\(sets) sets is not a power of two" }
    if !isPowerOfTwo(level.lineBytes) { return "line size is not a power of two" }
    if level.lineBytes < 16 { return "line size below 16" }
    if level.ways > level.sizeBytes / level.lineBytes { return "more ways than lines" }
    return nil
  }

  /// This machine's caches from `<root>/index*/{level,type,size,ways_of_associativity,
  /// coherency_line_size}`: I1 (level 1 Instruction), D1 (level 1 Data), LL (the highest level
  /// that holds data). Falls back to `fallbackGeometry`, with the reason in `note`, when a level
  /// is missing or valgrind could not simulate it (set counts must be powers of two).
  public static func detectGeometry(root: String = "/sys/devices/system/cpu/cpu0/cache")
    -> CacheGeometry
  {
    func read(_ path: String) -> String? {
      (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(
        in: .whitespacesAndNewlines)
    }
    func bytes(_ s: String) -> Int? {
      let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
      if let last = s.last, let unit = units[last] { return Int(s.dropLast()).map { $0 * unit } }
      return Int(s)
    }
    var i1: CacheGeometry.Level?
    var d1: CacheGeometry.Level?
    var ll: (level: Int, cache: CacheGeometry.Level)?
    for index in 0..<16 {
      let dir = "\(root)/index\(index)"
      guard let levelText = read("\(dir)/level"), let level = Int(levelText),
        let type = read("\(dir)/type"), let size = read("\(dir)/size").flatMap(bytes),
        let ways = read("\(dir)/ways_of_associativity").flatMap({ Int($0) }),
        let line = read("\(dir)/coherency_line_size").flatMap({ Int($0) })
      else { continue }
      let cache = CacheGeometry.Level(sizeBytes: size, ways: ways, lineBytes: line)
      if level == 1 && type == "Instruction" { i1 = cache }
      if level == 1 && type == "Data" { d1 = cache }
      if type != "Instruction", level > (ll?.level ?? 1) { ll = (level, cache) }
    }
    guard let i1, let d1, let ll else {
      var g = fallbackGeometry
      g.note = "\(root) does not describe I1, D1 and a last level"
      return g
    }
    for (name, level) in [("I1", i1), ("D1", d1), ("LL", ll.cache)] {
      if let problem = problem(with: level) {
        var g = fallbackGeometry
        g.note =
          "this machine's \(name) (\(level.valgrindValue)) cannot be simulated: \(problem)"
        return g
      }
    }
    return CacheGeometry(
      i1: i1, d1: d1, ll: ll.cache, source: "sysfs", note: "LL is the level-\(ll.level) cache")
  }

  /// The `events:` and `summary:` lines of a cachegrind out file.
  public static func parseOutFile(_ text: String) throws -> [String: Int64] {
    var events: [String]?
    var summary: [Int64]?
    for line in text.split(separator: "\n") {
      if line.hasPrefix("events:") {
        events = line.dropFirst("events:".count).split(separator: " ").map(String.init)
      } else if line.hasPrefix("summary:") {
        summary = line.dropFirst("summary:".count).split(separator: " ").compactMap {
          Int64($0)
        }
      }
    }
    guard let events, let summary, !events.isEmpty, summary.count == events.count else {
      throw Failure.unreadableOutput("no matching events:/summary: lines")
    }
    return Dictionary(uniqueKeysWithValues: zip(events, summary))
  }

  /// The valgrind version ("valgrind-3.19.0"), nil when it cannot be run.
  public func valgrindVersion() -> String? {
    guard let valgrindPath,
      let r = try? ChildProcess.run(valgrindPath, ["--version"], timeout: 30), r.succeeded
    else { return nil }
    return r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// One cachegrind run of `runner --workload W --simulate n`: the summary and the runner's JSON.
  func simulateOnce(binaryPath: String, workloadFile: URL, calls n: Int, timeout: Double) throws
    -> (totals: [String: Int64], report: RunnerReport)
  {
    guard let valgrindPath else { throw Failure.valgrindMissing }
    let outFile = FileManager.default.temporaryDirectory.appendingPathComponent(
      "blkrew-cachegrind-\(getpid())-\(UUID().uuidString.prefix(8)).out")
    defer { try? FileManager.default.removeItem(at: outFile) }
    let arguments =
      ["--tool=cachegrind", "--cache-sim=yes"] + geometry.valgrindArguments + [
        "--cachegrind-out-file=\(outFile.path)", binaryPath, "--workload", workloadFile.path,
        "--simulate", String(n), "--seed", String(seed),
      ]
    let child = try ChildProcess.run(valgrindPath, arguments, timeout: timeout)
    guard child.succeeded else {
      throw Failure.valgrindFailed(
        child.summary + ": " + String(child.stderrText.suffix(800)))
    }
    guard let report = LocalRunner.decodeLastObject(RunnerReport.self, from: child.stdout),
      report.mode == "simulate"
    else { throw Failure.unreadableOutput("the runner printed no simulation result") }
    if report.outcome == .wrongResult { throw Failure.wrongResult(report.message ?? "") }
    guard report.outcome == .measured, report.simulateCalls == Int64(n) else {
      throw Failure.unreadableOutput("runner outcome \(report.outcome.rawValue)")
    }
    let text = try String(contentsOf: outFile, encoding: .utf8)
    return (try Self.parseOutFile(text), report)
  }

  /// The simulated cost of one call: (run with `calls` calls - run with 0 calls) / `calls`.
  public func simulate(
    binaryPath: String, workloadFile: URL, variant: KernelVariant? = nil, timeout: Double = 300
  ) throws -> SimulatedCost {
    let withCalls = try simulateOnce(
      binaryPath: binaryPath, workloadFile: workloadFile, calls: calls, timeout: timeout)
    let without = try simulateOnce(
      binaryPath: binaryPath, workloadFile: workloadFile, calls: 0, timeout: timeout)
    let events = Array(withCalls.totals.keys).sorted {
      Self.eventOrder($0) < Self.eventOrder($1)
    }
    var perCall: [String: Double] = [:]
    for e in events {
      perCall[e] = Double((withCalls.totals[e] ?? 0) - (without.totals[e] ?? 0)) / Double(calls)
    }
    return SimulatedCost(
      valgrindVersion: valgrindVersion(), geometry: geometry, calls: calls, events: events,
      perCall: perCall, totalsWithCalls: withCalls.totals, totalsWithoutCalls: without.totals,
      variantID: variant?.id, buildFlags: variant?.flags)
  }

  /// A `RunResult` for `variant` (a simulation build) carrying only the simulated cost; a failed
  /// simulation is a `runFailed` (or `wrongResult`) result with the reason, never a throw.
  public func run(binaryPath: String, workloadFile: URL, variant: KernelVariant, timeout: Double)
    -> RunResult
  {
    do {
      let cost = try simulate(
        binaryPath: binaryPath, workloadFile: workloadFile, variant: variant, timeout: timeout)
      var r = RunResult(variantID: variant.id, variant: variant, outcome: .measured)
      r.simulated = cost
      return r
    } catch Failure.wrongResult(let message) {
      return .failed(variant, .wrongResult, message: message)
    } catch {
      return .failed(variant, .runFailed, message: "\(error)")
    }
  }

  private static let knownOrder = [
    "Ir", "I1mr", "ILmr", "Dr", "D1mr", "DLmr", "Dw", "D1mw", "DLmw",
  ]
  private static func eventOrder(_ name: String) -> String {
    if let i = knownOrder.firstIndex(of: name) { return String(format: "%02d", i) }
    return "99" + name
  }
}
