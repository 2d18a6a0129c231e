import ChildProcesses
import Foundation
import TuningSchema

/// Builds a variant's runner: the generated kernel.c compiled and linked together with the C
/// runner (`runner/runner.c` and `runner/stats.c`, PAPI + libsde + json-c) into one executable, in
/// `<workDirectory>/<variant id>/runner`, the source in `kernel.c` and the compiler's output in
/// `build.log` beside it. A compile error is a `BuildResult` with `ok == false` and the log,
/// never a throw. Arguments go to the compiler as an argv array (no shell).
///
/// Cross targets (`aarch64` on an x86-64 host): the variant's compiler (`aarch64-linux-gnu-gcc`)
/// and flags, linked against the target's libraries (`KernelTarget.libraryFlags`: Debian
/// multiarch's arm64 PAPI / json-c), chosen by the variant's target name when the builder was not
/// given a target.
public struct LocalBuilder: Sendable {
  public let workDirectory: URL
  /// Seconds a compiler run may take before it is killed.
  public let timeout: Double
  /// Flags that link the runner's libraries (from pkg-config, plus -lsde, which pkg-config's papi
  /// does not list; the runner really calls papi_sde_*, so --as-needed keeps it).
  public let libraryFlags: [String]
  /// The target given at init (nil: the host, cross flags picked per variant's target name).
  public let target: KernelTarget?
  /// Compile runner.c and stats.c once per (compiler, flags, libraries) into
  /// `<workDirectory>/runner-objects/` and link each variant against those objects, instead of
  /// compiling them into every runner (the same code; ~1 s less per build, most of a cross build).
  public let reuseRunnerObjects: Bool

  public init(workDirectory: URL, timeout: Double = 120, reuseRunnerObjects: Bool = false) {
    self.workDirectory = workDirectory
    self.timeout = timeout
    self.libraryFlags = LocalBuilder.discoverLibraryFlags()
    self.target = nil
    self.reuseRunnerObjects = reuseRunnerObjects
  }

  /// A builder for `target`: its library flags (the host's when it has none of its own).
  public init(
    workDirectory: URL, target: KernelTarget, timeout: Double = 120,
    reuseRunnerObjects: Bool = false
  ) {
    self.workDirectory = workDirectory
    self.timeout = timeout
    self.libraryFlags = target.libraryFlags ?? LocalBuilder.discoverLibraryFlags()
    self.target = target
    self.reuseRunnerObjects = reuseRunnerObjects
  }

