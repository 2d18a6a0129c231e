import Foundation

// Choosing counter events per platform and splitting them into passes.
//
// Counters differ across CPUs (and VMs often have none), so blkrew reads what the machine offers
// (`papi_avail`, `papi_native_avail`, `/proc/cpuinfo`), keeps the events of its wish list that
// exist there, records every dropped event with a reason, and groups the kept hardware events into
// passes that fit the PMU. Pure text processing: testable against recorded outputs of real CPUs
// (Tests/KernelTests/Fixtures).

/// The CPU family that decides default events and counter bookkeeping.
public enum CPUPlatform: String, Codable, Sendable, CaseIterable {
  case intel
  case amd
  case arm
  case unknown

  /// From `/proc/cpuinfo`: `vendor_id : GenuineIntel | AuthenticAMD` on x86; on Arm a
  /// `CPU implementer : 0x41` line (any implementer: Arm, Ampere, Fujitsu, HiSilicon, NVIDIA...).
  public static func detect(cpuinfo: String) -> CPUPlatform {
    for line in cpuinfo.split(separator: "\n") {
      let parts = line.split(separator: ":", maxSplits: 1)
      guard parts.count == 2 else { continue }
      let key = parts[0].trimmingCharacters(in: .whitespaces).lowercased()
      let value = parts[1].trimmingCharacters(in: .whitespaces)
      if key == "vendor_id" { return detect(vendor: value) }
      if key == "cpu implementer" { return .arm }
    }
    return .unknown
  }

  /// From a vendor string: cpuinfo's `vendor_id` or papi_avail's "Vendor string and code"
  /// (`GenuineIntel`, `AuthenticAMD`, `ARM_ARM`, `ARM_FUJITSU`, ...).
  public static func detect(vendor: String) -> CPUPlatform {
    let v = vendor.lowercased()
    if v.hasPrefix("genuineintel") || v.hasPrefix("intel") { return .intel }
    if v.hasPrefix("authenticamd") || v.hasPrefix("amd") || v.hasPrefix("hygongenuine") {
      return .amd
    }
    if v.hasPrefix("arm") || v.hasPrefix("aarch64") { return .arm }
    return .unknown
  }
}

/// One line of papi_avail's preset table.
public struct PapiPreset: Codable, Sendable, Hashable {
  public var name: String
  public var code: UInt32
  public var available: Bool
  /// Deriv = Yes: PAPI combines several native events (usually two) into this preset.
  public var derived: Bool
  public var description: String
}

/// What `papi_avail` printed: the hardware header and the preset table. Also reads the
/// `papi_avail -e NAME` form (header plus one event), whose event goes to `nativeEvents`.
/// Lines starting with `#` are skipped (fixtures put their `# source:` there).
public struct PapiAvail: Codable, Sendable, Hashable {
  public var papiVersion: String?
  /// E.g. `GenuineIntel`, `AuthenticAMD`, `ARM_ARM` (without PAPI's numeric code).
  public var vendor: String?
  public var model: String?
  /// "Number Hardware Counters"; nil when missing or printed as `NA` / an error.
  public var hardwareCounters: Int?
  public var maxMultiplexCounters: Int?
  public var runningInVM: Bool?
  public var presets: [PapiPreset]
  /// Events shown in detail by `papi_avail -e` ("Event name:" lines).
  public var nativeEvents: [String]

  public var platform: CPUPlatform { vendor.map { CPUPlatform.detect(vendor: $0) } ?? .unknown }

  public func preset(_ name: String) -> PapiPreset? {
    presets.first { $0.name == name.uppercased() }
  }

  public var availablePresets: [String] { presets.filter(\.available).map(\.name) }

