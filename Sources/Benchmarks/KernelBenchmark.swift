import ChildProcesses
import Foundation
import KernelBuild
import KernelCodegen
import KernelRun
import Search
import TuningSchema

/// The kernel speed bar of issue 5, measured side by side in one run (`blkrew bench kernels`):
/// the tuned block-sparse kernel (block-column format) on the issue's shapes — FC 4096x4096 and
/// 1024x1024 (N 1, 16, 64), conv-as-GEMM 64x576x1024, 128x1152x256, 256x2304x64, 512x4608x16
/// (MxKxN) and GRU 3072x1024 (N 1, 32) — at rates 2, 4, 8, 16 with blocks 8x16 and 4x4, against
///
/// - the machine's FP32 FMA peak, measured in the same run (`scripts/bench/kernels_fma_peak.c`,
///   12 independent vector FMA chains, 1 and 2 threads, at the start and the end; the best),
/// - the fastest dense library: OpenBLAS sgemm (`scripts/bench/kernels_sgemm.c`, in a child with
///   the fastest `OPENBLAS_CORETYPE` of `CoreTypeProbe`), onnxruntime's MLAS MatMul and blkrew's
///   own dense kernel (`scripts/bench/kernels_peers.py` in the bench venv for the Python peers),
/// - unstructured sparse at the same non-zero count: scipy.sparse CSR (same script) and XNNPACK's
///   SpMM (`scripts/bench/kernels_xnnpack.c`: a 1x1 NCHW convolution, which is exactly Y = W X
///   with K input channels and N pixels; XNNPACK runs 1x1 NCHW convolutions as SpMM over the
///   non-zero weights).
///
/// Weights are seeded random; the mask is a seeded block-column mask at the rate: every `br x bc`
/// block keeps `bc / rate` of its column segments (blocks with fewer than `rate` columns: the
/// segments spread evenly over the blocks, `total / rate` in all), as hard pruning keeps a
/// fraction of the groups. The tuned kernel is the best median of an exhaustive walk over the
/// knob space with the widest ISA this CPU runs (unroll x register-tile width) where the goals
/// need it (rates 4 and 8, block 8x16) and over a smaller space elsewhere; GFLOP/s count 2 flops
/// per kept multiply-add. Batch 1 is also timed with the caches flushed (`RunSettings.flushCache`)
/// against the dense kernels flushed, held against the ratio of dense to packed bytes. For N >= 64
/// the best variant is run again with threads 2 (knob `threads`, `runner/blk_threads.h`),
/// alternating with 1 thread (`threadRounds` rounds), for the 2-thread speedup. The goal rows
/// then try prefetch, clang and a pattern stage (block rows in pattern order, and baked indices
/// where the layer is small enough; small batch-1 layers measure baked indices since no goal
/// layer is). The autotuner check replays `KnobSearch` `.greedy` (unlimited and at 25%) and `.random` (25%) over
/// the exhaustive measurements of a few workloads measured over every ISA.
///
/// Quick mode (`make test`): 1024x1024 N 16, rate 4, block 8x16, one ISA, 4 variants and the
/// best once with 2 threads, OpenBLAS and XNNPACK only; results/bench/quick/, no goals.
public struct KernelBenchmark: Benchmark {
  public let name = "kernels"
  public init() {}

  struct Shape {
    var label: String
    var m: Int
    var k: Int
    var n: Int
    var tag: String { "\(label)_n\(n)" }
  }

  /// Alternating 1-thread / 2-thread rounds of the thread stage (the min of each): on this shared
  /// VM the ratio moved between 1.6 and 2.2 between runs with 2 rounds.
  static let threadRounds = 3

  /// Small layers for the baked-indices figures (label, M, K, rate), batch 1, block 8x16.
  static let patternLayers = [
    ("fc256", 256, 256, 8), ("conv64x576", 64, 576, 4), ("fc512", 512, 512, 8),
  ]

  struct Block: Hashable {
    var rows: Int
    var cols: Int
    var label: String { "\(rows)x\(cols)" }
  }

  /// The issue's shapes (label, M, K, N).
  static let fullShapes: [Shape] = [
    Shape(label: "fc1024", m: 1024, k: 1024, n: 1), Shape(label: "fc1024", m: 1024, k: 1024, n: 16),
    Shape(label: "fc1024", m: 1024, k: 1024, n: 64),
    Shape(label: "conv64x576", m: 64, k: 576, n: 1024),
    Shape(label: "conv128x1152", m: 128, k: 1152, n: 256),
    Shape(label: "conv256x2304", m: 256, k: 2304, n: 64),
    Shape(label: "conv512x4608", m: 512, k: 4608, n: 16),
    Shape(label: "gru3072x1024", m: 3072, k: 1024, n: 1),
    Shape(label: "gru3072x1024", m: 3072, k: 1024, n: 32),
    Shape(label: "fc4096", m: 4096, k: 4096, n: 1), Shape(label: "fc4096", m: 4096, k: 4096, n: 16),
    Shape(label: "fc4096", m: 4096, k: 4096, n: 64),
  ]
  static let rates = [2, 4, 8, 16]
  static let blocks = [Block(rows: 8, cols: 16), Block(rows: 4, cols: 4)]
  /// Workloads measured over every ISA for the autotuner check (shape tag, rate, block).
  static let autotuneChecks: [(String, Int, Block)] = [
    ("fc1024_n64", 4, Block(rows: 8, cols: 16)), ("conv128x1152_n256", 8, Block(rows: 8, cols: 16)),
    ("gru3072x1024_n32", 4, Block(rows: 8, cols: 16)),
  ]

  /// One workload's result.
  struct Row {
    var shape: Shape
    var rate: Int
    var block: Block
    var kept: Int
    var packedBytes: Int
    var space: Int
    var measured: Int
    var bestSeconds: Double?
    var bestKnobs: KernelKnobs?
    var bestVariant: KernelVariant?
    var failures: [String] = []
    var coldSeconds: Double?
    var coldNote: String?
    /// The best variant again, 1 thread and 2 threads, measured alternately (min of 2 each).
    var rerun1t: Double?
    var rerun2t: Double?
    var threadNote: String?
    /// The best variant's knobs built with clang, and gcc again (alternating, min of 2 each).
    var clangSeconds: Double?
    var gccSeconds: Double?
    var clangNote: String?
    /// The best variant again without prefetch, and with prefetch distances 8 and 32 (min over
    /// the distances, alternating, 2 rounds).
    var noPrefetchSeconds: Double?
    var prefetchSeconds: Double?
    var prefetchDistance: Int?
    var prefetchNote: String?
    /// The exhaustive best before the cache-tile stage, and the cache tile that beat it.
    var bestWithoutCacheTile: Double?
    var cacheTile: Int?
    /// The cache-tile stage's best with X in place and with X packed per tile (`pack_x`).
    var bestInPlaceTile: Double?
    var bestPackedTile: Double?
    /// The weight-prefetch stage: the best before it, and the best with `prefetch_w` 256 and 1024
    /// (layers whose packed weights exceed the L2), and the distance that beat it.
    var beforeWeightPrefetch: Double?
    var weightPrefetchSeconds: Double?
    var weightPrefetch: Int?

    /// Makes `v` (measured at `seconds`) the tuned kernel when it is faster; whether it was.
    mutating func promote(_ v: KernelVariant, seconds: Double) -> Bool {
      guard seconds < (bestSeconds ?? .infinity) else { return false }
      bestSeconds = seconds
      bestKnobs = v.knobs
      bestVariant = v
      return true
    }
    /// The pattern stage: the best variant (1 thread, before it), with block rows in pattern
    /// order, and with baked indices where the layer is small enough (alternating, min of 2).
    var patternBaseSeconds: Double?
    var reorderSeconds: Double?
    var bakedSeconds: Double?
    var patternNote: String?
    var skipped: String?
    var gflops: Double? { bestSeconds.map { 2 * Double(kept * shape.n) / $0 / 1e9 } }
  }

