import TuningSchema

/// Pattern-specialised block-column kernels (`KernelKnobs.baked`): the kept column indices are
/// constants in the code. The generator reads the mask, finds each block row's pattern (its
/// height and kept columns, in the packed entry order) and emits one function per distinct
/// pattern, in which every kept column's row of X is `X + constant` and every value is
/// `vals + constant`: no index loads, no loop over the entries, the `unroll` knob grouping the
/// straight-line entries into accumulator sets. `blk_kernel` is then one call per block row (in
/// pattern order with `reorder`), so block rows of one pattern share its code.
///
/// The values are packed by the ordinary block-column `blk_pack`, which also checks that the
/// mask it is given has the baked pattern (the entry counts of every block row and a checksum of
/// the columns) and fails otherwise: a baked kernel computes one mask only.
extension KernelGenerator {
  /// The most kept-column entries (over the distinct patterns) a baked kernel is generated for:
  /// beyond it the straight-line code grows past what compiles in seconds and fits the
  /// instruction caches, so `variants` leaves `baked` out.
  public static let bakedEntryLimit = 4096

  /// One block row of a block-column mask: its first row, height, and kept columns in packed
  /// order (block by block, column by column).
  struct BlockRowPattern {
    var row0: Int
    var height: Int
    var cols: [Int]
  }

  /// The block rows of `mask` (`[rows * cols]`, row-major) in `br x bc` blocks, as
  /// `blockColumnPack`'s `blk_pack` packs them.
  static func blockRowPatterns(_ w: Workload, mask: [UInt8], br: Int) -> [BlockRowPattern] {
    precondition(
      mask.count == w.rows * w.cols, "mask has \(mask.count) entries, not \(w.rows)x\(w.cols)")
    var out: [BlockRowPattern] = []
    for r0 in stride(from: 0, to: w.rows, by: br) {
      let h = min(br, w.rows - r0)
      var cols: [Int] = []
      for col in 0..<w.cols where (r0..<(r0 + h)).contains(where: { mask[$0 * w.cols + col] != 0 })
      {
        cols.append(col)
      }
      out.append(BlockRowPattern(row0: r0, height: h, cols: cols))
    }
    return out
  }

  /// The order `reorder` processes the full block rows in: sorted by their kept columns
  /// (lexicographically, a shorter prefix first, ties by position), so identical patterns are
  /// adjacent and similar ones near each other. The same order as the packed `order` array.
  static func patternOrder(_ rows: [BlockRowPattern], full: Int) -> [Int] {
    Array(0..<full).sorted { a, b in
      let (x, y) = (rows[a].cols, rows[b].cols)
      if x != y { return x.lexicographicallyPrecedes(y) }
      return a < b
    }
  }

  /// Entries a baked kernel of `w` would straight-line at most (the kept weights over the block
  /// height: every column segment of a full block row keeps `br` weights), for `variants`.
  public static func bakedEntryBound(_ w: Workload) -> Int {
    let br = max(1, min(w.blockRows, w.rows))
    return (w.kept + br - 1) / br + (w.rows % br == 0 ? 0 : w.cols)
  }

  /// Whether kernels of `format` take the baked knob: block-column with one thread, no cache
  /// tile and no prefetch (a straight-line kernel has no entry loop to prefetch in), and at most
  /// `bakedEntryLimit` entries.
  /// Only at N = 1: with N > 1 a baked kernel measured 2-7x slower than the index arrays (each
  /// index load is shared by a register tile's R x N/lanes multiply-adds there, and the
  /// straight-line tiles, inlined at every tile call, build in 25-56 s), while at N = 1 it
  /// removes one dependent load per kept column (docs/MACHINE-NOTES.md).
  public static func supportsBaked(_ w: Workload, knobs k: KernelKnobs) -> Bool {
    k.batch == 1 && bakedApplies(w.format, knobs: k) && bakedEntryBound(w) <= bakedEntryLimit
  }

  /// Whether a baked kernel of `format` with the other knobs of `k` can be generated at all
  /// (whatever its size).
  static func bakedApplies(_ format: KernelFormat, knobs k: KernelKnobs) -> Bool {
    format == .blockColumn && k.threads == 1 && k.nBlock == 0 && k.prefetch == 0
  }

  /// Whether kernels of `format` take the reorder knob: block-column with one thread (the
  /// threads' chunks are ranges of block rows in order).
  public static func supportsReorder(_ format: KernelFormat, threads: Int) -> Bool {
    format == .blockColumn && threads == 1
  }

