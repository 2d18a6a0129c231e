import ChildProcesses
import Foundation
import KernelBuild
import KernelCodegen
import KernelRun
import Testing
import TuningSchema

/// A block-column variant of `layer` with the test flags (or `flags`).
func testVariant(_ layer: TestLayer, batch: Int = 4, flags: [String] = testFlags)
  -> KernelVariant
{
  KernelVariant(
    workload: layer.workload(.blockColumn, br: 8, bc: 8),
    knobs: KernelKnobs(batch: batch, unroll: 2, nTile: min(batch, 4)), flags: flags,
    generatorVersion: KernelGenerator.version)
}

/// Builds `variant` once and writes its workload; returns the runner and the workload file.
func buildRunner(_ variant: KernelVariant, layer: TestLayer, scratch: Scratch) throws -> (
  String, URL
) {
  let build = LocalBuilder(workDirectory: scratch.url).build(KernelGenerator.generate(variant))
  let binary = try #require(build.binaryPath, "\(build.log)")
  let file = scratch.url.appendingPathComponent("\(variant.id).blkw")
  try WorkloadFile.write(
    rows: layer.rows, cols: layer.cols, weights: layer.weights, mask: layer.mask, to: file)
  return (binary, file)
}

/// The stopping rule and bootstrap of `runner/stats.c`, compiled with a small C harness.
@Suite struct StoppingRuleTests {
  static let harness = #"""
    #include <stdio.h>
    #include "stats.h"

    static unsigned long long st = 42;
    static double noise(void) { /* uniform [0, 1) */
      st = st * 6364136223846793005ULL + 1442695040888963407ULL;
      return (double)(st >> 11) / 9007199254740992.0;
    }

    /* Feeds samples one by one like the runner; prints where and why it stopped. */
    static void run(const char *name, stats_rule_t r, int kind) {
      static double x[100000];
      int n = 0;
      stats_decision_t d = STATS_CONTINUE;
      double lo = 0, hi = 0;
      while (d == STATS_CONTINUE) {
        double v = kind == 0 ? 1e-6 : kind == 1 ? 1e-6 * (1 + 50 * noise() * noise()) : 1e-6 * (1 + 0.001 * noise());
        x[n++] = v;
        d = stats_decide(&r, x, n, 0.01 * n, &lo, &hi);
      }
      printf("%s %d %s\n", name, n, stats_decision_name(d));
    }

