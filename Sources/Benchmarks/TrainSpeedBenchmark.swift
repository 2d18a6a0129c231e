import ChildProcesses
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Training throughput against PyTorch (issue 3, "Speed"): the MLP (784-300-100-10), LeNet-5,
/// VGG-11 x0.25 on 32x32 input (batch 64 each) and the GRU classifier (128 units, 29 steps of 12
/// features, 9 classes, batch 32), with 1 and with 2 threads; the fraction of the step spent inside
/// sgemm; PyTorch (the bench-only `.venv-bench`, `scripts/bench/train_speed.py`) on the same models,
/// batches, optimizers and thread counts. Goals: blkrew/PyTorch >= 0.8 everywhere; sgemm >= 65% of
/// the step for the conv nets.
///
/// Every measurement is a child process (`blkrew _bench-train`, `TrainStepProbe`) with
/// `OPENBLAS_NUM_THREADS` and the fastest `OPENBLAS_CORETYPE` of the default, SkylakeX and Haswell
/// (`CoreTypeProbe`, a 1024^3 sgemm at the start), so OpenBLAS reads them when it loads. Quick mode
/// (part of `make test`) measures each configuration briefly and PyTorch once, and never installs
/// torch. blkrew and PyTorch alternate
/// per configuration (A B, then B A in the next round, …) so machine noise hits both; the ratio
/// is the median over rounds of each round's paired ratio. Each measurement records how many cores
/// other processes kept busy meanwhile (/proc/stat minus the child's own CPU time).
public struct TrainSpeedBenchmark: Benchmark {
  public let name = "train-speed"
  public init() {}

  /// How long and how often each configuration is measured.
  struct Plan {
    var rounds: Int
    var seconds: Double
    var blocks: Int
    var warmup: Int
  }

