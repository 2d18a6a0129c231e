import ChildProcesses
import Foundation
import Testing

/// Chromium from Debian (`chromium`), or `$BLKREW_CHROMIUM`; nil when neither is there. The tier
/// installs nothing: CI without a browser skips it with the reason.
let chromiumPath: String? = {
  if let p = ProcessInfo.processInfo.environment["BLKREW_CHROMIUM"], !p.isEmpty {
    return ChildProcess.which(p)
  }
  return ChildProcess.which("chromium") ?? ChildProcess.which("chromium-browser")
}()

/// The browser tier: the HTML report rendered by a real headless browser.
@Suite(
  .enabled(
    if: chromiumPath != nil,
    "chromium is not installed (apt-get install -y --no-install-recommends chromium); browser tier skipped"
  ),
  .enabled(if: gnuplotPath != nil, "gnuplot is not installed: the report has no plots to render"))
struct BrowserTests {
  func chromium(_ args: [String], cwd: String) throws -> ChildResult {
    try ChildProcess.run(
      chromiumPath!,
      [
        "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
        "--disable-background-networking", "--enable-logging=stderr", "--v=0",
        "--user-data-dir=\(cwd)/chromium-profile",
      ] + args, workingDirectory: cwd, timeout: 180)
  }

  @Test func htmlReportRendersWithItsPlots() throws {
    let dir = temporaryDirectory("browser")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let run = try HandMadeRun().write(under: dir)
    let r = try blkrewCommand(["report", run, "--format", "html", "--out", "rep"], cwd: dir)
    #expect(r.exitCode == 0, "\(r.stderrText)")
    let svgs = files(in: "\(dir)/rep/plots").filter { $0.hasSuffix(".svg") }
    #expect(svgs.count >= 5)
    // The report must not need the plot files: render a copy alone in an empty directory.
    try FileManager.default.createDirectory(
      atPath: "\(dir)/alone", withIntermediateDirectories: true)
    try FileManager.default.copyItem(
      atPath: "\(dir)/rep/report.html", toPath: "\(dir)/alone/r.html")
    let url = "file://\(dir)/alone/r.html"

    let dom = try chromium(["--dump-dom", url], cwd: dir)
    #expect(dom.exitCode == 0, "\(dom.stderrText.suffix(2000))")
    let html = dom.stdoutText
    #expect(html.contains("<h1>blkrew report: hand</h1>"))
    // Every plot is in the rendered DOM as an SVG element with its text.
    #expect(html.components(separatedBy: "<svg").count - 1 == svgs.count)
    for name in svgs.map({ String($0.dropLast(4)) }) {
      #expect(html.contains("<figure id=\"fig-\(name)\">"), "\(name)")
    }
    #expect(html.contains("Pareto front"))
    // No script errors, no failed loads (the report is self-contained).
    let console = dom.stderrText.split(separator: "\n").filter {
      $0.contains("CONSOLE") || $0.contains("Uncaught") || $0.contains("net::ERR_")
    }
    #expect(console.isEmpty, "\(console)")

    let shot = try chromium(
      ["--screenshot=\(dir)/shot.png", "--window-size=1280,4000", "--hide-scrollbars", url],
      cwd: dir)
    #expect(shot.exitCode == 0, "\(shot.stderrText.suffix(2000))")
    let png = FileManager.default.contents(atPath: "\(dir)/shot.png") ?? Data()
    #expect(png.count > 10_000)
    #expect(png.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
  }
}
