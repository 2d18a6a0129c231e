import TuningSchema

/// The combined row+column format (`block-column-row`): a `br x bc` block keeps a subset of its
/// rows and a subset of its columns (the masks of the block-column-row scheme), stored as the
/// kept row and column indices and the dense kept submatrix, so neither the pruned rows (as in
/// block-column) nor the pruned columns (as in block-row) cost a multiply-add.
///
/// Packed block by block (block rows, then block columns; blocks that keep nothing are left
/// out): block b keeps rows `rows[row_off[b] ..< row_off[b + 1]]` (absolute row numbers) and
/// columns `cols[col_off[b] ..< col_off[b + 1]]`, with its values column-major
/// (`vals[val_off[b] + j * nr + i]` for kept column j and kept row i; entries at an intersection
/// the mask clears are 0). A row is kept in a block when its segment there has a 1, a column when
/// its segment does. Y is zeroed, then every block adds its rows' products:
/// - N > 1: register tiles of up to BLK_RT kept rows x BLK_NT columns of Y, `unroll` kept
///   columns per iteration (each X load shared by the tile's rows), added into Y at the end;
/// - N = 1: vectorised over the block's kept rows (masked past nr), `unroll` kept columns per
///   iteration into their own accumulators, added into Y through the row indices.
/// MACs per call: the sum over blocks of kept rows x kept columns x N.
extension KernelGenerator {
  /// Block b's kept-row and kept-column counts, indices and values (inside `for b`).
  private static func blockLines(_ c: inout CWriter) {
    c.line("const int nr = p->row_off[b + 1] - p->row_off[b];")
    c.line("const int nc = p->col_off[b + 1] - p->col_off[b];")
    c.line("const int *restrict rows = p->rows + p->row_off[b];")
    c.line("const int *restrict cols = p->cols + p->col_off[b];")
    c.line("const float *restrict v = p->vals + p->val_off[b];")
  }

