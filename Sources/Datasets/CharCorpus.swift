import Foundation
import Tensors

/// A batch for a character-level language model: `inputs [N, T]` token ids as Float values
/// (what `Embedding` takes) and the next character of each position as `targets` (`N·T` ids,
/// row-major like `[N, T]`: `targets[n·T + t]` follows `inputs[n, t]`).
public struct CharBatch: Sendable, Equatable {
  public var inputs: Tensor
  public var targets: [Int]
}

/// A text as a stream of character ids for language modelling, split into training, validation
/// and test parts by contiguous blocks: the test part is the last `testFraction` of the text and
/// the validation part the `validationFraction` before it, each boundary moved forward to the start
/// of the next line (so no line is cut between parts). The split does not depend on any seed;
/// only the order of training windows does (`epochBatches`).
public struct CharCorpus: Sendable, Equatable {
  public enum Split: String, Sendable, CaseIterable {
    case train
    case validation
    case test
  }

  /// The distinct characters (Unicode scalars) of the text in ascending code-point order;
  /// character `vocabulary[k]` has id k.
  public let vocabulary: [Unicode.Scalar]
  /// The whole text as ids.
  public let ids: [Int32]
  public let train: Range<Int>
  public let validation: Range<Int>
  public let test: Range<Int>

  public init(text: String, validationFraction: Double = 0.05, testFraction: Double = 0.05) {
    precondition(
      validationFraction >= 0 && testFraction >= 0 && validationFraction + testFraction < 1,
      "CharCorpus: bad split fractions \(validationFraction), \(testFraction)")
    let scalars = Array(text.unicodeScalars)
    // Fast path for 8-bit text (a 256-entry table), a dictionary otherwise.
    var seen = Set<UInt32>()
    var small = [Bool](repeating: false, count: 256)
    for s in scalars {
      if s.value < 256 { small[Int(s.value)] = true } else { seen.insert(s.value) }
    }
    for v in 0..<256 where small[v] { seen.insert(UInt32(v)) }
    let vocabulary = seen.sorted().map { Unicode.Scalar($0)! }
    var table = [Int32](repeating: -1, count: 256)
    var large: [UInt32: Int32] = [:]
    for (k, s) in vocabulary.enumerated() {
      if s.value < 256 { table[Int(s.value)] = Int32(k) } else { large[s.value] = Int32(k) }
    }
    var ids = [Int32](repeating: 0, count: scalars.count)
    scalars.withUnsafeBufferPointer { sp in
      table.withUnsafeBufferPointer { tp in
        ids.withUnsafeMutableBufferPointer { ip in
          for i in 0..<sp.count {
            let v = sp[i].value
            ip[i] = v < 256 ? tp[Int(v)] : large[v]!
          }
        }
      }
    }
    self.vocabulary = vocabulary
    self.ids = ids
    let n = ids.count
    let newline = table[10]
    func lineStart(_ i: Int) -> Int {
      var j = min(max(i, 0), n)
      while j > 0 && j < n && ids[j - 1] != newline { j += 1 }
      return j
    }
    let testStart = lineStart(n - Int((Double(n) * testFraction).rounded()))
    let validationStart = lineStart(
      min(testStart, n - Int((Double(n) * (testFraction + validationFraction)).rounded())))
    train = 0..<validationStart
    validation = validationStart..<testStart
    test = testStart..<n
  }

  public var vocabularySize: Int { vocabulary.count }

  public func range(_ split: Split) -> Range<Int> {
    switch split {
    case .train: return train
    case .validation: return validation
    case .test: return test
    }
  }

  /// Ids of `text` (nil if a character is not in the vocabulary).
  public func encode(_ text: String) -> [Int]? {
    let index = Dictionary(uniqueKeysWithValues: vocabulary.enumerated().map { ($1, $0) })
    var out: [Int] = []
    for s in text.unicodeScalars {
      guard let k = index[s] else { return nil }
      out.append(k)
    }
    return out
  }

  /// The text of `ids`.
  public func decode<S: Sequence>(_ ids: S) -> String where S.Element: BinaryInteger {
    var s = String.UnicodeScalarView()
    for k in ids { s.append(vocabulary[Int(k)]) }
    return String(s)
  }

