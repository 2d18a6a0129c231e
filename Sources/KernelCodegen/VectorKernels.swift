import Foundation
import TuningSchema

/// Kernels written against a small vector layer (`blk_vec`, `blk_vload`, `blk_vfma`, ...) that
/// each ISA defines with its intrinsics: every format with a non-scalar `isa`, and the csr and
/// block-row formats with any `isa` (scalar: `blk_vec` is an 8-lane GCC/Clang vector type).
///
/// - N > 1 (every format): register tiles of R rows x BLK_NT columns of Y in R x BLK_NV vectors of
///   BLK_VW lanes (masked loads and stores for the lanes past N), `unroll` entries per iteration;
///   entries with one accumulator set each when a tile has one row (csr, block-row).
/// - N = 1: dense and csr are per-row dot products in `unroll` vector accumulators (csr gathers
///   X through its column indices); block-column vectorises over the rows of a block (a kept
///   column's br values are contiguous); block-row over the bc values of a kept row segment.
extension KernelGenerator {
  /// Lanes of one `float` vector of `isa`.
  public static func vectorLanes(_ isa: KernelISA) -> Int {
    switch isa {
    case .scalar: 8
    case .avx2: 8
    case .avx512: 16
    case .neon: 4
    }
  }

  /// The compiler flags the intrinsics of `isa` need (NEON is part of armv8-a).
  public static func isaFlags(_ isa: KernelISA) -> [String] {
    switch isa {
    case .scalar, .neon: []
    case .avx2: ["-mavx2", "-mfma"]
    case .avx512: ["-mavx512f"]
    }
  }

  /// The ISAs a CPU with these /proc/cpuinfo flags runs (scalar first; `KernelISA.supported`).
  public static func supportedISAs(cpuFlags: Set<String>) -> [KernelISA] {
    KernelISA.supported(cpuFlags: cpuFlags)
  }

  /// The host's /proc/cpuinfo flags (`KernelISA.hostCPUFlags`).
  public static func hostCPUFlags(cpuinfo path: String = "/proc/cpuinfo") -> Set<String> {
    KernelISA.hostCPUFlags(cpuinfo: path)
  }

  // MARK: - The vector layer

