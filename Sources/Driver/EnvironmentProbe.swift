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
    let compilerVersion =
      (try? ChildProcess.run(kernels.compiler, ["--version"], timeout: 10))?
      .stdoutText.split(separator: "\n").first.map(String.init) ?? kernels.compiler

    let probe = probeRunner(kernels: kernels, buildDirectory: buildDirectory)
    return EnvironmentInfo(
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
  }

  /// Builds the runner with a small dense kernel and asks it what PAPI can read here.
  static func probeRunner(kernels: KernelSpec, buildDirectory: String) -> RunnerProbe? {
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
    return LocalRunner(settings: settings).probe(binaryPath: binary)
  }
}
