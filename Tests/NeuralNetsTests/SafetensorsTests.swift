import Foundation
import Testing

@testable import NeuralNets
@testable import Tensors

private func temporaryDirectory() throws -> URL {
  let dir = FileManager.default.temporaryDirectory
    .appendingPathComponent("blkrew-safetensors-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
  return dir
}

/// A safetensors file assembled byte by byte the way the reference implementation lays it out:
/// u64 LE header length, JSON header padded with spaces to a multiple of 8, then the data.
private func handMadeFile(header: String, data: [UInt8], pad: Bool = true) -> [UInt8] {
  var h = Array(header.utf8)
  while pad && h.count % 8 != 0 { h.append(0x20) }
  var out = withUnsafeBytes(of: UInt64(h.count).littleEndian) { Array($0) }
  out += h
  out += data
  return out
}

private func littleEndianBytes(_ values: [Float]) -> [UInt8] {
  values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } }
}

private func expectError(
  _ bytes: [UInt8], _ check: (CheckpointError) -> Bool,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  do {
    _ = try Safetensors.decode(bytes, path: "x.safetensors")
    Issue.record("decode accepted a bad file", sourceLocation: sourceLocation)
  } catch {
    #expect(check(error), "unexpected error: \(error)", sourceLocation: sourceLocation)
  }
}

@Suite struct SafetensorsTests {
  let tensors: [(name: String, tensor: Tensor)] = [
    (
      "fc1.weight", Tensor(shape: [2, 3], data: [1, -2, 3.5, 0, -0.0, Float.leastNormalMagnitude])
    ),
    ("fc1.bias", Tensor(shape: [2], data: [0.25, -1e30])),
    ("scalar", Tensor(shape: [], data: [7])),
    ("empty", Tensor(zeros: [0, 4])),
  ]

