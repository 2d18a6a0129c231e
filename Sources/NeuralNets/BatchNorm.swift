import Tensors

/// Batch normalisation over the channel axis of `[N, C, …]` (`torch.nn.BatchNorm1d/2d`, affine,
/// track_running_stats). With `M = N · (product of the trailing extents)` values per channel:
///
///     train:  μ = mean(x),  σ² = mean((x − μ)²)  (biased, over the batch)
///             running_mean ← (1 − momentum)·running_mean + momentum·μ
///             running_var  ← (1 − momentum)·running_var  + momentum·σ²·M/(M − 1)  (unbiased)
///             num_batches_tracked += 1
///     eval:   μ, σ² = running_mean, running_var
///     y = weight · (x − μ) / √(σ² + eps) + bias
///
/// Backward in train mode differentiates through μ and σ² (with x̂ the normalised input):
/// `gradX = weight/√(σ²+eps) · (gY − mean(gY) − x̂·mean(gY·x̂))`; in eval mode the statistics are
/// constants, `gradX = weight/√(σ²+eps) · gY`. Either way `gradWeight += Σ gY·x̂`,
/// `gradBias += Σ gY`. Sums and the statistics are accumulated in Double.
public class BatchNorm: Module {
  public let features: Int
  public let momentum: Float
  public let eps: Float
  /// Which input ranks the layer accepts: `[4]` for BatchNorm2d, `[2, 3]` for BatchNorm1d.
  public let acceptedRanks: Set<Int>
  /// `[C]`, initialised to 1.
  public let weight: Parameter
  /// `[C]`, initialised to 0.
  public let bias: Parameter
  /// `[C]`, initialised to 0.
  public let runningMean: Buffer
  /// `[C]`, initialised to 1.
  public let runningVar: Buffer
  /// Shape `[]` (a scalar, as in PyTorch, where it is int64; stored here as F32, which PyTorch's
  /// `load_state_dict` converts on copy).
  public let numBatchesTracked: Buffer

  private var normalized: [Float] = []
  private var invStd: [Float] = []
  private var cachedShape: [Int]?
  private var cachedTraining = false

  /// `name` prefixes the checkpoint names (`<name>.weight`, `<name>.running_mean`, …).
  public init(
    features: Int, momentum: Float = 0.1, eps: Float = 1e-5, name: String,
    acceptedRanks: Set<Int> = [2, 3, 4]
  ) {
    precondition(features > 0, "BatchNorm: features must be positive")
    precondition(momentum >= 0 && momentum <= 1 && eps > 0, "BatchNorm: bad momentum or eps")
    self.features = features
    self.momentum = momentum
    self.eps = eps
    self.acceptedRanks = acceptedRanks
    let prefix = name.isEmpty ? "" : "\(name)."
    weight = Parameter(name: prefix + "weight", value: Tensor(shape: [features], repeating: 1))
    bias = Parameter(name: prefix + "bias", value: Tensor(zeros: [features]))
    runningMean = Buffer(name: prefix + "running_mean", value: Tensor(zeros: [features]))
    runningVar = Buffer(
      name: prefix + "running_var", value: Tensor(shape: [features], repeating: 1))
    numBatchesTracked = Buffer(name: prefix + "num_batches_tracked", value: Tensor(zeros: []))
  }

  public var parameters: [Parameter] { [weight, bias] }
  public var buffers: [Buffer] { [runningMean, runningVar, numBatchesTracked] }

