import Testing

@testable import NeuralNets
@testable import Tensors

/// The vectorised and special-cased kernels against their plain definitions: every length around
/// the vector widths, the "same"-geometry im2col/col2im runs, and 2x2 max pooling (ties, NaN).
@Suite struct FastPathTests {
  @Test func vectorizedKernelsMatchScalarLoops() {
    for count in 0...70 {
      let a = seededTensor([max(count, 1)], seed: UInt64(count + 1)).data
      let b = seededTensor([max(count, 1)], seed: UInt64(count + 100)).data
      a.withUnsafeBufferPointer { ap in
        b.withUnsafeBufferPointer { bp in
          let pa = ap.baseAddress!
          let pb = bp.baseAddress!
          var s = 0.0
          var d = 0.0
          var q = 0.0
          for i in 0..<count {
            s += Double(pa[i])
            d += Double(pa[i]) * Double(pb[i])
            q += Double(pa[i] - 0.25) * Double(pa[i] - 0.25)
          }
          #expect(abs(Double(Vectorized.sum(pa, count: count)) - s) < 1e-4, "sum \(count)")
          let (vs, vd) = Vectorized.sumAndDot(pa, pb, count: count)
          #expect(abs(Double(vs) - s) < 1e-4 && abs(Double(vd) - d) < 1e-4, "sumAndDot \(count)")
          #expect(
            abs(Double(Vectorized.sumOfSquaredDeviations(pa, mean: 0.25, count: count)) - q)
              < 1e-4, "squared deviations \(count)")
          // Element-wise kernels write exactly `count` elements.
          var out = [Float](repeating: 7, count: count + 1)
          out.withUnsafeMutableBufferPointer { op in
            Vectorized.relu(pa, into: op.baseAddress!, count: count)
          }
          #expect(out.prefix(count) == a.prefix(count).map { $0 > 0 ? $0 : 0 }[...])
          #expect(out[count] == 7)
          out.withUnsafeMutableBufferPointer { op in
            Vectorized.reluGradient(pb, output: pa, into: op.baseAddress!, count: count)
          }
          #expect(out.prefix(count) == zip(a, b).prefix(count).map { $0.0 > 0 ? $0.1 : 0 }[...])
          #expect(out[count] == 7)
          out.withUnsafeMutableBufferPointer { op in
            Vectorized.copy(pa, to: op.baseAddress!, count: count)
          }
          #expect(out.prefix(count) == a.prefix(count))
          #expect(out[count] == 7)
          out.withUnsafeMutableBufferPointer { op in Vectorized.zero(op.baseAddress!, count: count)
          }
          #expect(out.prefix(count).allSatisfy { $0 == 0 } && out[count] == 7)
        }
      }
    }
  }

  @Test func reluKeepsNaNAsZero() {
    let x = Tensor(shape: [3], data: [.nan, -1, 2])
    let relu = ReLU()
    #expect(relu.forward(x, training: true).data == [0, 0, 2])
    #expect(relu.backward(Tensor(shape: [3], data: [5, 6, 7])).data == [0, 0, 7])
  }

  /// im2col by its definition.
  func referenceIm2col(_ x: [Float], _ g: ConvGeometry) -> [Float] {
    var cols = [Float](repeating: 0, count: g.columnRows * g.outPlane)
    for c in 0..<g.channels {
      for i in 0..<g.kernelH {
        for j in 0..<g.kernelW {
          for y in 0..<g.outHeight {
            for xo in 0..<g.outWidth {
              let r = y * g.strideH - g.padH + i
              let t = xo * g.strideW - g.padW + j
              let v =
                (r >= 0 && r < g.height && t >= 0 && t < g.width)
                ? x[(c * g.height + r) * g.width + t] : 0
              cols[((c * g.kernelH + i) * g.kernelW + j) * g.outPlane + y * g.outWidth + xo] = v
            }
          }
        }
      }
    }
    return cols
  }

  /// col2im by its definition: each column entry added to its pixel, in column-row order.
  func referenceCol2im(_ cols: [Float], ld: Int, _ g: ConvGeometry, into image: inout [Float]) {
    for c in 0..<g.channels {
      for i in 0..<g.kernelH {
        for j in 0..<g.kernelW {
          for y in 0..<g.outHeight {
            for xo in 0..<g.outWidth {
              let r = y * g.strideH - g.padH + i
              let t = xo * g.strideW - g.padW + j
              guard r >= 0 && r < g.height && t >= 0 && t < g.width else { continue }
              image[(c * g.height + r) * g.width + t] +=
                cols[((c * g.kernelH + i) * g.kernelW + j) * ld + y * g.outWidth + xo]
            }
          }
        }
      }
    }
  }

  @Test func im2colAndCol2imMatchTheirDefinitionsBitwise() {
    // (kernel, pad, stride, height, width): "same" convolutions with rows of the vector widths
    // (2, 4, 8, 16) and others, valid and strided ones, and a 1x1 kernel.
    for (k, p, s, h, w) in [
      (3, 1, 1, 2, 2), (3, 1, 1, 4, 4), (3, 1, 1, 8, 8), (3, 1, 1, 16, 16), (3, 1, 1, 5, 20),
      (5, 2, 1, 7, 33), (5, 0, 1, 9, 9), (3, 0, 1, 6, 6), (3, 1, 2, 9, 9), (1, 0, 2, 6, 6),
      (1, 0, 1, 4, 5), (2, 1, 3, 7, 8),
    ] {
      let g = ConvGeometry(
        channels: 2, height: h, width: w, kernelH: k, kernelW: k, strideH: s, strideW: s, padH: p,
        padW: p)
      let x = seededTensor([g.imageSize], seed: 5).data
      let ld = g.outPlane + 3  // a column block inside a wider matrix
      var cols = [Float](repeating: .nan, count: g.columnRows * ld)
      x.withUnsafeBufferPointer { xp in
        cols.withUnsafeMutableBufferPointer { cp in
          Im2col.im2col(xp.baseAddress!, geometry: g, into: cp.baseAddress!, ld: ld)
        }
      }
      let ref = referenceIm2col(x, g)
      var got: [Float] = []
      for r in 0..<g.columnRows { got += cols[(r * ld)..<(r * ld + g.outPlane)] }
      #expect(got == ref, "im2col k\(k) p\(p) s\(s) \(h)x\(w)")
      // The last 3 floats of each row are not the block's: col2im must not read them.
      var c = seededTensor([g.columnRows * ld], seed: 6).data
      for r in 0..<g.columnRows { for e in (r * ld + g.outPlane)..<(r * ld + ld) { c[e] = .nan } }
      let start = seededTensor([g.imageSize], seed: 7).data
      var expected = start
      referenceCol2im(c, ld: ld, g, into: &expected)
      var image = start
      c.withUnsafeBufferPointer { cp in
        image.withUnsafeMutableBufferPointer { ip in
          Im2col.col2im(cp.baseAddress!, ld: ld, geometry: g, addingInto: ip.baseAddress!)
        }
      }
      #expect(
        image.map(\.bitPattern) == expected.map(\.bitPattern),
        "col2im k\(k) p\(p) s\(s) \(h)x\(w)")
    }
  }

  @Test func maxPool2x2MatchesTheGeneralRule() {
    // Rows of 11 windows (8 + an overlapping 8), 8, 5 (4 + an overlapping 4) and 3 (scalar),
    // with ties and NaNs.
    for w in [22, 16, 10, 6] {
      maxPool2x2(n: 2, c: 3, h: 6, w: w)
    }
    // Odd planes: the last row and column are in no window (their gradient is 0).
    maxPool2x2(n: 2, c: 3, h: 7, w: 9)
    maxPool2x2(n: 1, c: 2, h: 5, w: 17)
  }

  func maxPool2x2(n: Int, c: Int, h: Int, w: Int) {
    var x = seededTensor([n, c, h, w], seed: 9)
    for i in stride(from: 0, to: x.count - 1, by: 7) { x.data[i] = x.data[i + 1] }  // ties
    x.data[3] = .nan
    x.data[50] = .nan
    x.data[51] = .nan
    let pool = MaxPool2d(kernel: 2)
    let y = pool.forward(x, training: true)
    let gy = seededTensor(y.shape, seed: 10)
    let gx = pool.backward(gy)
    let (oh, ow) = (h / 2, w / 2)
    var expectY: [Float] = []
    var expectGX = [Float](repeating: 0, count: x.count)
    for plane in 0..<(n * c) {
      for oy in 0..<oh {
        for ox in 0..<ow {
          var best = plane * h * w + 2 * oy * w + 2 * ox
          for (i, j) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            let at = plane * h * w + (2 * oy + i) * w + 2 * ox + j
            let v = x.data[at]
            let b = x.data[best]
            if v > b || (v.isNaN && !b.isNaN) { best = at }
          }
          expectY.append(x.data[best])
          expectGX[best] += gy.data[(plane * oh + oy) * ow + ox]
        }
      }
    }
    #expect(y.shape == [n, c, oh, ow])
    #expect(zip(y.data, expectY).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) })
    #expect(gx.data == expectGX)
  }
}
