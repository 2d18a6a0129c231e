import ChildProcesses
import Foundation
import KernelBuild
import KernelCodegen
import KernelRun
import Testing
import TuningSchema

/// A probe that finds every tool and file, and a hardware PMU.
let probeFindingAll = ToolProbe(
  which: { "/usr/bin/" + $0 }, fileExists: { _ in true }, eventSources: { ["cpu", "software"] })

/// A probe that finds nothing.
let probeFindingNothing = ToolProbe(which: { _ in nil }, fileExists: { _ in false })

@Suite struct TargetRegistryTests {
  /// Suites validate target names against TuningSchema's copy of the list.
  @Test func suiteTargetNamesMatchTheRegistry() {
    #expect(SweepSpec.knownTargets == TargetRegistry.builtInNames)
    #expect(SweepSpec.isValidTarget("ssh:user@board-1.lan"))
    #expect(!SweepSpec.isValidTarget("ssh:-oProxyCommand=x") && !SweepSpec.isValidTarget("ssh:"))
    #expect(!SweepSpec.isValidTarget("x86-64-v5"))
  }

  let v4Flags = Set(TargetRegistry.x86V4Flags + ["sse2", "fma"])

  func target(_ name: String, flags: Set<String>, arch: String = "x86_64") throws -> KernelTarget {
    try #require(
      TargetRegistry.builtIns(cpuFlags: flags, architecture: arch).first { $0.name == name })
  }

  @Test func builtInsAreTheFourNamedTargetsWithHostFirst() {
    for flags in [Set<String>(), v4Flags] {
      let names = TargetRegistry.builtIns(cpuFlags: flags, architecture: "x86_64").map(\.name)
      #expect(names == ["host", "x86-64-v3", "x86-64-v4", "aarch64"])
    }
    // On this machine too, probed for real: host is there and runs.
    let host = TargetRegistry.builtIns().first { $0.name == "host" }
    #expect(host?.status().available == true)
    #expect(host?.status().runnable == true)
  }

  @Test func hostKeepsTheDefaultCompilerAndFlags() throws {
    let host = try target("host", flags: v4Flags)
    #expect(host.compiler == "gcc")
    #expect(host.flags == LocalBuilder.defaultFlags(for: "host"))
    #expect(host.isas == [.scalar, .avx2, .avx512])
    #expect(host.launcher.isEmpty && !host.emulated && host.libraryFlags == nil)
    #expect(try self.target("host", flags: ["sse2"]).isas == [.scalar])
  }

  @Test func x86_64_v4IsRunnableExactlyWhenTheCPUFlagsSaySo() throws {
    let v4 = try target("x86-64-v4", flags: v4Flags)
    #expect(v4.flags.contains("-march=x86-64-v4"))
    #expect(v4.isas == [.scalar, .avx2, .avx512])
    let yes = v4.status(cpuFlags: v4Flags, probe: probeFindingAll)
    #expect(yes.available && yes.runnable && !yes.emulated)
    #expect(yes.measures == [.correctness, .timing, .papi, .sde])
    for missing in ["avx512f", "avx512bw", "avx512dq", "avx512vl"] {
      let s = v4.status(cpuFlags: v4Flags.subtracting([missing]), probe: probeFindingAll)
      #expect(s.available, "build-only is still available")
      #expect(!s.runnable && s.runReason.contains(missing), "\(s.runReason)")
      #expect(s.measures.isEmpty)
    }
    // v3 needs AVX2 + FMA (and the rest of the level), not AVX-512.
    let v3 = try target("x86-64-v3", flags: v4Flags)
    let v3Flags = Set(TargetRegistry.x86V3Flags)
    #expect(v3.status(cpuFlags: v3Flags, probe: probeFindingAll).runnable)
    #expect(!v4.status(cpuFlags: v3Flags, probe: probeFindingAll).runnable)
    #expect(!v3.status(cpuFlags: v3Flags.subtracting(["fma"]), probe: probeFindingAll).runnable)
    // On an arm64 host the x86 targets never run.
    let armV4 = try target("x86-64-v4", flags: v4Flags, arch: "aarch64")
    #expect(!armV4.status(cpuFlags: v4Flags, probe: probeFindingAll).runnable)
  }

  @Test func papiIsMeasuredOnlyWithAHardwarePMU() throws {
    let host = try target("host", flags: v4Flags)
    let noPMU = ToolProbe(
      which: { "/usr/bin/" + $0 }, fileExists: { _ in true }, eventSources: { ["software"] })
    let s = host.status(cpuFlags: v4Flags, probe: noPMU)
    #expect(s.runnable && s.measures == [.correctness, .timing, .sde])
    #expect(s.runReason.contains("no hardware counters"))
  }

  @Test func aarch64IsACrossTargetRunUnderQemuAndEmulated() throws {
    let a = try target("aarch64", flags: v4Flags)
    #expect(a.compiler == "aarch64-linux-gnu-gcc")
    #expect(a.isas == [.scalar, .neon])
    #expect(a.launcher == ["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"])
    #expect(a.emulated)
    #expect(a.libraryFlags?.contains("-L/usr/lib/aarch64-linux-gnu") == true)
    let s = a.status(cpuFlags: v4Flags, probe: probeFindingAll)
    #expect(s.available && s.runnable && s.emulated)
    #expect(s.measures == [.correctness, .sde], "no timing, no PAPI under qemu")
    // Native on an arm64 host.
    let native = try target("aarch64", flags: ["fp", "asimd"], arch: "aarch64")
    #expect(native.compiler == "gcc" && native.launcher.isEmpty && !native.emulated)
  }

  @Test func missingToolsNameTheDebianPackages() throws {
    let a = try target("aarch64", flags: v4Flags)
    let packages = [
      "gcc-aarch64-linux-gnu", "qemu-user", "libc6-dev-arm64-cross", "libpapi-dev:arm64",
      "libjson-c-dev:arm64",
    ]
    #expect(a.missingTools(probe: probeFindingNothing) == packages)
    #expect(
      a.missingTools(probe: probeFindingNothing, forRunning: false)
        == packages.filter { $0 != "qemu-user" })
    let s = a.status(cpuFlags: v4Flags, probe: probeFindingNothing)
    #expect(!s.available && !s.runnable && s.missingPackages == packages)
    #expect(s.reason.contains("apt-get install -y --no-install-recommends gcc-aarch64-linux-gnu"))

    // Only qemu missing: buildable, not runnable.
    let noQemu = ToolProbe(
      which: { $0 == "qemu-aarch64" ? nil : "/usr/bin/" + $0 }, fileExists: { _ in true })
    let b = a.status(cpuFlags: v4Flags, probe: noQemu)
    #expect(b.available && !b.runnable && b.runReason.contains("qemu-user"))
    #expect(throws: Never.self) {
      try TargetRegistry.requireToolchain("aarch64", forRunning: false, probe: noQemu)
    }
    #expect(throws: TargetError.missingToolchain(target: "aarch64", packages: ["qemu-user"])) {
      try TargetRegistry.requireToolchain("aarch64", probe: noQemu)
    }
  }

  @Test func missingToolchainIsOneLineWithTheInstallCommandAndExit69() {
    let e = TargetError.missingToolchain(
      target: "aarch64", packages: ["gcc-aarch64-linux-gnu", "qemu-user", "libpapi-dev:arm64"])
    #expect(e.exitCode == 69)
    #expect(
      e.description.hasPrefix(
        "blkrew: error: target aarch64 needs: apt-get install -y --no-install-recommends gcc-aarch64-linux-gnu qemu-user libpapi-dev:arm64"
      ))
    #expect(!e.description.contains("\n"))
    #expect(TargetError.unknownTarget("sparc").exitCode == 64)
    #expect(throws: TargetError.unknownTarget("sparc")) {
      try TargetRegistry.requireToolchain("sparc", probe: probeFindingAll)
    }
    #expect(
      throws: TargetError.notRunnable(
        target: "x86-64-v4",
        reason: "build only: this CPU lacks avx512f avx512bw avx512cd avx512dq avx512vl"
      )
    ) {
      try TargetRegistry.requireToolchain(
        "x86-64-v4", cpuFlags: Set(TargetRegistry.x86V3Flags), probe: probeFindingAll)
    }
  }

  @Test func sshTargetsAreParsedAndChecked() throws {
    let t = try TargetRegistry.target(named: "ssh:pi@board.local")
    #expect(t.name == "ssh:pi@board.local" && t.remoteHost == "pi@board.local")
    #expect(t.remoteTemplate == "ssh {host} {binary} {args}")
    #expect(!t.emulated && t.launcher.isEmpty)
    #expect(t.requirements.contains { $0.name == "scp" && $0.toRun })
    #expect(!t.flags.contains("-march=native"), "the remote CPU is not this one")
    #expect(throws: TargetError.self) { try TargetRegistry.target(named: "ssh:-oProxyCommand=x") }
    #expect(throws: TargetError.self) { try TargetRegistry.target(named: "ssh:a;b") }
    #expect(throws: TargetError.self) { try TargetRegistry.target(named: "ssh:") }
  }
}

