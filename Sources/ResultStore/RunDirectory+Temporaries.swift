import Foundation

extension RunDirectory {
  /// Temporary files (`*.tmp`) in the run directory whose writer is gone. A process killed
  /// between writing a temporary and renaming it (kill -9, power loss, the kernel's OOM killer)
  /// leaves one, and so does a compiler that outlives the killed trial that started it. Readers
  /// ignore them; `removeStaleTemporaries` deletes them so that a finished run holds none.
  ///
  /// A temporary is stale when
  /// - its name ends in `.<pid>.tmp` (`AtomicFile`'s records, the builder's runner binaries and
  ///   shared runner objects) and no process with that pid lives on this host;
  /// - it is `checkpoints/<trial id>.safetensors.tmp` and no live worker holds the trial's claim;
  /// - it is any other `*.tmp` not modified for `staleTemporaryAge` seconds.
  ///
  /// Nothing is stale while a worker on another host holds a live claim on the run (Slurm on a
  /// shared file system): its processes are not visible here.
  public func staleTemporaries(now: Date = Date()) -> [String] {
    let fm = FileManager.default
    let claims = ((try? fm.contentsOfDirectory(atPath: trialsDir)) ?? []).filter {
      $0.hasSuffix(".claim")
    }
    for c in claims where TrialClaim.isLiveRemote(TrialClaim.info(String(c.dropLast(6)), in: self))
    {
      return []
    }
    var stale: [String] = []
    guard let walk = fm.enumerator(atPath: path) else { return [] }
    while let relative = walk.nextObject() as? String {
      guard relative.hasSuffix(".tmp") else { continue }
      let full = "\(path)/\(relative)"
      let name = (relative as NSString).lastPathComponent
      let parts = name.split(separator: ".")
      if parts.count >= 3, let pid = pid_t(parts[parts.count - 2]), pid > 0 {
        if !Self.isLiveProcess(pid) { stale.append(full) }
        continue
      }
      let checkpointSuffix = ".safetensors.tmp"
      if (relative as NSString).deletingLastPathComponent
        == (checkpointsDir as NSString).lastPathComponent, name.hasSuffix(checkpointSuffix)
      {
        let trialID = String(name.dropLast(checkpointSuffix.count))
        if !TrialClaim.isHeld(trialID, in: self) { stale.append(full) }
        continue
      }
      let modified = (try? fm.attributesOfItem(atPath: full))?[.modificationDate] as? Date
      if let modified, now.timeIntervalSince(modified) > Self.staleTemporaryAge {
        stale.append(full)
      }
    }
    return stale.sorted()
  }

  /// A `*.tmp` of unknown origin older than this (seconds) is stale: no write of blkrew takes
  /// that long (compiler runs are killed after 120 s).
  public static let staleTemporaryAge: TimeInterval = 3600

  /// Deletes `staleTemporaries()`; returns the paths removed.
  @discardableResult
  public func removeStaleTemporaries() -> [String] {
    staleTemporaries().filter { unlink($0) == 0 }
  }

  /// Whether a process with this pid exists on this host (EPERM: it exists, owned by another
  /// user).
  static func isLiveProcess(_ pid: pid_t) -> Bool {
    kill(pid, 0) == 0 || errno == EPERM
  }
}
