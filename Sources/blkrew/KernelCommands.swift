import ArgumentParser
import Driver
import Foundation
import ResultStore
import TuningSchema

struct Kernel: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Work with the kernels of one checkpoint, without a sweep.",
    subcommands: [Tune.self])

  struct Tune: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Generate, verify and time the kernel variants of a checkpoint's layers.",
      discussion: """
        The layers are the model's GEMM-view weights (the model named in the checkpoint's \
        metadata, or --model). A layer with zeros is block-sparse in the checkpoint's block \
        shape (metadata written by `blkrew prune`), or CSR without one; the others are dense. \
        Every variant is checked against the dense reference before it is timed; a wrong one is \
        reported as wrongResult, never as fast. The knob space is the target's ISAs x unroll x \
        register-tile width (x threads for block-sparse layers with --threads 1,2; x compilers \
        on the host with --compiler gcc,clang, x flag sets with --flags, repeated; with more than \
        one compiler or flag set each variant's JSON names its compiler and flags); --patterns then tries each block-column layer's \
        best variant with its block rows in pattern order and, at batch 1 on small layers, with \
        the kept column indices baked into the code; --strategy \
        exhaustive tries it in order, greedy does coordinate \
        descent with early stopping, random draws points. --budget-s bounds the whole run \
        (variants not reached are left out). Exit 66 when the checkpoint does not exist, 65 when \
        it is corrupt, 64 for an unknown layer or target, 69 when the target's toolchain is \
        missing (the message names the packages).
        """)

    @Option(help: "The safetensors checkpoint.") var checkpoint: String
    @Option(help: "Only this layer (e.g. fc1, features.0).") var layer: String?
    @Option(help: "The kernel target (see `blkrew targets`).") var target: String = "host"
    @Option(help: "The batch N (conv layers: N x output positions).") var batch: Int = 1
    @Option(name: .customLong("budget-s"), help: "Seconds for the whole tuning run.")
    var budgetSeconds: Double = 30
    @Option(help: "exhaustive, greedy or random.") var strategy: String = "exhaustive"
    @Option(
      help:
        "Threads per call explored for block-sparse layers, e.g. 1,2 (1..\(KernelSpec.maxThreads))."
    )
    var threads: String = "1"
    @Option(help: "Compilers explored on the host, e.g. gcc,clang (default: gcc).")
    var compiler: String?
    @Option(
      name: .customLong("flags"), parsing: .unconditionalSingleValue,
      help: ArgumentHelp(
        "A compiler flag set, replacing the target's (e.g. --flags '-O2 -march=native'); repeat it to explore several.",
        valueName: "flags"))
    var flagSets: [String] = []
    @Option(help: "The model, when the checkpoint's metadata does not name it.") var model: String?
    @Flag(help: "Also try the best variant of each layer reordered and with baked indices.")
    var patterns = false
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
      guard batch >= 1 else { throw ValidationError("--batch must be >= 1") }
      guard budgetSeconds > 0, budgetSeconds.isFinite else {
        throw ValidationError("--budget-s must be > 0")
      }
      guard KernelTuneJob.strategies.contains(strategy) else {
        throw ValidationError("--strategy must be exhaustive, greedy or random")
      }
      if let compiler {
        let names = compiler.split(separator: ",").map(String.init)
        guard !names.isEmpty, names.allSatisfy({ ["gcc", "clang", "cc"].contains($0) }),
          Set(names).count == names.count
        else {
          throw ValidationError("--compiler must list distinct ones of gcc, clang, cc")
        }
      }
      let sets = parsedFlagSets
      guard sets.allSatisfy({ !$0.isEmpty }), Set(sets).count == sets.count else {
        throw ValidationError("--flags must each be a non-empty set of flags, each set once")
      }
      guard threadCounts != nil else {
        throw ValidationError(
          "--threads must list distinct counts from 1 to \(KernelSpec.maxThreads), e.g. 1,2")
      }
    }

    /// Each `--flags` split at whitespace.
    var parsedFlagSets: [[String]] {
      flagSets.map { $0.split(whereSeparator: \.isWhitespace).map(String.init) }
    }

    var threadCounts: [Int]? {
      let t = threads.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
      guard !t.isEmpty, t.allSatisfy({ ($0 ?? 0) >= 1 && ($0 ?? 0) <= KernelSpec.maxThreads })
      else { return nil }
      let counts = t.compactMap { $0 }
      return Set(counts).count == counts.count ? counts : nil
    }

    func run() throws {
      var job = KernelTuneJob(checkpoint: checkpoint)
      job.layer = layer
      job.target = target
      job.batch = batch
      job.budgetSeconds = budgetSeconds
      job.strategyName = strategy
      job.threads = threadCounts ?? [1]
      job.compilers = compiler.map { $0.split(separator: ",").map(String.init) }
      job.flagSets = flagSets.isEmpty ? nil : parsedFlagSets
      job.model = model
      job.patterns = patterns
      let summary = try guarded {
        try job.run { FileHandle.standardError.write(Data("blkrew: \($0)\n".utf8)) }
      }
      if json {
        print(String(decoding: try RecordCoding.encoder().encode(summary), as: UTF8.self))
        return
      }
      print(
        "\(summary.model) on \(summary.target)\(summary.emulated ? " (emulated: correctness only)" : ""), "
          + "batch \(summary.batch), \(summary.strategy), \(String(format: "%.1f", summary.seconds)) s"
      )
      for l in summary.layers {
        let best =
          l.bestMedianSeconds.map { String(format: "%.3g µs", $0 * 1e6) }
          ?? (summary.emulated ? "verified only" : "none verified")
        let gf = l.bestGFLOPS.map { String(format: ", %.1f GFLOP/s", $0) } ?? ""
        let wrong = summary.variants.filter { $0.layer == l.layer && $0.outcome == .wrongResult }
          .count
        print(
          "\(l.layer): \(l.rows)x\(l.cols) \(l.format.rawValue) N=\(l.n), \(l.measured)/\(l.space) variants, "
            + "best \(best)\(gf)" + (wrong > 0 ? ", \(wrong) WRONG" : "")
            + (l.bestVariantID.map { " [\($0)]" } ?? ""))
      }
    }
  }
}
