import ArgumentParser
import Foundation
import KernelBuild

/// `blkrew targets [--json]`: the kernel targets and what this machine can do with each, probed
/// now (tools in PATH, libraries on disk, the CPU's flags).
struct TargetsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "targets",
    abstract:
      "List the kernel targets: whether each can be built and run here, and what it measures.",
    discussion: """
      Built in: host, x86-64-v3, x86-64-v4, aarch64 (cross gcc, run under qemu-user: correctness \
      only), and ssh:HOST (binaries copied with scp and run over ssh). Missing tools are named with \
      the apt-get command that installs them (scripts/setup.sh installs them all).
      """)

  @Flag(help: "Print JSON: {\"targets\": [...]}.") var json = false

  struct Listing: Encodable {
    var targets: [TargetStatus]
  }

  func run() throws {
    let statuses = Self.statuses()
    if json {
      let e = JSONEncoder()
      e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
      print(String(decoding: try e.encode(Listing(targets: statuses)), as: UTF8.self))
    } else {
      print(Self.table(statuses), terminator: "")
    }
  }

  /// The built-in targets and the `ssh:HOST` template, probed now.
  static func statuses() -> [TargetStatus] {
    let flags = TargetRegistry.hostCPUFlags()
    var targets = TargetRegistry.builtIns(cpuFlags: flags)
    if let remote = try? TargetRegistry.remote(host: "HOST") { targets.append(remote) }
    return targets.map { $0.status(cpuFlags: flags) }
  }

  /// One row per target, then one line per target saying why.
  static func table(_ statuses: [TargetStatus]) -> String {
    func yes(_ b: Bool) -> String { b ? "yes" : "no" }
    let header = ["target", "available", "runnable", "emulated", "isas", "measures"]
    let rows = statuses.map {
      [
        $0.name, yes($0.available), yes($0.runnable), yes($0.emulated),
        $0.isas.map(\.rawValue).joined(separator: ","),
        $0.measures.isEmpty ? "-" : $0.measures.map(\.rawValue).joined(separator: ","),
      ]
    }
    let widths = header.indices.map { i in ([header] + rows).map { $0[i].count }.max() ?? 0 }
    func line(_ cells: [String]) -> String {
      cells.enumerated().map { i, c in
        i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
      }.joined(separator: "  ") + "\n"
    }
    var out = line(header)
    for r in rows { out += line(r) }
    out += "\n"
    for s in statuses { out += "\(s.name): \(s.description); \(s.reason); \(s.runReason)\n" }
    return out
  }
}

/// The target called `name`, or one line on stderr and exit 69 when its toolchain is missing
/// (64 for an unknown name): for commands that take `--target`.
func requireTarget(_ name: String, forRunning: Bool = true) throws -> KernelTarget {
  do {
    return try TargetRegistry.requireToolchain(name, forRunning: forRunning)
  } catch let e as TargetError {
    FileHandle.standardError.write(Data((e.description + "\n").utf8))
    throw ExitCode(e.exitCode)
  }
}