  /// One epoch of training batches from `split`: the part is cut into non-overlapping windows of
  /// `length` inputs (window k starts at `k·length`; its targets are the next characters, so
  /// `length + 1` characters are read), the windows are shuffled with a `SeededRNG` derived from
  /// `seed` and `epoch`, and grouped `batchSize` at a time (the last batch may be smaller). The same
  /// arguments give the same batches on every machine.
  public func epochBatches(_ split: Split, batchSize: Int, length: Int, seed: UInt64, epoch: Int)
    -> [CharBatch]
  {
    precondition(batchSize > 0 && length > 0, "CharCorpus.epochBatches: sizes must be positive")
    let r = range(split)
    let windows = max(r.count - 1, 0) / length
    var rng = SeededRNG(seed: seed ^ (UInt64(truncatingIfNeeded: epoch) &* 0x9E37_79B9_7F4A_7C15))
    let order = rng.permutation(windows)
    return stride(from: 0, to: windows, by: batchSize).map { start in
      let starts = order[start..<min(start + batchSize, windows)].map { r.lowerBound + $0 * length }
      return makeBatch(starts: starts, length: length)
    }
  }

  /// Evaluation batches covering `split` in order: the part is divided into `batchSize`
  /// contiguous tracks of equal length (PyTorch's "batchify"; fewer than `batchSize` trailing
  /// characters are dropped) and batch j holds positions `j·length ..< (j+1)·length` of every
  /// track (the last batch may be shorter). Row n of batch j continues row n of batch j−1, so a
  /// model may carry its state across batches.
  public func evaluationBatches(_ split: Split, batchSize: Int, length: Int) -> [CharBatch] {
    precondition(
      batchSize > 0 && length > 0, "CharCorpus.evaluationBatches: sizes must be positive")
    let r = range(split)
    let track = max(r.count - 1, 0) / batchSize
    return stride(from: 0, to: track, by: length).map { offset in
      let t = min(length, track - offset)
      let starts = (0..<batchSize).map { r.lowerBound + $0 * track + offset }
      return makeBatch(starts: starts, length: t)
    }
  }

  private func makeBatch(starts: [Int], length: Int) -> CharBatch {
    var inputs = [Float](repeating: 0, count: starts.count * length)
    var targets = [Int](repeating: 0, count: starts.count * length)
    for (row, s) in starts.enumerated() {
      for t in 0..<length {
        inputs[row * length + t] = Float(ids[s + t])
        targets[row * length + t] = Int(ids[s + t + 1])
      }
    }
    return CharBatch(inputs: Tensor(shape: [starts.count, length], data: inputs), targets: targets)
  }
}

extension CharCorpus {
  /// `DataDirectory.root/KJV/kjv.txt`: the output of `bible -f Gen1:1-Rev22:21` (Debian's
  /// `bible-kjv`), written by `scripts/fetch-datasets.sh`.
  public static var kjvPath: String { "\(DataDirectory.root)/KJV/kjv.txt" }

  /// The King James Bible (31 102 verses, public domain) as a corpus: one verse per line with its
  /// reference (`Ge1:1 `) removed; ≈ 4.1 M characters.
  public static func kjv(
    path: String = kjvPath, validationFraction: Double = 0.05,
    testFraction: Double = 0.05
  ) throws(DatasetError) -> CharCorpus {
    let data = try DataDirectory.readFetchedFile(path)
    guard let raw = String(data: data, encoding: .utf8) else {
      throw .corrupt(path: path, reason: "not UTF-8 text")
    }
    let text = kjvText(bibleOutput: raw)
    guard !text.isEmpty else { throw .corrupt(path: path, reason: "no verses") }
    return CharCorpus(
      text: text, validationFraction: validationFraction, testFraction: testFraction)
  }

  /// Strips the leading verse reference (`Ge1:1`, `Rev22:21`: a token ending in
  /// digits:digits, and the space after it) from every line of `bible -f` output; other lines are
  /// kept as they are.
  public static func kjvText(bibleOutput: String) -> String {
    var lines: [Substring] = []
    for line in bibleOutput.split(separator: "\n") {
      if let space = line.firstIndex(of: " ") {
        let ref = line[..<space]
        if let colon = ref.lastIndex(of: ":"), colon > ref.startIndex, ref.last?.isNumber == true,
          ref[ref.index(before: colon)].isNumber
        {
          lines.append(line[line.index(after: space)...])
          continue
        }
      }
      lines.append(line)
    }
    return lines.joined(separator: "\n") + "\n"
  }
}
