import ChildProcesses
import Foundation
import Testing
import TuningSchema

/// `search.strategy: halving` end to end: rung 0 runs every configuration with short phases,
/// rung 1 the better half with the suite's epochs; a rerun plans the same rungs and runs nothing.
@Suite(.serialized) struct HalvingSweepTests {
  let suite =
    tinySuite
    .replacingOccurrences(of: "name: tiny", with: "name: tiny-halving")
    .replacingOccurrences(of: "blocks: [8x16]", with: "blocks: [8x16, 4x4]")
    .replacingOccurrences(
      of: "phases: {pretrain_epochs: 2, reg_epochs: 1, retrain_epochs: 1}",
      with: "phases: {pretrain_epochs: 2, reg_epochs: 2, retrain_epochs: 2}")
    + "\nsearch: {strategy: halving, eta: 2, rungs: 2}\n"

  @Test func rungsRunAndResume() throws {
    let dir = temporaryDirectory("halving")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try suite.write(toFile: "\(dir)/h.yaml", atomically: true, encoding: .utf8)
    let first = try ChildProcess.run(
      blkrewBinary(), ["sweep", "run", "h.yaml", "--results", "res"], workingDirectory: dir,
      timeout: 900)
    #expect(first.exitCode == 0, "\(first.stderrText)")
    let runDir = first.stdoutText.split(separator: "\n").last.map(String.init) ?? ""
    let records = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/\(runDir)/trials")
      .filter { $0.hasSuffix(".json") }
      .map {
        try RecordCoding.decoder().decode(
          TrialRecord.self,
          from: try #require(FileManager.default.contents(atPath: "\(dir)/\(runDir)/trials/\($0)")))
      }
    // 1 dense + 4 configurations at rung 0 + ceil(4/2) = 2 at rung 1.
    #expect(records.count == 7)
    let rung0 = records.filter { $0.config.rung == 0 }
    let rung1 = records.filter { $0.config.rung == 1 }
    #expect(rung0.count == 4 && rung1.count == 2)
    #expect(rung0.allSatisfy { $0.config.rungPhases?.regEpochs == 1 })
    #expect(rung1.allSatisfy { $0.config.rungPhases?.regEpochs == 2 })
    #expect(
      rung1.allSatisfy { r in r.phases.contains { $0.phase == "regularize" && $0.epochs == 2 } })
    // Promoted configurations were run at rung 0 too.
    for r in rung1 {
      #expect(
        rung0.contains { $0.config.block == r.config.block && $0.config.rate == r.config.rate })
    }
    #expect(first.stderrText.contains("successive halving: rung 2 of 2"))

    let again = try ChildProcess.run(
      blkrewBinary(), ["sweep", "run", "h.yaml", "--results", "res"], workingDirectory: dir,
      timeout: 900)
    #expect(again.exitCode == 0)
    #expect(!again.stderrText.contains(": running"))
    let status = try ChildProcess.run(
      blkrewBinary(), ["sweep", "status", runDir], workingDirectory: dir, timeout: 60)
    #expect(status.stdoutText.contains("ok: 7"), "\(status.stdoutText)")
  }
}
