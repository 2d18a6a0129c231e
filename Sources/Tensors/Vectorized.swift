/// Element-wise kernels and reductions over raw float buffers in explicit SIMD16 vectors.
///
/// The compiler keeps a float reduction in source order (it may not reassociate), so a plain
/// `for j in 0..<n { s += p[j] }` runs one add per FP latency (about 4 cycles) per element; these
/// keep 16 or 32 partial sums instead, so results differ from the sequential sum by rounding only.
/// A select on floats (`y > 0 ? g : 0`) does not vectorise either when the loop's pointers may
/// alias; the explicit masks below do.
public enum Vectorized {
  /// `Σ p[i]` for `i < count`.
  @inlinable
  public static func sum(_ p: UnsafePointer<Float>, count: Int) -> Float {
    let raw = UnsafeRawPointer(p)
    var a = SIMD16<Float>()
    var b = SIMD16<Float>()
    var i = 0
    while i &+ 32 <= count {
      a += raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
      b += raw.loadUnaligned(fromByteOffset: (i &+ 16) &* 4, as: SIMD16<Float>.self)
      i &+= 32
    }
    if i &+ 16 <= count {
      a += raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
      i &+= 16
    }
    var s = (a + b).sum()
    while i < count {
      s += p[i]
      i &+= 1
    }
    return s
  }

