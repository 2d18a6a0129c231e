import CBLAS

/// Thin wrapper over OpenBLAS's CBLAS interface (row-major only).
public enum BLAS {
  /// Sets the number of threads for later calls (process-wide): for `sgemm` and for blkrew's own
  /// parallel loops (`Parallel.setThreads`, which also switches on `Memory.keepFreedPages`).
  ///
  /// OpenBLAS itself is kept on one thread: with `n > 1`, `sgemm` splits a large product into
  /// `n` blocks of rows or columns and runs them on `Parallel`'s threads, so that one set of
  /// threads runs both the GEMMs and the work around them. (OpenBLAS's own workers busy-wait with
  /// `sched_yield` for a while after every threaded call, and on a small machine they took the
  /// cores from the parallel loops around the GEMMs.)
  public static func setThreads(_ n: Int) {
    precondition(n >= 1, "BLAS.setThreads: need at least one thread, got \(n)")
    openblas_set_num_threads(1)
    Parallel.setThreads(n)
  }

  /// Multiply-adds below which `sgemm` does not split a product over threads (OpenBLAS's own
  /// threshold, 65536 x GEMM_MULTITHREAD_THRESHOLD 4).
  static let splitThreshold = 1 << 18
  /// False turns splitting off in the current task: tests compare the other parallel loops
  /// bitwise across thread counts with it.
  @TaskLocal static var splitsProducts = true

  /// Into how many blocks `sgemm` splits an `m x n x k` product at the configured thread count:
  /// at most two per thread (taken as threads finish, so one that shares its core with another
  /// process holds the others up less), each at least 16 rows or columns and `splitThreshold / 2`
  /// multiply-adds; 1 below `splitThreshold` or with one thread.
  ///
  /// A split never divides the inner sum, but OpenBLAS picks its kernel by the block's shape (a
  /// "small matrix" kernel below about 10⁶ multiply-adds), so entries can differ in the last
  /// bits between thread counts; at one thread count the blocks, and so the bits, are fixed.
  static func splitParts(m: Int, n: Int, k: Int) -> Int {
    let threads = Parallel.threads
    guard threads > 1 else { return 1 }
    let work = m * n * k
    guard work >= splitThreshold, splitsProducts else { return 1 }
    return max(1, min(2 * threads, max(m, n) / 16, work / (splitThreshold / 2)))
  }

  /// The OpenBLAS kernel core in use (e.g. "Haswell", "SkylakeX"), as `openblas_get_corename`
  /// reports it; "unknown" if it reports nothing.
  public static var coreName: String {
    guard let name = openblas_get_corename() else { return "unknown" }
    return String(cString: name)
  }

  /// OpenBLAS's build description as `openblas_get_config` reports it: version, build options and
  /// core (e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64").
  public static var config: String {
    guard let c = openblas_get_config() else { return "unknown" }
    return String(cString: c)
  }