  static func vectorLayer(_ c: inout CWriter, _ isa: KernelISA) {
    c.line("/* The vector layer (\(isa.rawValue)): blk_vec holds BLK_VW floats. */")
    c.line("#define BLK_VINLINE static inline __attribute__((always_inline, unused))")
    switch isa {
    case .scalar:
      // GCC/Clang vector extensions, 8 lanes: the compiler picks the instructions.
      c.lines([
        "#define BLK_VW 8",
        "typedef float blk_vec __attribute__((vector_size(32), aligned(4), may_alias));",
        "BLK_VINLINE blk_vec blk_vzero(void) { return (blk_vec){0}; }",
        "BLK_VINLINE blk_vec blk_vset1(float x) { return (blk_vec){0} + x; }",
        "BLK_VINLINE blk_vec blk_vload(const float *p) { return *(const blk_vec *)p; }",
        "BLK_VINLINE blk_vec blk_vloadn(const float *p, int n) {",
        "  blk_vec v = {0};",
        "  memcpy(&v, p, sizeof(float) * (size_t)n);",
        "  return v;",
        "}",
        "BLK_VINLINE void blk_vstore(float *p, blk_vec v) { *(blk_vec *)p = v; }",
        "BLK_VINLINE void blk_vstoren(float *p, blk_vec v, int n) { memcpy(p, &v, sizeof(float) * (size_t)n); }",
        "BLK_VINLINE blk_vec blk_vadd(blk_vec a, blk_vec b) { return a + b; }",
        "BLK_VINLINE blk_vec blk_vfma(blk_vec a, blk_vec b, blk_vec acc) { return acc + a * b; }",
        "BLK_VINLINE float blk_vhsum(blk_vec v) {",
        "  float s = 0.0f;",
        "  for (int i = 0; i < 8; i++) s += v[i];",
        "  return s;",
        "}",
        "BLK_VINLINE blk_vec blk_vgather(const float *base, const int *idx) {",
        "  return (blk_vec){base[idx[0]], base[idx[1]], base[idx[2]], base[idx[3]], base[idx[4]], base[idx[5]], base[idx[6]], base[idx[7]]};",
        "}",
        "BLK_VINLINE blk_vec blk_vgathern(const float *base, const int *idx, int n) {",
        "  blk_vec v = {0};",
        "  for (int i = 0; i < n; i++) v[i] = base[idx[i]];",
        "  return v;",
        "}",
      ])
    case .avx2:
      c.lines([
        "#if !defined(__AVX2__) || !defined(__FMA__)",
        "#error \"isa avx2 needs -mavx2 -mfma\"",
        "#endif",
        "#include <immintrin.h>",
        "#define BLK_VW 8",
        "typedef __m256 blk_vec;",
        "BLK_VINLINE __m256i blk_vmask(int n) {",
        "  static const int t[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};",
        "  return _mm256_loadu_si256((const __m256i *)(t + 8 - n));",
        "}",
        "BLK_VINLINE blk_vec blk_vzero(void) { return _mm256_setzero_ps(); }",
        "BLK_VINLINE blk_vec blk_vset1(float x) { return _mm256_set1_ps(x); }",
        "BLK_VINLINE blk_vec blk_vload(const float *p) { return _mm256_loadu_ps(p); }",
        "BLK_VINLINE blk_vec blk_vloadn(const float *p, int n) { return _mm256_maskload_ps(p, blk_vmask(n)); }",
        "BLK_VINLINE void blk_vstore(float *p, blk_vec v) { _mm256_storeu_ps(p, v); }",
        "BLK_VINLINE void blk_vstoren(float *p, blk_vec v, int n) { _mm256_maskstore_ps(p, blk_vmask(n), v); }",
        "BLK_VINLINE blk_vec blk_vadd(blk_vec a, blk_vec b) { return _mm256_add_ps(a, b); }",
        "BLK_VINLINE blk_vec blk_vfma(blk_vec a, blk_vec b, blk_vec acc) { return _mm256_fmadd_ps(a, b, acc); }",
        "BLK_VINLINE float blk_vhsum(blk_vec v) {",
        "  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));",
        "  s = _mm_add_ps(s, _mm_movehl_ps(s, s));",
        "  s = _mm_add_ss(s, _mm_movehdup_ps(s));",
        "  return _mm_cvtss_f32(s);",
        "}",
        "BLK_VINLINE blk_vec blk_vgather(const float *base, const int *idx) {",
        "  return _mm256_i32gather_ps(base, _mm256_loadu_si256((const __m256i *)idx), 4);",
        "}",
        "BLK_VINLINE blk_vec blk_vgathern(const float *base, const int *idx, int n) {",
        "  const __m256i m = blk_vmask(n);",
        "  return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), base, _mm256_maskload_epi32(idx, m), _mm256_castsi256_ps(m), 4);",
        "}",
      ])
    case .avx512:
      c.lines([
        "#if !defined(__AVX512F__)",
        "#error \"isa avx512 needs -mavx512f\"",
        "#endif",
        "#include <immintrin.h>",
        "#define BLK_VW 16",
        "typedef __m512 blk_vec;",
        "BLK_VINLINE __mmask16 blk_vmask(int n) { return (__mmask16)((1u << n) - 1u); }",
        "BLK_VINLINE blk_vec blk_vzero(void) { return _mm512_setzero_ps(); }",
        "BLK_VINLINE blk_vec blk_vset1(float x) { return _mm512_set1_ps(x); }",
        "BLK_VINLINE blk_vec blk_vload(const float *p) { return _mm512_loadu_ps(p); }",
        "BLK_VINLINE blk_vec blk_vloadn(const float *p, int n) { return _mm512_maskz_loadu_ps(blk_vmask(n), p); }",
        "BLK_VINLINE void blk_vstore(float *p, blk_vec v) { _mm512_storeu_ps(p, v); }",
        "BLK_VINLINE void blk_vstoren(float *p, blk_vec v, int n) { _mm512_mask_storeu_ps(p, blk_vmask(n), v); }",
        "BLK_VINLINE blk_vec blk_vadd(blk_vec a, blk_vec b) { return _mm512_add_ps(a, b); }",
        "BLK_VINLINE blk_vec blk_vfma(blk_vec a, blk_vec b, blk_vec acc) { return _mm512_fmadd_ps(a, b, acc); }",
        "BLK_VINLINE float blk_vhsum(blk_vec v) { return _mm512_reduce_add_ps(v); }",
        "BLK_VINLINE blk_vec blk_vgather(const float *base, const int *idx) {",
        "  return _mm512_i32gather_ps(_mm512_loadu_si512((const void *)idx), base, 4);",
        "}",
        "BLK_VINLINE blk_vec blk_vgathern(const float *base, const int *idx, int n) {",
        "  const __mmask16 m = blk_vmask(n);",
        "  return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, _mm512_maskz_loadu_epi32(m, idx), base, 4);",
        "}",
      ])
    case .neon:
      c.lines([
        "#include <arm_neon.h>",
        "#define BLK_VW 4",
        "typedef float32x4_t blk_vec;",
        "BLK_VINLINE blk_vec blk_vzero(void) { return vdupq_n_f32(0.0f); }",
        "BLK_VINLINE blk_vec blk_vset1(float x) { return vdupq_n_f32(x); }",
        "BLK_VINLINE blk_vec blk_vload(const float *p) { return vld1q_f32(p); }",
        "BLK_VINLINE blk_vec blk_vloadn(const float *p, int n) {",
        "  float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};",
        "  memcpy(t, p, sizeof(float) * (size_t)n);",
        "  return vld1q_f32(t);",
        "}",
        "BLK_VINLINE void blk_vstore(float *p, blk_vec v) { vst1q_f32(p, v); }",
        "BLK_VINLINE void blk_vstoren(float *p, blk_vec v, int n) {",
        "  float t[4];",
        "  vst1q_f32(t, v);",
        "  memcpy(p, t, sizeof(float) * (size_t)n);",
        "}",
        "BLK_VINLINE blk_vec blk_vadd(blk_vec a, blk_vec b) { return vaddq_f32(a, b); }",
        "BLK_VINLINE blk_vec blk_vfma(blk_vec a, blk_vec b, blk_vec acc) { return vfmaq_f32(acc, a, b); }",
        "BLK_VINLINE float blk_vhsum(blk_vec v) { return vaddvq_f32(v); }",
        "BLK_VINLINE blk_vec blk_vgather(const float *base, const int *idx) {",
        "  const float t[4] = {base[idx[0]], base[idx[1]], base[idx[2]], base[idx[3]]};",
        "  return vld1q_f32(t);",
        "}",
        "BLK_VINLINE blk_vec blk_vgathern(const float *base, const int *idx, int n) {",
        "  float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};",
        "  for (int i = 0; i < n; i++) t[i] = base[idx[i]];",
        "  return vld1q_f32(t);",
        "}",
      ])
    }
    c.line("")
  }

