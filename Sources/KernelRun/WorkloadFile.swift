import Foundation

/// The binary workload file the runner reads (little-endian):
///
/// | offset | type       | content                              |
/// |--------|------------|--------------------------------------|
/// | 0      | 4 bytes    | magic `BLKW`                         |
/// | 4      | u32        | version (1)                          |
/// | 8      | u32        | M, rows of W (outputs)               |
/// | 12     | u32        | K, columns of W (inputs)             |
/// | 16     | f32[M*K]   | W, row-major                         |
/// | 16+4MK | u8[M*K]    | mask, row-major (1 = kept, 0 = pruned) |
///
/// Exactly `16 + 5 M K` bytes. N (the batch) is not in the file: it is compiled into the kernel.
public enum WorkloadFile {
  public static let magic: [UInt8] = Array("BLKW".utf8)
  public static let version: UInt32 = 1

  public enum Error: Swift.Error, CustomStringConvertible {
    case shape(String)
    case malformed(String)
    public var description: String {
      switch self {
      case .shape(let s), .malformed(let s): s
      }
    }
  }

  /// The bytes of a workload file; mask entries are normalised to 0/1.
  public static func encode(rows: Int, cols: Int, weights: [Float], mask: [UInt8]) throws -> Data {
    guard rows > 0, cols > 0, rows <= Int(UInt32.max), cols <= Int(UInt32.max) else {
      throw Error.shape("bad shape \(rows)x\(cols)")
    }
    guard weights.count == rows * cols, mask.count == rows * cols else {
      throw Error.shape(
        "\(weights.count) weights and \(mask.count) mask entries for a \(rows)x\(cols) layer")
    }
    var bytes = [UInt8]()
    bytes.reserveCapacity(16 + 5 * rows * cols)
    bytes += magic
    for v in [version, UInt32(rows), UInt32(cols)] { appendLE(v, to: &bytes) }
    for w in weights { appendLE(w.bitPattern, to: &bytes) }
    bytes += mask.map { $0 != 0 ? 1 : 0 }
    return Data(bytes)
  }

  /// Writes a workload file atomically (a temporary file renamed into place).
  public static func write(
    rows: Int, cols: Int, weights: [Float], mask: [UInt8], to url: URL
  ) throws {
    try encode(rows: rows, cols: cols, weights: weights, mask: mask).write(
      to: url, options: .atomic)
  }

  /// Reads a workload file back.
  public static func read(from url: URL) throws -> (
    rows: Int, cols: Int, weights: [Float], mask: [UInt8]
  ) {
    let bytes = [UInt8](try Data(contentsOf: url))
    guard bytes.count >= 16, Array(bytes[0..<4]) == magic else {
      throw Error.malformed("\(url.path): not a blkrew workload file")
    }
    func u32(_ at: Int) -> UInt32 {
      (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << (8 * UInt32($1)) }
    }
    guard u32(4) == version else { throw Error.malformed("\(url.path): version \(u32(4))") }
    let rows = Int(u32(8))
    let cols = Int(u32(12))
    let count = rows * cols
    guard bytes.count == 16 + 5 * count else {
      throw Error.malformed("\(url.path): \(bytes.count) bytes, expected \(16 + 5 * count)")
    }
    let weights = (0..<count).map { Float(bitPattern: u32(16 + 4 * $0)) }
    let mask = Array(bytes[(16 + 4 * count)...])
    return (rows, cols, weights, mask)
  }

  private static func appendLE(_ v: UInt32, to bytes: inout [UInt8]) {
    for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) }
  }
}
