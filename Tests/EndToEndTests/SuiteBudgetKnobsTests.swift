import ChildProcesses
import Foundation
import KernelCodegen
import Testing
import TuningSchema

/// The suite keys that steer a sweep: `budget` stops starting trials (exit 0, the rest pending,
/// a rerun starts nothing more), and the kernel knobs `isa` / `unroll` / `n_tile` are the space
/// every layer's variants are drawn from.
@Suite(.serialized) struct SuiteBudgetKnobsTests {
  func records(_ dir: String) throws -> [TrialRecord] {
    try FileManager.default.contentsOfDirectory(atPath: "\(dir)/trials")
      .filter { $0.hasSuffix(".json") }
      .map {
        try RecordCoding.decoder().decode(
          TrialRecord.self,
          from: try #require(FileManager.default.contents(atPath: "\(dir)/trials/\($0)")))
      }
  }

  @Test func trialBudgetAndKernelKnobs() throws {
    let dir = temporaryDirectory("budget")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let suite =
      tinySuite
      .replacingOccurrences(of: "name: tiny", with: "name: tiny-budget")
      .replacingOccurrences(
        of: "kernels: {min_repeats: 3, max_repeats: 5, warmup: 1, budget_s: 0.01}",
        with:
          "kernels: {min_repeats: 3, max_repeats: 5, warmup: 1, budget_s: 0.01, isa: [auto], unroll: [2], n_tile: [4]}"
      )
      + "\nbudget: {trials: 2}\n"
    try suite.write(toFile: "\(dir)/b.yaml", atomically: true, encoding: .utf8)
    let first = try ChildProcess.run(
      blkrewBinary(), ["sweep", "run", "b.yaml", "--results", "res", "--workers", "1", "--json"],
      workingDirectory: dir, timeout: 600)
    #expect(first.exitCode == 0, "\(first.stderrText)")
    #expect(first.stderrText.contains("budget of 2 trials reached"), "\(first.stderrText)")
    let runDir = "\(dir)/" + (first.stdoutText.split(separator: "\n").last.map(String.init) ?? "")
    let jsonText = first.stdoutText.split(separator: "\n").dropLast().joined(separator: "\n")
    let summary = try JSONSerialization.jsonObject(with: Data(jsonText.utf8)) as? [String: Any]
    #expect(summary?["budget_spent"] as? String == "trials", "\(first.stdoutText)")
    #expect(summary?["unfinished"] as? Int == 1)
    let recs = try records(runDir)
    #expect(recs.count == 2)  // the dense baseline and one of the two pruned trials

    // Every variant of every layer is in the suite's space: unroll 2, tile 4 (or 1 at batch
    // 1), and the ISAs this CPU runs.
    let supported = Set(
      KernelGenerator.supportedISAs(cpuFlags: KernelGenerator.hostCPUFlags()).map(\.rawValue))
    let variants = recs.flatMap { $0.layers.flatMap(\.variants) }
    #expect(!variants.isEmpty)
    #expect(variants.allSatisfy { $0.knobs.unroll == 2 && [1, 4].contains($0.knobs.nTile) })
    #expect(Set(variants.map(\.knobs.isa.rawValue)) == supported)
    #expect(variants.allSatisfy { $0.outcome == .measured }, "\(variants.map(\.outcome))")

    // The budget counts the run's records: a rerun starts nothing.
    let again = try ChildProcess.run(
      blkrewBinary(), ["sweep", "run", "b.yaml", "--results", "res", "--workers", "1"],
      workingDirectory: dir, timeout: 600)
    #expect(again.exitCode == 0, "\(again.stderrText)")
    #expect(!again.stderrText.contains(": running"), "\(again.stderrText)")
    #expect(try records(runDir).count == 2)
  }
}