  /// Dense and unstructured peers of one shape.
  struct Peers {
    var openblas1: Double?
    var openblas2: Double?
    var openblasCold: Double?
    var ort1: Double?
    var ort2: Double?
    var blkrewDense: Double?
    var blkrewDenseKnobs: KernelKnobs?
    var blkrewDenseCold: Double?
    var csr: [Int: Double] = [:]
    /// XNNPACK's SpMM (a 1x1 NCHW convolution: exactly Y = W X) at the rate's non-zero count.
    var xnnpack: [Int: Double] = [:]
    var notes: [String: String] = [:]
    /// The fastest 1-thread dense time and its name.
    var bestDense: (String, Double)? {
      [("openblas", openblas1), ("onnxruntime", ort1), ("blkrew-dense", blkrewDense)]
        .compactMap { n, t in t.map { (n, $0) } }.min { $0.1 < $1.1 }
    }
    var bestDenseCold: (String, Double)? {
      [("openblas", openblasCold), ("blkrew-dense", blkrewDenseCold)]
        .compactMap { n, t in t.map { (n, $0) } }.min { $0.1 < $1.1 }
    }
    /// The fastest unstructured sparse library at `rate` and its name.
    func bestSparse(_ rate: Int) -> (String, Double)? {
      [("scipy-csr", csr[rate]), ("xnnpack-spmm", xnnpack[rate])]
        .compactMap { n, t in t.map { (n, $0) } }.min { $0.1 < $1.1 }
    }
  }