  // MARK: - Register tiles over N

  /// Emits `blk_tile(params, R, T)`: R rows x T (<= BLK_NT) columns of Y in vector accumulators
  /// (BLK_AS sets of R x BLK_NV), over entries e in [begin, end) (inside `outer`, a loop with its
  /// prologue, when given), `unroll` entries per iteration. `x(u)` is the row of X of entry e + u
  /// (offset to the tile's first column), `w(u)` its weight for row r. X and Y arrive offset to
  /// the tile's first column; R and T are constants at every call, so the loops fold away.
  ///
  /// With `groups` (baked indices), the entries are the constants 0..<E in those groups, one
  /// block of straight-line code each, instead of a loop over [begin, end) (`name` names the
  /// function then).
  static func vectorTile(
    _ c: inout CWriter, unroll: Int, sets: Int, parameters: String,
    outer: (open: String, lines: [String])?, begin: String, end: String,
    x: (Int) -> String, w: (Int) -> String, load: (Int) -> [String],
    name: String = "blk_tile", groups: [[Int]]? = nil
  ) {
    c.line("/* R rows x T (<= BLK_NT) columns of Y, in BLK_AS x R x BLK_NV vector accumulators. */")
    c.open("BLK_INLINE void \(name)(\(parameters), const int R, const int T) {")
    c.line("blk_vec acc[BLK_AS][BLK_RT][BLK_NV];")
    c.line(
      "for (int a = 0; a < BLK_AS; a++) for (int r = 0; r < R; r++) for (int i = 0; i < BLK_NV; i++) acc[a][r][i] = blk_vzero();"
    )
    if let outer {
      c.open(outer.open)
      c.lines(outer.lines)
    }
    func body(_ c: inout CWriter, _ us: [Int]) {
      for u in us { c.lines(load(u) + ["const float *restrict x\(u) = \(x(u));"]) }
      c.open("for (int i = 0; i < BLK_NV; i++) {")
      c.line("const int n = T - i * BLK_VW;")
      c.line("if (n <= 0) break;")
      for u in us {
        c.line(
          "const blk_vec xv\(u) = n >= BLK_VW ? blk_vload(x\(u) + i * BLK_VW) : blk_vloadn(x\(u) + i * BLK_VW, n);"
        )
      }
      c.open("for (int r = 0; r < R; r++) {")
      for (slot, u) in us.enumerated() {
        let a = (groups == nil ? u : slot) % sets
        c.line("acc[\(a)][r][i] = blk_vfma(blk_vset1(\(w(u))), xv\(u), acc[\(a)][r][i]);")
      }
      c.close()
      c.close()
    }
    entryLoops(&c, begin: begin, end: end, unroll: unroll, groups: groups, body: body)
    if outer != nil { c.close() }
    c.open("for (int r = 0; r < R; r++) {")
    c.open("for (int i = 0; i < BLK_NV; i++) {")
    c.line("const int n = T - i * BLK_VW;")
    c.line("if (n <= 0) break;")
    c.line("blk_vec s = acc[0][r][i];")
    c.line("for (int a = 1; a < BLK_AS; a++) s = blk_vadd(s, acc[a][r][i]);")
    c.line("float *y = Y + (size_t)r * BLK_N + i * BLK_VW;")
    c.line("if (n >= BLK_VW) blk_vstore(y, s); else blk_vstoren(y, s, n);")
    c.close()
    c.close()
    c.close()
    c.line("")
  }

