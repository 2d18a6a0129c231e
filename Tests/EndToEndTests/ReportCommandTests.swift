import ChildProcesses
import Foundation
import Testing
import TuningSchema

/// A run directory written by hand from records (no sweep: these tests take about a second):
/// `run.json`, a dense baseline per seed and BLK-REW / group-lasso trials at two rates, two
/// measured layers each, kernel records with raw samples, group-norm histograms.
struct HandMadeRun {
  var suiteName = "hand"
  var compiler = "gcc (Debian 12.2.0-14) 12.2.0"
  /// Multiplies every kernel sample and latency (a slower candidate build).
  var slowdown = 1.0
  var seeds = [1, 2]
  var noiseFloor = 0.02
  /// Kernel records with PAPI cycles, instructions and L1 misses (as on bare metal).
  var hardwareCounters = false

  static let layers = [("fc1", 64, 784), ("fc2", 10, 64)]
  static let methods: [(name: String, kind: RegularizerSpec.Kind)] = [
    ("blk-rew", .reweighted), ("group-lasso", .groupLasso),
  ]

  /// Writes the run under `dir/results/<suite>/<run id>` and returns that path.
  @discardableResult
  func write(under dir: String, runID: String = "run1") throws -> String {
    let path = "\(dir)/results/\(suiteName)/\(runID)"
    try write(at: path, runID: runID)
    return path
  }

