import Foundation
import Testing

@testable import Datasets
@testable import Tensors

private let sampleTS = """
  #A comment line
  @problemName Tiny
  @timeStamps false
  @missing false
  @univariate false
  @dimensions 2
  @equalLength false
  @classLabel true a b c
  @data
  1.0,2.0,3.0:4.0,5.0,6.0:b
  -1.5,0.25:7,8:a

  9:10:c
  """

@Suite struct TSFormatTests {
  @Test func parsesInlineSample() throws {
    let file = try TSFormat.parse(sampleTS, path: "tiny.ts")
    #expect(file.problemName == "Tiny")
    #expect(file.dimensions == 2 && file.equalLength == false)
    #expect(file.classLabels == ["a", "b", "c"])
    #expect(file.cases.count == 3)
    #expect(file.cases[0].series == [[1, 2, 3], [4, 5, 6]] && file.cases[0].label == "b")
    #expect(file.cases[1].series == [[-1.5, 0.25], [7, 8]] && file.cases[1].label == "a")
    #expect(file.cases[2].series == [[9], [10]] && file.cases[2].label == "c")

    let data = try file.sequenceDataset(path: "tiny.ts")
    #expect(data.count == 3 && data.maxLength == 3 && data.featureCount == 2)
    #expect(data.lengths == [3, 2, 1] && data.labels == [1, 0, 2])
    // Steps × features, zero padded.
    #expect(data.features == [1, 4, 2, 5, 3, 6, -1.5, 7, 0.25, 8, 0, 0, 9, 10, 0, 0, 0, 0])
  }

  @Test func errorsNameFileAndLine() {
    func reason(_ text: String) -> String {
      do {
        _ = try TSFormat.parse(text, path: "bad.ts")
        return "no error"
      } catch {
        return error.description
      }
    }
    let header = "@dimensions 2\n@classLabel true a b\n@data\n"
    #expect(
      reason(header + "1,2:3,4:a\n1,2:z\n")
        == "bad.ts: line 5: class label 'z' is not in the header's [\"a\", \"b\"]")
    #expect(
      reason(header + "1,2:a\n") == "bad.ts: line 4: case has 1 dimensions, the header says 2")
    #expect(reason(header + "1,x:3,4:a\n") == "bad.ts: line 4: 'x' in dimension 1 is not a number")
    #expect(reason(header + "1,?:3,4:a\n") == "bad.ts: line 4: missing value in dimension 1")
    #expect(reason("@dimensions 2\n") == "bad.ts: no @data line")
    #expect(
      reason("@timeStamps true\n@data\n") == "bad.ts: line 1: @timeStamps true is not supported")
    // Dimensions of unequal length within a case.
    let file = try? TSFormat.parse(header + "1,2,3:4,5:a\n", path: "bad.ts")
    #expect(
      throws: DatasetError.corrupt(
        path: "bad.ts", reason: "case 1: dimensions have different lengths")
    ) {
      try file!.sequenceDataset(path: "bad.ts")
    }
    // Missing values are NaN when the header allows them.
    let missing = try? TSFormat.parse("@missing true\n@data\n1,?,3\n", path: "m.ts")
    #expect(missing?.cases.first?.series[0][1].isNaN == true)
  }
}

private let jvPresent =
  FileManager.default.fileExists(
    atPath: JapaneseVowels.path(.train))
  && FileManager.default.fileExists(
    atPath: JapaneseVowels.path(.test))

@Suite struct JapaneseVowelsTests {
  @Test func missingFileNamesTheFetchScript() {
    let dir = "/nonexistent-blkrew-\(UUID().uuidString)"
    let path = JapaneseVowels.path(.train, directory: dir)
    #expect(throws: DatasetError.notFetched(path: path, command: "scripts/fetch-datasets.sh")) {
      try JapaneseVowels.load(.train, directory: dir)
    }
    #expect(
      DatasetError.notFetched(path: "/d/x.ts", command: "scripts/fetch-datasets.sh").description
        == "/d/x.ts: file not found; run scripts/fetch-datasets.sh")
  }

  @Test func realFiles() throws {
    guard jvPresent else {
      print(
        "JapaneseVowelsTests.realFiles skipped: \(JapaneseVowels.path(.train)) not found; "
          + "run scripts/fetch-datasets.sh")
      return
    }
    let train = try JapaneseVowels.load(.train)
    let test = try JapaneseVowels.load(.test)
    #expect(train.count == 270 && test.count == 370)
    #expect(train.featureCount == 12 && test.featureCount == 12)
    #expect(train.classCounts() == [Int](repeating: 30, count: 9))
    #expect(test.classCounts().count == 9)
    #expect(train.lengths.min()! >= 7 && train.lengths.max()! <= 29)
    #expect(test.lengths.min()! >= 7 && test.lengths.max()! <= 29)
    #expect(max(train.maxLength, test.maxLength) == JapaneseVowels.maxLength)
    // The first training value of the file.
    #expect(train.features[0] == 1.860936 && train.labels[0] == 0)

    let (ntrain, ntest) = try JapaneseVowels.loadNormalized()
    let (mean, std) = ntrain.featureStatistics()
    for j in 0..<12 {
      #expect(abs(mean[j]) < 1e-4 && abs(std[j] - 1) < 1e-3, "feature \(j): \(mean[j]) \(std[j])")
    }
    // The test split uses the training statistics, so it is only roughly standardised.
    let (tmean, _) = ntest.featureStatistics()
    #expect(tmean.allSatisfy { abs($0) < 0.5 })
    // Padding stays 0.
    let short = ntrain.lengths.firstIndex { $0 < ntrain.maxLength }!
    let pad = (short * ntrain.maxLength + ntrain.lengths[short]) * 12
    #expect(ntrain.features[pad..<(pad + 12)].allSatisfy { $0 == 0 })
  }
}