  /// The library flags for a variant of `targetName`.
  func libraryFlags(forTargetNamed targetName: String) -> [String] {
    if target != nil { return libraryFlags }
    return TargetRegistry.libraryFlags(forTargetNamed: targetName) ?? libraryFlags
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
  /// blk_threads.h, probe_kernel.c), shipped as a resource of this module.
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
      directory: dir, libraries: libraryFlags(forTargetNamed: kernel.variant.target))
  }

  /// Builds `<workDirectory>/probe/runner`: the runner with a trivial dense 8x8 kernel, for
  /// `runner --probe` (PAPI version, which events work, whether SDE works).
  /// With a target given at init, its compiler and flags are the defaults.
  public func buildProbe(compiler: String? = nil, flags: [String]? = nil) -> BuildResult {
    let compiler = compiler ?? target?.compiler ?? "gcc"
    let flags = flags ?? ["-O2"]
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
      directory: dir, libraries: libraryFlags(forTargetNamed: target?.name ?? "host"))
  }

  private func compile(
    id: String, compiler: String, flags: [String], kernelSource: URL, directory: URL,
    libraries: [String]
  ) -> BuildResult {
    let runnerDir = LocalBuilder.runnerSource
    let binary = directory.appendingPathComponent("runner")
    // Per process: two workers may build the same variant at once.
    let temporary = directory.appendingPathComponent("runner.\(getpid()).tmp")
    let logURL = directory.appendingPathComponent("build.log")
    var log = ""
    var seconds = 0.0
    func finish(_ ok: Bool) -> BuildResult {
      try? Data(log.utf8).write(to: logURL, options: .atomic)
      return BuildResult(
        variantID: id, ok: ok, binaryPath: ok ? binary.path : nil, log: log, seconds: seconds)
    }
    func arguments(_ runnerInputs: [String]) -> [String] {
      flags + ["-std=gnu11", "-I", runnerDir.path] + runnerInputs + [
        kernelSource.path, "-o", temporary.path,
      ] + libraries + ["-lm", "-pthread"]
    }
    var runnerInputs = LocalBuilder.runnerCSources.map { runnerDir.appendingPathComponent($0).path }
    guard let exe = ChildProcess.which(compiler) else {
      log += "$ " + ([compiler] + arguments(runnerInputs)).joined(separator: " ") + "\n"
      log += "compiler \(compiler) not found in PATH\n"
      return finish(false)
    }
    if reuseRunnerObjects {
      switch runnerObjects(exe: exe, compiler: compiler, flags: flags, libraries: libraries) {
      case .success(let (objects, objectLog, objectSeconds)):
        runnerInputs = objects
        log += objectLog
        seconds += objectSeconds
      case .failure(let failure):
        log += failure.log
        return finish(false)
      }
    }
    let arguments = arguments(runnerInputs)
    log += "$ " + ([compiler] + arguments).joined(separator: " ") + "\n"
    let result: ChildResult
    do {
      result = try ChildProcess.run(exe, arguments, timeout: timeout)
    } catch {
      log += "\(error)\n"
      return finish(false)
    }
    seconds += result.seconds
    log += result.stdoutText + result.stderrText
    guard result.succeeded else {
      log += "compiler \(result.summary)\n"
      try? FileManager.default.removeItem(at: temporary)
      return finish(false)
    }
    // Atomic replace: a runner that exists is always complete.
    if rename(temporary.path, binary.path) != 0 {
      log += "cannot rename \(temporary.path): \(String(cString: strerror(errno)))\n"
      return finish(false)
    }
    return finish(true)
  }

  /// Hash of the runner's C sources and headers.
  static let runnerSourceHash: String = {
    let names = ["runner.c", "stats.c", "stats.h", "blk_kernel.h", "blk_threads.h"]
    let texts = names.map {
      (try? String(contentsOf: runnerSource.appendingPathComponent($0), encoding: .utf8)) ?? ""
    }
    return ContentHash.id(of: texts)
  }()

  private struct ObjectFailure: Error {
    var log: String
  }

  /// runner.o and stats.o for these flags, compiled once into
  /// `<workDirectory>/runner-objects/<hash of compiler, flags, libraries, runner sources>/` (each
  /// written to a per-process temporary and renamed, so a concurrent build sees a complete object
  /// or none); with the log and seconds of the compiles this call ran.
  private func runnerObjects(exe: String, compiler: String, flags: [String], libraries: [String])
    -> Result<(objects: [String], log: String, seconds: Double), ObjectFailure>
  {
    let runnerDir = LocalBuilder.runnerSource
    // Keyed by the runner's sources too: a rebuilt blkrew never links stale objects.
    let key = ContentHash.id(of: [compiler] + flags + ["|"] + libraries + [Self.runnerSourceHash])
    let dir = workDirectory.appendingPathComponent("runner-objects", isDirectory: true)
      .appendingPathComponent(key, isDirectory: true)
    do {
      try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    } catch {
      return .failure(ObjectFailure(log: "cannot create \(dir.path): \(error)\n"))
    }
    let compileFlags = libraries.filter { $0.hasPrefix("-I") || $0.hasPrefix("-D") }
    var objects: [String] = []
    var log = ""
    var seconds = 0.0
    for source in LocalBuilder.runnerCSources {
      let object = dir.appendingPathComponent((source as NSString).deletingPathExtension + ".o")
      objects.append(object.path)
      if FileManager.default.fileExists(atPath: object.path) { continue }
      // `<name>.o.<pid>.tmp`: the run directory's stale-temporary rule removes it if this
      // process is killed mid-compile (a resumed run reuses the finished object and would
      // never look at it again).
      let temporary = dir.appendingPathComponent("\(source).o.\(getpid()).tmp")
      let arguments =
        flags + ["-std=gnu11", "-I", runnerDir.path] + compileFlags + [
          "-c", runnerDir.appendingPathComponent(source).path, "-o", temporary.path,
        ]
      log += "$ " + ([compiler] + arguments).joined(separator: " ") + "\n"
      let r: ChildResult
      do {
        r = try ChildProcess.run(exe, arguments, timeout: timeout)
      } catch {
        return .failure(ObjectFailure(log: log + "\(error)\n"))
      }
      seconds += r.seconds
      log += r.stdoutText + r.stderrText
      guard r.succeeded else {
        try? FileManager.default.removeItem(at: temporary)
        return .failure(ObjectFailure(log: log + "compiler \(r.summary)\n"))
      }
      if rename(temporary.path, object.path) != 0 {
        let reason = String(cString: strerror(errno))
        return .failure(ObjectFailure(log: log + "cannot rename \(temporary.path): \(reason)\n"))
      }
    }
    return .success((objects, log, seconds))
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
