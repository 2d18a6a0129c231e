import Dispatch

#if canImport(Glibc)
  import Glibc
#endif

/// Coarse-grained data parallelism for the element-wise and per-sample work around the GEMMs
/// (im2col / col2im, batch norm, pooling, ReLU, bias): the work is split into at most `threads`
/// contiguous ranges, run on `DispatchQueue.concurrentPerform` (the calling thread takes one).
///
/// `threads` is the same setting as OpenBLAS's: `BLAS.setThreads(n)` sets both, so a process
/// configured for one thread stays single-threaded (the default is 1). Callers split only work
/// whose result does not depend on the split — maps over samples or channels, and reductions
/// whose order is fixed per output element (a channel's sum runs over the samples in order on
/// whichever thread owns the channel) — so results are bitwise the same at any thread count.
public enum Parallel {
  nonisolated(unsafe) private static var configuredThreads = 1
  /// A thread count for the current task only (`withThreads`), over the process-wide one.
  @TaskLocal static var scopedThreads: Int?

  /// The number of threads of later parallel loops and `BLAS.sgemm`.
  public static var threads: Int { scopedThreads ?? configuredThreads }

  /// Sets the number of threads for later parallel loops (process-wide); see `BLAS.setThreads`,
  /// which calls it.
  public static func setThreads(_ n: Int) {
    precondition(n >= 1, "Parallel.setThreads: need at least one thread, got \(n)")
    configuredThreads = n
    Memory.keepFreedPages()
  }

  /// Runs `body` with `n` threads for the parallel loops and `sgemm` it starts from the current
  /// task (others keep the process-wide count); for tests that compare thread counts while other
  /// tests run.
  public static func withThreads<R>(_ n: Int, _ body: () throws -> R) rethrows -> R {
    precondition(n >= 1, "Parallel.withThreads: need at least one thread, got \(n)")
    return try $scopedThreads.withValue(n, operation: body)
  }

  /// How many ranges `forEachRange` splits `count` items into: `tasksPerThread` per thread (the
  /// threads take them as they finish, so a thread that shares its core with another process
  /// holds the others up less), each at least `grain` items, so small work stays on the calling
  /// thread; 1 with one thread.
  public static func taskCount(_ count: Int, grain: Int) -> Int {
    let threads = threads
    guard threads > 1 else { return 1 }
    return max(1, min(tasksPerThread * threads, count / max(1, grain)))
  }

  /// Ranges per thread of a parallel loop.
  static let tasksPerThread = 2

  /// Calls `body` on contiguous ranges that partition `0..<count` (see `taskCount`),
  /// concurrently when there is more than one. `body` must only write what its range owns.
  public static func forEachRange(
    _ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void
  ) {
    let tasks = taskCount(count, grain: grain)
    if tasks <= 1 {
      if count > 0 { body(0..<count) }
      return
    }
    // concurrentPerform returns only when every iteration has run, so `body` does not escape.
    withoutActuallyEscaping(body) { body in
      let task = UncheckedSendable(body)
      DispatchQueue.concurrentPerform(iterations: tasks) { t in
        task.value((t * count / tasks)..<((t + 1) * count / tasks))
      }
    }
  }

  /// Calls `body(i)` for every `i` in `0..<count`, in contiguous ranges per thread (see
  /// `forEachRange`).
  @inlinable
  public static func forEach(_ count: Int, grain: Int = 1, _ body: (Int) -> Void) {
    forEachRange(count, grain: grain) { range in
      for i in range { body(i) }
    }
  }
}

/// A value handed to the threads of one `Parallel` loop, which the loop outlives; what `body`
/// touches is the caller's business (each task writes only its own range).
struct UncheckedSendable<T>: @unchecked Sendable {
  let value: T
  init(_ value: T) { self.value = value }
}

/// Process-wide allocator settings for training.
public enum Memory {
  nonisolated(unsafe) private static var configured = false

  /// Keeps freed memory in the process instead of returning it to the system (glibc's
  /// `M_TRIM_THRESHOLD` and `M_MMAP_THRESHOLD` raised): a training step allocates and frees the
  /// same multi-megabyte activations every step, and with the defaults each of them comes back as
  /// fresh zero-filled pages (a page fault per 4 KB, about a tenth of a LeNet-5 step). Peak
  /// memory is unchanged; the process just keeps its high-water mark. Idempotent.
  public static func keepFreedPages() {
    guard !configured else { return }
    configured = true
    #if canImport(Glibc)
      // `mallopt` is in <malloc.h>, which the Glibc module does not import.
      typealias MallOpt = @convention(c) (Int32, Int32) -> Int32
      guard let process = dlopen(nil, RTLD_NOW), let symbol = dlsym(process, "mallopt") else {
        return
      }
      let mallopt = unsafeBitCast(symbol, to: MallOpt.self)
      let (trimThreshold, mmapThreshold): (Int32, Int32) = (-1, -3)  // M_TRIM_/M_MMAP_THRESHOLD
      _ = mallopt(mmapThreshold, 32 << 20)  // glibc's maximum on 64-bit
      _ = mallopt(trimThreshold, Int32.max)
    #endif
  }
}
