import Foundation

/// A report as a small document tree, rendered to Markdown or to self-contained HTML, so both
/// formats always carry the same content.
public struct Document: Sendable {
  public enum Block: Sendable {
    case heading(level: Int, text: String)
    case paragraph(String)
    case bullets([String])
    case table(header: [String], rows: [[String]], alignRight: Set<Int>)
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
      }
    }
    return out + "</body></html>\n"
  }
}