/// A fake `ssh`: records its argv (one word a line, after an "ARGV" line) in `ssh.log` beside
/// it, then does what sshd does with the words after the host: joins them with spaces and gives
/// the line to a shell. A fake `scp` records its argv and copies the files to the directory of
/// its last argument (`host:dir/`).
struct FakeRemote {
  let dir: URL
  var ssh: String { dir.appendingPathComponent("fake-ssh").path }
  var scp: String { dir.appendingPathComponent("fake-scp").path }
  var remoteRoot: String { dir.appendingPathComponent("remote").path }

  init(_ scratch: Scratch) throws {
    dir = scratch.url
    try FileManager.default.createDirectory(
      atPath: dir.appendingPathComponent("remote").path, withIntermediateDirectories: true)
    let sshScript = """
      #!/bin/sh
      log="$(dirname "$0")/ssh.log"
      { echo ARGV; printf '%s\\n' "$@"; } >> "$log"
      shift
      exec /bin/sh -c "$*"
      """
    let scpScript = """
      #!/bin/sh
      log="$(dirname "$0")/scp.log"
      { echo ARGV; printf '%s\\n' "$@"; } >> "$log"
      [ "$1" = "-q" ] && shift
      for last in "$@"; do :; done
      dest="${last#*:}"
      n=$#; i=1
      for f in "$@"; do
        if [ "$i" -lt "$n" ]; then cp "$f" "$dest" || exit 1; fi
        i=$((i + 1))
      done
      """
    for (path, text) in [(ssh, sshScript), (scp, scpScript)] {
      try Data((text + "\n").utf8).write(to: URL(fileURLWithPath: path))
      chmod(path, 0o755)
    }
  }

