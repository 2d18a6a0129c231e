import Foundation
import Testing
import TuningSchema

@testable import Reporting

@Suite struct PaperTableTests {
  @Test func latexTableInThePapersLayout() {
    let r = SyntheticRun.paperMethods().report()
    let tex = PaperTable(r).latex()
    #expect(tex == PaperTable(r).latex())  // deterministic
    for s in [
      "\\usepackage{booktabs}", "\\toprule", "\\midrule", "\\bottomrule",
      "\\begin{tabular}{llrrrr}",
      "Model & Method & Compression & Accuracy (\\%) & Latency ($\\mu$s) & Speedup \\\\",
      "\\label{tab:blkrew-synthetic}",
    ] {
      #expect(tex.contains(s), "missing \(s) in\n\(tex)")
    }
    let lines = tex.split(separator: "\n").map(String.init)
    // Dense first, the model named once, mean ± sd over the two seeds.
    let dense = lines.first { $0.hasPrefix("LeNet-5 & Dense") }
    #expect(
      dense
        == "LeNet-5 & Dense & 1$\\times$ & 86.00 $\\pm$ 1.41 & 10.00 $\\pm$ 0.00 & 1.00$\\times$ \\\\"
    )
    // Group lasso at 8x: 80.5 ± 0.71 %, 3.10 ± 0.14 µs, speedup mean of 10/3 and 10/3.2.
    let gl = lines.first { $0.hasPrefix(" & Group lasso & 8$\\times$") }
    #expect(
      gl?.contains("& 80.50 $\\pm$ 0.71 & 3.10 $\\pm$ 0.14 & 3.23$\\times$ \\\\") == true,
      "\(gl ?? tex)")
    #expect(
      gl?.contains("8$\\times$ (8.00$\\times$)") == true, "nominal and achieved rate: \(gl ?? "")")
    #expect(lines.filter { $0.contains(" & BLK-REW & ") }.count == 2)
    #expect(lines.filter { $0.contains(" & ADMM & ") }.count == 2)
  }

  @Test func speedupNotEstablishedIsNotClaimed() {
    var run = SyntheticRun.paperMethods()
    // 1% faster than dense: inside the 2% noise floor.
    run.configs[0].latency = [9.9e-6, 9.9e-6]
    let t = PaperTable(run.report())
    let row = t.markdownRows.first { $0[1] == "BLK-REW" && $0[2].hasPrefix("2×") }
    #expect(row?[5] == "≈1× (n.s.)")
    #expect(t.latex().contains("$\\approx$1$\\times$ (n.s.)"))
  }

  @Test func escaping() {
    #expect(
      latexEscape("a_b 5% & #1 {x} ~ ^ \\")
        == "a\\_b 5\\% \\& \\#1 \\{x\\} \\textasciitilde{} \\textasciicircum{} \\textbackslash{}")
    #expect(latexEscape("0.1 ± 0.2 ×") == "0.1 $\\pm$ 0.2 $\\times$")
  }

  @Test func blocksInTheMethodWhenSeveral() {
    var run = SyntheticRun()
    run.configs = [
      .init(
        method: "blk-rew", kind: .reweighted, block: BlockShape(rows: 4, cols: 4), rate: 8,
        accuracy: [0.85, 0.85], latency: [4e-6, 4e-6]),
      .init(
        method: "blk-rew", kind: .reweighted, block: BlockShape(rows: 16, cols: 16), rate: 8,
        accuracy: [0.84, 0.84], latency: [3e-6, 3e-6]),
    ]
    let rows = PaperTable(run.report()).markdownRows
    #expect(rows.map { $0[1] } == ["Dense", "BLK-REW 4×4", "BLK-REW 16×16"])
  }
}

@Suite struct PaperClaimTests {
  func verdicts(_ run: SyntheticRun) -> [String: ClaimCheck] {
    Dictionary(uniqueKeysWithValues: PaperClaims.check(run.report()).map { ($0.id, $0) })
  }

