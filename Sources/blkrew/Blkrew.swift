import ArgumentParser
import Benchmarks
import Driver
import Foundation
import ResultStore
import TuningSchema

@main
struct Blkrew: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "blkrew",
    abstract: "Benchmark and autotune block-based DNN pruning (BLK-REW) on the real CPU.",
    discussion: """
      Exit codes: 0 success; 1 the work failed (no trial succeeded, disk full); 2 compare found a \
      regression; 64 bad usage or invalid suite; 65 bad input data; 66 input file missing; \
      69 a required tool, library or dataset package is missing.
      """,
    version: BlkrewVersion.string,
    subcommands: [
      Sweep.self, Suite.self, Train.self, Prune.self, Report.self, Compare.self, Reproduce.self,
      Doctor.self, Bench.self, TrialChild.self,
      ShardChild.self, BenchTrainChild.self, TargetsCommand.self, Kernel.self,
    ])
}

/// Runs `body`, turning a `DriverError` into one line on stderr and its exit code.
func guarded<T>(_ body: () throws -> T) throws -> T {
  do {
    return try body()
  } catch let e as DriverError {
    FileHandle.standardError.write(Data("blkrew: error: \(e.description)\n".utf8))
    throw ExitCode(e.exitCode)
  }
}

struct Sweep: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run a sweep or show its status.", subcommands: [Run.self, Status.self])

  struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Run every trial of a suite; rerunning the same command resumes the run.",
      discussion: """
        Progress goes to stderr; the last line on stdout is the run directory. Ctrl-C (or SIGTERM) \
        once: running trials finish and are written, no new ones start; twice: they are killed \
        now. A trial ended by SIGTERM, SIGINT or SIGHUP (shutdown, scancel, preemption) is not \
        recorded and stops the sweep the same way. Exit 130 when the sweep stopped before every \
        trial finished (rerun the same command to resume), 1 when no trial succeeded.
        """)

    @Argument(help: "The suite file (suites/*.yaml).") var suite: String
    @Option(help: "Where runs are stored.") var results: String = "results"
    @Flag(help: "Start a new run instead of resuming the suite's run.") var fresh = false
    @Option(
      help:
        "Trials run at once, each in its own process (default: the number of cores); with --executor slurm, the most array tasks (default: 4)."
    )
    var workers: Int?
    @Option(help: "Where trials run: local (worker processes here) or slurm (an sbatch job array).")
    var executor: String = "local"
    @Flag(help: "With --executor slurm: wait for the job array to end, printing progress.")
    var wait = false
    @Flag(help: "List the trials and exit; nothing is written.") var dryRun = false
    @Flag(help: "Print a JSON summary on stdout before the run directory.") var json = false

    func validate() throws {
      guard (workers ?? 1) >= 1 else { throw ValidationError("--workers must be at least 1") }
      guard let e = SweepRunner.Executor(rawValue: executor) else {
        throw ValidationError("--executor must be local or slurm, not '\(executor)'")
      }
      if wait && e != .slurm { throw ValidationError("--wait needs --executor slurm") }
    }

    func run() throws {
      try guarded {
        if dryRun {
          let spec = try SweepRunner.loadSuite(suite)
          let trials = SweepRunner.plan(spec)
          for t in trials { print("\(t.id)  \(t.label) seed \(t.seed)") }
          FileHandle.standardError.write(Data("blkrew: \(trials.count) trials (dry run)\n".utf8))
          return
        }
        var runner = SweepRunner(suitePath: suite, resultsDir: results, fresh: fresh)
        runner.executor = SweepRunner.Executor(rawValue: executor) ?? .local
        runner.wait = wait
        runner.workers =
          workers
          ?? (runner.executor == .slurm
            ? SlurmExecutor.defaultShards : ProcessInfo.processInfo.activeProcessorCount)
        let summary = try runner.run()
        if let job = summary.slurmJobID { print(job) }
        if json {
          let data = try RecordCoding.encoder().encode(summary)
          print(String(decoding: data, as: UTF8.self))
        }
        print(summary.runDirectory)
        if runner.executor == .slurm && !wait { return }  // submitted; the array does the work
        if let left = summary.unfinished, left > 0, summary.budgetSpent == nil {
          throw DriverError.failed(
            "\(left) trial(s) did not finish in slurm job \(summary.slurmJobID ?? "?"); see \(summary.runDirectory)/slurm; rerun the same command to resume"
          )
        }
        if summary.interrupted { throw ExitCode(130) }  // the summary line said so; resume
        if summary.ok == 0 {
          throw DriverError.failed("no trial succeeded; see \(summary.runDirectory)/logs")
        }
      }
    }
  }

  struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Show done / failed / running / pending trials of a run.",
      discussion:
        "Without RUN_DIR: the most recently modified run under --results (exit 66 when there is none)."
    )
    @Argument(help: "A run directory (results/<suite>/<run>; default: the latest run).")
    var runDir: String?
    @Option(help: "Where runs are stored (to find the latest run without RUN_DIR).")
    var results: String = "results"
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
      try guarded {
        let status = try SweepStatus.read(runDir ?? SweepStatus.latestRun(under: results))
        if json {
          print(String(decoding: try RecordCoding.encoder().encode(status), as: UTF8.self))
        } else {
          print(status.text(), terminator: "")
        }
      }
    }
  }
}

