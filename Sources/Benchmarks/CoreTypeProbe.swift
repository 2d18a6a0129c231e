import ChildProcesses
import Foundation
import KernelBuild

/// Picks the fastest `OPENBLAS_CORETYPE` for the benchmarks' children: the inherited setting (or
/// OpenBLAS's auto-detection when unset), SkylakeX and Haswell, each timed on a single-thread
/// square sgemm (`blkrew _bench-train --sgemm-probe`) in its own process, because OpenBLAS reads
/// the variable when it loads. MACHINE-FACTS.md: these machines' environment sets Haswell for old
/// builds' sake while SkylakeX runs sgemm about 2x faster. A core the CPU lacks the instructions
/// for (SkylakeX without AVX-512) is not tried (`candidates`): it would die of SIGILL.
struct CoreTypeProbe {
  /// The value to give children (nil: leave unset).
  var chosen: String?
  /// GFLOP/s by candidate label ("default" = the inherited setting), best of the passes.
  var gflops: [String: Double]
  /// The core OpenBLAS reported for each candidate.
  var cores: [String: String]
  var size: Int

  var summary: String {
    gflops.sorted(by: { $0.key < $1.key }).map {
      "\($0.key) (\(cores[$0.key] ?? "?")): \(String(format: "%.1f", $0.value)) GFLOP/s"
    }.joined(separator: "; ")
  }

  /// The inherited setting, then SkylakeX and Haswell where this CPU has their instructions
  /// (AVX-512F; AVX2 and FMA) and they are not the inherited one.
  static func candidates(
    inherited: String?, cpuFlags: Set<String> = TargetRegistry.hostCPUFlags()
  ) -> [String?] {
    let needs = ["SkylakeX": ["avx512f"], "Haswell": ["avx2", "fma"]]
    var candidates: [String?] = [inherited]
    for c in ["SkylakeX", "Haswell"]
    where inherited?.lowercased() != c.lowercased() && needs[c]!.allSatisfy(cpuFlags.contains) {
      candidates.append(c)
    }
    return candidates
  }

  static func choose(
    executable: String, quick: Bool, passes: Int, progress: (String) -> Void
  ) -> CoreTypeProbe {
    let base = ProcessInfo.processInfo.environment
    let inherited = base["OPENBLAS_CORETYPE"]
    let candidates = Self.candidates(inherited: inherited)
    let size = quick ? 256 : 1024
    var probe = CoreTypeProbe(chosen: inherited, gflops: [:], cores: [:], size: size)
    for pass in 0..<max(1, passes) {
      for candidate in candidates {
        let label = candidate ?? "default"
        var env = base
        env["OPENBLAS_CORETYPE"] = candidate
        env["OPENBLAS_NUM_THREADS"] = "1"
        let r = try? ChildProcess.run(
          executable, ["_bench-train", "--sgemm-probe", "--size", "\(size)"], environment: env,
          timeout: 120)
        guard let r, r.succeeded, let json = TrainSpeedBenchmark.lastJSON(r.stdoutText),
          let g = json["gflops"] as? Double
        else {
          progress(
            "sgemm probe with OPENBLAS_CORETYPE=\(label) failed: \(r?.summary ?? "no child") "
              + (r?.stderrText.suffix(300).description ?? ""))
          continue
        }
        probe.gflops[label] = max(probe.gflops[label] ?? 0, g)
        probe.cores[label] = json["core"] as? String
        progress(
          "sgemm probe \(pass + 1) OPENBLAS_CORETYPE=\(label) (core \(probe.cores[label] ?? "?")): "
            + String(format: "%.1f GFLOP/s", g))
      }
    }
    if let best = probe.gflops.max(by: { $0.value < $1.value }) {
      probe.chosen = best.key == "default" ? inherited : best.key
    }
    return probe
  }
}
