import ChildProcesses
import Foundation
import TuningSchema

/// What a target's runs can measure.
public enum TargetMeasure: String, Codable, Sendable, CaseIterable {
  /// Verification against the dense reference (every runnable target, emulated ones too).
  case correctness
  /// Real wall-clock timings (not under an emulator).
  case timing
  /// PAPI counters, as far as the runner's probe finds them working on the machine that runs it.
  case papi
  /// The runner's software-defined counter (MACs executed), read back through PAPI's SDE.
  case sde
}

/// A program or file a target needs, and the Debian package that provides it.
public struct ToolRequirement: Codable, Sendable, Hashable {
  public enum Kind: String, Codable, Sendable {
    /// A program looked up in PATH.
    case program
    /// A file at an absolute path (a header, a library).
    case file
  }

  public var kind: Kind
  /// The program's name or the file's path.
  public var name: String
  public var package: String
  /// Needed only to run the target's binaries (an emulator, a remote launcher), not to build them.
  public var toRun: Bool

  public init(_ kind: Kind, _ name: String, package: String, toRun: Bool = false) {
    self.kind = kind
    self.name = name
    self.package = package
    self.toRun = toRun
  }
}

/// How a target's requirements are looked up; injectable so tests can pretend tools are missing.
public struct ToolProbe: Sendable {
  public var which: @Sendable (String) -> String?
  public var fileExists: @Sendable (String) -> Bool
  /// The perf event sources of this machine (`/sys/bus/event_source/devices`): a hardware PMU
  /// (`cpu`, `cpu_core`, `armv8_pmuv3_0`, ...) is what PAPI's presets need.
  public var eventSources: @Sendable () -> [String]

  public init(
    which: @escaping @Sendable (String) -> String?,
    fileExists: @escaping @Sendable (String) -> Bool,
    eventSources: @escaping @Sendable () -> [String] = { [] }
  ) {
    self.which = which
    self.fileExists = fileExists
    self.eventSources = eventSources
  }

  /// PATH and the file system of this machine, looked at when asked (never cached).
  public static let system = ToolProbe(
    which: { ChildProcess.which($0) }, fileExists: { FileManager.default.fileExists(atPath: $0) },
    eventSources: {
      (try? FileManager.default.contentsOfDirectory(atPath: "/sys/bus/event_source/devices")) ?? []
    })

  /// Whether this machine exposes a hardware PMU to perf (and so to PAPI's perf_event component).
  public var hasHardwareCounters: Bool {
    eventSources().contains {
      $0 == "cpu" || $0.hasPrefix("cpu_") || $0.hasPrefix("armv8") || $0.hasPrefix("arm_")
    }
  }

  public func isPresent(_ r: ToolRequirement) -> Bool {
    switch r.kind {
    case .program: which(r.name) != nil
    case .file: fileExists(r.name)
    }
  }
}

/// A kernel target (DESIGN §5): compiler + flags + how its binaries run + what they can measure.
/// Built-in: `host`, `x86-64-v3`, `x86-64-v4`, `aarch64`; plus `ssh:HOST` (a remote launcher).
/// Whether a target is available and runnable is decided by `status(cpuFlags:probe:)` from the
/// tools present and the CPU's flags at the time of asking, never assumed.
public struct KernelTarget: Codable, Sendable, Hashable {
  public var name: String
  public var description: String
  /// The C compiler (a name looked up in PATH).
  public var compiler: String
  /// Compiler flags of the target (optimisation and `-march`); the ISA flags of a variant are
  /// added by the generator.
  public var flags: [String]
  /// The ISAs the target's kernels can use (what `KernelGenerator.variants(isas:)` is given).
  public var isas: [KernelISA]
  /// /proc/cpuinfo flags the host CPU needs to run the binaries natively (empty: none, or the
  /// binaries do not run on the host CPU at all because `launcher` or `remoteTemplate` runs them).
  public var requiredCPUFlags: [String]
  /// argv prefix that runs a binary (an emulator: `qemu-aarch64 -L /usr/aarch64-linux-gnu`);
  /// empty: run it directly.
  public var launcher: [String]
  /// The remote host of an `ssh:HOST` target; nil for local targets.
  public var remoteHost: String?
  /// A remote target's launcher template (`{host}`, `{binary}`, `{args}` placeholders).
  public var remoteTemplate: String?
  /// Timings under this target's launcher say nothing about the target CPU (an emulator).
  public var emulated: Bool
  /// Flags that link the runner's libraries for this target; nil: the host's (pkg-config).
  public var libraryFlags: [String]?
  /// What building (and running) needs.
  public var requirements: [ToolRequirement]
  /// What runs measure when the target is runnable.
  public var measuresWhenRunnable: [TargetMeasure]