@Suite struct SequenceDatasetTests {
  let data = SequenceDataset(
    sequences: [[[1, 2]], [[3, 4], [5, 6], [7, 8]], [[9, 10], [11, 12]]], labels: [0, 1, 0],
    featureCount: 2)

  @Test func batchPadsToLongestInBatch() {
    let (x, lengths, y) = data.batch([2, 0][...])
    #expect(x.shape == [2, 2, 2] && lengths == [2, 1] && y == [0, 0])
    #expect(x.data == [9, 10, 11, 12, 1, 2, 0, 0])
    let (x3, _, _) = data.batch([0][...], padTo: 3)
    #expect(x3.shape == [1, 3, 2] && x3.data == [1, 2, 0, 0, 0, 0])
    let sub = data.subset([1])
    #expect(sub.count == 1 && sub.lengths == [3] && sub.features == [3, 4, 5, 6, 7, 8])
  }

  @Test func statisticsIgnorePadding() {
    let (mean, std) = data.featureStatistics()
    // Real frames: (1,2) (3,4) (5,6) (7,8) (9,10) (11,12).
    #expect(mean == [6, 7])
    let expectedStd = Float((70.0 / 6).squareRoot())
    #expect(abs(std[0] - expectedStd) < 1e-6 && abs(std[1] - expectedStd) < 1e-6)
    let n = data.normalized(mean: mean, std: std)
    #expect(n.features[2] == 0 && n.features[3] == 0)  // padding of sample 0
    #expect(abs(n.features[0] - (1 - 6) / expectedStd) < 1e-6)
  }

  @Test func fashionMNISTVariants() {
    // Two 28×28 images whose pixel value is its index (image 1 offset by 1000).
    let images: [Float] = (0..<1568).map { (i: Int) -> Float in
      let offset: Int = (i / 784) * 1000
      return Float(i % 784 + offset)
    }
    let data = ImageDataset(images: images, labels: [3, 7], rows: 28, cols: 28)
    let padded = FashionMNIST.padded32(data)
    #expect(padded.rows == 32 && padded.cols == 32 && padded.labels == [3, 7])
    let bg = FashionMNIST.backgroundValue
    #expect(abs(bg - (-0.2860 / 0.3530)) < 1e-6)
    // Corners and borders are background; pixel (r, c) moves to (r + 2, c + 2).
    for i in [0, 1, 31, 32, 33, 2 * 32 + 1, 31 * 32 + 31] { #expect(padded.images[i] == bg) }
    func at(_ image: Int, _ r: Int, _ c: Int) -> Float { padded.images[image * 1024 + r * 32 + c] }
    #expect(at(0, 2, 2) == 0)
    #expect(at(0, 7, 11) == 149)  // pixel (5, 9) = 5·28 + 9
    #expect(at(1, 29, 29) == 1783)  // pixel (27, 27) of image 1
    #expect(at(1, 30, 30) == bg)

    let seq = FashionMNIST.sequential(data)
    #expect(seq.maxLength == 28 && seq.featureCount == 28 && seq.lengths == [28, 28])
    let (x, lengths, y) = seq.batch([1][...])
    #expect(x.shape == [1, 28, 28] && lengths == [28] && y == [7])
    // Step t is row t of the image.
    let row4: [Float] = (0..<28).map { (j: Int) -> Float in Float(1112 + j) }  // 1000 + 4·28 + j
    #expect(Array(x.data[112..<140]) == row4)
  }
}

@Suite struct CharCorpusTests {
  /// 200 short lines of varied text.
  static let text: String =
    (0..<200).map { i in
      "Line \(i): and the \(["earth", "waters", "light", "firmament"][i % 4]) was \(i % 7)."
    }.joined(separator: "\n") + "\n"