  /// Writes the run at `path`; `ids` names the trial files by `"<label> seed <seed>"` (as
  /// `sweep run --dry-run` lists a suite's plan), else each trial's config hash.
  func write(at path: String, runID: String, ids: [String: String] = [:]) throws {
    let fm = FileManager.default
    for sub in ["trials", "kernels"] {
      try fm.createDirectory(atPath: "\(path)/\(sub)", withIntermediateDirectories: true)
    }
    var env = EnvironmentInfo(
      hostname: "h", cpuModel: "Test CPU", cpuFlags: ["avx2"], cores: 2, memoryBytes: 1 << 32,
      kernel: "6.1", virtualization: "kvm", governor: nil, compiler: compiler,
      compilerFlags: ["-O3"], blas: "OpenBLAS", blasCoreType: "Haswell", openblasCoreTypeEnv: nil,
      papiVersion: "7.0.0.0",
      events: [CounterReading(name: "PAPI_TOT_CYC", available: false, reason: "no counters (VM)")],
      sdeWorks: true)
    env.compilers = [compiler]
    env.timingNoiseMinEffect = noiseFloor
    var suite = SweepSpec(
      name: suiteName, model: "mlp", dataset: "fashion-mnist",
      blocks: [BlockShape(rows: 8, cols: 16)], rates: [2, 8])
    suite.seeds = seeds
    suite.methods = Self.methods.map { MethodSpec(name: $0.name) }
    let manifest = RunManifest(
      runID: runID, suite: suite, suitePath: "suites/\(suiteName).yaml", blkrewVersion: "test",
      gitCommit: nil, createdAt: "2026-01-01T00:00:00Z", environment: env)
    try RecordCoding.encoder().encode(manifest).write(to: URL(fileURLWithPath: "\(path)/run.json"))

    for seed in seeds {
      var configs: [(String, RegularizerSpec.Kind, Double)?] = [nil]
      for m in Self.methods { for rate in [2.0, 8.0] { configs.append((m.name, m.kind, rate)) } }
      for c in configs {
        var tc = TrialConfig(
          kind: c == nil ? .dense : .pruned, model: "mlp", dataset: "fashion-mnist",
          subset: SubsetSpec(), phases: PhaseSpec(), training: TrainingSpec(), seed: seed,
          keepDense: ["last"])
        let rate = c?.2 ?? 1
        if let c {
          tc.scheme = .blockColumn
          tc.block = BlockShape(rows: 8, cols: 16)
          tc.rate = rate
          var r = RegularizerSpec()
          r.kind = c.1
          tc.regularizer = r
          tc.method = c.0
        }
        var t = TrialRecord(
          trialID: ids["\(tc.label) seed \(seed)"] ?? tc.id, config: tc, status: .ok)
        let penalty = c == nil ? 0 : (c!.0 == "blk-rew" ? 0.002 : 0.01) * (rate / 2)
        t.accuracy = 0.84 + 0.01 * Double(seed) - penalty
        t.valAccuracy = t.accuracy
        let latency = 8e-6 / (1 + 0.6 * log2(rate)) * slowdown
        t.latencySeconds = latency
        var layers: [LayerLatency] = []
        var kept: [KeptCount] = []
        for (i, (name, rows, cols)) in Self.layers.enumerated() {
          let pruned = c != nil && i == 0
          let total = rows * cols
          let k = pruned ? Int(Double(total) / rate) : total
          var kc = KeptCount(
            layer: name, rows: rows, cols: cols, total: total, kept: k, target: k, pruned: pruned)
          kc.positions = 1
          kept.append(kc)
          let median = latency * (i == 0 ? 0.8 : 0.2)
          let workload = Workload(
            rows: rows, cols: cols, format: pruned ? .blockColumn : .dense,
            blockRows: pruned ? 8 : 1, blockCols: pruned ? 16 : 1,
            maskHash: "m-\(name)-\(c?.0 ?? "dense")-\(rate)-\(seed)", kept: k)
          let variant = KernelVariant(
            workload: workload, knobs: KernelKnobs(batch: 1, unroll: 2), compiler: compiler,
            flags: ["-O3"], generatorVersion: "g")
          let samples = (0..<30).map { median * (1 + 0.001 * Double($0 % 7 - 3)) }
          let result = RunResult(
            variantID: variant.id, variant: variant, outcome: .measured, macsPerCall: Int64(k),
            samplesSeconds: samples, callsCounted: 1000,
            counters: [CounterReading(name: "perf::TASK-CLOCK", available: true, value: 1000)]
              + (hardwareCounters
                ? [
                  CounterReading(name: "PAPI_TOT_CYC", available: true, value: Int64(k) * 900),
                  CounterReading(
                    name: "PAPI_TOT_INS", available: true, value: Int64(k * (1800 + 100 * i))),
                  CounterReading(name: "PAPI_L1_DCM", available: true, value: Int64(k) * 20),
                  CounterReading(name: "PAPI_L2_DCM", available: true, value: Int64(k) * 3),
                ] : []))
          try RecordCoding.encoder().encode(result).write(
            to: URL(fileURLWithPath: "\(path)/kernels/\(variant.id).json"))
          var l = LayerLatency(
            layer: name, workloadID: workload.id, format: workload.format, rows: rows, cols: cols,
            kept: k,
            variants: [
              .init(
                variantID: variant.id, knobs: variant.knobs, outcome: .measured,
                medianSeconds: median, maxAbsErr: 0, tolerance: 1e-6)
            ], bestVariantID: variant.id, bestMedianSeconds: median, counters: [])
          l.bestCILow = median * 0.995
          l.bestCIHigh = median * 1.005
          layers.append(l)
        }
        t.layers = layers
        t.kept = kept
        t.compression = ModelCompression(kept)
        t.sizeBytes = kept.reduce(0) { $0 + $1.kept } * 6
        if c != nil {
          let edges = (0...6).map { -3 + 0.5 * Double($0) }
          t.normHistograms = [
            LayerNormHistograms(
              layer: "fc1",
              before: GroupNormHistogram(
                log10Edges: edges, counts: [0, 1, 3, 9, 5, 2], zeros: 0, belowRange: 0),
              after: GroupNormHistogram(
                log10Edges: edges, counts: [7, 4, 2, 3, 3, 1], zeros: 2, belowRange: 1))
          ]
        }
        try RecordCoding.encoder().encode(t).write(
          to: URL(fileURLWithPath: "\(path)/trials/\(t.trialID).json"))
      }
    }
  }
}

