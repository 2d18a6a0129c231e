/// Errors that end a command, with the exit code of DESIGN.md section 9. The CLI prints
/// `blkrew: error: <description>` on one line and exits with `exitCode`.
public struct DriverError: Error, CustomStringConvertible, Sendable {
  public var exitCode: Int32
  public var description: String

  public init(_ exitCode: Int32, _ description: String) {
    self.exitCode = exitCode
    self.description = description
  }

  /// 64: bad usage, an invalid suite or flag.
  public static func usage(_ message: String) -> DriverError { DriverError(64, message) }
  /// 65: bad input data (corrupt checkpoint or dataset file).
  public static func badData(_ message: String) -> DriverError { DriverError(65, message) }
  /// 66: an input file named on the command line does not exist.
  public static func noInput(_ path: String) -> DriverError {
    DriverError(66, "\(path): no such file")
  }
  /// 69: a required tool, library or dataset package is missing.
  public static func unavailable(_ message: String) -> DriverError { DriverError(69, message) }
  /// 1: the work failed (no trial succeeded, disk full).
  public static func failed(_ message: String) -> DriverError { DriverError(1, message) }
}
