import Analysis
import ChildProcesses
import Foundation

/// Accuracy the engine reaches (issue 3, "Accuracy"): LeNet-5 on Fashion-MNIST (goal test accuracy
/// >= 0.90), VGG-11 x0.25 on fashion-mnist-32 (>= 0.92), the GRU classifier on JapaneseVowels'
/// official test split (>= 0.95) and the char-GRU on the KJV text (< 2.0 bits per character on the
/// held-out last 5%), each with its epochs and wall time. Each model trains in its own child
/// (`blkrew _bench-train --accuracy`, `TrainAccuracyProbe`: ModelZoo + NetworkTrainer) with one
/// BLAS thread and the fastest OPENBLAS_CORETYPE of a sgemm probe, two children at a time (VGG
/// in one lane, the other three after each other in the other); the recipes (epochs,
/// optimizer, cosine schedule) were chosen to reach the goals with a margin inside `make bench`'s
/// 60 minutes (about 25 minutes on this 2-core machine). Quick mode trains 1 epoch on tiny subsets
/// (a smoke test: no goals are expected to be met).
public struct TrainAccuracyBenchmark: Benchmark {
  public let name = "train-accuracy"
  public init() {}

  /// One model's training recipe.
  struct Recipe {
    var model: String
    var dataset: String
    var goal: Double
    var epochs: Int
    var arguments: [String]
    var quickArguments: [String]
  }

  static let recipes: [Recipe] = [
    Recipe(
      model: "lenet5", dataset: "fashion-mnist", goal: 0.90, epochs: 12,
      arguments: [
        "--batch", "64", "--optimizer", "sgd", "--lr", "0.05", "--weight-decay", "5e-4",
        "--schedule", "cosine",
      ],
      quickArguments: ["--train-subset", "512", "--validation", "256", "--test-subset", "500"]),
    Recipe(
      model: "vgg11", dataset: "fashion-mnist-32", goal: 0.92, epochs: 10,
      arguments: [
        "--width", "0.25", "--batch", "64", "--optimizer", "sgd", "--lr", "0.05",
        "--weight-decay", "5e-4", "--schedule", "cosine", "--warmup-epochs", "0.5",
      ],
      quickArguments: ["--train-subset", "256", "--validation", "128", "--test-subset", "256"]),
    Recipe(
      model: "gru", dataset: "japanese-vowels", goal: 0.95, epochs: 80,
      arguments: ["--batch", "32", "--optimizer", "adam", "--lr", "0.003", "--schedule", "cosine"],
      quickArguments: []),
    Recipe(
      model: "char-gru", dataset: "kjv-chars", goal: 2.0, epochs: 2,
      arguments: ["--batch", "64", "--optimizer", "adam", "--lr", "0.003", "--schedule", "cosine"],
      quickArguments: ["--corpus-chars", "40000"]),
  ]

