import Foundation
import Testing
import TuningSchema

@testable import Reporting

@Suite struct PlotTests {
  @Test func plotsAreDeterministicWhateverTheRecordOrder() {
    let run = SyntheticRun.paperMethods(hardwareCounters: true)
    let (m, trials, kernels) = run.build()
    func report(_ ts: [TrialRecord], _ ks: [RunResult]) -> RunReport {
      RunReport(
        manifest: m, trials: ts,
        samples: Dictionary(uniqueKeysWithValues: ks.map { ($0.variantID, $0.samplesSeconds) }),
        kernels: Dictionary(uniqueKeysWithValues: ks.map { ($0.variantID, $0) }))
    }
    let a = report(trials, kernels).plots()
    let b = report(trials.reversed(), kernels.reversed()).plots()
    #expect(a == b)
    #expect(
      a.map(\.name) == [
        "pareto", "accuracy-vs-compression", "speedup-vs-compression", "layer-latency",
        "counters", "norm-histograms-blk-rew", "norm-histograms-group-lasso",
        "norm-histograms-admm",
      ])
    for p in a {
      #expect(p.script != nil, "\(p.name): \(p.note ?? "")")
      let script = p.script ?? ""
      #expect(script.contains("set terminal svg"))
      #expect(script.contains("'\(p.name).csv'"))
      #expect(script.contains("if (!exists(\"outfile\")) outfile = '\(p.name).svg'"))
      #expect(!script.contains("nan") && !script.contains("inf"))
      #expect(p.csv.hasSuffix("\n"))
    }
  }

  @Test func paretoDataPutsTheFrontFirst() throws {
    let r = SyntheticRun.paperMethods().report()
    let p = r.paretoPlot()
    let lines = p.csv.split(separator: "\n").map(String.init)
    #expect(
      lines[0]
        == "trial_id,label,method,block,rate,seed,latency_us,latency_ci_low_us,latency_ci_high_us,quality,size_kib,front"
    )
    let rows = lines.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
    #expect(rows.count == r.trials.count)
    let k = r.frontIDs.count
    #expect(k >= 1)
    #expect(rows.prefix(k).allSatisfy { $0.last == "1" })
    #expect(rows.dropFirst(k).allSatisfy { $0.last == "0" })
    // The front is in latency order, and the script selects exactly those rows.
    let latencies = rows.prefix(k).map { Double($0[6])! }
    #expect(latencies == latencies.sorted())
    #expect(try #require(p.script).contains("every ::0::\(k - 1) using 7:10 with lines"))
    // Marker size from the weights size; CI as horizontal bars.
    #expect(p.script!.contains("ps variable"))
    #expect(p.script!.contains("xerrorbars"))
  }

  @Test func accuracyPlotHasOneSeriesPerMethodAndTheDenseLine() throws {
    let r = SyntheticRun.paperMethods().report()
    let p = r.accuracyPlot()
    let script = try #require(p.script)
    for m in ["blk-rew", "group-lasso", "admm"] { #expect(script.contains("title '\(m)'")) }
    // Dense mean of 0.85 and 0.87.
    #expect(script.contains("0.86 with lines dt 2"))
    #expect(
      p.csv.contains("1,group-lasso,group-lasso,4x4,8,2,0.805,0.00707107,"),
      "mean and sample sd over the two seeds: \(p.csv)")
    #expect(script.contains("every ::0::1 using 5:7 with linespoints"))
    #expect(script.contains("every ::0::1 using 5:7:8 with yerrorbars"))
    #expect(script.contains("every ::2::3 using 5:7:8"))
  }

  @Test func speedupPlotIsPerBlockShape() throws {
    let r = SyntheticRun.paperMethods().report()
    let p = r.speedupPlot()
    let rows = p.csv.split(separator: "\n").dropFirst()
    #expect(rows.count == 2)  // 4x4 at rates 2 and 8, over methods and seeds
    #expect(rows.allSatisfy { $0.hasPrefix("0,4x4,") })
    #expect(try #require(p.script).contains("title '4x4'"))
  }

  @Test func layerLatencyStacksTheFrontAndDense() throws {
    let r = SyntheticRun.paperMethods().report()
    let p = r.layerLatencyPlot()
    #expect(p.csv.hasPrefix("label,trial_id,conv1_us,fc1_us\n"))
    #expect(p.csv.contains("dense s1,"))
    let script = try #require(p.script)
    #expect(script.contains("rowstacked"))
    #expect(script.contains("using 3:xtic(1)"))
    #expect(script.contains("using 4 lc 2 title 'fc1'"))
  }

  @Test func noHardwareCountersSaysSoInsteadOfAnEmptyPlot() {
    let r = SyntheticRun.paperMethods(hardwareCounters: false).report()
    let p = r.counterPlot()
    #expect(p.script == nil)
    #expect(p.note?.contains("No hardware counters were readable") == true)
    #expect(p.note?.contains("PAPI_TOT_CYC: PAPI_add_event") == true)
    // The per-variant data is still there (time, GFLOP/s).
    #expect(p.csv.split(separator: "\n").count == 1 + r.kernels.count)

    let withCounters = SyntheticRun.paperMethods(hardwareCounters: true).report().counterPlot()
    let script = withCounters.script ?? ""
    #expect(script.contains("multiplot layout 2,1"))
    #expect(script.contains("'L1D misses/1k ins'"))
    // IPC = TOT_INS / TOT_CYC = 2 and 1000 · L1_DCM / TOT_INS = 5 in the fixture.
    #expect(withCounters.csv.split(separator: "\n")[1].contains(",2,5,,,,"))
  }

  @Test func normHistogramsBeforeAndAfter() throws {
    let r = SyntheticRun.paperMethods().report()
    let plots = r.normHistogramPlots()
    #expect(plots.count == 3)
    let p = plots[0]
    #expect(p.title == "Group norms: blk-rew 4x4 R8 seed 1")  // highest rate, lowest seed
    let script = try #require(p.script)
    #expect(script.contains("multiplot layout 1,2"))
    #expect(script.contains("zeros 0 → 1; below range 0 → 2"))
    #expect(script.contains("every ::0::7 using 5:6:($4-$3) with boxes"))
    #expect(script.contains("every ::8::15 "))
    #expect(p.csv.split(separator: "\n").count == 1 + 2 * 2 * 8)

    let dense = SyntheticRun()
    let none = dense.report().normHistogramPlots()
    #expect(none.count == 1 && none[0].script == nil)
  }

  @Test func quotingAndNumbers() {
    #expect(gq("it's") == "'it''s'")
    #expect(num(nil) == "" && num(.nan) == "" && num(.infinity) == "")
    #expect(num(0.1 + 0.2) == "0.3")
    #expect(num(1.5e-7) == "1.5e-07")
    #expect(csvText(["a", "b"], [["x,y", "q\"t"]]) == "a,b\n\"x,y\",\"q\"\"t\"\n")
    #expect(fileStem("Group Lasso (8x16)") == "group-lasso-8x16")
  }

  @Test func methodNames() {
    let run = SyntheticRun.paperMethods()
    var c = run.trialConfig(seed: 1, config: run.configs[2])
    #expect(c.methodName == "group-lasso")
    c.method = nil
    #expect(c.methodName == "group-lasso")
    c.regularizer?.kind = .reweighted
    #expect(c.methodName == "blk-rew")
    #expect(run.trialConfig(seed: 1, config: nil).methodName == "dense")
  }
}

