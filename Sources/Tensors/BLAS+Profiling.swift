#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

extension BLAS {
  /// Wall-clock time spent inside `BLAS.sgemm`'s call to OpenBLAS, for profiling a training
  /// step (what fraction of it is GEMM). Off by default; when off, `sgemm` pays one load of a
  /// flag. Not thread-safe: switch it on only in a single-threaded measurement (a product split
  /// over `Parallel`'s threads is fine, the timed region is the whole call on the calling
  /// thread).
  public enum Profiler {
    nonisolated(unsafe) public static var isEnabled = false
    /// Seconds spent in sgemm since the last `reset()` while enabled.
    nonisolated(unsafe) public private(set) static var seconds: Double = 0
    /// Number of timed sgemm calls since the last `reset()`.
    nonisolated(unsafe) public private(set) static var calls = 0
    /// Multiply-adds (`m·n·k`) of the timed calls since the last `reset()`.
    nonisolated(unsafe) public private(set) static var multiplyAdds: Double = 0

    /// Zeroes the counters (leaves `isEnabled` alone).
    public static func reset() {
      seconds = 0
      calls = 0
      multiplyAdds = 0
    }

    /// Monotonic clock in seconds.
    public static func now() -> Double {
      var ts = timespec()
      clock_gettime(CLOCK_MONOTONIC, &ts)
      return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    static func record(since start: Double, m: Int, n: Int, k: Int) {
      seconds += now() - start
      calls += 1
      multiplyAdds += Double(m) * Double(n) * Double(k)
    }
  }
}
