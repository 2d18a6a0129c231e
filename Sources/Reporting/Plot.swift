import Foundation

/// One plot of a report, as data and a gnuplot script: `<name>.csv` holds exactly the plotted
/// numbers (header row first) and `<name>.gp` draws them into `<name>.svg` when run in the
/// directory of the CSV (`gnuplot <name>.gp`). Both are generated deterministically from the
/// run's records: same records, same bytes (no timestamps, stable order, fixed number formats).
/// Reporting only produces the text; the Driver writes the files and runs gnuplot.
public struct Plot: Sendable, Hashable {
  /// The file stem (`[a-z0-9-]`).
  public var name: String
  public var title: String
  /// What is plotted, how to read it, and what the numbers include.
  public var caption: String
  public var csv: String
  /// The gnuplot script; nil when there is nothing to draw (then `note` says why).
  public var script: String?
  public var note: String?

  public var csvFile: String { "\(name).csv" }
  public var scriptFile: String { "\(name).gp" }
  public var svgFile: String { "\(name).svg" }

  public init(
    name: String, title: String, caption: String, csv: String, script: String?,
    note: String? = nil
  ) {
    self.name = name
    self.title = title
    self.caption = caption
    self.csv = csv
    self.script = script
    self.note = note
  }
}

/// What became of the plots when the report was written: the SVG text of those gnuplot drew,
/// gnuplot's error for those it could not, or why none was drawn (gnuplot missing).
public struct PlotRendering: Sendable {
  public var svgs: [String: String]
  public var errors: [String: String]
  /// Set when no plot was drawn at all; shown in place of every figure.
  public var skippedReason: String?
  /// The plot files' directory relative to the report.
  public var directory: String

  public init(
    svgs: [String: String] = [:], errors: [String: String] = [:], skippedReason: String? = nil,
    directory: String = "plots"
  ) {
    self.svgs = svgs
    self.errors = errors
    self.skippedReason = skippedReason
    self.directory = directory
  }

  /// The message of a report written without gnuplot.
  public static let gnuplotMissing =
    "gnuplot is not installed, so this plot was skipped; its data and gnuplot script are in plots/. "
    + "To get the plots: `apt-get install -y --no-install-recommends gnuplot-nox` (or `make setup`), "
    + "then write the report again (or run `gnuplot NAME.gp` in plots/)."

  /// The figure of `plot` as the document shows it.
  func figure(_ plot: Plot) -> Figure {
    var notes: [String] = []
    if let n = plot.note { notes.append(n) }
    let svg = svgs[plot.name]
    if plot.script != nil && svg == nil {
      if let e = errors[plot.name] {
        notes.append("gnuplot could not draw this plot: \(e)")
      } else if let why = skippedReason {
        notes.append(why)
      }
    }
    var files = [plot.csvFile]
    if plot.script != nil { files.append(plot.scriptFile) }
    if svg != nil { files.append(plot.svgFile) }
    return Figure(
      name: plot.name, title: plot.title, caption: plot.caption, svg: svg,
      note: notes.isEmpty ? nil : notes.joined(separator: " "), files: files,
      directory: directory)
  }
}

/// Builds a gnuplot script line by line with the settings every blkrew plot shares.
struct GnuplotScript {
  var lines: [String]

  /// The SVG terminal (`noenhanced`: names like `weight_ih_l0` print as they are), UTF-8 text, a
  /// comma-separated data file whose empty fields are missing values. The output file is
  /// `outfile` when the caller defines it (`gnuplot -e "outfile='x.tmp'" name.gp`), else
  /// `<name>.svg`.
  init(name: String, title: String, width: Int = 800, height: Int = 480) {
    lines = [
      "# blkrew plot '\(name)', generated from the run's records (deterministic).",
      "# Data: \(name).csv (first row: column names). Draw it here with: gnuplot \(name).gp",
      "if (!exists(\"outfile\")) outfile = '\(name).svg'",
      "set encoding utf8",
      "set terminal svg size \(width),\(height) dynamic noenhanced font 'sans,11' background rgb 'white'",
      "set output outfile",
      "set datafile separator ','",
      "set datafile missing ''",
      "set title \(gq(title))",
      "set grid",
      "set key outside right top",
    ]
  }

  mutating func add(_ line: String) { lines.append(line) }

  /// A `plot` command of several elements, one per line.
  mutating func plot(_ elements: [String], command: String = "plot") {
    guard !elements.isEmpty else { return }
    lines.append(command + " " + elements.joined(separator: ", \\\n     "))
  }

  var text: String { lines.joined(separator: "\n") + "\n" }
}

/// A gnuplot single-quoted string (no escapes inside; a quote is doubled).
func gq(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }

/// A number for data files and scripts: `%.6g` (deterministic, parseable by gnuplot and
/// spreadsheets), empty for nil or non-finite values (a missing value, never a silent 0).
func num(_ x: Double?) -> String {
  guard let x, x.isFinite else { return "" }
  return String(format: "%.6g", x)
}

/// RFC 4180 CSV text: a header and rows; fields with a comma, quote or line break are quoted.
func csvText(_ header: [String], _ rows: [[String]]) -> String {
  func field(_ s: String) -> String {
    s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
      ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
  }
  return ([header] + rows).map { $0.map(field).joined(separator: ",") }.joined(separator: "\n")
    + "\n"
}

/// A file-name-safe form of a label: lowercase letters, digits and `-`.
func fileStem(_ s: String) -> String {
  var out = ""
  for c in s.lowercased() {
    if c.isASCII && (c.isLetter || c.isNumber) {
      out.append(c)
    } else if !out.hasSuffix("-") {
      out.append("-")
    }
  }
  let t = out.trimmingCharacters(in: CharacterSet(charactersIn: "-"))
  return t.isEmpty ? "x" : t
}