  /// The tile defines for N > 1: vectors per tile, rows per tile, accumulator sets.
  static func tileDefines(_ c: inout CWriter, nTile: Int, lanes: Int, rowTile: Int, sets: Int) {
    c.line("#define BLK_NV \((nTile + lanes - 1) / lanes) /* vectors per tile row */")
    c.line("#define BLK_RT \(rowTile) /* rows per register tile */")
    c.line("#define BLK_AS \(sets) /* accumulator sets */")
    c.line("")
  }

  /// Rows per register tile: about 12 vector accumulators.
  static func vectorRowTile(nTile: Int, lanes: Int, maxRows: Int) -> Int {
    max(1, min(maxRows, 12 / ((nTile + lanes - 1) / lanes)))
  }

  /// Row-by-row tile calls (csr, block-row): `call(n0, T)` for the column tiles of row m.
  static func rowTileCalls(
    _ c: inout CWriter, batch: Int, nTile: Int, call: (String, String) -> String
  ) {
    let nFull = (batch / nTile) * nTile
    let nTail = batch - nFull
    if nFull > 0 {
      c.line("for (int n0 = 0; n0 < \(nFull); n0 += BLK_NT) \(call("n0", "BLK_NT"));")
    }
    if nTail > 0 { c.line("\(call("\(nFull)", "\(nTail)"));") }
  }

  /// A dot product of `count` floats in `unroll` accumulators: `a(j)` and `b(j)` are full-vector
  /// loads at offset j, `an(j, n)`/`bn(j, n)` the masked ones; the result goes to `result`.
  static func dot(
    _ c: inout CWriter, unroll u: Int, begin: String, count: String, result: String,
    a: (String) -> String, b: (String) -> String, an: (String, String) -> String,
    bn: (String, String) -> String
  ) {
    c.line("blk_vec acc[\(u)];")
    c.line("for (int a = 0; a < \(u); a++) acc[a] = blk_vzero();")
    c.line("int j = \(begin);")
    if u > 1 {
      c.open("for (; j + \(u) * BLK_VW <= \(count); j += \(u) * BLK_VW) {")
      for i in 0..<u {
        let o = "j + \(i) * BLK_VW"
        c.line("acc[\(i)] = blk_vfma(\(a(o)), \(b(o)), acc[\(i)]);")
      }
      c.close()
    }
    c.line(
      "for (; j + BLK_VW <= \(count); j += BLK_VW) acc[0] = blk_vfma(\(a("j")), \(b("j")), acc[0]);"
    )
    c.line(
      "if (j < \(count)) acc[0] = blk_vfma(\(an("j", "\(count) - j")), \(bn("j", "\(count) - j")), acc[0]);"
    )
    c.line("for (int a = 1; a < \(u); a++) acc[0] = blk_vadd(acc[0], acc[a]);")
    c.line("\(result) = blk_vhsum(acc[0]);")
  }

  // MARK: - The formats

  static func explicitKernel(_ c: inout CWriter, _ v: KernelVariant) {
    vectorLayer(&c, v.knobs.isa)
    switch v.workload.format {
    case .dense: vectorDense(&c, v)
    case .blockColumn: vectorBlockColumn(&c, v)
    case .csr: csr(&c, v)
    case .blockRow: blockRow(&c, v)
    case .blockColumnRow: blockColumnRow(&c, v)
    }
  }

  private static func vectorDense(_ c: inout CWriter, _ v: KernelVariant) {
    let k = v.knobs
    let m = v.workload.rows
    let lanes = vectorLanes(k.isa)
    c.line("/* Dense: the masked weights W o mask, row-major [BLK_M][BLK_K]. */")
    c.open("void *blk_pack(const float *W, const unsigned char *mask, int M, int K) {")
    c.line("if (M != BLK_M || K != BLK_K) return NULL;")
    c.line("float *w = blk_alloc(sizeof(float) * (size_t)BLK_M * BLK_K);")
    c.line("if (!w) return NULL;")
    c.line("for (size_t i = 0; i < (size_t)BLK_M * BLK_K; i++) w[i] = mask[i] ? W[i] : 0.0f;")
    c.line("return w;")
    c.close()
    c.line("")
    c.line("void blk_free(void *packed) { free(packed); }")
    c.line("")
    if k.batch == 1 {
      c.line("/* N = 1: a GEMV, one dot product per row in BLK_UNROLL vector accumulators. */")
      c.open(
        "long long blk_kernel(const void *packed, const float *restrict X, float *restrict Y) {")
      c.line("const float *restrict w = packed;")
      c.open("for (int m = 0; m < BLK_M; m++) {")
      c.line("const float *restrict row = w + (size_t)m * BLK_K;")
      dot(
        &c, unroll: k.unroll, begin: "0", count: "BLK_K", result: "Y[m]",
        a: { "blk_vload(row + \($0))" }, b: { "blk_vload(X + \($0))" },
        an: { "blk_vloadn(row + \($0), \($1))" }, bn: { "blk_vloadn(X + \($0), \($1))" })
      c.close()
      c.line("return (long long)BLK_M * BLK_K * BLK_N;")
      c.close()
      return
    }
    let rt = vectorRowTile(nTile: k.nTile, lanes: lanes, maxRows: m)
    tileDefines(&c, nTile: k.nTile, lanes: lanes, rowTile: rt, sets: 1)
    vectorTile(
      &c, unroll: k.unroll, sets: 1,
      parameters: "const float *restrict w, const float *restrict X, float *restrict Y",
      outer: nil, begin: "0", end: "BLK_K", x: { "X + (size_t)(e + \($0)) * BLK_N" },
      w: { "w[(size_t)r * BLK_K + e + \($0)]" }, load: { _ in [] })
    c.open("long long blk_kernel(const void *packed, const float *restrict X, float *restrict Y) {")
    c.line("const float *restrict w = packed;")
    tileCalls(&c, height: m, rowTile: rt, batch: k.batch, nTile: k.nTile) { row, n0, rows, tail in
      "blk_tile(w + (size_t)\(row) * BLK_K, X + \(n0), Y + (size_t)\(row) * BLK_N + \(n0), \(rows), \(tail ?? "BLK_NT"))"
    }
    c.line("return (long long)BLK_M * BLK_K * BLK_N;")
    c.close()
  }