  public func run(context: BenchContext) throws -> BenchRecord {
    let start = Date()
    let plan =
      context.quick
      ? Plan(rounds: 1, seconds: 0.05, blocks: 1, warmup: 1)
      : Plan(rounds: 3, seconds: 3, blocks: 7, warmup: 5)
    let exe = Self.executablePath()
    let base = ProcessInfo.processInfo.environment
    var settings: [String: String] = [
      "rounds": "\(plan.rounds)", "seconds_per_measurement": "\(plan.seconds)",
      "blocks_per_measurement": "\(plan.blocks)",
      "order": "per configuration: blkrew then PyTorch in odd rounds, PyTorch then blkrew in even",
      "models":
        "mlp 784-300-100-10 batch 64 SGD(m 0.9); lenet5 [64,1,28,28] SGD(m 0.9); vgg11 x0.25 BN "
        + "[64,1,32,32] SGD(m 0.9, wd 5e-4); gru 128 units [32,29,12] 9 classes Adam",
    ]
    if context.quick {
      settings["quick"] =
        "smoke test: one short measurement per configuration (often of a debug build); the figures "
        + "are not comparable and carry no goals (ratio >= 0.8, conv-net sgemm fraction >= 0.65)"
    }
    var figures: [BenchFigure] = []
    var series: [String: [Double]] = [:]

    // 1. The OpenBLAS core: the default (inherited or auto-detected) against SkylakeX and Haswell.
    let core = CoreTypeProbe.choose(
      executable: exe, quick: context.quick, passes: context.quick ? 1 : 2,
      progress: { context.progress("train-speed: \($0)") })
    guard !core.gflops.isEmpty else {
      throw BenchError.failed("the sgemm probe failed for every OPENBLAS_CORETYPE")
    }
    let chosenCore = core.chosen
    settings["openblas_coretype"] = chosenCore ?? "unset (OpenBLAS auto-detects)"
    settings["openblas_coretype_candidates"] = core.summary
    for (label, g) in core.gflops.sorted(by: { $0.key < $1.key }) {
      figures.append(
        BenchFigure(
          name: "sgemm_1t_gflops_coretype_\(label)", value: g, unit: "GFLOP/s",
          direction: .higherIsBetter,
          note:
            "\(core.size)^3 sgemm, 1 thread, best call, OPENBLAS_CORETYPE=\(label) "
            + "(core \(core.cores[label] ?? "?"))"))
    }

    // 2. The PyTorch peer (never installed in quick mode: `make test` runs bench-quick).
    let peer = PyTorchPeer.locate(quick: context.quick, progress: context.progress)
    settings["pytorch"] = peer.description

    // 3. The measurements, interleaved.
    let threadCounts = [1, 2]
    struct Key: Hashable {
      var model: String
      var threads: Int
    }
    var swiftRuns: [Key: [[String: Any]]] = [:]
    var torchRuns: [Key: [[String: Any]]] = [:]
    var notes: [Key: String] = [:]
    var torchNote: [Key: String] = [:]
    for round in 0..<plan.rounds {
      for (model, _) in TrainStepProbe.models {
        for threads in threadCounts {
          let key = Key(model: model, threads: threads)
          var env = base
          env["OPENBLAS_CORETYPE"] = chosenCore
          for v in ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"] {
            env[v] = "\(threads)"
          }
          let swiftSide = {
            let args = [
              "_bench-train", "--model", model, "--threads", "\(threads)", "--seconds",
              "\(plan.seconds)", "--blocks", "\(plan.blocks)", "--warmup", "\(plan.warmup)",
            ]
            switch Self.measure(exe, args, environment: env) {
            case .success(let json): swiftRuns[key, default: []].append(json)
            case .failure(let why):
              notes[key] = why
              context.progress("train-speed: blkrew \(model) \(threads)t failed: \(why)")
            }
          }
          let torchSide = {
            guard let python = peer.python, let script = peer.script else { return }
            // Quick mode runs the peer once (each process imports torch, seconds apiece).
            guard !context.quick || (model == "mlp" && threads == 1) else {
              torchNote[key] = "quick mode measures PyTorch on mlp at 1 thread only"
              return
            }
            let args = [
              script, "--model", model, "--threads", "\(threads)", "--seconds", "\(plan.seconds)",
              "--blocks", "\(plan.blocks)", "--warmup", "\(plan.warmup)",
            ]
            switch Self.measure(python, args, environment: env) {
            case .success(let json): torchRuns[key, default: []].append(json)
            case .failure(let why):
              torchNote[key] = why
              context.progress("train-speed: PyTorch \(model) \(threads)t failed: \(why)")
            }
          }
          if round % 2 == 0 {
            swiftSide()
            torchSide()
          } else {
            torchSide()
            swiftSide()
          }
          let s = swiftRuns[key]?.last?["samples_per_s"] as? Double
          let t = torchRuns[key]?.last?["samples_per_s"] as? Double
          context.progress(
            "train-speed: round \(round + 1)/\(plan.rounds) \(model) \(threads)t: blkrew "
              + (s.map { String(format: "%.0f", $0) } ?? "-") + " samples/s, PyTorch "
              + (t.map { String(format: "%.0f", $0) } ?? "-") + " samples/s")
        }
      }
    }