  public func forward(_ x: Tensor, training: Bool) -> Tensor {
    precondition(
      acceptedRanks.contains(x.rank) && x.shape[1] == features,
      "BatchNorm(\(features)): input shape \(x.shape), expected rank in \(acceptedRanks.sorted()) with C = \(features)"
    )
    let n = x.shape[0]
    let c = features
    let s = Tensor.elementCount(Array(x.shape.dropFirst(2)))
    let m = n * s
    precondition(
      !training || m > 1,
      "BatchNorm: training needs more than one value per channel, input shape \(x.shape)")
    cachedShape = x.shape
    cachedTraining = training
    var mean = [Float](repeating: 0, count: c)
    var inv = [Float](repeating: 0, count: c)
    x.data.withUnsafeBufferPointer { xp in
      for ch in 0..<c {
        if training {
          var sum = 0.0
          for i in 0..<n {
            let p = xp.baseAddress! + (i * c + ch) * s
            sum += Double(Vectorized.sum(p, count: s))
          }
          let mu = sum / Double(m)
          var sq = 0.0
          for i in 0..<n {
            let p = xp.baseAddress! + (i * c + ch) * s
            sq += Double(Vectorized.sumOfSquaredDeviations(p, mean: Float(mu), count: s))
          }
          let variance = sq / Double(m)
          mean[ch] = Float(mu)
          inv[ch] = Float(1 / (variance + Double(eps)).squareRoot())
          let mom = Double(momentum)
          runningMean.value.data[ch] = Float(
            (1 - mom) * Double(runningMean.value.data[ch]) + mom * mu)
          runningVar.value.data[ch] = Float(
            (1 - mom) * Double(runningVar.value.data[ch]) + mom * variance * Double(m)
              / Double(m - 1))
        } else {
          mean[ch] = runningMean.value.data[ch]
          inv[ch] = Float(1 / (Double(runningVar.value.data[ch]) + Double(eps)).squareRoot())
        }
      }
    }
    if training { numBatchesTracked.value.data[0] += 1 }
    var xhat = Conv2d.take(&normalized, count: x.count)
    let y = Tensor(shape: x.shape) { yp in
      xhat.withUnsafeMutableBufferPointer { hp in
        x.data.withUnsafeBufferPointer { xp in
          for i in 0..<n {
            for ch in 0..<c {
              let off = (i * c + ch) * s
              let (mu, iv) = (mean[ch], inv[ch])
              let (g, b) = (weight.value.data[ch], bias.value.data[ch])
              let src = xp.baseAddress! + off
              let h = hp.baseAddress! + off
              let dst = yp.baseAddress! + off
              Vectorized.normalize(
                src, mean: mu, invStd: iv, gamma: g, beta: b, normalized: h, output: dst, count: s)
            }
          }
        }
      }
    }
    normalized = xhat
    invStd = inv
    return y
  }

  public func backward(_ gradOutput: Tensor) -> Tensor {
    guard let shape = cachedShape else {
      preconditionFailure("BatchNorm.backward called before forward")
    }
    precondition(
      gradOutput.shape == shape,
      "BatchNorm.backward: gradOutput shape \(gradOutput.shape), expected \(shape)")
    let n = shape[0]
    let c = features
    let s = Tensor.elementCount(Array(shape.dropFirst(2)))
    let m = Float(n * s)
    var sumG = [Float](repeating: 0, count: c)
    var sumGX = [Float](repeating: 0, count: c)
    gradOutput.data.withUnsafeBufferPointer { gp in
      normalized.withUnsafeBufferPointer { hp in
        for ch in 0..<c {
          var a = 0.0
          var b = 0.0
          for i in 0..<n {
            let off = (i * c + ch) * s
            let g = gp.baseAddress! + off
            let h = hp.baseAddress! + off
            let (pa, pb) = Vectorized.sumAndDot(g, h, count: s)
            a += Double(pa)
            b += Double(pb)
          }
          sumG[ch] = Float(a)
          sumGX[ch] = Float(b)
        }
      }
    }
    for ch in 0..<c {
      bias.grad.data[ch] += sumG[ch]
      weight.grad.data[ch] += sumGX[ch]
    }
    let training = cachedTraining
    return Tensor(shape: shape) { op in
      gradOutput.data.withUnsafeBufferPointer { gp in
        normalized.withUnsafeBufferPointer { hp in
          for i in 0..<n {
            for ch in 0..<c {
              let off = (i * c + ch) * s
              let g = gp.baseAddress! + off
              let h = hp.baseAddress! + off
              let dst = op.baseAddress! + off
              let scale = weight.value.data[ch] * invStd[ch]
              if training {
                let meanG = sumG[ch] / m
                let meanGX = sumGX[ch] / m
                Vectorized.scaledResidual(
                  g, h, scale: scale, a: meanG, b: meanGX, into: dst, count: s)
              } else {
                for j in 0..<s { dst[j] = scale * g[j] }
              }
            }
          }
        }
      }
    }
  }
}

/// `torch.nn.BatchNorm2d(features)`: input `[N, C, H, W]`, statistics over N, H and W.
public final class BatchNorm2d: BatchNorm {
  public init(features: Int, momentum: Float = 0.1, eps: Float = 1e-5, name: String) {
    super.init(features: features, momentum: momentum, eps: eps, name: name, acceptedRanks: [4])
  }
}

/// `torch.nn.BatchNorm1d(features)`: input `[N, C]` or `[N, C, L]`.
public final class BatchNorm1d: BatchNorm {
  public init(features: Int, momentum: Float = 0.1, eps: Float = 1e-5, name: String) {
    super.init(features: features, momentum: momentum, eps: eps, name: name, acceptedRanks: [2, 3])
  }
}