  public static func parse(_ text: String) -> PapiAvail {
    var out = PapiAvail(
      papiVersion: nil, vendor: nil, model: nil, hardwareCounters: nil,
      maxMultiplexCounters: nil, runningInVM: nil, presets: [], nativeEvents: [])
    for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
      let line = raw.trimmingCharacters(in: .whitespaces)
      if line.hasPrefix("#") { continue }
      if let (key, value) = headerField(line) {
        switch key {
        case "papi version": out.papiVersion = value
        case "vendor string and code": out.vendor = stripCode(value)
        case "model string and code": out.model = stripCode(value)
        case "number hardware counters": out.hardwareCounters = Int(value)
        case "max multiplex counters": out.maxMultiplexCounters = Int(value)
        case "running in a vm": out.runningInVM = value.lowercased() == "yes"
        case "event name": out.nativeEvents.append(value)
        default: break
        }
        continue
      }
      if let preset = presetRow(line) { out.presets.append(preset) }
    }
    return out
  }

  /// `Key   : value` of the header (also the older `PAPI Version` spelling).
  static func headerField(_ line: String) -> (String, String)? {
    guard let colon = line.firstIndex(of: ":") else { return nil }
    let key = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
    guard !key.isEmpty, !key.hasPrefix("papi_"), !key.contains("|") else { return nil }
    let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    return (key, value)
  }

  /// `GenuineIntel (1, 0x1)` → `GenuineIntel`; `Intel(R) Xeon(R) ... (94, 0x5e)` → the model.
  static func stripCode(_ value: String) -> String {
    guard value.hasSuffix(")"), let open = value.lastIndex(of: "(") else { return value }
    let inside = value[value.index(after: open)..<value.index(before: value.endIndex)]
    let isCode = inside.allSatisfy { $0.isHexDigit || $0 == "," || $0 == " " || $0 == "x" }
    return isCode ? value[..<open].trimmingCharacters(in: .whitespaces) : value
  }

  /// `PAPI_L1_DCM  0x80000000  Yes   No   Level 1 data cache misses`. Also accepts the layout of
  /// some PAPI versions where a 12-character name touches the code (`PAPI_FMA_INS0x80000030`).
  static func presetRow(_ line: String) -> PapiPreset? {
    guard line.hasPrefix("PAPI_") else { return nil }
    var fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
    if let r = fields.first?.range(of: "0x"), r.lowerBound != fields[0].startIndex {
      let name = String(fields[0][..<r.lowerBound])
      let code = String(fields[0][r.lowerBound...])
      fields.replaceSubrange(0...0, with: [name, code])
    }
    guard fields.count >= 4, fields[1].hasPrefix("0x"),
      let code = UInt32(fields[1].dropFirst(2), radix: 16)
    else { return nil }
    func yesNo(_ s: String) -> Bool? {
      switch s.lowercased() {
      case "yes": return true
      case "no": return false
      default: return nil
      }
    }
    guard let avail = yesNo(fields[2]), let deriv = yesNo(fields[3]) else { return nil }
    return PapiPreset(
      name: fields[0], code: code, available: avail, derived: deriv,
      description: fields.dropFirst(4).joined(separator: " "))
  }
}

/// A native event listed by `papi_native_avail`, with its unit masks (flag qualifiers such as
/// `:u=0` are not masks and are left out).
public struct PapiNativeEvent: Codable, Sendable, Hashable {
  public var name: String
  public var component: String
  /// Mask names without the event, e.g. `REPLACEMENT`; `fullNames` joins them (`L1D:REPLACEMENT`).
  public var masks: [String]
  public var fullNames: [String] { [name] + masks.map { "\(name):\($0)" } }
}

/// What `papi_native_avail` printed: header fields and the native events per component.
public struct PapiNativeAvail: Codable, Sendable, Hashable {
  public var vendor: String?
  public var hardwareCounters: Int?
  public var events: [PapiNativeEvent]

  /// Every event name and every `event:mask` name, uppercased for matching.
  public var allNames: Set<String> {
    Set(events.flatMap { $0.fullNames.map { $0.uppercased() } })
  }

  /// True when `name` (an event, or `event:mask`; `pmu::` prefix optional for events listed
  /// without one) is listed. libpfm4 matches names case-insensitively, so does this.
  public func contains(_ name: String) -> Bool {
    let names = allNames
    let n = name.uppercased()
    if names.contains(n) { return true }
    // `skl::L1D:REPLACEMENT` requested, listed as `L1D:REPLACEMENT` under the default PMU.
    if let r = n.range(of: "::") { return names.contains(String(n[r.upperBound...])) }
    return false
  }

