import Foundation
import Testing

@testable import NeuralNets
@testable import Tensors

@Suite struct RNNModelTests {
  @Test func classifierCheckpointNamesAndShapes() {
    let gru = GRUClassifier(inputSize: 12, hiddenSize: 8, classes: 9, seed: 1)
    #expect(
      gru.parameters.map(\.name) == [
        "gru.weight_ih_l0", "gru.weight_hh_l0", "gru.bias_ih_l0", "gru.bias_hh_l0", "fc.weight",
        "fc.bias",
      ])
    #expect(gru.parameters.map(\.shape) == [[24, 12], [24, 8], [24], [24], [9, 8], [9]])
    #expect(gru.gemmWeights.map(\.name) == ["gru.weight_ih_l0", "gru.weight_hh_l0", "fc"])
    #expect(gru.gemmWeights.map { [$0.rows, $0.cols] } == [[24, 12], [24, 8], [9, 8]])
    #expect(gru.gemmWeights[1].parameter === gru.rnn.weightHH)

    let lstm = LSTMClassifier(inputSize: 12, hiddenSize: 8, classes: 9, seed: 1)
    #expect(
      lstm.parameters.map(\.name) == [
        "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0", "fc.weight",
        "fc.bias",
      ])
    #expect(lstm.parameters.map(\.shape) == [[32, 12], [32, 8], [32], [32], [9, 8], [9]])
    #expect(lstm.gemmWeights.map(\.name) == ["lstm.weight_ih_l0", "lstm.weight_hh_l0", "fc"])
    #expect(lstm.gemmWeights.map { [$0.rows, $0.cols] } == [[32, 12], [32, 8], [9, 8]])

    // PyTorch's init bounds: U(±1/√H) for the RNN, U(±1/√in) for fc.
    let bound = 1 / Float(8).squareRoot()
    for p in gru.rnn.parameters { #expect(p.value.data.allSatisfy { abs($0) <= bound }) }
    // Same seed, same weights; another seed, others.
    let again = GRUClassifier(inputSize: 12, hiddenSize: 8, classes: 9, seed: 1)
    #expect(zip(gru.parameters, again.parameters).allSatisfy { $0.value == $1.value })
    let other = GRUClassifier(inputSize: 12, hiddenSize: 8, classes: 9, seed: 2)
    #expect(gru.rnn.weightIH.value != other.rnn.weightIH.value)
  }

  @Test func charGRUCheckpointNamesAndShapes() throws {
    let model = CharGRU(vocab: 65, embedding: 16, hidden: 32, seed: 3)
    #expect(
      model.parameters.map(\.name) == [
        "embedding.weight", "gru.weight_ih_l0", "gru.weight_hh_l0", "gru.bias_ih_l0",
        "gru.bias_hh_l0", "fc.weight", "fc.bias",
      ])
    #expect(
      model.parameters.map(\.shape) == [
        [65, 16], [96, 16], [96, 32], [96], [96], [65, 32], [65],
      ])
    #expect(model.gemmWeights.map(\.name) == ["gru.weight_ih_l0", "gru.weight_hh_l0", "fc"])
    #expect(model.gemmWeights.map { [$0.rows, $0.cols] } == [[96, 16], [96, 32], [65, 32]])

    // Round trip through a safetensors checkpoint.
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "blkrew-chargru-\(UUID().uuidString).safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    try Safetensors.write(model.stateTensors(), metadata: [:], to: url)
    let loaded = CharGRU(vocab: 65, embedding: 16, hidden: 32, seed: 99)
    try loaded.loadState(Safetensors.read(url).tensors)
    #expect(zip(model.parameters, loaded.parameters).allSatisfy { $0.value == $1.value })
  }

  /// Classifier over a padded batch: every gradient against a Double reference (RNN → state
  /// after the last real step → Linear → mean cross-entropy), and padded inputs get exactly 0.
  @Test(arguments: [false, true])
  func paddedClassifierGradients(lstm: Bool) {
    let (n, steps, f, h, classes) = (3, 5, 2, 3, 4)
    let lengths = [5, 2, 3]
    let labels = [3, 0, 2]
    let model: any SequenceNetwork =
      lstm
      ? LSTMClassifier(inputSize: f, hiddenSize: h, classes: classes, seed: 8)
      : GRUClassifier(inputSize: f, hiddenSize: h, classes: classes, seed: 8)
    var rng = SeededRNG(seed: 4)
    let x = randomTensor([n, steps, f], &rng)
    model.zeroGrad()
    let logits = model.forward(x, lengths: lengths, training: true)
    #expect(logits.shape == [n, classes])
    let (loss, gradLogits) = softmaxCrossEntropy(logits: logits, labels: labels)
    let gradX = model.backward(gradLogits)
    #expect(gradX.shape == x.shape)
    for b in 0..<n {
      for t in lengths[b]..<steps {
        for j in 0..<f { #expect(gradX.data[(b * steps + t) * f + j] == 0, "x[\(b), \(t)]") }
      }
    }
    let prefix = lstm ? "lstm" : "gru"
    var values: [String: [Double]] = ["x": x.data.map(Double.init)]
    var analytic: [String: [Float]] = ["x": gradX.data]
    for p in model.parameters {
      values[p.name] = p.value.data.map(Double.init)
      analytic[p.name] = p.grad.data
    }
    let zeros = [Double](repeating: 0, count: n * h)
    func referenceLoss(_ v: [String: [Double]]) -> Double {
      let y =
        lstm
        ? RNNReference.lstm(
          x: v["x"]!, n: n, steps: steps, f: f, h: h, p: v, prefix: prefix, lengths: lengths,
          h0: zeros, c0: zeros)
        : RNNReference.gru(
          x: v["x"]!, n: n, steps: steps, f: f, h: h, p: v, prefix: prefix, lengths: lengths,
          h0: zeros)
      var last: [Double] = []
      for b in 0..<n { last += y[((b * steps + steps - 1) * h)..<((b * steps + steps) * h)] }
      let z = RNNReference.linear(last, rows: n, inF: h, w: v["fc.weight"]!, b: v["fc.bias"]!)
      return RNNReference.crossEntropy(z, c: classes, labels: labels)
    }
    #expect(abs(Double(loss) - referenceLoss(values)) < 1e-5)
    let checked = expectGradientsMatch(&values, analytic: analytic, loss: referenceLoss)
    #expect(checked == x.count + model.parameterCount)
  }

  /// CharGRU end to end: Embedding → GRU → Linear per step → mean cross-entropy over N·T steps.
  @Test func charGRUGradients() {
    let (vocab, e, h, n, steps) = (5, 3, 4, 2, 3)
    let model = CharGRU(vocab: vocab, embedding: e, hidden: h, seed: 12)
    let ids = Tensor(shape: [n, steps], data: [0, 3, 3, 4, 1, 0])
    let targets = [3, 3, 4, 1, 0, 2]
    model.zeroGrad()
    let logits = model.forward(ids, training: true)
    #expect(logits.shape == [n * steps, vocab])
    let (loss, grad) = sequenceCrossEntropy(logits: logits, targets: targets)
    #expect(model.backward(grad) == Tensor(zeros: [n, steps]))
    var values: [String: [Double]] = [:]
    var analytic: [String: [Float]] = [:]
    for p in model.parameters {
      values[p.name] = p.value.data.map(Double.init)
      analytic[p.name] = p.grad.data
    }
    func referenceLoss(_ v: [String: [Double]]) -> Double {
      let table = v["embedding.weight"]!
      var x: [Double] = []
      for id in ids.data { x += table[(Int(id) * e)..<(Int(id) * e + e)] }
      let y = RNNReference.gru(
        x: x, n: n, steps: steps, f: e, h: h, p: v, prefix: "gru",
        lengths: [steps, steps], h0: [Double](repeating: 0, count: n * h))
      let z = RNNReference.linear(y, rows: n * steps, inF: h, w: v["fc.weight"]!, b: v["fc.bias"]!)
      return RNNReference.crossEntropy(z, c: vocab, labels: targets)
    }
    #expect(abs(Double(loss) - referenceLoss(values)) < 1e-5)
    let checked = expectGradientsMatch(&values, analytic: analytic, loss: referenceLoss)
    #expect(checked == model.parameterCount)
    // Rows of unused tokens (2) get no gradient; used ones do.
    #expect(model.embedding.weight.grad.data[(2 * e)..<(3 * e)].allSatisfy { $0 == 0 })
    #expect(model.embedding.weight.grad.data[0..<e].contains { $0 != 0 })
  }

  /// Class = sign of the first step's first feature (the rest is noise): the classifier must
  /// carry it through the sequence. Loss falls within a few SGD steps; masked (pruned) gate
  /// weights stay exactly 0 throughout.
  @Test(arguments: [false, true])
  func tinyClassifierLearnsAndKeepsMasks(lstm: Bool) {
    let (n, steps, f) = (32, 6, 2)
    var rng = SeededRNG(seed: 77)
    var x = randomTensor([n, steps, f], &rng, scale: 0.5)
    var labels = [Int]()
    for b in 0..<n {
      let positive = b % 2 == 0
      x.data[b * steps * f] = positive ? 1.5 : -1.5
      labels.append(positive ? 1 : 0)
    }
    let lengths = (0..<n).map { 3 + $0 % 4 }
    let model: any SequenceNetwork =
      lstm
      ? LSTMClassifier(inputSize: f, hiddenSize: 8, classes: 2, seed: 5)
      : GRUClassifier(inputSize: f, hiddenSize: 8, classes: 2, seed: 5)
    let hh = model.gemmWeights[1].parameter
    hh.mask = (0..<hh.value.count).map { $0 % 3 == 0 ? 0 : 1 }
    hh.applyMask()
    var sgd = SGD(learningRate: 0.5, momentum: 0.9)
    var losses: [Float] = []
    for _ in 0..<40 {
      model.zeroGrad()
      let (loss, g) = softmaxCrossEntropy(
        logits: model.forward(x, lengths: lengths, training: true), labels: labels)
      _ = model.backward(g)
      sgd.step(model.parameters)
      losses.append(loss)
    }
    #expect(losses.last! < 0.5 * losses.first!, "losses \(losses)")
    for i in 0..<hh.value.count where i % 3 == 0 { #expect(hh.value.data[i] == 0) }
    let final = model.forward(x, lengths: lengths, training: false)
    #expect(accuracy(logits: final, labels: labels).correct == n)
  }

  /// `[N, T·F]` input (e.g. Fashion-MNIST rows as steps) is read as `[N, T, F]`.
  @Test func classifierAcceptsFlatRows() {
    let model = GRUClassifier(inputSize: 4, hiddenSize: 5, classes: 3, seed: 1)
    var rng = SeededRNG(seed: 2)
    let x = randomTensor([2, 12], &rng)
    let a = model.forward(x, training: true)
    let gx = model.backward(Tensor(shape: [2, 3], repeating: 1))
    #expect(gx.shape == [2, 12])
    let b = model.forward(x.reshaped([2, 3, 4]), training: true)
    #expect(a == b)
  }
}

/// Training throughput of a GRU classifier with 128 units on JapaneseVowels-shaped batches
/// (32 × 29 steps × 12 features, 9 classes), one BLAS thread: forward + backward + SGD step.
/// Disabled unless `BLKREW_RNN_BENCH=1`; run it with
/// `BLKREW_RNN_BENCH=1 swift test -c release --filter RNNThroughput`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["BLKREW_RNN_BENCH"] == "1"))
struct RNNThroughput {
  func measure(_ name: String, _ model: any SequenceNetwork, batch: Int, steps: Int, f: Int) {
    var rng = SeededRNG(seed: 1)
    let x = randomTensor([batch, steps, f], &rng)
    let labels = (0..<batch).map { $0 % 9 }
    var sgd = SGD(learningRate: 0.01, momentum: 0.9)
    func step() {
      model.zeroGrad()
      let (_, g) = softmaxCrossEntropy(
        logits: model.forward(x, lengths: nil, training: true), labels: labels)
      _ = model.backward(g)
      sgd.step(model.parameters)
    }
    for _ in 0..<5 { step() }
    var best = Double.infinity
    var times: [Double] = []
    for _ in 0..<5 {
      let iters = 40
      let start = DispatchTime.now().uptimeNanoseconds
      for _ in 0..<iters { step() }
      let s = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(iters)
      times.append(s)
      best = min(best, s)
    }
    times.sort()
    var fwd = Double.infinity
    for _ in 0..<5 {
      let start = DispatchTime.now().uptimeNanoseconds
      for _ in 0..<40 { _ = model.forward(x, lengths: nil, training: false) }
      fwd = min(fwd, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / 40)
    }
    print(
      "RNNThroughput \(name): batch \(batch) T \(steps) F \(f): train step best "
        + String(
          format:
            "%.3f ms (%.0f seq/s), median %.3f ms (%.0f seq/s); forward only %.3f ms (%.0f seq/s)",
          best * 1e3, Double(batch) / best, times[2] * 1e3, Double(batch) / times[2], fwd * 1e3,
          Double(batch) / fwd))
  }

  @Test func gruClassifier128() {
    BLAS.setThreads(1)
    print("RNNThroughput: OpenBLAS core \(BLAS.coreName)")
    measure(
      "GRU-128", GRUClassifier(inputSize: 12, hiddenSize: 128, classes: 9, seed: 1), batch: 32,
      steps: 29, f: 12)
    measure(
      "LSTM-128", LSTMClassifier(inputSize: 12, hiddenSize: 128, classes: 9, seed: 1), batch: 32,
      steps: 29, f: 12)
  }
}
