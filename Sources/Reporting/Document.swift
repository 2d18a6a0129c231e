import Foundation

/// A report as a small document tree, rendered to Markdown or to self-contained HTML, so both
/// formats always carry the same content.
public struct Document: Sendable {
  public enum Block: Sendable {
    case heading(level: Int, text: String)
    case paragraph(String)
    case bullets([String])
    case table(header: [String], rows: [[String]], alignRight: Set<Int>)
    case figure(Figure)
  }
  public var title: String
  public var blocks: [Block] = []
  public init(title: String) { self.title = title }

  public mutating func heading(_ text: String, level: Int = 2) {
    blocks.append(.heading(level: level, text: text))
  }
  public mutating func paragraph(_ text: String) { blocks.append(.paragraph(text)) }
  public mutating func bullets(_ items: [String]) { blocks.append(.bullets(items)) }
  public mutating func table(_ header: [String], _ rows: [[String]], alignRight: Set<Int> = []) {
    blocks.append(.table(header: header, rows: rows, alignRight: alignRight))
  }
  public mutating func figure(_ figure: Figure) { blocks.append(.figure(figure)) }

  public func markdown() -> String {
    var out = "# \(title)\n"
    for b in blocks {
      out += "\n"
      switch b {
      case .heading(let level, let text): out += String(repeating: "#", count: level) + " \(text)\n"
      case .paragraph(let text): out += "\(text)\n"
      case .bullets(let items): out += items.map { "- \($0)\n" }.joined()
      case .table(let header, let rows, let right):
        func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }
        out += "| " + header.map(cell).joined(separator: " | ") + " |\n"
        out +=
          "|" + header.indices.map { right.contains($0) ? " ---: |" : " --- |" }.joined() + "\n"
        for r in rows { out += "| " + r.map(cell).joined(separator: " | ") + " |\n" }
      case .figure(let f):
        out += "**Figure: \(f.title).** \(f.caption)\n"
        if f.svg != nil { out += "\n![\(f.title)](\(f.directory)/\(f.name).svg)\n" }
        if let note = f.note { out += "\n_\(note)_\n" }
        if !f.files.isEmpty {
          out +=
            "\n" + f.files.map { "[\($0)](\(f.directory)/\($0))" }.joined(separator: " · ")
            + "\n"
        }
      }
    }
    return out
  }

  public func html() -> String {
    func esc(_ s: String) -> String {
      s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;")
    }
    /// Inline `code` and **bold** of the Markdown text, so both renderings read alike.
    func inline(_ s: String) -> String {
      var t = esc(s)
      for (mark, tag) in [("`", "code"), ("**", "strong")] {
        let parts = t.components(separatedBy: mark)
        guard parts.count >= 3 else { continue }
        t = parts.enumerated().map { i, p in
          i == 0 ? p : (i % 2 == 1 ? "<\(tag)>" : "</\(tag)>") + p
        }.joined()
        if parts.count % 2 == 0 { t += "</\(tag)>" }
      }
      return t
    }
    var out = """
      <!DOCTYPE html>
      <html lang="en"><head><meta charset="utf-8"><title>\(esc(title))</title>
      <style>
      body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#222}
      table{border-collapse:collapse;margin:1em 0;font-size:0.9em}
      th,td{border:1px solid #ccc;padding:0.25em 0.6em}th{background:#f3f3f3}
      td.r{text-align:right;font-variant-numeric:tabular-nums}code{background:#f5f5f5;padding:0 0.2em}
      figure{margin:1.5em 0}figcaption{margin-bottom:0.5em}.plot svg{width:100%;max-width:56em;height:auto}
      p.files,p.note{font-size:0.9em;color:#555}
      </style></head><body>
      <h1>\(esc(title))</h1>

      """
    for b in blocks {
      switch b {
      case .heading(let level, let text): out += "<h\(level)>\(inline(text))</h\(level)>\n"
      case .paragraph(let text): out += "<p>\(inline(text))</p>\n"
      case .bullets(let items):
        out += "<ul>" + items.map { "<li>\(inline($0))</li>" }.joined() + "</ul>\n"
      case .table(let header, let rows, let right):
        out +=
          "<table><thead><tr>" + header.map { "<th>\(inline($0))</th>" }.joined()
          + "</tr></thead><tbody>\n"
        for r in rows {
          out +=
            "<tr>"
            + r.enumerated().map { i, c in
              right.contains(i) ? "<td class=\"r\">\(inline(c))</td>" : "<td>\(inline(c))</td>"
            }.joined() + "</tr>\n"
        }
        out += "</tbody></table>\n"
      case .figure(let f):
        out +=
          "<figure id=\"fig-\(esc(f.name))\"><figcaption><strong>\(inline(f.title)).</strong> "
          + "\(inline(f.caption))</figcaption>\n"
        if let svg = f.svg {
          out +=
            "<div class=\"plot\">\n\(SVGInline.prepare(svg, idPrefix: f.name, title: f.title))</div>\n"
        }
        if let note = f.note { out += "<p class=\"note\"><em>\(inline(note))</em></p>\n" }
        if !f.files.isEmpty {
          out +=
            "<p class=\"files\">"
            + f.files.map { "<a href=\"\(esc(f.directory))/\(esc($0))\">\(esc($0))</a>" }
            .joined(separator: " · ") + "</p>\n"
        }
        out += "</figure>\n"
      }
    }
    return out + "</body></html>\n"
  }
}