  func launcher() throws -> RemoteLauncher {
    try RemoteLauncher(
      host: "user@board", run: "\(ssh) {host} {binary} {args}",
      copy: "\(scp) -q {files} {host}:{dir}/", prepare: "\(ssh) {host} mkdir -p {dir}",
      remoteDirectory: remoteRoot, allowedPrograms: [ssh, scp])
  }

  /// The recorded invocations of the fake `ssh` or `scp`, each its argv.
  func calls(_ name: String) -> [[String]] {
    let text =
      (try? String(contentsOf: dir.appendingPathComponent("\(name).log"), encoding: .utf8)) ?? ""
    var out: [[String]] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      if line == "ARGV" {
        out.append([])
      } else if !out.isEmpty, !line.isEmpty {
        out[out.count - 1].append(String(line))
      }
    }
    return out
  }
}

@Suite struct RemoteLauncherTests {
  /// Words that a remote shell would split, expand or run if they were not quoted.
  static let nasty = [
    "plain", "a b", "it's", "'", "''", "$(echo pwned)", "`id`", "semi;colon", "pipe|x", "amp&",
    "", " ", "*", "?", "~", "back\\slash", "dq\"", "tab\there", "line\nbreak", "-n", "$HOME",
    "{args}", "é", "!bang", "#hash", "a=b", "<in", ">out",
  ]