  public init(
    name: String, description: String, compiler: String, flags: [String], isas: [KernelISA],
    requiredCPUFlags: [String] = [], launcher: [String] = [], remoteHost: String? = nil,
    remoteTemplate: String? = nil, emulated: Bool = false, libraryFlags: [String]? = nil,
    requirements: [ToolRequirement], measuresWhenRunnable: [TargetMeasure]
  ) {
    self.name = name
    self.description = description
    self.compiler = compiler
    self.flags = flags
    self.isas = isas
    self.requiredCPUFlags = requiredCPUFlags
    self.launcher = launcher
    self.remoteHost = remoteHost
    self.remoteTemplate = remoteTemplate
    self.emulated = emulated
    self.libraryFlags = libraryFlags
    self.requirements = requirements
    self.measuresWhenRunnable = measuresWhenRunnable
  }

  /// The Debian packages of the requirements `probe` does not find, in order, without repeats;
  /// `forRunning: false` leaves out what is only needed to run.
  public func missingTools(probe: ToolProbe = .system, forRunning: Bool = true) -> [String] {
    var out: [String] = []
    for r in requirements where (forRunning || !r.toRun) && !probe.isPresent(r) {
      if !out.contains(r.package) { out.append(r.package) }
    }
    return out
  }

  /// Whether the target can build and run here, and why not.
  public func status(
    cpuFlags: Set<String> = TargetRegistry.hostCPUFlags(), probe: ToolProbe = .system
  ) -> TargetStatus {
    let missingBuild = missingTools(probe: probe, forRunning: false)
    let missingAll = missingTools(probe: probe, forRunning: true)
    let available = missingBuild.isEmpty
    let reason =
      available
      ? "toolchain found: \(compiler)"
      : "missing: apt-get install -y --no-install-recommends "
        + missingBuild.joined(separator: " ")
    let lacking =
      remoteHost == nil && launcher.isEmpty
      ? requiredCPUFlags.filter { !cpuFlags.contains($0) } : []
    var runnable = available
    var runReason: String
    if !available {
      runReason = "cannot build"
    } else if !missingAll.isEmpty {
      runnable = false
      runReason =
        "build only; to run: apt-get install -y --no-install-recommends "
        + missingAll.filter { !missingBuild.contains($0) }.joined(separator: " ")
    } else if !lacking.isEmpty {
      runnable = false
      runReason = "build only: this CPU lacks " + lacking.joined(separator: " ")
    } else if let remoteHost {
      runReason = "runs on \(remoteHost) through \(remoteTemplate ?? "ssh") (host not contacted)"
    } else if !launcher.isEmpty {
      runReason =
        "runs under \(launcher.joined(separator: " "))"
        + (emulated ? " (emulated: correctness only)" : "")
    } else {
      runReason = "runs natively"
    }
    var measures = runnable ? measuresWhenRunnable : []
    // A local run counts with PAPI only where perf sees a hardware PMU (the runner's probe then
    // says which events work); a remote host is not contacted, so its counters stay possible.
    if remoteHost == nil, measures.contains(.papi), !probe.hasHardwareCounters {
      measures.removeAll { $0 == .papi }
      runReason += "; no hardware counters (no CPU PMU in /sys/bus/event_source/devices)"
    }
    return TargetStatus(
      name: name, description: description, available: available, reason: reason,
      runnable: runnable, runReason: runReason, emulated: emulated, isas: isas,
      measures: measures, missingPackages: missingAll,
      compiler: compiler, flags: flags)
  }
}

