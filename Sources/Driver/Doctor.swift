import ChildProcesses
import Foundation
import KernelRun
import TuningSchema

/// `blkrew doctor`: what this machine can measure, and what to install or change to get more.
public struct DoctorReport: Codable, Sendable {
  public struct Availability: Codable, Sendable {
    public var available: Bool
    public var reason: String
  }
  public struct SDE: Codable, Sendable {
    public var works: Bool
    public var event: String
    public var expected: Int64
    public var read: Int64
  }
  /// One capability: whether it is there, what was seen, and the command that would add it.
  public struct Check: Codable, Sendable {
    public var name: String
    public var ok: Bool
    public var detail: String
    public var fix: String?
  }
  public var hardwareCounters: Availability
  public var sde: SDE
  public var papiVersion: String?
  public var events: [CounterReading]
  public var checks: [Check]

  enum CodingKeys: String, CodingKey {
    case sde, events, checks
    case hardwareCounters = "hardware_counters"
    case papiVersion = "papi_version"
  }

  /// One screen of text.
  public func text() -> String {
    var out = "blkrew doctor: what this machine can measure\n\n"
    let width = (checks.map(\.name.count).max() ?? 10) + 2
    for c in checks {
      out +=
        c.name.padding(toLength: width, withPad: " ", startingAt: 0) + (c.ok ? "yes  " : "no   ")
        + c.detail + "\n"
      if let fix = c.fix, !c.ok {
        out += String(repeating: " ", count: width + 5) + "to get it: \(fix)\n"
      }
    }
    return out
  }
}

public enum Doctor {
  static func apt(_ packages: String) -> String {
    "apt-get install -y --no-install-recommends \(packages)"
  }

