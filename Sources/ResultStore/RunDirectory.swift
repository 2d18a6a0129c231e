import Foundation
import TuningSchema

/// Errors of the store that end a sweep (exit 1 at the CLI).
public enum StoreError: Error, CustomStringConvertible {
  case writeFailed(path: String, reason: String)
  case unreadable(path: String, reason: String)
  public var description: String {
    switch self {
    case .writeFailed(let path, let reason): "\(path): cannot write: \(reason)"
    case .unreadable(let path, let reason): "\(path): \(reason)"
    }
  }
}

/// Files written whole or not at all: data goes to `<path>.<pid>.tmp`, is flushed to disk, and is
/// renamed over `path` (or, for `create`, linked to it); the directory is flushed too. A crash
/// leaves either the old file, the new file, or a stray `.tmp` (ignored by readers, removed by
/// `RunDirectory.removeStaleTemporaries`) — never a truncated record.
public enum AtomicFile {
  public static func write(_ data: Data, to path: String) throws {
    let tmp = try writeTemporary(data, for: path)
    guard rename(tmp, path) == 0 else {
      let err = errno
      unlink(tmp)
      throw StoreError.writeFailed(path: path, reason: String(cString: strerror(err)))
    }
    syncDirectory(of: path)
  }

  public static func write<T: Encodable>(json value: T, to path: String) throws {
    try write(encoded(value), to: path)
  }

  /// Creates `path` holding `data` unless it exists: returns true when this call created it,
  /// false (writing nothing) when it was there already. The flushed temporary is hard-linked to
  /// `path`, which fails with EEXIST when another process linked first, so of any number of
  /// processes creating the same file at once exactly one wins and no reader ever sees a partial
  /// file. (On a file system without hard links it falls back to rename when `path` is absent,
  /// which is not exclusive.)
  public static func create(_ data: Data, at path: String) throws -> Bool {
    let tmp = try writeTemporary(data, for: path)
    defer { unlink(tmp) }
    if link(tmp, path) == 0 {
      syncDirectory(of: path)
      return true
    }
    let err = errno
    if err == EEXIST { return false }
    guard err == EPERM || err == EOPNOTSUPP || err == ENOSYS else {
      throw StoreError.writeFailed(path: path, reason: String(cString: strerror(err)))
    }
    if access(path, F_OK) == 0 { return false }
    guard rename(tmp, path) == 0 else {
      throw StoreError.writeFailed(path: path, reason: String(cString: strerror(errno)))
    }
    syncDirectory(of: path)
    return true
  }

  public static func create<T: Encodable>(json value: T, at path: String) throws -> Bool {
    try create(encoded(value), at: path)
  }

  /// The suffix of every temporary this type writes: `<path>.<pid>.tmp`.
  public static func temporaryPath(for path: String, pid: pid_t = getpid()) -> String {
    "\(path).\(pid).tmp"
  }

  private static func encoded<T: Encodable>(_ value: T) throws -> Data {
    var data = try RecordCoding.encoder().encode(value)
    data.append(0x0A)
    return data
  }

  /// Writes and flushes `<path>.<pid>.tmp`; returns its path. Throws (leaving nothing) on error.
  private static func writeTemporary(_ data: Data, for path: String) throws -> String {
    let dir = (path as NSString).deletingLastPathComponent
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let tmp = temporaryPath(for: path)
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
      throw StoreError.writeFailed(path: path, reason: String(cString: strerror(errno)))
    }
    var ok = true
    var err: Int32 = 0
    data.withUnsafeBytes { raw in
      var off = 0
      while off < raw.count {
        let n = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
        if n < 0 {
          if errno == EINTR { continue }
          ok = false
          err = errno
          return
        }
        off += n
      }
    }
    if ok && fsync(fd) != 0 {
      ok = false
      err = errno
    }
    close(fd)
    guard ok else {
      unlink(tmp)
      throw StoreError.writeFailed(path: path, reason: String(cString: strerror(err)))
    }
    return tmp
  }

  private static func syncDirectory(of path: String) {
    let dfd = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY)
    if dfd >= 0 {
      fsync(dfd)
      close(dfd)
    }
  }
}

/// One run: `DIR/<suite name>/<run id>/` with `run.json`, `trials/`, `kernels/`, `checkpoints/`,
/// `build/` (generated C, binaries, compiler logs) and `logs/` (DESIGN.md section 9).
public struct RunDirectory: Sendable {
  public let path: String

  public init(path: String) { self.path = path }

  /// The run directory of `suite` under `resultsDir`. Without `fresh` this is the directory
  /// named by the suite's content hash, so running the same suite again resumes it. With `fresh`
  /// it is a new directory `<hash>-<n>` with the smallest unused n.
  public static func locate(resultsDir: String, suite: SweepSpec, fresh: Bool) -> RunDirectory {
    let base = "\(resultsDir)/\(suite.name)/\(suite.contentID)"
    guard fresh else { return RunDirectory(path: base) }
    var n = 2
    while FileManager.default.fileExists(atPath: "\(base)-\(n)") { n += 1 }
    return RunDirectory(path: "\(base)-\(n)")
  }