  @Test func shellQuoteLeavesSafeWordsAndQuotesTheRest() {
    #expect(RemoteLauncher.shellQuote("--max-time-s") == "--max-time-s")
    #expect(
      RemoteLauncher.shellQuote("/tmp/blkrew-remote/ab12/runner")
        == "/tmp/blkrew-remote/ab12/runner")
    #expect(
      RemoteLauncher.shellQuote("PAPI_TOT_CYC,perf::task-clock") == "PAPI_TOT_CYC,perf::task-clock")
    #expect(RemoteLauncher.shellQuote("") == "''")
    #expect(RemoteLauncher.shellQuote("a b") == "'a b'")
    #expect(RemoteLauncher.shellQuote("it's") == "'it'\\''s'")
    #expect(RemoteLauncher.shellQuote("$(x)") == "'$(x)'")
  }

  @Test func theDefaultTemplateIsSshThenTheQuotedWords() throws {
    let l = try RemoteLauncher(host: "pi@10.0.0.7")
    #expect(
      l.runCommand(binary: "/tmp/blkrew-remote/v1/runner", arguments: ["--seed", "1", "a b"])
        == ["ssh", "pi@10.0.0.7", "/tmp/blkrew-remote/v1/runner", "--seed", "1", "'a b'"])
    #expect(
      l.setupCommands(files: ["/x/runner", "/x/w.blkw"], directory: "/tmp/blkrew-remote/v1")
        == [
          ["ssh", "pi@10.0.0.7", "mkdir", "-p", "/tmp/blkrew-remote/v1"],
          ["scp", "-q", "/x/runner", "/x/w.blkw", "pi@10.0.0.7:/tmp/blkrew-remote/v1/"],
        ])
    #expect(l.directory(for: "ab12;rm") == "/tmp/blkrew-remote/ab12rm")
    let custom = try RemoteLauncher(host: "board", run: "ssh -p 2222 {host} {binary} {args}")
    #expect(
      custom.runCommand(binary: "/r/runner", arguments: ["--probe"])
        == ["ssh", "-p", "2222", "board", "/r/runner", "--probe"])
  }

  @Test func templatesAndHostsAreChecked() {
    #expect(throws: RemoteLauncher.TemplateError.self) {
      try RemoteLauncher(host: "board", run: "sh -c {binary} {args}")
    }
    #expect(throws: RemoteLauncher.TemplateError.self) {
      try RemoteLauncher(host: "board", run: "ssh {host} {binary}")
    }
    #expect(throws: RemoteLauncher.TemplateError.self) { try RemoteLauncher(host: "a b") }
    #expect(throws: RemoteLauncher.TemplateError.self) { try RemoteLauncher(host: "-oX=y") }
    #expect(throws: RemoteLauncher.TemplateError.self) {
      try RemoteLauncher(host: "board", remoteDirectory: "/tmp/$(x)")
    }
  }

  /// Every nasty word comes out of the fake remote shell exactly as it went in.
  @Test func argumentsSurviveTheRemoteShell() throws {
    let scratch = Scratch("remote-quote")
    defer { scratch.cleanUp() }
    let fake = try FakeRemote(scratch)
    let argv = try fake.launcher().runCommand(binary: "printf", arguments: ["%s\\0"] + Self.nasty)
    #expect(argv.prefix(2) == [fake.ssh, "user@board"])
    let r = try ChildProcess.run(argv[0], Array(argv.dropFirst()), timeout: 10)
    #expect(r.succeeded, "\(r.stderrText)")
    var words = r.stdoutText.split(separator: "\0", omittingEmptySubsequences: false).map(
      String.init)
    #expect(words.last == "")
    words.removeLast()
    #expect(words == Self.nasty)
    #expect(!FileManager.default.fileExists(atPath: scratch.url.appendingPathComponent("out").path))
  }

  /// A real (host) runner through the fake ssh/scp: the files are copied into the remote
  /// directory, the runner runs there on the copied workload and its result is decoded.
  @Test func aRunnerRunsThroughTheRemoteLauncher() throws {
    let scratch = Scratch("remote-run")
    defer { scratch.cleanUp() }
    let fake = try FakeRemote(scratch)
    let layer = TestLayer.blockColumn(rows: 13, cols: 21, br: 4, bc: 8, seed: 3)
    let variant = KernelGenerator.variants(
      for: layer.workload(.blockColumn, br: 4, bc: 8), batch: 1, target: "host", compiler: "gcc",
      flags: testFlags)[0]
    let build = LocalBuilder(workDirectory: scratch.url.appendingPathComponent("build"))
      .build(KernelGenerator.generate(variant))
    let binary = try #require(build.binaryPath, "\(build.log)")
    let file = scratch.url.appendingPathComponent("layer.blkw")
    try WorkloadFile.write(
      rows: layer.rows, cols: layer.cols, weights: layer.weights, mask: layer.mask, to: file)
    let launcher = try fake.launcher()
    let runner = LocalRunner(
      settings: quickSettings, launcher: RunLauncher(remote: launcher))
    let result = runner.run(
      binaryPath: binary, workloadFile: file, variant: variant, timeout: 30)
    #expect(result.outcome == .measured, "\(result.message ?? "")")
    #expect(!result.emulated)
    let remoteDir = launcher.directory(for: variant.id)
    #expect(FileManager.default.fileExists(atPath: remoteDir + "/runner"))
    #expect(FileManager.default.fileExists(atPath: remoteDir + "/layer.blkw"))
    let ssh = fake.calls("ssh")
    #expect(ssh.count == 2)
    #expect(ssh.first == ["user@board", "mkdir", "-p", remoteDir])
    let run = try #require(ssh.last)
    #expect(
      run.prefix(4) == [
        "user@board", remoteDir + "/runner", "--workload", remoteDir + "/layer.blkw",
      ])
    #expect(
      fake.calls("scp") == [
        [
          "-q", binary, file.path, "user@board:" + remoteDir + "/",
        ]
      ])
  }
}