  /// `Σ (p[i] − mean)²` for `i < count`.
  @inlinable
  public static func sumOfSquaredDeviations(
    _ p: UnsafePointer<Float>, mean: Float, count: Int
  ) -> Float {
    let raw = UnsafeRawPointer(p)
    let mu = SIMD16<Float>(repeating: mean)
    var a = SIMD16<Float>()
    var b = SIMD16<Float>()
    var i = 0
    while i &+ 32 <= count {
      let d0 = raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self) - mu
      let d1 = raw.loadUnaligned(fromByteOffset: (i &+ 16) &* 4, as: SIMD16<Float>.self) - mu
      a += d0 * d0
      b += d1 * d1
      i &+= 32
    }
    if i &+ 16 <= count {
      let d = raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self) - mu
      a += d * d
      i &+= 16
    }
    var s = (a + b).sum()
    while i < count {
      let d = p[i] - mean
      s += d * d
      i &+= 1
    }
    return s
  }

  /// `(Σ g[i], Σ g[i]·h[i])` for `i < count`.
  @inlinable
  public static func sumAndDot(
    _ g: UnsafePointer<Float>, _ h: UnsafePointer<Float>, count: Int
  ) -> (sum: Float, dot: Float) {
    let rg = UnsafeRawPointer(g)
    let rh = UnsafeRawPointer(h)
    var s = SIMD16<Float>()
    var d = SIMD16<Float>()
    var i = 0
    while i &+ 16 <= count {
      let gv = rg.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
      let hv = rh.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
      s += gv
      d += gv * hv
      i &+= 16
    }
    var ss = s.sum()
    var dd = d.sum()
    while i < count {
      ss += g[i]
      dd += g[i] * h[i]
      i &+= 1
    }
    return (ss, dd)
  }

  /// `dst[i] = src[i] > 0 ? src[i] : 0` (NaN → 0); `dst` may be `src`.
  @inlinable
  public static func relu(
    _ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int
  ) {
    let rs = UnsafeRawPointer(src)
    let rd = UnsafeMutableRawPointer(dst)
    let zero = SIMD16<Float>()
    var i = 0
    while i &+ 16 <= count {
      let v = rs.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
      rd.storeBytes(
        of: zero.replacing(with: v, where: v .> zero), toByteOffset: i &* 4,
        as: SIMD16<Float>.self)
      i &+= 16
    }
    while i < count {
      let v = src[i]
      dst[i] = v > 0 ? v : 0
      i &+= 1
    }
  }

  /// `dst[i] = y[i] > 0 ? g[i] : 0` (the gradient through a ReLU whose output was `y`); `dst` may
  /// be `g`.
  @inlinable
  public static func reluGradient(
    _ g: UnsafePointer<Float>, output y: UnsafePointer<Float>,
    into dst: UnsafeMutablePointer<Float>, count: Int
  ) {
    let rg = UnsafeRawPointer(g)
    let ry = UnsafeRawPointer(y)
    let rd = UnsafeMutableRawPointer(dst)
    let zero = SIMD16<Float>()
    var i = 0
    while i &+ 16 <= count {
      let gv = rg.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
      let yv = ry.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
      rd.storeBytes(
        of: zero.replacing(with: gv, where: yv .> zero), toByteOffset: i &* 4,
        as: SIMD16<Float>.self)
      i &+= 16
    }
    while i < count {
      dst[i] = y[i] > 0 ? g[i] : 0
      i &+= 1
    }
  }

  /// Batch-norm's affine normalisation of one run of a channel:
  /// `xhat[i] = (x[i] − mean)·invStd`, `y[i] = gamma·xhat[i] + beta`.
  @inlinable
  public static func normalize(
    _ x: UnsafePointer<Float>, mean: Float, invStd: Float, gamma: Float, beta: Float,
    normalized xhat: UnsafeMutablePointer<Float>, output y: UnsafeMutablePointer<Float>,
    count: Int
  ) {
    let rx = UnsafeRawPointer(x)
    let rh = UnsafeMutableRawPointer(xhat)
    let ry = UnsafeMutableRawPointer(y)
    let (mu, iv) = (SIMD16<Float>(repeating: mean), SIMD16<Float>(repeating: invStd))
    let (g, b) = (SIMD16<Float>(repeating: gamma), SIMD16<Float>(repeating: beta))
    var i = 0
    while i &+ 16 <= count {
      let v = (rx.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self) - mu) * iv
      rh.storeBytes(of: v, toByteOffset: i &* 4, as: SIMD16<Float>.self)
      ry.storeBytes(of: g * v + b, toByteOffset: i &* 4, as: SIMD16<Float>.self)
      i &+= 16
    }
    while i < count {
      let v = (x[i] - mean) * invStd
      xhat[i] = v
      y[i] = gamma * v + beta
      i &+= 1
    }
  }

  /// `dst[i] = scale·(g[i] − a − h[i]·b)` (batch-norm's input gradient in training mode).
  @inlinable
  public static func scaledResidual(
    _ g: UnsafePointer<Float>, _ h: UnsafePointer<Float>, scale: Float, a: Float, b: Float,
    into dst: UnsafeMutablePointer<Float>, count: Int
  ) {
    let rg = UnsafeRawPointer(g)
    let rh = UnsafeRawPointer(h)
    let rd = UnsafeMutableRawPointer(dst)
    let (sv, av, bv) = (
      SIMD16<Float>(repeating: scale), SIMD16<Float>(repeating: a), SIMD16<Float>(repeating: b)
    )
    var i = 0
    while i &+ 16 <= count {
      let gv = rg.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
      let hv = rh.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
      rd.storeBytes(of: sv * (gv - av - hv * bv), toByteOffset: i &* 4, as: SIMD16<Float>.self)
      i &+= 16
    }
    while i < count {
      dst[i] = scale * (g[i] - a - h[i] * b)
      i &+= 1
    }
  }

  /// `dst[i] = src[i] + value` for `i < count`; `dst` may be `src`.
  @inlinable
  public static func add(
    _ src: UnsafePointer<Float>, scalar value: Float, into dst: UnsafeMutablePointer<Float>,
    count: Int
  ) {
    let rs = UnsafeRawPointer(src)
    let rd = UnsafeMutableRawPointer(dst)
    let v = SIMD16<Float>(repeating: value)
    var i = 0
    while i &+ 16 <= count {
      rd.storeBytes(
        of: rs.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self) + v,
        toByteOffset: i &* 4, as: SIMD16<Float>.self)
      i &+= 16
    }
    while i < count {
      dst[i] = src[i] + value
      i &+= 1
    }
  }

  /// `p[i] += value` for `i < count`.
  @inlinable
  public static func addScalar(_ value: Float, to p: UnsafeMutablePointer<Float>, count: Int) {
    add(UnsafePointer(p), scalar: value, into: p, count: count)
  }

  /// `dst[i] = scale·g[i]` for `i < count`; `dst` may be `g`.
  @inlinable
  public static func scale(
    _ g: UnsafePointer<Float>, by scale: Float, into dst: UnsafeMutablePointer<Float>, count: Int
  ) {
    let rg = UnsafeRawPointer(g)
    let rd = UnsafeMutableRawPointer(dst)
    let sv = SIMD16<Float>(repeating: scale)
    var i = 0
    while i &+ 16 <= count {
      rd.storeBytes(
        of: sv * rg.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self),
        toByteOffset: i &* 4, as: SIMD16<Float>.self)
      i &+= 16
    }
    while i < count {
      dst[i] = scale * g[i]
      i &+= 1
    }
  }

  /// `dst[i] = src[i]` for `i < count` (the ranges must not overlap). Short runs — the rows of a
  /// small feature map in im2col — are copied with a few vector moves instead of a `memmove`
  /// call, whose fixed cost exceeds the copy for a handful of floats.
  @inlinable @inline(__always)
  public static func copy(
    _ src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, count: Int
  ) {
    let rs = UnsafeRawPointer(src)
    let rd = UnsafeMutableRawPointer(dst)
    @inline(__always) func move<V: SIMD>(_: V.Type, at i: Int) where V.Scalar == Float {
      rd.storeBytes(
        of: rs.loadUnaligned(fromByteOffset: i &* 4, as: V.self), toByteOffset: i &* 4, as: V.self)
    }
    if count >= 64 {
      dst.update(from: src, count: count)
    } else if count >= 16 {
      var i = 0
      while i &+ 16 <= count {
        move(SIMD16<Float>.self, at: i)
        i &+= 16
      }
      if i < count { move(SIMD16<Float>.self, at: count &- 16) }
    } else if count >= 8 {
      move(SIMD8<Float>.self, at: 0)
      move(SIMD8<Float>.self, at: count &- 8)
    } else if count >= 4 {
      move(SIMD4<Float>.self, at: 0)
      move(SIMD4<Float>.self, at: count &- 4)
    } else {
      if count > 0 { dst[0] = src[0] }
      if count > 1 { dst[1] = src[1] }
      if count > 2 { dst[2] = src[2] }
    }
  }

  /// `dst[i] = 0` for `i < count`, without a `memset` call for short runs.
  @inlinable @inline(__always)
  public static func zero(_ dst: UnsafeMutablePointer<Float>, count: Int) {
    let rd = UnsafeMutableRawPointer(dst)
    @inline(__always) func clear<V: SIMD>(_: V.Type, at i: Int) where V.Scalar == Float {
      rd.storeBytes(of: V(), toByteOffset: i &* 4, as: V.self)
    }
    if count >= 64 {
      dst.update(repeating: 0, count: count)
    } else if count >= 16 {
      var i = 0
      while i &+ 16 <= count {
        clear(SIMD16<Float>.self, at: i)
        i &+= 16
      }
      if i < count { clear(SIMD16<Float>.self, at: count &- 16) }
    } else if count >= 8 {
      clear(SIMD8<Float>.self, at: 0)
      clear(SIMD8<Float>.self, at: count &- 8)
    } else if count >= 4 {
      clear(SIMD4<Float>.self, at: 0)
      clear(SIMD4<Float>.self, at: count &- 4)
    } else {
      if count > 0 { dst[0] = 0 }
      if count > 1 { dst[1] = 0 }
      if count > 2 { dst[2] = 0 }
    }
  }
}
