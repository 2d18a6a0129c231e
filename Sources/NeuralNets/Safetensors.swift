import Foundation
import Tensors

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Reader and writer for the safetensors format (https://github.com/huggingface/safetensors):
///
///     [u64 little-endian N] [N bytes of UTF-8 JSON header] [data bytes]
///
/// The header maps each tensor name to `{"dtype": "F32", "shape": [...], "data_offsets":
/// [begin, end]}` (byte offsets relative to the start of the data) and may hold
/// `"__metadata__": {string: string}`. The header may be padded with trailing spaces; this writer
/// pads it so the data starts at a multiple of 8 bytes, as the Python package does.
public enum Safetensors {
  /// Largest header accepted (the reference implementation's limit).
  public static let maxHeaderBytes = 100_000_000

  /// Writes `tensors` (in the given order) as F32 little-endian with `metadata` into
  /// `<url>.tmp`, flushes it and renames it onto `url`, so `url` is either the old or the
  /// complete new file. Names must be unique and not `__metadata__`.
  public static func write(
    _ tensors: [(name: String, tensor: Tensor)], metadata: [String: String], to url: URL
  ) throws(CheckpointError) {
    let bytes = encode(tensors, metadata: metadata)
    let path = url.path
    let tmp = path + ".tmp"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw .writeFailed(path: path, reason: "open \(tmp): \(errnoString())") }
    var failure: String?
    bytes.withUnsafeBytes { raw in
      var offset = 0
      while offset < raw.count {
        let n = systemWrite(fd, raw.baseAddress! + offset, raw.count - offset)
        if n < 0 {
          if errno == EINTR { continue }
          failure = "write \(tmp): \(errnoString())"
          return
        }
        offset += n
      }
    }
    if failure == nil && fsync(fd) != 0 { failure = "fsync \(tmp): \(errnoString())" }
    if close(fd) != 0 && failure == nil { failure = "close \(tmp): \(errnoString())" }
    if failure == nil && rename(tmp, path) != 0 { failure = "rename to \(path): \(errnoString())" }
    if let failure {
      unlink(tmp)
      throw .writeFailed(path: path, reason: failure)
    }
  }

  /// The complete file contents `write` produces.
  public static func encode(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String])
    -> [UInt8]
  {
    var seen = Set<String>()
    var header = "{"
    var entries: [String] = []
    if !metadata.isEmpty {
      let fields = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
      entries.append("\"__metadata__\":{\(fields.joined(separator: ","))}")
    }
    var offset = 0
    for (name, tensor) in tensors {
      precondition(name != "__metadata__", "Safetensors: '__metadata__' is not a tensor name")
      precondition(seen.insert(name).inserted, "Safetensors: duplicate tensor name '\(name)'")
      let size = tensor.count * 4
      let shape = tensor.shape.map(String.init).joined(separator: ",")
      entries.append(
        "\(jsonString(name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + size)]}"
      )
      offset += size
    }
    header += entries.joined(separator: ",") + "}"
    var headerBytes = Array(header.utf8)
    while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
    var out = [UInt8]()
    out.reserveCapacity(8 + headerBytes.count + offset)
    withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { out.append(contentsOf: $0) }
    out.append(contentsOf: headerBytes)
    for (_, tensor) in tensors {
      #if _endian(little)
        tensor.data.withUnsafeBytes { out.append(contentsOf: $0) }
      #else
        for x in tensor.data {
          withUnsafeBytes(of: x.bitPattern.littleEndian) { out.append(contentsOf: $0) }
        }
      #endif
    }
    return out
  }

  /// Reads every tensor (converted to Float32) and the metadata of the file at `url`.
  public static func read(_ url: URL) throws(CheckpointError) -> (
    tensors: [String: Tensor], metadata: [String: String]
  ) {
    let path = url.path
    guard FileManager.default.fileExists(atPath: path) else { throw .missing(path: path) }
    let data: Data
    do {
      data = try Data(contentsOf: url)
    } catch {
      throw .unreadable(path: path, reason: "\(error.localizedDescription)")
    }
    return try decode([UInt8](data), path: path)
  }

  /// Parses the bytes of a safetensors file; `path` is only used in errors.
  public static func decode(_ bytes: [UInt8], path: String) throws(CheckpointError) -> (
    tensors: [String: Tensor], metadata: [String: String]
  ) {
    guard bytes.count >= 8 else {
      throw .truncated(path: path, tensor: nil, expectedBytes: 8, actualBytes: bytes.count)
    }
    var n: UInt64 = 0
    for i in (0..<8).reversed() { n = n << 8 | UInt64(bytes[i]) }
    guard n >= 2, n <= UInt64(maxHeaderBytes) else {
      throw .corruptHeader(path: path, reason: "implausible header length \(n)")
    }
    let headerLength = Int(n)
    guard 8 + headerLength <= bytes.count else {
      throw .truncated(
        path: path, tensor: nil, expectedBytes: 8 + headerLength, actualBytes: bytes.count)
    }
    let headerBytes = bytes[8..<(8 + headerLength)]
    guard headerBytes.first == UInt8(ascii: "{") else {
      throw .corruptHeader(path: path, reason: "header does not start with '{'")
    }
    guard String(validating: headerBytes, as: UTF8.self) != nil else {
      throw .corruptHeader(path: path, reason: "header is not UTF-8")
    }
    let entries: [String: HeaderValue]
    do {
      entries = try JSONDecoder().decode([String: HeaderValue].self, from: Data(headerBytes))
    } catch {
      throw .corruptHeader(
        path: path, reason: "header is not a safetensors JSON object (\(brief(error)))")
    }
    let dataStart = 8 + headerLength
    let dataSize = bytes.count - dataStart
    var metadata: [String: String] = [:]
    var layout: [(name: String, info: TensorInfo)] = []
    for name in entries.keys.sorted() {
      switch entries[name]! {
      case .metadata(let m):
        guard name == "__metadata__" else {
          throw .corruptHeader(path: path, reason: "entry '\(name)' is not a tensor description")
        }
        metadata = m
      case .tensor(let info):
        guard name != "__metadata__" else {
          throw .corruptHeader(path: path, reason: "__metadata__ must map strings to strings")
        }
        try validate(name: name, info: info, path: path)
        layout.append((name, info))
      }
    }
    // A short file: name the first tensor (in file order) whose bytes are missing.
    let cut = layout.filter { $0.info.offsets[1] > dataSize }
    if !cut.isEmpty {
      let first = cut.min { a, b in
        let ka = (a.info.offsets[1] == a.info.offsets[0] ? 1 : 0, a.info.offsets[0])
        let kb = (b.info.offsets[1] == b.info.offsets[0] ? 1 : 0, b.info.offsets[0])
        return ka < kb
      }!
      let needed = dataStart + cut.map { $0.info.offsets[1] }.max()!
      throw .truncated(
        path: path, tensor: first.name, expectedBytes: needed, actualBytes: bytes.count)
    }
    var tensors: [String: Tensor] = [:]
    for (name, info) in layout {
      tensors[name] = convert(info: info, bytes: bytes, dataStart: dataStart)
    }
    return (tensors, metadata)
  }

  private static func elementSize(_ dtype: String) -> Int? {
    switch dtype {
    case "F32": return 4
    case "F64": return 8
    case "F16", "BF16": return 2
    default: return nil
    }
  }

  /// Checks dtype, shape and offsets of one entry (not yet whether the file holds its bytes).
  private static func validate(name: String, info: TensorInfo, path: String) throws(CheckpointError)
  {
    guard let elementSize = elementSize(info.dtype) else {
      throw .unsupportedDtype(path: path, tensor: name, dtype: info.dtype)
    }
    guard info.shape.allSatisfy({ $0 >= 0 }) else {
      throw .corruptHeader(path: path, reason: "tensor '\(name)' has negative shape \(info.shape)")
    }
    var count = 1
    for d in info.shape {
      let (product, overflow) = count.multipliedReportingOverflow(by: d)
      guard !overflow, product <= Int.max / 8 else {
        throw .corruptHeader(
          path: path, reason: "tensor '\(name)' shape \(info.shape) is too large")
      }
      count = product
    }
    guard info.offsets.count == 2 else {
      throw .corruptHeader(path: path, reason: "tensor '\(name)' data_offsets must be [begin, end]")
    }
    let begin = info.offsets[0]
    let end = info.offsets[1]
    guard begin >= 0, end >= begin else {
      throw .corruptHeader(
        path: path, reason: "tensor '\(name)' has data_offsets [\(begin), \(end)]")
    }
    guard end - begin == count * elementSize else {
      throw .corruptHeader(
        path: path,
        reason:
          "tensor '\(name)' \(info.dtype)\(info.shape) needs \(count * elementSize) bytes, data_offsets span \(end - begin)"
      )
    }
  }

  /// Converts a validated entry whose bytes lie inside `bytes` to Float32.
  private static func convert(info: TensorInfo, bytes: [UInt8], dataStart: Int) -> Tensor {
    let begin = info.offsets[0]
    let end = info.offsets[1]
    let count = Tensor.elementCount(info.shape)
    var values = [Float](repeating: 0, count: count)
    bytes.withUnsafeBytes { raw in
      let src = UnsafeRawBufferPointer(rebasing: raw[(dataStart + begin)..<(dataStart + end)])
      values.withUnsafeMutableBufferPointer { dst in
        switch info.dtype {
        case "F32":
          #if _endian(little)
            UnsafeMutableRawBufferPointer(dst).copyMemory(from: src)
          #else
            for i in 0..<count {
              dst[i] = Float(
                bitPattern: UInt32(
                  littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            }
          #endif
        case "F64":
          for i in 0..<count {
            dst[i] = Float(
              Double(
                bitPattern: UInt64(
                  littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
          }
        case "BF16":
          for i in 0..<count {
            let h = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            dst[i] = Float(bitPattern: UInt32(h) << 16)
          }
        default:  // F16
          for i in 0..<count {
            dst[i] = halfToFloat(
              UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
          }
        }
      }
    }
    return Tensor(shape: info.shape, data: values)
  }

  /// IEEE 754 binary16 → binary32 (exact).
  static func halfToFloat(_ h: UInt16) -> Float {
    let sign: Float = (h & 0x8000) != 0 ? -1 : 1
    let exponent = Int((h >> 10) & 0x1F)
    let fraction = Float(h & 0x3FF)
    switch exponent {
    case 0: return sign * fraction * 0x1p-24
    case 31: return fraction == 0 ? sign * .infinity : .nan
    default:
      return sign * (1 + fraction / 1024)
        * Float(sign: .plus, exponent: exponent - 15, significand: 1)
    }
  }

  private struct TensorInfo: Decodable {
    var dtype: String
    var shape: [Int]
    var offsets: [Int]
    enum CodingKeys: String, CodingKey {
      case dtype, shape
      case offsets = "data_offsets"
    }
  }

  private enum HeaderValue: Decodable {
    case tensor(TensorInfo)
    case metadata([String: String])

    init(from decoder: any Decoder) throws {
      if let m = try? decoder.singleValueContainer().decode([String: String].self) {
        self = .metadata(m)
      } else {
        self = .tensor(try TensorInfo(from: decoder))
      }
    }
  }

  private static func brief(_ error: any Error) -> String {
    switch error {
    case DecodingError.dataCorrupted(let c): return c.debugDescription
    case DecodingError.keyNotFound(let key, let c):
      return
        "missing '\(key.stringValue)' at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
    case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
      return "wrong type at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
    default: return "\(error)"
    }
  }

  private static func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
      switch u {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case _ where u.value < 0x20:
        let hex = String(u.value, radix: 16)
        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: out.unicodeScalars.append(u)
      }
    }
    return out + "\""
  }

  private static func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
      return Glibc.write(fd, buffer, count)
    #else
      return Darwin.write(fd, buffer, count)
    #endif
  }

  private static func errnoString() -> String {
    String(cString: strerror(errno))
  }
}
