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
    // One parallel loop over the channels: a channel's statistics (summed over the samples in
    // order, as on one thread) and then its normalisation, so results do not depend on the
    // number of threads.
    var inv = Conv2d.take(&invStd, count: c)
    var xhat = Conv2d.take(&normalized, count: x.count)
    let mom = Double(momentum)
    let epsilon = Double(eps)
    let y = Tensor(shape: x.shape) { yp in
      xhat.withUnsafeMutableBufferPointer { hp in
        inv.withUnsafeMutableBufferPointer { ip in
          x.data.withUnsafeBufferPointer { xp in
            weight.value.data.withUnsafeBufferPointer { wp in
              bias.value.data.withUnsafeBufferPointer { bp in
                runningMean.value.data.withUnsafeMutableBufferPointer { rmp in
                  runningVar.value.data.withUnsafeMutableBufferPointer { rvp in
                    let (xb, hb, yb) = (xp.baseAddress!, hp.baseAddress!, yp.baseAddress!)
                    let (rm, rv, ib) = (rmp.baseAddress!, rvp.baseAddress!, ip.baseAddress!)
                    let (wb, bb) = (wp.baseAddress!, bp.baseAddress!)
                    Parallel.forEach(c, grain: Conv2d.grain(itemSize: m)) { ch in
                      let mu: Float
                      let iv: Float
                      if training {
                        var sum = 0.0
                        for i in 0..<n {
                          sum += Double(Vectorized.sum(xb + (i * c + ch) * s, count: s))
                        }
                        let mean = sum / Double(m)
                        var sq = 0.0
                        for i in 0..<n {
                          sq += Double(
                            Vectorized.sumOfSquaredDeviations(
                              xb + (i * c + ch) * s, mean: Float(mean), count: s))
                        }
                        let variance = sq / Double(m)
                        mu = Float(mean)
                        iv = Float(1 / (variance + epsilon).squareRoot())
                        rm[ch] = Float((1 - mom) * Double(rm[ch]) + mom * mean)
                        rv[ch] = Float(
                          (1 - mom) * Double(rv[ch]) + mom * variance * Double(m) / Double(m - 1))
                      } else {
                        mu = rm[ch]
                        iv = Float(1 / (Double(rv[ch]) + epsilon).squareRoot())
                      }
                      ib[ch] = iv
                      for i in 0..<n {
                        let off = (i * c + ch) * s
                        Vectorized.normalize(
                          xb + off, mean: mu, invStd: iv, gamma: wb[ch], beta: bb[ch],
                          normalized: hb + off, output: yb + off, count: s)
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    if training { numBatchesTracked.value.data[0] += 1 }
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
    let training = cachedTraining
    // One parallel loop over the channels: a channel's sums (over the samples in order), its
    // parameter gradients, then its input gradient.
    return Tensor(shape: shape) { op in
      gradOutput.data.withUnsafeBufferPointer { gp in
        normalized.withUnsafeBufferPointer { hp in
          invStd.withUnsafeBufferPointer { ip in
            weight.value.data.withUnsafeBufferPointer { wp in
              weight.grad.data.withUnsafeMutableBufferPointer { gwp in
                bias.grad.data.withUnsafeMutableBufferPointer { gbp in
                  let (gb, hb, ob) = (gp.baseAddress!, hp.baseAddress!, op.baseAddress!)
                  let (ib, wb) = (ip.baseAddress!, wp.baseAddress!)
                  let (gw, gbias) = (gwp.baseAddress!, gbp.baseAddress!)
                  Parallel.forEach(c, grain: Conv2d.grain(itemSize: n * s)) { ch in
                    var a = 0.0
                    var b = 0.0
                    for i in 0..<n {
                      let off = (i * c + ch) * s
                      let (pa, pb) = Vectorized.sumAndDot(gb + off, hb + off, count: s)
                      a += Double(pa)
                      b += Double(pb)
                    }
                    let sumG = Float(a)
                    let sumGX = Float(b)
                    gbias[ch] += sumG
                    gw[ch] += sumGX
                    let scale = wb[ch] * ib[ch]
                    let meanG = sumG / m
                    let meanGX = sumGX / m
                    for i in 0..<n {
                      let off = (i * c + ch) * s
                      if training {
                        Vectorized.scaledResidual(
                          gb + off, hb + off, scale: scale, a: meanG, b: meanGX, into: ob + off,
                          count: s)
                      } else {
                        Vectorized.scale(gb + off, by: scale, into: ob + off, count: s)
                      }
                    }
                  }
                }
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
