/// The shape arithmetic of a 2-D convolution or pooling window over one `[C, H, W]` image
/// (PyTorch's, dilation 1): `outHeight = (height + 2·padH − kernelH) / strideH + 1`, likewise
/// for the width.
public struct ConvGeometry: Sendable, Equatable {
  public let channels: Int
  public let height: Int
  public let width: Int
  public let kernelH: Int
  public let kernelW: Int
  public let strideH: Int
  public let strideW: Int
  public let padH: Int
  public let padW: Int

  public init(
    channels: Int, height: Int, width: Int, kernelH: Int, kernelW: Int, strideH: Int = 1,
    strideW: Int = 1, padH: Int = 0, padW: Int = 0
  ) {
    precondition(channels > 0 && height > 0 && width > 0, "ConvGeometry: empty image")
    precondition(kernelH > 0 && kernelW > 0, "ConvGeometry: kernel must be positive")
    precondition(strideH > 0 && strideW > 0, "ConvGeometry: stride must be positive")
    precondition(padH >= 0 && padW >= 0, "ConvGeometry: negative padding")
    precondition(
      height + 2 * padH >= kernelH && width + 2 * padW >= kernelW,
      "ConvGeometry: kernel \(kernelH)x\(kernelW) larger than padded image \(height)x\(width) + pad \(padH),\(padW)"
    )
    self.channels = channels
    self.height = height
    self.width = width
    self.kernelH = kernelH
    self.kernelW = kernelW
    self.strideH = strideH
    self.strideW = strideW
    self.padH = padH
    self.padW = padW
  }

  public var outHeight: Int { (height + 2 * padH - kernelH) / strideH + 1 }
  public var outWidth: Int { (width + 2 * padW - kernelW) / strideW + 1 }
  /// Output positions per image, `outHeight · outWidth`.
  public var outPlane: Int { outHeight * outWidth }
  /// Rows of the column matrix, `channels · kernelH · kernelW` (the GEMM's inner size K).
  public var columnRows: Int { channels * kernelH * kernelW }
  /// Elements of one input image, `channels · height · width`.
  public var imageSize: Int { channels * height * width }

  /// Calls `body` with `validRange` of every kernel row `i` (output rows) and kernel column `j`
  /// (output columns), computed once per call instead of once per channel (each costs two
  /// integer divisions, which add up over `C·kh·kw` rows per image).
  @inline(__always)
  func withValidRanges<R>(
    _ body: (UnsafeMutableBufferPointer<Range<Int>>, UnsafeMutableBufferPointer<Range<Int>>) -> R
  ) -> R {
    withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: kernelH + kernelW) { buffer in
      for i in 0..<kernelH {
        buffer.initializeElement(
          at: i,
          to: ConvGeometry.validRange(
            offset: i, pad: padH, stride: strideH, extent: height, count: outHeight))
      }
      for j in 0..<kernelW {
        buffer.initializeElement(
          at: kernelH + j,
          to: ConvGeometry.validRange(
            offset: j, pad: padW, stride: strideW, extent: width, count: outWidth))
      }
      return body(
        UnsafeMutableBufferPointer(rebasing: buffer[0..<kernelH]),
        UnsafeMutableBufferPointer(rebasing: buffer[kernelH...]))
    }
  }

  /// The output positions `o` (in `0..<count`) whose input coordinate `o·stride − pad + offset`
  /// lies in `0..<extent`.
  @inline(__always)
  static func validRange(offset: Int, pad: Int, stride: Int, extent: Int, count: Int) -> Range<Int>
  {
    // o·s − p + offset ≥ 0  ⇔  o ≥ ceil((p − offset) / s);  o·s − p + offset ≤ extent − 1.
    let lowNum = pad - offset
    let low = lowNum <= 0 ? 0 : (lowNum + stride - 1) / stride
    let highNum = extent - 1 + pad - offset
    let high = highNum < 0 ? 0 : min(count, highNum / stride + 1)
    return low < high ? low..<high : 0..<0
  }
}

/// The column ("unfolded") matrix of a convolution, as in Caffe and PyTorch's CPU path:
///
///     cols[(c·kh + i)·kw + j, p] = x[c, oh·sh − ph + i, ow·sw − pw + j]   (0 outside the image)
///
/// with `p = oh·outWidth + ow`. A convolution with weight `W[Cout, C·kh·kw]` is then the GEMM
/// `Y[Cout, p] = W · cols`. The row order is the row-major flattening of PyTorch's
/// `[Cout, Cin, kh, kw]` weight, so the weight's memory is the GEMM view unchanged.
///
/// Both functions address the columns of one image inside a wider matrix (leading dimension
/// `ld`), so a batch of N images fills one `[C·kh·kw, N·outPlane]` matrix and the whole batch is
/// one GEMM: image n's columns start at `cols + n·outPlane`.
public enum Im2col {
  /// Writes the `columnRows x outPlane` column block of `image` (`[C, H, W]`) at `cols`
  /// (leading dimension `ld ≥ outPlane`); every element of the block is written.
  public static func im2col(
    _ image: UnsafePointer<Float>, geometry g: ConvGeometry, into cols: UnsafeMutablePointer<Float>,
    ld: Int
  ) {
    im2col(images: image, count: 1, geometry: g, into: cols, ld: ld)
  }

