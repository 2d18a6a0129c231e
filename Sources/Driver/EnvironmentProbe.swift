import CMachineProbe
import ChildProcesses
import Foundation
import KernelBuild
import KernelCodegen
import KernelRun
import Tensors
import TuningSchema

/// Collects the environment recorded once per run: CPU, memory, kernel, virtualization, compiler,
/// BLAS core type, and what PAPI can count here (from the runner's `--probe`).
public enum EnvironmentProbe {
  static let vectorFlags = [
    "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
    "amx_tile", "asimd", "sve", "sve2", "hypervisor",
  ]

  public static func collect(kernels: KernelSpec, buildDirectory: String) -> EnvironmentInfo {
    let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    func field(_ name: String) -> String? {
      cpuinfo.split(separator: "\n").first { $0.hasPrefix(name) }?.split(
        separator: ":", maxSplits: 1
      ).last
        .map { $0.trimmingCharacters(in: .whitespaces) }
    }
    let flags = Set(
      (field("flags") ?? field("Features") ?? "").split(separator: " ").map(String.init))
    let meminfo = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
    let memKB =
      meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal") }?
      .split(separator: " ").compactMap { UInt64($0) }.first ?? 0
    var uts = utsname()
    uname(&uts)
    func str<T>(_ t: T) -> String {
      withUnsafeBytes(of: t) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
    let vendor = (try? String(contentsOfFile: "/sys/class/dmi/id/sys_vendor", encoding: .utf8))?
      .trimmingCharacters(in: .whitespacesAndNewlines)
    let virt =
      flags.contains("hypervisor")
      ? "virtual machine" + (vendor.map { " (\($0))" } ?? "") : "bare metal"
    let governor =
      (try? String(
        contentsOfFile: "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", encoding: .utf8))?
      .trimmingCharacters(in: .whitespacesAndNewlines)
    // Every compiler of the search, "; "-separated (one for most suites).
    let compilerVersion = kernels.allCompilers.map { compiler in
      (try? ChildProcess.run(compiler, ["--version"], timeout: 10))?
        .stdoutText.split(separator: "\n").first.map(String.init) ?? compiler
    }.joined(separator: "; ")

    let avail = papiAvail()
    let plan = planEvents(kernels, avail: avail)
    let probe = probeRunner(kernels: kernels, groups: plan?.passes, buildDirectory: buildDirectory)
    var info = EnvironmentInfo(
      hostname: str(uts.nodename), cpuModel: field("model name") ?? str(uts.machine),
      cpuFlags: vectorFlags.filter { flags.contains($0) },
      cores: ProcessInfo.processInfo.activeProcessorCount,
      memoryBytes: memKB * 1024, kernel: "\(str(uts.sysname)) \(str(uts.release))",
      virtualization: virt,
      governor: governor, compiler: compilerVersion, compilerFlags: kernels.flags,
      blas: "OpenBLAS", blasCoreType: BLAS.coreName,
      openblasCoreTypeEnv: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"],
      papiVersion: probe?.papiVersion, events: probe?.events ?? [],
      sdeWorks: probe?.sdeWorks ?? false)
    info.cpuFlagsAll = flags.sorted()
    info.blasConfig = BLAS.config
    info.papiAvailablePresets = avail?.availablePresets
    info.papiHardwareCounters = avail?.hardwareCounters
    info.cpuMHzReported = field("cpu MHz").flatMap(Double.init)
    let ghz = blk_estimate_ghz(200_000_000)
    info.measuredGHz = ghz > 0 ? (ghz * 100).rounded() / 100 : nil
    info.compilers = ["gcc", "clang"].compactMap { cc in
      guard ChildProcess.which(cc) != nil,
        let r = try? ChildProcess.run(cc, ["--version"], timeout: 10), r.succeeded
      else { return nil }
      return r.stdoutText.split(separator: "\n").first.map(String.init)
    }
    info.papiComponents = papiComponents()
    info.eventPasses = plan?.passes
    info.eventsLeftOut = plan?.unavailable.map {
      CounterReading(name: $0.name, available: false, reason: $0.reason)
    }
    if let noise = TimingNoise.calibrate(buildDirectory: buildDirectory) {
      info.timingNoiseRunMedians = noise.runMedians
      info.timingNoiseMinEffect = noise.minEffect
    }
    return info
  }

  /// The component lines of `papi_component_avail` (papi-tools): active components with their
  /// counts, and compiled-in ones that are disabled with PAPI's reason. (It reports `sde` disabled
  /// because that tool does not load libsde; the runner's own SDE check is `sde_works`.)
  static func papiComponents() -> [String]? {
    guard ChildProcess.which("papi_component_avail") != nil,
      let r = try? ChildProcess.run("papi_component_avail", [], timeout: 20), r.succeeded
    else { return nil }
    var out: [String] = []
    var section = ""
    var last: String?
    for raw in r.stdoutText.split(separator: "\n") {
      let line = raw.trimmingCharacters(in: .whitespaces)
      if line.hasSuffix("components:") {
        section = line.hasPrefix("Active") ? "active" : "compiled-in"
        continue
      }
      if line.hasPrefix("Name:") {
        let rest = line.dropFirst(5).trimmingCharacters(in: .whitespaces)
        let name = rest.split(separator: " ").first.map(String.init) ?? rest
        last = name
        if section == "active" { out.append("\(name): active") }
      } else if line.hasPrefix("\\-> Disabled:"), let name = last, section == "compiled-in" {
        out.append("\(name): disabled (\(line.dropFirst(13).trimmingCharacters(in: .whitespaces)))")
      } else if section == "active", line.hasPrefix("Native:"), let name = last,
        let i = out.lastIndex(of: "\(name): active")
      {
        out[i] = "\(name): active, \(line)"
      }
    }
    return out
  }

  /// Builds the runner with a small dense kernel and asks it what PAPI can read here.
  /// The events to measure on this machine, in passes: the platform's default request when the
  /// suite lists none, else the suite's list, planned against `papi_avail` (and
  /// `papi_native_avail` for native events). Nil when papi-tools is missing (then the suite's list
  /// is measured in one pass and the runner records what fails).
  static func planEvents(_ kernels: KernelSpec, avail: PapiAvail?) -> EventPlan? {
    guard let avail else { return nil }
    let native = (try? ChildProcess.run("papi_native_avail", [], timeout: 60)).flatMap {
      $0.succeeded ? PapiNativeAvail.parse($0.stdoutText) : nil
    }
    if kernels.autoEvents {
      var plan = EventCatalog.defaultPlan(avail: avail, native: native)
      // perf software events the suite's default list names but the catalog leaves out.
      let extra = kernels.events.filter { e in
        e.hasPrefix("perf::")
          && !plan.passes.joined().contains { $0.lowercased() == e.lowercased() }
      }
      if !extra.isEmpty { plan.passes = plan.passes.map { $0 + extra } }
      return plan
    }
    return EventPlan.plan(requested: kernels.events, avail: avail, native: native)
  }

  /// `papi_avail` (papi-tools) parsed; nil when it is missing or fails.
  static func papiAvail() -> PapiAvail? {
    guard ChildProcess.which("papi_avail") != nil,
      let r = try? ChildProcess.run("papi_avail", [], timeout: 30), r.succeeded
    else { return nil }
    return PapiAvail.parse(r.stdoutText)
  }

  static func probeRunner(kernels: KernelSpec, buildDirectory: String) -> RunnerProbe? {
    probeRunner(kernels: kernels, groups: nil, buildDirectory: buildDirectory)
  }

  static func probeRunner(kernels: KernelSpec, groups: [[String]]?, buildDirectory: String)
    -> RunnerProbe?
  {
    let builder = LocalBuilder(workDirectory: URL(fileURLWithPath: buildDirectory))
    let workload = Workload(
      rows: 4, cols: 4, format: .dense, blockRows: 1, blockCols: 1,
      maskHash: Workload.maskHash([UInt8](repeating: 1, count: 16)), kept: 16)
    guard
      let variant = KernelGenerator.variants(
        for: workload, batch: 1, target: "host", compiler: kernels.compiler, flags: kernels.flags
      ).first
    else { return nil }
    let built = builder.build(KernelGenerator.generate(variant))
    guard built.ok, let binary = built.binaryPath else { return nil }
    var settings = RunSettings()
    settings.events = kernels.events
    if let groups, !groups.isEmpty {
      settings.eventGroups = groups
      settings.events = Array(Set(groups.joined())).sorted()
    }
    return LocalRunner(settings: settings).probe(binaryPath: binary)
  }
}