  /// The baked block-column kernel of `v` for `mask` (any ISA: `.scalar` is the 8-lane layer of
  /// GCC vector extensions).
  static func bakedBlockColumn(_ c: inout CWriter, _ v: KernelVariant, mask: [UInt8]) {
    let w = v.workload
    let k = v.knobs
    vectorLayer(&c, k.isa)
    let lanes = vectorLanes(k.isa)
    let br = max(1, min(w.blockRows, w.rows))
    let bc = max(1, min(w.blockCols, w.cols))
    let fullRows = w.rows / br
    let brp = k.batch == 1 ? (br + 3) / 4 * 4 : br
    let rows = blockRowPatterns(w, mask: mask, br: br)
    // The processing order (by pattern with `reorder`, as the packed one), and each position's
    // first entry: with `reorder` the pack stores the block rows in this order too.
    let order =
      k.reorder
      ? patternOrder(rows, full: fullRows) + Array(fullRows..<rows.count) : Array(rows.indices)
    var starts: [Int] = []
    var pos = 0
    for rb in order {
      starts.append(pos)
      pos += rows[rb].cols.count
    }
    blockColumnPack(
      &c, w, br: br, bc: bc, brp: brp, reorder: k.reorder,
      baked: (starts + [pos], columnChecksum(order.flatMap { rows[$0].cols })))

    // The distinct patterns, numbered in order of first appearance.
    struct Key: Hashable {
      var height: Int
      var cols: [Int]
    }
    var patternOf: [Int] = []
    var patterns: [Key] = []
    var index: [Key: Int] = [:]
    for r in rows {
      let key = Key(height: r.height, cols: r.cols)
      if let i = index[key] {
        patternOf.append(i)
      } else {
        index[key] = patterns.count
        patternOf.append(patterns.count)
        patterns.append(key)
      }
    }
    c.line(
      "/* Baked: \(rows.count) block rows, \(patterns.count) distinct patterns, \(patterns.map(\.cols.count).reduce(0, +)) straight-line entries. */"
    )
    let u = k.unroll
    let rt = k.batch == 1 ? 1 : vectorRowTile(nTile: k.nTile, lanes: lanes, maxRows: br)
    if k.batch == 1 {
      c.line("#define BLK_NVR ((BLK_BRP + BLK_VW - 1) / BLK_VW) /* vectors per kept column */")
    } else {
      tileDefines(&c, nTile: k.nTile, lanes: lanes, rowTile: rt, sets: 1)
    }
    c.line("")
    for (p, key) in patterns.enumerated() where !key.cols.isEmpty {
      let groups = stride(from: 0, to: key.cols.count, by: u).map {
        Array($0..<min(key.cols.count, $0 + u))
      }
      c.line("/* Pattern \(p): \(key.height) rows, columns \(Self.columnList(key.cols)). */")
      if k.batch == 1 {
        vectorRows(
          &c,
          signature:
            "static __attribute__((noinline)) void blk_pat\(p)(const float *restrict vals, const float *restrict X, float *restrict Y)",
          unroll: u, height: "\(key.height)", x: { "X[\(key.cols[$0])]" },
          v: { "vals + \($0) * BLK_BRP" }, groups: groups)
        continue
      }
      vectorTile(
        &c, unroll: u, sets: 1,
        parameters: "const float *restrict vals, const float *restrict X, float *restrict Y",
        outer: nil, begin: "0", end: "0", x: { "X + (size_t)\(key.cols[$0]) * BLK_N" },
        w: { "v\($0)[r]" }, load: { ["const float *restrict v\($0) = vals + \($0) * BLK_BRP;"] },
        name: "blk_tile_p\(p)", groups: groups)
      c.open(
        "static __attribute__((noinline)) void blk_pat\(p)(const float *restrict vals, const float *restrict X, float *restrict Y) {"
      )
      tileCalls(&c, height: key.height, rowTile: rt, batch: k.batch, nTile: k.nTile) {
        row, n0, rows, tail in
        "blk_tile_p\(p)(vals + \(row), X + \(n0), Y + (size_t)\(row) * BLK_N + \(n0), \(rows), \(tail ?? "BLK_NT"))"
      }
      c.close()
      c.line("")
    }

    // blk_kernel: one call per block row, in pattern order with `reorder`.
    let macs = rows.reduce(0) { $0 + $1.cols.count * $1.height } * k.batch
    c.open("long long blk_kernel(const void *packed, const float *restrict X, float *restrict Y) {")
    c.line("const float *restrict vals = ((const blk_packed_t *)packed)->vals;")
    for (i, rb) in order.enumerated() {
      let r = rows[rb]
      if r.cols.isEmpty {
        c.line("memset(Y + (size_t)\(r.row0) * BLK_N, 0, sizeof(float) * \(r.height) * BLK_N);")
      } else {
        c.line(
          "blk_pat\(patternOf[rb])(vals + (size_t)\(starts[i]) * BLK_BRP, X, Y + (size_t)\(r.row0) * BLK_N);"
        )
      }
    }
    c.line("return \(macs)LL;")
    c.close()
  }

  /// A checksum of the packed column indices (FNV-1a over their values), which `blk_pack`
  /// recomputes for the mask it is given.
  static func columnChecksum(_ cols: [Int]) -> UInt32 {
    var h: UInt32 = 2_166_136_261
    for c in cols {
      h ^= UInt32(truncatingIfNeeded: c)
      h = h &* 16_777_619
    }
    return h
  }

  /// `cols` as a short text for a comment (runs of consecutive columns as ranges).
  static func columnList(_ cols: [Int]) -> String {
    var parts: [String] = []
    var i = 0
    while i < cols.count {
      var j = i
      while j + 1 < cols.count && cols[j + 1] == cols[j] + 1 { j += 1 }
      parts.append(j > i ? "\(cols[i])-\(cols[j])" : "\(cols[i])")
      i = j + 1
    }
    return parts.isEmpty ? "none" : parts.joined(separator: ",")
  }
}