let gnuplotPath = ChildProcess.which("gnuplot")

func blkrewCommand(_ args: [String], cwd: String, environment: [String: String]? = nil) throws
  -> ChildResult
{
  try ChildProcess.run(
    blkrewBinary(), args, environment: environment, workingDirectory: cwd, timeout: 300)
}

func files(in dir: String) -> [String] {
  ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
}

@Suite struct ReportCommandTests {
  @Test func reportInEveryFormat() throws {
    let dir = temporaryDirectory("report")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let run = try HandMadeRun().write(under: dir)
    let r = try blkrewCommand(
      ["report", run, "--format", "html", "md", "csv", "json", "latex", "--out", "rep"], cwd: dir)
    #expect(r.exitCode == 0, "\(r.stderrText)")
    let printed = r.stdoutText.split(separator: "\n").map(String.init)
    #expect(printed.last == "rep/report.md")
    #expect(
      Set(printed)
        == Set(
          [
            "report.html", "report.md", "report.csv", "layers.csv", "kernels.csv", "report.json",
            "report.tex",
          ].map { "rep/\($0)" }))
    let plots = files(in: "\(dir)/rep/plots")
    for name in [
      "pareto", "accuracy-vs-compression", "speedup-vs-compression", "layer-latency",
      "norm-histograms-blk-rew", "norm-histograms-group-lasso",
    ] {
      #expect(plots.contains("\(name).csv") && plots.contains("\(name).gp"), "\(plots)")
      if gnuplotPath != nil { #expect(plots.contains("\(name).svg"), "\(name): \(plots)") }
    }
    // No hardware counters in this run: data, but no script and no plot.
    #expect(plots.contains("counters.csv") && !plots.contains("counters.gp"))
    #expect(!plots.contains { $0.hasSuffix(".tmp") })

    let md = try String(contentsOfFile: "\(dir)/rep/report.md", encoding: .utf8)
    let html = try String(contentsOfFile: "\(dir)/rep/report.html", encoding: .utf8)
    #expect(md.contains("No hardware counters were readable on this machine"))
    #expect(md.contains("[pareto.csv](plots/pareto.csv)"))
    if gnuplotPath != nil {
      #expect(md.contains("![Pareto front: test accuracy vs model latency](plots/pareto.svg)"))
      let svgs = plots.filter { $0.hasSuffix(".svg") }.count
      #expect(html.components(separatedBy: "<svg").count - 1 == svgs)
      #expect(!html.contains("<?xml"))
      #expect(!html.contains("http-equiv") && !html.contains("<script"))
      #expect(!md.contains("could not draw"), "\(md)")
    }
    let tex = try String(contentsOfFile: "\(dir)/rep/report.tex", encoding: .utf8)
    #expect(tex.contains("\\toprule") && tex.contains("MLP & Dense & 1$\\times$"))
    #expect(tex.contains(" & Group lasso & 8$\\times$"))

    let json = try #require(
      try JSONSerialization.jsonObject(
        with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/rep/report.json"))) as? [String: Any])
    let kernels = try #require(json["kernels"] as? [[String: Any]])
    #expect(kernels.count == files(in: "\(run)/kernels").count)
    #expect(kernels.allSatisfy { $0["sample_summary"] != nil && $0["samples_s"] != nil })
    #expect((json["trials"] as? [Any])?.count == 10)
    #expect((json["configurations"] as? [Any])?.count == 5)
    let kernelsCSV = try String(contentsOfFile: "\(dir)/rep/kernels.csv", encoding: .utf8)
    #expect(kernelsCSV.split(separator: "\n").count == kernels.count + 1)
    #expect(kernelsCSV.hasPrefix("variant_id,workload_id,rows,cols,format,block,kept,batch"))

    // The same records give the same plot data and scripts, byte for byte.
    let again = try blkrewCommand(["report", run, "--format", "md", "--out", "rep2"], cwd: dir)
    #expect(again.exitCode == 0)
    for f in plots where f.hasSuffix(".csv") || f.hasSuffix(".gp") || f.hasSuffix(".svg") {
      #expect(
        FileManager.default.contents(atPath: "\(dir)/rep/plots/\(f)")
          == FileManager.default.contents(atPath: "\(dir)/rep2/plots/\(f)"), "\(f)")
    }
  }