  public static func parse(_ text: String) -> PapiNativeAvail {
    var out = PapiNativeAvail(vendor: nil, hardwareCounters: nil, events: [])
    var component = ""
    for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
      let line = String(raw)
      if line.hasPrefix("#") { continue }
      if let r = line.range(of: "Native Events in Component:") {
        component = line[r.upperBound...].trimmingCharacters(in: .whitespaces)
        continue
      }
      if !line.hasPrefix("|"), let (key, value) = PapiAvail.headerField(line) {
        if key == "vendor string and code" { out.vendor = PapiAvail.stripCode(value) }
        if key == "number hardware counters" { out.hardwareCounters = Int(value) }
        continue
      }
      guard line.hasPrefix("|") else { continue }
      let body = line.dropFirst()  // after "|"
      if body.hasPrefix(" "), !body.hasPrefix("  ") {
        // "| NAME    |": an event.
        let name = body.trimmingCharacters(in: .whitespaces)
          .trimmingCharacters(in: CharacterSet(charactersIn: "|"))
          .trimmingCharacters(in: .whitespaces)
        if !name.isEmpty, !name.contains(" ") {
          out.events.append(PapiNativeEvent(name: name, component: component, masks: []))
        }
      } else if body.hasPrefix("     :"), !out.events.isEmpty {
        // "|     :MASK   " (masks) or "|     :u=0" (flag qualifiers, skipped).
        let token =
          body.trimmingCharacters(in: .whitespaces).dropFirst()
          .split(separator: " ").first.map(String.init) ?? ""
        let mask = token.trimmingCharacters(in: CharacterSet(charactersIn: "|"))
        if !mask.isEmpty, !mask.contains("=") {
          out.events[out.events.count - 1].masks.append(mask)
        }
      }
    }
    return out
  }
}

/// An event that will not be counted, and why.
public struct UnavailableEvent: Codable, Sendable, Hashable {
  public var name: String
  public var reason: String
}

/// Passes of events that fit the PMU, the events left out with their reasons, and the
/// bookkeeping behind the split.
///
/// Bookkeeping:
/// - Each hardware event costs one general-purpose counter; a derived preset (papi_avail
///   Deriv = Yes) costs two, the usual case (DERIVED_ADD / DERIVED_SUB of two native events;
///   papi_avail does not print how many, and the runner's `PAPI_add_event` is the final check).
/// - Intel: PAPI's "Number Hardware Counters" is libpfm4's general-purpose plus fixed counters.
///   The three architectural fixed counters (instructions retired, core cycles, reference
///   cycles) count `PAPI_TOT_INS`, `PAPI_TOT_CYC` and `PAPI_REF_CYC` without taking a
///   general-purpose counter, so they cost 0 and all go into the first pass, and the
///   general-purpose budget is `hardwareCounters - 3`. (An NMI watchdog that holds a counter,
///   or SMT halving the counters, can make the real budget smaller: the runner still records a
///   failed `PAPI_add_event` with PAPI's reason.) AMD and Arm have no such fixed counters in
///   PAPI's count (Arm's cycle counter is outside the 6 event counters but PAPI does not list it
///   separately), so every hardware event costs its counters.
/// - Non-hardware events — the runner's SDE counters (`sde:::...`) and perf software events
///   (`perf::TASK-CLOCK`, `perf::PAGE-FAULTS`, ...) — take no PMU counter; they go into every
///   pass, so each pass carries its own MAC count and task-clock and the passes can be put on a
///   common per-MAC scale and checked for having run the same work.
/// - Events are placed first-fit in request order, so a request that fits gives one pass and the
///   caller's order is kept inside each pass.
public struct EventPlan: Codable, Sendable, Hashable {
  public var passes: [[String]]
  public var unavailable: [UnavailableEvent]
  /// General-purpose counters per pass used by the planner.
  public var generalPurposeCounters: Int
  /// Events counted in every pass (non-hardware).
  public var everyPass: [String]

  /// Intel's fixed-counter presets (see the type's documentation).
  public static let intelFixedCounterEvents: Set<String> = [
    "PAPI_TOT_INS", "PAPI_TOT_CYC", "PAPI_REF_CYC",
  ]
  public static let intelFixedCounters = 3

  /// perf_event software events (no PMU counter).
  static let perfSoftwareEvents: Set<String> = [
    "TASK-CLOCK", "CPU-CLOCK", "PAGE-FAULTS", "FAULTS", "MINOR-FAULTS", "MAJOR-FAULTS",
    "CONTEXT-SWITCHES", "CS", "CPU-MIGRATIONS", "MIGRATIONS", "ALIGNMENT-FAULTS",
    "EMULATION-FAULTS", "CGROUP-SWITCHES",
  ]

  /// True for events that take no PMU counter: SDE counters and perf software events.
  public static func isNonHardware(_ event: String) -> Bool {
    let e = event.uppercased()
    if e.hasPrefix("SDE:::") { return true }
    if e.hasPrefix("PERF::") {
      let base = String(e.dropFirst(6).split(separator: ":").first ?? "")
      return perfSoftwareEvents.contains(base) || base.hasPrefix("PERF_COUNT_SW_")
    }
    return false
  }

