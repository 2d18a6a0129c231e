import Testing

@testable import NeuralNets
@testable import Tensors

/// The parallel loops (`Parallel`) against the single-threaded path: every module's output, input
/// gradient, parameter gradients and running statistics must be bitwise the same with 1, 2 and 3
/// threads (the work is split only where the split cannot change a result). Thread counts are
/// set for the test's own task (`Parallel.withThreads`), so other tests running at the same time
/// are not affected. `sgemm`'s own split (whose last bits may depend on the thread count, see
/// `BLAS.splitParts`) is switched off for the bitwise comparisons and checked separately. The
/// sizes are chosen so that every loop really splits (each task needs about 16 K floats).
@Suite struct ThreadedOpsTests {
  /// Bit patterns, so that NaN compares equal to itself and -0.0 differs from +0.0.
  static func bits(_ t: Tensor) -> [UInt32] { t.data.map(\.bitPattern) }

  /// Runs `body` with 1, 2 and 3 threads (GEMMs unsplit) and checks its results are bitwise
  /// equal.
  static func expectSameAtAnyThreadCount(
    _ label: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () -> [Tensor]
  ) {
    BLAS.$splitsProducts.withValue(false) {
      let reference = Parallel.withThreads(1) { body().map(bits) }
      for threads in [2, 3] {
        let result = Parallel.withThreads(threads) { body().map(bits) }
        #expect(result.count == reference.count, "\(label): \(threads) threads")
        for (i, (a, b)) in zip(result, reference).enumerated() {
          let differing = zip(a, b).filter { $0 != $1 }.count + abs(a.count - b.count)
          #expect(
            differing == 0,
            "\(label): result \(i) differs in \(differing) of \(b.count) entries at \(threads) threads",
            sourceLocation: sourceLocation)
        }
      }
    }
  }

  /// Forward and backward of a fresh module from `make`; returns output, input gradient, then
  /// the parameter gradients and the buffers.
  static func pass(_ make: () -> any Module, input: Tensor, training: Bool = true) -> [Tensor] {
    let m = make()
    m.zeroGrad()
    let y = m.forward(input, training: training)
    let gy = seededTensor(y.shape, seed: 77)
    let gx = m.backward(gy)
    return [y, gx] + m.parameters.map(\.grad) + m.buffers.map(\.value)
  }

  @Test func parallelRangesPartitionTheItems() {
    for threads in 1...4 {
      Parallel.withThreads(threads) {
        for count in [0, 1, 2, 3, 7, 64, 1001] {
          var hits = [Int](repeating: 0, count: count)
          hits.withUnsafeMutableBufferPointer { hp in
            let h = hp.baseAddress
            Parallel.forEach(count) { i in h![i] += 1 }
          }
          #expect(hits.allSatisfy { $0 == 1 }, "threads \(threads) count \(count)")
          #expect(
            Parallel.taskCount(count, grain: 1)
              == (threads == 1 ? 1 : max(1, min(Parallel.tasksPerThread * threads, count))))
        }
      }
    }
    #expect(Parallel.taskCount(100, grain: 60) == 1)
  }

  @Test func convolutionIsThreadIndependent() {
    // Chunked GEMMs (b > 1), a single-image chunk (b = 1), stride 2, no bias, "same" geometry.
    let cases: [(cin: Int, cout: Int, k: Int, stride: Int, pad: Int, bias: Bool, shape: [Int])] = [
      (3, 8, 3, 1, 1, true, [9, 3, 16, 16]),
      (6, 16, 5, 1, 0, true, [13, 6, 14, 14]),
      (4, 5, 3, 2, 1, false, [7, 4, 17, 15]),
      (64, 12, 3, 1, 1, true, [3, 64, 20, 20]),
    ]
    for (n, c) in cases.enumerated() {
      let x = seededTensor(c.shape, seed: UInt64(10 + n))
      Self.expectSameAtAnyThreadCount("conv case \(n)") {
        Self.pass(
          {
            var rng = SeededRNG(seed: UInt64(n))
            return Conv2d(
              inChannels: c.cin, outChannels: c.cout, kernel: c.k, stride: c.stride,
              padding: c.pad, bias: c.bias, name: "c", rng: &rng)
          }, input: x)
      }
    }
  }

  @Test func batchNormIsThreadIndependent() {
    for training in [true, false] {
      for shape in [[16, 24, 9, 9], [5, 32, 16, 16], [4096, 16]] {
        let x = seededTensor(shape, seed: 5, scale: 3)
        Self.expectSameAtAnyThreadCount("batch norm \(shape) training \(training)") {
          Self.pass(
            {
              let bn: BatchNorm =
                shape.count == 4
                ? BatchNorm2d(features: shape[1], name: "bn")
                : BatchNorm1d(features: shape[1], name: "bn")
              for (i, p) in bn.parameters.enumerated() {
                p.value = seededTensor(p.value.shape, seed: UInt64(20 + i))
              }
              bn.runningVar.value = Tensor(shape: [shape[1]], repeating: 1.5)
              return bn
            }, input: x, training: training)
        }
      }
    }
  }

  @Test func reluAndPoolingAreThreadIndependent() {
    var x = seededTensor([5, 16, 30, 30], seed: 9)
    // Ties and a NaN for the pooling's tie rule.
    x.data[0] = x.data[1]
    x.data[100] = .nan
    Self.expectSameAtAnyThreadCount("relu") { Self.pass({ ReLU() }, input: x) }
    Self.expectSameAtAnyThreadCount("max pool 2x2") {
      Self.pass({ MaxPool2d(kernel: 2) }, input: x)
    }
    Self.expectSameAtAnyThreadCount("max pool 3x3 stride 2") {
      Self.pass({ MaxPool2d(kernel: 3, stride: 2) }, input: x)
    }
  }

  /// Whole training steps of the benchmark's conv nets: the parameters after three SGD steps and
  /// the loss of each step are bitwise the same at any thread count.
  @Test func convNetTrainingStepsAreThreadIndependent() {
    let cases: [(name: String, make: () -> any Network, x: Tensor)] = [
      ("lenet5", { LeNet5(seed: 3) }, seededTensor([16, 1, 28, 28], seed: 4)),
      (
        "vgg11", { VGG(layout: .vgg11, widthMultiplier: 0.25, inputChannels: 1, seed: 3) },
        seededTensor([8, 1, 32, 32], seed: 4)
      ),
    ]
    for c in cases {
      let labels = (0..<c.x.shape[0]).map { $0 % 10 }
      Self.expectSameAtAnyThreadCount(c.name) {
        let model = c.make()
        var sgd = SGD(learningRate: 0.05, momentum: 0.9, weightDecay: 5e-4)
        var losses: [Float] = []
        for _ in 0..<3 {
          model.zeroGrad()
          let (loss, grad) = softmaxCrossEntropy(
            logits: model.forward(c.x, training: true), labels: labels)
          _ = model.backward(grad)
          sgd.step(model.parameters)
          losses.append(loss)
        }
        return [Tensor(shape: [3], data: losses)] + model.parameters.map(\.value)
          + model.buffers.map(\.value)
      }
    }
  }

  /// `sgemm` split over threads: every shape and transpose agrees with the unsplit product to
  /// rounding, and repeating a split product at the same thread count gives the same bits.
  @Test func splitProductsMatchAndRepeat() {
    let shapes: [(m: Int, n: Int, k: Int)] = [
      (6, 10192, 25), (150, 1700, 16), (64, 300, 784), (333, 97, 211),
    ]
    for (m, n, k) in shapes {
      for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        for beta: Float in [0, 1] {
          let a = seededTensor([m * k], seed: 1).data
          let b = seededTensor([k * n], seed: 2).data
          let c0 = seededTensor([m * n], seed: 3).data
          func product(threads: Int) -> [Float] {
            return Parallel.withThreads(threads) {
              if threads > 1 { #expect(BLAS.splitParts(m: m, n: n, k: k) > 1, "\(m)x\(n)x\(k)") }
              var c = c0
              a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                  c.withUnsafeMutableBufferPointer { cp in
                    BLAS.sgemm(
                      transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.5,
                      a: ap.baseAddress!, lda: ta ? m : k, b: bp.baseAddress!, ldb: tb ? k : n,
                      beta: beta, c: cp.baseAddress!, ldc: n)
                  }
                }
              }
              return c
            }
          }
          let single = product(threads: 1)
          let split = product(threads: 2)
          let worst = zip(single, split).map { abs($0 - $1) }.max() ?? 0
          #expect(worst < 1e-4 * Float(k), "\(m)x\(n)x\(k) \(ta) \(tb) beta \(beta): \(worst)")
          #expect(product(threads: 2).map(\.bitPattern) == split.map(\.bitPattern))
          #expect(product(threads: 3).map(\.bitPattern) == product(threads: 3).map(\.bitPattern))
        }
      }
    }
  }

  /// Training steps with the GEMMs split too: the same thread count gives the same bits, and
  /// 2 threads agree with 1 to rounding.
  @Test func convNetTrainingIsDeterministicPerThreadCount() {
    func train(threads: Int) -> [Float] {
      Parallel.withThreads(threads) {
        let model = LeNet5(seed: 3)
        let x = seededTensor([32, 1, 28, 28], seed: 4)
        let labels = (0..<32).map { $0 % 10 }
        var sgd = SGD(learningRate: 0.05, momentum: 0.9)
        var out: [Float] = []
        for _ in 0..<3 {
          model.zeroGrad()
          let (loss, grad) = softmaxCrossEntropy(
            logits: model.forward(x, training: true), labels: labels)
          _ = model.backward(grad)
          sgd.step(model.parameters)
          out.append(loss)
        }
        return out + model.parameters.flatMap(\.value.data)
      }
    }
    let two = train(threads: 2)
    #expect(train(threads: 2).map(\.bitPattern) == two.map(\.bitPattern))
    let one = train(threads: 1)
    let worst = zip(one, two).map { abs($0 - $1) }.max() ?? 0
    #expect(worst < 1e-4, "1 vs 2 threads: \(worst)")
  }

  /// The batched im2col / col2im (one call for several images) against one call per image,
  /// bitwise, on "same", valid, strided and padded geometries.
  @Test func batchedIm2colAndCol2imMatchPerImageCalls() {
    let geometries = [
      ConvGeometry(channels: 3, height: 8, width: 8, kernelH: 3, kernelW: 3, padH: 1, padW: 1),
      ConvGeometry(channels: 2, height: 14, width: 14, kernelH: 5, kernelW: 5),
      ConvGeometry(
        channels: 2, height: 9, width: 7, kernelH: 3, kernelW: 2, strideH: 2, strideW: 3, padH: 1,
        padW: 2),
      ConvGeometry(channels: 1, height: 2, width: 2, kernelH: 3, kernelW: 3, padH: 1, padW: 1),
    ]
    for (gi, g) in geometries.enumerated() {
      let count = 5
      let ld = count * g.outPlane + 3
      let x = seededTensor([count * g.imageSize], seed: UInt64(gi + 1)).data
      let gradCols = seededTensor([g.columnRows * ld], seed: UInt64(gi + 50)).data
      var one = [Float](repeating: .nan, count: g.columnRows * ld)
      var all = one
      x.withUnsafeBufferPointer { xp in
        one.withUnsafeMutableBufferPointer { op in
          for n in 0..<count {
            Im2col.im2col(
              xp.baseAddress! + n * g.imageSize, geometry: g,
              into: op.baseAddress! + n * g.outPlane,
              ld: ld)
          }
        }
        all.withUnsafeMutableBufferPointer { ap in
          Im2col.im2col(
            images: xp.baseAddress!, count: count, geometry: g, into: ap.baseAddress!, ld: ld)
        }
      }
      #expect(one.map(\.bitPattern) == all.map(\.bitPattern), "im2col geometry \(gi)")
      var perImage = [Float](repeating: 0.5, count: count * g.imageSize)
      var batched = perImage
      gradCols.withUnsafeBufferPointer { cp in
        perImage.withUnsafeMutableBufferPointer { ip in
          for n in 0..<count {
            Im2col.col2im(
              cp.baseAddress! + n * g.outPlane, ld: ld, geometry: g,
              addingInto: ip.baseAddress! + n * g.imageSize)
          }
        }
        batched.withUnsafeMutableBufferPointer { ip in
          Im2col.col2im(
            cp.baseAddress!, ld: ld, count: count, geometry: g, addingInto: ip.baseAddress!)
        }
      }
      #expect(
        perImage.map(\.bitPattern) == batched.map(\.bitPattern), "col2im geometry \(gi)")
    }
  }
}