  @Test(.enabled(if: gnuplotPath != nil, "gnuplot is not installed"))
  func counterPlotWhereHardwareCountersExist() throws {
    let dir = temporaryDirectory("counters")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var hand = HandMadeRun()
    hand.hardwareCounters = true
    let run = try hand.write(under: dir)
    let r = try blkrewCommand(["report", run, "--format", "md", "--out", "rep"], cwd: dir)
    #expect(r.exitCode == 0, "\(r.stderrText)")
    let md = try String(contentsOfFile: "\(dir)/rep/report.md", encoding: .utf8)
    #expect(!md.contains("No hardware counters"))
    #expect(md.contains("![Counters per kernel variant](plots/counters.svg)"))
    let svg = try String(contentsOfFile: "\(dir)/rep/plots/counters.svg", encoding: .utf8)
    #expect(svg.contains("Instructions per cycle") && svg.contains("L2 misses/1k ins"))
    let csv = try String(contentsOfFile: "\(dir)/rep/plots/counters.csv", encoding: .utf8)
    // fc1 (i = 0): IPC 1800/900 = 2, L1 misses 1000 · 20/1800 = 11.1 per 1k instructions.
    #expect(csv.contains(",2,11.1111,1.66667,,,"), "\(csv)")
  }

  @Test func reportWithoutGnuplotStillWritesAndSaysHow() throws {
    let dir = temporaryDirectory("nognuplot")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let run = try HandMadeRun().write(under: dir)
    // An empty PATH: no gnuplot.
    try FileManager.default.createDirectory(
      atPath: "\(dir)/empty", withIntermediateDirectories: true)
    let r = try blkrewCommand(
      ["report", run, "--out", "rep"], cwd: dir, environment: ["PATH": "\(dir)/empty", "HOME": dir])
    #expect(r.exitCode == 0, "\(r.stderrText)")
    let md = try String(contentsOfFile: "\(dir)/rep/report.md", encoding: .utf8)
    #expect(md.contains("**Plots skipped.** gnuplot is not installed"))
    #expect(md.contains("apt-get install -y --no-install-recommends gnuplot-nox"))
    #expect(md.contains("## Across seeds") && md.contains("## Per-layer latency"))
    let plots = files(in: "\(dir)/rep/plots")
    #expect(plots.contains("pareto.csv") && plots.contains("pareto.gp"))
    #expect(!plots.contains { $0.hasSuffix(".svg") })
  }

  @Test func reportErrors() throws {
    let dir = temporaryDirectory("reporterr")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let missing = try blkrewCommand(["report", "nope"], cwd: dir)
    #expect(missing.exitCode == 66)
    #expect(missing.stderrText == "blkrew: error: nope: no such file\n")
    try FileManager.default.createDirectory(atPath: "\(dir)/bad", withIntermediateDirectories: true)
    try "{\"schema_version\": 1,\n \"run_id\": 3}".write(
      toFile: "\(dir)/bad/run.json", atomically: true, encoding: .utf8)
    let bad = try blkrewCommand(["report", "bad"], cwd: dir)
    #expect(bad.exitCode == 65)
    #expect(bad.stderrText.split(separator: "\n").count == 1, "\(bad.stderrText)")
    #expect(bad.stderrText.hasPrefix("blkrew: error: bad/run.json: "))
  }