  @Test func claimsHoldOnThePapersNumbers() {
    let v = verdicts(SyntheticRun.paperMethods())
    #expect(v["a-group-lasso"]?.verdict == .holds)
    #expect(v["a-admm"]?.verdict == .holds)
    #expect(v["b"]?.verdict == .holds)
    #expect(v["c"]?.verdict == .holds)
    #expect(v["d"]?.verdict == .notTestable)
    // The numbers, with the standard deviations.
    #expect(
      v["a-group-lasso"]?.details.contains(
        "4x4 R8: BLK-REW 85.75 ± 0.35 % vs group lasso 80.50 ± 0.71 % (+5.25 points): less lost")
        == true, "\(v["a-group-lasso"]?.details ?? [])")
    #expect(
      v["b"]?.details.first
        == "BLK-REW 4x4 R8: 85.75 ± 0.35 % vs dense 86.00 ± 1.41 % (-0.25 points): within 1 point")
    #expect(
      v["c"]?.details.first?.hasPrefix("BLK-REW 4x4: R2 1.42 ± 0.01×, R8 3.28 ± 0.08×") == true,
      "\(v["c"]?.details ?? [])")
  }

  @Test func claimsThatDoNotHold() {
    var run = SyntheticRun.paperMethods()
    run.configs[3].accuracy = [0.87, 0.87]  // group lasso beats BLK-REW at 8x
    run.configs[1].accuracy = [0.83, 0.84]  // BLK-REW 8x loses 2.5 points
    run.configs[1].latency = [8e-6, 8e-6]  // and is slower than at 2x
    let v = verdicts(run)
    #expect(v["a-group-lasso"]?.verdict == .doesNotHold)
    #expect(v["a-group-lasso"]?.details.contains { $0.hasSuffix("not less lost") } == true)
    #expect(v["a-admm"]?.verdict == .holds)
    #expect(v["b"]?.verdict == .doesNotHold)
    #expect(v["c"]?.verdict == .doesNotHold)
    #expect(v["c"]?.details.first?.contains("drops by more than the noise floor") == true)
  }

  @Test func untestableClaimsSayWhatIsMissing() {
    var run = SyntheticRun()
    run.configs = [
      .init(
        method: "blk-rew", kind: .reweighted, block: BlockShape(rows: 4, cols: 4), rate: 4,
        accuracy: [0.85, 0.85], latency: [4e-6, 4e-6])
    ]
    let v = verdicts(run)
    #expect(v.values.allSatisfy { $0.verdict == .notTestable })
    #expect(v["a-admm"]?.details.first?.hasPrefix("no ADMM trial") == true)
    #expect(v["b"]?.details.first?.contains("rates in this run: 4") == true)
  }

  @Test func largerBlocksFasterButLessAccurate() {
    var run = SyntheticRun()
    let shapes: [(BlockShape, Double, Double)] = [
      (BlockShape(rows: 4, cols: 4), 0.86, 6e-6), (BlockShape(rows: 8, cols: 8), 0.85, 5e-6),
      (BlockShape(rows: 16, cols: 16), 0.83, 4e-6),
    ]
    run.configs = shapes.map {
      .init(
        method: "blk-rew", kind: .reweighted, block: $0.0, rate: 8, accuracy: [$0.1, $0.1 + 0.002],
        latency: [$0.2, $0.2])
    }
    var v = verdicts(run)
    #expect(v["d"]?.verdict == .holds, "\(v["d"]?.details ?? [])")
    #expect(
      v["d"]?.details.contains { $0.hasPrefix("16x16 vs 8x8: 1.25× the speed (faster)") } == true)
    #expect(v["c"]?.verdict == .notTestable)  // one rate

    // 16x16 no faster than 8x8 (within the noise floor): does not hold.
    run.configs[2].latency = [4.95e-6, 4.95e-6]
    v = verdicts(run)
    #expect(v["d"]?.verdict == .doesNotHold)
    #expect(v["d"]?.details.contains { $0.contains("not faster beyond the noise floor") } == true)
  }

  @Test func reproductionDocuments() {
    let r = Reproduction(SyntheticRun.paperMethods().report())
    let md = r.document().markdown()
    #expect(md.contains("## The paper's claims"))
    #expect(
      md.contains(
        "| (a-admm) block-column BLK-REW loses less accuracy than ADMM at the same rate | **holds** |"
      ))
    #expect(md.contains("| model | method | compression | accuracy (%) | latency (µs) | speedup |"))
    let tex = r.latex()
    #expect(tex.contains("\\textbf{not testable in this run}"))
    #expect(tex.contains("\\begin{tabular}"))
    #expect(r.summaryLines.count == 5)
  }
}