struct Suite: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Work with suite files.", subcommands: [Validate.self])

  struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract:
        "Check suite files; one line per error (file, line, key), every error of every file.")
    @Argument(help: "Suite files.") var suites: [String]

    func run() throws {
      var worst: Int32 = 0
      for path in suites {
        do {
          let spec = try SweepRunner.loadSuite(path, everyError: true)
          print("\(path): ok (\(SweepRunner.plan(spec).count) trials)")
        } catch let e as DriverError {
          FileHandle.standardError.write(Data("blkrew: error: \(e.description)\n".utf8))
          worst = max(worst, e.exitCode)
        }
      }
      if worst != 0 { throw ExitCode(worst) }
    }
  }
}

/// The child process of one trial (started by `sweep run`; not for people).
struct TrialChild: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "_trial", abstract: "Run one trial of a run (internal).", shouldDisplay: false)
  @Argument var runDir: String
  @Argument var trialID: String

  func run() throws {
    try guarded {
      _ = ChildProcessHooks.dieWithParent()
      try TrialExecutor(run: RunDirectory(path: runDir), trialID: trialID).execute()
    }
  }
}

/// One task of a Slurm job array (started by the script of `sweep run --executor slurm`).
struct ShardChild: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "_shard", abstract: "Run shard i of n of a run's trials (internal).",
    shouldDisplay: false)
  @Argument var runDir: String
  @Argument var index: Int
  @Argument var count: Int

  func validate() throws {
    guard count >= 1, index >= 0, index < count else {
      throw ValidationError("need 0 <= index < count")
    }
  }

  func run() throws {
    try guarded {
      let summary = try SlurmShard.run(runPath: runDir, index: index, count: count)
      if summary.interrupted { throw ExitCode(130) }
    }
  }
}

struct Doctor: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Say what this machine can measure (counters, SDE, perf events, valgrind, cross toolchains, qemu, Slurm)."
  )
  @Flag(help: "Print JSON.") var json = false

  func run() throws {
    let report = Driver.Doctor.run()
    if json {
      let data = try RecordCoding.encoder().encode(report)
      print(String(decoding: data, as: UTF8.self))
    } else {
      print(report.text(), terminator: "")
    }
  }
}

struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Run benchmarks and write one JSON per benchmark (figures with units and directions).",
    discussion:
      "`make bench` runs them all; `make bench-quick` runs each once on its smallest input.")
  @Argument(help: "Benchmarks to run (default: all).") var names: [String] = []
  @Flag(help: "Each benchmark once on its smallest input.") var quick = false
  @Option(help: "Output directory (default: results/bench, or results/bench/quick with --quick).")
  var out: String?

  func run() throws {
    try guarded {
      let dir = out ?? (quick ? "results/bench/quick" : "results/bench")
      for p in try BenchSuite.run(names: names, quick: quick, outDirectory: dir) { print(p) }
    }
  }
}