  @Test func compareGatesOnRegressions() throws {
    let dir = temporaryDirectory("compare")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let base = try HandMadeRun().write(under: dir, runID: "base")
    var same = HandMadeRun()
    same.compiler = "gcc (Debian 13.1.0-1) 13.1.0"  // another compiler: other variant IDs
    let upgraded = try same.write(under: dir, runID: "same")
    var slow = same
    slow.slowdown = 1.3
    let slower = try slow.write(under: dir, runID: "slower")

    let ok = try blkrewCommand(["compare", base, upgraded], cwd: dir)
    #expect(ok.exitCode == 0, "\(ok.stdoutText)\(ok.stderrText)")
    let okLines = ok.stdoutText.split(separator: "\n")
    #expect(
      okLines.last?.hasPrefix("no regression beyond 5%: 20 kernel(s) and 10 trial(s)") == true)
    #expect(ok.stdoutText.contains("gcc (Debian 13.1.0-1) 13.1.0"))
    #expect(!ok.stdoutText.contains("REGRESSION"))

    let regressed = try blkrewCommand(["compare", base, slower], cwd: dir)
    #expect(regressed.exitCode == 2)
    #expect(regressed.stdoutText.contains("+30.0%"))
    #expect(regressed.stdoutText.contains("slower **REGRESSION**"))
    #expect(
      regressed.stdoutText.split(separator: "\n").last
        == "regression: 20 kernel(s) and 10 trial(s) slower than the base by more than 5% (or no longer ok)"
    )
    // Under a 50% threshold the same slowdown passes; the other way round it is faster.
    #expect(
      try blkrewCommand(["compare", base, slower, "--threshold", "50"], cwd: dir).exitCode == 0)
    let faster = try blkrewCommand(["compare", slower, base], cwd: dir)
    #expect(faster.exitCode == 0)
    #expect(faster.stdoutText.contains("| faster |"))

    let json = try blkrewCommand(["compare", base, slower, "--json"], cwd: dir)
    #expect(json.exitCode == 2)
    let obj = try #require(try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any])
    #expect(obj["regressions"] as? Int == 30)
    #expect((obj["kernels"] as? [Any])?.count == 20)
  }

  @Test func compareErrors() throws {
    let dir = temporaryDirectory("compareerr")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let base = try HandMadeRun().write(under: dir, runID: "base")
    var other = HandMadeRun()
    other.suiteName = "other"
    let otherRun = try other.write(under: dir, runID: "x")

    let missing = try blkrewCommand(["compare", base, "results/hand/nope"], cwd: dir)
    #expect(missing.exitCode == 66)
    #expect(missing.stderrText == "blkrew: error: results/hand/nope: no such file\n")

    try FileManager.default.createDirectory(
      atPath: "\(dir)/broken", withIntermediateDirectories: true)
    try "not json".write(toFile: "\(dir)/broken/run.json", atomically: true, encoding: .utf8)
    let broken = try blkrewCommand(["compare", base, "broken"], cwd: dir)
    #expect(broken.exitCode == 65)
    #expect(broken.stderrText.split(separator: "\n").count == 1, "\(broken.stderrText)")

    let suites = try blkrewCommand(["compare", base, otherRun], cwd: dir)
    #expect(suites.exitCode == 64)
    #expect(suites.stderrText.split(separator: "\n").count == 1)
    #expect(suites.stderrText.contains("a run of suite 'other', not 'hand'"))
    #expect(suites.stderrText.contains("--force"))
    let forced = try blkrewCommand(["compare", base, otherRun, "--force"], cwd: dir)
    #expect(forced.exitCode == 0, "\(forced.stderrText)")

    let usage = try blkrewCommand(["compare", base, base, "--threshold", "-1"], cwd: dir)
    #expect(usage.exitCode == 64)
  }
}

@Suite struct ReproduceCommandTests {
  /// The suite `HandMadeRun` writes a run of.
  static let suite = """
    schema_version: 1
    name: hand
    model: mlp
    dataset: fashion-mnist
    subset: {train: 320, val: 100, test: 500}
    phases: {pretrain_epochs: 1, reg_epochs: 1, retrain_epochs: 1}
    scheme: block-column
    methods:
      - {name: blk-rew}
      - {name: group-lasso, regularizer: {kind: group-lasso}}
    blocks: [8x16]
    rates: [2, 8]
    keep_dense: [last]
    latency: {batch: 1, batch_n: 0, threads: 1}
    seeds: [1, 2]
    """