  @Test func roundTripThroughFile() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent("model.safetensors")
    let metadata = ["format": "pt", "note": "quote \" backslash \\ newline \n tab \t ü"]
    try Safetensors.write(tensors, metadata: metadata, to: url)
    #expect(!FileManager.default.fileExists(atPath: url.path + ".tmp"))
    let (read, readMetadata) = try Safetensors.read(url)
    #expect(readMetadata == metadata)
    #expect(read.count == tensors.count)
    for (name, t) in tensors {
      #expect(read[name]?.shape == t.shape, "\(name)")
      #expect(read[name]?.data.map(\.bitPattern) == t.data.map(\.bitPattern), "\(name)")
    }
    // Layout: 8-byte aligned data start, JSON header starting with '{'.
    let bytes = [UInt8](try Data(contentsOf: url))
    let n = bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
    #expect(n % 8 == 0)
    #expect(bytes[8] == UInt8(ascii: "{"))
    #expect(bytes.count == 8 + n + 4 * (6 + 2 + 1))
    // Overwriting keeps working (rename onto an existing file).
    try Safetensors.write([tensors[0]], metadata: [:], to: url)
    #expect(try Safetensors.read(url).tensors.keys.sorted() == ["fc1.weight"])
  }

  @Test func modelStateRoundTrip() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent("mlp.safetensors")
    let a = MLP(sizes: [5, 4, 3], seed: 1)
    let b = MLP(sizes: [5, 4, 3], seed: 2)
    try Safetensors.write(a.stateTensors(), metadata: ["arch": "mlp"], to: url)
    try b.loadState(try Safetensors.read(url).tensors)
    #expect(a.parameters.map(\.value) == b.parameters.map(\.value))
    let wrong = MLP(sizes: [5, 6, 3], seed: 1)
    #expect(
      throws: CheckpointError.shapeMismatch(name: "fc1.weight", expected: [6, 5], found: [4, 5])
    ) {
      try wrong.loadState(try Safetensors.read(url).tensors)
    }
    #expect(throws: CheckpointError.missingTensor(name: "fc1.weight")) {
      try a.loadState([:])
    }
  }

  @Test func truncatedFilesGiveTypedErrors() throws {
    let full = Safetensors.encode(tensors, metadata: ["k": "v"])
    // Cut inside the last tensor's data: the error names that tensor.
    let lastByFileOrder = "scalar"  // "empty" has no bytes, so the file ends with "scalar"
    expectError(Array(full.dropLast(2))) {
      if case .truncated(_, let tensor, let expected, let actual) = $0 {
        return tensor == lastByFileOrder && expected == full.count && actual == full.count - 2
      }
      return false
    }
    // Cut inside the header and inside the length prefix.
    expectError(Array(full.prefix(20))) {
      if case .truncated(_, nil, _, 20) = $0 { return true }
      return false
    }
    expectError(Array(full.prefix(5))) {
      if case .truncated(_, nil, 8, 5) = $0 { return true }
      return false
    }
    expectError([]) {
      if case .truncated = $0 { return true }
      return false
    }

    // Through the file API as well.
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent("cut.safetensors")
    try Data(full.dropLast(3)).write(to: url)
    #expect {
      try Safetensors.read(url)
    } throws: { error in
      guard let e = error as? CheckpointError, case .truncated(_, "scalar", _, _) = e else {
        return false
      }
      return e.description.contains("scalar") && e.description.contains(url.path)
    }
  }

  @Test func corruptHeadersGiveTypedErrors() {
    let full = Safetensors.encode(tensors, metadata: [:])
    var garbled = full
    garbled[8] = UInt8(ascii: "[")  // header no longer an object
    expectError(garbled) { if case .corruptHeader = $0 { return true } else { return false } }
    var broken = full
    broken[12] = 0x22  // an extra quote in the middle of the JSON
    expectError(broken) { if case .corruptHeader = $0 { return true } else { return false } }
    var huge = full
    huge[7] = 0x7F  // a header length of ~9e18
    expectError(huge) { if case .corruptHeader = $0 { return true } else { return false } }
    // Offsets that disagree with the shape; a non-string metadata value; a missing key.
    let data = littleEndianBytes([1, 2])
    expectError(
      handMadeFile(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: data)
    ) {
      if case .corruptHeader(_, let reason) = $0 { return reason.contains("'a'") }
      return false
    }
    expectError(
      handMadeFile(
        header: #"{"__metadata__":{"x":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
        data: data)
    ) {
      if case .corruptHeader = $0 { return true } else { return false }
    }
    expectError(handMadeFile(header: #"{"a":{"dtype":"F32","shape":[2]}}"#, data: data)) {
      if case .corruptHeader = $0 { return true } else { return false }
    }
    expectError(
      handMadeFile(header: #"{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, data: data)
    ) {
      $0 == .unsupportedDtype(path: "x.safetensors", tensor: "a", dtype: "I64")
    }
  }

  @Test func missingFileAndUnwritableDirectory() {
    let url = URL(fileURLWithPath: "/nonexistent-blkrew/dir/model.safetensors")
    #expect(throws: CheckpointError.missing(path: url.path)) { try Safetensors.read(url) }
    #expect {
      try Safetensors.write(tensors, metadata: [:], to: url)
    } throws: { error in
      if case .writeFailed = error as? CheckpointError { return true }
      return false
    }
  }

  /// A file laid out like Python's `safetensors.numpy.save_file` output (tensors sorted, header
  /// padded with spaces, unpadded lengths accepted too), with F32, F64, F16 and BF16 tensors.
  @Test func readsReferenceLayoutAndOtherFloatTypes() throws {
    var data = littleEndianBytes([1.5, -2])  // F32 [2] at 0..<8
    data += [1.25, -3].flatMap { (d: Double) in
      withUnsafeBytes(of: d.bitPattern.littleEndian) { Array($0) }
    }  // F64 [2] at 8..<24
    data += [0x00, 0x3C, 0x00, 0xC0]  // F16 [1.0, -2.0] at 24..<28
    data += [0x80, 0x3F, 0x40, 0xC0]  // BF16 [1.0, -3.0] at 28..<32
    let header =
      #"{"__metadata__":{"format":"np"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#
      + #""b":{"dtype":"F64","shape":[2,1],"data_offsets":[8,24]},"#
      + #""c":{"dtype":"F16","shape":[2],"data_offsets":[24,28]},"#
      + #""d":{"dtype":"BF16","shape":[2],"data_offsets":[28,32]}}"#
    for pad in [true, false] {
      let (t, m) = try Safetensors.decode(
        handMadeFile(header: header, data: data, pad: pad), path: "ref")
      #expect(m == ["format": "np"])
      #expect(t["a"] == Tensor(shape: [2], data: [1.5, -2]))
      #expect(t["b"] == Tensor(shape: [2, 1], data: [1.25, -3]))
      #expect(t["c"] == Tensor(shape: [2], data: [1, -2]))
      #expect(t["d"] == Tensor(shape: [2], data: [1, -3]))
    }
    #expect(Safetensors.halfToFloat(0x3555) == Float(0x3555 & 0x3FF + 1024) / 1024 / 4)  // ≈ 0.3333
    #expect(Safetensors.halfToFloat(0x0001) == 0x1p-24)  // smallest subnormal
    #expect(Safetensors.halfToFloat(0x7C00) == .infinity)
  }
}