    // 4. Figures.
    var otherBusy: [Double] = []
    for (model, batch) in TrainStepProbe.models {
      for threads in threadCounts {
        let key = Key(model: model, threads: threads)
        let tag = "\(model)_\(threads)t"
        let sw = (swiftRuns[key] ?? []).compactMap { $0["samples_per_s"] as? Double }
        let pt = (torchRuns[key] ?? []).compactMap { $0["samples_per_s"] as? Double }
        let fractions = (swiftRuns[key] ?? []).compactMap { $0["sgemm_fraction"] as? Double }
        let gflops = (swiftRuns[key] ?? []).compactMap { $0["sgemm_gflops"] as? Double }
        let busy = ((swiftRuns[key] ?? []) + (torchRuns[key] ?? [])).compactMap {
          $0["other_busy_cores"] as? Double
        }
        otherBusy += busy
        series["\(tag)_blkrew_samples_per_s"] = sw
        series["\(tag)_pytorch_samples_per_s"] = pt
        series["\(tag)_sgemm_fraction"] = fractions
        series["\(tag)_sgemm_gflops"] = gflops
        series["\(tag)_other_busy_cores"] = busy
        let paired = zip(sw, pt).map { $0 / $1 }
        series["\(tag)_ratio"] = paired
        let setup = "batch \(batch), \(threads) thread\(threads > 1 ? "s" : "")"
        figures.append(
          BenchFigure(
            name: "\(tag)_blkrew_samples_per_s", value: Self.median(sw), unit: "samples/s",
            direction: .higherIsBetter,
            note: notes[key].map { "not measured: \($0)" }
              ?? "blkrew training throughput, \(setup); median of \(sw.count) round(s)"))
        let torchMissing = peer.python == nil ? peer.description : torchNote[key]
        figures.append(
          BenchFigure(
            name: "\(tag)_pytorch_samples_per_s", value: Self.median(pt), unit: "samples/s",
            direction: .higherIsBetter,
            note: pt.isEmpty
              ? "not measured: \(torchMissing ?? "no measurement")"
              : "PyTorch \(peer.version ?? "") training throughput, \(setup); median of \(pt.count) round(s)"
          ))
        figures.append(
          BenchFigure(
            name: "\(tag)_ratio_vs_pytorch", value: Self.median(paired), unit: "ratio",
            direction: .higherIsBetter, goal: context.quick ? nil : 0.8,
            note: paired.isEmpty
              ? "not measured: \(torchMissing ?? notes[key] ?? "no measurement")"
              : "blkrew / PyTorch samples/s, median of \(paired.count) paired round(s), \(setup)"))
        let conv = model == "lenet5" || model == "vgg11"
        figures.append(
          BenchFigure(
            name: "\(tag)_sgemm_fraction", value: Self.median(fractions), unit: "fraction",
            direction: .higherIsBetter, goal: conv && !context.quick ? 0.65 : nil,
            note:
              "wall time inside BLAS.sgemm / step time (BLAS.Profiler), \(setup); sgemm ran at "
              + (Self.median(gflops).map { String(format: "%.0f GFLOP/s", $0) } ?? "?")))
      }
    }
    figures.append(
      BenchFigure(
        name: "other_busy_cores_median", value: Self.median(otherBusy), unit: "cores",
        direction: .lowerIsBetter,
        note:
          "cores kept busy by other processes during the measurements (of 2): the noise behind every figure"
      ))
    return context.record(name, start: start, settings: settings, figures: figures, series: series)
  }

  // MARK: - Children

  enum Outcome {
    case success([String: Any])
    case failure(String)
  }

  /// Runs one measuring child and decodes its JSON line, adding `other_busy_cores`.
  static func measure(_ executable: String, _ arguments: [String], environment: [String: String])
    -> Outcome
  {
    let before = CPUAccounting.sample()
    let result: ChildResult
    do {
      result = try ChildProcess.run(executable, arguments, environment: environment, timeout: 300)
    } catch {
      return .failure("\(error)")
    }
    let after = CPUAccounting.sample()
    guard result.succeeded, var json = lastJSON(result.stdoutText) else {
      let tail = result.stderrText.split(separator: "\n").suffix(3).joined(separator: " | ")
      return .failure("\(result.summary): \(tail)")
    }
    if let other = CPUAccounting.otherBusyCores(before: before, after: after) {
      json["other_busy_cores"] = other
    }
    return .success(json)
  }

  /// The last line of `text` that parses as a JSON object.
  static func lastJSON(_ text: String) -> [String: Any]? {
    for line in text.split(separator: "\n").reversed() {
      if let data = line.data(using: .utf8),
        let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
      {
        return object
      }
    }
    return nil
  }

  static func median(_ xs: [Double]) -> Double? {
    guard !xs.isEmpty else { return nil }
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
  }

  /// The running blkrew executable (children are started as `blkrew _bench-train`).
  static func executablePath() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
      ?? CommandLine.arguments[0]
  }
}

