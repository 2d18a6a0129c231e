import ChildProcesses
import Foundation
import TuningSchema

/// Builds a variant's runner: the generated kernel.c compiled and linked together with the C
/// runner (`runner/runner.c` and `runner/stats.c`, PAPI + libsde + json-c) into one executable, in
/// `<workDirectory>/<variant id>/runner`, the source in `kernel.c` and the compiler's output in
/// `build.log` beside it. A compile error is a `BuildResult` with `ok == false` and the log,
/// never a throw. Arguments go to the compiler as an argv array (no shell).
public struct LocalBuilder: Sendable {
  public let workDirectory: URL
  /// Seconds a compiler run may take before it is killed.
  public let timeout: Double
  /// Flags that link the runner's libraries (from pkg-config, plus -lsde, which pkg-config's papi
  /// does not list; the runner really calls papi_sde_*, so --as-needed keeps it).
  public let libraryFlags: [String]

  public init(workDirectory: URL, timeout: Double = 120) {
    self.workDirectory = workDirectory
    self.timeout = timeout
    self.libraryFlags = LocalBuilder.discoverLibraryFlags()
  }

  /// The compiler flags a target gets unless a suite says otherwise.
  public static func defaultFlags(for target: String) -> [String] {
    switch target {
    case "host": ["-O3", "-march=native"]
    case "x86-64-v3": ["-O3", "-march=x86-64-v3"]
    case "x86-64-v4": ["-O3", "-march=x86-64-v4"]
    case "aarch64": ["-O3", "-march=armv8-a"]
    default: ["-O3"]
    }
  }

  /// Flags for a build that a cache simulator (valgrind's cachegrind) runs: valgrind 3.19
  /// cannot execute AVX-512 and runs FMA about 1000x slower, so AVX2 without FMA. A caller that
  /// wants a simulated cost builds the variant with these flags (a variant of its own ID).
  public static let simulationFlags = ["-O3", "-march=x86-64-v3", "-mno-fma"]

  /// The runner's own C files compiled into every runner (besides the kernel).
  public static let runnerCSources = ["runner.c", "stats.c"]

  /// The directory holding the runner's C sources (runner.c, stats.c, stats.h, blk_kernel.h,
  /// probe_kernel.c), shipped as a resource of this module.
  public static var runnerSource: URL {
    guard let url = Bundle.module.url(forResource: "runner", withExtension: nil) else {
      fatalError("KernelBuild's runner resource is missing from \(Bundle.module.bundlePath)")
    }
    return url
  }

  /// Writes `kernel.c` and builds `<workDirectory>/<variant id>/runner`.
  public func build(_ kernel: GeneratedKernel) -> BuildResult {
    let id = kernel.variant.id
    let dir = workDirectory.appendingPathComponent(id, isDirectory: true)
    let source = dir.appendingPathComponent("kernel.c")
    do {
      try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
      try Data(kernel.source.utf8).write(to: source, options: .atomic)
    } catch {
      return BuildResult(
        variantID: id, ok: false, binaryPath: nil, log: "cannot write \(source.path): \(error)",
        seconds: 0)
    }
    return compile(
      id: id, compiler: kernel.variant.compiler, flags: kernel.variant.flags, kernelSource: source,
      directory: dir)
  }

  /// Builds `<workDirectory>/probe/runner`: the runner with a trivial dense 8x8 kernel, for
  /// `runner --probe` (PAPI version, which events work, whether SDE works).
  public func buildProbe(compiler: String = "gcc", flags: [String] = ["-O2"]) -> BuildResult {
    let dir = workDirectory.appendingPathComponent("probe", isDirectory: true)
    do {
      try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    } catch {
      return BuildResult(
        variantID: "probe", ok: false, binaryPath: nil, log: "cannot create \(dir.path): \(error)",
        seconds: 0)
    }
    return compile(
      id: "probe", compiler: compiler, flags: flags,
      kernelSource: LocalBuilder.runnerSource.appendingPathComponent("probe_kernel.c"),
      directory: dir)
  }

  private func compile(
    id: String, compiler: String, flags: [String], kernelSource: URL, directory: URL
  ) -> BuildResult {
    let runnerDir = LocalBuilder.runnerSource
    let binary = directory.appendingPathComponent("runner")
    // Per process: two workers may build the same variant at once.
    let temporary = directory.appendingPathComponent("runner.\(getpid()).tmp")
    let logURL = directory.appendingPathComponent("build.log")
    let arguments =
      flags + [
        "-std=gnu11", "-I", runnerDir.path,
      ] + LocalBuilder.runnerCSources.map { runnerDir.appendingPathComponent($0).path } + [
        kernelSource.path, "-o", temporary.path,
      ] + libraryFlags + ["-lm"]
    var log = "$ " + ([compiler] + arguments).joined(separator: " ") + "\n"
    func finish(_ ok: Bool, _ seconds: Double) -> BuildResult {
      try? Data(log.utf8).write(to: logURL, options: .atomic)
      return BuildResult(
        variantID: id, ok: ok, binaryPath: ok ? binary.path : nil, log: log, seconds: seconds)
    }
    guard let exe = ChildProcess.which(compiler) else {
      log += "compiler \(compiler) not found in PATH\n"
      return finish(false, 0)
    }
    let result: ChildResult
    do {
      result = try ChildProcess.run(exe, arguments, timeout: timeout)
    } catch {
      log += "\(error)\n"
      return finish(false, 0)
    }
    log += result.stdoutText + result.stderrText
    guard result.succeeded else {
      log += "compiler \(result.summary)\n"
      try? FileManager.default.removeItem(at: temporary)
      return finish(false, result.seconds)
    }
    // Atomic replace: a runner that exists is always complete.
    if rename(temporary.path, binary.path) != 0 {
      log += "cannot rename \(temporary.path): \(String(cString: strerror(errno)))\n"
      return finish(false, result.seconds)
    }
    return finish(true, result.seconds)
  }

  private static func discoverLibraryFlags() -> [String] {
    let fallback = ["-I/usr/include/json-c", "-lpapi", "-lsde", "-ljson-c"]
    guard let pkgConfig = ChildProcess.which("pkg-config"),
      let r = try? ChildProcess.run(
        pkgConfig, ["--cflags", "--libs", "papi", "json-c"], timeout: 30),
      r.succeeded
    else { return fallback }
    var flags = r.stdoutText.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
    if !flags.contains("-lsde") {
      let papi = flags.firstIndex(of: "-lpapi").map { $0 + 1 } ?? flags.count
      flags.insert("-lsde", at: papi)
    }
    return flags
  }
}