/// The aarch64 target when its cross toolchain, arm64 libraries and qemu-user are installed; else
/// nil and the reason (the apt-get line).
let aarch64Target: (target: KernelTarget?, reason: String) = {
  guard let t = try? TargetRegistry.target(named: "aarch64") else {
    return (nil, "no aarch64 target")
  }
  let missing = t.missingTools()
  if !missing.isEmpty {
    return (nil, TargetError.missingToolchain(target: "aarch64", packages: missing).description)
  }
  return (t, "")
}()

/// Seeded random layers for the fuzz test: small shapes that are not multiples of the block,
/// blocks that are empty, full, or kept at random entries (every format packs from the same
/// mask: block-column keeps a column segment with any entry, block-row a row segment, CSR the
/// entries).
struct FuzzCase: CustomStringConvertible {
  var layer: TestLayer
  var br: Int
  var bc: Int
  var batch: Int

  var description: String {
    "\(layer.rows)x\(layer.cols) block \(br)x\(bc) N=\(batch)"
  }

  static func random(_ rng: inout TestRNG, batch: Int) -> FuzzCase {
    func pick(_ r: ClosedRange<Int>) -> Int { r.lowerBound + Int(rng.next() % UInt64(r.count)) }
    let br = [2, 3, 4, 8][pick(0...3)]
    let bc = [2, 4, 5, 8, 16][pick(0...4)]
    // Not a multiple of the block in at least one dimension: edge blocks on every case.
    var rows = pick(3...29)
    let cols = pick(3...37)
    if rows % br == 0 && cols % bc == 0 { rows += 1 }
    let weights = (0..<(rows * cols)).map { _ in rng.signed() }
    var mask = [UInt8](repeating: 0, count: rows * cols)
    for r0 in stride(from: 0, to: rows, by: br) {
      for c0 in stride(from: 0, to: cols, by: bc) {
        let kind = pick(0...2)  // 0 empty, 1 full, 2 random entries
        let p = rng.unit()
        for r in r0..<min(rows, r0 + br) {
          for c in c0..<min(cols, c0 + bc) where kind == 1 || (kind == 2 && rng.unit() < p) {
            mask[r * cols + c] = 1
          }
        }
      }
    }
    // The edge blocks (last block row and column) keep something, so they are exercised.
    mask[rows * cols - 1] = 1
    return FuzzCase(
      layer: TestLayer(rows: rows, cols: cols, weights: weights, mask: mask), br: br, bc: bc,
      batch: batch)
  }
}

@Suite struct AArch64TargetTests {
  /// Settings for qemu: one sample, no warm-up, no PAPI presets (there is no PMU under qemu),
  /// no pinning.
  static let qemuSettings = RunSettings(
    warmup: 0, minRepeats: 1, maxRepeats: 1, minSampleSeconds: 0, budgetSeconds: 0,
    events: ["perf::task-clock"], idleWindowSeconds: 0, pin: false)

