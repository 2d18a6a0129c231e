import Testing

@testable import NeuralNets
@testable import Tensors

/// Direct Double convolution `y[n, o, i, j] = b[o] + Σ_{c,p,q} w[o, c, p, q] · x[n, c, i·s − pad + p, j·s − pad + q]`.
func referenceConv(
  _ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int
) -> [Double] {
  let (n, cin, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
  let (cout, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
  let oh = (h + 2 * padding - kh) / stride + 1
  let ow = (w + 2 * padding - kw) / stride + 1
  var y = [Double](repeating: 0, count: n * cout * oh * ow)
  for b in 0..<n {
    for o in 0..<cout {
      for i in 0..<oh {
        for j in 0..<ow {
          var s = bias.map { Double($0.data[o]) } ?? 0
          for c in 0..<cin {
            for p in 0..<kh {
              for q in 0..<kw {
                let r = i * stride - padding + p
                let t = j * stride - padding + q
                guard r >= 0, r < h, t >= 0, t < w else { continue }
                s +=
                  Double(weight.data[((o * cin + c) * kh + p) * kw + q])
                  * Double(x.data[((b * cin + c) * h + r) * w + t])
              }
            }
          }
          y[((b * cout + o) * oh + i) * ow + j] = s
        }
      }
    }
  }
  return y
}

@Suite struct ConvTests {
  @Test func im2colAndCol2imAreAdjoint() {
    // <im2col(x), c> = <x, col2im(c)> for every geometry: col2im is im2col's transpose.
    for (k, s, p) in [(3, 1, 1), (3, 2, 1), (2, 2, 0), (5, 1, 2), (1, 2, 0), (3, 3, 2)] {
      let g = ConvGeometry(
        channels: 2, height: 7, width: 6, kernelH: k, kernelW: k, strideH: s, strideW: s, padH: p,
        padW: p)
      let x = seededTensor([g.imageSize], seed: 1)
      let c = seededTensor([g.columnRows * g.outPlane], seed: 2)
      var cols = [Float](repeating: .nan, count: g.columnRows * g.outPlane)
      var back = [Float](repeating: 0, count: g.imageSize)
      x.data.withUnsafeBufferPointer { xp in
        cols.withUnsafeMutableBufferPointer { cp in
          Im2col.im2col(xp.baseAddress!, geometry: g, into: cp.baseAddress!, ld: g.outPlane)
        }
      }
      c.data.withUnsafeBufferPointer { cp in
        back.withUnsafeMutableBufferPointer { bp in
          Im2col.col2im(cp.baseAddress!, ld: g.outPlane, geometry: g, addingInto: bp.baseAddress!)
        }
      }
      #expect(!cols.contains { $0.isNaN }, "im2col left entries unwritten (k\(k) s\(s) p\(p))")
      let lhs = zip(cols, c.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
      let rhs = zip(x.data, back).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
      #expect(
        abs(lhs - rhs) < 1e-9 * max(1, abs(lhs)) + 1e-4, "k\(k) s\(s) p\(p): \(lhs) vs \(rhs)")
    }
  }

  @Test func convForwardMatchesDirectConvolution() {
    for (k, s, p, bias) in [(3, 1, 1, true), (3, 2, 1, false), (5, 1, 2, true), (1, 2, 0, true)] {
      var rng = SeededRNG(seed: 3)
      let conv = Conv2d(
        inChannels: 3, outChannels: 4, kernel: k, stride: s, padding: p, bias: bias, name: "c",
        rng: &rng)
      let x = seededTensor([2, 3, 9, 8], seed: 4)
      let y = conv.forward(x, training: true)
      let ref = referenceConv(
        x, weight: conv.weight.value, bias: conv.bias?.value, stride: s, padding: p)
      #expect(y.shape == [2, 4, (9 + 2 * p - k) / s + 1, (8 + 2 * p - k) / s + 1])
      #expect(y.count == ref.count)
      for i in 0..<y.count {
        #expect(abs(Double(y.data[i]) - ref[i]) < 1e-5, "k\(k) s\(s) p\(p) [\(i)]")
      }
    }
  }

  @Test func convNamesInitAndGEMMView() {
    var rng = SeededRNG(seed: 5)
    let conv = Conv2d(
      inChannels: 8, outChannels: 16, kernel: 3, padding: 1, name: "features.0", rng: &rng)
    #expect(conv.parameters.map(\.name) == ["features.0.weight", "features.0.bias"])
    #expect(conv.weight.shape == [16, 8, 3, 3])
    let bound = 1 / Float(72).squareRoot()
    for p in conv.parameters {
      #expect(p.value.data.allSatisfy { abs($0) <= bound })
      #expect(p.value.data.max()! > 0.7 * bound && p.value.data.min()! < -0.7 * bound)
    }
    let g = GEMMWeight(conv: conv)
    #expect(g.name == "features.0" && g.rows == 16 && g.cols == 72)
    var rng2 = SeededRNG(seed: 5)
    let noBias = Conv2d(
      inChannels: 8, outChannels: 16, kernel: 3, bias: false, name: "conv1", rng: &rng2)
    #expect(noBias.parameters.map(\.name) == ["conv1.weight"])
    #expect(noBias.weight.value == conv.weight.value)  // same draws for the weight
  }

  @Test(arguments: [(3, 1, 1, true), (3, 2, 1, true), (2, 2, 0, false), (3, 2, 0, true)])
  func convGradients(kernel: Int, stride: Int, padding: Int, bias: Bool) {
    var rng = SeededRNG(seed: 11)
    let conv = Conv2d(
      inChannels: 2, outChannels: 3, kernel: kernel, stride: stride, padding: padding, bias: bias,
      name: "c", rng: &rng)
    let x = seededTensor([2, 2, 6, 5], seed: 12)
    // Linear in x and in θ: central differences are exact up to rounding (h = 0.5 keeps the
    // rounding error ≈ 6e-8 · Σ|r·y| / h far below 1e-3).
    let checked = GradientChecker(h: 0.5).check(
      "conv k\(kernel) s\(stride) p\(padding)", parameters: conv.parameters, input: x,
      forward: { conv.forward($0, training: true) }, backward: { conv.backward($0) })
    #expect(checked == x.count + conv.parameterCount)
  }

  @Test func convBackwardAccumulatesAndCanSkipInputGradient() {
    var rng = SeededRNG(seed: 13)
    let conv = Conv2d(inChannels: 2, outChannels: 3, kernel: 3, padding: 1, name: "c", rng: &rng)
    let x = seededTensor([2, 2, 5, 5], seed: 14)
    let r = seededTensor([2, 3, 5, 5], seed: 15)
    conv.zeroGrad()
    _ = conv.forward(x, training: true)
    let gx = conv.backward(r)
    let once = conv.weight.grad.data
    _ = conv.forward(x, training: true)
    conv.computesInputGradient = false
    let skipped = conv.backward(r)
    #expect(skipped.shape == x.shape && skipped.data.allSatisfy { $0 == 0 })
    #expect(gx.data.contains { $0 != 0 })
    for i in once.indices {
      #expect(abs(conv.weight.grad.data[i] - 2 * once[i]) <= 1e-5 * (1 + abs(once[i])))
    }
  }

  @Test func maxPoolForwardBackwardAndGradients() {
    let pool = MaxPool2d(kernel: 2)
    let y = pool.forward(
      Tensor(shape: [1, 1, 2, 4], data: [1, 5, 2, 2, 3, 4, 8, -1]), training: true)
    #expect(y.shape == [1, 1, 1, 2] && y.data == [5, 8])
    #expect(
      pool.backward(Tensor(shape: [1, 1, 1, 2], data: [1, 2])).data == [0, 1, 0, 0, 0, 0, 2, 0])
    // Ties go to the first maximum in row-major order, as in PyTorch.
    _ = pool.forward(Tensor(shape: [1, 1, 2, 2], data: [3, 3, 3, 3]), training: true)
    #expect(pool.backward(Tensor(shape: [1, 1, 1, 1], data: [1])).data == [1, 0, 0, 0])

    // Distinct values 0.01 apart: no window has a tie within 2h = 2e-3, so no kink is crossed.
    for (k, s) in [(2, 2), (3, 2), (2, 1)] {
      var rng = SeededRNG(seed: 21)
      let perm = rng.permutation(2 * 2 * 7 * 6)
      let x = Tensor(shape: [2, 2, 7, 6], data: perm.map { Float($0) * 0.01 - 1 })
      let p = MaxPool2d(kernel: k, stride: s)
      GradientChecker(h: 1e-3).check(
        "maxpool k\(k) s\(s)", parameters: [], input: x,
        forward: { p.forward($0, training: true) }, backward: { p.backward($0) })
    }
  }

  @Test func averagePoolsAndFlatten() {
    let avg = AvgPool2d(kernel: 2)
    let y = avg.forward(
      Tensor(shape: [1, 1, 2, 4], data: [1, 5, 2, 2, 3, 4, 8, -1]), training: true)
    #expect(y.data == [3.25, 2.75])
    let x = seededTensor([2, 3, 7, 6], seed: 22)
    for (k, s) in [(2, 2), (3, 2), (3, 1)] {
      let p = AvgPool2d(kernel: k, stride: s)
      GradientChecker(h: 0.5).check(
        "avgpool k\(k) s\(s)", parameters: [], input: x,
        forward: { p.forward($0, training: true) }, backward: { p.backward($0) })
    }
    let gap = AdaptiveAvgPool2d(outputSize: 1)
    let g = gap.forward(x, training: true)
    #expect(g.shape == [2, 3, 1, 1])
    let mean0 = x.data[0..<42].reduce(0.0) { $0 + Double($1) } / 42
    #expect(abs(Double(g.data[0]) - mean0) < 1e-6)
    for o in [1, 2, 3, 4] {
      let a = AdaptiveAvgPool2d(outputSize: o)
      GradientChecker(h: 0.5).check(
        "adaptive avg \(o)", parameters: [], input: x,
        forward: { a.forward($0, training: true) }, backward: { a.backward($0) })
    }
    // 7 rows to 3 cells: PyTorch's windows [0, 3), [2, 5), [4, 7).
    #expect(
      (0..<3).map { AdaptiveAvgPool2d.window($0, extent: 7, out: 3) } == [0..<3, 2..<5, 4..<7])
    let flat = Flatten()
    let f = flat.forward(x, training: true)
    #expect(f.shape == [2, 126] && f.data == x.data)
    #expect(flat.backward(f).shape == x.shape)
  }

  @Test func dropoutMaskScalingEvalAndGradients() {
    let d = Dropout(p: 0.25, seed: 3)
    let x = seededTensor([4, 50], seed: 31)
    let y = d.forward(x, training: true)
    let mask = d.lastMask!
    #expect(mask.allSatisfy { $0 == 0 || $0 == Float(1) / 0.75 })
    let dropped = mask.filter { $0 == 0 }.count
    #expect(dropped > 25 && dropped < 75)  // ≈ 50 of 200
    for i in 0..<x.count { #expect(y.data[i] == (mask[i] == 0 ? 0 : x.data[i] * mask[i])) }
    #expect(d.forward(x, training: false) == x)
    #expect(d.backward(y) == y)  // identity after an eval forward
    // Same seed, same masks.
    let d2 = Dropout(p: 0.25, seed: 3)
    _ = d2.forward(x, training: true)
    #expect(d2.lastMask == mask)
    // With the mask fixed the layer is linear.
    let small = seededTensor([2, 10], seed: 32)
    _ = d.forward(small, training: true)
    let fixed = d.lastMask!
    GradientChecker(h: 0.5).check(
      "dropout", parameters: [], input: small, forward: { d.forward($0, mask: fixed) },
      backward: { d.backward($0) })
  }

  @Test func basicBlockGradients() {
    // Train-mode BN inside, ReLU kinks skipped (see `GradientChecker.skipKinks`); the tolerance
    // (2e-3 + 1e-2 relative) covers Float rounding of ≈ 6e-8 · Σ|r·y| / h ≈ 1e-4 here and the
    // O(h²) truncation of BN's curvature on maps of only 8 values per channel.
    for (inPlanes, planes, stride, shortcut) in [
      (2, 2, 1, BasicBlock.Shortcut.zeroPad), (2, 4, 2, .zeroPad), (2, 4, 2, .projection),
    ] {
      var rng = SeededRNG(seed: 41)
      let block = BasicBlock(
        inPlanes: inPlanes, planes: planes, stride: stride, shortcut: shortcut, name: "layer1.0",
        rng: &rng)
      let x = seededTensor([2, inPlanes, 4, 4], seed: 42)
      GradientChecker(h: 1e-3, absTolerance: 2e-3, relTolerance: 1e-2, skipKinks: true).check(
        "block \(inPlanes)->\(planes) s\(stride) \(shortcut)", parameters: block.parameters,
        input: x,
        forward: { block.forward($0, training: true) }, backward: { block.backward($0) })
    }
  }

  @Test func basicBlockNamesAndShortcuts() {
    var rng = SeededRNG(seed: 1)
    let a = BasicBlock(inPlanes: 4, planes: 8, stride: 2, name: "layer2.0", rng: &rng)
    #expect(
      a.parameters.map(\.name) == [
        "layer2.0.conv1.weight", "layer2.0.bn1.weight", "layer2.0.bn1.bias",
        "layer2.0.conv2.weight",
        "layer2.0.bn2.weight", "layer2.0.bn2.bias",
      ])
    #expect(a.buffers.map(\.name).first == "layer2.0.bn1.running_mean")
    // Option A: x[:, :, ::2, ::2] lands in channels 2..<6 of 8. With the main path's conv2
    // weights zeroed, the main path is bn2(0) = bias = 0, so the block is ReLU(shortcut).
    a.conv2.weight.value = Tensor(zeros: a.conv2.weight.shape)
    let x = Tensor(shape: [1, 4, 2, 2], data: (0..<16).map { Float($0 + 1) })
    let y = a.forward(x, training: false)
    #expect(y.shape == [1, 8, 1, 1])
    #expect(y.data == [0, 0, 1, 5, 9, 13, 0, 0])
    var rng2 = SeededRNG(seed: 1)
    let b = BasicBlock(
      inPlanes: 4, planes: 8, stride: 2, shortcut: .projection, name: "layer2.0", rng: &rng2)
    #expect(
      b.parameters.map(\.name).suffix(3) == [
        "layer2.0.shortcut.0.weight", "layer2.0.shortcut.1.weight", "layer2.0.shortcut.1.bias",
      ])
    #expect(
      b.convolutions.map { GEMMWeight(conv: $0).name } == [
        "layer2.0.conv1", "layer2.0.conv2", "layer2.0.shortcut.0",
      ])
  }
}
