import Tensors

/// Module state that is saved in checkpoints but not trained (PyTorch's buffers), e.g.
/// BatchNorm's `running_mean`, `running_var` and `num_batches_tracked`. The optimizer never sees
/// buffers; `stateTensors()` lists them after the parameters and `loadState` restores them.
public final class Buffer {
  /// PyTorch-style name, e.g. `features.1.running_mean`.
  public let name: String
  public var value: Tensor

  public init(name: String, value: Tensor) {
    self.name = name
    self.value = value
  }
}
