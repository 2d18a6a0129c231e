import ChildProcesses

/// Process-level hooks the CLI calls without importing lower layers itself.
public enum ChildProcessHooks {
  /// In a child of the sweep: die with the parent (PR_SET_PDEATHSIG).
  @discardableResult
  public static func dieWithParent() -> Bool {
    ChildProcess.dieWithParent()
    return true
  }
}