  public func run(context: BenchContext) throws -> BenchRecord {
    let start = Date()
    let t0 = ChildProcess.monotonicSeconds()
    let quick = context.quick
    // Past this many seconds the workloads the goals do not need are skipped (<= 15 min total).
    let softDeadline = t0 + (quick ? 60 : 12.5 * 60)
    let progress: (String) -> Void = { context.progress("kernels: \($0)") }
    let root = FileManager.default.currentDirectoryPath
    let work = URL(fileURLWithPath: context.workDirectory)
    var figures: [BenchFigure] = []
    var series: [String: [Double]] = [:]
    var settings: [String: String] = [
      "shapes": "FC 4096x4096 and 1024x1024 (N 1, 16, 64); conv-as-GEMM 64x576x1024, "
        + "128x1152x256, 256x2304x64, 512x4608x16 (MxKxN); GRU 3072x1024 (N 1, 32)",
      "rates": Self.rates.map(String.init).joined(separator: ", "),
      "blocks": Self.blocks.map(\.label).joined(separator: ", "),
      "mask":
        "seeded random weights; block-column mask: every block keeps bc/rate of its column "
        + "segments (bc < rate: the kept segments spread evenly over the blocks), seeded choice",
      "gflops": "2 flops per kept multiply-add (dense peers: per dense multiply-add)",
    ]
    if quick {
      settings["quick"] =
        "smoke test: fc1024 N 16, rate 4, block 8x16, one ISA, 4 variants, OpenBLAS only; "
        + "figures carry no goals"
    }

    // 0. Tools: the host target, the C peers.
    let target: KernelTarget
    do { target = try TargetRegistry.target(named: "host") } catch {
      throw BenchError.failed("no host kernel target: \(error)")
    }
    let isas = KernelGenerator.supportedISAs(cpuFlags: KernelGenerator.hostCPUFlags())
      .filter { target.isas.contains($0) }
    guard let widest = isas.last else { throw BenchError.failed("no ISA runs on this CPU") }
    settings["isas"] = isas.map(\.rawValue).joined(separator: ", ")
    settings["tuning_isa"] = widest.rawValue
    let builder = LocalBuilder(workDirectory: work, target: target, reuseRunnerObjects: true)
    let flags = ["-O3", "-march=native"]
    let fmaExe = try Self.compileC(
      root: root, source: "scripts/bench/kernels_fma_peak.c", output: work.path + "/fma_peak",
      flags: ["-O2", "-march=native", "-pthread"], libraries: [])
    let sgemmExe = try Self.compileC(
      root: root, source: "scripts/bench/kernels_sgemm.c", output: work.path + "/sgemm",
      flags: ["-O2", "-march=native"], libraries: ["-lopenblas"])
    // XNNPACK's sparse path (libxnnpack-dev, installed by scripts/setup.sh); without it the
    // figures say why.
    var xnnpackWhy = ""
    var xnnpackExe: String?
    do {
      xnnpackExe = try Self.compileC(
        root: root, source: "scripts/bench/kernels_xnnpack.c", output: work.path + "/xnnpack",
        flags: ["-O2"], libraries: ["-lXNNPACK", "-lm"])
    } catch {
      xnnpackWhy = "\(error) (apt-get install libxnnpack-dev libpthreadpool-dev)"
    }

    // 1. FMA peak (again at the end; the best of both).
    var peak1 = 0.0
    var peak2 = 0.0
    var peakNotes: [String] = []
    func measurePeak() {
      for threads in [1, 2] {
        let args = [
          "--threads", "\(threads)", "--seconds", "0.005", "--reps", quick ? "20" : "200",
        ]
        guard let r = try? ChildProcess.run(fmaExe, args, timeout: 120), r.succeeded,
          let j = TrainSpeedBenchmark.lastJSON(r.stdoutText), let g = j["gflops"] as? Double
        else {
          peakNotes.append("FMA peak \(threads)t failed")
          continue
        }
        series["fma_peak_\(threads)t_gflops", default: []].append(g)
        if threads == 1 { peak1 = max(peak1, g) } else { peak2 = max(peak2, g) }
        settings["fma_peak_isa"] = "\(j["isa"] ?? "?") x \(j["accumulators"] ?? "?") accumulators"
        progress("FMA peak \(threads) thread(s): \(String(format: "%.1f", g)) GFLOP/s")
      }
    }
    measurePeak()

    // 2. OpenBLAS core type.
    let core = CoreTypeProbe.choose(
      executable: TrainSpeedBenchmark.executablePath(), quick: quick, passes: quick ? 1 : 2,
      progress: progress)
    settings["openblas_coretype"] = core.chosen ?? "unset (OpenBLAS auto-detects)"
    settings["openblas_coretype_candidates"] = core.summary
    for (label, g) in core.gflops.sorted(by: { $0.key < $1.key }) {
      figures.append(
        BenchFigure(
          name: "sgemm_1t_gflops_coretype_\(label)", value: g, unit: "GFLOP/s",
          direction: .higherIsBetter,
          note:
            "\(core.size)^3 sgemm, 1 thread, OPENBLAS_CORETYPE=\(label) (core \(core.cores[label] ?? "?"))"
        ))
    }

    // 3. The Python peers' environment (full mode only).
    var python: String?
    var pythonWhy = "quick mode: no peers beyond OpenBLAS"
    var versions: [String: Any] = [:]
    if !quick {
      (python, pythonWhy) = Self.locatePython(root: root, progress: progress)
      settings["python_peers"] = python ?? "not measured: \(pythonWhy)"
    }

    // 4. Per shape: peers, then every rate x block, side by side.
    // BLKREW_BENCH_KERNELS_SHAPES=tag,tag (e.g. fc4096_n64): only those shapes (for debugging).
    let only = ProcessInfo.processInfo.environment["BLKREW_BENCH_KERNELS_SHAPES"].map {
      Set($0.split(separator: ",").map(String.init))
    }
    let shapes =
      quick
      ? [Shape(label: "fc1024", m: 1024, k: 1024, n: 16)]
      : Self.fullShapes.filter { only?.contains($0.tag) ?? true }
    if let only { settings["shapes_only"] = only.sorted().joined(separator: ", ") }
    let rates = quick ? [4] : Self.rates
    let blocks = quick ? [Self.blocks[0]] : Self.blocks
    var rows: [Row] = []
    var peersByShape: [String: Peers] = [:]
    var exhaustiveTables: [String: (sizes: [Int], costs: [[Int]: Double?])] = [:]
    let warm = RunSettings(
      warmup: 1, minRepeats: quick ? 3 : 5, maxRepeats: 40, minSampleSeconds: 0.002,
      budgetSeconds: quick ? 0.03 : 0.12, events: ["perf::task-clock"], ciFraction: 0.03,
      idleWindowSeconds: 0)
    var cold = warm
    cold.flushCache = true
    cold.minRepeats = 7
    cold.maxRepeats = 15
    cold.budgetSeconds = 0.3
    settings["runner"] =
      "warm: \(warm.minRepeats)-\(warm.maxRepeats) samples of >= 2 ms within \(warm.budgetSeconds) s, CI stop 3%; "
      + "cold (batch 1): one call per sample after a flush of 2x LLC, 7-15 samples; pinned to the last CPU"

    /// Builds and runs one variant; the median or nil (with the reason in `why`).
    func measure(
      _ v: KernelVariant, _ file: URL, _ s: RunSettings, _ why: inout [String],
      mask: [UInt8]? = nil
    ) -> Double? {
      let built = builder.build(KernelGenerator.generate(v, mask: mask))
      guard built.ok, let binary = built.binaryPath else {
        why.append("\(v.knobs): build failed: \(built.log.suffix(200))")
        return nil
      }
      let r = LocalRunner(settings: s).run(
        binaryPath: binary, workloadFile: file, variant: v, timeout: 300)
      guard r.outcome == .measured, let m = r.medianSeconds else {
        why.append("\(v.knobs): \(r.outcome.rawValue) \(r.message ?? "")")
        return nil
      }
      return m
    }

    for shape in shapes {
      var peers = Peers()
      let sb = shape.tag
      progress("\(sb): \(shape.m)x\(shape.k) N \(shape.n)")
      // 4a. OpenBLAS: 1 thread with every core-type candidate (the best is the peer), then 2
      // threads and cold (N = 1) with that one.
      let baseEnv = ProcessInfo.processInfo.environment
      var candidates = CoreTypeProbe.candidates(inherited: baseEnv["OPENBLAS_CORETYPE"])
      if quick { candidates = [core.chosen] }
      let args = [
        "\(shape.m)", "\(shape.k)", "\(shape.n)", "--samples", quick ? "5" : "21", "--min-sample-s",
        "0.003",
      ]
      func openblasEnv(_ coreType: String?, _ threads: Int) -> [String: String] {
        var env = baseEnv
        env["OPENBLAS_CORETYPE"] = coreType
        for v in ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"] { env[v] = "\(threads)" }
        return env
      }
      var bestCore: String?
      var perCore: [String] = []
      // 1 thread: pinned to the runner's CPU.
      let pin = warm.resolvedCPU.map { ["--cpu", "\($0)"] } ?? []
      for c in candidates {
        let t = Self.runJSON(sgemmExe, args + pin, env: openblasEnv(c, 1))
        perCore.append(
          "\(c ?? "default"): " + (t.0.map { String(format: "%.3g s", $0) } ?? "failed"))
        if let why = t.1 { peers.notes["openblas_1t_\(c ?? "default")"] = why }
        if let m = t.0, m < (peers.openblas1 ?? .infinity) {
          peers.openblas1 = m
          bestCore = c
        }
      }
      peers.notes["openblas_core"] =
        "OPENBLAS_CORETYPE=\(bestCore ?? "default") (of \(perCore.joined(separator: ", ")))"
      if !quick {
        let t = Self.runJSON(sgemmExe, args, env: openblasEnv(bestCore, 2))
        peers.openblas2 = t.0
        if let why = t.1 { peers.notes["openblas_2t"] = why }
        if shape.n == 1 {
          let c = Self.runJSON(sgemmExe, args + ["--flush"] + pin, env: openblasEnv(bestCore, 1))
          peers.openblasCold = c.0
          if let why = c.1 { peers.notes["openblas_cold"] = why }
        }
      }
      // 4b. Workloads (generated first: the CSR peer needs their kept counts).
      var shapeRows: [Row] = []
      for rate in rates {
        for block in blocks {
          let (weights, mask, kept, segments) = Self.makeLayer(
            m: shape.m, k: shape.k, block: block, rate: rate,
            seed: UInt64(shape.m * 7919 + shape.k * 31 + rate * 3 + block.rows))
          let nBlocks =
            ((shape.m + block.rows - 1) / block.rows) * ((shape.k + block.cols - 1) / block.cols)
          let packed =
            segments * (block.rows * 4 + 4) + nBlocks * 4 + (shape.m / block.rows + 1) * 4
          var row = Row(
            shape: shape, rate: rate, block: block, kept: kept, packedBytes: packed, space: 0,
            measured: 0)
          let workload = Workload(
            rows: shape.m, cols: shape.k, format: .blockColumn, blockRows: block.rows,
            blockCols: block.cols, maskHash: Workload.maskHash(mask), kept: kept)
          let goalRelevant = block == Self.blocks[0] && (rate == 4 || rate == 8)
          let check = Self.autotuneChecks.contains { $0.0 == sb && $0.1 == rate && $0.2 == block }
          // Every N >= 16 row counts in the peak-fraction goal: never skipped (a late one made
          // that count 35 of 36 in one run).
          if !goalRelevant && !check && shape.n < 16
            && ChildProcess.monotonicSeconds() > softDeadline
          {
            row.skipped = "not measured: the bench's 15-minute budget ran out"
            shapeRows.append(row)
            continue
          }
          // The knob space: every ISA for the autotuner check; the widest ISA with every unroll
          // and tile where the goals need it; else 2 unrolls x the 2 widest tiles.
          let spaceISAs = check && !quick ? isas : [widest]
          var unrolls = KernelGenerator.unrollValues
          var tiles = KernelGenerator.nTileValues.filter { $0 <= shape.n }
          if tiles.isEmpty { tiles = [shape.n] }
          if quick {
            unrolls = [2, 4]
            tiles = [8, 16]
          } else if !goalRelevant && !check {
            unrolls = [2, 4]
            tiles = Array(tiles.suffix(2))
          }
          let variants = KernelGenerator.variants(
            for: workload, batch: shape.n, target: "host", compiler: target.compiler,
            flags: flags, isas: spaceISAs, unrolls: unrolls, nTiles: tiles)
          let sizes = [spaceISAs.count, unrolls.count, shape.n == 1 ? 1 : tiles.count]
          precondition(sizes.reduce(1, *) == variants.count, "knob space and variants disagree")
          row.space = variants.count
          let file = work.appendingPathComponent("\(workload.id).workload")
          do {
            try WorkloadFile.write(
              rows: shape.m, cols: shape.k, weights: weights, mask: mask, to: file)
          } catch { throw BenchError.failed("cannot write a workload: \(error)") }
          defer { try? FileManager.default.removeItem(at: file) }
          var costs: [[Int]: Double?] = [:]
          var medians: [Double] = []
          let outcome = KnobSearch.run(.exhaustive, sizes: sizes) { p in
            let v = variants[(p[0] * sizes[1] + p[1]) * sizes[2] + p[2]]
            let m = measure(v, file, warm, &row.failures)
            costs[p] = m
            if let m {
              medians.append(m)
              if m < (row.bestSeconds ?? .infinity) {
                row.bestSeconds = m
                row.bestKnobs = v.knobs
                row.bestVariant = v
              }
            }
            return m
          }
          row.measured = outcome.measured.count
          series["\(sb)_r\(rate)_b\(block.label)_variant_median_s"] = medians
          if check || quick { exhaustiveTables["\(sb)_r\(rate)_b\(block.label)"] = (sizes, costs) }
          // A second search stage over the cache tile (`n_block`) for N >= 64: the best knobs with
          // every tile of 64, 128, 256 columns that fits, each with X in place and packed
          // (`pack_x`); a faster one becomes the tuned kernel.
          if shape.n >= 64, let v = row.bestVariant, let t0 = row.bestSeconds {
            row.bestWithoutCacheTile = t0
            for nb in [64, 128, 256]
            where KernelGenerator.validNBlock(
              nb, format: v.workload.format, batch: shape.n, nTile: v.knobs.nTile)
            {
              for pack in [false, true] {
                var vb = v
                vb.knobs.nBlock = nb
                vb.knobs.packX = pack
                guard !pack || KernelGenerator.supportsPackX(vb.workload.format, knobs: vb.knobs)
                else { continue }
                guard let m = measure(vb, file, warm, &row.failures) else { continue }
                if pack {
                  row.bestPackedTile = min(row.bestPackedTile ?? m, m)
                } else {
                  row.bestInPlaceTile = min(row.bestInPlaceTile ?? m, m)
                }
                if row.promote(vb, seconds: m) { row.cacheTile = nb }
              }
            }
          }
          // The weight-prefetch stage, for packed weights beyond a core's L2 (1 MB): the best knobs
          // with the values and indices prefetched 256 and 1024 kept entries ahead; a faster one
          // becomes the tuned kernel.
          if row.packedBytes > 1 << 20 || quick, let v = row.bestVariant, let t0 = row.bestSeconds,
            KernelGenerator.supportsPrefetchW(v.workload.format, knobs: v.knobs)
          {
            row.beforeWeightPrefetch = t0
            for d in quick ? [256] : [256, 1024] {
              var vw = v
              vw.knobs.prefetchW = d
              guard let m = measure(vw, file, warm, &row.failures) else { continue }
              row.weightPrefetchSeconds = min(row.weightPrefetchSeconds ?? m, m)
              if row.promote(vw, seconds: m) { row.weightPrefetch = d }
            }
          }
          // Cold batch 1: the best variant with the caches flushed.
          if shape.n == 1 && !quick, let v = row.bestVariant {
            var why: [String] = []
            row.coldSeconds = measure(v, file, cold, &why)
            row.coldNote = why.first
          }
          // 2 threads: the best variant's knobs with threads 2, alternating with 1 thread so both
          // see the same machine (N >= 64 carries the goal; quick runs it once on its input).
          if shape.n >= 64 || quick, let v = row.bestVariant,
            ProcessInfo.processInfo.activeProcessorCount >= 2
          {
            var v2 = v
            v2.knobs.threads = 2
            var why: [String] = []
            for _ in 0..<(quick ? 1 : Self.threadRounds) {
              if let a = measure(v, file, warm, &why) { row.rerun1t = min(row.rerun1t ?? a, a) }
              if let b = measure(v2, file, warm, &why) { row.rerun2t = min(row.rerun2t ?? b, b) }
            }
            row.threadNote = why.first
          }
          // The prefetch knob: the best knobs with software prefetch of X's rows (goal workloads
          // with N > 1), both reading X in place (prefetch addresses X's rows, not a packed tile).
          if goalRelevant || quick, var v = row.bestVariant,
            KernelGenerator.supportsPrefetch(v.workload.format, batch: shape.n)
          {
            v.knobs.packX = false
            var why: [String] = []
            for _ in 0..<(quick ? 1 : 2) {
              if let a = measure(v, file, warm, &why) {
                row.noPrefetchSeconds = min(row.noPrefetchSeconds ?? a, a)
              }
              for d in [8, 32] {
                var vp = v
                vp.knobs.prefetch = d
                if let b = measure(vp, file, warm, &why), b < (row.prefetchSeconds ?? .infinity) {
                  row.prefetchSeconds = b
                  row.prefetchDistance = d
                }
              }
            }
            row.prefetchNote = why.first
          }
          // The compiler knob: the best knobs built with clang (the goal workloads only).
          if goalRelevant || quick, let v = row.bestVariant, ChildProcess.which("clang") != nil {
            var vc = v
            vc.compiler = "clang"
            var why: [String] = []
            for _ in 0..<(quick ? 1 : 2) {
              if let a = measure(v, file, warm, &why) {
                row.gccSeconds = min(row.gccSeconds ?? a, a)
              }
              if let b = measure(vc, file, warm, &why) {
                row.clangSeconds = min(row.clangSeconds ?? b, b)
              }
            }
            row.clangNote = why.first
          }
          // The pattern stage (goal workloads at rate 4: at both rates it ran the bench past its
          // budget): the best knobs with the block rows in pattern order and, where the layer has
          // at most `bakedEntryLimit` kept-column entries, with the indices baked in; a faster
          // one becomes the tuned kernel.
          if (goalRelevant && rate == 4) || quick, let v = row.bestVariant,
            KernelGenerator.supportsReorder(v.workload.format, threads: v.knobs.threads)
          {
            var why: [String] = []
            var reordered = v
            reordered.knobs.reorder = true
            var baked = v
            baked.knobs.baked = true
            baked.knobs.nBlock = 0
            baked.knobs.packX = false
            baked.knobs.prefetchW = 0
            let bakes = KernelGenerator.supportsBaked(baked.workload, knobs: baked.knobs)
            if !bakes {
              why.append(
                "baked: not generated (over \(KernelGenerator.bakedEntryLimit) kept-column entries, or a cache tile)"
              )
            }
            for _ in 0..<(quick ? 1 : 2) {
              if let a = measure(v, file, warm, &why) {
                row.patternBaseSeconds = min(row.patternBaseSeconds ?? a, a)
              }
              if let b = measure(reordered, file, warm, &why) {
                row.reorderSeconds = min(row.reorderSeconds ?? b, b)
              }
              if bakes, let b = measure(baked, file, warm, &why, mask: mask) {
                row.bakedSeconds = min(row.bakedSeconds ?? b, b)
              }
            }
            row.patternNote = why.first
            for (t, cand) in [(row.reorderSeconds, reordered), (row.bakedSeconds, baked)] {
              if let t, let base = row.patternBaseSeconds, t < base {
                _ = row.promote(cand, seconds: t)
              }
            }
          }
          progress(
            "\(sb) rate \(rate) \(block.label): kept \(kept), \(row.measured) variants, best "
              + (row.bestSeconds.map {
                String(format: "%.3g s (%.1f GFLOP/s)", $0, row.gflops ?? 0)
              }
                ?? "none") + " \(Self.knobText(row.bestKnobs))"
              + (row.rerun1t.flatMap { a in
                row.rerun2t.map { String(format: "; 2 threads %.2fx", a / $0) }
              } ?? ""))
          shapeRows.append(row)
        }
      }
      // 4c. blkrew's dense kernel (and cold at N = 1).
      if !quick {
        let ones = [UInt8](repeating: 1, count: shape.m * shape.k)
        let (weights, _, _, _) = Self.makeLayer(
          m: shape.m, k: shape.k, block: Block(rows: 1, cols: 1), rate: 1, seed: 99)
        let dense = Workload(
          rows: shape.m, cols: shape.k, format: .dense, blockRows: 1, blockCols: 1,
          maskHash: Workload.maskHash(ones), kept: ones.count)
        let file = work.appendingPathComponent("\(dense.id).workload")
        try? WorkloadFile.write(
          rows: shape.m, cols: shape.k, weights: weights, mask: ones, to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let tiles = KernelGenerator.nTileValues.filter { $0 <= shape.n }.suffix(2)
        let variants = KernelGenerator.variants(
          for: dense, batch: shape.n, target: "host", compiler: target.compiler, flags: flags,
          isas: [widest], unrolls: [2, 4], nTiles: Array(tiles))
        var why: [String] = []
        var best: KernelVariant?
        for v in variants {
          if let m = measure(v, file, warm, &why), m < (peers.blkrewDense ?? .infinity) {
            peers.blkrewDense = m
            peers.blkrewDenseKnobs = v.knobs
            best = v
          }
        }
        if let w = why.first { peers.notes["blkrew_dense"] = w }
        if shape.n == 1, let best {
          peers.blkrewDenseCold = measure(best, file, cold, &why)
        }
      }
      // The non-zero count of each rate (the sparse peers run at it).
      var keptByRate: [Int: Int] = [:]
      for r in shapeRows where keptByRate[r.rate] == nil { keptByRate[r.rate] = r.kept }
      // 4d. onnxruntime and scipy CSR, one Python process per shape.
      if let python {
        var cases: [[String: Any]] = []
        for threads in [1, 2] {
          cases.append([
            "id": "ort\(threads)", "kind": "ort", "m": shape.m, "k": shape.k, "n": shape.n,
            "threads": threads, "seconds": 0.6, "seed": 1, "cpu": warm.resolvedCPU ?? -1,
          ])
        }
        for (rate, kept) in keptByRate.sorted(by: { $0.key < $1.key }) {
          cases.append([
            "id": "csr\(rate)", "kind": "csr", "m": shape.m, "k": shape.k, "n": shape.n,
            "threads": 1, "nnz": kept, "seconds": 0.6, "seed": rate, "cpu": warm.resolvedCPU ?? -1,
          ])
        }
        let casesFile = work.appendingPathComponent("peers-\(sb).json")
        try? JSONSerialization.data(withJSONObject: cases).write(to: casesFile)
        let r = try? ChildProcess.run(
          python, ["\(root)/scripts/bench/kernels_peers.py", casesFile.path],
          environment: Self.threadEnv(1), timeout: 600)
        for line in (r?.stdoutText ?? "").split(separator: "\n") {
          guard let j = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
          else { continue }
          if let v = j["versions"] as? [String: Any] { versions = v }
          guard let id = j["id"] as? String else { continue }
          let t = j["median_s"] as? Double
          if let e = j["error"] as? String { peers.notes[id] = e }
          if id == "ort1" { peers.ort1 = t }
          if id == "ort2" { peers.ort2 = t }
          if id.hasPrefix("csr"), let rate = Int(id.dropFirst(3)) { peers.csr[rate] = t }
        }
        if r?.succeeded != true {
          peers.notes["python"] = "kernels_peers.py \(r?.summary ?? "did not run")"
        }
      }
      // 4e. XNNPACK SpMM at each rate's non-zero count (random unstructured positions), 1 thread,
      // pinned like the tuned kernels.
      for (rate, kept) in keptByRate.sorted(by: { $0.key < $1.key }) {
        guard let exe = xnnpackExe else {
          peers.notes["xnnpack\(rate)"] = xnnpackWhy
          continue
        }
        let pin = warm.resolvedCPU.map { ["--cpu", "\($0)"] } ?? []
        let t = Self.runJSON(
          exe,
          ["\(shape.m)", "\(shape.k)", "\(shape.n)", "\(kept)", "\(rate)", quick ? "0.1" : "0.6"]
            + pin, env: Self.threadEnv(1))
        peers.xnnpack[rate] = t.0
        if let why = t.1 { peers.notes["xnnpack\(rate)"] = why }
      }
      peersByShape[sb] = peers
      rows += shapeRows
      progress(
        "\(sb): best dense \(peers.bestDense.map { "\($0.0) \(String(format: "%.3g s", $0.1))" } ?? "none")"
          + "; elapsed \(Int(ChildProcess.monotonicSeconds() - t0)) s")
    }
    // Baked indices where they apply: every goal layer above has more kept-column entries than
    // `bakedEntryLimit`, so two small batch-1 layers of the sizes the paper suites prune (block
    // 8x16), index arrays against the same knobs baked and reordered (alternating, min of 3).
    for (label, m, k, rate) in quick ? [("fc256", 256, 256, 8)] : Self.patternLayers {
      let (weights, mask, kept, _) = Self.makeLayer(
        m: m, k: k, block: Self.blocks[0], rate: rate, seed: UInt64(m * 31 + rate))
      let workload = Workload(
        rows: m, cols: k, format: .blockColumn, blockRows: Self.blocks[0].rows,
        blockCols: Self.blocks[0].cols, maskHash: Workload.maskHash(mask), kept: kept)
      let file = work.appendingPathComponent("\(workload.id).workload")
      try? WorkloadFile.write(rows: m, cols: k, weights: weights, mask: mask, to: file)
      defer { try? FileManager.default.removeItem(at: file) }
      let tag = "small_\(label)_n1_r\(rate)_b\(Self.blocks[0].label)"
      let base = KernelVariant(
        workload: workload, knobs: KernelKnobs(batch: 1, unroll: 2, isa: widest), target: "host",
        compiler: target.compiler, flags: flags + KernelGenerator.isaFlags(widest),
        generatorVersion: KernelGenerator.version)
      var variants = [("arrays", base)]
      for (name, baked, reorder) in [("baked", true, false), ("reorder", false, true)] {
        var v = base
        v.knobs.baked = baked
        v.knobs.reorder = reorder
        variants.append((name, v))
      }
      var best: [String: Double] = [:]
      var why: [String] = []
      for _ in 0..<(quick ? 1 : 3) {
        for (name, v) in variants {
          if let t = measure(v, file, warm, &why, mask: mask) {
            best[name] = min(best[name] ?? t, t)
          }
        }
      }
      for name in ["baked", "reorder"] {
        let ratio = best["arrays"].flatMap { a in best[name].map { a / $0 } }
        figures.append(
          BenchFigure(
            name: "\(tag)_\(name == "baked" ? "baked_over_arrays" : "reorder_over_none")",
            value: ratio, unit: "ratio", direction: .higherIsBetter,
            note: ratio == nil
              ? "not measured: \(why.first ?? "no result")"
              : "\(m)x\(k), \(kept) kept, \(widest.rawValue) unroll 2: index-array kernel time / the "
                + "same knobs \(name == "baked" ? "with the kept columns baked in" : "with the block rows in pattern order") "
                + "(> 1: faster), min of \(quick ? 1 : 3) alternating runs each"))
      }
      progress(
        "\(tag): "
          + ["arrays", "baked", "reorder"].map { n in
            "\(n) \(best[n].map { String(format: "%.3g us", $0 * 1e6) } ?? "failed")"
          }.joined(separator: ", "))
    }
    measurePeak()
    settings["python_versions"] = versions.sorted(by: { $0.key < $1.key }).map {
      "\($0.key) \($0.value)"
    }
    .joined(separator: ", ")

    // 5. Figures.
    figures.append(
      BenchFigure(
        name: "fma_peak_1t_gflops", value: peak1 > 0 ? peak1 : nil, unit: "GFLOP/s",
        direction: .higherIsBetter,
        note: "FP32 FMA throughput, 1 thread, best rep of the start and end measurements"
          + (peakNotes.isEmpty ? "" : "; \(peakNotes.joined(separator: "; "))")))
    figures.append(
      BenchFigure(
        name: "fma_peak_2t_gflops", value: peak2 > 0 ? peak2 : nil, unit: "GFLOP/s",
        direction: .higherIsBetter, note: "FP32 FMA throughput, 2 threads (one per core)"))
    let gflops: (Double, Int, Int, Int) -> Double = { s, m, k, n in 2 * Double(m * k * n) / s / 1e9
    }
    for shape in shapes {
      let sb = shape.tag
      guard let p = peersByShape[sb] else { continue }
      func dense(_ n: String, _ t: Double?, _ what: String, _ why: String?) {
        figures.append(
          BenchFigure(
            name: "\(sb)_\(n)_gflops", value: t.map { gflops($0, shape.m, shape.k, shape.n) },
            unit: "GFLOP/s", direction: .higherIsBetter,
            note: t == nil
              ? "not measured: \(why ?? "no result")"
              : "\(what), \(shape.m)x\(shape.k) N \(shape.n), dense MACs"))
      }
      dense(
        "openblas_1t", p.openblas1,
        "OpenBLAS sgemm, 1 thread, best core type here: \(p.notes["openblas_core"] ?? "?")",
        p.notes.first { $0.key.hasPrefix("openblas_1t") }?.value)
      if !quick {
        dense(
          "openblas_2t", p.openblas2, "OpenBLAS sgemm, 2 threads, the 1-thread best core type",
          p.notes["openblas_2t"])
        dense(
          "onnxruntime_1t", p.ort1, "onnxruntime MLAS MatMul, 1 thread",
          p.notes["ort1"] ?? (python == nil ? pythonWhy : nil))
        dense(
          "onnxruntime_2t", p.ort2, "onnxruntime MLAS MatMul, 2 threads",
          p.notes["ort2"] ?? (python == nil ? pythonWhy : nil))
        dense(
          "blkrew_dense_1t", p.blkrewDense,
          "blkrew dense kernel \(Self.knobText(p.blkrewDenseKnobs))", p.notes["blkrew_dense"])
        if shape.n == 1 {
          dense(
            "openblas_cold_1t", p.openblasCold,
            "OpenBLAS, caches flushed (128 MiB) before each call", p.notes["openblas_cold"])
          dense(
            "blkrew_dense_cold_1t", p.blkrewDenseCold, "blkrew dense kernel, caches flushed", nil)
        }
        if shape.n >= 64 {
          figures.append(
            BenchFigure(
              name: "\(sb)_openblas_2t_vs_1t",
              value: p.openblas1.flatMap { a in p.openblas2.map { a / $0 } }, unit: "ratio",
              direction: .higherIsBetter,
              note: "OpenBLAS 1-thread time / 2-thread time (for comparison with the tuned kernels)"
            ))
        }
      }
      if let best = p.bestDense {
        figures.append(
          BenchFigure(
            name: "\(sb)_best_dense_1t_gflops", value: gflops(best.1, shape.m, shape.k, shape.n),
            unit: "GFLOP/s", direction: .higherIsBetter,
            note: "fastest 1-thread dense peer: \(best.0)"))
      }
      for rate in rates {
        let kept = rows.first { $0.shape.tag == sb && $0.rate == rate }?.kept ?? 0
        let t = p.csr[rate]
        if !quick {
          figures.append(
            BenchFigure(
              name: "\(sb)_r\(rate)_scipy_csr_gflops",
              value: t.map { 2 * Double(kept * shape.n) / $0 / 1e9 },
              unit: "GFLOP/s", direction: .higherIsBetter,
              note: t == nil
                ? "not measured: \(p.notes["csr\(rate)"] ?? pythonWhy)"
                : "scipy.sparse CSR @ dense, \(kept) random non-zeros (the block mask's count), 1 thread"
            ))
        }
        let x = p.xnnpack[rate]
        figures.append(
          BenchFigure(
            name: "\(sb)_r\(rate)_xnnpack_spmm_gflops",
            value: x.map { 2 * Double(kept * shape.n) / $0 / 1e9 },
            unit: "GFLOP/s", direction: .higherIsBetter,
            note: x == nil
              ? "not measured: \(p.notes["xnnpack\(rate)"] ?? "no result")"
              : "XNNPACK SpMM (xnn_create_convolution2d_nchw_f32, 1x1 NCHW = Y = W X), \(kept) random "
                + "non-zeros, 1 thread"))
      }
    }
    for row in rows {
      let sb = row.shape.tag
      let tag = "\(sb)_r\(row.rate)_b\(row.block.label)"
      let p = peersByShape[sb] ?? Peers()
      let knobs = Self.knobText(row.bestKnobs)
      let missing =
        row.skipped ?? "not measured: no variant verified (\(row.failures.first ?? "?"))"
      let nGoal = row.shape.n >= 16 && !quick
      figures.append(
        BenchFigure(
          name: "\(tag)_tuned_gflops", value: row.gflops, unit: "GFLOP/s",
          direction: .higherIsBetter,
          note: row.gflops == nil
            ? missing
            : "kept MACs x 2 / best median over \(row.measured) of \(row.space) variants; best \(knobs); kept \(row.kept)"
        ))
      figures.append(
        BenchFigure(
          name: "\(tag)_pct_fma_peak",
          value: row.gflops.flatMap { peak1 > 0 ? 100 * $0 / peak1 : nil },
          unit: "%", direction: .higherIsBetter, goal: nGoal ? 85 : nil,
          note: row.gflops == nil ? missing : "tuned GFLOP/s / 1-thread FMA peak"))
      let dense = p.bestDense
      let vsDense = row.bestSeconds.flatMap { s in dense.map { $0.1 / s } }
      let denseGoal =
        nGoal && row.block == Self.blocks[0] && (row.rate == 4 || row.rate == 8)
        ? 0.9 * Double(row.rate) : nil
      figures.append(
        BenchFigure(
          name: "\(tag)_vs_best_dense", value: vsDense, unit: "ratio", direction: .higherIsBetter,
          goal: denseGoal,
          note: vsDense == nil
            ? (row.gflops == nil ? missing : "not measured: no dense peer")
            : "\(dense!.0) 1-thread time / tuned time (speedup)"))
      // The unstructured peers one by one (scipy in full runs only: quick has no Python peers).
      for (id, name, time, why, what) in [
        ("scipy_csr", "csr", quick ? nil : p.csr[row.rate], pythonWhy, "scipy CSR"),
        ("xnnpack_spmm", "xnnpack", p.xnnpack[row.rate], "no result", "XNNPACK SpMM"),
      ] where !(quick && id == "scipy_csr") {
        let ratio = row.bestSeconds.flatMap { s in time.map { $0 / s } }
        figures.append(
          BenchFigure(
            name: "\(tag)_vs_\(id)", value: ratio, unit: "ratio", direction: .higherIsBetter,
            note: ratio == nil
              ? (row.gflops == nil
                ? missing : "not measured: \(p.notes["\(name)\(row.rate)"] ?? why)")
              : "\(what) time at the same non-zero count / tuned time"))
      }
      let sparse = p.bestSparse(row.rate)
      let vsSparse = row.bestSeconds.flatMap { s in sparse.map { $0.1 / s } }
      figures.append(
        BenchFigure(
          name: "\(tag)_vs_best_sparse", value: vsSparse, unit: "ratio",
          direction: .higherIsBetter, goal: quick ? nil : 3,
          note: vsSparse == nil
            ? (row.gflops == nil ? missing : "not measured: no unstructured sparse peer")
            : "\(sparse!.0) (the fastest unstructured sparse library measured) time at the same "
              + "non-zero count / tuned time"))
      if let t0 = row.bestWithoutCacheTile, let t = row.bestSeconds {
        figures.append(
          BenchFigure(
            name: "\(tag)_cache_tile_over_none", value: t0 / t, unit: "ratio",
            direction: .higherIsBetter,
            note: row.cacheTile.map {
              "exhaustive best without a cache tile / with n_block \($0) (the tuned kernel)"
            } ?? "no cache tile (n_block 64, 128, 256) beat the exhaustive best"))
      }
      if let t0 = row.beforeWeightPrefetch, let t = row.weightPrefetchSeconds {
        figures.append(
          BenchFigure(
            name: "\(tag)_prefetch_w_over_none", value: t0 / t, unit: "ratio",
            direction: .higherIsBetter,
            note: "best before the weight-prefetch stage / best with prefetch_w 256 or 1024"
              + (row.weightPrefetch.map { " (prefetch_w \($0) is the tuned kernel)" }
                ?? " (neither beat it)")))
      }
      if let inPlace = row.bestInPlaceTile, let packed = row.bestPackedTile {
        let unpacked = min(inPlace, row.bestWithoutCacheTile ?? inPlace)
        figures.append(
          BenchFigure(
            name: "\(tag)_pack_x_over_in_place", value: unpacked / packed, unit: "ratio",
            direction: .higherIsBetter,
            note:
              "best without packing (no cache tile or n_block 64-256, X in place) / best with X "
              + "packed per cache tile (pack_x)"))
      }
      if row.noPrefetchSeconds != nil || row.prefetchNote != nil {
        let ratio = row.noPrefetchSeconds.flatMap { a in row.prefetchSeconds.map { a / $0 } }
        figures.append(
          BenchFigure(
            name: "\(tag)_prefetch_over_none", value: ratio, unit: "ratio",
            direction: .higherIsBetter,
            note: ratio == nil
              ? "not measured: \(row.prefetchNote ?? "no result")"
              : "the best variant (\(knobs)) time without prefetch / with the better of prefetch "
                + "distances 8 and 32 (\(row.prefetchDistance ?? 0) here; > 1: prefetch helps), "
                + "min of \(quick ? 1 : 2) alternating runs each"))
      }
      if row.patternBaseSeconds != nil || row.patternNote != nil {
        for (name, t, what) in [
          ("reorder_over_none", row.reorderSeconds, "the block rows in pattern order"),
          ("baked_over_arrays", row.bakedSeconds, "the kept column indices baked into the code"),
        ] {
          let ratio = row.patternBaseSeconds.flatMap { a in t.map { a / $0 } }
          figures.append(
            BenchFigure(
              name: "\(tag)_\(name)", value: ratio, unit: "ratio", direction: .higherIsBetter,
              note: ratio == nil
                ? "not measured: \(row.patternNote ?? "no result")"
                : "the best variant before the pattern stage / the same knobs with \(what) "
                  + "(> 1: faster), min of \(quick ? 1 : 2) alternating runs each"))
        }
      }
      if row.gccSeconds != nil || row.clangNote != nil {
        let ratio = row.gccSeconds.flatMap { a in row.clangSeconds.map { a / $0 } }
        figures.append(
          BenchFigure(
            name: "\(tag)_clang_over_gcc", value: ratio, unit: "ratio", direction: .higherIsBetter,
            note: ratio == nil
              ? "not measured: \(row.clangNote ?? "no result")"
              : "the best variant (\(knobs), built by gcc) gcc time / the same kernel built by clang "
                + "(> 1: clang faster), min of \(quick ? 1 : 2) alternating runs each"))
      }
      if row.shape.n >= 64 || (quick && row.rerun2t != nil) {
        let ratio = row.rerun1t.flatMap { a in row.rerun2t.map { a / $0 } }
        figures.append(
          BenchFigure(
            name: "\(tag)_tuned_2t_vs_1t", value: ratio, unit: "ratio",
            direction: .higherIsBetter, goal: quick ? nil : 1.8,
            note: ratio == nil
              ? (row.gflops == nil
                ? missing : "not measured: \(row.threadNote ?? "fewer than 2 CPUs")")
              : "best variant (\(knobs)) 1-thread time / the same knobs with threads 2 (the block rows "
                + "split by kept columns over a spinning pool), min of \(quick ? 1 : Self.threadRounds) alternating runs each"
          ))
        if let t2 = row.rerun2t, peak2 > 0 {
          figures.append(
            BenchFigure(
              name: "\(tag)_tuned_2t_pct_fma_peak",
              value: 100 * 2 * Double(row.kept * row.shape.n) / t2 / 1e9 / peak2, unit: "%",
              direction: .higherIsBetter, note: "2-thread GFLOP/s / 2-thread FMA peak"))
        }
      }
      if row.shape.n == 1 && !quick {
        let bytes = Double(row.shape.m * row.shape.k * 4) / Double(row.packedBytes)
        let dc = p.bestDenseCold
        let ratio = row.coldSeconds.flatMap { s in dc.map { $0.1 / s } }
        figures.append(
          BenchFigure(
            name: "\(tag)_dense_over_packed_bytes", value: bytes, unit: "ratio",
            direction: .higherIsBetter,
            note:
              "dense fp32 bytes / block-column packed bytes (values + column index per segment + counts)"
          ))
        figures.append(
          BenchFigure(
            name: "\(tag)_cold_vs_dense", value: ratio, unit: "ratio", direction: .higherIsBetter,
            goal: 0.8 * bytes,
            note: ratio == nil
              ? "not measured: \(row.coldNote ?? row.skipped ?? "no cold measurement")"
              : "caches flushed: \(dc!.0) cold time / tuned cold time; goal 0.8 x bytes ratio"))
      }
    }
    // 6. The autotuner check: KnobSearch replayed over the exhaustive measurements.
    var tunerRows: [(String, Int, Int, Double?, Int, Double?, Double?)] = []
    for (tag, table) in exhaustiveTables.sorted(by: { $0.key < $1.key }) {
      let total = table.costs.count
      guard let exBest = table.costs.values.compactMap({ $0 }).min() else { continue }
      let limit = max(1, total / 4)
      let mid = [table.sizes[0] - 1, min(1, table.sizes[1] - 1), table.sizes[2] / 2]
      let cost: ([Int]) -> Double? = { table.costs[$0] ?? nil }
      let greedy = KnobSearch.run(.greedy, sizes: table.sizes, start: mid, cost: cost)
      let greedy25 = KnobSearch.run(
        .greedy, sizes: table.sizes, start: mid, limit: limit, cost: cost)
      let random25 = KnobSearch.run(.random, sizes: table.sizes, limit: limit, seed: 7, cost: cost)
      func bestOf(_ o: KnobSearch.Outcome) -> Double? { o.measured.compactMap(\.1).min() }
      let g = bestOf(greedy).map { $0 / exBest }
      let g25 = bestOf(greedy25).map { $0 / exBest }
      let r25 = bestOf(random25).map { $0 / exBest }
      tunerRows.append((tag, total, greedy.measured.count, g, limit, g25, r25))
      let space =
        "space \(total) points (\(table.sizes.map(String.init).joined(separator: "x")) ISA x unroll x tile)"
      figures.append(
        BenchFigure(
          name: "\(tag)_greedy_fraction_measured",
          value: Double(greedy.measured.count) / Double(total),
          unit: "fraction", direction: .lowerIsBetter, goal: quick ? nil : 0.25,
          note:
            "greedy coordinate descent (early stopping, no limit) from the middle: \(greedy.measured.count) of \(total) measurements; \(space)"
        ))
      figures.append(
        BenchFigure(
          name: "\(tag)_greedy_best_over_exhaustive", value: g, unit: "ratio",
          direction: .lowerIsBetter,
          goal: quick ? nil : 1.05,
          note:
            "greedy (no limit) best median / exhaustive best median; replayed over the exhaustive measurements"
        ))
      figures.append(
        BenchFigure(
          name: "\(tag)_greedy25_best_over_exhaustive", value: g25, unit: "ratio",
          direction: .lowerIsBetter,
          goal: quick ? nil : 1.05,
          note: "greedy limited to \(limit) = 25% of \(total) measurements; replayed"))
      figures.append(
        BenchFigure(
          name: "\(tag)_random25_best_over_exhaustive", value: r25, unit: "ratio",
          direction: .lowerIsBetter,
          goal: quick ? nil : 1.05,
          note: "random (seed 7) limited to \(limit) = 25% of \(total) measurements; replayed"))
    }
    // 7. The summary table.
    Self.printSummary(rows: rows, peers: peersByShape, peak: peak1, peak2: peak2, tuner: tunerRows)
    settings["seconds_total"] = String(format: "%.0f", ChildProcess.monotonicSeconds() - t0)
    return context.record(name, start: start, settings: settings, figures: figures, series: series)
  }

  // MARK: - Helpers

  static func printSummary(
    rows: [Row], peers: [String: Peers], peak: Double, peak2: Double,
    tuner: [(String, Int, Int, Double?, Int, Double?, Double?)]
  ) {
    func f(_ x: Double?, _ fmt: String = "%.2f") -> String {
      x.map { String(format: fmt, $0) } ?? "-"
    }
    var out =
      "\nkernels: FMA peak \(f(peak, "%.1f")) GFLOP/s (1 thread), \(f(peak2, "%.1f")) (2 threads)\n"
    func pad(_ s: String, _ w: Int) -> String {
      s.count >= w ? s : s + String(repeating: " ", count: w - s.count)
    }
    func line(_ cells: [String]) -> String {
      let widths = [20, 5, 6, 11, 7, 8, 13, 8, 8, 9]
      return cells.enumerated().map {
        $0.offset < widths.count ? pad($0.element, widths[$0.offset]) : $0.element
      }
      .joined(separator: " ") + "\n"
    }
    out += line([
      "shape", "rate", "block", "tuned GF/s", "%peak", "vsDense", "(best dense)", "vsSparse",
      "cold",
      "coldGoal", "goals",
    ])
    for r in rows {
      let p = peers[r.shape.tag] ?? Peers()
      let dense = p.bestDense
      let vsDense = r.bestSeconds.flatMap { s in dense.map { $0.1 / s } }
      let vsCSR = r.bestSeconds.flatMap { s in p.bestSparse(r.rate).map { $0.1 / s } }
      let pct = r.gflops.map { 100 * $0 / max(peak, 1e-9) }
      var goals: [String] = []
      if r.shape.n >= 16 { goals.append("peak " + ((pct ?? 0) >= 85 ? "ok" : "NO")) }
      if r.shape.n >= 16 && r.block.rows == 8 && (r.rate == 4 || r.rate == 8) {
        goals.append("dense " + ((vsDense ?? 0) >= 0.9 * Double(r.rate) ? "ok" : "NO"))
      }
      if vsCSR != nil { goals.append("sparse " + ((vsCSR ?? 0) >= 3 ? "ok" : "NO")) }
      var coldRatio: Double?
      var coldGoal: Double?
      if r.shape.n == 1 {
        coldGoal = 0.8 * Double(r.shape.m * r.shape.k * 4) / Double(r.packedBytes)
        coldRatio = r.coldSeconds.flatMap { s in p.bestDenseCold.map { $0.1 / s } }
        if let c = coldRatio { goals.append("cold " + (c >= coldGoal! ? "ok" : "NO")) }
      }
      out += line([
        r.shape.tag, "\(r.rate)", r.block.label, f(r.gflops, "%.1f"), f(pct, "%.1f"), f(vsDense),
        dense?.0 ?? "-", f(vsCSR), f(coldRatio), f(coldGoal),
        r.skipped == nil ? goals.joined(separator: ", ") : "skipped",
      ])
    }
    if !tuner.isEmpty {
      out += "autotuner (replayed over the exhaustive measurements):\n"
      for t in tuner {
        out +=
          "  \(t.0): exhaustive \(t.1) points; greedy \(t.2) (\(f(Double(t.2) / Double(t.1)))) best/exh \(f(t.3, "%.3f")); "
          + "at 25% (\(t.4)): greedy \(f(t.5, "%.3f")), random \(f(t.6, "%.3f"))\n"
      }
    }
    print(out)
  }

  static func knobText(_ k: KernelKnobs?) -> String {
    guard let k else { return "-" }
    return "\(k.isa.rawValue) unroll \(k.unroll) n_tile \(k.nTile)"
      + (k.nBlock > 0 ? " n_block \(k.nBlock)" : "") + (k.baked ? " baked" : "")
      + (k.reorder ? " reorder" : "") + (k.packX ? " pack_x" : "")
      + (k.prefetchW > 0 ? " prefetch_w \(k.prefetchW)" : "")
  }

  /// Seeded random weights and a block-column mask at `rate`: (weights, mask, kept, segments).
  static func makeLayer(m: Int, k: Int, block: Block, rate: Int, seed: UInt64)
    -> ([Float], [UInt8], Int, Int)
  {
    var rng = SplitMix(seed: seed)
    var weights = [Float](repeating: 0, count: m * k)
    for i in weights.indices {
      weights[i] = Float(Double(rng.next() >> 40) / Double(1 << 24) * 2 - 1)
    }
    if rate <= 1 { return (weights, [UInt8](repeating: 1, count: m * k), m * k, 0) }
    let br = block.rows
    let bc = block.cols
    let nbr = (m + br - 1) / br
    let nbc = (k + bc - 1) / bc
    let blocks = nbr * nbc
    // Segments kept in all: bc / rate per block, spread evenly when bc < rate.
    let total = blocks * bc / rate
    let base = total / blocks
    var extra = [Bool](repeating: false, count: blocks)
    var order = Array(0..<blocks)
    for i in stride(from: order.count - 1, to: 0, by: -1) {
      order.swapAt(i, Int(rng.next() % UInt64(i + 1)))
    }
    for i in 0..<(total - base * blocks) { extra[order[i]] = true }
    var mask = [UInt8](repeating: 0, count: m * k)
    var kept = 0
    var segments = 0
    for rb in 0..<nbr {
      for cb in 0..<nbc {
        let c0 = cb * bc
        let width = min(bc, k - c0)
        let count = min(width, base + (extra[rb * nbc + cb] ? 1 : 0))
        var cols = Array(0..<width)
        for i in 0..<count {
          let j = i + Int(rng.next() % UInt64(width - i))
          cols.swapAt(i, j)
        }
        for c in cols.prefix(count) {
          segments += 1
          for r in (rb * br)..<min(m, rb * br + br) {
            mask[r * k + c0 + c] = 1
            kept += 1
          }
        }
      }
    }
    return (weights, mask, kept, segments)
  }

  /// SplitMix64 (the masks' and weights' seeded stream).
  struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
  }

