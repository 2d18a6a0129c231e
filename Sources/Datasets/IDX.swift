import CZlib
import Foundation

/// Reader for the IDX files of MNIST-style data sets (optionally gzip-compressed; zlib reads
/// uncompressed files transparently). Format: big-endian magic `0x0000 TT DD` (TT = 0x08 for
/// unsigned bytes, DD = number of dimensions), DD big-endian UInt32 extents, then the bytes.
public enum IDX {
  /// Image file magic (unsigned bytes, 3 dimensions).
  public static let imageMagic: UInt32 = 2051
  /// Label file magic (unsigned bytes, 1 dimension).
  public static let labelMagic: UInt32 = 2049

  /// Raw pixels of an image file: `count × rows × cols` bytes, row-major.
  public static func readImages(path: String) throws(DatasetError) -> (
    pixels: [UInt8], count: Int, rows: Int, cols: Int
  ) {
    let bytes = try readDecompressed(path: path)
    guard bytes.count >= 16 else {
      throw .corrupt(path: path, reason: "too short for an IDX image header (\(bytes.count) bytes)")
    }
    let magic = bigEndianUInt32(bytes, at: 0)
    guard magic == imageMagic else {
      throw .corrupt(path: path, reason: "not an IDX image file (magic \(magic))")
    }
    let count = Int(bigEndianUInt32(bytes, at: 4))
    let rows = Int(bigEndianUInt32(bytes, at: 8))
    let cols = Int(bigEndianUInt32(bytes, at: 12))
    guard rows > 0, cols > 0, rows <= 65536, cols <= 65536 else {
      throw .corrupt(path: path, reason: "implausible image size \(rows)x\(cols)")
    }
    let expected = 16 + count * rows * cols
    guard bytes.count == expected else {
      throw .corrupt(
        path: path,
        reason: "\(count) images of \(rows)x\(cols) need \(expected) bytes, found \(bytes.count)")
    }
    return (suffix(bytes, from: 16), count, rows, cols)
  }

  /// Labels of a label file.
  public static func readLabels(path: String) throws(DatasetError) -> [UInt8] {
    let bytes = try readDecompressed(path: path)
    guard bytes.count >= 8 else {
      throw .corrupt(path: path, reason: "too short for an IDX label header (\(bytes.count) bytes)")
    }
    let magic = bigEndianUInt32(bytes, at: 0)
    guard magic == labelMagic else {
      throw .corrupt(path: path, reason: "not an IDX label file (magic \(magic))")
    }
    let count = Int(bigEndianUInt32(bytes, at: 4))
    guard bytes.count == 8 + count else {
      throw .corrupt(
        path: path, reason: "\(count) labels need \(8 + count) bytes, found \(bytes.count)")
    }
    return suffix(bytes, from: 8)
  }

  /// The whole decompressed content of `path` (gzip or plain).
  public static func readDecompressed(path: String) throws(DatasetError) -> [UInt8] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory),
      !isDirectory.boolValue
    else { throw .missing(path: path) }
    guard let file = gzopen(path, "rb") else {
      throw .corrupt(path: path, reason: "cannot open (\(String(cString: strerror(errno))))")
    }
    defer { gzclose(file) }
    gzbuffer(file, 1 << 17)
    // Read into a raw buffer that doubles when full: plain memory copies, fast even in debug
    // builds. The gzip trailer's ISIZE (length mod 2^32) is only a first capacity guess.
    var capacity = max(1 << 16, min(gzipSizeHint(path: path) + 1, 1 << 31))
    var buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    defer { buffer.deallocate() }
    var size = 0
    while true {
      if size == capacity {
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: capacity * 2, alignment: 16)
        bigger.copyMemory(from: buffer, byteCount: size)
        buffer.deallocate()
        buffer = bigger
        capacity *= 2
      }
      let want = UInt32(min(capacity - size, 1 << 30))
      let n = gzread(file, buffer + size, want)
      if n < 0 {
        var code: Int32 = 0
        let message = gzerror(file, &code).map { String(cString: $0) } ?? "zlib error \(code)"
        throw .corrupt(path: path, reason: "gzip data is damaged (\(message))")
      }
      if n == 0 { break }
      size += Int(n)
    }
    // A gzip stream cut short reads as a short file; zlib reports it through gzerror.
    var code: Int32 = 0
    let message = gzerror(file, &code)
    if code != Z_OK {
      let text = message.map { String(cString: $0) } ?? "zlib error \(code)"
      throw .corrupt(path: path, reason: "gzip data is damaged (\(text))")
    }
    let source = UnsafeRawPointer(buffer)
    return [UInt8](unsafeUninitializedCapacity: size) { out, initialized in
      if size > 0 {
        UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: source, byteCount: size)
      }
      initialized = size
    }
  }

  /// The uncompressed size a gzip file records in its last four bytes (mod 2^32), or 0.
  static func gzipSizeHint(path: String) -> Int {
    guard let handle = FileHandle(forReadingAtPath: path) else { return 0 }
    defer { try? handle.close() }
    guard let end = try? handle.seekToEnd(), end >= 18 else { return 0 }
    try? handle.seek(toOffset: end - 4)
    guard let tail = try? handle.read(upToCount: 4), tail.count == 4 else { return 0 }
    return tail.reversed().reduce(0) { $0 << 8 | Int($1) }
  }

  /// `bytes[from...]` as a new array (a memory copy).
  static func suffix(_ bytes: [UInt8], from start: Int) -> [UInt8] {
    let n = bytes.count - start
    return bytes.withUnsafeBytes { src in
      [UInt8](unsafeUninitializedCapacity: n) { out, initialized in
        if n > 0 {
          UnsafeMutableRawPointer(out.baseAddress!).copyMemory(
            from: src.baseAddress! + start, byteCount: n)
        }
        initialized = n
      }
    }
  }

  @inline(__always)
  static func bigEndianUInt32(_ b: [UInt8], at i: Int) -> UInt32 {
    UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
  }
}