@Suite struct FigureRenderingTests {
  let svg = """
    <?xml version="1.0" encoding="utf-8"  standalone="no"?>
    <svg viewBox="0 0 10 10" xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">
    <title>Gnuplot</title>
    <g id="gnuplot_canvas"><defs><circle id='gpPt5' r='1'/><use xlink:href='#gpPt5' id='gpPt6'/></defs>
    <use xlink:href='#gpPt6' x='1' y='1'/><text filter='url(#textbox)'>a</text></g>
    </svg>
    """

  @Test func inlineSVGHasUniqueIDsAndNoProlog() {
    let out = SVGInline.prepare(svg, idPrefix: "pareto", title: "Pareto <front>")
    #expect(!out.contains("<?xml"))
    #expect(out.hasPrefix("<svg"))
    #expect(out.contains("id=\"pareto-gnuplot_canvas\""))
    #expect(out.contains("id='pareto-gpPt5'") && out.contains("href='#pareto-gpPt5'"))
    #expect(out.contains("href='#pareto-gpPt6'"))
    #expect(out.contains("url(#pareto-textbox)"))
    #expect(out.contains("<title>Pareto &lt;front&gt;</title>"))
    #expect(!out.contains("'gpPt"))
  }

  @Test func figuresInBothRenderings() {
    let r = SyntheticRun.paperMethods().report()
    let rendering = PlotRendering(svgs: ["pareto": svg], errors: ["layer-latency": "boom"])
    let doc = r.document(plots: rendering)
    let md = doc.markdown()
    #expect(md.contains("![Pareto front: test accuracy vs model latency](plots/pareto.svg)"))
    #expect(md.contains("[pareto.csv](plots/pareto.csv) · [pareto.gp](plots/pareto.gp)"))
    #expect(md.contains("gnuplot could not draw this plot: boom"))
    #expect(md.contains("## Group norms"))
    #expect(md.contains("No hardware counters were readable"))
    let html = doc.html()
    #expect(html.contains("<figure id=\"fig-pareto\">"))
    #expect(html.contains("<svg viewBox"))
    #expect(html.contains("id='pareto-gpPt5'"))
    #expect(html.components(separatedBy: "<svg").count - 1 == 1)
    #expect(html.contains("<a href=\"plots/pareto.csv\">pareto.csv</a>"))

    // Without gnuplot: every figure says so and how to get it; the tables are all there.
    let skipped = r.document(plots: PlotRendering(skippedReason: PlotRendering.gnuplotMissing))
      .markdown()
    #expect(skipped.contains("**Plots skipped.** gnuplot is not installed"))
    #expect(skipped.contains("apt-get install -y --no-install-recommends gnuplot-nox"))
    #expect(!skipped.contains("!["))
    #expect(skipped.contains("## Across seeds") && skipped.contains("## Per-layer latency"))

    // Without plots the document is what it was.
    #expect(!r.document().markdown().contains("Figure"))
  }
}
