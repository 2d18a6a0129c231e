import Foundation

/// A claim on one trial: `trials/<id>.claim`, created by the worker that runs the trial and held
/// with an exclusive `flock` for as long as it runs. The lock, not the file, is the claim: the
/// kernel drops it when the holder exits for any reason (kill -9 included), so a claim is stale
/// exactly when its lock can be taken — on this host. A claim written on another host (Slurm on a
/// shared file system, where flocks may not be visible) is also live while its heartbeat is
/// younger than `remoteLiveSeconds`. The file's content (executor, host, pid, start, heartbeat)
/// is for that check, for `sweep status` and for people.
public final class TrialClaim: @unchecked Sendable {
  public let path: String
  private var fd: Int32

  init(path: String, fd: Int32) {
    self.path = path
    self.fd = fd
  }

  deinit { release() }

  /// Tries to claim `trialID` in `run`. Returns nil when a live worker holds the claim or the
  /// trial has finished (its record exists).
  public static func acquire(_ trialID: String, in run: RunDirectory, info: [String: String] = [:])
    -> TrialClaim?
  {
    let path = run.claimPath(trialID)
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return nil }
    guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
      close(fd)
      return nil
    }
    // A holder on another host of a shared file system: its flock may not be visible here.
    if isLiveRemote(content(of: fd)) {
      flock(fd, LOCK_UN)
      close(fd)
      return nil
    }
    // Finished while we were looking: the record is written before any claim is released.
    if run.trial(trialID) != nil {
      flock(fd, LOCK_UN)
      close(fd)
      return nil
    }
    let claim = TrialClaim(path: path, fd: fd)
    var content = info
    content["host"] = ProcessInfo.processInfo.hostName
    content["pid"] = String(getpid())
    content["started_at"] = ISO8601DateFormatter().string(from: Date())
    claim.write(content)
    return claim
  }

  /// Rewrites the claim's content with a fresh heartbeat.
  public func heartbeat() {
    guard fd >= 0 else { return }
    var content =
      (try? JSONSerialization.jsonObject(with: readAll(), options: [])) as? [String: String] ?? [:]
    content["heartbeat"] = ISO8601DateFormatter().string(from: Date())
    write(content)
  }

  /// Removes the claim file and drops the lock. Call after the trial's record is written.
  public func release() {
    guard fd >= 0 else { return }
    unlink(path)
    flock(fd, LOCK_UN)
    close(fd)
    fd = -1
  }

  private func write(_ content: [String: String]) {
    guard let data = try? JSONSerialization.data(withJSONObject: content, options: [.sortedKeys])
    else { return }
    ftruncate(fd, 0)
    _ = data.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
  }

  private func readAll() -> Data {
    var buf = [UInt8](repeating: 0, count: 4096)
    let n = pread(fd, &buf, buf.count, 0)
    return Data(buf.prefix(max(n, 0)))
  }

  /// Whether a live worker holds the claim of `trialID` (probes the lock without keeping it).
  public static func isHeld(_ trialID: String, in run: RunDirectory) -> Bool {
    let fd = open(run.claimPath(trialID), O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    if flock(fd, LOCK_SH | LOCK_NB) == 0 {
      flock(fd, LOCK_UN)
      return isLiveRemote(content(of: fd))
    }
    return true
  }

  // MARK: Claims held on other hosts (Slurm on a shared file system)

  /// A flock held on another host of a shared file system may not be visible here, so a claim
  /// written on another host counts as live while its heartbeat (rewritten every 30 s by the
  /// holder; `started_at` before the first one) is younger than this. Claims of this host are
  /// judged by their lock alone, as before.
  public static let remoteLiveSeconds: TimeInterval = 120

  /// The content of `trialID`'s claim file (executor, host, pid, started_at, heartbeat and, for
  /// Slurm, slurm_job_id / slurm_array_task_id), or nil when there is none.
  public static func info(_ trialID: String, in run: RunDirectory) -> [String: String]? {
    let fd = open(run.claimPath(trialID), O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    return content(of: fd)
  }

  /// Whether `content` names another host and a heartbeat younger than `remoteLiveSeconds`.
  public static func isLiveRemote(_ content: [String: String]?, now: Date = Date()) -> Bool {
    guard let content, let host = content["host"], host != ProcessInfo.processInfo.hostName,
      let stamp = content["heartbeat"] ?? content["started_at"],
      let beat = ISO8601DateFormatter().date(from: stamp)
    else { return false }
    return now.timeIntervalSince(beat) < remoteLiveSeconds
  }

  private static func content(of fd: Int32) -> [String: String]? {
    var buf = [UInt8](repeating: 0, count: 4096)
    let n = pread(fd, &buf, buf.count, 0)
    guard n > 0 else { return nil }
    return (try? JSONSerialization.jsonObject(with: Data(buf.prefix(n)), options: []))
      as? [String: String]
  }
}

/// The machine-wide measurement lock: kernel timings take it exclusively, training epochs and
/// kernel builds take it shared, so no measurement runs while this machine's other blkrew workers
/// compute (on 2 cores there is no quiet core otherwise). A turnstile lock keeps a waiting
/// measurement from being starved by workers that keep re-taking the shared lock.
public struct MeasurementLock: Sendable {
  public let path: String
  public init(path: String = MeasurementLock.defaultPath) { self.path = path }

  public static var defaultPath: String {
    let dir = ProcessInfo.processInfo.environment["BLKREW_LOCK_DIR"] ?? "/tmp"
    return "\(dir)/blkrew-measure-\(getuid()).lock"
  }

  /// A held lock; `release()` (or deinit) lets go.
  public final class Hold: @unchecked Sendable {
    private var fd: Int32
    init(fd: Int32) { self.fd = fd }
    deinit { release() }
    public func release() {
      guard fd >= 0 else { return }
      flock(fd, LOCK_UN)
      close(fd)
      fd = -1
    }
  }

  /// Takes the lock shared (compute) or exclusive (measure); blocks until it is free.
  public func acquire(exclusive: Bool) -> Hold {
    let turnstile = open(path + ".turnstile", O_RDWR | O_CREAT | O_CLOEXEC, 0o666)
    let main = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o666)
    if turnstile >= 0 { lockRetrying(turnstile, LOCK_EX) }
    if main >= 0 { lockRetrying(main, exclusive ? LOCK_EX : LOCK_SH) }
    // A shared holder passes the turnstile at once; a measurement keeps it until it has the lock.
    if turnstile >= 0 {
      flock(turnstile, LOCK_UN)
      close(turnstile)
    }
    return Hold(fd: main)
  }

  /// Runs `body` holding the lock shared (compute) or exclusive (measure).
  public func with<T>(exclusive: Bool, _ body: () throws -> T) rethrows -> T {
    let hold = acquire(exclusive: exclusive)
    defer { hold.release() }
    return try body()
  }

  private func lockRetrying(_ fd: Int32, _ op: Int32) {
    while flock(fd, op) != 0 && errno == EINTR {}
  }
}