  /// `C = alpha * op(A) * op(B) + beta * C`, all matrices row-major.
  ///
  /// `op(A)` is `m x k` and `op(B)` is `k x n`; `C` is `m x n` with leading dimension `ldc`.
  /// With `transA == false`, `A` is stored `m x k` (`lda >= k`); with `transA == true` it is
  /// stored `k x m` (`lda >= m`). Likewise `B` is stored `k x n` (`ldb >= n`) or `n x k`
  /// (`ldb >= k`). When `beta == 0`, `C` need not be initialised.
  public static func sgemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    precondition(m >= 0 && n >= 0 && k >= 0, "BLAS.sgemm: negative size m=\(m) n=\(n) k=\(k)")
    precondition(lda >= max(1, transA ? m : k), "BLAS.sgemm: lda \(lda) too small")
    precondition(ldb >= max(1, transB ? k : n), "BLAS.sgemm: ldb \(ldb) too small")
    precondition(ldc >= max(1, n), "BLAS.sgemm: ldc \(ldc) too small")
    precondition(
      max(m, n, k, lda, ldb, ldc) <= Int(Int32.max), "BLAS.sgemm: size exceeds 32-bit BLAS")
    if m == 0 || n == 0 { return }
    if k == 0 {
      // BLAS leaves C scaled by beta; do it here so a zero inner size is well defined.
      for i in 0..<m {
        let row = c + i * ldc
        for j in 0..<n { row[j] = beta == 0 ? 0 : beta * row[j] }
      }
      return
    }
    let start = Profiler.isEnabled ? Profiler.now() : 0
    let parts = splitParts(m: m, n: n, k: k)
    let (ta, tb) = (transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans)
    if parts <= 1 {
      cblas_sgemm(
        CblasRowMajor, ta, tb, blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b,
        blasint(ldb), beta, c, blasint(ldc))
    } else {
      // Blocks of whole rows of C (rows of op(A)) or whole columns (columns of op(B)), whichever
      // side is longer, with boundaries at multiples of 16; each block is one single-threaded
      // OpenBLAS call, so a block's entries are computed as by one call of that shape.
      let alongRows = m > n
      let extent = alongRows ? m : n
      @inline(__always) func bound(_ p: Int) -> Int {
        p == parts ? extent : min(extent, (p * extent / parts + 15) & ~15)
      }
      Parallel.forEach(parts) { p in
        let (lo, hi) = (bound(p), bound(p + 1))
        guard lo < hi else { return }
        if alongRows {
          cblas_sgemm(
            CblasRowMajor, ta, tb, blasint(hi - lo), blasint(n), blasint(k), alpha,
            a + (transA ? lo : lo * lda), blasint(lda), b, blasint(ldb), beta, c + lo * ldc,
            blasint(ldc))
        } else {
          cblas_sgemm(
            CblasRowMajor, ta, tb, blasint(m), blasint(hi - lo), blasint(k), alpha, a,
            blasint(lda), b + (transB ? lo * ldb : lo), blasint(ldb), beta, c + lo, blasint(ldc))
        }
      }
    }
    if Profiler.isEnabled { Profiler.record(since: start, m: m, n: n, k: k) }
  }

  /// `op(a) * op(b)` for matrices; see the free function `matmul`.
  public static func matmul(
    _ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false
  ) -> Tensor {
    precondition(a.shape.count == 2 && b.shape.count == 2, "matmul: needs matrices")
    let m = transposeA ? a.shape[1] : a.shape[0]
    let k = transposeA ? a.shape[0] : a.shape[1]
    let kb = transposeB ? b.shape[1] : b.shape[0]
    let n = transposeB ? b.shape[0] : b.shape[1]
    precondition(
      k == kb,
      "matmul: inner sizes differ (\(a.shape)\(transposeA ? "^T" : "") x \(b.shape)\(transposeB ? "^T" : ""))"
    )
    var c = Tensor(zeros: [m, n])
    a.data.withUnsafeBufferPointer { pa in
      b.data.withUnsafeBufferPointer { pb in
        c.data.withUnsafeMutableBufferPointer { pc in
          guard let ap = pa.baseAddress, let bp = pb.baseAddress, let cp = pc.baseAddress else {
            return  // an empty operand: c stays zero
          }
          sgemm(
            transA: transposeA, transB: transposeB, m: m, n: n, k: k, alpha: 1,
            a: ap, lda: max(1, a.shape[1]), b: bp, ldb: max(1, b.shape[1]),
            beta: 0, c: cp, ldc: max(1, n))
        }
      }
    }
    return c
  }
}

/// Matrix product `op(a) * op(b)` through `BLAS.sgemm`, where `op` transposes when asked.
/// `a` and `b` must be rank-2 with matching inner sizes; the result is `[m, n]`.
public func matmul(
  _ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false
) -> Tensor {
  BLAS.matmul(a, b, transposeA: transposeA, transposeB: transposeB)
}
