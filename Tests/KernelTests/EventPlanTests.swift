import Foundation
import Testing

@testable import KernelRun

/// Event planning against recorded `papi_avail` / `papi_native_avail` outputs of real CPUs
/// (Tests/KernelTests/Fixtures; each file names its source on a `# source:` line).
@Suite struct EventPlanTests {
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Fixtures")

  static func fixture(_ name: String) throws -> String {
    try String(contentsOf: fixtures.appendingPathComponent(name), encoding: .utf8)
  }

  static let intelFile = "papi_avail-intel-xeon-e3-1578l-v5.txt"
  static let amdFile = "papi_avail-amd-ryzen-threadripper-3970x.txt"
  static let armFile = "papi_avail-e-arm-neoverse-n1.txt"
  static let vmFile = "papi_avail-kvm-amd-epyc-nocounters.txt"
  static let vmNativeFile = "papi_native_avail-kvm-amd-epyc.txt"

  /// ~8 events of the kind blkrew asks for, including ones some CPUs lack.
  static let request = [
    "PAPI_TOT_CYC", "PAPI_TOT_INS", "PAPI_L1_DCM", "PAPI_L2_DCM", "PAPI_L3_TCM", "PAPI_BR_MSP",
    "PAPI_TLB_DM", "PAPI_SP_OPS", "PAPI_VEC_SP", "sde:::blkrew::MACS", "perf::TASK-CLOCK",
  ]

  // MARK: parsing

