import Foundation

/// Progress of a sweep on stderr. On a terminal: event lines scroll above a live block with one
/// line per running worker (its trial and the last line of its log) and an overall bar with
/// trials done, failures, the size of the Pareto front so far and an ETA. Elsewhere (logs, Slurm):
/// plain lines only — every event, and a status line at most once a minute.
struct ProgressDisplay {
  struct Worker {
    var label: String
    var logPath: String
    var started: Double
  }

  let isTerminal: Bool
  let write: (String) -> Void
  private var drawnLines = 0
  private var lastStatus = 0.0

  init(write: @escaping (String) -> Void) {
    self.isTerminal = isatty(2) != 0 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    self.write = write
  }

  /// A line that stays (a trial started or finished).
  mutating func event(_ line: String) {
    clear()
    write("blkrew: " + line + "\n")
  }

  /// Redraws the live block (terminal) or prints a status line now and then (plain).
  mutating func refresh(
    workers: [Worker], done: Int, failed: Int, total: Int, front: String, eta: Double?, now: Double
  ) {
    let summary =
      "\(done)/\(total) done, \(failed) failed, \(workers.count) running, front \(front)"
      + (eta.map { ", ETA \(Self.duration($0))" } ?? "")
    if !isTerminal {
      if now - lastStatus >= 60 {
        lastStatus = now
        write("blkrew: progress: \(summary)\n")
      }
      return
    }
    clear()
    var lines: [String] = []
    for (i, w) in workers.enumerated() {
      let last = Self.lastLine(of: w.logPath).map { " — \($0)" } ?? ""
      lines.append(
        "  worker \(i + 1): \(w.label) \(Self.duration(now - w.started))\(last)".prefix(
          Self.width()
        ).description)
    }
    let barWidth = 30
    let filled = total > 0 ? min(barWidth, barWidth * done / total) : 0
    lines.append(
      "  [" + String(repeating: "=", count: filled)
        + String(repeating: " ", count: barWidth - filled) + "] "
        + summary)
    write(lines.joined(separator: "\n") + "\n")
    drawnLines = lines.count
  }

  /// Removes the live block before anything else is printed.
  mutating func clear() {
    guard isTerminal, drawnLines > 0 else { return }
    write(String(repeating: "\u{1B}[1A\u{1B}[2K", count: drawnLines))
    drawnLines = 0
  }

  static func duration(_ s: Double) -> String {
    let t = Int(s.rounded())
    return t >= 3600
      ? "\(t / 3600)h\(String(format: "%02d", (t % 3600) / 60))m"
      : t >= 60 ? "\(t / 60)m\(String(format: "%02d", t % 60))s" : "\(t)s"
  }

  static func width() -> Int {
    var ws = winsize()
    return ioctl(2, UInt(TIOCGWINSZ), &ws) == 0 && ws.ws_col > 20 ? Int(ws.ws_col) - 1 : 119
  }

  /// The last non-empty line of a log (its tail only is read).
  static func lastLine(of path: String) -> String? {
    guard let h = FileHandle(forReadingAtPath: path) else { return nil }
    defer { try? h.close() }
    let end = (try? h.seekToEnd()) ?? 0
    try? h.seek(toOffset: end > 400 ? end - 400 : 0)
    let data = (try? h.readToEnd()) ?? Data()
    return String(decoding: data, as: UTF8.self).split(separator: "\n").last.map {
      $0.trimmingCharacters(in: .whitespaces)
    }
  }
}