struct Train: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Train a model (or evaluate a checkpoint with --epochs 0) and write a safetensors checkpoint.",
    discussion: """
      Models: mlp lenet5 (fashion-mnist); vgg11 vgg16 resnet20 (fashion-mnist-32); gru lstm \
      (japanese-vowels, seq-fashion-mnist); char-gru (kjv-chars). The checkpoint uses PyTorch's tensor \
      names and layouts and records the model and dataset in its __metadata__. --init accepts a \
      safetensors file without blkrew's metadata (as PyTorch writes it). Exit 65 for a corrupt or \
      mis-shaped checkpoint (the message names the tensor and the shapes), 66 when --init does not exist.
      """)
  @Option(help: "Model name.") var model: String
  @Option(help: "Dataset name.") var dataset: String
  @Option(help: "Training epochs (0: evaluate --init only).") var epochs: Int = 1
  @Option(help: "Seed for initialisation, splits and batch order.") var seed: Int = 1
  @Option(name: .customLong("init"), help: "Start from this safetensors checkpoint.") var initPath:
    String?
  @Option(help: "Where to write the checkpoint (.safetensors).") var out: String
  @Option(help: "Batch size (default per model).") var batchSize: Int?
  @Option(help: "Learning rate (default per model).") var lr: Double?
  @Option(help: "sgd or adam (default per model).") var optimizer: String?
  @Option(help: "BLAS threads.") var threads: Int = 1
  @Option(help: "Use at most this many training items.") var trainSubset: Int?
  @Option(help: "Width multiplier of VGG / ResNet / RNN hidden size.") var width: Double = 1
  @Flag(help: "Print a JSON summary.") var json = false

  func validate() throws {
    guard epochs >= 0 else { throw ValidationError("--epochs must be >= 0") }
    guard epochs > 0 || initPath != nil else { throw ValidationError("--epochs 0 needs --init") }
    if let optimizer, !["sgd", "adam"].contains(optimizer) {
      throw ValidationError("--optimizer must be sgd or adam")
    }
    guard threads >= 1, width > 0 else {
      throw ValidationError("--threads and --width must be positive")
    }
  }

  func run() throws {
    try guarded {
      var job = TrainJob(
        model: model, dataset: dataset, epochs: epochs, seed: seed, initPath: initPath, outPath: out
      )
      job.batchSize = batchSize
      job.learningRate = lr
      job.optimizer = optimizer
      job.threads = threads
      job.trainSubset = trainSubset
      job.width = width
      let summary = try job.run {
        FileHandle.standardError.write(Data("blkrew train: \($0)\n".utf8))
      }
      FileHandle.standardError.write(
        Data(
          "blkrew train: test \(summary.metric) \(String(format: "%.4f", summary.test)), \(String(format: "%.1f", summary.seconds)) s\n"
            .utf8))
      if json { print(String(decoding: try RecordCoding.encoder().encode(summary), as: UTF8.self)) }
      print(summary.checkpoint)
    }
  }
}

// MARK: - Benchmark children

/// One measurement of `bench train-speed` in a fresh process (so OPENBLAS_CORETYPE and
/// OPENBLAS_NUM_THREADS apply); the arguments and the JSON it prints are `TrainStepProbe`'s.
struct BenchTrainChild: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "_bench-train", abstract: "One train-speed measurement (internal).",
    shouldDisplay: false)
  @Argument(parsing: .captureForPassthrough) var arguments: [String] = []

  func run() throws {
    _ = ChildProcessHooks.dieWithParent()
    do {
      print(try TrainStepProbe.main(arguments))
    } catch {
      FileHandle.standardError.write(Data("blkrew: error: \(error)\n".utf8))
      throw ExitCode(64)
    }
  }
}