  /// `im2col` of `count` consecutive images (`[count, C, H, W]` at `images`) into consecutive
  /// column blocks (image `n`'s at `cols + n·outPlane`): the same entries as `count` calls of
  /// `im2col`, with each column row's set-up done once for all the images.
  public static func im2col(
    images: UnsafePointer<Float>, count: Int, geometry g: ConvGeometry,
    into cols: UnsafeMutablePointer<Float>, ld: Int
  ) {
    precondition(ld >= count * g.outPlane, "im2col: ld \(ld) < \(count) x \(g.outPlane)")
    let oh = g.outHeight
    let ow = g.outWidth
    let sh = g.strideH
    let sw = g.strideW
    let w = g.width
    g.withValidRanges { rowRanges, colRanges in
      let (planeSize, imageSize, outPlane) = (g.height * w, g.imageSize, g.outPlane)
      for c in 0..<g.channels {
        for i in 0..<g.kernelH {
          let rows = rowRanges[i]
          for j in 0..<g.kernelW {
            let rowBase = cols + ((c * g.kernelH + i) * g.kernelW + j) * ld
            let colsRange = colRanges[j]
            let (lo, hi) = (colsRange.lowerBound, colsRange.upperBound)
            for n in 0..<count {
              let plane = images + n * imageSize + c * planeSize
              let row = rowBase + n * outPlane
              if rows.lowerBound > 0 { Vectorized.zero(row, count: rows.lowerBound * ow) }
              if rows.upperBound < oh {
                Vectorized.zero(row + rows.upperBound * ow, count: (oh - rows.upperBound) * ow)
              }
              guard lo < hi else {
                Vectorized.zero(row + rows.lowerBound * ow, count: rows.count * ow)
                continue
              }
              if sh == 1 && sw == 1 && ow == w && !rows.isEmpty {
                // "Same" geometry: the row is the plane shifted by `shift` floats, so the valid part
                // is one contiguous copy; the columns a row shift wraps into (x < lo, x >= hi) are
                // then set to 0.
                let shift = (i - g.padH) * w + (j - g.padW)
                let first = rows.lowerBound * ow + lo
                let end = (rows.upperBound - 1) * ow + hi
                Vectorized.copy(
                  UnsafePointer(plane + first + shift), to: row + first, count: end - first)
                for y in rows {
                  if lo == 1 {
                    row[y * ow] = 0
                  } else if lo > 0 {
                    Vectorized.zero(row + y * ow, count: lo)
                  }
                  if hi == ow - 1 {
                    row[y * ow + hi] = 0
                  } else if hi < ow {
                    Vectorized.zero(row + y * ow + hi, count: ow - hi)
                  }
                }
                continue
              }
              for y in rows {
                let dst = row + y * ow
                let src = UnsafePointer(plane + (y * sh - g.padH + i) * w - g.padW + j)
                if lo > 0 { Vectorized.zero(dst, count: lo) }
                if sw == 1 {
                  Vectorized.copy(src + lo, to: dst + lo, count: hi - lo)
                } else {
                  var x = lo
                  while x < hi {
                    dst[x] = src[x &* sw]
                    x &+= 1
                  }
                }
                if hi < ow { Vectorized.zero(dst + hi, count: ow - hi) }
              }
            }
          }
        }
      }
    }
  }

  /// `col2im` for a column matrix that is no longer needed: the same sums, faster for "same"
  /// convolutions (stride 1, output width = input width), whose rows it adds to the image as one
  /// contiguous run each after zeroing the entries that fell on the padding — so those entries of
  /// `cols` are overwritten with 0 (the others are left alone).
  public static func col2im(
    consuming cols: UnsafeMutablePointer<Float>, ld: Int, geometry g: ConvGeometry,
    addingInto image: UnsafeMutablePointer<Float>
  ) {
    col2im(consuming: cols, ld: ld, count: 1, geometry: g, addingInto: image)
  }