/// A target as `blkrew targets` shows it: what was found on this machine, now.
public struct TargetStatus: Codable, Sendable, Hashable {
  public var name: String
  public var description: String
  /// The toolchain to build the target's runners is installed.
  public var available: Bool
  public var reason: String
  /// Its runners can run from here (CPU flags, emulator or launcher present).
  public var runnable: Bool
  public var runReason: String
  public var emulated: Bool
  public var isas: [KernelISA]
  public var measures: [TargetMeasure]
  /// Every missing Debian package (to build and to run).
  public var missingPackages: [String]
  public var compiler: String
  public var flags: [String]

  enum CodingKeys: String, CodingKey {
    case name, description, available, reason, runnable, emulated, isas, measures, compiler, flags
    case runReason = "run_reason"
    case missingPackages = "missing_packages"
  }
}

/// Why a target cannot be used.
public enum TargetError: Error, CustomStringConvertible, Equatable, Sendable {
  /// Tools are missing: the Debian packages that provide them.
  case missingToolchain(target: String, packages: [String])
  /// No such target.
  case unknownTarget(String)
  /// The toolchain is there but the binaries cannot run here (CPU flags, no launcher).
  case notRunnable(target: String, reason: String)

  /// The exit code of DESIGN §9: 69 for a missing tool, 64 for an unknown target name.
  public var exitCode: Int32 {
    switch self {
    case .missingToolchain, .notRunnable: 69
    case .unknownTarget: 64
    }
  }

  /// One line, ready for stderr.
  public var description: String {
    switch self {
    case .missingToolchain(let target, let packages):
      let arm64 =
        packages.contains { $0.hasSuffix(":arm64") }
          && !TargetRegistry.foreignArchitectures().contains("arm64")
        ? " (after: dpkg --add-architecture arm64 && apt-get update; or run scripts/setup.sh)"
        : ""
      return "blkrew: error: target \(target) needs: apt-get install -y --no-install-recommends "
        + packages.joined(separator: " ") + arm64
    case .unknownTarget(let name):
      return "blkrew: error: unknown target '\(name)' (known: "
        + TargetRegistry.builtInNames.joined(separator: ", ") + ", ssh:HOST)"
    case .notRunnable(let target, let reason):
      return "blkrew: error: target \(target) cannot run here: \(reason)"
    }
  }
}

/// The built-in targets and `ssh:HOST`, probed at run time.
public enum TargetRegistry {
  public static let builtInNames = ["host", "x86-64-v3", "x86-64-v4", "aarch64"]

  /// The x86-64 psABI micro-architecture levels as /proc/cpuinfo flags (`abm` is LZCNT): a
  /// `-march=x86-64-vN` binary may use any of them.
  public static let x86V3Flags = [
    "avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave",
  ]
  public static let x86V4Flags =
    x86V3Flags + ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"]

  /// Where Debian's cross toolchain and qemu-user find the arm64 C library.
  public static let aarch64Sysroot = "/usr/aarch64-linux-gnu"
  /// Debian multiarch's arm64 libraries (PAPI, libsde, json-c).
  public static let aarch64LibDir = "/usr/lib/aarch64-linux-gnu"

  /// The host's /proc/cpuinfo flags (`KernelISA.hostCPUFlags`).
  public static func hostCPUFlags(cpuinfo path: String = "/proc/cpuinfo") -> Set<String> {
    KernelISA.hostCPUFlags(cpuinfo: path)
  }

