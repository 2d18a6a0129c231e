import Foundation
import Tensors

/// Where data sets that are not Debian packages live: `$BLKREW_DATA` if set and not empty, else
/// `$HOME/.cache/blkrew/data`. `scripts/fetch-datasets.sh` fills it (same rule).
public enum DataDirectory {
  /// The command that fetches or generates the files of this directory.
  public static let fetchCommand = "scripts/fetch-datasets.sh"

  public static var root: String {
    let env = ProcessInfo.processInfo.environment
    if let dir = env["BLKREW_DATA"], !dir.isEmpty { return dir }
    let home = env["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
    return "\(home)/.cache/blkrew/data"
  }

  /// The contents of `path`, or `DatasetError.notFetched` naming the fetch command.
  static func readFetchedFile(_ path: String) throws(DatasetError) -> Data {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory),
      !isDirectory.boolValue
    else { throw .notFetched(path: path, command: fetchCommand) }
    do {
      return try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw .corrupt(path: path, reason: "cannot read (\(error.localizedDescription))")
    }
  }
}

/// Labelled multivariate sequences of possibly different lengths, zero-padded to `maxLength`.
///
/// Sample `i`, step `t`, feature `f` is `features[(i · maxLength + t) · featureCount + f]`; steps
/// `lengths[i]..<maxLength` are padding (0). Batches are `[n, T_b, F]` with `T_b` the longest
/// length in the batch, plus the lengths (see `RecurrentClassifier`).
public struct SequenceDataset: Sendable, Equatable {
  public var features: [Float]
  public var lengths: [Int]
  public var labels: [Int]
  public var maxLength: Int
  public var featureCount: Int

  public init(features: [Float], lengths: [Int], labels: [Int], maxLength: Int, featureCount: Int) {
    precondition(lengths.count == labels.count, "SequenceDataset: lengths and labels differ")
    precondition(
      features.count == labels.count * maxLength * featureCount,
      "SequenceDataset: feature count mismatch")
    precondition(
      lengths.allSatisfy { $0 >= 0 && $0 <= maxLength }, "SequenceDataset: length out of range")
    self.features = features
    self.lengths = lengths
    self.labels = labels
    self.maxLength = maxLength
    self.featureCount = featureCount
  }

  /// Builds a dataset from sequences given as `[t][f]` rows (each row `featureCount` long).
  public init(sequences: [[[Float]]], labels: [Int], featureCount: Int) {
    precondition(sequences.count == labels.count, "SequenceDataset: sequences and labels differ")
    let maxLength = sequences.map(\.count).max() ?? 0
    var features = [Float](repeating: 0, count: sequences.count * maxLength * featureCount)
    for (i, s) in sequences.enumerated() {
      for (t, row) in s.enumerated() {
        precondition(row.count == featureCount, "SequenceDataset: row of \(row.count) features")
        let start = (i * maxLength + t) * featureCount
        features[start..<(start + featureCount)] = row[...]
      }
    }
    self.init(
      features: features, lengths: sequences.map(\.count), labels: labels, maxLength: maxLength,
      featureCount: featureCount)
  }

  public var count: Int { labels.count }

  /// The samples at `indices`, in that order (same `maxLength`).
  public func subset(_ indices: [Int]) -> SequenceDataset {
    let stride = maxLength * featureCount
    var f = [Float](repeating: 0, count: indices.count * stride)
    for (k, i) in indices.enumerated() {
      precondition(i >= 0 && i < count, "SequenceDataset.subset: index \(i) out of 0..<\(count)")
      f[(k * stride)..<((k + 1) * stride)] = features[(i * stride)..<((i + 1) * stride)]
    }
    return SequenceDataset(
      features: f, lengths: indices.map { lengths[$0] }, labels: indices.map { labels[$0] },
      maxLength: maxLength, featureCount: featureCount)
  }

  /// Samples at `indices` as `x [n, T_b, F]` (zero-padded; `T_b` = `padTo` or the longest
  /// length among them), their lengths and labels.
  public func batch(_ indices: ArraySlice<Int>, padTo: Int? = nil) -> (
    x: Tensor, lengths: [Int], y: [Int]
  ) {
    let lens = indices.map { lengths[$0] }
    let steps = padTo ?? (lens.max() ?? 0)
    precondition(steps >= (lens.max() ?? 0), "SequenceDataset.batch: padTo \(steps) too short")
    let f = featureCount
    var x = [Float](repeating: 0, count: indices.count * steps * f)
    for (k, i) in indices.enumerated() {
      precondition(i >= 0 && i < count, "SequenceDataset.batch: index \(i) out of 0..<\(count)")
      let n = lengths[i] * f
      let src = i * maxLength * f
      x[(k * steps * f)..<(k * steps * f + n)] = features[src..<(src + n)]
    }
    return (Tensor(shape: [indices.count, steps, f], data: x), lens, indices.map { labels[$0] })
  }

  /// Per-feature mean and standard deviation (population, in Double) over the real steps of all
  /// samples (padding excluded). A feature with zero spread gets std 1.
  public func featureStatistics() -> (mean: [Float], std: [Float]) {
    let f = featureCount
    var sum = [Double](repeating: 0, count: f)
    var sumSq = [Double](repeating: 0, count: f)
    var frames = 0
    for i in 0..<count {
      for t in 0..<lengths[i] {
        let base = (i * maxLength + t) * f
        for j in 0..<f {
          let v = Double(features[base + j])
          sum[j] += v
          sumSq[j] += v * v
        }
      }
      frames += lengths[i]
    }
    let n = Double(max(frames, 1))
    let mean = sum.map { $0 / n }
    let std = (0..<f).map { j -> Double in
      let v = max(sumSq[j] / n - mean[j] * mean[j], 0).squareRoot()
      return v > 0 ? v : 1
    }
    return (mean.map(Float.init), std.map(Float.init))
  }

  /// `(x − mean) / std` per feature on the real steps; padding stays 0.
  public func normalized(mean: [Float], std: [Float]) -> SequenceDataset {
    precondition(mean.count == featureCount && std.count == featureCount)
    var out = self
    let f = featureCount
    for i in 0..<count {
      for t in 0..<lengths[i] {
        let base = (i * maxLength + t) * f
        for j in 0..<f { out.features[base + j] = (features[base + j] - mean[j]) / std[j] }
      }
    }
    return out
  }

  /// How many samples each class has (`result[c]` for class c, up to the largest label).
  public func classCounts() -> [Int] {
    var counts = [Int](repeating: 0, count: (labels.max() ?? -1) + 1)
    for l in labels { counts[l] += 1 }
    return counts
  }
}