struct Prune: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Prune one checkpoint: regularize, hard prune to a rate, masked retrain.",
    discussion: """
      Reads the model and dataset from the checkpoint's metadata (as `blkrew train` writes it; pass \
      --model for a PyTorch checkpoint). Writes a safetensors checkpoint whose pruned weights are \
      exact zeros, with the scheme, block, rate and per-layer kept counts in its metadata. \
      --reg-epochs 0 --retrain-epochs 0 is plain magnitude pruning of the chosen groups. Block \
      dimensions may be * (the layer's whole dimension): *x1 prunes whole columns. Exit 64 for bad \
      flags, 65 for a corrupt or mis-shaped checkpoint, 66 when --checkpoint does not exist.
      """)
  @Option(help: "The checkpoint to prune (.safetensors).") var checkpoint: String
  @Option(help: "block-column, block-row or block-column-row.") var scheme: String = "block-column"
  @Option(help: "Block shape RxC (rows x columns of the GEMM-view weight), e.g. 8x16.")
  var block: String
  @Option(help: "Compression rate R >= 1 (weights / kept weights, per pruned layer).")
  var rate: Double
  @Option(help: "reweighted, group-lasso, admm or none.") var regularizer: String = "reweighted"
  @Option(help: "Epochs of the regularization phase.") var regEpochs: Int = 1
  @Option(help: "Epochs of masked retraining.") var retrainEpochs: Int = 1
  @Option(help: "Dataset (default: the checkpoint's).") var dataset: String?
  @Option(help: "Model (default: the checkpoint's metadata).") var model: String?
  @Option(help: "Regularization strength lambda.") var lambda: Double = 1e-4
  @Option(help: "ADMM penalty rho (regularizer admm).") var rho: Double?
  @Option(help: "Steps between penalty refreshes (reweighted) or Z/U updates (ADMM).")
  var refreshSteps: Int = 200
  @Option(help: "Layers kept dense: first, last, layer names, or none (comma-separated).")
  var keepDense: String = "first,last"
  @Option(help: "Learning rate of the regularization phase.") var lr: Double = 0.01
  @Option(help: "Learning rate of masked retraining.") var retrainLr: Double = 0.005
  @Option(help: "Batch size.") var batchSize: Int = 64
  @Option(help: "Use at most this many training items.") var trainSubset: Int?
  @Option(help: "Seed for splits and batch order.") var seed: Int = 1
  @Option(help: "BLAS threads.") var threads: Int = 1
  @Option(help: "Width multiplier (default: the checkpoint's, else 1).") var width: Double?
  @Option(help: "Where to write the pruned checkpoint (.safetensors).") var out: String
  @Flag(help: "Print a JSON summary.") var json = false

  func validate() throws {
    guard PruningScheme(rawValue: scheme) != nil else {
      throw ValidationError("--scheme must be block-column, block-row or block-column-row")
    }
    guard BlockShape(parsing: block) != nil else {
      throw ValidationError("--block must be RxC with R, C >= 1 or * (e.g. 8x16)")
    }
    guard rate >= 1 else { throw ValidationError("--rate must be >= 1") }
    guard RegularizerSpec.Kind(rawValue: regularizer) != nil else {
      throw ValidationError("--regularizer must be reweighted, group-lasso, admm or none")
    }
    guard regEpochs >= 0, retrainEpochs >= 0, refreshSteps >= 1, batchSize >= 1, threads >= 1,
      lambda >= 0, lr >= 0, retrainLr >= 0
    else { throw ValidationError("epochs, lambda and rates must be >= 0; sizes >= 1") }
    if let rho, rho <= 0 { throw ValidationError("--rho must be > 0") }
  }

  func run() throws {
    try guarded {
      var job = PruneJob(
        checkpoint: checkpoint, outPath: out, scheme: PruningScheme(rawValue: scheme)!,
        block: BlockShape(parsing: block)!, rate: rate)
      job.regularizer.kind = RegularizerSpec.Kind(rawValue: regularizer)!
      job.regularizer.lambda = lambda
      job.regularizer.refreshSteps = refreshSteps
      if job.regularizer.kind == .admm { job.regularizer.rho = rho }
      job.regEpochs = regEpochs
      job.retrainEpochs = retrainEpochs
      job.dataset = dataset
      job.model = model
      job.keepDense =
        keepDense == "none" ? [] : keepDense.split(separator: ",").map(String.init)
      job.learningRate = lr
      job.retrainLearningRate = retrainLr
      job.batchSize = batchSize
      job.trainSubset = trainSubset
      job.seed = seed
      job.threads = threads
      job.width = width
      let s = try job.run { FileHandle.standardError.write(Data("blkrew prune: \($0)\n".utf8)) }
      for k in s.kept {
        FileHandle.standardError.write(
          Data(
            "blkrew prune: \(k.layer) [\(k.rows)x\(k.cols)]: \(k.pruned ? "kept \(k.kept) of \(k.total) (\(String(format: "%.2f", k.rate))x)" : "dense")\n"
              .utf8))
      }
      FileHandle.standardError.write(
        Data(
          ("blkrew prune: model \(String(format: "%.2f", s.compression.compressionRatio))x fewer weights"
            + (s.compression.flopReduction.map { String(format: ", %.2fx fewer MACs", $0) } ?? "")
            + String(format: ", %.1f s\n", s.seconds)).utf8))
      if json { print(String(decoding: try RecordCoding.encoder().encode(s), as: UTF8.self)) }
      print(s.checkpoint)
    }
  }
}
