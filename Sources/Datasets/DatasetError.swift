/// A data file that is absent or not what it claims to be; prints as one line naming the file.
public enum DatasetError: Error, CustomStringConvertible, Equatable {
  case missing(path: String)
  case corrupt(path: String, reason: String)
  /// A file that a script downloads or generates is absent; `command` is what to run.
  case notFetched(path: String, command: String)

  public var description: String {
    switch self {
    case .missing(let path): return "\(path): file not found"
    case .corrupt(let path, let reason): return "\(path): \(reason)"
    case .notFetched(let path, let command): return "\(path): file not found; run \(command)"
    }
  }
}
