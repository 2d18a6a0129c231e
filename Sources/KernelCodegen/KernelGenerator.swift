import TuningSchema

/// Generates the C source (kernel.c) of a kernel variant: Y = W X for one layer, with
/// `W[M, K]`, `X[K, N]`, `Y[M, N]` row-major (N = batch), implementing the interface of
/// `runner/blk_kernel.h` (`blk_pack`, `blk_kernel`, `blk_free`, `blk_kernel_dims`).
///
/// The source is shape-specialised (M, K, N, BR, BC and the knobs are `#define`s, so every loop
/// bound the compiler sees is a constant) while the kept columns and their values are data,
/// packed by `blk_pack` from the dense weights and the mask. The output is deterministic: the
/// same variant gives the same bytes (no timestamps; stable order), headed by a comment with the
/// variant's ID and knobs.
///
/// Formats:
/// - `dense`: the masked weights as a dense row-major matrix. N = 1: a GEMV, each row a dot
///   product in `unroll` independent 8-lane vector accumulators. N > 1: register tiles of a few
///   rows by `nTile` columns of Y in vector accumulators, `unroll` input columns per iteration.
///   MACs per call: M K N.
/// - `block-column`: W cut into `br x bc` blocks (edge blocks smaller); each block keeps the
///   columns whose mask segment has a 1. Packed per block row, block by block, column by column:
///   the kept column indices and their `br` values (column-major within the block; the rows of an
///   edge block row and the vector padding are zeros). Kernel: per block row, for each kept column
///   c, `Y[rows, :] += vals[:, c] (x) X[c, :]`. N = 1: vectorised over the block's rows, `unroll`
///   kept columns per iteration into independent accumulators. N > 1: register tiles of a few rows
///   by `nTile` columns of Y (vectorised over N), `unroll` kept columns per iteration. MACs per
///   call: sum over blocks of kept columns x rows of the block x N.
/// - `csr`: row pointers, column indices and values of the kept weights (the unstructured
///   baseline). N = 1: per-row dot products, X gathered through the indices. N > 1: one row by
///   `nTile` columns of Y per tile, `unroll` entries into their own accumulators. MACs: kept x N.
/// - `block-row`: each `br x bc` block keeps the rows whose mask segment in it has a 1; kept row
///   segments are stored row by row (column of the segment start + bc dense values). N = 1: dot
///   products over each segment; N > 1: one row by `nTile` columns per tile. MACs: the kept
///   segments' widths x N.
/// - `block-column-row`: each `br x bc` block keeps a subset of its rows and of its columns,
///   stored as their indices and the dense kept submatrix (`BlockColumnRowKernels.swift`). MACs:
///   the blocks' kept rows x kept columns x N.
///
/// The knob space (`KernelKnobs`), what `variants(for:batch:...)` enumerates in this order:
/// - `isa`: the ISAs passed in as `isas` (default `[.scalar]`, which gives the variants, IDs and
///   text of before the knob existed). `scalar` for dense and block-column is the plain C above
///   (GCC vector extensions); every other combination is explicit vector code over a small
///   vector layer (`VectorKernels.swift`): `avx2` (`__m256`, `_mm256_fmadd_ps`, `-mavx2 -mfma`),
///   `avx512` (`__m512`, `_mm512_fmadd_ps`, masked loads/stores for tails, `-mavx512f`), `neon`
///   (`float32x4_t`, `vfmaq_f32`) and, for csr / block-row, `scalar` as an 8-lane layer of GCC
///   vector extensions. A non-scalar ISA adds `isaFlags(isa)` to the variant's flags. Which ISAs
///   a CPU runs:
///   `supportedISAs(cpuFlags:)` of `hostCPUFlags()` (/proc/cpuinfo, read at run time).
/// - `unroll`: `unrollValues` (1, 2, 4) entries (kept columns, input columns, non-zeros) per
///   iteration.
/// - `nTile`: register-tile width over N, the `nTileValues` (4, 8, 16, 32) that fit the batch;
///   1 when N = 1. Rows per tile: about 12 vector accumulators.
/// - `threads` (block-column only; default `[1]`): the block rows are cut into chunks of about
///   equal kept columns that a persistent pool takes (`runner/blk_threads.h`).
/// - `prefetch` (block-column with N > 1 only; default `[0]`): `__builtin_prefetch` of the tile's
///   columns of the row of X that the kept entry `prefetch` ahead reads.
/// - `batch` (N) is given, not searched; `format` is part of the workload.
public enum KernelGenerator {
  /// Part of every variant's ID: bump it whenever the generated code changes.
  public static let version = "kernelgen-2"

  /// The unroll factors the knob space explores.
  public static let unrollValues = [1, 2, 4]
  /// Candidate register-tile widths over N (those <= the batch are used).
  public static let nTileValues = [4, 8, 16, 32]