  private static func vectorBlockColumn(_ c: inout CWriter, _ v: KernelVariant) {
    let w = v.workload
    let k = v.knobs
    let lanes = vectorLanes(k.isa)
    let br = max(1, min(w.blockRows, w.rows))
    let bc = max(1, min(w.blockCols, w.cols))
    let fullRows = w.rows / br
    let tailRows = w.rows % br
    // N = 1 loads whole vectors of a column's values: pad to 4 floats (masked past that).
    let brp = k.batch == 1 ? (br + 3) / 4 * 4 : br
    blockColumnPack(&c, w, br: br, bc: bc, brp: brp, reorder: k.reorder)
    let u = k.unroll
    var rt = 1
    if k.batch == 1 {
      c.line("#define BLK_NVR ((BLK_BRP + BLK_VW - 1) / BLK_VW) /* vectors per kept column */")
      c.line("")
      c.line("/* N = 1: rows [0, H) of one block row, vectorised over the rows of the block, in")
      c.line(" * BLK_UNROLL accumulator sets (one per entry of an unrolled iteration). */")
      vectorRows(
        &c,
        signature:
          "BLK_INLINE void blk_rows(const int *restrict cols, const float *restrict vals, int e0, int e1, const float *restrict X, float *restrict Y, const int H)",
        unroll: u, height: "H", x: { "X[cols[e + \($0)]]" },
        v: { "vals + (size_t)(e + \($0)) * BLK_BRP" }, prefetch: weightPrefetchLines(k))
    } else {
      rt = vectorRowTile(nTile: k.nTile, lanes: lanes, maxRows: br)
      tileDefines(&c, nTile: k.nTile, lanes: lanes, rowTile: rt, sets: 1)
      vectorTile(
        &c, unroll: u, sets: 1,
        parameters:
          "const int *restrict cols, const float *restrict vals, int e0, int e1, const float *restrict X, float *restrict Y",
        outer: nil, begin: "e0", end: "e1",
        x: { "X + (size_t)cols[e + \($0)] * \(xStride(k))" },
        w: { "v\($0)[r]" },
        load: {
          prefetchLines(k, entry: $0, end: "e1")
            + ["const float *restrict v\($0) = vals + (size_t)(e + \($0)) * BLK_BRP;"]
        })
    }
    func rowBlock(_ c: inout CWriter, height: Int, heightName: String) {
      // With `reorder` the packed block rows are in processing order: position i, block row rb.
      let at = k.reorder ? "i" : "rb"
      c.line("const int e0 = p->row_start[\(at)];")
      c.line("const int e1 = p->row_start[\(at) + 1];")
      c.line("const size_t row0 = (size_t)rb * BLK_BR;")
      if k.batch == 1 {
        c.line("blk_rows(p->cols, p->vals, e0, e1, X, Y + row0, \(heightName));")
      } else {
        tileCalls(
          &c, height: height, rowTile: rt, batch: k.batch, nTile: k.nTile,
          nRange: k.nBlock > 0 ? ("nb", "ne") : nil
        ) {
          row, n0, rows, tail in
          "blk_tile(p->cols, p->vals + \(row), e0, e1, \(xBase(k, n0: n0)), Y + (row0 + \(row)) * BLK_N + \(n0), \(rows), \(tail ?? "BLK_NT"))"
        }
      }
      c.line(blockRowMACs(k, heightName: heightName))
    }
    blockRowsKernel(
      &c, br: br, fullRows: fullRows, tailRows: tailRows, threads: k.threads, nBlock: k.nBlock,
      nFull: k.batch / max(1, k.nTile) * k.nTile, reorder: k.reorder, packX: k.packX
    ) {
      rowBlock(&$0, height: $1, heightName: $2)
    }
  }