/// Whether `python3` can import safetensors and numpy (checked once per process).
private let pythonHasSafetensors: Bool = {
  let p = Process()
  p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
  p.arguments = ["python3", "-c", "import safetensors, numpy"]
  p.standardOutput = FileHandle.nullDevice
  p.standardError = FileHandle.nullDevice
  do {
    try p.run()
    p.waitUntilExit()
    return p.terminationStatus == 0
  } catch {
    return false
  }
}()

@Suite struct SafetensorsPythonInteropTests {
  @Test(
    .enabled(
      if: pythonHasSafetensors,
      "python3 cannot import safetensors and numpy; skipping the cross-check with the Python package"
    ))
  func pythonReadsOursAndWeReadPythons() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let ours = dir.appendingPathComponent("ours.safetensors")
    let theirs = dir.appendingPathComponent("theirs.safetensors")
    try Safetensors.write(
      [
        ("w", Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6.5])),
        ("b", Tensor(shape: [3], data: [-1, 0, 1])),
      ],
      metadata: ["format": "pt", "seed": "7"], to: ours)
    let script = """
      import sys, numpy as np
      from safetensors.numpy import load_file, save_file
      from safetensors import safe_open
      t = load_file(sys.argv[1])
      assert t["w"].dtype == np.float32 and t["w"].shape == (2, 3), t["w"]
      assert t["w"].tolist() == [[1, 2, 3], [4, 5, 6.5]], t["w"]
      assert t["b"].tolist() == [-1, 0, 1], t["b"]
      with safe_open(sys.argv[1], framework="np") as f:
          assert f.metadata() == {"format": "pt", "seed": "7"}, f.metadata()
      save_file({"x": np.arange(6, dtype=np.float32).reshape(3, 2), "y": np.array([0.5], dtype=np.float32),
                 "z": np.array([1.0, -2.0], dtype=np.float64)}, sys.argv[2], metadata={"who": "python"})
      """
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", script, ours.path, theirs.path]
    try p.run()
    p.waitUntilExit()
    #expect(p.terminationStatus == 0, "the Python check failed")
    let (t, m) = try Safetensors.read(theirs)
    #expect(m == ["who": "python"])
    #expect(t["x"] == Tensor(shape: [3, 2], data: [0, 1, 2, 3, 4, 5]))
    #expect(t["y"] == Tensor(shape: [1], data: [0.5]))
    #expect(t["z"] == Tensor(shape: [2], data: [1, -2]))
  }
}