  public func run(context: BenchContext) throws -> BenchRecord {
    let start = Date()
    let exe = TrainSpeedBenchmark.executablePath()
    let core = CoreTypeProbe.choose(
      executable: exe, quick: context.quick, passes: 1,
      progress: { context.progress("train-accuracy: \($0)") })
    let threads = 1
    var settings: [String: String] = [
      "threads": "\(threads) BLAS thread per model; two models train at once (lanes: "
        + Self.lanes.map { $0.joined(separator: " then ") }.joined(separator: " | ") + ")",
      "openblas_coretype": core.chosen ?? "unset (OpenBLAS auto-detects)",
      "openblas_coretype_candidates": core.summary, "seed": "1",
    ]
    var env = ProcessInfo.processInfo.environment
    env["OPENBLAS_CORETYPE"] = core.chosen
    env["OPENBLAS_NUM_THREADS"] = "\(threads)"
    for r in Self.recipes {
      settings["\(r.model)_recipe"] = arguments(r, quick: context.quick, threads: threads)
        .dropFirst(3).joined(separator: " ")
    }
    // Two lanes, one core each: one BLAS thread per process degrades gently when other work
    // shares the machine (two OpenBLAS threads on a busy 2-core machine ran 10x slower).
    let outcomes = Outcomes()
    let group = DispatchGroup()
    let quick = context.quick
    let work = context.workDirectory
    let childEnvironment = env
    let progress = context.progress
    for lane in Self.lanes {
      let laneRecipes = lane.compactMap { m in Self.recipes.first { $0.model == m } }
      let laneArguments = laneRecipes.map { arguments($0, quick: quick, threads: threads) }
      DispatchQueue.global().async(group: group) {
        for (r, args) in zip(laneRecipes, laneArguments) {
          progress("train-accuracy: \(r.model) on \(r.dataset), \(quick ? 1 : r.epochs) epoch(s)")
          let o = Self.train(
            r, args, environment: childEnvironment, quick: quick, workDirectory: work)
          switch o {
          case .success(let json):
            progress(
              "train-accuracy: \(r.model): test \(json["metric"] as? String ?? "") "
                + String(format: "%.4f", json["test"] as? Double ?? .nan)
                + String(format: ", %.0f s", json["seconds"] as? Double ?? 0))
          case .failure(let why): progress("train-accuracy: \(r.model) FAILED: \(why)")
          }
          outcomes.set(r.model, o)
        }
      }
    }
    group.wait()
    var figures: [BenchFigure] = []
    var series: [String: [Double]] = [:]
    var failures: [String] = []
    for r in Self.recipes {
      let chars = r.model == "char-gru"
      let goal = context.quick ? nil : r.goal
      let goalNote =
        context.quick
        ? "quick mode: 1 epoch on a tiny subset (smoke test; the goal \(chars ? "<" : ">=") \(r.goal) is for the full run); "
        : ""
      let metricName = chars ? "\(r.model)_test_bits_per_character" : "\(r.model)_test_accuracy"
      let unit = chars ? "bits/character" : "fraction"
      let direction: Direction = chars ? .lowerIsBetter : .higherIsBetter
      guard case .success(let json) = outcomes.get(r.model) ?? .failure("did not run"),
        let test = json["test"] as? Double
      else {
        var why = "did not run"
        if case .failure(let w) = outcomes.get(r.model) { why = w }
        failures.append("\(r.model): \(why)")
        figures.append(
          BenchFigure(
            name: metricName, value: nil, unit: unit, direction: direction, goal: goal,
            note: "not measured: \(why)"))
        continue
      }
      let epochs = json["epochs"] as? Int ?? 0
      let items = json["train_items"] as? Int ?? 0
      figures.append(
        BenchFigure(
          name: metricName, value: test, unit: unit, direction: direction, goal: goal,
          note: goalNote
            + (chars
              ? "held-out last 5% of the KJV text after \(epochs) epoch(s) over \(items) training characters"
              : "official test split after \(epochs) epoch(s) over \(items) training items")))
      figures.append(
        BenchFigure(
          name: "\(r.model)_epochs", value: Double(epochs), unit: "epochs",
          direction: .lowerIsBetter))
      figures.append(
        BenchFigure(
          name: "\(r.model)_wall_s", value: json["seconds"] as? Double, unit: "s",
          direction: .lowerIsBetter,
          note:
            "child process: loading, training, validation after each epoch, test; training alone "
            + String(format: "%.1f s", json["train_seconds"] as? Double ?? 0)))
      series["\(r.model)_validation"] = json["validation"] as? [Double] ?? []
      series["\(r.model)_loss"] = json["loss"] as? [Double] ?? []
      series["\(r.model)_epoch_s"] = json["epoch_seconds"] as? [Double] ?? []
    }
    if failures.count == Self.recipes.count {
      throw BenchError.failed("every model failed: \(failures.joined(separator: "; "))")
    }
    return context.record(name, start: start, settings: settings, figures: figures, series: series)
  }

  /// Which models train one after the other in each of the two parallel lanes (VGG alone takes
  /// about as long as the other three together).
  static let lanes: [[String]] = [["vgg11"], ["lenet5", "gru", "char-gru"]]

  func arguments(_ r: Recipe, quick: Bool, threads: Int) -> [String] {
    [
      "_bench-train", "--accuracy", r.model, "--dataset", r.dataset, "--epochs",
      "\(quick ? 1 : r.epochs)",
    ]
      + ["--threads", "\(threads)", "--seed", "1"] + r.arguments + (quick ? r.quickArguments : [])
  }

  /// Trains one model in a child; its stderr (per-epoch progress) is kept in the work directory.
  static func train(
    _ r: Recipe, _ args: [String], environment: [String: String], quick: Bool,
    workDirectory: String
  ) -> TrainSpeedBenchmark.Outcome {
    let logPath = "\(workDirectory)/\(r.model).log"
    let result: ChildResult
    do {
      result = try ChildProcess.run(
        TrainSpeedBenchmark.executablePath(), args, environment: environment,
        timeout: quick ? 600 : 2700, stderrPath: logPath)
    } catch {
      return .failure("\(error)")
    }
    let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    guard result.succeeded, let json = TrainSpeedBenchmark.lastJSON(result.stdoutText),
      json["test"] is Double
    else {
      return .failure(
        "\(result.summary): " + log.split(separator: "\n").suffix(3).joined(separator: " | "))
    }
    return .success(json)
  }
}

/// The children's results, filled from the lanes' threads.
final class Outcomes: @unchecked Sendable {
  private let lock = NSLock()
  private var values: [String: TrainSpeedBenchmark.Outcome] = [:]
  func set(_ key: String, _ value: TrainSpeedBenchmark.Outcome) {
    lock.lock()
    values[key] = value
    lock.unlock()
  }
  func get(_ key: String) -> TrainSpeedBenchmark.Outcome? {
    lock.lock()
    defer { lock.unlock() }
    return values[key]
  }
}
