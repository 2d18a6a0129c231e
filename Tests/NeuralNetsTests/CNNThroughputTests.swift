import Foundation
import Testing

@testable import NeuralNets
@testable import Tensors

/// Training throughput of the CNNs with one BLAS thread and the share of the step spent inside
/// sgemm. Not a test (no assertion on speed): run in release with
/// `BLKREW_CNN_BENCH=1 swift test -c release --filter CNNThroughput`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["BLKREW_CNN_BENCH"] == "1"))
struct CNNThroughput {
  func measure(_ name: String, _ model: any Network, input: [Int], repeats: Int = 7) {
    let x = seededTensor(input, seed: 1)
    let labels = (0..<input[0]).map { $0 % 10 }
    var sgd = SGD(learningRate: 0.01, momentum: 0.9)
    func step() {
      model.zeroGrad()
      let (_, g) = softmaxCrossEntropy(logits: model.forward(x, training: true), labels: labels)
      _ = model.backward(g)
      sgd.step(model.parameters)
    }
    step()
    step()  // warm-up: buffers allocated, caches and OpenBLAS initialised
    var times: [Double] = []
    var gemmShare: [Double] = []
    for _ in 0..<repeats {
      BLAS.Profiler.reset()
      BLAS.Profiler.isEnabled = true
      let t0 = BLAS.Profiler.now()
      step()
      let t = BLAS.Profiler.now() - t0
      BLAS.Profiler.isEnabled = false
      times.append(t)
      gemmShare.append(BLAS.Profiler.seconds / t)
    }
    // Untimed-GEMM runs: the profiler's clock reads are not part of the step.
    var plain: [Double] = []
    for _ in 0..<repeats {
      let t0 = BLAS.Profiler.now()
      step()
      plain.append(BLAS.Profiler.now() - t0)
    }
    times.sort()
    plain.sort()
    let median = plain[repeats / 2]
    let share = gemmShare.sorted()[repeats / 2]
    let gflop = 2 * BLAS.Profiler.multiplyAdds / 1e9
    print(
      "CNNThroughput \(name): batch \(input[0]) \(input.dropFirst().map(String.init).joined(separator: "x")): "
        + String(
          format:
            "step median %.2f ms, best %.2f ms → %.0f samples/s (best %.0f); sgemm %.1f%% of the step, %.2f GFLOP/step, %.1f GFLOP/s in sgemm",
          median * 1e3, plain[0] * 1e3, Double(input[0]) / median, Double(input[0]) / plain[0],
          share * 100, gflop, gflop / (share * times[repeats / 2])))
  }

  @Test func convNets() {
    BLAS.setThreads(1)
    print("CNNThroughput: OpenBLAS core \(BLAS.coreName)")
    measure("LeNet-5", LeNet5(seed: 1), input: [64, 1, 28, 28])
    measure(
      "VGG-11 x0.25", VGG(layout: .vgg11, widthMultiplier: 0.25, inputChannels: 1, seed: 1),
      input: [64, 1, 32, 32])
    measure(
      "ResNet-20", ResNet20(widthMultiplier: 1, inputChannels: 3, seed: 1), input: [64, 3, 32, 32],
      repeats: 3)
  }
}
