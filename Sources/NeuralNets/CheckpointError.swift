/// Why a checkpoint could not be read, written or loaded into a model. Each case prints as one
/// line naming the file and, where one is at fault, the tensor.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
  /// No file at `path`.
  case missing(path: String)
  /// The file exists but could not be read.
  case unreadable(path: String, reason: String)
  /// The header length, the JSON or a tensor's entry in it is invalid.
  case corruptHeader(path: String, reason: String)
  /// The file ends early: in the 8-byte length, in the header (`tensor == nil`) or in a tensor's data.
  case truncated(path: String, tensor: String?, expectedBytes: Int, actualBytes: Int)
  /// A tensor is stored in a dtype this reader does not convert to Float32.
  case unsupportedDtype(path: String, tensor: String, dtype: String)
  /// Writing or renaming the file failed (disk full, permissions, ...); no file was left behind.
  case writeFailed(path: String, reason: String)
  /// `loadState`: the checkpoint has no tensor for this parameter.
  case missingTensor(name: String)
  /// `loadState`: the checkpoint's tensor has another shape than the parameter.
  case shapeMismatch(name: String, expected: [Int], found: [Int])

  public var description: String {
    switch self {
    case .missing(let path):
      return "\(path): checkpoint not found"
    case .unreadable(let path, let reason):
      return "\(path): cannot read checkpoint (\(reason))"
    case .corruptHeader(let path, let reason):
      return "\(path): corrupt safetensors header: \(reason)"
    case .truncated(let path, let tensor, let expected, let actual):
      let what = tensor.map { "data of tensor '\($0)'" } ?? "header"
      return
        "\(path): truncated safetensors file: \(what) needs \(expected) bytes, file has \(actual)"
    case .unsupportedDtype(let path, let tensor, let dtype):
      return "\(path): tensor '\(tensor)' has dtype \(dtype); only F32, F64, F16 and BF16 are read"
    case .writeFailed(let path, let reason):
      return "\(path): cannot write checkpoint (\(reason))"
    case .missingTensor(let name):
      return "checkpoint has no tensor '\(name)'"
    case .shapeMismatch(let name, let expected, let found):
      return "checkpoint tensor '\(name)' has shape \(found), the model expects \(expected)"
    }
  }
}
