import Testing

@testable import Tensors

/// C = alpha·op(A)·op(B) + beta·C computed with a triple loop in Double.
private func naiveGemm(
  transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: [Float], lda: Int,
  b: [Float], ldb: Int, beta: Float, c: [Float], ldc: Int
) -> [Float] {
  var out = c
  for i in 0..<m {
    for j in 0..<n {
      var s = 0.0
      for p in 0..<k {
        let av = transA ? a[p * lda + i] : a[i * lda + p]
        let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
        s += Double(av) * Double(bv)
      }
      out[i * ldc + j] = Float(Double(alpha) * s + Double(beta) * Double(c[i * ldc + j]))
    }
  }
  return out
}

private func randomArray(_ n: Int, _ rng: inout SeededRNG) -> [Float] {
  (0..<n).map { _ in rng.nextUniform(-1, 1) }
}

@Suite struct BLASTests {
  @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
  func sgemmMatchesNaiveLoop(transA: Bool, transB: Bool) {
    var rng = SeededRNG(seed: 42)
    let (m, n, k) = (7, 5, 11)
    // Padded leading dimensions exercise lda/ldb/ldc beyond the logical width.
    let lda = (transA ? m : k) + 3
    let ldb = (transB ? k : n) + 2
    let ldc = n + 1
    let a = randomArray((transA ? k : m) * lda, &rng)
    let b = randomArray((transB ? n : k) * ldb, &rng)
    let c0 = randomArray(m * ldc, &rng)
    let (alpha, beta): (Float, Float) = (0.75, -0.5)
    var c = c0
    a.withUnsafeBufferPointer { ap in
      b.withUnsafeBufferPointer { bp in
        c.withUnsafeMutableBufferPointer { cp in
          BLAS.sgemm(
            transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
            a: ap.baseAddress!, lda: lda, b: bp.baseAddress!, ldb: ldb,
            beta: beta, c: cp.baseAddress!, ldc: ldc)
        }
      }
    }
    let expected = naiveGemm(
      transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b,
      ldb: ldb, beta: beta, c: c0, ldc: ldc)
    for i in 0..<m {
      for j in 0..<ldc {
        // Columns past n are padding: sgemm must leave them untouched.
        let tolerance: Float = j < n ? 1e-5 : 0
        #expect(abs(c[i * ldc + j] - expected[i * ldc + j]) <= tolerance, "C[\(i), \(j)]")
      }
    }
  }

  @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
  func matmulMatchesNaiveLoop(transposeA: Bool, transposeB: Bool) {
    var rng = SeededRNG(seed: 7)
    let (m, n, k) = (13, 6, 9)
    let aShape = transposeA ? [k, m] : [m, k]
    let bShape = transposeB ? [n, k] : [k, n]
    let a = Tensor(shape: aShape, data: randomArray(m * k, &rng))
    let b = Tensor(shape: bShape, data: randomArray(k * n, &rng))
    let c = matmul(a, b, transposeA: transposeA, transposeB: transposeB)
    #expect(c.shape == [m, n])
    let expected = naiveGemm(
      transA: transposeA, transB: transposeB, m: m, n: n, k: k, alpha: 1, a: a.data,
      lda: aShape[1], b: b.data, ldb: bShape[1], beta: 0, c: [Float](repeating: 0, count: m * n),
      ldc: n)
    for i in 0..<(m * n) {
      #expect(abs(c.data[i] - expected[i]) <= 1e-5, "element \(i)")
    }
  }

  @Test func matmulKnownValues() {
    let a = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
    let b = Tensor(shape: [3, 2], data: [7, 8, 9, 10, 11, 12])
    #expect(matmul(a, b).data == [58, 64, 139, 154])
    #expect(matmul(a, a, transposeB: true).data == [14, 32, 32, 77])
    #expect(matmul(a, a, transposeA: true).shape == [3, 3])
  }

  @Test func zeroInnerDimensionGivesZeros() {
    let a = Tensor(zeros: [3, 0])
    let b = Tensor(zeros: [0, 4])
    let c = matmul(a, b)
    #expect(c.shape == [3, 4])
    #expect(c.data.allSatisfy { $0 == 0 })
  }

  @Test func threadsAndCoreName() {
    BLAS.setThreads(1)
    #expect(!BLAS.coreName.isEmpty)
  }
}