  /// The knob space for `workload` at `batch`: every ISA of `isas` (in that order) times every
  /// unroll factor times every tile width that fits the batch (just 1 when batch = 1). Order is
  /// stable. A non-scalar ISA adds its compiler flags (`isaFlags`) to `flags`; the default
  /// `isas: [.scalar]` gives exactly the variants (and IDs) of before the knob existed.
  /// `unrolls` and `nTiles` narrow or widen the space (a suite's `kernels.unroll` / `n_tile`);
  /// tiles wider than the batch are left out, and when none fits the batch is the one tile.
  public static func variants(
    for workload: Workload, batch: Int, target: String, compiler: String, flags: [String],
    isas: [KernelISA] = [.scalar], unrolls: [Int] = unrollValues, nTiles: [Int] = nTileValues,
    threads: [Int] = [1], prefetches: [Int] = [0], nBlocks: [Int] = [0],
    bakes: [Bool] = [false], reorders: [Bool] = [false], packXs: [Bool] = [false],
    prefetchWs: [Int] = [0]
  ) -> [KernelVariant] {
    precondition(batch >= 1, "batch must be >= 1")
    precondition(!threads.isEmpty && threads.allSatisfy { $0 >= 1 }, "threads must be >= 1")
    precondition(!prefetches.isEmpty && prefetches.allSatisfy { $0 >= 0 }, "prefetch must be >= 0")
    let distances = supportsPrefetch(workload.format, batch: batch) ? prefetches : [0]
    var tiles = batch == 1 ? [1] : nTiles.filter { $0 <= batch }
    if tiles.isEmpty { tiles = [batch] }
    let threadCounts = supportsThreads(workload.format) ? threads : [1]
    var out: [KernelVariant] = []
    for isa in isas {
      let isaFlags = flags + KernelGenerator.isaFlags(isa).filter { !flags.contains($0) }
      for unroll in unrolls {
        for tile in tiles {
          // Cache tiles that fit this register tile (none fitting: no cache tile).
          var cacheTiles = nBlocks.filter {
            $0 == 0 || validNBlock($0, format: workload.format, batch: batch, nTile: tile)
          }
          if cacheTiles.isEmpty { cacheTiles = [0] }
          for t in threadCounts {
            for d in distances {
              for nb in cacheTiles {
                let knobs = KernelKnobs(
                  batch: batch, unroll: unroll, nTile: tile, isa: isa, threads: t, prefetch: d,
                  nBlock: nb)
                // Baked indices and reordering where they apply (else just their default).
                let bakeds = supportsBaked(workload, knobs: knobs) ? bakes : [false]
                let orders =
                  supportsReorder(workload.format, threads: t) ? reorders : [false]
                for baked in Array(Set(bakeds)).sorted(by: { !$0 && $1 }) {
                  for reorder in Array(Set(orders)).sorted(by: { !$0 && $1 }) {
                    var kk = knobs
                    kk.baked = baked
                    kk.reorder = reorder
                    var packed = kk
                    packed.packX = true
                    let packs = supportsPackX(workload.format, knobs: packed) ? packXs : [false]
                    for pack in Array(Set(packs)).sorted(by: { !$0 && $1 }) {
                      kk.packX = pack
                      let streams =
                        supportsPrefetchW(workload.format, knobs: kk) ? prefetchWs : [0]
                      for pw in streams {
                        kk.prefetchW = pw
                        out.append(
                          KernelVariant(
                            workload: workload, knobs: kk, target: target, compiler: compiler,
                            flags: isaFlags, generatorVersion: version))
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    return out
  }

  /// Whether kernels of `format` take the threads knob (> 1): block-column only. The dense and
  /// CSR kernels are the baselines of one thread; the libraries they stand for bring their own.
  public static func supportsThreads(_ format: KernelFormat) -> Bool { format == .blockColumn }

  /// Whether kernels of `format` at `batch` take the prefetch knob (> 0): block-column with
  /// N > 1, where the rows of X a block row reads jump by the kept column indices.
  public static func supportsPrefetch(_ format: KernelFormat, batch: Int) -> Bool {
    format == .blockColumn && batch > 1
  }

  /// The line that counts one block row's multiply-adds (`e1 - e0` kept columns of `heightName`
  /// rows): over all of N, or with a cache tile over its columns [nb, ne) and, with the last
  /// tile, the columns past the register tiles.
  static func blockRowMACs(_ k: KernelKnobs, heightName: String) -> String {
    guard k.nBlock > 0 else { return "macs += (long long)(e1 - e0) * \(heightName) * BLK_N;" }
    let nFull = k.batch / k.nTile * k.nTile
    return
      "macs += (long long)(e1 - e0) * \(heightName) * (ne - nb + (ne == \(nFull) ? \(k.batch - nFull) : 0));"
  }

  /// Whether knobs `k` may pack X per cache tile (`packX`): block-column with N > 1, a cache tile,
  /// N a multiple of the register tile (no column tail, whose tile reads X in place), no prefetch
  /// (it addresses X in place) and no baked indices. With threads, they split the cache tiles.
  public static func supportsPackX(_ format: KernelFormat, knobs k: KernelKnobs) -> Bool {
    format == .blockColumn && k.batch > 1 && k.nBlock > 0 && k.nTile > 0
      && k.batch % k.nTile == 0 && k.prefetch == 0 && !k.baked
  }

  /// Where a block-column tile reads X at column `n0`: with `packX` the cache tile's packed copy
  /// `blk_xp` (columns from nb, rows `xStride` apart), else X itself.
  static func xBase(_ k: KernelKnobs, n0: String) -> String {
    k.packX ? "blk_xp + (\(n0) - nb)" : "X + \(n0)"
  }

  /// The distance between rows of the X a block-column tile reads (see `xBase`).
  static func xStride(_ k: KernelKnobs) -> String { k.packX ? "BLK_NB" : "BLK_N" }

  /// Whether `nBlock` > 0 is a cache tile for a block-column kernel at `batch` with register
  /// tiles of `nTile`: a multiple of `nTile` below the tiled width of N.
  public static func validNBlock(_ nBlock: Int, format: KernelFormat, batch: Int, nTile: Int)
    -> Bool
  {
    format == .blockColumn && batch > 1 && nBlock > 0 && nTile > 0 && nBlock % nTile == 0
      && nBlock < batch / nTile * nTile
  }

  /// The lines that prefetch, for entry `e + u + BLK_PF`, the tile's columns of its row of X
  /// (one per 64-byte line of a `nTile`-float tile); none without the knob.
  static func prefetchLines(_ k: KernelKnobs, entry u: Int, end: String) -> [String] {
    let stream = u == 0 ? weightPrefetchLines(k) : []
    guard k.prefetch > 0 else { return stream }
    let lines = (k.nTile * 4 + 63) / 64
    return stream
      + (0..<lines).map { l in
        "if (e + \(u) + BLK_PF < \(end)) __builtin_prefetch(X + (size_t)cols[e + \(u) + BLK_PF] * BLK_N\(l == 0 ? "" : " + \(l * 16)"), 0, 3);"
      }
  }

  /// The lines that prefetch the packed values and column index of entry `e + BLK_PFW` (once per
  /// loop iteration, at its first entry); none without the knob. A prefetch past the arrays'
  /// end does not fault.
  static func weightPrefetchLines(_ k: KernelKnobs) -> [String] {
    guard k.prefetchW > 0 else { return [] }
    return [
      "__builtin_prefetch(vals + (size_t)(e + BLK_PFW) * BLK_BRP, 0, 0);",
      "__builtin_prefetch(cols + e + BLK_PFW, 0, 0);",
    ]
  }

  /// Whether knobs `k` may prefetch the packed weights (`prefetchW`): block-column kernels that
  /// read them from arrays (not baked).
  public static func supportsPrefetchW(_ format: KernelFormat, knobs k: KernelKnobs) -> Bool {
    format == .blockColumn && !k.baked
  }

  /// The kernel.c of `variant`. A `baked` variant needs the workload's `mask` (`[M*K]`, 1 = kept;
  /// its hash is the workload's), whose pattern it bakes in; the others ignore it.
  public static func generate(_ variant: KernelVariant, mask: [UInt8]? = nil) -> GeneratedKernel {
    let w = variant.workload
    let k = variant.knobs
    precondition(w.rows >= 1 && w.cols >= 1, "empty layer")
    precondition(k.batch >= 1 && k.unroll >= 1 && k.nTile >= 1, "bad knobs \(k)")
    precondition(
      k.threads >= 1 && (k.threads == 1 || supportsThreads(w.format)),
      "threads \(k.threads) for \(w.format.rawValue)")
    precondition(
      k.prefetch >= 0 && (k.prefetch == 0 || supportsPrefetch(w.format, batch: k.batch)),
      "prefetch \(k.prefetch) for \(w.format.rawValue) N=\(k.batch)")
    precondition(
      k.nBlock == 0 || validNBlock(k.nBlock, format: w.format, batch: k.batch, nTile: k.nTile),
      "n_block \(k.nBlock) for \(w.format.rawValue) N=\(k.batch) n_tile \(k.nTile)")
    precondition(
      !k.baked || bakedApplies(w.format, knobs: k),
      "baked for \(w.format.rawValue) with \(k)")
    precondition(
      !k.reorder || supportsReorder(w.format, threads: k.threads),
      "reorder for \(w.format.rawValue) threads \(k.threads)")
    precondition(!k.packX || supportsPackX(w.format, knobs: k), "pack_x with \(k)")
    precondition(
      k.prefetchW >= 0 && (k.prefetchW == 0 || supportsPrefetchW(w.format, knobs: k)),
      "prefetch_w with \(k)")
    var c = CWriter()
    header(&c, variant)
    if k.baked {
      guard let mask, Workload.maskHash(mask) == w.maskHash else {
        preconditionFailure("baked kernel \(variant.id): the mask of its workload is needed")
      }
      bakedBlockColumn(&c, variant, mask: mask)
      return GeneratedKernel(variant: variant, source: c.text)
    }
    switch (w.format, k.isa) {
    case (.dense, .scalar): dense(&c, variant)
    case (.blockColumn, .scalar): blockColumn(&c, variant)
    default: explicitKernel(&c, variant)
    }
    return GeneratedKernel(variant: variant, source: c.text)
  }

  // MARK: - Common parts

  static func header(_ c: inout CWriter, _ v: KernelVariant) {
    let w = v.workload
    let k = v.knobs
    c.line("/* blkrew generated kernel: do not edit.")
    c.line(" *   variant    \(v.id)")
    c.line(" *   generator  \(v.generatorVersion)")
    c.line(
      " *   workload   \(w.format.rawValue) M=\(w.rows) K=\(w.cols) block=\(w.blockRows)x\(w.blockCols) kept=\(w.kept)"
    )
    c.line(" *   mask       \(w.maskHash)")
    c.line(
      " *   knobs      batch=\(k.batch) unroll=\(k.unroll) n_tile=\(k.nTile)"
        + (k.isa == .scalar ? "" : " isa=\(k.isa.rawValue)")
        + (k.threads == 1 ? "" : " threads=\(k.threads)")
        + (k.prefetch == 0 ? "" : " prefetch=\(k.prefetch)")
        + (k.nBlock == 0 ? "" : " n_block=\(k.nBlock)") + (k.baked ? " baked" : "")
        + (k.reorder ? " reorder" : "") + (k.packX ? " pack_x" : "")
        + (k.prefetchW == 0 ? "" : " prefetch_w=\(k.prefetchW)"))
    c.line(" *   target     \(v.target), \(v.compiler) \(v.flags.joined(separator: " "))")
    c.line(" * Y[M,N] = W[M,K] X[K,N], all row-major; interface in blk_kernel.h. */")
    c.line("#include <stddef.h>")
    c.line("#include <stdlib.h>")
    c.line("#include <string.h>")
    c.line("#include \"blk_kernel.h\"")
    c.line("")
    c.line("#define BLK_M \(w.rows)")
    c.line("#define BLK_K \(w.cols)")
    c.line("#define BLK_N \(k.batch)")
    c.line("#define BLK_UNROLL \(k.unroll)")
    c.line("#define BLK_NT \(k.nTile)")
    if k.prefetch > 0 {
      c.line("#define BLK_PF \(k.prefetch) /* prefetch distance, kept entries */")
    }
    if k.prefetchW > 0 {
      c.line("#define BLK_PFW \(k.prefetchW) /* weight prefetch distance, kept entries */")
    }
    if k.packX {
      c.line("#define BLK_NB \(k.nBlock) /* cache tile: packed X rows are BLK_NB floats apart */")
      c.line(
        "/* Columns [nb, ne) of X, packed per cache tile: a buffer per thread (threads split the")
      c.line(" * cache tiles), allocated on first use. */")
      c.line("static __thread float *blk_xp_buffer;")
      c.open("static float *blk_xp_get(void) {")
      c.open("if (!blk_xp_buffer) {")
      c.line("void *b = NULL;")
      c.line(
        "if (posix_memalign(&b, 64, ((size_t)BLK_K * BLK_NB * sizeof(float) + 63) / 64 * 64)) abort();"
      )
      c.line("blk_xp_buffer = b;")
      c.close()
      c.line("return blk_xp_buffer;")
      c.close()
    }
    c.line("#define BLK_INLINE static inline __attribute__((always_inline))")
    c.line("")
    c.line("const int blk_kernel_dims[3] = {BLK_M, BLK_K, BLK_N};")
    c.line("")
    c.line("static void *blk_alloc(size_t bytes) {")
    c.line("  size_t rounded = (bytes + 63) / 64 * 64;")
    c.line("  return aligned_alloc(64, rounded ? rounded : 64);")
    c.line("}")
    c.line("")
  }

  // MARK: - Vector types and register tiles

  /// The widest of 8, 4, 2 floats that divides `n`; else 8, 4 or 2 with padding; 1 for n = 1.
  static func vectorWidth(dividing n: Int) -> Int {
    if let w = [8, 4, 2].first(where: { n % $0 == 0 }) { return w }
    return n >= 8 ? 8 : n >= 4 ? 4 : n >= 2 ? 2 : 1
  }

  /// Vector width over N for a tile of `nTile` columns: the widest of 8, 4, 2 dividing it, else 1.
  static func tileVectorWidth(_ nTile: Int) -> Int { [8, 4, 2].first { nTile % $0 == 0 } ?? 1 }

  /// Declares `blk_v<width>`: a GCC/Clang vector of `width` floats that may be unaligned and may
  /// alias float data (plain `float` for width 1), so `*(const blk_vW *)p` loads any float run.
  private static func vectorType(_ c: inout CWriter, _ width: Int) {
    if width == 1 {
      c.line("typedef float blk_v1;")
    } else {
      c.line(
        "typedef float blk_v\(width) __attribute__((vector_size(\(4 * width)), aligned(4), may_alias));"
      )
    }
  }

  /// Rows per register tile when N > 1: about 12 vector accumulators of `nTile` columns.
  static func rowTile(nTile: Int, vectorWidth: Int, maxRows: Int) -> Int {
    max(1, min(maxRows, 12 / max(1, nTile / vectorWidth)))
  }

  /// The loop over the entries e in [begin, end): `int e = begin;`, `unroll` entries per
  /// iteration (`body` of 0..<unroll, offsets from e), then one at a time; or, with `groups`
  /// (baked indices), each group of constant entries as one block of straight-line code.
  static func entryLoops(
    _ c: inout CWriter, begin: String, end: String, unroll: Int, groups: [[Int]]? = nil,
    body: (inout CWriter, [Int]) -> Void
  ) {
    if let groups {
      for group in groups {
        c.open("{")
        body(&c, group)
        c.close()
      }
      return
    }
    c.line("int e = \(begin);")
    if unroll > 1 {
      c.open("for (; e + \(unroll) <= \(end); e += \(unroll)) {")
      body(&c, Array(0..<unroll))
      c.close()
    }
    c.open("for (; e < \(end); e++) {")
    body(&c, [0])
    c.close()
  }

  /// Emits `blk_tile` (R rows x BLK_NT columns in vector accumulators, `unroll` entries per
  /// iteration) and `blk_tail` (R rows x T < BLK_NT columns, plain loops) over the entries
  /// `e` in [begin, end). `x(u)` is the row of X of entry e + u, `w(u)` its weight for row r, and
  /// `load(u)` any declaration they need. X and Y arrive offset to the tile's first column.
  private static func tileFunctions(
    _ c: inout CWriter, unroll: Int, parameters: String, begin: String, end: String,
    x: (Int) -> String, w: (Int) -> String, load: (Int) -> [String], tailRows: String
  ) {
    c.line("/* R rows x BLK_NT columns of Y, in R x BLK_NVN vector accumulators. */")
    c.open("BLK_INLINE void blk_tile(\(parameters), const int R) {")
    c.line("blk_vN acc[BLK_RT][BLK_NVN];")
    c.line("for (int r = 0; r < R; r++) for (int i = 0; i < BLK_NVN; i++) acc[r][i] = (blk_vN){0};")
    func body(_ c: inout CWriter, _ us: [Int]) {
      for u in us { c.lines(load(u) + ["const float *restrict x\(u) = \(x(u));"]) }
      c.open("for (int i = 0; i < BLK_NVN; i++) {")
      for u in us { c.line("const blk_vN xv\(u) = *(const blk_vN *)(x\(u) + i * BLK_VN);") }
      c.open("for (int r = 0; r < R; r++) {")
      for u in us { c.line("acc[r][i] += xv\(u) * \(w(u));") }
      c.close()
      c.close()
    }
    entryLoops(&c, begin: begin, end: end, unroll: unroll, body: body)
    c.line(
      "for (int r = 0; r < R; r++) for (int i = 0; i < BLK_NVN; i++) *(blk_vN *)(Y + (size_t)r * BLK_N + i * BLK_VN) = acc[r][i];"
    )
    c.close()
    c.line("")
    c.line("/* R rows x T (< BLK_NT) columns of Y: the columns past the last full tile. */")
    c.open("BLK_INLINE void blk_tail(\(parameters), const int R, const int T) {")
    c.line("float acc[\(tailRows)][BLK_NT];")
    c.line("for (int r = 0; r < R; r++) for (int j = 0; j < T; j++) acc[r][j] = 0.0f;")
    c.open("for (int e = \(begin); e < \(end); e++) {")
    c.lines(load(0) + ["const float *restrict x0 = \(x(0));"])
    c.line("for (int r = 0; r < R; r++) for (int j = 0; j < T; j++) acc[r][j] += x0[j] * \(w(0));")
    c.close()
    c.line(
      "for (int r = 0; r < R; r++) for (int j = 0; j < T; j++) Y[(size_t)r * BLK_N + j] = acc[r][j];"
    )
    c.close()
    c.line("")
  }

  /// The calls covering `height` rows starting at row `rowExpr` for all N columns: row chunks of
  /// `rowTile` rows (and one smaller), tiles of BLK_NT columns, then the column tail.
  static func tileCalls(
    _ c: inout CWriter, height: Int, rowTile: Int, batch: Int, nTile: Int,
    nRange: (begin: String, end: String)? = nil,
    call: (_ row: String, _ n0: String, _ rows: String, _ tail: String?) -> String
  ) {
    let nFull = (batch / nTile) * nTile
    let nTail = batch - nFull
    let full = (height / rowTile) * rowTile
    let rest = height - full
    // With a cache tile, the full register tiles of columns [begin, end) only, and the tail
    // with the last cache tile.
    let (n0Begin, n0End) = nRange ?? ("0", "\(nFull)")
    if nFull > 0 {
      if full > 0 {
        c.open("for (int r0 = 0; r0 < \(full); r0 += BLK_RT) {")
        c.line(
          "for (int n0 = \(n0Begin); n0 < \(n0End); n0 += BLK_NT) \(call("r0", "n0", "BLK_RT", nil));"
        )
        c.close()
      }
      if rest > 0 {
        c.line(
          "for (int n0 = \(n0Begin); n0 < \(n0End); n0 += BLK_NT) \(call("\(full)", "n0", "\(rest)", nil));"
        )
      }
    }
    if nTail > 0, let nRange { c.open("if (\(nRange.end) == \(nFull)) {") }
    defer { if nTail > 0, nRange != nil { c.close() } }
    if nTail > 0 {
      if full > 0 {
        c.line(
          "for (int r0 = 0; r0 < \(full); r0 += BLK_RT) \(call("r0", "\(nFull)", "BLK_RT", "\(nTail)"));"
        )
      }
      if rest > 0 { c.line("\(call("\(full)", "\(nFull)", "\(rest)", "\(nTail)"));") }
    }
  }

  // MARK: - block-column

  private static func blockColumn(_ c: inout CWriter, _ v: KernelVariant) {
    let w = v.workload
    let k = v.knobs
    let br = max(1, min(w.blockRows, w.rows))
    let bc = max(1, min(w.blockCols, w.cols))
    let fullRows = w.rows / br
    let tailRows = w.rows % br
    let vr = vectorWidth(dividing: br)
    let brp = (br + vr - 1) / vr * vr
    blockColumnPack(&c, w, br: br, bc: bc, brp: brp, reorder: k.reorder)

    let u = k.unroll
    var rowTileSize = 1
    if k.batch == 1 {
      c.line("#define BLK_VR \(vr) /* rows per vector */")
      c.line("#define BLK_NVR (BLK_BRP / BLK_VR)")
      vectorType(&c, vr)
      c.line("typedef blk_v\(vr) blk_vR;")
      c.line("")
      c.line(
        "/* N = 1: rows [0, H) of one block row, Y[r] = sum over kept entries of vals[r] X[col],")
      c.line(
        " * vectorised over rows, in BLK_UNROLL independent accumulator sets (one per entry of an")
      c.line(" * unrolled iteration) summed at the end. */")
      c.open(
        "BLK_INLINE void blk_rows(const int *restrict cols, const float *restrict vals, int e0, int e1, const float *restrict X, float *restrict Y, const int H) {"
      )
      for a in 0..<u { c.line("blk_vR acc\(a)[BLK_NVR];") }
      c.line(
        "for (int i = 0; i < BLK_NVR; i++) { \((0..<u).map { "acc\($0)[i] = (blk_vR){0};" }.joined(separator: " ")) }"
      )
      func body(_ c: inout CWriter, _ us: [Int]) {
        c.lines(weightPrefetchLines(k))
        for a in us {
          c.line("const float x\(a) = X[cols[e + \(a)]];")
          c.line("const float *restrict v\(a) = vals + (size_t)(e + \(a)) * BLK_BRP;")
        }
        c.open("for (int i = 0; i < BLK_NVR; i++) {")
        for a in us { c.line("acc\(a)[i] += *(const blk_vR *)(v\(a) + i * BLK_VR) * x\(a);") }
        c.close()
      }
      entryLoops(&c, begin: "e0", end: "e1", unroll: u, body: body)
      c.line("float out[BLK_BRP];")
      c.line(
        "for (int i = 0; i < BLK_NVR; i++) *(blk_vR *)(out + i * BLK_VR) = \((0..<u).map { "acc\($0)[i]" }.joined(separator: " + "));"
      )
      c.line("for (int r = 0; r < H; r++) Y[r] = out[r];")
      c.close()
      c.line("")
    } else {
      let vn = tileVectorWidth(k.nTile)
      rowTileSize = rowTile(nTile: k.nTile, vectorWidth: vn, maxRows: br)
      c.line("#define BLK_VN \(vn) /* columns of Y per vector */")
      c.line("#define BLK_NVN (BLK_NT / BLK_VN)")
      c.line("#define BLK_RT \(rowTileSize) /* rows per register tile */")
      vectorType(&c, vn)
      c.line("typedef blk_v\(vn) blk_vN;")
      c.line("")
      tileFunctions(
        &c, unroll: u,
        parameters:
          "const int *restrict cols, const float *restrict vals, int e0, int e1, const float *restrict X, float *restrict Y",
        begin: "e0", end: "e1",
        x: { "X + (size_t)cols[e + \($0)] * \(xStride(k))" },
        w: { "v\($0)[r]" },
        load: {
          prefetchLines(k, entry: $0, end: "e1")
            + ["const float *restrict v\($0) = vals + (size_t)(e + \($0)) * BLK_BRP;"]
        },
        tailRows: "BLK_BR")
    }

    // blk_kernel
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
          &c, height: height, rowTile: rowTileSize, batch: k.batch, nTile: k.nTile,
          nRange: k.nBlock > 0 ? ("nb", "ne") : nil
        ) {
          row, n0, rows, tail in
          let args =
            "p->cols, p->vals + \(row), e0, e1, \(xBase(k, n0: n0)), Y + (row0 + \(row)) * BLK_N + \(n0), \(rows)"
          return tail.map { "blk_tail(\(args), \($0))" } ?? "blk_tile(\(args))"
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

  /// The block-column defines, packed struct, `blk_pack` and `blk_free` (values of a kept column
  /// `brp` floats apart), for the layer of `w`.
  /// `blk_kernel` of a block format: the full block rows in a loop, then the edge block row, each
  /// emitted by `rowBlock` (height, and the macro naming it); returns the MACs done.
  /// With `reorder`, the full block rows run in the packed `order` (one thread only).
  static func blockRowsKernel(
    _ c: inout CWriter, br: Int, fullRows: Int, tailRows: Int,
    threads: Int = 1, nBlock: Int = 0, nFull: Int = 0, reorder: Bool = false, packX: Bool = false,
    rowBlock: (inout CWriter, Int, String) -> Void
  ) {
    precondition(!reorder || threads == 1, "reorder runs on one thread")
    precondition(!packX || nBlock > 0, "pack_x needs a cache tile")
    /// The body over the block rows the loop headers select (inside the cache tiles over N:
    /// columns [nb, ne) of the register-tiled width).
    /// `nbRange`: the cache tiles' columns (default all of [0, nFull)).
    func body(
      _ c: inout CWriter, full: String, tail: String, nbRange: (String, String)? = nil
    ) {
      c.line("const blk_packed_t *p = packed;")
      c.line("long long macs = 0;")
      if packX { c.line("float *restrict blk_xp = blk_xp_get();") }
      if nBlock > 0 {
        let (nbBegin, nbEnd) = nbRange ?? ("0", "\(nFull)")
        c.open("for (int nb = \(nbBegin); nb < \(nbEnd); nb += \(nBlock)) {")
        c.line("const int ne = nb + \(nBlock) < \(nFull) ? nb + \(nBlock) : \(nFull);")
        if packX {
          c.line(
            "for (int kk = 0; kk < BLK_K; kk++) memcpy(blk_xp + (size_t)kk * BLK_NB, X + (size_t)kk * BLK_N + nb, (size_t)(ne - nb) * sizeof(float));"
          )
        }
      }
      defer { if nBlock > 0 { c.close() } }
      if fullRows > 0 {
        c.open(full)
        if reorder { c.line("const int rb = p->order[i];") }
        rowBlock(&c, br, "BLK_BR")
        c.close()
      }
      if tailRows > 0 {
        c.open(tail)
        c.line("const int rb = BLK_FULL_ROWS;")
        if reorder { c.line("const int i = BLK_FULL_ROWS;") }
        rowBlock(&c, tailRows, "BLK_BR_TAIL")
        c.close()
      }
    }
    func fullBody(
      _ c: inout CWriter, full: String, tail: String, nbRange: (String, String)? = nil
    ) {
      body(&c, full: full, tail: tail, nbRange: nbRange)
      c.line("return macs;")
      c.close()
    }
    if threads == 1 {
      c.open(
        "long long blk_kernel(const void *packed, const float *restrict X, float *restrict Y) {")
      fullBody(
        &c,
        full: reorder
          ? "for (int i = 0; i < BLK_FULL_ROWS; i++) {"
          : "for (int rb = 0; rb < BLK_FULL_ROWS; rb++) {",
        tail: "{")
      return
    }
    // Threads: the same loops over a range of block rows, run by the pool of blk_threads.h on
    // chunks of about equal kept columns (row_start is their prefix sum).
    c.line("#define BLK_THREADS \(threads)")
    c.line("#include \"blk_threads.h\"")
    c.line("")
    if packX {
      // Split over the cache tiles instead (each of equal work): a thread packs only the tiles
      // it runs, where a split over block rows would have every thread pack every tile.
      let tiles = (nFull + nBlock - 1) / nBlock
      c.line("/* pack_x: the threads split the cache tiles over N, each tile packed once. */")
      c.line(
        "static const int blk_tile_prefix[\(tiles + 1)] = {\((0...tiles).map(String.init).joined(separator: ", "))};"
      )
      c.line("/* Cache tiles [t0, t1): columns [t0 * BLK_NB, t1 * BLK_NB) of every block row. */")
      c.open(
        "static long long blk_part(const void *packed, const float *restrict X, float *restrict Y, int t0, int t1) {"
      )
      fullBody(
        &c, full: "for (int rb = 0; rb < BLK_FULL_ROWS; rb++) {", tail: "{",
        nbRange: ("t0 * BLK_NB", "(t1 * BLK_NB < \(nFull) ? t1 * BLK_NB : \(nFull))"))
      c.line("")
      c.open(
        "long long blk_kernel(const void *packed, const float *restrict X, float *restrict Y) {")
      c.line("return blk_parallel(packed, X, Y, blk_tile_prefix, \(tiles));")
      c.close()
      return
    }
    c.line("/* Block rows [rb0, rb1) of Y. */")
    c.open(
      "static long long blk_part(const void *packed, const float *restrict X, float *restrict Y, int rb0, int rb1) {"
    )
    fullBody(
      &c, full: "for (int rb = rb0; rb < (rb1 < BLK_FULL_ROWS ? rb1 : BLK_FULL_ROWS); rb++) {",
      tail: "if (rb0 <= BLK_FULL_ROWS && BLK_FULL_ROWS < rb1) {")
    c.line("")
    c.open("long long blk_kernel(const void *packed, const float *restrict X, float *restrict Y) {")
    c.line("return blk_parallel(packed, X, Y, ((const blk_packed_t *)packed)->row_start, BLK_NBR);")
    c.close()
  }

  /// With `reorder`, the packed struct also holds `order`: the full block rows sorted by their
  /// kept columns (`patternOrder`), and the block rows are stored in that order (`row_start` by
  /// position; the edge block row last). With `baked` (every block row's first entry, and the entry
  /// count at the end; the `columnChecksum`), `blk_pack` fails for a mask of another pattern.
  static func blockColumnPack(
    _ c: inout CWriter, _ w: Workload, br: Int, bc: Int, brp: Int, reorder: Bool = false,
    baked: (starts: [Int], checksum: UInt32)? = nil
  ) {
    let nbr = (w.rows + br - 1) / br
    let nbc = (w.cols + bc - 1) / bc
    let fullRows = w.rows / br
    let tailRows = w.rows % br
    c.line("#define BLK_BR \(br)")
    c.line("#define BLK_BC \(bc)")
    c.line(
      "#define BLK_BRP \(brp) /* stride of a kept column's values: BLK_BR rounded up to a vector */"
    )
    c.line("#define BLK_NBR \(nbr) /* block rows */")
    c.line("#define BLK_NBC \(nbc) /* block columns */")
    c.line("#define BLK_FULL_ROWS \(fullRows) /* block rows of BLK_BR rows */")
    c.line("#define BLK_BR_TAIL \(tailRows) /* rows of the last, smaller block row (0: none) */")
    c.line("")
    c.line("/* The compact block-column format. The kept columns of block row rb are the entries")
    c.line(
      " * [row_start[rb], row_start[rb + 1]), ordered by block, then column; block (rb, cb) keeps")
    c.line(
      " * count[rb * BLK_NBC + cb] of them. Entry e: its column of W in cols[e] and its BLK_BR")
    c.line(
      " * values (column-major within the block) in vals[e * BLK_BRP ...]; the padding and the rows"
    )
    c.line(" * past an edge block's height are 0. */")
    c.open("typedef struct {")
    c.line("int row_start[BLK_NBR + 1];")
    c.line("int *count;")
    c.line("int *cols;")
    c.line("float *vals;")
    if reorder {
      c.line("int order[BLK_FULL_ROWS > 0 ? BLK_FULL_ROWS : 1]; /* full block rows, by pattern */")
    }
    c.close("} blk_packed_t;")
    c.line("")
    if reorder {
      c.line(
        "/* The full block rows by their kept columns: lexicographically, a prefix first, ties")
      c.line(" * by position (qsort's context: blk_pack runs once, before any kernel call). */")
      c.line("static const blk_packed_t *blk_sort_p;")
      c.open("static int blk_row_cmp(const void *pa, const void *pb) {")
      c.line("const int a = *(const int *)pa, b = *(const int *)pb;")
      c.line("const int *rs = blk_sort_p->row_start;")
      c.line("const int *ca = blk_sort_p->cols + rs[a], *cb = blk_sort_p->cols + rs[b];")
      c.line("const int na = rs[a + 1] - rs[a], nb = rs[b + 1] - rs[b];")
      c.line(
        "for (int i = 0; i < na && i < nb; i++) if (ca[i] != cb[i]) return ca[i] < cb[i] ? -1 : 1;")
      c.line("if (na != nb) return na < nb ? -1 : 1;")
      c.line("return (a > b) - (a < b);")
      c.close()
      c.line("")
    }
    if let baked {
      c.line(
        "/* The baked pattern: each block row's first entry (and the total), and a checksum of")
      c.line(" * the columns. */")
      c.line(
        "static const int blk_baked_start[BLK_NBR + 1] = {\(baked.starts.map(String.init).joined(separator: ", "))};"
      )
      c.line("#define BLK_BAKED_SUM \(baked.checksum)u")
      c.line("")
    }

    // blk_pack
    c.open("void *blk_pack(const float *W, const unsigned char *mask, int M, int K) {")
    c.line("if (M != BLK_M || K != BLK_K) return NULL;")
    c.line("blk_packed_t *p = calloc(1, sizeof *p);")
    c.line("if (!p) return NULL;")
    c.line("p->count = calloc(BLK_NBR * BLK_NBC, sizeof(int));")
    c.line("if (!p->count) { free(p); return NULL; }")
    c.line("int total = 0;")
    c.open("for (int rb = 0; rb < BLK_NBR; rb++) {")
    c.line("const int r0 = rb * BLK_BR, r1 = r0 + BLK_BR < BLK_M ? r0 + BLK_BR : BLK_M;")
    c.line("p->row_start[rb] = total;")
    c.open("for (int cb = 0; cb < BLK_NBC; cb++) {")
    c.line("const int c0 = cb * BLK_BC, c1 = c0 + BLK_BC < BLK_K ? c0 + BLK_BC : BLK_K;")
    c.open("for (int col = c0; col < c1; col++) {")
    c.line("int kept = 0;")
    c.line("for (int r = r0; r < r1; r++) kept |= mask[(size_t)r * BLK_K + col] != 0;")
    c.line("p->count[rb * BLK_NBC + cb] += kept;")
    c.line("total += kept;")
    c.close()
    c.close()
    c.close()
    c.line("p->row_start[BLK_NBR] = total;")
    c.line("p->cols = malloc(sizeof(int) * (size_t)(total ? total : 1));")
    c.line("p->vals = blk_alloc(sizeof(float) * (size_t)(total ? total : 1) * BLK_BRP);")
    c.line("if (!p->cols || !p->vals) { blk_free(p); return NULL; }")
    c.line("int e = 0;")
    c.open("for (int rb = 0; rb < BLK_NBR; rb++) {")
    c.line("const int r0 = rb * BLK_BR, r1 = r0 + BLK_BR < BLK_M ? r0 + BLK_BR : BLK_M;")
    c.open("for (int cb = 0; cb < BLK_NBC; cb++) {")
    c.line("const int c0 = cb * BLK_BC, c1 = c0 + BLK_BC < BLK_K ? c0 + BLK_BC : BLK_K;")
    c.open("for (int col = c0; col < c1; col++) {")
    c.line("int kept = 0;")
    c.line("for (int r = r0; r < r1; r++) kept |= mask[(size_t)r * BLK_K + col] != 0;")
    c.line("if (!kept) continue;")
    c.line("p->cols[e] = col;")
    c.line("float *v = p->vals + (size_t)e * BLK_BRP;")
    c.open("for (int r = 0; r < BLK_BRP; r++) {")
    c.line("const size_t i = (size_t)(r0 + r) * BLK_K + col;")
    c.line("v[r] = r < BLK_BR && r0 + r < r1 && mask[i] ? W[i] : 0.0f;")
    c.close()
    c.line("e++;")
    c.close()
    c.close()
    c.close()
    if reorder {
      // Sort the full block rows, then store the block rows in that order (the edge block row
      // last), so the kernel streams cols and vals front to back: row_start is by position.
      c.line("for (int i = 0; i < BLK_FULL_ROWS; i++) p->order[i] = i;")
      c.line("blk_sort_p = p;")
      c.line("qsort(p->order, BLK_FULL_ROWS, sizeof(int), blk_row_cmp);")
      c.line("int *ncols = malloc(sizeof(int) * (size_t)(total ? total : 1));")
      c.line("float *nvals = blk_alloc(sizeof(float) * (size_t)(total ? total : 1) * BLK_BRP);")
      c.line("if (!ncols || !nvals) { free(ncols); free(nvals); blk_free(p); return NULL; }")
      c.line("int start[BLK_NBR + 1], pos = 0;")
      c.open("for (int i = 0; i < BLK_NBR; i++) {")
      c.line("const int rb = i < BLK_FULL_ROWS ? p->order[i] : i;")
      c.line("const int n = p->row_start[rb + 1] - p->row_start[rb];")
      c.line("start[i] = pos;")
      c.line("memcpy(ncols + pos, p->cols + p->row_start[rb], sizeof(int) * (size_t)n);")
      c.line(
        "memcpy(nvals + (size_t)pos * BLK_BRP, p->vals + (size_t)p->row_start[rb] * BLK_BRP, sizeof(float) * (size_t)n * BLK_BRP);"
      )
      c.line("pos += n;")
      c.close()
      c.line("start[BLK_NBR] = pos;")
      c.line("memcpy(p->row_start, start, sizeof start);")
      c.line("free(p->cols);")
      c.line("free(p->vals);")
      c.line("p->cols = ncols;")
      c.line("p->vals = nvals;")
    }
    if baked != nil {
      c.line("unsigned sum = 2166136261u;")
      c.line("for (int i = 0; i < total; i++) sum = (sum ^ (unsigned)p->cols[i]) * 16777619u;")
      c.line("int same = sum == BLK_BAKED_SUM;")
      c.line(
        "for (int rb = 0; rb <= BLK_NBR; rb++) same &= p->row_start[rb] == blk_baked_start[rb];")
      c.line(
        "if (!same) { blk_free(p); return NULL; } /* not the mask this kernel was generated for */")
    }
    c.line("return p;")
    c.close()
    c.line("")
    c.open("void blk_free(void *packed) {")
    c.line("blk_packed_t *p = packed;")
    c.line("if (!p) return;")
    c.line("free(p->count);")
    c.line("free(p->cols);")
    c.line("free(p->vals);")
    c.line("free(p);")
    c.close()
    c.line("")
  }

  // MARK: - dense

  private static func dense(_ c: inout CWriter, _ v: KernelVariant) {
    let k = v.knobs
    let m = v.workload.rows
    let u = k.unroll
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
      vectorType(&c, 8)
      c.line("")
      c.line(
        "/* N = 1: a GEMV, one dot product per row in BLK_UNROLL vector accumulators of 8 lanes. */"
      )
      c.open(
        "long long blk_kernel(const void *packed, const float *restrict X, float *restrict Y) {")
      c.line("const float *restrict w = packed;")
      c.open("for (int m = 0; m < BLK_M; m++) {")
      c.line("const float *restrict row = w + (size_t)m * BLK_K;")
      c.line("blk_v8 \((0..<u).map { "acc\($0) = (blk_v8){0}" }.joined(separator: ", "));")
      c.line("int k = 0;")
      c.open("for (; k + \(8 * u) <= BLK_K; k += \(8 * u)) {")
      for a in 0..<u {
        c.line(
          "acc\(a) += *(const blk_v8 *)(row + k + \(8 * a)) * *(const blk_v8 *)(X + k + \(8 * a));")
      }
      c.close()
      if u > 1 {
        c.line(
          "for (; k + 8 <= BLK_K; k += 8) acc0 += *(const blk_v8 *)(row + k) * *(const blk_v8 *)(X + k);"
        )
        c.line("acc0 = \((0..<u).map { "acc\($0)" }.joined(separator: " + "));")
      }
      c.line("float s = 0.0f;")
      c.line("for (int j = 0; j < 8; j++) s += acc0[j];")
      c.line("for (; k < BLK_K; k++) s += row[k] * X[k];")
      c.line("Y[m] = s;")
      c.close()
      c.line("return (long long)BLK_M * BLK_K * BLK_N;")
      c.close()
      return
    }
    let vn = tileVectorWidth(k.nTile)
    let rt = rowTile(nTile: k.nTile, vectorWidth: vn, maxRows: m)
    c.line("#define BLK_VN \(vn) /* columns of Y per vector */")
    c.line("#define BLK_NVN (BLK_NT / BLK_VN)")
    c.line("#define BLK_RT \(rt) /* rows per register tile */")
    vectorType(&c, vn)
    c.line("typedef blk_v\(vn) blk_vN;")
    c.line("")
    tileFunctions(
      &c, unroll: u,
      parameters: "const float *restrict w, const float *restrict X, float *restrict Y",
      begin: "0", end: "BLK_K", x: { "X + (size_t)(e + \($0)) * BLK_N" },
      w: { "w[(size_t)r * BLK_K + e + \($0)]" }, load: { _ in [] }, tailRows: "BLK_RT")
    c.open("long long blk_kernel(const void *packed, const float *restrict X, float *restrict Y) {")
    c.line("const float *restrict w = packed;")
    tileCalls(&c, height: m, rowTile: rt, batch: k.batch, nTile: k.nTile) { row, n0, rows, tail in
      let args =
        "w + (size_t)\(row) * BLK_K, X + \(n0), Y + (size_t)\(row) * BLK_N + \(n0), \(rows)"
      return tail.map { "blk_tail(\(args), \($0))" } ?? "blk_tile(\(args))"
    }
    c.line("return (long long)BLK_M * BLK_K * BLK_N;")
    c.close()
  }
}

/// Accumulates C text with two-space indentation.
struct CWriter {
  private(set) var text = ""
  private var depth = 0

  mutating func line(_ s: String) {
    text += s.isEmpty ? "\n" : String(repeating: "  ", count: depth) + s + "\n"
  }

  mutating func lines(_ ss: [String]) { ss.forEach { line($0) } }

  mutating func open(_ s: String) {
    line(s)
    depth += 1
  }

  mutating func close(_ s: String = "}") {
    depth -= 1
    line(s)
  }
}