  public var manifestPath: String { "\(path)/run.json" }
  public var trialsDir: String { "\(path)/trials" }
  public var kernelsDir: String { "\(path)/kernels" }
  public var checkpointsDir: String { "\(path)/checkpoints" }
  public var buildDir: String { "\(path)/build" }
  public var logsDir: String { "\(path)/logs" }

  public func trialPath(_ id: String) -> String { "\(trialsDir)/\(id).json" }
  public func trialLogPath(_ id: String) -> String { "\(logsDir)/\(id).log" }
  public func claimPath(_ id: String) -> String { "\(trialsDir)/\(id).claim" }
  public func kernelPath(_ variantID: String) -> String { "\(kernelsDir)/\(variantID).json" }
  public func checkpointPath(_ trialID: String) -> String {
    "\(checkpointsDir)/\(trialID).safetensors"
  }

  public func create() throws {
    for d in [path, trialsDir, kernelsDir, checkpointsDir, buildDir, logsDir] {
      do {
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
      } catch {
        throw StoreError.writeFailed(path: d, reason: error.localizedDescription)
      }
    }
  }

  public var exists: Bool { FileManager.default.fileExists(atPath: manifestPath) }

  public func readManifest() throws -> RunManifest {
    try read(RunManifest.self, at: manifestPath)
  }

  public func writeManifest(_ m: RunManifest) throws {
    try AtomicFile.write(json: m, to: manifestPath)
  }

  /// Writes `run.json` unless it exists; true when this call created it. Two processes starting
  /// the same run at once both probe and call this: one creates the file, the other gets false
  /// and uses the winner's (`readManifest`), so a run's manifest is written once.
  public func createManifest(_ m: RunManifest) throws -> Bool {
    try AtomicFile.create(json: m, at: manifestPath)
  }

  /// The finished record of a trial, or nil when it has not finished (or its file is unreadable,
  /// which the atomic writes make impossible short of outside tampering).
  public func trial(_ id: String) -> TrialRecord? {
    try? read(TrialRecord.self, at: trialPath(id))
  }

  public func writeTrial(_ r: TrialRecord) throws {
    try AtomicFile.write(json: r, to: trialPath(r.trialID))
  }

  /// Every finished trial record in the run, in file-name order.
  public func trials() -> [TrialRecord] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: trialsDir)) ?? []
    return names.filter { $0.hasSuffix(".json") }.sorted().compactMap {
      try? read(TrialRecord.self, at: "\(trialsDir)/\($0)")
    }
  }

  public func kernelResult(_ variantID: String) -> RunResult? {
    try? read(RunResult.self, at: kernelPath(variantID))
  }

  public func writeKernelResult(_ r: RunResult) throws {
    try AtomicFile.write(json: r, to: kernelPath(r.variantID))
  }

  public func read<T: Decodable>(_ type: T.Type, at path: String) throws -> T {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw StoreError.unreadable(path: path, reason: "no such file")
    }
    do {
      return try RecordCoding.decoder().decode(T.self, from: data)
    } catch {
      throw StoreError.unreadable(path: path, reason: "not a valid \(T.self) record: \(error)")
    }
  }
}

// MARK: Finding runs

extension RunDirectory {
  /// The runs under `resultsDir`: every `<suite>/<run>/` that holds a `run.json`, by path.
  public static func runs(under resultsDir: String) -> [RunDirectory] {
    let fm = FileManager.default
    var out: [RunDirectory] = []
    for suite in ((try? fm.contentsOfDirectory(atPath: resultsDir)) ?? []).sorted() {
      let suiteDir = "\(resultsDir)/\(suite)"
      for id in ((try? fm.contentsOfDirectory(atPath: suiteDir)) ?? []).sorted() {
        let run = RunDirectory(path: "\(suiteDir)/\(id)")
        if run.exists { out.append(run) }
      }
    }
    return out
  }

  /// When the run last changed: the newest modification time of its directory, `run.json`,
  /// `trials/` and `kernels/` (writing a record, taking or releasing a claim touch `trials/`).
  public var lastModified: Date? {
    [path, manifestPath, trialsDir, kernelsDir].compactMap { p in
      (try? FileManager.default.attributesOfItem(atPath: p))?[.modificationDate] as? Date
    }.max()
  }

  /// The most recently modified run under `resultsDir` (`lastModified`; ties by path), or nil
  /// when there is none.
  public static func mostRecent(under resultsDir: String) -> RunDirectory? {
    let dated = runs(under: resultsDir).map { ($0, $0.lastModified ?? .distantPast) }
    return dated.max { a, b in a.1 != b.1 ? a.1 < b.1 : a.0.path < b.0.path }?.0
  }
}
