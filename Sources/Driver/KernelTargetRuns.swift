import KernelBuild
import KernelRun

extension RunLauncher {
  /// How `target`'s binaries run: behind its launcher prefix (qemu-aarch64 for the cross
  /// target), or on its remote host through its ssh template. Throws for a bad remote host.
  init(target: KernelTarget) throws {
    self.init(
      prefix: target.launcher, emulated: target.emulated,
      remote: try target.remoteHost.map {
        try RemoteLauncher(host: $0, run: target.remoteTemplate ?? TargetRegistry.sshTemplate)
      })
  }
}

extension RunSettings {
  /// Correctness only, for an emulated target: one sample, no warm-up, only a software event
  /// (no PMU under qemu).
  mutating func checkOnly() {
    warmup = 0
    minRepeats = 1
    maxRepeats = 1
    budgetSeconds = 0
    events = ["perf::task-clock"]
    eventGroups = nil
  }
}