  public static func run() -> DoctorReport {
    var checks: [DoctorReport.Check] = []
    let compiler = ChildProcess.which("gcc")
    checks.append(
      .init(
        name: "C compiler (gcc)", ok: compiler != nil, detail: compiler ?? "not found",
        fix: apt("gcc")))
    let papiInstalled =
      FileManager.default.fileExists(atPath: "/usr/include/papi.h")
      && FileManager.default.fileExists(atPath: "/usr/include/json-c/json.h")
    checks.append(
      .init(
        name: "PAPI + json-c (runner)", ok: papiInstalled,
        detail: papiInstalled ? "headers found" : "headers missing",
        fix: apt("libpapi-dev libjson-c-dev papi-tools")))

    let papiAvail = ChildProcess.which("papi_avail")
    checks.append(
      .init(
        name: "papi-tools (event lists)", ok: papiAvail != nil,
        detail: papiAvail.map { "\($0): events are chosen from what this CPU lists" }
          ?? "papi_avail not found: sweeps cannot choose the events this CPU has",
        fix: apt("papi-tools")))

    var spec = KernelSpec()
    spec.flags = ["-O2"]
    for e in ["perf::task-clock", "perf::page-faults", "perf::context-switches"]
    where !spec.events.contains(e) {
      spec.events.append(e)
    }
    let dir = NSTemporaryDirectory() + "blkrew-doctor-\(getuid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let probe =
      papiInstalled && compiler != nil
      ? EnvironmentProbe.probeRunner(kernels: spec, buildDirectory: dir) : nil

    let hardware = (probe?.events ?? []).filter {
      !$0.name.hasPrefix("perf::") && !$0.name.hasPrefix("sde:::")
    }
    let workingHW = hardware.filter(\.available)
    let hwReason: String
    if probe == nil {
      hwReason = "the PAPI runner could not be built or run"
    } else if workingHW.isEmpty {
      let first = hardware.first { !$0.available }
      hwReason =
        "no PAPI hardware event works"
        + (first.map { " (\($0.name): \($0.reason ?? "no reason"))" } ?? "")
        + (isVirtualMachine() ? "; this is a virtual machine without a virtual PMU" : "")
    } else {
      hwReason =
        "\(workingHW.count) of \(hardware.count) events: "
        + workingHW.map(\.name).joined(separator: ", ")
    }
    checks.append(
      .init(
        name: "hardware counters", ok: !workingHW.isEmpty, detail: hwReason,
        fix: isVirtualMachine()
          ? "run on bare metal, or give the VM a PMU (KVM/libvirt: <cpu mode='host-passthrough'> with pmu on)"
          : "sysctl -w kernel.perf_event_paranoid=1 (now \(paranoid() ?? "unknown"))"))

    let sdeReading = probe?.sde
    let sde = DoctorReport.SDE(
      works: probe?.sdeWorks ?? false, event: sdeReading?.event ?? "sde:::blkrew::MACS",
      expected: sdeReading?.expected ?? 0, read: sdeReading?.read ?? 0)
    checks.append(
      .init(
        name: "PAPI SDE counter", ok: sde.works,
        detail: "\(sde.event) read \(sde.read) of \(sde.expected) expected multiply-adds",
        fix: apt("libpapi-dev")))

    let perf = (probe?.events ?? []).filter { $0.name.hasPrefix("perf::") }
    let perfOK = perf.filter(\.available)
    checks.append(
      .init(
        name: "perf software events", ok: !perfOK.isEmpty && perfOK.count == perf.count,
        detail: perf.isEmpty
          ? "not probed (runner without perf_event_open support)"
          : perf.map {
            "\($0.name.dropFirst(6)): \($0.available ? "yes" : "no (\($0.reason ?? ""))")"
          }.joined(separator: ", "),
        fix: "sysctl -w kernel.perf_event_paranoid=1"))

    let valgrind = ChildProcess.which("valgrind")
    checks.append(
      .init(
        name: "valgrind (simulated cost)", ok: valgrind != nil,
        detail: valgrind.map { "\($0): cachegrind instruction counts and simulated cache misses" }
          ?? "not installed",
        fix: apt("valgrind")))

    let flags = cpuFlags()
    checks.append(
      .init(
        name: "x86-64-v3 (AVX2+FMA)", ok: flags.contains("avx2") && flags.contains("fma"),
        detail: flags.contains("avx2") ? "host can run it" : "host CPU lacks AVX2/FMA", fix: nil))
    checks.append(
      .init(
        name: "x86-64-v4 (AVX-512)", ok: flags.contains("avx512f"),
        detail: flags.contains("avx512f")
          ? "host can run it" : "host CPU lacks avx512f: x86-64-v4 variants are skipped",
        fix: nil))

    let cross = ChildProcess.which("aarch64-linux-gnu-gcc")
    checks.append(
      .init(
        name: "aarch64 cross compiler", ok: cross != nil, detail: cross ?? "not installed",
        fix: apt("gcc-aarch64-linux-gnu")))
    let arm64Papi = FileManager.default.fileExists(atPath: "/usr/lib/aarch64-linux-gnu/libpapi.so")
    checks.append(
      .init(
        name: "arm64 PAPI + json-c", ok: arm64Papi, detail: arm64Papi ? "found" : "not installed",
        fix: "dpkg --add-architecture arm64 && apt-get update && "
          + apt("libpapi-dev:arm64 libjson-c-dev:arm64")))
    let qemu = ChildProcess.which("qemu-aarch64")
    checks.append(
      .init(
        name: "qemu-user (aarch64)", ok: qemu != nil,
        detail: qemu.map { "\($0) (correctness only; timings under emulation mean nothing)" }
          ?? "not installed",
        fix: apt("qemu-user")))
    let sbatch = ChildProcess.which("sbatch")
    checks.append(
      .init(
        name: "Slurm", ok: sbatch != nil, detail: sbatch ?? "sbatch not found",
        fix: apt("slurm-client slurmd slurmctld munge")))

    return DoctorReport(
      hardwareCounters: .init(available: !workingHW.isEmpty, reason: hwReason), sde: sde,
      papiVersion: probe?.papiVersion, events: probe?.events ?? [], checks: checks)
  }

  static func cpuFlags() -> Set<String> {
    let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let line =
      info.split(separator: "\n").first { $0.hasPrefix("flags") || $0.hasPrefix("Features") } ?? ""
    return Set(line.split(separator: ":").last?.split(separator: " ").map(String.init) ?? [])
  }

  static func isVirtualMachine() -> Bool { cpuFlags().contains("hypervisor") }

  static func paranoid() -> String? {
    (try? String(contentsOfFile: "/proc/sys/kernel/perf_event_paranoid", encoding: .utf8))?
      .trimmingCharacters(in: .whitespacesAndNewlines)
  }
}
