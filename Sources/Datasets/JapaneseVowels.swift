/// Japanese Vowels (UCI; Kudo, Toyama & Shimbo 1999): nine male speakers saying /ae/, as
/// 12 LPC cepstrum coefficients per frame, 7–29 frames per utterance; the task is the speaker.
/// Official split: 270 training (30 per speaker) and 370 test cases. Read from the `.ts` files of
/// the aeon 1.6.0 wheel, which `scripts/fetch-datasets.sh` puts into
/// `DataDirectory.root/JapaneseVowels/` after checking their SHA-256.
public enum JapaneseVowels {
  public static let classCount = 9
  public static let featureCount = 12
  public static let trainCount = 270
  public static let testCount = 370
  public static let maxLength = 29

  public enum Split: String, Sendable, CaseIterable {
    case train = "TRAIN"
    case test = "TEST"
  }

  /// SHA-256 of the files as shipped in aeon 1.6.0 (checked by the fetch script).
  public static let sha256: [Split: String] = [
    .train: "68a430eabd919cc77f40b1f5f3bc0dcafacc1486bca9260785aeb7d262cc78cd",
    .test: "b3d41d6a0ca3bcad3afb9ca7d4365382aa51341e2e58bae2a574babdda5b9462",
  ]

  public static var defaultDirectory: String { "\(DataDirectory.root)/JapaneseVowels" }

  public static func path(_ split: Split, directory: String = defaultDirectory) -> String {
    "\(directory)/JapaneseVowels_\(split.rawValue).ts"
  }

  /// One split as raw (unnormalised) sequences `[29, 12]` zero-padded, labels `0..<9` (speaker
  /// "1" → 0). Errors name the file; a missing file names `scripts/fetch-datasets.sh`.
  public static func load(_ split: Split, directory: String = defaultDirectory)
    throws(DatasetError) -> SequenceDataset
  {
    let p = path(split, directory: directory)
    let file = try TSFormat.read(path: p)
    guard file.dimensions == featureCount, file.classLabels.count == classCount else {
      throw .corrupt(
        path: p,
        reason: "expected \(featureCount) dimensions and \(classCount) classes, found "
          + "\(file.dimensions) and \(file.classLabels.count)")
    }
    let data = try file.sequenceDataset(path: p)
    let expected = split == .train ? trainCount : testCount
    guard data.count == expected else {
      throw .corrupt(path: p, reason: "\(data.count) cases, expected \(expected)")
    }
    return data
  }

  /// Both splits normalised per feature with the training split's mean and std (over real
  /// frames; padding stays 0).
  public static func loadNormalized(directory: String = defaultDirectory) throws(DatasetError)
    -> (train: SequenceDataset, test: SequenceDataset)
  {
    let train = try load(.train, directory: directory)
    let test = try load(.test, directory: directory)
    let (mean, std) = train.featureStatistics()
    return (train.normalized(mean: mean, std: std), test.normalized(mean: mean, std: std))
  }
}
