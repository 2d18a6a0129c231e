import ChildProcesses
import Foundation
import Testing

/// `blkrew doctor`: the keys DESIGN §9 promises in `--json`, a working SDE counter, and one screen.
@Suite struct DoctorTests {
  @Test func jsonHasTheContractKeysAndTheSDECounterReadsExactly() throws {
    let r = try ChildProcess.run(blkrewBinary(), ["doctor", "--json"], timeout: 300)
    #expect(r.exitCode == 0, "stderr: \(r.stderrText)")
    let json = try #require(
      try JSONSerialization.jsonObject(with: Data(r.stdoutText.utf8)) as? [String: Any])
    let hw = try #require(json["hardware_counters"] as? [String: Any])
    let available = try #require(hw["available"] as? Bool)
    let reason = try #require(hw["reason"] as? String)
    #expect(!reason.isEmpty, "hardware_counters.reason must say why (or which events work)")
    if !available { #expect(reason.contains("no PAPI hardware event works")) }

    let sde = try #require(json["sde"] as? [String: Any])
    #expect(sde["works"] as? Bool == true, "\(sde)")
    #expect((sde["event"] as? String)?.hasPrefix("sde:::") == true)
    let expected = try #require(sde["expected"] as? Int)
    #expect(expected > 0)
    #expect(sde["read"] as? Int == expected)

    let checks = try #require(json["checks"] as? [[String: Any]])
    let names = checks.compactMap { $0["name"] as? String }
    for n in [
      "hardware counters", "PAPI SDE counter", "perf software events", "valgrind (simulated cost)",
      "aarch64 cross compiler", "qemu-user (aarch64)", "Slurm",
    ] {
      #expect(names.contains(n), "doctor does not check \(n)")
    }
    for c in checks where c["ok"] as? Bool == false {
      let name = c["name"] as? String ?? ""
      if name.hasPrefix("x86-64") { continue }  // the CPU lacks the ISA: nothing to install
      #expect((c["fix"] as? String)?.isEmpty == false, "\(name) fails without a fix")
    }
    // Every perf software event is probed once (a duplicate would be rejected by the runner and
    // make a working event look broken).
    let perf = checks.first { $0["name"] as? String == "perf software events" }
    #expect((perf?["detail"] as? String)?.contains("duplicate") == false)
  }

  @Test func textFitsOneScreen() throws {
    let r = try ChildProcess.run(blkrewBinary(), ["doctor"], timeout: 300)
    #expect(r.exitCode == 0, "stderr: \(r.stderrText)")
    let lines = r.stdoutText.split(separator: "\n", omittingEmptySubsequences: false)
    #expect(lines.count <= 40, "doctor printed \(lines.count) lines")
    #expect(r.stdoutText.contains("PAPI SDE counter"))
  }
}
