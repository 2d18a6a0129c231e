import Tensors

/// One weight matrix in the GEMM view that pruning and the kernels work on: `parameter.value.data`
/// is row-major `[rows, cols]` — Linear `[out, in]`, Conv2d `[Cout, Cin*kh*kw]` (PyTorch's
/// `[Cout, Cin, kh, kw]` flattened, same memory), GRU/LSTM `weight_ih_l0 [3H or 4H, in]` and
/// `weight_hh_l0 [.., H]`.
public struct GEMMWeight {
  /// The checkpoint name of the weight without `.weight` (`fc1`, `features.0`,
  /// `gru.weight_ih_l0` keeps its full name since PyTorch names it so).
  public let name: String
  public let parameter: Parameter
  public let rows: Int
  public let cols: Int
  /// Output positions per sample that reuse this matrix (the GEMM's N per sample): 1 for a fully
  /// connected layer, Hout·Wout of the last forward pass for a convolution, nil when unknown
  /// (recurrent gate matrices: one GEMV per time step).
  public var positions: () -> Int? = { nil }

  public init(name: String, parameter: Parameter, rows: Int, cols: Int) {
    precondition(
      parameter.value.count == rows * cols,
      "GEMMWeight \(name): \(parameter.value.shape) is not \(rows)x\(cols)")
    self.name = name
    self.parameter = parameter
    self.rows = rows
    self.cols = cols
  }
}

/// A model the sweep can train and prune: a `Module` that lists its GEMM-view weights in
/// forward order (the first is the "first layer", the last the "last layer" of a suite's
/// `keep_dense`).
public protocol Network: Module {
  var gemmWeights: [GEMMWeight] { get }
}

extension MLP: Network {
  public var gemmWeights: [GEMMWeight] {
    linearLayers.map { name, layer in
      GEMMWeight(linear: layer, name: name)
    }
  }
}