  static func blockColumnRow(_ c: inout CWriter, _ v: KernelVariant) {
    let w = v.workload
    let k = v.knobs
    let lanes = vectorLanes(k.isa)
    let br = max(1, min(w.blockRows, w.rows))
    let bc = max(1, min(w.blockCols, w.cols))
    let u = k.unroll
    c.line("#define BLK_BR \(br)")
    c.line("#define BLK_BC \(bc)")
    c.line("#define BLK_NBR \((w.rows + br - 1) / br) /* block rows */")
    c.line("#define BLK_NBC \((w.cols + bc - 1) / bc) /* block columns */")
    c.line("")
    c.line("/* The compact block-column-row format: see BlockColumnRowKernels.swift. */")
    c.open("typedef struct {")
    c.line("int nb; /* blocks that keep something */")
    c.line("int *row_off, *col_off, *val_off; /* nb + 1 each */")
    c.line("int *rows, *cols;")
    c.line("float *vals;")
    c.line("long long kept; /* kept rows x kept columns summed: MACs per column of X */")
    c.close("} blk_packed_t;")
    c.line("")
    c.open("void blk_free(void *packed) {")
    c.line("blk_packed_t *p = packed;")
    c.line("if (!p) return;")
    c.line("free(p->row_off); free(p->col_off); free(p->val_off);")
    c.line("free(p->rows); free(p->cols); free(p->vals);")
    c.line("free(p);")
    c.close()
    c.line("")
    c.line("/* Kept rows and columns of block (rb, cb) into r[] / k[] (absolute indices). */")
    c.open(
      "static void blk_block(const unsigned char *mask, int rb, int cb, int *r, int *nr, int *k, int *nc) {"
    )
    c.line("const int r0 = rb * BLK_BR, r1 = r0 + BLK_BR < BLK_M ? r0 + BLK_BR : BLK_M;")
    c.line("const int c0 = cb * BLK_BC, c1 = c0 + BLK_BC < BLK_K ? c0 + BLK_BC : BLK_K;")
    c.line("*nr = 0;")
    c.line("*nc = 0;")
    c.open("for (int row = r0; row < r1; row++) {")
    c.line("int any = 0;")
    c.line("for (int col = c0; col < c1; col++) any |= mask[(size_t)row * BLK_K + col] != 0;")
    c.line("if (any) r[(*nr)++] = row;")
    c.close()
    c.open("for (int col = c0; col < c1; col++) {")
    c.line("int any = 0;")
    c.line("for (int row = r0; row < r1; row++) any |= mask[(size_t)row * BLK_K + col] != 0;")
    c.line("if (any) k[(*nc)++] = col;")
    c.close()
    c.close()
    c.line("")
    c.open("void *blk_pack(const float *W, const unsigned char *mask, int M, int K) {")
    c.line("if (M != BLK_M || K != BLK_K) return NULL;")
    c.line("blk_packed_t *p = calloc(1, sizeof *p);")
    c.line("if (!p) return NULL;")
    c.line("int r[BLK_BR], kc[BLK_BC], nr, nc;")
    c.line("long long nrows = 0, ncols = 0, nvals = 0;")
    c.open("for (int rb = 0; rb < BLK_NBR; rb++) {")
    c.open("for (int cb = 0; cb < BLK_NBC; cb++) {")
    c.line("blk_block(mask, rb, cb, r, &nr, kc, &nc);")
    c.line("if (!nr) continue;")
    c.line("p->nb++;")
    c.line("nrows += nr; ncols += nc; nvals += (long long)nr * nc;")
    c.close()
    c.close()
    c.line("p->row_off = malloc(sizeof(int) * (size_t)(p->nb + 1));")
    c.line("p->col_off = malloc(sizeof(int) * (size_t)(p->nb + 1));")
    c.line("p->val_off = malloc(sizeof(int) * (size_t)(p->nb + 1));")
    c.line("p->rows = malloc(sizeof(int) * (size_t)(nrows ? nrows : 1));")
    c.line("p->cols = malloc(sizeof(int) * (size_t)(ncols ? ncols : 1));")
    c.line("p->vals = blk_alloc(sizeof(float) * (size_t)(nvals ? nvals : 1));")
    c.line(
      "if (!p->row_off || !p->col_off || !p->val_off || !p->rows || !p->cols || !p->vals) { blk_free(p); return NULL; }"
    )
    c.line("int b = 0, ro = 0, co = 0, vo = 0;")
    c.open("for (int rb = 0; rb < BLK_NBR; rb++) {")
    c.open("for (int cb = 0; cb < BLK_NBC; cb++) {")
    c.line("blk_block(mask, rb, cb, r, &nr, kc, &nc);")
    c.line("if (!nr) continue;")
    c.line("p->row_off[b] = ro; p->col_off[b] = co; p->val_off[b] = vo;")
    c.line("for (int i = 0; i < nr; i++) p->rows[ro + i] = r[i];")
    c.line("for (int j = 0; j < nc; j++) p->cols[co + j] = kc[j];")
    c.open("for (int j = 0; j < nc; j++) {")
    c.open("for (int i = 0; i < nr; i++) {")
    c.line("const size_t e = (size_t)r[i] * BLK_K + kc[j];")
    c.line("p->vals[vo + j * nr + i] = mask[e] ? W[e] : 0.0f;")
    c.close()
    c.close()
    c.line("ro += nr; co += nc; vo += nr * nc;")
    c.line("p->kept += (long long)nr * nc;")
    c.line("b++;")
    c.close()
    c.close()
    c.line("p->row_off[b] = ro; p->col_off[b] = co; p->val_off[b] = vo;")
    c.line("return p;")
    c.close()
    c.line("")
    if k.batch == 1 {
      c.line("#define BLK_NVR ((BLK_BR + BLK_VW - 1) / BLK_VW) /* vectors of a block's rows */")
      c.line("")
      c.line("/* N = 1: per block, vectorised over its kept rows, BLK_UNROLL kept columns per")
      c.line(" * iteration into their own accumulators, added into Y through the row indices. */")
      c.open(
        "long long blk_kernel(const void *packed, const float *restrict X, float *restrict Y) {")
      c.line("const blk_packed_t *p = packed;")
      c.line("memset(Y, 0, sizeof(float) * BLK_M);")
      c.open("for (int b = 0; b < p->nb; b++) {")
      blockLines(&c)
      c.open("for (int i0 = 0; i0 < nr; i0 += BLK_VW) {")
      c.line("const int n = nr - i0 < BLK_VW ? nr - i0 : BLK_VW;")
      c.line("blk_vec acc[\(u)];")
      c.line("for (int a = 0; a < \(u); a++) acc[a] = blk_vzero();")
      c.line("int j = 0;")
      func body(_ c: inout CWriter, _ us: [Int]) {
        for a in us {
          c.line(
            "acc[\(a)] = blk_vfma(blk_vloadn(v + (size_t)(j + \(a)) * nr + i0, n), blk_vset1(X[cols[j + \(a)]]), acc[\(a)]);"
          )
        }
      }
      if u > 1 {
        c.open("for (; j + \(u) <= nc; j += \(u)) {")
        body(&c, Array(0..<u))
        c.close()
      }
      c.open("for (; j < nc; j++) {")
      body(&c, [0])
      c.close()
      c.line("for (int a = 1; a < \(u); a++) acc[0] = blk_vadd(acc[0], acc[a]);")
      c.line("float out[BLK_VW];")
      c.line("blk_vstore(out, acc[0]);")
      c.line("for (int i = 0; i < n; i++) Y[rows[i0 + i]] += out[i];")
      c.close()
      c.close()
      c.line("return p->kept * BLK_N;")
      c.close()
      return
    }
    let rt = vectorRowTile(nTile: k.nTile, lanes: lanes, maxRows: br)
    tileDefines(&c, nTile: k.nTile, lanes: lanes, rowTile: rt, sets: 1)
    c.line("/* R kept rows (from i0) x T (<= BLK_NT) columns of Y of one block, added into Y. */")
    c.open(
      "BLK_INLINE void blk_tile(const int *restrict rows, const int *restrict cols, const float *restrict v, int nr, int nc, int i0, const float *restrict X, float *restrict Y, const int R, const int T) {"
    )
    c.line("blk_vec acc[BLK_RT][BLK_NV];")
    c.line("for (int r = 0; r < R; r++) for (int i = 0; i < BLK_NV; i++) acc[r][i] = blk_vzero();")
    c.line("int j = 0;")
    func tileBody(_ c: inout CWriter, _ us: [Int]) {
      for a in us {
        c.line("const float *restrict x\(a) = X + (size_t)cols[j + \(a)] * BLK_N;")
        c.line("const float *restrict w\(a) = v + (size_t)(j + \(a)) * nr + i0;")
      }
      c.open("for (int i = 0; i < BLK_NV; i++) {")
      c.line("const int n = T - i * BLK_VW;")
      c.line("if (n <= 0) break;")
      for a in us {
        c.line(
          "const blk_vec xv\(a) = n >= BLK_VW ? blk_vload(x\(a) + i * BLK_VW) : blk_vloadn(x\(a) + i * BLK_VW, n);"
        )
      }
      c.open("for (int r = 0; r < R; r++) {")
      for a in us {
        c.line("acc[r][i] = blk_vfma(blk_vset1(w\(a)[r]), xv\(a), acc[r][i]);")
      }
      c.close()
      c.close()
    }
    if u > 1 {
      c.open("for (; j + \(u) <= nc; j += \(u)) {")
      tileBody(&c, Array(0..<u))
      c.close()
    }
    c.open("for (; j < nc; j++) {")
    tileBody(&c, [0])
    c.close()
    c.open("for (int r = 0; r < R; r++) {")
    c.line("float *restrict y = Y + (size_t)rows[i0 + r] * BLK_N;")
    c.open("for (int i = 0; i < BLK_NV; i++) {")
    c.line("const int n = T - i * BLK_VW;")
    c.line("if (n <= 0) break;")
    c.line(
      "if (n >= BLK_VW) blk_vstore(y + i * BLK_VW, blk_vadd(blk_vload(y + i * BLK_VW), acc[r][i]));"
    )
    c.line(
      "else blk_vstoren(y + i * BLK_VW, blk_vadd(blk_vloadn(y + i * BLK_VW, n), acc[r][i]), n);")
    c.close()
    c.close()
    c.close()
    c.line("")
    c.open("long long blk_kernel(const void *packed, const float *restrict X, float *restrict Y) {")
    c.line("const blk_packed_t *p = packed;")
    c.line("memset(Y, 0, sizeof(float) * (size_t)BLK_M * BLK_N);")
    c.open("for (int b = 0; b < p->nb; b++) {")
    blockLines(&c)
    c.open("for (int i0 = 0; i0 < nr; i0 += BLK_RT) {")
    c.line("const int R = nr - i0 < BLK_RT ? nr - i0 : BLK_RT;")
    let nFull = (k.batch / k.nTile) * k.nTile
    let nTail = k.batch - nFull
    if nFull > 0 {
      c.line(
        "for (int n0 = 0; n0 < \(nFull); n0 += BLK_NT) blk_tile(rows, cols, v, nr, nc, i0, X + n0, Y + n0, R, BLK_NT);"
      )
    }
    if nTail > 0 {
      c.line("blk_tile(rows, cols, v, nr, nc, i0, X + \(nFull), Y + \(nFull), R, \(nTail));")
    }
    c.close()
    c.close()
    c.line("return p->kept * BLK_N;")
    c.close()
  }
}