  /// Groups hardware `events` into passes of at most `hardwareCounters` general-purpose
  /// counters. Events in `fixedCounterEvents` cost nothing (they sit in fixed counters and go to
  /// the first pass); events in `derivedEvents` cost 2; non-hardware events go into every pass.
  /// Duplicates are counted once. An event that cannot fit even an empty pass is left out (see
  /// `planDetailed` for the reason). With no hardware events the result is one pass of the
  /// non-hardware events (or none at all).
  public static func plan(
    events: [String], hardwareCounters: Int, fixedCounterEvents: Set<String> = [],
    derivedEvents: Set<String> = []
  ) -> [[String]] {
    planDetailed(
      events: events, hardwareCounters: hardwareCounters,
      fixedCounterEvents: fixedCounterEvents, derivedEvents: derivedEvents
    ).passes
  }

  /// `plan` with the events left out and the counter budget.
  public static func planDetailed(
    events: [String], hardwareCounters: Int, fixedCounterEvents: Set<String> = [],
    derivedEvents: Set<String> = [], alreadyUnavailable: [UnavailableEvent] = []
  ) -> EventPlan {
    var seen = Set<String>()
    let unique = events.filter { seen.insert($0).inserted }
    let everyPass = unique.filter(isNonHardware)
    let hardware = unique.filter { !isNonHardware($0) }
    var unavailable = alreadyUnavailable
    var passes: [[String]] = []
    var used: [Int] = []
    let budget = max(0, hardwareCounters)
    for event in hardware {
      let cost = fixedCounterEvents.contains(event) ? 0 : (derivedEvents.contains(event) ? 2 : 1)
      if cost > budget {
        unavailable.append(
          UnavailableEvent(
            name: event,
            reason: budget == 0
              ? "no hardware counters on this machine (papi_avail: Number Hardware Counters 0)"
              : "needs \(cost) counters, the PMU has \(budget) per pass"))
        continue
      }
      if let i = used.indices.first(where: { used[$0] + cost <= budget }) {
        passes[i].append(event)
        used[i] += cost
      } else {
        passes.append([event])
        used.append(cost)
      }
    }
    if passes.isEmpty && !everyPass.isEmpty { passes = [[]] }
    passes = passes.map { $0 + everyPass }
    return EventPlan(
      passes: passes, unavailable: unavailable, generalPurposeCounters: budget,
      everyPass: everyPass)
  }

  /// Plans `requested` events for the machine described by `avail` (and `native` when given):
  /// presets missing or `No` in papi_avail, native events not in papi_native_avail, and every
  /// hardware event when the machine has no counters, are left out with a reason; the rest is
  /// split with the platform's bookkeeping (see the type's documentation).
  public static func plan(
    requested: [String], avail: PapiAvail, native: PapiNativeAvail? = nil,
    platform: CPUPlatform? = nil
  ) -> EventPlan {
    let platform = platform ?? avail.platform
    let counters = avail.hardwareCounters ?? 0
    var kept: [String] = []
    var unavailable: [UnavailableEvent] = []
    var derived = Set<String>()
    var fixed = Set<String>()
    var seen = Set<String>()
    for event in requested where seen.insert(event).inserted {
      if isNonHardware(event) {
        kept.append(event)
        continue
      }
      if counters <= 0 {
        let what = avail.hardwareCounters.map { "Number Hardware Counters \($0)" } ?? "no count"
        unavailable.append(
          UnavailableEvent(
            name: event, reason: "no hardware counters on this machine (papi_avail: \(what))"))
        continue
      }
      if event.uppercased().hasPrefix("PAPI_") {
        guard let p = avail.preset(event) else {
          unavailable.append(
            UnavailableEvent(
              name: event,
              reason: "not listed by papi_avail (PAPI \(avail.papiVersion ?? "unknown version"))"))
          continue
        }
        guard p.available else {
          unavailable.append(
            UnavailableEvent(name: event, reason: "not available on this CPU (papi_avail: No)"))
          continue
        }
        if p.derived { derived.insert(event) }
        if platform == .intel && intelFixedCounterEvents.contains(p.name) && !p.derived {
          fixed.insert(event)
        }
        kept.append(event)
      } else {
        // Without a native list the event is kept unchecked; the runner records PAPI's error.
        if let native, !native.contains(event) {
          unavailable.append(
            UnavailableEvent(name: event, reason: "not in papi_native_avail on this CPU"))
          continue
        }
        kept.append(event)
      }
    }
    let gp =
      platform == .intel && counters > intelFixedCounters ? counters - intelFixedCounters : counters
    return planDetailed(
      events: kept, hardwareCounters: gp, fixedCounterEvents: fixed, derivedEvents: derived,
      alreadyUnavailable: unavailable)
  }