  /// The N = 1 block-row function `signature` (vectorised over the rows of the block): `unroll`
  /// accumulator sets, the entries e in [e0, e1) in a loop, or with `groups` (baked indices) the
  /// constant entries of each group in straight-line code. `x(slot)` is the X value of the
  /// group's slot-th entry and `v(slot)` its values (`e` is the loop's entry; with groups, the
  /// closures get the entry itself).
  static func vectorRows(
    _ c: inout CWriter, signature: String, unroll u: Int, height: String,
    x: (Int) -> String, v: (Int) -> String, groups: [[Int]]? = nil, prefetch: [String] = []
  ) {
    c.open(signature + " {")
    c.line("blk_vec acc[\(u)][BLK_NVR];")
    c.line(
      "for (int a = 0; a < \(u); a++) for (int i = 0; i < BLK_NVR; i++) acc[a][i] = blk_vzero();")
    /// Entries `es`, the `a`-th into accumulator set `a`.
    func body(_ c: inout CWriter, _ es: [Int]) {
      c.lines(prefetch)
      for (a, e) in es.enumerated() {
        c.line("const blk_vec x\(a) = blk_vset1(\(x(e)));")
        c.line("const float *restrict v\(a) = \(v(e));")
      }
      c.open("for (int i = 0; i < BLK_NVR; i++) {")
      c.line("const int n = BLK_BRP - i * BLK_VW;")
      for a in es.indices {
        c.line(
          "acc[\(a)][i] = blk_vfma(n >= BLK_VW ? blk_vload(v\(a) + i * BLK_VW) : blk_vloadn(v\(a) + i * BLK_VW, n), x\(a), acc[\(a)][i]);"
        )
      }
      c.close()
    }
    entryLoops(&c, begin: "e0", end: "e1", unroll: u, groups: groups, body: body)
    c.line("float out[BLK_NVR * BLK_VW];")
    c.open("for (int i = 0; i < BLK_NVR; i++) {")
    c.line("blk_vec s = acc[0][i];")
    c.line("for (int a = 1; a < \(u); a++) s = blk_vadd(s, acc[a][i]);")
    c.line("blk_vstore(out + i * BLK_VW, s);")
    c.close()
    c.line("for (int r = 0; r < \(height); r++) Y[r] = out[r];")
    c.close()
    c.line("")
  }

  private static func csr(_ c: inout CWriter, _ v: KernelVariant) {
    let k = v.knobs
    let lanes = vectorLanes(k.isa)
    c.line("/* CSR: row m's kept weights are entries [rp[m], rp[m + 1]): column cols[e], value")
    c.line(" * vals[e], in column order. */")
    c.open("typedef struct {")
    c.line("int rp[BLK_M + 1];")
    c.line("int *cols;")
    c.line("float *vals;")
    c.close("} blk_packed_t;")
    c.line("")
    c.open("void *blk_pack(const float *W, const unsigned char *mask, int M, int K) {")
    c.line("if (M != BLK_M || K != BLK_K) return NULL;")
    c.line("blk_packed_t *p = calloc(1, sizeof *p);")
    c.line("if (!p) return NULL;")
    c.line("int nnz = 0;")
    c.line("for (size_t i = 0; i < (size_t)BLK_M * BLK_K; i++) nnz += mask[i] != 0;")
    c.line("p->cols = malloc(sizeof(int) * (size_t)(nnz ? nnz : 1));")
    c.line("p->vals = blk_alloc(sizeof(float) * (size_t)(nnz ? nnz : 1));")
    c.line("if (!p->cols || !p->vals) { blk_free(p); return NULL; }")
    c.line("int e = 0;")
    c.open("for (int m = 0; m < BLK_M; m++) {")
    c.line("p->rp[m] = e;")
    c.open("for (int col = 0; col < BLK_K; col++) {")
    c.line("const size_t i = (size_t)m * BLK_K + col;")
    c.line("if (!mask[i]) continue;")
    c.line("p->cols[e] = col;")
    c.line("p->vals[e] = W[i];")
    c.line("e++;")
    c.close()
    c.close()
    c.line("p->rp[BLK_M] = e;")
    c.line("return p;")
    c.close()
    c.line("")
    c.open("void blk_free(void *packed) {")
    c.line("blk_packed_t *p = packed;")
    c.line("if (!p) return;")
    c.line("free(p->cols);")
    c.line("free(p->vals);")
    c.line("free(p);")
    c.close()
    c.line("")
    if k.batch == 1 {
      c.line("/* N = 1: per row, a dot product of its values with X gathered through cols. */")
      c.open(
        "long long blk_kernel(const void *packed, const float *restrict X, float *restrict Y) {")
      c.line("const blk_packed_t *p = packed;")
      c.line("const int *restrict cols = p->cols;")
      c.line("const float *restrict vals = p->vals;")
      c.open("for (int m = 0; m < BLK_M; m++) {")
      c.line("const int j1 = p->rp[m + 1];")
      dot(
        &c, unroll: k.unroll, begin: "p->rp[m]", count: "j1", result: "Y[m]",
        a: { "blk_vload(vals + \($0))" }, b: { "blk_vgather(X, cols + \($0))" },
        an: { "blk_vloadn(vals + \($0), \($1))" }, bn: { "blk_vgathern(X, cols + \($0), \($1))" })
      c.close()
      c.line("return (long long)p->rp[BLK_M] * BLK_N;")
      c.close()
      return
    }
    tileDefines(&c, nTile: k.nTile, lanes: lanes, rowTile: 1, sets: k.unroll)
    vectorTile(
      &c, unroll: k.unroll, sets: k.unroll,
      parameters:
        "const int *restrict cols, const float *restrict vals, int e0, int e1, const float *restrict X, float *restrict Y",
      outer: nil, begin: "e0", end: "e1", x: { "X + (size_t)cols[e + \($0)] * BLK_N" },
      w: { "vals[e + \($0)]" }, load: { _ in [] })
    c.open("long long blk_kernel(const void *packed, const float *restrict X, float *restrict Y) {")
    c.line("const blk_packed_t *p = packed;")
    c.open("for (int m = 0; m < BLK_M; m++) {")
    rowTileCalls(&c, batch: k.batch, nTile: k.nTile) { n0, t in
      "blk_tile(p->cols, p->vals, p->rp[m], p->rp[m + 1], X + \(n0), Y + (size_t)m * BLK_N + \(n0), 1, \(t))"
    }
    c.close()
    c.line("return (long long)p->rp[BLK_M] * BLK_N;")
    c.close()
  }