  /// The consuming `col2im` of `count` consecutive column blocks (image `n`'s at
  /// `cols + n·outPlane`) into `count` consecutive images at `images`: the same sums, in the same
  /// order per image, as `count` calls, with each column row's set-up done once.
  public static func col2im(
    consuming cols: UnsafeMutablePointer<Float>, ld: Int, count: Int, geometry g: ConvGeometry,
    addingInto images: UnsafeMutablePointer<Float>
  ) {
    let ow = g.outWidth
    let w = g.width
    guard g.strideH == 1 && g.strideW == 1 && ow == w else {
      col2im(UnsafePointer(cols), ld: ld, count: count, geometry: g, addingInto: images)
      return
    }
    precondition(ld >= count * g.outPlane, "col2im: ld \(ld) < \(count) x \(g.outPlane)")
    let (planeSize, imageSize, outPlane) = (g.height * w, g.imageSize, g.outPlane)
    g.withValidRanges { rowRanges, colRanges in
      for c in 0..<g.channels {
        for i in 0..<g.kernelH {
          let rows = rowRanges[i]
          if rows.isEmpty { continue }
          for j in 0..<g.kernelW {
            let rowBase = cols + ((c * g.kernelH + i) * g.kernelW + j) * ld
            let colsRange = colRanges[j]
            if colsRange.isEmpty { continue }
            let (lo, hi) = (colsRange.lowerBound, colsRange.upperBound)
            let shift = (i - g.padH) * w + (j - g.padW)
            let first = rows.lowerBound * ow + lo
            let end = (rows.upperBound - 1) * ow + hi
            for n in 0..<count {
              let row = rowBase + n * outPlane
              let plane = images + n * imageSize + c * planeSize
              for y in rows {
                if lo == 1 {
                  row[y * ow] = 0
                } else if lo > 0 {
                  Vectorized.zero(row + y * ow, count: lo)
                }
                if hi == ow - 1 {
                  row[y * ow + hi] = 0
                } else if hi < ow {
                  Vectorized.zero(row + y * ow + hi, count: ow - hi)
                }
              }
              addInPlace(plane + first + shift, row + first, count: end - first)
            }
          }
        }
      }
    }
  }

  /// The adjoint of `im2col`: adds every column entry back into the image pixel it was read from
  /// (`image[c, y·sh − ph + i, x·sw − pw + j] += cols[(c·kh + i)·kw + j, y·outWidth + x]`); entries
  /// that fell on the padding are dropped. `image` is accumulated into, not overwritten.
  public static func col2im(
    _ cols: UnsafePointer<Float>, ld: Int, geometry g: ConvGeometry,
    addingInto image: UnsafeMutablePointer<Float>
  ) {
    col2im(cols, ld: ld, count: 1, geometry: g, addingInto: image)
  }

  /// `col2im` of `count` consecutive column blocks (image `n`'s at `cols + n·outPlane`) into
  /// `count` consecutive images at `images`: the same sums, in the same order per image, as
  /// `count` calls, with each column row's set-up done once.
  public static func col2im(
    _ cols: UnsafePointer<Float>, ld: Int, count: Int, geometry g: ConvGeometry,
    addingInto images: UnsafeMutablePointer<Float>
  ) {
    precondition(ld >= count * g.outPlane, "col2im: ld \(ld) < \(count) x \(g.outPlane)")
    let ow = g.outWidth
    let sh = g.strideH
    let sw = g.strideW
    let w = g.width
    let (planeSize, imageSize, outPlane) = (g.height * w, g.imageSize, g.outPlane)
    g.withValidRanges { rowRanges, colRanges in
      for c in 0..<g.channels {
        for i in 0..<g.kernelH {
          let rows = rowRanges[i]
          for j in 0..<g.kernelW {
            let rowBase = cols + ((c * g.kernelH + i) * g.kernelW + j) * ld
            let colsRange = colRanges[j]
            if colsRange.isEmpty { continue }
            let (lo, hi) = (colsRange.lowerBound, colsRange.upperBound)
            for n in 0..<count {
              let row = rowBase + n * outPlane
              let plane = images + n * imageSize + c * planeSize
              for y in rows {
                let src = row + y * ow
                let dst = plane + (y * sh - g.padH + i) * w - g.padW + j
                if sw == 1 {
                  addInPlace(dst + lo, src + lo, count: hi - lo)
                } else {
                  var x = lo
                  while x < hi {
                    dst[x &* sw] += src[x]
                    x &+= 1
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

/// `dst[i] += src[i]` for `i < count` in 8-wide vectors (the pointers may not alias, which the
/// compiler cannot know, so it would not vectorise the plain loop).
@inline(__always)
public func addInPlace(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, count: Int)
{
  var i = 0
  let d = UnsafeMutableRawPointer(dst)
  let s = UnsafeRawPointer(src)
  while i &+ 8 <= count {
    let a = d.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
    let b = s.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
    d.storeBytes(of: a + b, toByteOffset: i &* 4, as: SIMD8<Float>.self)
    i &+= 8
  }
  while i < count {
    dst[i] += src[i]
    i &+= 1
  }
}