  /// Random shapes and masks, every format and every knob combination of
  /// `KernelGenerator.variants(isas: [.neon, .scalar], threads: [1, 2])` at N = 1 and N > 1,
  /// cross-built for aarch64 (warnings are errors) and, with one thread, run under qemu-user
  /// against the runner's dense reference.
  @Test(.enabled(if: aarch64Target.target != nil, Comment(rawValue: aarch64Target.reason)))
  func fuzzedVariantsAreCorrectUnderQemu() throws {
    let target = try #require(aarch64Target.target)
    let scratch = Scratch("aarch64-fuzz")
    defer { scratch.cleanUp() }
    let builder = LocalBuilder(
      workDirectory: scratch.url, target: target, reuseRunnerObjects: true)
    let runner = LocalRunner(
      settings: Self.qemuSettings,
      launcher: RunLauncher(prefix: target.launcher, emulated: target.emulated))
    // BLKREW_FUZZ_SEED=N draws other cases; every failure names the seed.
    let seed =
      ProcessInfo.processInfo.environment["BLKREW_FUZZ_SEED"].flatMap(UInt64.init)
      ?? 20_261_201
    var rng = TestRNG(seed: seed)
    let start = ChildProcess.monotonicSeconds()
    var planned: [(FuzzCase, KernelFormat, KernelVariant)] = []
    // threads > 1 is built (warning-free) but not run: qemu-user 7.2 hangs in pthread_create of
    // a dynamically linked aarch64 program here. The split itself is the same C on every target
    // and is run on the host (KernelThreadsTests).
    var buildOnly: [KernelVariant] = []
    for format in KernelFormat.allCases {
      for batch in [1, 5 + Int(rng.next() % 8)] {
        let fuzz = FuzzCase.random(&rng, batch: batch)
        let workload = fuzz.layer.workload(format, br: fuzz.br, bc: fuzz.bc)
        try WorkloadFile.write(
          rows: fuzz.layer.rows, cols: fuzz.layer.cols, weights: fuzz.layer.weights,
          mask: fuzz.layer.mask, to: scratch.url.appendingPathComponent("\(workload.id).blkw"))
        let variants = KernelGenerator.variants(
          for: workload, batch: batch, target: target.name, compiler: target.compiler,
          flags: ["-O2", "-march=armv8-a", "-Wall", "-Wextra", "-Werror"], isas: [.neon, .scalar],
          threads: [1, 2])
        #expect(Set(variants.map(\.knobs.isa)) == [.neon, .scalar])
        for v in variants {
          if v.knobs.threads == 1 { planned.append((fuzz, format, v)) } else { buildOnly.append(v) }
        }
        // Baked indices and pattern order (block-column), at unroll 2.
        for v in variants where v.knobs.threads == 1 && v.knobs.unroll == 2 {
          for (baked, reorder) in [(true, false), (false, true), (true, true)]
          where v.workload.format == .blockColumn {
            var p = v
            p.knobs.baked = baked
            p.knobs.reorder = reorder
            planned.append((fuzz, format, p))
          }
          // The packed weights prefetched ahead (a distance past their end, too).
          if v.workload.format == .blockColumn {
            var p = v
            p.knobs.prefetchW = 8
            planned.append((fuzz, format, p))
          }
          // X packed per cache tile: N three register tiles, the cache tile one of them.
          if v.workload.format == .blockColumn && batch > 1 && v.knobs.nTile < batch {
            var p = v
            var wide = fuzz
            wide.batch = 3 * v.knobs.nTile
            p.knobs.batch = wide.batch
            p.knobs.nBlock = v.knobs.nTile
            p.knobs.packX = true
            planned.append((wide, format, p))
          }
        }
      }
    }
    #expect(!buildOnly.isEmpty)
    for v in buildOnly {
      let build = builder.build(KernelGenerator.generate(v))
      #expect(
        build.ok, "threads=\(v.knobs.threads) \(v.knobs): build failed\n\(build.log.suffix(3000))")
    }
    let jobs = planned
    // Two at a time (the machine has two cores); results in job order.
    let results = ResultBox(count: jobs.count)
    DispatchQueue.concurrentPerform(iterations: 2) { lane in
      for i in stride(from: lane, to: jobs.count, by: 2) {
        let v = jobs[i].2
        let build = builder.build(KernelGenerator.generate(v, mask: jobs[i].0.layer.mask))
        guard build.ok, let binary = build.binaryPath else {
          results.set(i, .failure(BuildLog(text: build.log)))
          continue
        }
        let file = scratch.url.appendingPathComponent("\(v.workload.id).blkw")
        results.set(
          i, .success(runner.run(binaryPath: binary, workloadFile: file, variant: v, timeout: 60)))
      }
    }
    for (i, (fuzz, format, v)) in jobs.enumerated() {
      let what =
        "seed \(seed) \(format.rawValue) \(fuzz) isa=\(v.knobs.isa) unroll=\(v.knobs.unroll) nTile=\(v.knobs.nTile) threads=\(v.knobs.threads) baked=\(v.knobs.baked) reorder=\(v.knobs.reorder) pack_x=\(v.knobs.packX) prefetch_w=\(v.knobs.prefetchW)"
      switch results.get(i) {
      case .failure(let log)?:
        Issue.record("\(what): build failed\n\(log.suffix(3000))")
      case .success(let r)?:
        #expect(r.outcome == .measured, "\(what): \(r.message ?? "")")
        #expect(r.emulated, "\(what): not marked emulated")
        if let err = r.maxAbsErr, let tol = r.tolerance {
          #expect(err <= tol, "\(what): max_abs_err \(err) > tolerance \(tol)")
        } else {
          Issue.record("\(what): no max_abs_err / tolerance")
        }
        #expect(
          r.macsPerCall
            == Int64(fuzz.layer.expectedMACs(format, br: fuzz.br, bc: fuzz.bc, batch: fuzz.batch)),
          "\(what): MACs")
      case nil:
        Issue.record("\(what): no result")
      }
    }
    let seconds = ChildProcess.monotonicSeconds() - start
    print(
      "aarch64 fuzz: \(jobs.count) variants built and run under qemu in \(String(format: "%.1f", seconds)) s"
    )
  }

  /// A builder made without a target links an aarch64 variant against the arm64 libraries (the
  /// cross flags are chosen by the variant's target name), so the default path cross-builds too.
  @Test(.enabled(if: aarch64Target.target != nil, Comment(rawValue: aarch64Target.reason)))
  func theDefaultBuilderCrossBuildsAnAArch64Variant() throws {
    let target = try #require(aarch64Target.target)
    let scratch = Scratch("aarch64-default")
    defer { scratch.cleanUp() }
    let layer = TestLayer.blockColumn(rows: 11, cols: 19, br: 4, bc: 8, seed: 5)
    let v = KernelGenerator.variants(
      for: layer.workload(.blockRow, br: 4, bc: 8), batch: 3, target: target.name,
      compiler: target.compiler, flags: target.flags, isas: [.neon])[0]
    let build = LocalBuilder(workDirectory: scratch.url).build(KernelGenerator.generate(v))
    let binary = try #require(build.binaryPath, "\(build.log)")
    #expect(build.log.contains("-L/usr/lib/aarch64-linux-gnu"))
    let file = scratch.url.appendingPathComponent("w.blkw")
    try WorkloadFile.write(
      rows: layer.rows, cols: layer.cols, weights: layer.weights, mask: layer.mask, to: file)
    let launcher = RunLauncher(prefix: target.launcher, emulated: target.emulated)
    let r = LocalRunner(settings: Self.qemuSettings, launcher: launcher).run(
      binaryPath: binary, workloadFile: file, variant: v, timeout: 60)
    #expect(r.outcome == .measured, "\(r.message ?? "")")
    #expect(r.emulated && r.warnings?.last == launcher.emulatedWarning)
    #expect(launcher.emulatedWarning.hasPrefix("emulated: run under qemu-aarch64;"))
  }

  /// The probe runner (PAPI, SDE) runs under qemu too.
  @Test(.enabled(if: aarch64Target.target != nil, Comment(rawValue: aarch64Target.reason)))
  func probeRunsUnderQemu() throws {
    let target = try #require(aarch64Target.target)
    let scratch = Scratch("aarch64-probe")
    defer { scratch.cleanUp() }
    let build = LocalBuilder(workDirectory: scratch.url, target: target).buildProbe()
    let binary = try #require(build.binaryPath, "\(build.log)")
    let probe = LocalRunner(
      settings: Self.qemuSettings,
      launcher: RunLauncher(prefix: target.launcher, emulated: target.emulated)
    ).probe(binaryPath: binary)
    #expect(probe?.sdeWorks == true)
  }
}

/// Results written by concurrent lanes, each to its own index.
final class ResultBox: @unchecked Sendable {
  private var results: [Result<RunResult, BuildLog>?]
  private let lock = NSLock()
  init(count: Int) { results = Array(repeating: nil, count: count) }
  func set(_ i: Int, _ r: Result<RunResult, BuildLog>) { lock.withLock { results[i] = r } }
  func get(_ i: Int) -> Result<RunResult, BuildLog>? { lock.withLock { results[i] } }
}

/// A build log as an error.
struct BuildLog: Error, CustomStringConvertible {
  var text: String
  var description: String { text }
  func suffix(_ n: Int) -> Substring { text.suffix(n) }
}