  private static func blockRow(_ c: inout CWriter, _ v: KernelVariant) {
    let w = v.workload
    let k = v.knobs
    let lanes = vectorLanes(k.isa)
    let br = max(1, min(w.blockRows, w.rows))
    let bc = max(1, min(w.blockCols, w.cols))
    c.line("#define BLK_BR \(br)")
    c.line("#define BLK_BC \(bc)")
    c.line("#define BLK_NBC \((w.cols + bc - 1) / bc) /* block columns */")
    c.line("")
    c.line("/* The compact block-row format: a block (rb, cb) keeps the rows whose mask segment in")
    c.line(
      " * the block has a 1. Kept row segments are stored row by row, then by block: row m's are")
    c.line(
      " * [seg_start[m], seg_start[m + 1]); segment s starts at column col0[s] and holds BLK_BC")
    c.line(" * dense values vals[s * BLK_BC ...] (masked ones and those past an edge block are 0);")
    c.line(" * its width is BLK_BC, or less in the last block column. */")
    c.open("typedef struct {")
    c.line("int seg_start[BLK_M + 1];")
    c.line("int *col0;")
    c.line("float *vals;")
    c.line("long long kept; /* the kept segments' widths summed: MACs per column of X */")
    c.close("} blk_packed_t;")
    c.line("")
    c.open("void *blk_pack(const float *W, const unsigned char *mask, int M, int K) {")
    c.line("if (M != BLK_M || K != BLK_K) return NULL;")
    c.line("blk_packed_t *p = calloc(1, sizeof *p);")
    c.line("if (!p) return NULL;")
    c.line("int total = 0;")
    c.open("for (int m = 0; m < BLK_M; m++) {")
    c.open("for (int cb = 0; cb < BLK_NBC; cb++) {")
    c.line("const int c0 = cb * BLK_BC, c1 = c0 + BLK_BC < BLK_K ? c0 + BLK_BC : BLK_K;")
    c.line("int kept = 0;")
    c.line("for (int col = c0; col < c1; col++) kept |= mask[(size_t)m * BLK_K + col] != 0;")
    c.line("total += kept;")
    c.close()
    c.close()
    c.line("p->col0 = malloc(sizeof(int) * (size_t)(total ? total : 1));")
    c.line("p->vals = blk_alloc(sizeof(float) * (size_t)(total ? total : 1) * BLK_BC);")
    c.line("if (!p->col0 || !p->vals) { blk_free(p); return NULL; }")
    c.line("int s = 0;")
    c.open("for (int m = 0; m < BLK_M; m++) {")
    c.line("p->seg_start[m] = s;")
    c.open("for (int cb = 0; cb < BLK_NBC; cb++) {")
    c.line("const int c0 = cb * BLK_BC, c1 = c0 + BLK_BC < BLK_K ? c0 + BLK_BC : BLK_K;")
    c.line("int kept = 0;")
    c.line("for (int col = c0; col < c1; col++) kept |= mask[(size_t)m * BLK_K + col] != 0;")
    c.line("if (!kept) continue;")
    c.line("p->col0[s] = c0;")
    c.line("float *v = p->vals + (size_t)s * BLK_BC;")
    c.open("for (int j = 0; j < BLK_BC; j++) {")
    c.line("const size_t i = (size_t)m * BLK_K + c0 + j;")
    c.line("v[j] = c0 + j < c1 && mask[i] ? W[i] : 0.0f;")
    c.close()
    c.line("p->kept += c1 - c0;")
    c.line("s++;")
    c.close()
    c.close()
    c.line("p->seg_start[BLK_M] = s;")
    c.line("return p;")
    c.close()
    c.line("")
    c.open("void blk_free(void *packed) {")
    c.line("blk_packed_t *p = packed;")
    c.line("if (!p) return;")
    c.line("free(p->col0);")
    c.line("free(p->vals);")
    c.line("free(p);")
    c.close()
    c.line("")
    let width = "const int wd = c0 + BLK_BC <= BLK_K ? BLK_BC : BLK_K - c0;"
    if k.batch == 1 {
      let u = k.unroll
      c.line("#define BLK_NVB ((BLK_BC + BLK_VW - 1) / BLK_VW) /* vectors per segment */")
      c.line("")
      c.line("/* N = 1: per row, dot products of its kept segments with X, vectorised over the")
      c.line(" * segment, BLK_UNROLL segments per iteration into their own accumulators. */")
      c.open(
        "long long blk_kernel(const void *packed, const float *restrict X, float *restrict Y) {")
      c.line("const blk_packed_t *p = packed;")
      c.line("const int *restrict col0 = p->col0;")
      c.line("const float *restrict vals = p->vals;")
      c.open("for (int m = 0; m < BLK_M; m++) {")
      c.line("const int s1 = p->seg_start[m + 1];")
      c.line("blk_vec acc[\(u)];")
      c.line("for (int a = 0; a < \(u); a++) acc[a] = blk_vzero();")
      c.line("int s = p->seg_start[m];")
      func body(_ c: inout CWriter, _ us: [Int]) {
        for a in us {
          c.open("{")
          c.line("const int c0 = col0[s + \(a)];")
          c.line(width)
          c.line("const float *restrict v = vals + (size_t)(s + \(a)) * BLK_BC;")
          c.line("const float *restrict x = X + c0;")
          c.open("for (int i = 0; i < BLK_NVB; i++) {")
          c.line("const int n = wd - i * BLK_VW;")
          c.line("if (n <= 0) break;")
          c.line(
            "acc[\(a)] = n >= BLK_VW ? blk_vfma(blk_vload(v + i * BLK_VW), blk_vload(x + i * BLK_VW), acc[\(a)]) : blk_vfma(blk_vloadn(v + i * BLK_VW, n), blk_vloadn(x + i * BLK_VW, n), acc[\(a)]);"
          )
          c.close()
          c.close()
        }
      }
      if u > 1 {
        c.open("for (; s + \(u) <= s1; s += \(u)) {")
        body(&c, Array(0..<u))
        c.close()
      }
      c.open("for (; s < s1; s++) {")
      body(&c, [0])
      c.close()
      c.line("for (int a = 1; a < \(u); a++) acc[0] = blk_vadd(acc[0], acc[a]);")
      c.line("Y[m] = blk_vhsum(acc[0]);")
      c.close()
      c.line("return p->kept * BLK_N;")
      c.close()
      return
    }
    tileDefines(&c, nTile: k.nTile, lanes: lanes, rowTile: 1, sets: k.unroll)
    vectorTile(
      &c, unroll: k.unroll, sets: k.unroll,
      parameters:
        "const int *restrict col0, const float *restrict vals, int s0, int s1, const float *restrict X, float *restrict Y",
      outer: (
        "for (int s = s0; s < s1; s++) {",
        [
          "const int c0 = col0[s];", width,
          "const float *restrict v = vals + (size_t)s * BLK_BC;",
          "const float *restrict xb = X + (size_t)c0 * BLK_N;",
        ]
      ), begin: "0", end: "wd", x: { "xb + (size_t)(e + \($0)) * BLK_N" }, w: { "v[e + \($0)]" },
      load: { _ in [] })
    c.open("long long blk_kernel(const void *packed, const float *restrict X, float *restrict Y) {")
    c.line("const blk_packed_t *p = packed;")
    c.open("for (int m = 0; m < BLK_M; m++) {")
    rowTileCalls(&c, batch: k.batch, nTile: k.nTile) { n0, t in
      "blk_tile(p->col0, p->vals, p->seg_start[m], p->seg_start[m + 1], X + \(n0), Y + (size_t)m * BLK_N + \(n0), 1, \(t))"
    }
    c.close()
    c.line("return p->kept * BLK_N;")
    c.close()
  }
}