  @Test func parsesIntelSkylake() throws {
    let a = PapiAvail.parse(try Self.fixture(Self.intelFile))
    #expect(a.papiVersion == "5.7.0.0")
    #expect(a.vendor == "GenuineIntel")
    #expect(a.model == "Intel(R) Xeon(R) CPU E3-1578L v5 @ 2.00GHz")
    #expect(a.platform == .intel)
    #expect(a.hardwareCounters == 10)
    #expect(a.maxMultiplexCounters == 384)
    #expect(a.runningInVM == false)
    // "Of 108 possible events, 59 are available, of which 18 are derived."
    #expect(a.presets.count == 108)
    #expect(a.presets.filter(\.available).count == 59)
    #expect(a.presets.filter { $0.available && $0.derived }.count == 18)
    let l2 = try #require(a.preset("PAPI_L2_DCM"))
    #expect(l2.available && l2.derived && l2.code == 0x8000_0002)
    #expect(l2.description == "Level 2 data cache misses")
    #expect(a.preset("PAPI_L3_DCM")?.available == false)
    #expect(
      a.preset("PAPI_SP_OPS")?.description
        == "Floating point operations; optimized to count scaled single precision vector operations"
    )
  }

  @Test func parsesAmdZen2() throws {
    let a = PapiAvail.parse(try Self.fixture(Self.amdFile))
    #expect(a.papiVersion == "5.6.0.0")
    #expect(a.vendor == "AuthenticAMD" && a.platform == .amd)
    #expect(a.model == "AMD Ryzen Threadripper 3970X 32-Core Processor")
    #expect(a.hardwareCounters == 5)
    // "Of 108 possible events, 24 are available, of which 3 are derived."
    #expect(a.presets.count == 108)
    #expect(a.presets.filter(\.available).count == 24)
    #expect(a.presets.filter { $0.available && $0.derived }.count == 3)
    #expect(a.preset("PAPI_L1_DCM")?.available == false)
    #expect(a.preset("PAPI_TLB_IM")?.derived == true)
  }

  @Test func parsesArmNeoverseHeaderAndEventDetail() throws {
    let a = PapiAvail.parse(try Self.fixture(Self.armFile))
    #expect(a.papiVersion == "7.0.1.0")
    #expect(a.vendor == "ARM_ARM" && a.platform == .arm)
    #expect(a.model == "ARM Neoverse N1")
    #expect(a.hardwareCounters == 6)
    #expect(a.presets.isEmpty)  // `papi_avail -e` prints no preset table
    #expect(a.nativeEvents == ["LD_SPEC"])
  }

  @Test func parsesThisVM() throws {
    let a = PapiAvail.parse(try Self.fixture(Self.vmFile))
    #expect(a.papiVersion == "7.0.0.0")
    #expect(a.vendor == "AuthenticAMD" && a.model == "AMD EPYC")
    #expect(a.runningInVM == true)
    #expect(a.hardwareCounters != nil)
    // "Of 108 possible events, 23 are available, of which 1 is derived."
    #expect(a.presets.count == 108)
    #expect(a.presets.filter(\.available).count == 23)
    #expect(a.presets.filter { $0.available && $0.derived }.count == 1)
  }

  @Test func parsesNativeAvailWithMasks() throws {
    let n = PapiNativeAvail.parse(try Self.fixture(Self.vmNativeFile))
    #expect(n.vendor == "AuthenticAMD")
    // "Total events reported: 149": the base events of all components.
    #expect(n.events.count == 149)
    let flops = try #require(n.events.first { $0.name == "RETIRED_SSE_AVX_FLOPS" })
    #expect(flops.component == "perf_event")
    #expect(flops.masks == ["ADD_SUB_FLOPS", "MULT_FLOPS", "DIV_FLOPS", "MAC_FLOPS", "ANY"])
    #expect(n.contains("RETIRED_SSE_AVX_FLOPS:MAC_FLOPS"))
    #expect(n.contains("retired_sse_avx_flops:any"))
    #expect(n.contains("perf::TASK-CLOCK"))
    #expect(n.contains("amd64_fam19h_zen3_l3::UNC_L3_MISSES:ALL"))
    #expect(!n.contains("L1D:REPLACEMENT"))
    // Flag qualifiers are not masks.
    #expect(!n.allNames.contains("PERF::CYCLES:U=0"))
    let uncore = try #require(n.events.first { $0.name == "amd64_rapl::RAPL_ENERGY_PKG" })
    #expect(uncore.component == "perf_event_uncore" && uncore.masks.isEmpty)
  }

  @Test func detectsPlatformFromCpuinfo() {
    #expect(CPUPlatform.detect(cpuinfo: "processor\t: 0\nvendor_id\t: GenuineIntel\n") == .intel)
    #expect(CPUPlatform.detect(cpuinfo: "vendor_id\t: AuthenticAMD\ncpu family\t: 26\n") == .amd)
    #expect(
      CPUPlatform.detect(cpuinfo: "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n")
        == .arm)
    #expect(CPUPlatform.detect(cpuinfo: "") == .unknown)
    #expect(CPUPlatform.detect(vendor: "ARM_ARM") == .arm)
    if let real = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
      #expect(CPUPlatform.detect(cpuinfo: real) != .unknown)
    }
  }

  // MARK: planning

  /// Checks shared by every platform: passes respect the budget, every kept hardware event is in
  /// exactly one pass, every requested event is either planned or reported.
  func checkInvariants(
    _ plan: EventPlan, requested: [String], costs: (String) -> Int
  ) {
    let hardware = requested.filter { !EventPlan.isNonHardware($0) }
    for pass in plan.passes {
      let used = pass.filter { !EventPlan.isNonHardware($0) }.map(costs).reduce(0, +)
      #expect(used <= plan.generalPurposeCounters)
      for e in plan.everyPass { #expect(pass.contains(e)) }
    }
    let reported = Set(plan.unavailable.map(\.name))
    for e in hardware {
      let n = plan.passes.reduce(0) { $0 + $1.filter { $0 == e }.count }
      #expect(n == (reported.contains(e) ? 0 : 1), "\(e) appears \(n) times")
    }
    for u in plan.unavailable { #expect(!u.reason.isEmpty) }
  }

  @Test func plansIntel() throws {
    let a = PapiAvail.parse(try Self.fixture(Self.intelFile))
    let plan = EventPlan.plan(requested: Self.request, avail: a)
    // 10 counters = 7 general purpose + 3 fixed.
    #expect(plan.generalPurposeCounters == 7)
    #expect(plan.unavailable.isEmpty)  // Skylake has all nine presets
    checkInvariants(plan, requested: Self.request) { e in
      if ["PAPI_TOT_CYC", "PAPI_TOT_INS"].contains(e) { return 0 }
      return a.preset(e)?.derived == true ? 2 : 1
    }
    // L1_DCM 1 + L2_DCM 2 + L3_TCM 1 + BR_MSP 1 + TLB_DM 2 = 7; SP_OPS 2 + VEC_SP 2 → pass 2.
    #expect(plan.passes.count == 2)
    #expect(plan.passes[0].prefix(2) == ["PAPI_TOT_CYC", "PAPI_TOT_INS"])
    #expect(
      plan.passes[1].filter { !EventPlan.isNonHardware($0) } == ["PAPI_SP_OPS", "PAPI_VEC_SP"])
    #expect(plan.everyPass == ["sde:::blkrew::MACS", "perf::TASK-CLOCK"])
  }

  @Test func plansAmd() throws {
    let a = PapiAvail.parse(try Self.fixture(Self.amdFile))
    let plan = EventPlan.plan(requested: Self.request, avail: a)
    #expect(plan.generalPurposeCounters == 5)
    let reasons = Dictionary(uniqueKeysWithValues: plan.unavailable.map { ($0.name, $0.reason) })
    for e in ["PAPI_L1_DCM", "PAPI_L2_DCM", "PAPI_L3_TCM", "PAPI_VEC_SP"] {
      #expect(reasons[e] == "not available on this CPU (papi_avail: No)")
    }
    #expect(reasons.count == 4)
    checkInvariants(plan, requested: Self.request) { a.preset($0)?.derived == true ? 2 : 1 }
    // TOT_CYC, TOT_INS, BR_MSP, TLB_DM, SP_OPS: 5 counters, one pass.
    #expect(plan.passes.count == 1)
  }

  @Test func plansArmWithoutPresetTable() throws {
    // The only public Arm output found is `papi_avail -e`, without the preset table: presets
    // are reported as not listed; native events are checked against what it shows.
    let a = PapiAvail.parse(try Self.fixture(Self.armFile))
    let request = Self.request + ["LD_SPEC", "L1D_CACHE_REFILL"]
    let plan = EventPlan.plan(requested: request, avail: a)
    #expect(plan.generalPurposeCounters == 6)
    for e in Self.request where !EventPlan.isNonHardware(e) {
      #expect(
        plan.unavailable.first { $0.name == e }?.reason == "not listed by papi_avail (PAPI 7.0.1.0)"
      )
    }
    #expect(
      plan.passes == [["LD_SPEC", "L1D_CACHE_REFILL", "sde:::blkrew::MACS", "perf::TASK-CLOCK"]])
    checkInvariants(plan, requested: request) { _ in 1 }
    // With an explicit native list, missing names are reported.
    let native = PapiNativeAvail(
      vendor: "ARM_ARM", hardwareCounters: 6,
      events: [PapiNativeEvent(name: "LD_SPEC", component: "perf_event", masks: [])])
    let checked = EventPlan.plan(requested: request, avail: a, native: native)
    #expect(
      checked.unavailable.first { $0.name == "L1D_CACHE_REFILL" }?.reason
        == "not in papi_native_avail on this CPU")
  }

  @Test func plansThisVMWithItsNativeList() throws {
    let a = PapiAvail.parse(try Self.fixture(Self.vmFile))
    let n = PapiNativeAvail.parse(try Self.fixture(Self.vmNativeFile))
    let plan = EventCatalog.defaultPlan(avail: a, native: n)
    let counters = try #require(a.hardwareCounters)
    if counters == 0 {
      #expect(plan.passes == [[EventCatalog.sdeMACs] + EventCatalog.softwareEvents])
    } else {
      #expect(plan.generalPurposeCounters == counters)
      // Zen 3 names exist here, Zen 1/2-only ones do not.
      #expect(plan.passes.joined().contains("RETIRED_SSE_AVX_FLOPS:MAC_FLOPS"))
      #expect(
        plan.unavailable.first { $0.name == "DATA_CACHE_ACCESSES" }?.reason
          == "not in papi_native_avail on this CPU")
      #expect(
        plan.unavailable.first { $0.name == "PAPI_L3_TCM" }?.reason
          == "not available on this CPU (papi_avail: No)")
    }
    let requested = EventCatalog.presets + EventCatalog.nativeEvents(for: .amd)
    checkInvariants(plan, requested: requested) { a.preset($0)?.derived == true ? 2 : 1 }
  }

  @Test func noCountersMeansOnlySoftwareEvents() throws {
    var a = PapiAvail.parse(try Self.fixture(Self.intelFile))
    a.hardwareCounters = 0
    let plan = EventPlan.plan(requested: Self.request, avail: a)
    #expect(plan.passes == [["sde:::blkrew::MACS", "perf::TASK-CLOCK"]])
    #expect(plan.unavailable.count == 9)
    #expect(
      plan.unavailable.allSatisfy {
        $0.reason == "no hardware counters on this machine (papi_avail: Number Hardware Counters 0)"
      })
  }

  @Test func simplePlanBookkeeping() {
    // 4 counters, two fixed events, one derived event.
    let passes = EventPlan.plan(
      events: ["A", "B", "CYC", "D2", "E", "INS", "F", "sde:::x::Y", "A"], hardwareCounters: 4,
      fixedCounterEvents: ["CYC", "INS"], derivedEvents: ["D2"])
    #expect(passes == [["A", "B", "CYC", "D2", "INS", "sde:::x::Y"], ["E", "F", "sde:::x::Y"]])
    // Exactly the budget: one pass; one more: two passes; too big for any pass: left out.
    #expect(EventPlan.plan(events: ["A", "B", "C"], hardwareCounters: 3).count == 1)
    #expect(EventPlan.plan(events: ["A", "B", "C", "D"], hardwareCounters: 3).count == 2)
    let detailed = EventPlan.planDetailed(
      events: ["BIG", "A"], hardwareCounters: 1, derivedEvents: ["BIG"])
    #expect(detailed.passes == [["A"]])
    #expect(
      detailed.unavailable == [
        UnavailableEvent(name: "BIG", reason: "needs 2 counters, the PMU has 1 per pass")
      ])
    #expect(EventPlan.isNonHardware("perf::PAGE-FAULTS"))
    #expect(EventPlan.isNonHardware("perf::PERF_COUNT_SW_TASK_CLOCK"))
    #expect(!EventPlan.isNonHardware("perf::CYCLES"))
    #expect(!EventPlan.isNonHardware("PAPI_TOT_CYC"))
  }

  // MARK: multiplexing

  @Test func multiplexScaling() throws {
    let half = EventPlan.scaled(value: 1_000, timeEnabled: 2_000_000, timeRunning: 1_000_000)
    #expect(half.estimate == 2_000 && half.scale == 2 && half.wasMultiplexed)
    let full = EventPlan.scaled(value: 1_234, timeEnabled: 5e6, timeRunning: 5e6)
    #expect(full.estimate == 1_234 && full.scale == 1 && !full.wasMultiplexed)
    let third = EventPlan.scaled(value: 300, timeEnabled: 3e6, timeRunning: 1e6)
    #expect(third.estimate == 900 && third.scale == 3)
    let never = EventPlan.scaled(value: 0, timeEnabled: 1e6, timeRunning: 0)
    #expect(never.estimate == nil && never.scale == nil)
    // The record survives a JSON round trip.
    let data = try JSONEncoder().encode(half)
    #expect(try JSONDecoder().decode(ScaledCount.self, from: data) == half)
  }
}