  /// `reproduce` runs the suite through the sweep — here every trial of its run is already
  /// recorded (written by hand under the IDs of the suite's plan, so no training happens and the
  /// test takes a second; the sweep itself is tested by EndToEndTests) — then writes the tables
  /// and checks the claims.
  @Test func reproduceResumesTheSweepAndChecksTheClaims() throws {
    let dir = temporaryDirectory("reproduce")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Self.suite.write(toFile: "\(dir)/hand.yaml", atomically: true, encoding: .utf8)
    let plan = try blkrewCommand(["sweep", "run", "hand.yaml", "--dry-run"], cwd: dir)
    #expect(plan.exitCode == 0, "\(plan.stderrText)")
    var ids: [String: String] = [:]
    for line in plan.stdoutText.split(separator: "\n") {
      guard let space = line.firstIndex(of: " ") else { continue }
      ids[line[space...].trimmingCharacters(in: .whitespaces)] = String(line[..<space])
    }
    #expect(ids.count == 10, "\(ids)")
    let spec = try SuiteLoader.load(path: "\(dir)/hand.yaml")
    let runPath = "results/hand/\(spec.contentID)"
    try HandMadeRun().write(at: "\(dir)/\(runPath)", runID: spec.contentID, ids: ids)

    let r = try blkrewCommand(["reproduce", "hand.yaml", "--workers", "1"], cwd: dir)
    #expect(r.exitCode == 0, "\(r.stderrText)")
    #expect(r.stderrText.components(separatedBy: "already done (ok), skipped").count - 1 == 10)
    #expect(!r.stderrText.contains(": running"))
    let out = r.stdoutText.split(separator: "\n").map(String.init)
    #expect(out.last == "reports/hand/\(spec.contentID)/reproduce.md")
    #expect(
      Array(out.dropLast()) == [
        "(a-group-lasso) block-column BLK-REW loses less accuracy than group lasso at the same rate: holds",
        "(a-admm) block-column BLK-REW loses less accuracy than ADMM at the same rate: not testable in this run",
        "(b) BLK-REW at 8x and above stays within 1 point of the dense accuracy: holds",
        "(c) block-sparse latency speedup grows with the rate: holds",
        "(d) larger blocks are faster at the same rate but less accurate: not testable in this run",
      ])
    let reports = "\(dir)/reports/hand/\(spec.contentID)"
    let md = try String(contentsOfFile: "\(reports)/reproduce.md", encoding: .utf8)
    #expect(md.contains("| model | method | compression | accuracy (%) | latency (µs) | speedup |"))
    // BLK-REW at 8x over seeds 1 and 2: 84.2 and 85.2 %.
    #expect(md.contains("|  | BLK-REW | 8× (7.35×) | 84.70 ± 0.71 |"), "\(md)")
    #expect(
      md.contains(
        "8x16 R8: BLK-REW 84.70 ± 0.71 % vs group lasso 81.50 ± 0.71 % (+3.20 points): less lost"))
    let tex = try String(contentsOfFile: "\(reports)/reproduce.tex", encoding: .utf8)
    #expect(tex.contains("\\begin{tabular}{llrrrr}") && tex.contains("\\textbf{holds}"))
    for f in ["report.html", "report.md", "report.tex"] {
      #expect(FileManager.default.fileExists(atPath: "\(reports)/\(f)"), "\(f)")
    }

    let missing = try blkrewCommand(["reproduce", "nope.yaml"], cwd: dir)
    #expect(missing.exitCode == 66)
    #expect(missing.stderrText == "blkrew: error: nope.yaml: no such file\n")
  }
}