/// Where the PyTorch peer runs: the bench-only virtual environment and the script, or why not.
struct PyTorchPeer: CustomStringConvertible {
  var python: String?
  var script: String?
  var version: String?
  var reason: String?

  var description: String {
    if let python, let version { return "torch \(version) in \(python)" }
    return reason ?? "not measured"
  }

  static let venvScript = "scripts/bench-venv.sh"
  static let speedScript = "scripts/bench/train_speed.py"
  static let pin = "torch==2.13.0+cpu"

  /// Full mode runs `scripts/bench-venv.sh` (idempotent; installs the pinned torch once); quick
  /// mode only uses an existing environment (`--check`), so `make test` never downloads torch.
  static func locate(quick: Bool, progress: (String) -> Void) -> PyTorchPeer {
    let root = FileManager.default.currentDirectoryPath
    let setup = "\(root)/\(venvScript)"
    let script = "\(root)/\(speedScript)"
    guard FileManager.default.fileExists(atPath: setup),
      FileManager.default.fileExists(atPath: script)
    else {
      return PyTorchPeer(
        reason: "\(venvScript) / \(speedScript) not found (run blkrew bench from the project root)")
    }
    let venv = ProcessInfo.processInfo.environment["BLKREW_BENCH_VENV"] ?? "\(root)/.venv-bench"
    let python = "\(venv)/bin/python"
    if quick {
      guard let r = try? ChildProcess.run(setup, ["--check"], timeout: 120), r.succeeded else {
        return PyTorchPeer(
          reason:
            "quick mode: no ready bench environment (\(venv)); run \(venvScript) or make bench to install \(pin)"
        )
      }
    } else {
      progress("train-speed: preparing the PyTorch peer (\(venvScript))")
      let r = try? ChildProcess.run(setup, [], timeout: 1800)
      guard let r, r.succeeded else {
        let why =
          r.map { $0.stderrText.split(separator: "\n").last.map(String.init) ?? $0.summary }
          ?? "could not run \(venvScript)"
        progress("train-speed: PyTorch not measured: \(why)")
        return PyTorchPeer(reason: "\(pin) unavailable: \(why)")
      }
    }
    let v = try? ChildProcess.run(
      python, ["-c", "import torch; print(torch.__version__)"], timeout: 120)
    guard let v, v.succeeded else {
      return PyTorchPeer(reason: "\(python) cannot import torch")
    }
    return PyTorchPeer(
      python: python, script: script,
      version: v.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines))
  }
}

/// CPU time of the whole machine (/proc/stat) and of this process's waited-for children
/// (getrusage), to tell how busy other processes kept the cores while a child measured.
enum CPUAccounting {
  struct Sample {
    var busyJiffies: Double
    var childCPUSeconds: Double
    var wall: Double
  }

  static func sample() -> Sample? {
    guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
      let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") })
    else { return nil }
    // user nice system idle iowait irq softirq steal ...
    let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
    guard fields.count >= 5 else { return nil }
    let busy = fields.enumerated().filter { $0.offset != 3 && $0.offset != 4 && $0.offset < 8 }
      .map(\.element).reduce(0, +)
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_CHILDREN.rawValue), &usage)
    let child =
      Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) * 1e-6
      + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) * 1e-6
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Sample(
      busyJiffies: busy, childCPUSeconds: child,
      wall: Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9)
  }

  /// Cores' worth of CPU used by others than the measured child between the two samples.
  static func otherBusyCores(before: Sample?, after: Sample?) -> Double? {
    guard let before, let after, after.wall > before.wall else { return nil }
    let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
    let busy = (after.busyJiffies - before.busyJiffies) / hz
    let child = after.childCPUSeconds - before.childCPUSeconds
    return max(0, busy - child) / (after.wall - before.wall)
  }
}
