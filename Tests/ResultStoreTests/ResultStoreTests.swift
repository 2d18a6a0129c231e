import Foundation
import ResultStore
import Testing

/// The run directory's files: exclusive creation, finding the latest run, stale temporaries.
@Suite struct ResultStoreTests {
  func scratch(_ tag: String) -> String {
    let path =
      NSTemporaryDirectory()
      + "blkrew-store-\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  func files(_ dir: String) -> [String] {
    ((try? FileManager.default.subpathsOfDirectory(atPath: dir)) ?? []).sorted()
  }

  func touch(_ path: String, content: String = "{}", modified: Date? = nil) {
    let dir = (path as NSString).deletingLastPathComponent
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    _ = FileManager.default.createFile(atPath: path, contents: Data(content.utf8))
    if let modified {
      try! FileManager.default.setAttributes([.modificationDate: modified], ofItemAtPath: path)
    }
  }

  /// A pid that belonged to a process that has exited.
  func deadPID() throws -> pid_t {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/true")
    try p.run()
    p.waitUntilExit()
    return p.processIdentifier
  }

  @Test func createIsExclusiveAndLeavesNoTemporary() throws {
    let dir = scratch("create")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = "\(dir)/run.json"
    #expect(try AtomicFile.create(Data("first".utf8), at: path))
    #expect(try !AtomicFile.create(Data("second".utf8), at: path))
    #expect(FileManager.default.contents(atPath: path) == Data("first".utf8))
    try AtomicFile.write(Data("third".utf8), to: path)
    #expect(FileManager.default.contents(atPath: path) == Data("third".utf8))
    #expect(files(dir) == ["run.json"])
  }

  @Test func latestRunIsTheMostRecentlyModified() throws {
    let dir = scratch("latest")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    #expect(RunDirectory.mostRecent(under: dir) == nil)
    #expect(RunDirectory.mostRecent(under: "\(dir)/missing") == nil)
    let old = Date().addingTimeInterval(-3600)
    let older = Date().addingTimeInterval(-7200)
    func makeRun(_ suite: String, _ id: String, modified: Date) {
      let run = "\(dir)/\(suite)/\(id)"
      touch("\(run)/run.json", modified: modified)
      for sub in ["trials", "kernels"] {
        try! FileManager.default.createDirectory(
          atPath: "\(run)/\(sub)", withIntermediateDirectories: true)
        try! FileManager.default.setAttributes(
          [.modificationDate: modified], ofItemAtPath: "\(run)/\(sub)")
      }
      try! FileManager.default.setAttributes([.modificationDate: modified], ofItemAtPath: run)
    }
    makeRun("a", "1111", modified: old)
    makeRun("b", "2222", modified: older)
    try FileManager.default.createDirectory(
      atPath: "\(dir)/c/no-manifest", withIntermediateDirectories: true)  // not a run
    #expect(RunDirectory.runs(under: dir).map(\.path) == ["\(dir)/a/1111", "\(dir)/b/2222"])
    #expect(RunDirectory.mostRecent(under: dir)?.path == "\(dir)/a/1111")
    // A record written into run b's trials/ makes it the latest.
    touch("\(dir)/b/2222/trials/t.json")
    #expect(RunDirectory.mostRecent(under: dir)?.path == "\(dir)/b/2222")
  }

  @Test func staleTemporariesAreThoseOfGoneWriters() throws {
    let dir = scratch("stale")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let run = RunDirectory(path: dir)
    try run.create()
    let dead = try deadPID()
    let now = Date()
    let deadRecord = "\(run.trialsDir)/t1.json.\(dead).tmp"
    let liveRecord = "\(run.kernelsDir)/k1.json.\(getpid()).tmp"
    let deadRunner = "\(run.buildDir)/v1/runner.\(dead).tmp"
    // LocalBuilder's shared runner objects, compiled to `<source>.o.<pid>.tmp` and renamed.
    let deadObject = "\(run.buildDir)/runner-objects/abc/runner.c.o.\(dead).tmp"
    let orphanCheckpoint = "\(run.checkpointsDir)/t2.safetensors.tmp"
    let claimedCheckpoint = "\(run.checkpointsDir)/t3.safetensors.tmp"
    let oldUnknown = "\(run.logsDir)/x.tmp"
    let youngUnknown = "\(run.logsDir)/y.tmp"
    for p in [
      deadRecord, liveRecord, deadRunner, deadObject, orphanCheckpoint, claimedCheckpoint,
      youngUnknown,
    ] {
      touch(p)
    }
    touch(oldUnknown, modified: now.addingTimeInterval(-2 * RunDirectory.staleTemporaryAge))
    touch("\(run.trialsDir)/t4.json")  // not a temporary
    let claim = try #require(TrialClaim.acquire("t3", in: run))
    defer { claim.release() }

    let expected = [deadRecord, deadRunner, deadObject, orphanCheckpoint, oldUnknown].sorted()
    #expect(run.staleTemporaries(now: now) == expected)
    #expect(run.removeStaleTemporaries().sorted() == expected)
    for p in expected { #expect(!FileManager.default.fileExists(atPath: p)) }
    for p in [liveRecord, claimedCheckpoint, youngUnknown, "\(run.trialsDir)/t4.json"] {
      #expect(FileManager.default.fileExists(atPath: p))
    }
  }

  @Test func nothingIsStaleWhileAnotherHostWorksOnTheRun() throws {
    let dir = scratch("remote")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let run = RunDirectory(path: dir)
    try run.create()
    let dead = try deadPID()
    touch("\(run.trialsDir)/t1.json.\(dead).tmp")
    let remote: [String: String] = [
      "host": "blkrew-test-other-host", "pid": "1",
      "heartbeat": ISO8601DateFormatter().string(from: Date()),
    ]
    try JSONSerialization.data(withJSONObject: remote).write(
      to: URL(fileURLWithPath: run.claimPath("t2")))
    #expect(run.staleTemporaries().isEmpty)
    try FileManager.default.removeItem(atPath: run.claimPath("t2"))
    #expect(run.staleTemporaries() == ["\(run.trialsDir)/t1.json.\(dead).tmp"])
  }
}