/// A plot in a report: drawn by gnuplot from `<directory>/<name>.csv` with `<name>.gp`, inlined as
/// SVG in the HTML rendering and linked from the Markdown one.
public struct Figure: Sendable {
  /// The file stem under `directory` (`pareto` for `plots/pareto.svg`).
  public var name: String
  public var title: String
  public var caption: String
  /// The SVG gnuplot wrote, when it ran.
  public var svg: String?
  /// Why there is no plot, or anything else the reader must know about it.
  public var note: String?
  /// Files beside the plot to link (data and script), relative to `directory`.
  public var files: [String]
  /// The directory of the plot files, relative to the report.
  public var directory: String
  public init(
    name: String, title: String, caption: String, svg: String?, note: String?, files: [String],
    directory: String = "plots"
  ) {
    self.name = name
    self.title = title
    self.caption = caption
    self.svg = svg
    self.note = note
    self.files = files
    self.directory = directory
  }
}

/// Makes gnuplot's standalone SVG fit inside an HTML page: no XML prolog or doctype, and every
/// `id` (gnuplot names its point symbols `gpPt0`…, its canvas `gnuplot_canvas` in every file)
/// prefixed with the plot's name, with the references to them, so several plots in one page do
/// not share ids.
public enum SVGInline {
  public static func prepare(_ svg: String, idPrefix: String, title: String? = nil) -> String {
    let prefix = idPrefix.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" } + "-"
    var lines: [String] = []
    for line in svg.split(separator: "\n", omittingEmptySubsequences: false) {
      let t = line.trimmingCharacters(in: .whitespaces)
      if t.hasPrefix("<?xml") || t.hasPrefix("<!DOCTYPE") { continue }
      lines.append(String(line))
    }
    var out = lines.joined(separator: "\n")
    for quote in ["'", "\""] {
      out = out.replacingOccurrences(of: "id=\(quote)", with: "id=\(quote)\(prefix)")
      out = out.replacingOccurrences(of: "href=\(quote)#", with: "href=\(quote)#\(prefix)")
    }
    out = out.replacingOccurrences(of: "url(#", with: "url(#\(prefix)")
    if let title {
      let esc = title.replacingOccurrences(of: "&", with: "&amp;")
        .replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
      out = out.replacingOccurrences(of: "<title>Gnuplot</title>", with: "<title>\(esc)</title>")
    }
    return out.trimmingCharacters(in: .whitespacesAndNewlines) + "\n"
  }
}