  /// A count read while multiplexed, scaled to the whole enabled time the way perf and PAPI do:
  /// `estimate = value · timeEnabled / timeRunning`. `scale` (≥ 1) is kept with the result so a
  /// report can say how much of the number was extrapolated; `estimate` is nil when the event
  /// never ran (`timeRunning` = 0: unknown, not zero).
  public static func scaled(value: Double, timeEnabled: Double, timeRunning: Double)
    -> ScaledCount
  {
    guard timeRunning > 0, timeEnabled > 0 else {
      return ScaledCount(
        raw: value, estimate: nil, scale: nil, timeEnabled: timeEnabled,
        timeRunning: timeRunning)
    }
    let scale = timeEnabled / timeRunning
    return ScaledCount(
      raw: value, estimate: value * scale, scale: scale, timeEnabled: timeEnabled,
      timeRunning: timeRunning)
  }
}

/// A multiplexed count and the factor it was scaled by.
public struct ScaledCount: Codable, Sendable, Hashable {
  public var raw: Double
  public var estimate: Double?
  /// `timeEnabled / timeRunning`; 1 when the event was counted the whole time.
  public var scale: Double?
  public var timeEnabled: Double
  public var timeRunning: Double
  /// True when the event shared its counter (it ran for only part of the enabled time).
  public var wasMultiplexed: Bool { (scale ?? 1) > 1 }
}

/// blkrew's default event lists per platform.
public enum EventCatalog {
  /// Presets wanted everywhere, kept where papi_avail says Yes.
  public static let presets = [
    "PAPI_TOT_CYC", "PAPI_TOT_INS", "PAPI_L1_DCM", "PAPI_L2_DCM", "PAPI_L3_TCM", "PAPI_BR_MSP",
    "PAPI_TLB_DM", "PAPI_SP_OPS", "PAPI_VEC_SP",
  ]

  /// Native events known to exist on the platform (libpfm4 names as papi_native_avail lists
  /// them), kept only where the machine's native list has them.
  public static func nativeEvents(for platform: CPUPlatform) -> [String] {
    switch platform {
    case .intel:
      // Skylake and later core PMUs.
      return [
        "L1D:REPLACEMENT", "L2_RQSTS:MISS", "LONGEST_LAT_CACHE:MISS",
        "FP_ARITH:256B_PACKED_SINGLE", "FP_ARITH:512B_PACKED_SINGLE",
      ]
    case .amd:
      // Zen 1/2 (amd64_fam17h) and Zen 3/4 (amd64_fam19h) names.
      return [
        "RETIRED_SSE_AVX_FLOPS:ANY", "RETIRED_SSE_AVX_FLOPS:MAC_FLOPS", "L1_DTLB_MISS",
        "DATA_CACHE_ACCESSES", "CORE_TO_L2_CACHEABLE_REQUEST_ACCESS_STATUS",
      ]
    case .arm:
      // Armv8 PMUv3 common events.
      return ["L1D_CACHE_REFILL", "L1D_CACHE", "L2D_CACHE_REFILL", "LL_CACHE_MISS_RD", "ASE_SPEC"]
    case .unknown:
      return []
    }
  }

  /// The runner's own SDE counter, which works on every machine.
  public static let sdeMACs = "sde:::blkrew::MACS"
  /// perf software events that work without a PMU.
  public static let softwareEvents = ["perf::TASK-CLOCK", "perf::PAGE-FAULTS"]

  /// The default request for a machine: presets papi_avail has, the platform's native events
  /// that papi_native_avail lists (none when it is not given), the SDE counter and software
  /// events; planned into passes with the reasons for everything left out.
  public static func defaultPlan(
    avail: PapiAvail, native: PapiNativeAvail?, platform: CPUPlatform? = nil
  ) -> EventPlan {
    let platform = platform ?? avail.platform
    let wanted = presets + (native != nil ? nativeEvents(for: platform) : [])
    var plan = EventPlan.plan(
      requested: wanted + [sdeMACs] + softwareEvents, avail: avail, native: native,
      platform: platform)
    // Native events dropped because no native list was given are still worth reporting.
    if native == nil {
      for n in nativeEvents(for: platform) {
        plan.unavailable.append(
          UnavailableEvent(name: n, reason: "papi_native_avail output not available to check"))
      }
    }
    return plan
  }
}