    int main(void) {
      stats_rule_t r = stats_default_rule();
      r.min_repeats = 10; r.max_repeats = 60; r.max_time_s = 1e9; r.ci_fraction = 0.02;
      run("constant", r, 0);
      run("noisy", r, 1);
      run("quiet", r, 2);
      r.max_time_s = 0.25; r.max_repeats = 1000;
      run("noisy_time", r, 1);
      r.ci_fraction = 0; r.max_time_s = 1e9; r.max_repeats = 15;
      run("ci_off", r, 0);
      /* A minimum time: constant samples meet the CI at once, but the rule waits for the time
       * (0.01 s per sample here); past 64 samples the CI is checked every n/32 samples. */
      r = stats_default_rule();
      r.min_repeats = 10; r.max_repeats = 1000; r.max_time_s = 1e9; r.ci_fraction = 0.02;
      r.min_time_s = 0.205;
      run("min_time", r, 0);
      printf("due %d %d %d\n", stats_ci_due(&r, 20, 0.20), stats_ci_due(&r, 21, 0.21), stats_ci_due(&r, 5, 1.0));
      r.min_time_s = 0.805;
      run("min_time_late", r, 0);
      /* The bounds still apply: max_time, then max_repeats, cut a longer minimum. */
      r.min_time_s = 1.0; r.max_time_s = 0.305;
      run("min_time_cut", r, 0);
      r.max_time_s = 1e9; r.max_repeats = 40;
      run("min_time_max", r, 0);
      r.min_time_s = 0; r.max_repeats = 1000;
      run("min_time_zero", r, 0);
      double s[9] = {5, 1, 9, 3, 7, 2, 8, 4, 6}, lo1, hi1, lo2, hi2, lo3, hi3;
      stats_bootstrap_median_ci(s, 9, 300, 0.95, 7, &lo1, &hi1);
      stats_bootstrap_median_ci(s, 9, 300, 0.95, 7, &lo2, &hi2);
      double perm[9] = {9, 8, 7, 6, 5, 4, 3, 2, 1};
      stats_bootstrap_median_ci(perm, 9, 300, 0.95, 7, &lo3, &hi3);
      printf("ci %.17g %.17g %.17g %.17g %.17g %.17g\n", lo1, hi1, lo2, hi2, lo3, hi3);
      printf("median %.17g mad %.17g p90 %.17g min %.17g\n", stats_median(s, 9), stats_mad(s, 9),
             stats_quantile(s, 9, 0.9), stats_min(s, 9));
      double even[4] = {4, 1, 3, 2};
      printf("median_even %.17g\n", stats_median(even, 4));
      return 0;
    }
    """#

  @Test func decisionsOnSyntheticSamples() throws {
    let scratch = Scratch("stats")
    defer { scratch.cleanUp() }
    let source = scratch.url.appendingPathComponent("harness.c")
    try Data(Self.harness.utf8).write(to: source)
    let exe = scratch.url.appendingPathComponent("harness").path
    let dir = LocalBuilder.runnerSource
    let gcc = try #require(ChildProcess.which("gcc"))
    let build = try ChildProcess.run(
      gcc,
      [
        "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-I", dir.path,
        dir.appendingPathComponent("stats.c").path, source.path, "-o", exe,
      ], timeout: 60)
    try #require(build.succeeded, "\(build.stderrText)")
    let run = try ChildProcess.run(exe, [], timeout: 30)
    try #require(run.succeeded)
    var lines: [String: [String]] = [:]
    for line in run.stdoutText.split(separator: "\n") {
      let f = line.split(separator: " ").map(String.init)
      lines[f[0]] = Array(f.dropFirst())
    }
    // Constant samples: the CI has width 0 at the first check.
    #expect(lines["constant"] == ["10", "ci"])
    // Very noisy samples never reach a 2% CI: the maximum count, or the time limit.
    #expect(lines["noisy"] == ["60", "max_repeats"])
    #expect(lines["noisy_time"] == ["25", "max_time"])
    // 0.1% noise: within 2% at once.
    #expect(lines["quiet"] == ["10", "ci"])
    #expect(lines["ci_off"] == ["15", "max_repeats"])
    // min_time_s: no CI stop (and no CI computed, so no counter pause) before it has passed.
    #expect(lines["min_time"] == ["21", "ci"])
    #expect(lines["due"] == ["0", "1", "0"])
    #expect(lines["min_time_late"] == ["82", "ci"])
    #expect(lines["min_time_cut"] == ["31", "max_time"])
    #expect(lines["min_time_max"] == ["40", "max_repeats"])
    #expect(lines["min_time_zero"] == ["10", "ci"])
    // The CI is a function of the samples as a multiset and the seed.
    let ci = try #require(lines["ci"]).compactMap(Double.init)
    #expect(ci.count == 6)
    #expect(ci[0] == ci[2] && ci[1] == ci[3] && ci[0] == ci[4] && ci[1] == ci[5])
    #expect(ci[0] <= 5 && 5 <= ci[1] && ci[0] >= 1 && ci[1] <= 9 && ci[0] < ci[1])
    #expect(lines["median"] == ["5", "mad", "2", "p90", "8.1999999999999993", "min", "1"])
    #expect(lines["median_even"] == ["2.5"])
  }
}

@Suite struct MeasurementTests {
  @Test func stopReasonsCIAndOverheadsAreRecorded() throws {
    let scratch = Scratch("stop")
    defer { scratch.cleanUp() }
    let layer = TestLayer.blockColumn(rows: 32, cols: 48, br: 8, bc: 8, seed: 21)
    let variant = testVariant(layer)
    let (binary, file) = try buildRunner(variant, layer: layer, scratch: scratch)
    func run(_ s: RunSettings) -> RunResult {
      LocalRunner(settings: s).run(
        binaryPath: binary, workloadFile: file, variant: variant, timeout: 60)
    }
    var s = quickSettings
    s.minRepeats = 5
    s.maxRepeats = 500
    s.maxTimeSeconds = 2
    // Anything stops at the first check — even 5 samples with one preempted by a busy CI machine.
    s.ciFraction = 1e6
    let ci = run(s)
    #expect(ci.outcome == .measured, "\(ci.message ?? "")")
    #expect(ci.stopReason == .ci)
    #expect(ci.samplesSeconds.count == 5)
    let median = try #require(ci.medianSeconds)
    let lo = try #require(ci.ciLowSeconds)
    let hi = try #require(ci.ciHighSeconds)
    #expect(lo <= median && median <= hi)
    #expect(ci.ciFraction == 1e6)
    #expect(ci.stats?.medianSeconds == median)
    #expect((ci.stats?.minSeconds ?? .infinity) <= median)
    // The clock pair costs some nanoseconds (vDSO): positive, far below a microsecond.
    let clock = try #require(ci.clockOverheadSeconds)
    #expect(clock >= 0 && clock < 1e-6, "\(clock)")
    #expect(ci.cacheMode == .warm)
    #expect(ci.cpu == ProcessInfo.processInfo.activeProcessorCount - 1)
    for load in [ci.loadBefore, ci.loadAfter] {
      let l = try #require(load)
      #expect((0...1).contains(l.busy ?? -1) && (l.runnable ?? -1) >= 0 && l.cpus >= 1)
    }
    let passes = try #require(ci.passes)
    #expect(passes.count == 1 && passes[0].calls == ci.callsCounted && passes[0].segments >= 1)
    // Counters: overhead-corrected values with the raw ones; unavailable ones carry a reason.
    #expect(ci.counters.map(\.name) == RunSettings.defaultEvents)
    for c in ci.counters {
      if c.available {
        let raw = try #require(c.rawValue, "\(c.name)")
        let overhead = try #require(c.overhead, "\(c.name)")
        #expect(overhead >= 0 && raw >= (c.value ?? .max), "\(c.name)")
        #expect(
          c.value == max(0, raw - overhead * passes[0].segments), "\(c.name)")
        #expect(c.pass == 0)
      } else {
        #expect(c.reason?.isEmpty == false, "\(c.name)")
      }
    }
    let taskClock = try #require(ci.counters.first { $0.name == "perf::task-clock" })
    #expect(taskClock.available, "\(taskClock.reason ?? "")")
    #expect(taskClock.source == "perf" && (taskClock.value ?? 0) > 0)
    #expect(ci.sde?.works == true)

    // CI stop off: the maximum count.
    s.ciFraction = 0
    s.maxRepeats = 7
    let maxed = run(s)
    #expect(maxed.stopReason == .maxRepeats && maxed.samplesSeconds.count == 7)
    // No time at all: the minimum count, then the time limit.
    s.maxRepeats = 100
    s.maxTimeSeconds = 0
    let timed = run(s)
    #expect(timed.stopReason == .maxTime && timed.samplesSeconds.count == 5)
    #expect(timed.ciLowSeconds != nil)
    #expect(timed.minTimeSeconds == 0)

    // A minimum time: a CI that is met at once still waits for 0.1 s of sampling.
    s.ciFraction = 1e6
    s.maxRepeats = 100_000
    s.maxTimeSeconds = 5
    s.minTimeSeconds = 0.1
    #expect(s.arguments.contains("--min-time-s"))
    let long = run(s)
    #expect(long.outcome == .measured, "\(long.message ?? "")")
    #expect(long.stopReason == .ci)
    #expect(long.minTimeSeconds == 0.1)
    #expect((long.samplingSeconds ?? 0) >= 0.1, "\(long.samplingSeconds ?? -1)")
    #expect((long.samplingSeconds ?? .infinity) < 4)
    #expect(long.samplesSeconds.count > 5)
    #expect(long.sde?.works == true)
  }

  @Test func coldCachesTimeOneCallPerSample() throws {
    let scratch = Scratch("cold")
    defer { scratch.cleanUp() }
    let layer = TestLayer.blockColumn(rows: 32, cols: 48, br: 8, bc: 8, seed: 22)
    let variant = testVariant(layer)
    let (binary, file) = try buildRunner(variant, layer: layer, scratch: scratch)
    var s = quickSettings
    s.flushCache = true
    s.minRepeats = 3
    s.maxRepeats = 4
    let r = LocalRunner(settings: s).run(
      binaryPath: binary, workloadFile: file, variant: variant, timeout: 60)
    #expect(r.outcome == .measured, "\(r.message ?? "")")
    #expect(r.cacheMode == .cold)
    #expect(r.innerCalls == 1)
    #expect((r.flushBytes ?? 0) >= 2 << 20)
    #expect(r.callsCounted == Int64(r.samplesSeconds.count))
    // Counters pause during every flush: one start/stop pair per sample.
    #expect(r.passes?.first?.segments == Int64(r.samplesSeconds.count))
    #expect(r.sde?.works == true)
  }

  /// The multi-pass path, with SDE and perf software events split over explicit groups (the
  /// hardware events that would need it do not exist here).
  @Test func eventGroupsRunOnePassEach() throws {
    let scratch = Scratch("passes")
    defer { scratch.cleanUp() }
    let layer = TestLayer.blockColumn(rows: 24, cols: 40, br: 8, bc: 8, seed: 23)
    let variant = testVariant(layer)
    let (binary, file) = try buildRunner(variant, layer: layer, scratch: scratch)
    var s = quickSettings
    s.minRepeats = 4
    s.maxRepeats = 6
    s.eventGroups = [
      ["perf::task-clock", "sde:::blkrew::MACS"],
      ["perf::page-faults", "PAPI_TOT_INS", "sde:::blkrew::MACS"],
      ["perf::context-switches", "perf::task-clock"],
    ]
    let r = LocalRunner(settings: s).run(
      binaryPath: binary, workloadFile: file, variant: variant, timeout: 60)
    #expect(r.outcome == .measured, "\(r.message ?? "")")
    let passes = try #require(r.passes)
    #expect(passes.map(\.index) == [0, 1, 2])
    // Every pass runs the same calls.
    #expect(passes.allSatisfy { $0.calls == r.callsCounted && $0.calls > 0 })
    let byPass = Dictionary(grouping: r.counters.filter(\.available), by: { $0.pass ?? -1 })
    #expect(byPass[0]?.map(\.name) == ["perf::task-clock"])
    #expect(byPass[1]?.map(\.name).contains("sde:::blkrew::MACS") == true)
    #expect(byPass[1]?.map(\.name).contains("perf::page-faults") == true)
    #expect(byPass[2]?.map(\.name) == ["perf::context-switches", "perf::task-clock"])
    // The SDE counter read the same MACs in pass 0 and pass 1.
    let sde = try #require(r.sde)
    #expect(sde.works && sde.pass == 0)
    let sdePass1 = try #require(r.counters.first { $0.name == sde.event && $0.pass == 1 })
    #expect(sdePass1.value == sde.expected)
    if let ins = r.counters.first(where: { $0.name == "PAPI_TOT_INS" }), !ins.available {
      #expect(ins.reason?.isEmpty == false)
    }
    // task-clock of pass 0 and pass 2 cover comparable work (CPU time, not wall time).
    for tc in r.counters where tc.name == "perf::task-clock" {
      #expect((tc.value ?? 0) > 0)
    }

    // Multiplexing asked for: whatever PAPI allows here, the SDE counter still works.
    s.eventGroups = nil
    s.events = ["PAPI_TOT_CYC", "perf::task-clock"]
    s.multiplex = true
    let m = LocalRunner(settings: s).run(
      binaryPath: binary, workloadFile: file, variant: variant, timeout: 60)
    #expect(m.outcome == .measured, "\(m.message ?? "")")
    #expect(m.sde?.works == true)
    #expect(m.multiplexed != nil)
  }

  @Test func aBusyMachineIsRecorded() throws {
    let scratch = Scratch("idle")
    defer { scratch.cleanUp() }
    let layer = TestLayer.blockColumn(rows: 16, cols: 16, br: 8, bc: 8, seed: 24)
    let variant = testVariant(layer, batch: 1)
    let (binary, file) = try buildRunner(variant, layer: layer, scratch: scratch)
    var s = quickSettings
    s.idleThreshold = 0  // never idle enough
    s.waitIdleSeconds = 0.15
    s.idleWindowSeconds = 0.05
    let start = ChildProcess.monotonicSeconds()
    let r = LocalRunner(settings: s).run(
      binaryPath: binary, workloadFile: file, variant: variant, timeout: 60)
    #expect(ChildProcess.monotonicSeconds() - start >= 0.1)
    #expect(r.outcome == .measured, "\(r.message ?? "")")
    #expect(r.warnings?.contains { $0.hasPrefix("machine busy:") } == true, "\(r.warnings ?? [])")
    #expect(r.loadBefore?.windowSeconds ?? 0 >= 0.04)
  }

  @Test func newFieldsRoundTripAndOldRecordsDecode() throws {
    let layer = TestLayer.blockColumn(rows: 8, cols: 8, br: 4, bc: 4, seed: 1)
    let v = testVariant(layer)
    // A record as written before the measurement fields existed.
    let variantJSON = String(decoding: try JSONEncoder().encode(v), as: UTF8.self)
    let old = """
      {"schema_version":1,"variant_id":"\(v.id)","variant":\(variantJSON),"outcome":"measured",
      "samples_s":[1e-6,2e-6],"calls_counted":20,"counters":[{"name":"PAPI_TOT_CYC",
      "available":false,"reason":"no"}],"sde":{"event":"sde:::blkrew::MACS","expected":1,
      "read":1,"works":true}}
      """
    let decoded = try JSONDecoder().decode(RunResult.self, from: Data(old.utf8))
    #expect(decoded.stopReason == nil && decoded.simulated == nil && decoded.passes == nil)
    #expect(decoded.counters.first?.rawValue == nil)
    #expect(decoded.counters.first?.timeEnabledNs == nil && decoded.minTimeSeconds == nil)
    let oldSettings =
      #"{"warmup":1,"min_repeats":2,"max_repeats":3,"min_sample_s":0.001,"budget_s":0.5,"events":["X"],"seed":1}"#
    let settings = try JSONDecoder().decode(RunSettings.self, from: Data(oldSettings.utf8))
    #expect(settings.maxTimeSeconds == 0.5 && settings.ciFraction == 0.02 && !settings.flushCache)
    #expect(settings.pin && settings.eventGroups == nil)
    #expect(settings.minTimeSeconds == 0 && !settings.arguments.contains("--min-time-s"))

    var r = decoded
    r.stopReason = .maxTime
    r.cacheMode = .cold
    r.clockOverheadSeconds = 2.5e-8
    r.loadBefore = LoadSample(busy: 0.5, runnable: 2, windowSeconds: 0.1, cpus: 1)
    r.simulated = SimulatedCost(
      valgrindVersion: "valgrind-3.19.0", geometry: CachegrindRunner.fallbackGeometry, calls: 10,
      events: ["Ir"], perCall: ["Ir": 12.5], totalsWithCalls: ["Ir": 1125],
      totalsWithoutCalls: ["Ir": 1000])
    let text = String(decoding: try JSONEncoder().encode(r), as: UTF8.self)
    for key in [
      "stop_reason", "\"max_time\"", "cache_mode", "clock_overhead_s", "load_before", "window_s",
      "\"per_call\"", "cachegrind (simulated)", "size_bytes",
    ] {
      #expect(text.contains(key), "\(key)")
    }
    let back = try JSONDecoder().decode(RunResult.self, from: Data(text.utf8))
    #expect(back.simulated?.irPerCall == 12.5 && back.stopReason == .maxTime)
    #expect(RunSettings(maxRepeatsAndTime: 3).arguments.contains("--max-time-s"))
  }

  /// PAPI multiplexing cannot run on this VM (its perf_event component is disabled) and software
  /// events are never multiplexed, so the bookkeeping of estimates is checked on counters in the
  /// runner's format as a machine with a PMU would write them (values made up, consistent).
  @Test func multiplexedAndScaledCountersDecode() throws {
    let json = """
      [{"name":"PAPI_TOT_CYC","available":true,"source":"papi","value":1200,"raw_value":1210,
        "overhead":5,"pass":0,"multiplexed":true,"estimate":true},
       {"name":"perf::task-clock","available":true,"source":"perf","value":1990,"raw_value":1000,
        "overhead":5,"pass":0,"exclude_kernel":false,"time_enabled_ns":4000,
        "time_running_ns":2000,"scale":2.0,"estimate":true},
       {"name":"perf::context-switches","available":true,"source":"perf","value":3,
        "raw_value":3,"overhead":0,"pass":0,"exclude_kernel":false,"time_enabled_ns":4000,
        "time_running_ns":4000,"scale":1.0},
       {"name":"perf::page-faults","available":false,"source":"perf",
        "reason":"never scheduled: time_running 0 ns of time_enabled 3000 ns over 2 segment(s)",
        "time_enabled_ns":3000,"time_running_ns":0},
       {"name":"PAPI_L1_DCM","available":false,"reason":"no"}]
      """
    let counters = try JSONDecoder().decode([CounterReading].self, from: Data(json.utf8))
    let segments: Int64 = 2
    let cyc = counters[0]
    #expect(cyc.multiplexed == true && cyc.estimate == true && cyc.scaledCount == nil)
    let task = counters[1]
    let scaled = try #require(task.scaledCount)
    #expect(scaled.scale == task.scale && scaled.wasMultiplexed && scaled.estimate == 2000)
    #expect(task.estimate == true)
    #expect(task.value == Int64(scaled.estimate ?? 0) - (task.overhead ?? 0) * segments)
    let cs = try #require(counters[2].scaledCount)
    #expect(cs.scale == 1 && !cs.wasMultiplexed && cs.estimate == 3 && counters[2].estimate == nil)
    let never = counters[3]
    #expect(
      !never.available && never.value == nil && never.reason?.hasPrefix("never scheduled") == true)
    #expect(never.scaledCount?.estimate == nil && never.scaledCount?.timeEnabled == 3000)
    #expect(counters[4].timeEnabledNs == nil && counters[4].scale == nil)
    #expect(counters[4].estimate == nil && counters[4].scaledCount == nil)
    // The keys survive a round trip.
    let data = try JSONEncoder().encode(counters)
    let text = String(decoding: data, as: UTF8.self)
    for key in ["time_enabled_ns", "time_running_ns", "\"scale\"", "\"estimate\""] {
      #expect(text.contains(key), "\(key)")
    }
    #expect(try JSONDecoder().decode([CounterReading].self, from: data) == counters)
  }

  @Test func cacheGeometryFromSysfsOrFallback() throws {
    let scratch = Scratch("geometry")
    defer { scratch.cleanUp() }
    func level(_ root: URL, _ i: Int, _ values: [String: String]) throws {
      let dir = root.appendingPathComponent("index\(i)")
      try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
      for (k, v) in values { try Data((v + "\n").utf8).write(to: dir.appendingPathComponent(k)) }
    }
    func cache(_ level: Int, _ type: String, _ size: String, _ ways: Int) -> [String: String] {
      [
        "level": "\(level)", "type": type, "size": size, "ways_of_associativity": "\(ways)",
        "coherency_line_size": "64",
      ]
    }
    let good = scratch.url.appendingPathComponent("good")
    try level(good, 0, cache(1, "Data", "32K", 8))
    try level(good, 1, cache(1, "Instruction", "32K", 8))
    try level(good, 2, cache(2, "Unified", "1024K", 8))
    try level(good, 3, cache(3, "Unified", "32768K", 16))
    let g = CachegrindRunner.detectGeometry(root: good.path)
    #expect(g.source == "sysfs")
    #expect(g.valgrindArguments == ["--I1=32768,8,64", "--D1=32768,8,64", "--LL=33554432,16,64"])
    // Zen 5's 48 KiB 12-way L1D has 64 sets, fine; a 12-way 1.5 MiB L2 as LL is not (2048 sets
    // fine) -- use an L3 of 96 MiB, 16-way: 98304 sets, not a power of two.
    let odd = scratch.url.appendingPathComponent("odd")
    try level(odd, 0, cache(1, "Data", "48K", 12))
    try level(odd, 1, cache(1, "Instruction", "32K", 8))
    try level(odd, 2, cache(3, "Unified", "98304K", 16))
    let f = CachegrindRunner.detectGeometry(root: odd.path)
    #expect(f.source == "fallback" && f.note?.contains("power of two") == true)
    #expect(f == CachegrindRunner.fallbackGeometry.with(note: f.note))
    #expect(
      f.valgrindArguments == ["--I1=32768,8,64", "--D1=49152,12,64", "--LL=1048576,16,64"])
    let none = CachegrindRunner.detectGeometry(root: scratch.url.appendingPathComponent("x").path)
    #expect(none.source == "fallback")

    let out = """
      desc: I1 cache:         32768 B, 64 B, 8-way associative
      cmd: ./runner --simulate 10
      events: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw
      fl=x.c
      fn=main
      1 2 3 4 5 6 7 8 9 10
      summary: 1053384 1866 1775 258469 19711 17842 89312 16980 16897
      """
    let totals = try CachegrindRunner.parseOutFile(out)
    #expect(totals["Ir"] == 1_053_384 && totals["DLmw"] == 16897 && totals.count == 9)
    #expect(throws: CachegrindRunner.Failure.self) { try CachegrindRunner.parseOutFile("x") }
  }
}

extension CacheGeometry {
  fileprivate func with(note: String?) -> CacheGeometry {
    var g = self
    g.note = note
    return g
  }
}

extension RunSettings {
  fileprivate init(maxRepeatsAndTime n: Int) {
    self.init(maxRepeats: n)
    maxTimeSeconds = 0.1
  }
}

/// valgrind, when installed (the simulation tests are skipped without it, with the reason).
enum Valgrind {
  static let path: String? = {
    let p = ChildProcess.which("valgrind")
    if p == nil {
      print(
        "KernelTests: skipping the cachegrind simulation tests: valgrind is not installed "
          + "(apt-get install -y --no-install-recommends valgrind)")
    }
    return p
  }()
}

@Suite struct SimulationTests {
  @Test(.enabled(if: Valgrind.path != nil, "needs valgrind"))
  func cachegrindCostIsDeterministicAndGrowsWithKeptWeights() throws {
    let scratch = Scratch("cachegrind")
    defer { scratch.cleanUp() }
    let simFlags = LocalBuilder.simulationFlags + ["-Wall", "-Wextra", "-Werror"]
    // Block-column masks: a third of the blocks empty, a third full, a third half kept.
    let sparse = TestLayer.blockColumn(rows: 64, cols: 64, br: 8, bc: 8, seed: 31)
    var dense = sparse
    dense.mask = [UInt8](repeating: 1, count: 64 * 64)
    let cg = CachegrindRunner(calls: 10)
    var ir: [Double] = []
    for layer in [sparse, dense] {
      let variant = testVariant(layer, batch: 4, flags: simFlags)
      let (binary, file) = try buildRunner(variant, layer: layer, scratch: scratch)
      let r = cg.run(binaryPath: binary, workloadFile: file, variant: variant, timeout: 120)
      #expect(r.outcome == .measured, "\(r.message ?? "")")
      let cost = try #require(r.simulated)
      #expect(cost.tool == "cachegrind (simulated)")
      #expect(cost.geometry == cg.geometry && cost.calls == 10)
      #expect(cost.events.first == "Ir" && cost.events.count == 9)
      #expect(cost.buildFlags == simFlags && cost.variantID == variant.id)
      ir.append(try #require(cost.irPerCall))
      if layer.mask == sparse.mask {
        // The same variant again: the same count, exactly.
        let again = try cg.simulate(binaryPath: binary, workloadFile: file, variant: variant)
        #expect(again.irPerCall == cost.irPerCall)
        #expect(again.perCall == cost.perCall)
        print(
          "KernelTests: cachegrind Ir/call \(cost.irPerCall ?? -1) for 64x64 block-column, "
            + "\(layer.mask.filter { $0 != 0 }.count) kept, N=4")
      }
    }
    // About half the weights kept against all of them.
    #expect(sparse.mask.filter { $0 != 0 }.count < 64 * 64 * 6 / 10)
    #expect(ir[0] > 0 && ir[1] > 1.4 * ir[0], "\(ir)")
  }
}

/// Where the runner's probe says PAPI_TOT_CYC and PAPI_TOT_INS can be counted (not on this VM);
/// elsewhere the hardware-counter tests are skipped with the reason printed.
enum HardwareTier {
  static let events = ["PAPI_TOT_CYC", "PAPI_TOT_INS"]
  static let probe: RunnerProbe? = {
    let scratch = Scratch("hwprobe")
    defer { scratch.cleanUp() }
    let build = LocalBuilder(workDirectory: scratch.url).buildProbe()
    guard let binary = build.binaryPath else {
      print("KernelTests: hardware-counter tier skipped: the probe runner did not build")
      return nil
    }
    let p = LocalRunner(settings: RunSettings(events: events)).probe(binaryPath: binary)
    let missing = (p?.events ?? []).filter { !$0.available }
    if p == nil || !missing.isEmpty {
      let why = missing.map { "\($0.name): \($0.reason ?? "?")" }.joined(separator: "; ")
      print("KernelTests: hardware-counter tier skipped: \(p == nil ? "probe failed" : why)")
    }
    return p
  }()
  static var available: Bool { probe.map { p in events.allSatisfy(p.isAvailable) } ?? false }
}

@Suite struct HardwareCounterTests {
  @Test(.enabled(if: HardwareTier.available, "needs PAPI_TOT_CYC and PAPI_TOT_INS"))
  func cyclesAndInstructionsPerCallAreStable() throws {
    let scratch = Scratch("hw")
    defer { scratch.cleanUp() }
    let layer = TestLayer.blockColumn(rows: 64, cols: 64, br: 8, bc: 8, seed: 41)
    let variant = testVariant(layer)
    let (binary, file) = try buildRunner(variant, layer: layer, scratch: scratch)
    var s = quickSettings
    s.events = HardwareTier.events
    s.minRepeats = 5
    s.maxRepeats = 10
    var perCall: [Double] = []
    for _ in 0..<2 {
      let r = LocalRunner(settings: s).run(
        binaryPath: binary, workloadFile: file, variant: variant, timeout: 60)
      #expect(r.outcome == .measured, "\(r.message ?? "")")
      for c in r.counters {
        #expect(c.available && (c.value ?? 0) > 0, "\(c.name): \(c.reason ?? "")")
        #expect(c.overhead != nil && (c.rawValue ?? 0) >= (c.value ?? 0))
      }
      let ins = try #require(r.counters.first { $0.name == "PAPI_TOT_INS" }?.value)
      perCall.append(Double(ins) / Double(r.callsCounted))
    }
    #expect(abs(perCall[0] - perCall[1]) <= 0.05 * perCall[0], "\(perCall)")
  }

  /// Where counters are unavailable (this VM), every unavailable event says why.
  @Test func unavailableCountersCarryAReason() throws {
    let probe = try #require(HardwareTier.probe)
    for e in probe.events where !e.available { #expect(e.reason?.isEmpty == false, "\(e.name)") }
  }
}