  /// The machine this process runs on: "x86_64" or "aarch64" (uname).
  public static var hostArchitecture: String {
    var u = utsname()
    guard uname(&u) == 0 else { return "unknown" }
    return withUnsafeBytes(of: &u.machine) { raw in
      String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
  }

  /// `dpkg --print-foreign-architectures` (empty when dpkg is missing).
  public static func foreignArchitectures() -> [String] {
    guard let dpkg = ChildProcess.which("dpkg"),
      let r = try? ChildProcess.run(dpkg, ["--print-foreign-architectures"], timeout: 10),
      r.succeeded
    else { return [] }
    return r.stdoutText.split(whereSeparator: \.isNewline).map(String.init)
  }

  /// The ISAs a CPU with these flags runs, scalar first (`KernelGenerator.supportedISAs`).
  static func isas(cpuFlags: Set<String>) -> [KernelISA] {
    KernelISA.supported(cpuFlags: cpuFlags)
  }

  static let runnerLibraries = [
    ToolRequirement(.file, "/usr/include/papi.h", package: "libpapi-dev"),
    ToolRequirement(.file, "/usr/include/json-c/json.h", package: "libjson-c-dev"),
  ]
  static let allMeasures: [TargetMeasure] = [.correctness, .timing, .papi, .sde]

  /// The four built-in targets for a host with these CPU flags and architecture.
  public static func builtIns(
    cpuFlags: Set<String> = hostCPUFlags(), architecture: String = hostArchitecture
  ) -> [KernelTarget] {
    let native = [ToolRequirement(.program, "gcc", package: "gcc")] + runnerLibraries
    let onX86 = architecture == "x86_64"
    let x86Required = onX86 ? [] : ["x86_64 host"]
    var targets = [
      KernelTarget(
        name: "host", description: "this CPU: gcc -march=native",
        compiler: "gcc", flags: LocalBuilder.defaultFlags(for: "host"),
        isas: isas(cpuFlags: cpuFlags).filter {
          onX86 ? $0 != .neon : $0 == .scalar || $0 == .neon
        },
        requirements: native, measuresWhenRunnable: allMeasures),
      KernelTarget(
        name: "x86-64-v3", description: "x86-64 with AVX2 + FMA: gcc -march=x86-64-v3",
        compiler: "gcc", flags: LocalBuilder.defaultFlags(for: "x86-64-v3"),
        isas: [.scalar, .avx2], requiredCPUFlags: x86Required + x86V3Flags,
        requirements: native, measuresWhenRunnable: allMeasures),
      KernelTarget(
        name: "x86-64-v4", description: "x86-64 with AVX-512: gcc -march=x86-64-v4",
        compiler: "gcc", flags: LocalBuilder.defaultFlags(for: "x86-64-v4"),
        isas: [.scalar, .avx2, .avx512], requiredCPUFlags: x86Required + x86V4Flags,
        requirements: native, measuresWhenRunnable: allMeasures),
    ]
    if !onX86 {
      // Built by the native gcc, which on another architecture cannot target x86-64.
      for i in 1...2 {
        targets[i].compiler = "x86_64-linux-gnu-gcc"
        targets[i].requirements[0] = ToolRequirement(
          .program, "x86_64-linux-gnu-gcc", package: "gcc-x86-64-linux-gnu")
      }
    }
    targets.append(architecture == "aarch64" ? nativeAArch64() : crossAArch64())
    return targets
  }

  static func nativeAArch64() -> KernelTarget {
    KernelTarget(
      name: "aarch64", description: "arm64 (NEON), native", compiler: "gcc",
      flags: LocalBuilder.defaultFlags(for: "aarch64"), isas: [.scalar, .neon],
      requiredCPUFlags: ["asimd"],
      requirements: [ToolRequirement(.program, "gcc", package: "gcc")] + runnerLibraries,
      measuresWhenRunnable: allMeasures)
  }

  /// aarch64 cross-compiled with Debian's gcc-aarch64-linux-gnu against arm64 PAPI and json-c
  /// from multiarch, run under qemu-user: correctness (and the SDE count) only.
  static func crossAArch64() -> KernelTarget {
    KernelTarget(
      name: "aarch64", description: "arm64 (NEON): cross gcc, run under qemu-user (emulated)",
      compiler: "aarch64-linux-gnu-gcc", flags: LocalBuilder.defaultFlags(for: "aarch64"),
      isas: [.scalar, .neon], launcher: ["qemu-aarch64", "-L", aarch64Sysroot], emulated: true,
      libraryFlags: crossAArch64LibraryFlags,
      requirements: [
        ToolRequirement(.program, "aarch64-linux-gnu-gcc", package: "gcc-aarch64-linux-gnu"),
        ToolRequirement(.program, "qemu-aarch64", package: "qemu-user", toRun: true),
        ToolRequirement(
          .file, aarch64Sysroot + "/include/stdio.h", package: "libc6-dev-arm64-cross"),
        ToolRequirement(.file, "/usr/include/papi.h", package: "libpapi-dev:arm64"),
        ToolRequirement(.file, aarch64LibDir + "/libpapi.so", package: "libpapi-dev:arm64"),
        ToolRequirement(.file, aarch64LibDir + "/libsde.so", package: "libpapi-dev:arm64"),
        ToolRequirement(.file, "/usr/include/json-c/json.h", package: "libjson-c-dev:arm64"),
        ToolRequirement(.file, aarch64LibDir + "/libjson-c.so", package: "libjson-c-dev:arm64"),
      ],
      measuresWhenRunnable: [.correctness, .sde])
  }

  /// Links the runner against Debian multiarch's arm64 PAPI, libsde and json-c (the headers in
  /// /usr/include are the same for every architecture; the cross gcc searches its sysroot first).
  public static let crossAArch64LibraryFlags = [
    "-I/usr/include/json-c", "-L" + aarch64LibDir, "-Wl,-rpath-link," + aarch64LibDir, "-lpapi",
    "-lsde", "-ljson-c",
  ]

  /// The default launcher template of `ssh:HOST`.
  public static let sshTemplate = "ssh {host} {binary} {args}"

  /// A remote target: built like `base` (default: the generic x86-64-v3 flags, not
  /// `-march=native`, which describes this CPU and not the remote one) and run on `host` through
  /// `template` after the binary is copied with scp.
  public static func remote(
    host: String, template: String = sshTemplate, base: KernelTarget? = nil
  ) throws -> KernelTarget {
    guard !host.isEmpty, host.first != "-",
      host.allSatisfy({ $0.isLetter || $0.isNumber || "._-@:[]".contains($0) })
    else { throw TargetError.unknownTarget("ssh:" + host) }
    let b = base ?? builtIns().first { $0.name == "x86-64-v3" }!
    let program = template.split(separator: " ").first.map(String.init) ?? "ssh"
    var requirements = b.requirements.filter { !$0.toRun }
    requirements.append(
      ToolRequirement(
        .program, program, package: program == "ssh" ? "openssh-client" : program, toRun: true))
    requirements.append(ToolRequirement(.program, "scp", package: "openssh-client", toRun: true))
    return KernelTarget(
      name: "ssh:" + host, description: "\(b.name) binaries run on \(host) over ssh",
      compiler: b.compiler, flags: b.flags, isas: b.isas, remoteHost: host,
      remoteTemplate: template, libraryFlags: b.libraryFlags, requirements: requirements,
      measuresWhenRunnable: allMeasures)
  }

  /// The target called `name` (a built-in or `ssh:HOST`), or `unknownTarget`.
  public static func target(
    named name: String, cpuFlags: Set<String> = hostCPUFlags(),
    architecture: String = hostArchitecture
  ) throws -> KernelTarget {
    if name.hasPrefix("ssh:") { return try remote(host: String(name.dropFirst(4))) }
    guard
      let t = builtIns(cpuFlags: cpuFlags, architecture: architecture).first(where: {
        $0.name == name
      })
    else { throw TargetError.unknownTarget(name) }
    return t
  }

  /// The target called `name`, checked: throws `missingToolchain` (exit 69, with the apt-get
  /// line) when a tool it needs is missing — to run, unless `forRunning` is false — and
  /// `notRunnable` when this CPU cannot run its binaries.
  @discardableResult
  public static func requireToolchain(
    _ name: String, forRunning: Bool = true, cpuFlags: Set<String> = hostCPUFlags(),
    probe: ToolProbe = .system
  ) throws -> KernelTarget {
    let t = try target(named: name, cpuFlags: cpuFlags)
    let missing = t.missingTools(probe: probe, forRunning: forRunning)
    guard missing.isEmpty else {
      throw TargetError.missingToolchain(target: name, packages: missing)
    }
    if forRunning {
      let s = t.status(cpuFlags: cpuFlags, probe: probe)
      if !s.runnable { throw TargetError.notRunnable(target: name, reason: s.runReason) }
    }
    return t
  }

  /// The library flags for a variant built for `target` when the builder was not given one:
  /// the cross flags for `aarch64` on a host of another architecture, else nil (the host's).
  static func libraryFlags(forTargetNamed target: String) -> [String]? {
    target == "aarch64" && hostArchitecture != "aarch64" ? crossAArch64LibraryFlags : nil
  }
}
