import Foundation

/// One `.ts` file of the sktime / aeon time-series archive.
public struct TSFile: Sendable, Equatable {
  public var problemName: String?
  /// `@dimensions` (1 when the header says `@univariate true` and gives no dimensions).
  public var dimensions: Int
  public var equalLength: Bool?
  /// The `@classLabel true ...` labels in header order (empty when the file has none).
  public var classLabels: [String]
  /// Each case: `series[d][t]` for dimension d, step t, and its class label (nil without labels).
  public var cases: [(series: [[Float]], label: String?)]

  public static func == (a: TSFile, b: TSFile) -> Bool {
    a.problemName == b.problemName && a.dimensions == b.dimensions
      && a.equalLength == b.equalLength && a.classLabels == b.classLabels
      && a.cases.count == b.cases.count
      && zip(a.cases, b.cases).allSatisfy { $0.series == $1.series && $0.label == $1.label }
  }

  /// The cases as a `SequenceDataset` (steps × dimensions per case), labels as indices into
  /// `classLabels`. Every dimension of a case must have the same length.
  public func sequenceDataset(path: String) throws(DatasetError) -> SequenceDataset {
    var sequences: [[[Float]]] = []
    var labels: [Int] = []
    let index = Dictionary(
      classLabels.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    for (k, c) in cases.enumerated() {
      let length = c.series.first?.count ?? 0
      guard c.series.allSatisfy({ $0.count == length }) else {
        throw .corrupt(path: path, reason: "case \(k + 1): dimensions have different lengths")
      }
      guard let label = c.label, let l = index[label] else {
        throw .corrupt(path: path, reason: "case \(k + 1): no class label from the header")
      }
      sequences.append((0..<length).map { t in c.series.map { $0[t] } })
      labels.append(l)
    }
    return SequenceDataset(sequences: sequences, labels: labels, featureCount: dimensions)
  }
}

/// Parser of the `.ts` format (sktime / aeon): `#` comment lines, header lines (`@problemName`,
/// `@timeStamps`, `@missing`, `@univariate`, `@dimensions`, `@equalLength`, `@seriesLength`,
/// `@classLabel true 1 2 ...`, others ignored), `@data`, then one case per line: the dimensions
/// separated by `:`, the values of a dimension by `,`, and the class label last when the header
/// says `@classLabel true`. Missing values `?` (allowed when `@missing true`) become NaN. Time
/// stamps (`@timeStamps true`) are not supported.
public enum TSFormat {
  public static func read(path: String) throws(DatasetError) -> TSFile {
    let data = try DataDirectory.readFetchedFile(path)
    guard let text = String(data: data, encoding: .utf8) else {
      throw .corrupt(path: path, reason: "not UTF-8 text")
    }
    return try parse(text, path: path)
  }

  /// Parses the text of a `.ts` file; `path` only names the file in errors, which also give the
  /// line number.
  public static func parse(_ text: String, path: String) throws(DatasetError) -> TSFile {
    var file = TSFile(
      problemName: nil, dimensions: 1, equalLength: nil, classLabels: [], cases: [])
    var hasLabels = false
    var missingAllowed = false
    var dimensionsGiven = false
    var inData = false
    var lineNumber = 0
    func fail(_ reason: String) -> DatasetError {
      .corrupt(path: path, reason: "line \(lineNumber): \(reason)")
    }
    for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
      lineNumber += 1
      let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
      if line.isEmpty || line.hasPrefix("#") { continue }
      if !inData {
        guard line.hasPrefix("@") else { throw fail("expected a header line or @data") }
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        let key = words[0].lowercased()
        let arg = words.count > 1 ? words[1].lowercased() : ""
        func flag() throws(DatasetError) -> Bool {
          guard arg == "true" || arg == "false" else {
            throw fail("\(words[0]) needs true or false")
          }
          return arg == "true"
        }
        switch key {
        case "@problemname": file.problemName = words.count > 1 ? words[1] : nil
        case "@timestamps":
          if try flag() { throw fail("@timeStamps true is not supported") }
        case "@missing": missingAllowed = try flag()
        case "@univariate":
          if try flag(), !dimensionsGiven { file.dimensions = 1 }
        case "@dimensions":
          guard let d = Int(arg), d > 0 else { throw fail("bad @dimensions '\(arg)'") }
          file.dimensions = d
          dimensionsGiven = true
        case "@equallength": file.equalLength = try flag()
        case "@classlabel":
          hasLabels = try flag()
          file.classLabels = hasLabels ? Array(words.dropFirst(2)) : []
          if hasLabels && file.classLabels.isEmpty {
            throw fail("@classLabel true lists no labels")
          }
        case "@data": inData = true
        default: break  // @seriesLength, @targetLabel and the like: not needed here
        }
        continue
      }
      var parts = line.split(separator: ":", omittingEmptySubsequences: false)
      var label: String? = nil
      if hasLabels {
        label = String(parts.removeLast()).trimmingCharacters(in: .whitespaces)
        guard file.classLabels.contains(label!) else {
          throw fail("class label '\(label!)' is not in the header's \(file.classLabels)")
        }
      }
      guard parts.count == file.dimensions else {
        throw fail("case has \(parts.count) dimensions, the header says \(file.dimensions)")
      }
      var series: [[Float]] = []
      series.reserveCapacity(parts.count)
      for (d, part) in parts.enumerated() {
        var values: [Float] = []
        for field in part.split(separator: ",", omittingEmptySubsequences: false) {
          let s = field.trimmingCharacters(in: .whitespaces)
          if s == "?" || s.lowercased() == "nan" {
            guard missingAllowed else { throw fail("missing value in dimension \(d + 1)") }
            values.append(.nan)
          } else if let v = Float(s) {
            values.append(v)
          } else {
            throw fail("'\(s)' in dimension \(d + 1) is not a number")
          }
        }
        series.append(values)
      }
      file.cases.append((series: series, label: label))
    }
    guard inData else { throw .corrupt(path: path, reason: "no @data line") }
    return file
  }
}
