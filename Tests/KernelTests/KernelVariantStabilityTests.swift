import KernelCodegen
import Testing
import TuningSchema

/// The scalar variants of dense and block-column must keep their IDs and generated text when
/// knobs or formats are added: the golden values below were computed by the generator before the
/// `isa` knob and the csr / block-row formats existed (kernelgen-2).
@Suite struct KernelVariantStabilityTests {
  static func fingerprint() -> (ids: String, text: String) {
    let layer = TestLayer.blockColumn(rows: 37, cols: 53, br: 8, bc: 16, seed: 5)
    var ids = ""
    var text = ""
    for format in [KernelFormat.dense, .blockColumn] {
      for batch in [1, 19] {
        let w = layer.workload(format, br: format == .dense ? 1 : 8, bc: format == .dense ? 1 : 16)
        for v in KernelGenerator.variants(
          for: w, batch: batch, target: "host", compiler: "gcc", flags: testFlags)
        {
          ids += v.id + "\n"
          text += KernelGenerator.generate(v).source
        }
      }
    }
    return (SHA256.hex(of: Array(ids.utf8)), SHA256.hex(of: Array(text.utf8)))
  }

  @Test func scalarVariantIDsAndTextAreUnchanged() {
    let f = Self.fingerprint()

    #expect(f.ids == Self.goldenIDs)
    #expect(f.text == Self.goldenText)
  }

  /// The explicit-ISA block-column variants (AVX2, AVX-512, NEON; N = 1 and N > 1) at the
  /// defaults of the knobs added since (threads, prefetch, n_block, baked, reorder): the golden
  /// value is that of the generator before the baked and reorder knobs were added (commit
  /// 3eb4b90, kernelgen-2), checked equal after.
  static func isaFingerprint() -> String {
    let layer = TestLayer.blockColumn(rows: 37, cols: 53, br: 8, bc: 16, seed: 5)
    var text = ""
    for batch in [1, 19] {
      let w = layer.workload(.blockColumn, br: 8, bc: 16)
      for v in KernelGenerator.variants(
        for: w, batch: batch, target: "host", compiler: "gcc", flags: testFlags,
        isas: [.avx2, .avx512, .neon])
      {
        text += KernelGenerator.generate(v).source
      }
    }
    return SHA256.hex(of: Array(text.utf8))
  }

  @Test func isaVariantTextIsUnchanged() {
    #expect(Self.isaFingerprint() == Self.goldenISAText)
  }

  static let goldenISAText = "77793daad1e3f9405e9e8a3277c86140cdbf1d29c474a7b044ea14e3247cd7d7"
  static let goldenIDs = "1f2013123b1c9f256adff1881ae204f990ac4a097c91e1a7dc19ff02db137a06"
  static let goldenText = "a358c2a222b0cf443420b8776ac73af8127868a80960f52dac121a0c97f827a5"
}