  @Test func vocabularyAndEncoding() throws {
    let c = CharCorpus(text: "banana\n")
    #expect(c.vocabulary.map { Character($0) } == ["\n", "a", "b", "n"])
    #expect(c.ids == [2, 1, 3, 1, 3, 1, 0])
    #expect(c.encode("nab") == [3, 1, 2] && c.encode("x") == nil)
    #expect(c.decode(c.ids) == "banana\n")
    let u = CharCorpus(text: "añb€\n")
    #expect(u.vocabularySize == 5 && u.decode(u.ids) == "añb€\n")
  }

  @Test func splitIsContiguousDeterministicAndAtLineStarts() {
    let a = CharCorpus(text: Self.text)
    let b = CharCorpus(text: Self.text)
    #expect(a == b)
    let n = a.ids.count
    #expect(a.train.lowerBound == 0 && a.train.upperBound == a.validation.lowerBound)
    #expect(a.validation.upperBound == a.test.lowerBound && a.test.upperBound == n)
    // About 5% each, starting at a line start.
    #expect(abs(Double(a.test.count) / Double(n) - 0.05) < 0.01)
    #expect(abs(Double(a.validation.count) / Double(n) - 0.05) < 0.01)
    let newline = Int32(a.encode("\n")![0])
    #expect(a.ids[a.test.lowerBound - 1] == newline)
    #expect(a.ids[a.validation.lowerBound - 1] == newline)
    #expect(a.decode(a.ids[a.test]).hasPrefix("Line 19"))
  }

  @Test func batchesAreNextCharacterPairsAndSeeded() {
    let c = CharCorpus(text: Self.text)
    let e0 = c.epochBatches(.train, batchSize: 8, length: 16, seed: 1, epoch: 0)
    #expect(e0 == c.epochBatches(.train, batchSize: 8, length: 16, seed: 1, epoch: 0))
    #expect(e0 != c.epochBatches(.train, batchSize: 8, length: 16, seed: 1, epoch: 1))
    #expect(e0 != c.epochBatches(.train, batchSize: 8, length: 16, seed: 2, epoch: 0))
    let windows = (c.train.count - 1) / 16
    #expect(e0.reduce(0) { $0 + $1.inputs.shape[0] } == windows)
    #expect(e0.dropLast().allSatisfy { $0.inputs.shape == [8, 16] && $0.targets.count == 128 })
    // Every window appears once (as a multiset: the text repeats itself), and the targets are
    // the inputs shifted by one character.
    var expected: [[Int32]: Int] = [:]
    for w in 0..<windows { expected[Array(c.ids[(w * 16)..<(w * 16 + 17)]), default: 0] += 1 }
    var found: [[Int32]: Int] = [:]
    for batch in e0 {
      for row in 0..<batch.inputs.shape[0] {
        let inputs = (0..<16).map { Int32(batch.inputs.data[row * 16 + $0]) }
        let targets = (0..<16).map { Int32(batch.targets[row * 16 + $0]) }
        #expect(Array(inputs.dropFirst()) == Array(targets.dropLast()))
        found[inputs + [targets[15]], default: 0] += 1
      }
    }
    #expect(found == expected)

    // Evaluation batches: batchSize parallel tracks, rows continue across batches.
    let ev = c.evaluationBatches(.test, batchSize: 4, length: 10)
    let track = (c.test.count - 1) / 4
    #expect(ev.reduce(0) { $0 + $1.inputs.shape[1] } == track)
    let row1 = ev.flatMap { b in
      (0..<b.inputs.shape[1]).map { Int32(b.inputs.data[b.inputs.shape[1] + $0]) }
    }
    let start1 = c.test.lowerBound + track
    #expect(row1 == Array(c.ids[start1..<(start1 + track)]))
  }

  @Test func kjvReferencesAreStripped() {
    let raw =
      "Ge1:1 In the beginning God created the heaven and the earth.\n"
      + "Rev22:21 The grace of our Lord Jesus Christ be with you all. Amen.\n"
    #expect(
      CharCorpus.kjvText(bibleOutput: raw)
        == "In the beginning God created the heaven and the earth.\n"
        + "The grace of our Lord Jesus Christ be with you all. Amen.\n")
    #expect(CharCorpus.kjvText(bibleOutput: "no reference here\n") == "no reference here\n")
  }

  @Test func realKJV() throws {
    guard FileManager.default.fileExists(atPath: CharCorpus.kjvPath) else {
      print(
        "CharCorpusTests.realKJV skipped: \(CharCorpus.kjvPath) not found; "
          + "run scripts/fetch-datasets.sh (needs Debian's bible-kjv)")
      return
    }
    let c = try CharCorpus.kjv()
    #expect(c.ids.count > 4_000_000 && c.ids.count < 4_200_000)
    #expect(c.vocabularySize < 80)
    #expect(c.decode(c.ids[0..<17]) == "In the beginning ")
    #expect(c.decode(c.ids[c.test]).hasSuffix("Amen.\n"))
  }
}