  static func threadEnv(_ threads: Int) -> [String: String] {
    var env = ProcessInfo.processInfo.environment
    for v in ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"] {
      env[v] = "\(threads)"
    }
    return env
  }

  /// Runs a peer child printing one JSON line with `median_s`: (median, why not).
  static func runJSON(_ exe: String, _ args: [String], env: [String: String]) -> (Double?, String?)
  {
    guard let r = try? ChildProcess.run(exe, args, environment: env, timeout: 300) else {
      return (nil, "\(exe) did not start")
    }
    guard r.succeeded, let j = TrainSpeedBenchmark.lastJSON(r.stdoutText),
      let m = j["median_s"] as? Double
    else { return (nil, "\(exe) \(r.summary): \(r.stderrText.suffix(200))") }
    return (m, nil)
  }

  /// Compiles a C peer under scripts/bench/ with gcc.
  static func compileC(
    root: String, source: String, output: String, flags: [String], libraries: [String]
  ) throws -> String {
    let path = "\(root)/\(source)"
    guard FileManager.default.fileExists(atPath: path) else {
      throw BenchError.failed("\(source) not found (run blkrew bench from the project root)")
    }
    guard let gcc = ChildProcess.which("gcc") else { throw BenchError.failed("gcc not found") }
    let r = try ChildProcess.run(gcc, flags + [path, "-o", output] + libraries, timeout: 120)
    guard r.succeeded else {
      throw BenchError.failed("gcc \(source): \(r.summary): \(r.stderrText.suffix(300))")
    }
    return output
  }

  /// The bench venv's python with onnxruntime, scipy and onnx, or why not.
  static func locatePython(root: String, progress: (String) -> Void) -> (String?, String) {
    let setup = "\(root)/\(PyTorchPeer.venvScript)"
    let script = "\(root)/scripts/bench/kernels_peers.py"
    guard FileManager.default.fileExists(atPath: setup),
      FileManager.default.fileExists(atPath: script)
    else { return (nil, "\(PyTorchPeer.venvScript) / kernels_peers.py not found") }
    let venv = ProcessInfo.processInfo.environment["BLKREW_BENCH_VENV"] ?? "\(root)/.venv-bench"
    let python = "\(venv)/bin/python"
    progress("preparing the Python peers (\(PyTorchPeer.venvScript))")
    let r = try? ChildProcess.run(setup, [], timeout: 1800)
    if r?.succeeded != true {
      progress("bench venv setup: \(r?.summary ?? "did not run"); trying the existing environment")
    }
    guard
      let v = try? ChildProcess.run(
        python, ["-c", "import onnxruntime, scipy, onnx"], timeout: 120),
      v.succeeded
    else {
      return (
        nil,
        "pip could not install onnxruntime / scipy / onnx into \(venv) (\(PyTorchPeer.venvScript))"
      )
    }
    return (python, "")
  }
}
