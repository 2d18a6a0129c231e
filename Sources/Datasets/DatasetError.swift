/// A data file that is absent or not what it claims to be; prints as one line naming the file.
public enum DatasetError: Error, CustomStringConvertible, Equatable {
  case missing(path: String)
  case corrupt(path: String, reason: String)

  public var description: String {
    switch self {
    case .missing(let path): return "\(path): file not found"
    case .corrupt(let path, let reason): return "\(path): \(reason)"
    }
  }
}
