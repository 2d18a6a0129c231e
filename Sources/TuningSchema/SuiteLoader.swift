import Foundation
import Yams

/// An invalid suite: one line, `FILE[:LINE]: what`. Exit code 64 (EX_USAGE) at the CLI.
public struct SuiteError: Error, CustomStringConvertible, Sendable {
  public var file: String
  public var line: Int?
  public var message: String
  public init(file: String, line: Int?, message: String) {
    self.file = file
    self.line = line
    self.message = message
  }
  /// Further errors of the same suite (`suite validate` lists them all; `description` is the
  /// first alone, one line).
  public var others: [SuiteError] = []
  public var description: String {
    if let line { return "\(file):\(line): \(message)" }
    return "\(file): \(message)"
  }
  /// This error and the others, in file order.
  public var all: [SuiteError] { [self] + others }
}

/// The errors found so far while reading one suite (shared by the parsers of its files).
final class SuiteProblems: @unchecked Sendable {
  private(set) var items: [SuiteError] = []
  func add(_ e: SuiteError) {
    if !items.contains(where: { $0.description == e.description }) { items.append(e) }
  }
  /// Throws the first error with the rest as its `others`, sorted by file and line.
  func throwIfAny() throws {
    guard !items.isEmpty else { return }
    let sorted = items.enumerated().sorted { a, b in
      (a.element.file, a.element.line ?? 0, a.offset) < (
        b.element.file, b.element.line ?? 0, b.offset
      )
    }.map(\.element)
    var first = sorted[0]
    first.others = Array(sorted.dropFirst())
    throw first
  }
}

/// Where a node of a merged suite came from: the file it was read from (its mark's line is in
/// that file).
struct NodeOrigin {
  var node: Node
  var file: String
}

/// Models and datasets this build of blkrew can train (names from DESIGN.md section 9).
public enum Catalog {
  /// Model and dataset names of DESIGN.md section 9.
  public static let models = [
    "mlp", "lenet5", "vgg11", "vgg16", "resnet20", "gru", "lstm", "char-gru",
  ]
  public static let datasets = [
    "fashion-mnist", "fashion-mnist-32", "seq-fashion-mnist", "japanese-vowels", "kjv-chars",
  ]

  /// The datasets a model can train on (the model's input layout must fit the data).
  public static func datasets(for model: String) -> [String] {
    switch model {
    case "mlp", "lenet5": ["fashion-mnist"]
    case "vgg11", "vgg16", "resnet20": ["fashion-mnist-32"]
    case "gru", "lstm": ["japanese-vowels", "seq-fashion-mnist"]
    case "char-gru": ["kjv-chars"]
    default: []
    }
  }
}

/// Reads a suite YAML file into a `SweepSpec`, rejecting unknown keys, wrong types and values out
/// of range with the line of the offending key.
public enum SuiteLoader {
  /// Compiler flags a suite may pass (nothing reaches a shell, but flags such as `-o` or
  /// `-fplugin=` could still write files or run code).
  /// Regularizer keys that may be lists (a grid crossed with the methods).
  public static let gridKeys = ["lambda", "eps", "refresh_steps"]

  public static let allowedFlagPrefixes = [
    "-O", "-march=", "-mtune=", "-mavx", "-mno-", "-mfma", "-ffast-math", "-fno-", "-funroll",
    "-fomit-frame-pointer", "-std=", "-g", "-mprefer-vector-width=",
  ]

  /// Loads a suite file, resolving `include:` (a path or a list of paths relative to the
  /// including file; fragments are conventionally named `*.inc.yaml`). Included mappings are merged
  /// in order, deep for nested mappings, and the including file's own keys override them; lists
  /// are replaced, not concatenated. Every file is checked on its own first, so an error in a
  /// fragment names the fragment and its line.
  public static func load(path: String) throws -> SweepSpec {
    let problems = SuiteProblems()
    var origins: [NodeOrigin] = []
    let (root, included) = try tree(path: path, chain: [], problems: problems, origins: &origins)
    var p = Parser(file: path, problems: problems)
    if included {
      // Keys and types were checked per file; what remains (required keys, cross-key rules) is
      // about the merged suite, whose nodes are traced back to the file (and line) they came from.
      p.origins = origins
    }
    let spec = try p.suite(root)
    try problems.throwIfAny()
    return spec
  }

  public static func parse(_ text: String, file: String) throws -> SweepSpec {
    let root = try compose(text, file: file)
    let problems = SuiteProblems()
    var p = Parser(file: file, problems: problems)
    let spec = try p.suite(root)
    try problems.throwIfAny()
    return spec
  }

  static func compose(_ text: String, file: String) throws -> Node {
    do {
      guard let node = try Yams.compose(yaml: text) else {
        throw SuiteError(file: file, line: nil, message: "empty suite")
      }
      return node
    } catch let error as YamlError {
      throw SuiteError(
        file: file, line: yamlLine(error), message: "bad YAML: \(yamlProblem(error))")
    }
  }

  /// The node tree of `path` with its includes merged in; true when it had includes.
  static func tree(
    path: String, chain: [String], problems: SuiteProblems, origins: inout [NodeOrigin]
  ) throws -> (Node, Bool) {
    guard FileManager.default.fileExists(atPath: path) else {
      throw SuiteError(
        file: chain.last ?? path, line: nil,
        message: chain.isEmpty ? "no such file" : "included file \(path) does not exist")
    }
    let canonical = URL(fileURLWithPath: path).standardizedFileURL.path
    guard !chain.contains(canonical) else {
      throw SuiteError(
        file: path, line: nil,
        message: "include cycle: \((chain + [canonical]).joined(separator: " -> "))")
    }
    guard let data = FileManager.default.contents(atPath: path) else {
      throw SuiteError(file: path, line: nil, message: "cannot read file")
    }
    let node = try compose(String(decoding: data, as: UTF8.self), file: path)
    guard case .mapping(let mapping) = node, let includeNode = mapping["include"] else {
      collectOrigins(node, file: path, into: &origins)
      return (node, false)
    }
    var paths: [String] = []
    switch includeNode {
    case .scalar(let s): paths = [s.string]
    case .sequence(let seq): paths = seq.compactMap(\.string)
    default: break
    }
    guard !paths.isEmpty, paths.allSatisfy({ !$0.isEmpty }) else {
      throw SuiteError(
        file: path, line: includeNode.mark?.line,
        message: "'include' must be a path or a list of paths")
    }
    let own = Node.mapping(Node.Mapping(mapping.filter { $0.key.string != "include" }))
    // This file's own keys and values, checked without requiring the keys it may inherit.
    var partial = Parser(file: path, problems: problems)
    partial.partial = true
    _ = try partial.suite(own)
    let dir = (path as NSString).deletingLastPathComponent
    var merged = Node.mapping(Node.Mapping([]))
    for inc in paths {
      let incPath = inc.hasPrefix("/") ? inc : (dir.isEmpty ? inc : "\(dir)/\(inc)")
      let (incNode, _) = try tree(
        path: incPath, chain: chain + [canonical], problems: problems, origins: &origins)
      var fragment = Parser(file: incPath, problems: problems)
      fragment.partial = true
      _ = try fragment.suite(incNode)
      merged = merge(merged, incNode)
    }
    // After the includes: where two files have a node at the same place, this file's wins.
    collectOrigins(own, file: path, into: &origins)
    return (merge(merged, own), true)
  }

  /// Every node of `node`'s tree, with `file`.
  static func collectOrigins(_ node: Node, file: String, into origins: inout [NodeOrigin]) {
    origins.append(NodeOrigin(node: node, file: file))
    switch node {
    case .mapping(let m):
      for (k, v) in m {
        origins.append(NodeOrigin(node: k, file: file))
        collectOrigins(v, file: file, into: &origins)
      }
    case .sequence(let seq):
      for item in seq { collectOrigins(item, file: file, into: &origins) }
    default: break
    }
  }

  /// `overlay` over `base`: mappings merge key by key (recursively), anything else is replaced.
  static func merge(_ base: Node, _ overlay: Node) -> Node {
    guard case .mapping(let b) = base, case .mapping(let o) = overlay else { return overlay }
    var pairs: [(Node, Node)] = []
    var seen = Set<String>()
    for (k, v) in b {
      let key = k.string ?? ""
      if let ov = o[key] {
        pairs.append((k, merge(v, ov)))
      } else {
        pairs.append((k, v))
      }
      seen.insert(key)
    }
    for (k, v) in o where !seen.contains(k.string ?? "") { pairs.append((k, v)) }
    return .mapping(Node.Mapping(pairs, o.tag, o.style, o.mark))
  }

  static func yamlLine(_ e: YamlError) -> Int? {
    switch e {
    case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
      return mark.line
    case .duplicatedKeysInMapping(_, let context): return context.mark.line
    default: return nil
    }
  }

  static func yamlProblem(_ e: YamlError) -> String {
    switch e {
    case .scanner(let c, let problem, _, _), .parser(let c, let problem, _, _),
      .composer(let c, let problem, _, _):
      return [c?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
    case .duplicatedKeysInMapping(let dups, _):
      return "duplicated keys \(dups.joined(separator: ", "))"
    default: return "\(e)".split(separator: "\n").first.map(String.init) ?? "unreadable"
    }
  }

  private struct Parser {
    let file: String
    /// Every error found, shared with the parsers of the suite's other files: parsing goes on
    /// after an error (with the key's default) so that `suite validate` can list them all.
    let problems: SuiteProblems
    /// Checking one file of several: inherited keys may be missing, cross-key rules wait.
    var partial = false
    /// Checking a merged tree: where each node came from (nil: one file).
    var origins: [NodeOrigin]? = nil

    init(file: String, problems: SuiteProblems) {
      self.file = file
      self.problems = problems
    }

    func fail(_ node: Node?, _ message: String) -> SuiteError {
      guard let origins else {
        return SuiteError(file: file, line: node?.mark?.line, message: message)
      }
      // A merged node: the file whose node it is (the same value at the same place), else, for a
      // mapping rebuilt by the merge, the last file with a mapping there (the overriding one).
      guard let node, let mark = node.mark else {
        return SuiteError(file: file, line: nil, message: message)
      }
      func samePlace(_ o: NodeOrigin) -> Bool {
        o.node.mark?.line == mark.line && o.node.mark?.column == mark.column
      }
      if let o = origins.last(where: { samePlace($0) && $0.node == node }) {
        return SuiteError(file: o.file, line: mark.line, message: message)
      }
      if case .mapping = node,
        let o = origins.last(where: { o in
          guard case .mapping = o.node else { return false }
          return samePlace(o)
        })
      {
        return SuiteError(file: o.file, line: mark.line, message: message)
      }
      return SuiteError(file: file, line: nil, message: message)
    }

    /// Runs `body`, recording a suite error instead of stopping at it.
    func check(_ body: () throws -> Void) {
      do { try body() } catch let e as SuiteError { problems.add(e) } catch {
        problems.add(SuiteError(file: file, line: nil, message: "\(error)"))
      }
    }

    /// The mapping's entries by key, rejecting keys not in `allowed`.
    func entries(_ node: Node, _ context: String, allowed: [String]) throws -> [String: Node] {
      guard case .mapping(let mapping) = node else {
        throw fail(node, "\(context) must be a mapping")
      }
      var out: [String: Node] = [:]
      for (key, value) in mapping {
        guard let name = key.string else { throw fail(key, "\(context): keys must be strings") }
        guard allowed.contains(name) else {
          let prefix = context == "suite" ? "" : "\(context)."
          problems.add(
            fail(
              key,
              "unknown key '\(prefix)\(name)' (allowed: \(allowed.sorted().joined(separator: ", ")))"
            ))
          continue
        }
        out[name] = value
      }
      return out
    }

    func blockList(_ node: Node, _ key: String) throws -> [BlockShape] {
      try list(node, key).map { item in
        let text = item.string ?? ""
        guard let b = BlockShape(parsing: text) else {
          throw fail(
            item,
            "block shape '\(text)' must be RxC with R, C >= 1 or * for a whole dimension (e.g. 8x16, *x1)"
          )
        }
        return b
      }
    }

    /// A mapping from layer names to numbers (`layer_rates`, `regularizer.layer_lambda`).
    func numberMap(_ node: Node, _ key: String, min: Double) throws -> [String: Double] {
      guard case .mapping(let mapping) = node else {
        throw fail(node, "'\(key)' must be a mapping")
      }
      var out: [String: Double] = [:]
      for (k, v) in mapping {
        guard let name = k.string, !name.isEmpty else {
          throw fail(k, "'\(key)': keys must be layer names")
        }
        out[name] = try double(v, "\(key).\(name)", min: min)
      }
      return out
    }

    /// A regularizer mapping applied over `base` (the suite's, for a method's overrides).
    func regularizer(_ n: Node, _ context: String, base: RegularizerSpec) throws
      -> RegularizerSpec
    {
      var r = base
      let s = try entries(
        n, context,
        allowed: [
          "kind", "lambda", "eps", "refresh_steps", "refresh_epochs", "form", "layer_lambda",
          "rho", "rho_growth", "rho_max",
        ])
      if let v = s["kind"] { r.kind = try oneOf(v, "\(context).kind", RegularizerSpec.Kind.self) }
      if let v = s["lambda"] { r.lambda = try double(v, "\(context).lambda", min: 0) }
      if let v = s["eps"] { r.eps = try double(v, "\(context).eps", min: 0, inclusive: false) }
      if let v = s["refresh_steps"] {
        r.refreshSteps = try int(v, "\(context).refresh_steps", min: 1)
      }
      if let v = s["refresh_epochs"] {
        r.refreshEpochs = try int(v, "\(context).refresh_epochs", min: 1)
      }
      if let v = s["form"] { r.form = try oneOf(v, "\(context).form", RegularizerSpec.Form.self) }
      if let v = s["layer_lambda"] {
        r.layerLambda = try numberMap(v, "\(context).layer_lambda", min: 0)
      }
      if let v = s["rho"] { r.rho = try double(v, "\(context).rho", min: 0, inclusive: false) }
      if let v = s["rho_growth"] {
        r.rhoGrowth = try double(v, "\(context).rho_growth", min: 1)
      }
      if let v = s["rho_max"] {
        r.rhoMax = try double(v, "\(context).rho_max", min: 0, inclusive: false)
      }
      for key in ["rho", "rho_growth", "rho_max"] where s[key] != nil {
        guard r.kind == .admm || partial else {
          throw fail(s[key]!, "'\(context).\(key)' only applies to kind: admm")
        }
      }
      return r
    }

    func string(_ node: Node, _ key: String) throws -> String {
      guard case .scalar(let s) = node, !s.string.isEmpty else {
        throw fail(node, "'\(key)' must be a non-empty string")
      }
      return s.string
    }

    func int(_ node: Node, _ key: String, min: Int) throws -> Int {
      guard case .scalar = node, let v = node.int else {
        throw fail(node, "'\(key)' must be an integer")
      }
      guard v >= min else { throw fail(node, "'\(key)' must be >= \(min), got \(v)") }
      return v
    }

    func double(_ node: Node, _ key: String, min: Double, inclusive: Bool = true) throws -> Double {
      guard case .scalar = node, let v = node.float, v.isFinite else {
        throw fail(node, "'\(key)' must be a number")
      }
      guard inclusive ? v >= min : v > min else {
        throw fail(node, "'\(key)' must be \(inclusive ? ">=" : ">") \(min), got \(v)")
      }
      return v
    }

    func bool(_ node: Node, _ key: String) throws -> Bool {
      guard case .scalar = node, let v = node.bool else {
        throw fail(node, "'\(key)' must be true or false")
      }
      return v
    }

    func list(_ node: Node, _ key: String) throws -> [Node] {
      guard case .sequence(let seq) = node else { throw fail(node, "'\(key)' must be a list") }
      guard !seq.isEmpty else { throw fail(node, "'\(key)' must not be empty") }
      return Array(seq)
    }

    func oneOf<T: RawRepresentable & CaseIterable>(_ node: Node, _ key: String, _: T.Type) throws
      -> T
    where T.RawValue == String {
      let s = try string(node, key)
      guard let v = T(rawValue: s) else {
        throw fail(
          node,
          "'\(key)' must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), got '\(s)'"
        )
      }
      return v
    }

    mutating func suite(_ root: Node) throws -> SweepSpec {
      let keys = [
        "schema_version", "name", "model", "dataset", "subset", "phases", "training", "scheme",
        "regularizer", "blocks", "rates", "keep_dense", "latency", "kernels", "seeds",
        "trial_timeout_s", "search", "methods", "layer_rates", "rate_mode", "width", "init",
        "objectives", "budget", "targets",
      ]
      var e = try entries(root, "suite", allowed: keys)
      let placeholders: [String: Node] = [
        "schema_version": Node(String(SweepSpec.currentSchemaVersion), Tag(.int)),
        "name": "partial",
        "model": Node(Catalog.models[0]), "dataset": Node(Catalog.datasets[0]), "blocks": ["1x1"],
        "rates": [Node("1", Tag(.int))],
      ]
      for required in ["schema_version", "name", "model", "dataset", "blocks", "rates"]
      where e[required] == nil {
        if !partial { problems.add(fail(root, "missing required key '\(required)'")) }
        e[required] = placeholders[required]
      }
      // Each key is checked on its own: an error is recorded and the key keeps its default, so
      // one pass finds every error.
      var version = SweepSpec.currentSchemaVersion
      check {
        let v = try int(e["schema_version"]!, "schema_version", min: 1)
        guard v == SweepSpec.currentSchemaVersion else {
          throw fail(
            e["schema_version"],
            "schema_version \(v) is not supported (this blkrew reads \(SweepSpec.currentSchemaVersion))"
          )
        }
        version = v
      }
      var name = "invalid"
      check {
        let n = try string(e["name"]!, "name")
        guard n.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }), !n.hasPrefix(".")
        else {
          throw fail(e["name"], "'name' may contain only letters, digits, '-', '_' and '.'")
        }
        name = n
      }
      var model = Catalog.models[0]
      var modelOK = false
      check {
        let m = try string(e["model"]!, "model")
        guard Catalog.models.contains(m) else {
          throw fail(
            e["model"],
            "model '\(m)' is unknown (available: \(Catalog.models.joined(separator: ", ")))")
        }
        model = m
        modelOK = true
      }
      var dataset = Catalog.datasets[0]
      check {
        let d = try string(e["dataset"]!, "dataset")
        guard Catalog.datasets.contains(d) else {
          throw fail(
            e["dataset"],
            "dataset '\(d)' is unknown (available: \(Catalog.datasets.joined(separator: ", ")))"
          )
        }
        dataset = d
        guard partial || !modelOK || Catalog.datasets(for: model).contains(d) else {
          throw fail(
            e["dataset"],
            "model '\(model)' does not train on '\(d)' (it takes: "
              + Catalog.datasets(for: model).joined(separator: ", ") + ")")
        }
      }
      var blocks = [BlockShape(rows: 1, cols: 1)]
      check { blocks = try blockList(e["blocks"]!, "blocks") }
      var rates: [Double] = [1]
      check { rates = try list(e["rates"]!, "rates").map { try double($0, "rates", min: 1) } }
      var spec = SweepSpec(name: name, model: model, dataset: dataset, blocks: blocks, rates: rates)
      spec.schemaVersion = version
      if let n = e["scheme"] { check { spec.scheme = try oneOf(n, "scheme", PruningScheme.self) } }
      if let n = e["subset"] {
        check {
          let s = try entries(n, "subset", allowed: ["train", "val", "test"])
          if let v = s["train"] { check { spec.subset.train = try int(v, "subset.train", min: 1) } }
          if let v = s["val"] { check { spec.subset.val = try int(v, "subset.val", min: 1) } }
          if let v = s["test"] { check { spec.subset.test = try int(v, "subset.test", min: 1) } }
        }
      }
      if let n = e["phases"] {
        check {
          let s = try entries(
            n, "phases", allowed: ["pretrain_epochs", "reg_epochs", "retrain_epochs"])
          if let v = s["pretrain_epochs"] {
            check { spec.phases.pretrainEpochs = try int(v, "phases.pretrain_epochs", min: 0) }
          }
          if let v = s["reg_epochs"] {
            check { spec.phases.regEpochs = try int(v, "phases.reg_epochs", min: 0) }
          }
          if let v = s["retrain_epochs"] {
            check { spec.phases.retrainEpochs = try int(v, "phases.retrain_epochs", min: 0) }
          }
        }
      }
      if let n = e["training"] { check { try training(n, into: &spec.training) } }
      // Grids: `regularizer.lambda`, `eps` or `refresh_steps` may be lists; the suite's methods
      // are crossed with them below (the first value stands in while the rest is parsed).
      var grid: [(key: String, values: [Node])] = []
      if let n = e["regularizer"], case .mapping(let m) = n {
        var pairs: [(Node, Node)] = []
        for (k, v) in m {
          if let key = k.string, SuiteLoader.gridKeys.contains(key), case .sequence(let seq) = v {
            if let first = seq.first {
              grid.append((key, Array(seq)))
              pairs.append((k, first))
              continue
            }
            problems.add(fail(v, "'regularizer.\(key)' must not be an empty list"))
          }
          pairs.append((k, v))
        }
        e["regularizer"] = .mapping(Node.Mapping(pairs, m.tag, m.style, m.mark))
      }
      if let n = e["regularizer"] {
        check { spec.regularizer = try regularizer(n, "regularizer", base: spec.regularizer) }
      }
      if let n = e["methods"] {
        check { spec.methods = try methods(n, regularizer: spec.regularizer) }
      }
      if !grid.isEmpty {
        check { spec.methods = try crossed(spec, grid: grid, methodsNode: e["methods"]) }
      }
      if let n = e["init"] {
        check {
          let given = try string(n, "init")
          let dir = (file as NSString).deletingLastPathComponent
          let path = given.hasPrefix("/") || dir.isEmpty ? given : "\(dir)/\(given)"
          guard let bytes = FileManager.default.contents(atPath: path) else {
            throw fail(n, "'init': no such file \(path)")
          }
          spec.initCheckpoint = InitCheckpoint(
            path: path, sha256: SHA256.hex(of: [UInt8](bytes)))
        }
      }
      check {
        guard partial || spec.phases.pretrainEpochs > 0 || spec.initCheckpoint != nil else {
          throw fail(
            e["phases"] ?? root, "'phases.pretrain_epochs' may be 0 only with an 'init' checkpoint")
        }
      }
      if let n = e["width"] {
        check { spec.width = try double(n, "width", min: 0, inclusive: false) }
      }
      if let n = e["layer_rates"] {
        check { spec.layerRates = try numberMap(n, "layer_rates", min: 1) }
      }
      if let n = e["rate_mode"] {
        check {
          spec.rateMode = try oneOf(n, "rate_mode", RateMode.self)
          let schemes = [spec.scheme] + (spec.methods ?? []).compactMap(\.scheme)
          guard partial || spec.rateMode != .global || !schemes.contains(.blockColumnRow) else {
            throw fail(n, "'rate_mode: global' does not apply to the block-column-row scheme")
          }
          guard partial || spec.rateMode != .global || spec.layerRates == nil else {
            throw fail(n, "'rate_mode: global' and 'layer_rates' exclude each other")
          }
        }
      }
      if let n = e["keep_dense"] {
        check {
          guard case .sequence(let seq) = n else { throw fail(n, "'keep_dense' must be a list") }
          spec.keepDense = try seq.map { try string($0, "keep_dense") }
        }
      }
      if let n = e["latency"] {
        check {
          let s = try entries(n, "latency", allowed: ["batch", "batch_n", "threads"])
          if let v = s["batch"] {
            check { spec.latency.batch = try int(v, "latency.batch", min: 1) }
          }
          if let v = s["batch_n"] {
            check { spec.latency.batchN = try int(v, "latency.batch_n", min: 0) }
          }
          if let v = s["threads"] {
            check {
              spec.latency.threads = try int(v, "latency.threads", min: 1)
              guard spec.latency.threads == 1 else {
                throw fail(v, "'latency.threads' > 1 is not implemented yet")
              }
            }
          }
        }
      }
      if let n = e["kernels"] { check { try kernels(n, into: &spec.kernels) } }
      if let n = e["search"] { check { try search(n, into: &spec.search) } }
      if let n = e["seeds"] {
        check { spec.seeds = try list(n, "seeds").map { try int($0, "seeds", min: 0) } }
      }
      if let n = e["trial_timeout_s"] {
        check { spec.trialTimeoutSeconds = try double(n, "trial_timeout_s", min: 1) }
      }
      if let n = e["objectives"] { check { spec.objectives = try objectives(n) } }
      if let n = e["budget"] { check { spec.budget = try budget(n) } }
      if let n = e["targets"] {
        check {
          var names: [String] = []
          for item in try list(n, "targets") {
            let t = try string(item, "targets")
            guard SweepSpec.isValidTarget(t) else {
              throw fail(
                item,
                "target '\(t)' is unknown (available: \(SweepSpec.knownTargets.joined(separator: ", ")), ssh:HOST)"
              )
            }
            guard !names.contains(t) else { throw fail(item, "'targets' lists '\(t)' twice") }
            names.append(t)
          }
          spec.targets = names
        }
      }
      check {
        guard partial || spec.subset.train >= spec.training.batchSize else {
          throw fail(
            e["subset"] ?? root,
            "'subset.train' (\(spec.subset.train)) must be at least 'training.batch_size' (\(spec.training.batchSize))"
          )
        }
      }
      return spec
    }

    /// The suite's methods (or its one method, named after the regularizer's kind) crossed
    /// with the regularizer grid: one method per combination, named `METHOD lambda=V ...`, for
    /// the keys the method's kind uses (lambda: reweighted, group-lasso; eps: reweighted;
    /// refresh_steps: reweighted, admm) and does not set itself.
    func crossed(
      _ spec: SweepSpec, grid: [(key: String, values: [Node])], methodsNode: Node?
    ) throws -> [MethodSpec] {
      var values: [(key: String, values: [Double])] = []
      for (key, nodes) in grid {
        var vs: [Double] = []
        for node in nodes {
          switch key {
          case "lambda": vs.append(try double(node, "regularizer.lambda", min: 0))
          case "eps":
            vs.append(try double(node, "regularizer.eps", min: 0, inclusive: false))
          default: vs.append(Double(try int(node, "regularizer.\(key)", min: 1)))
          }
        }
        guard Set(vs).count == vs.count else {
          throw fail(nodes.first, "'regularizer.\(key)' lists a value twice")
        }
        values.append((key, vs))
      }
      // Keys each method sets in its own regularizer (those are not crossed).
      var own: [Set<String>] = []
      if let methodsNode, case .sequence(let seq) = methodsNode {
        for item in seq {
          var keys = Set<String>()
          if case .mapping(let m) = item, let r = m["regularizer"], case .mapping(let rm) = r {
            keys = Set(rm.compactMap { $0.key.string })
          }
          own.append(keys)
        }
      }
      let base = spec.methods ?? [MethodSpec(name: spec.regularizer.kind.rawValue)]
      var out: [MethodSpec] = []
      for (i, method) in base.enumerated() {
        let r = method.regularizer ?? spec.regularizer
        let uses: [String: Bool] = [
          "lambda": r.kind == .reweighted || r.kind == .groupLasso,
          "eps": r.kind == .reweighted,
          "refresh_steps": r.kind == .reweighted || r.kind == .admm,
        ]
        let dims = values.filter {
          uses[$0.key] == true && !(i < own.count && own[i].contains($0.key))
        }
        var combos: [[(String, Double)]] = [[]]
        for d in dims { combos = combos.flatMap { c in d.values.map { c + [(d.key, $0)] } } }
        for combo in combos {
          var m = method
          var reg = r
          for (key, v) in combo {
            switch key {
            case "lambda": reg.lambda = v
            case "eps": reg.eps = v
            default: reg.refreshSteps = Int(v)
            }
          }
          m.regularizer = reg
          m.name += combo.map { " \($0.0)=\(String(format: "%g", $0.1))" }.joined()
          out.append(m)
        }
      }
      return out
    }

    func training(_ n: Node, into t: inout TrainingSpec) throws {
      let s = try entries(
        n, "training",
        allowed: [
          "batch_size", "learning_rate", "retrain_learning_rate", "momentum", "weight_decay",
          "optimizer", "schedule", "warmup_steps", "reg_learning_rate",
        ])
      if let v = s["reg_learning_rate"] {
        check { t.regLearningRate = try double(v, "training.reg_learning_rate", min: 0) }
      }
      if let v = s["optimizer"] {
        check {
          t.optimizer = try oneOf(v, "training.optimizer", TrainingSpec.OptimizerKind.self)
        }
      }
      if let v = s["schedule"] {
        check { t.schedule = try oneOf(v, "training.schedule", TrainingSpec.ScheduleKind.self) }
      }
      if let v = s["warmup_steps"] {
        check { t.warmupSteps = try int(v, "training.warmup_steps", min: 0) }
      }
      if let v = s["batch_size"] {
        check { t.batchSize = try int(v, "training.batch_size", min: 1) }
      }
      if let v = s["learning_rate"] {
        check {
          t.learningRate = try double(v, "training.learning_rate", min: 0, inclusive: false)
        }
      }
      if let v = s["retrain_learning_rate"] {
        check {
          t.retrainLearningRate = try double(
            v, "training.retrain_learning_rate", min: 0, inclusive: false)
        }
      }
      if let v = s["momentum"] { check { t.momentum = try double(v, "training.momentum", min: 0) } }
      if let v = s["weight_decay"] {
        check { t.weightDecay = try double(v, "training.weight_decay", min: 0) }
      }
    }

    func methods(_ n: Node, regularizer base: RegularizerSpec) throws -> [MethodSpec] {
      var methods: [MethodSpec] = []
      for (i, item) in try list(n, "methods").enumerated() {
        check {
          let m = try entries(
            item, "methods[\(i)]", allowed: ["name", "scheme", "regularizer", "blocks"])
          guard let nameNode = m["name"] else {
            throw fail(item, "methods[\(i)] needs a 'name'")
          }
          var method = MethodSpec(name: try string(nameNode, "methods[\(i)].name"))
          guard !method.name.isEmpty, !methods.contains(where: { $0.name == method.name }) else {
            throw fail(nameNode, "method names must be unique and not empty")
          }
          if let v = m["scheme"] {
            check { method.scheme = try oneOf(v, "methods[\(i)].scheme", PruningScheme.self) }
          }
          if let v = m["regularizer"] {
            check {
              method.regularizer = try regularizer(v, "methods[\(i)].regularizer", base: base)
            }
          }
          if let v = m["blocks"] {
            check { method.blocks = try blockList(v, "methods[\(i)].blocks") }
          }
          methods.append(method)
        }
      }
      guard !methods.isEmpty else { throw fail(n, "'methods' must list at least one method") }
      return methods
    }

    func kernels(_ n: Node, into k: inout KernelSpec) throws {
      let s = try entries(
        n, "kernels",
        allowed: [
          "compiler", "flags", "events", "min_repeats", "max_repeats", "warmup", "budget_s",
          "cold", "simulate", "wait_idle_s", "ci_fraction", "min_time_s", "multiplex", "isa",
          "unroll", "n_tile", "threads", "prefetch", "n_block", "baked", "reorder", "pack_x",
          "prefetch_w",
        ])
      if let v = s["compiler"] {
        check {
          // One compiler, or a list: then every one is a knob of the kernel search.
          let names: [String]
          if case .sequence = v {
            names = try list(v, "kernels.compiler").map { try string($0, "kernels.compiler") }
          } else {
            names = [try string(v, "kernels.compiler")]
          }
          guard !names.isEmpty, names.allSatisfy({ ["gcc", "clang", "cc"].contains($0) }),
            Set(names).count == names.count
          else {
            throw fail(v, "'kernels.compiler' must be gcc, clang or cc, or a list of distinct ones")
          }
          k.compiler = names[0]
          k.compilers = names.count > 1 ? names : nil
        }
      }
      if let v = s["flags"] {
        check {
          guard case .sequence(let seq) = v else { throw fail(v, "'kernels.flags' must be a list") }
          /// One flag set (a list of allowed flags).
          func flagSet(_ items: [Node]) -> [String] {
            var flags: [String] = []
            for item in items {
              check {
                let f = try string(item, "kernels.flags")
                guard SuiteLoader.allowedFlagPrefixes.contains(where: { f.hasPrefix($0) }) else {
                  throw fail(item, "compiler flag '\(f)' is not allowed")
                }
                flags.append(f)
              }
            }
            return flags
          }
          // A list of flags, or a list of flag sets: then every set is a knob of the search.
          let nested = seq.contains { if case .sequence = $0 { true } else { false } }
          guard nested else {
            k.flags = flagSet(Array(seq))
            return
          }
          var sets: [[String]] = []
          for item in seq {
            guard case .sequence(let inner) = item, !inner.isEmpty else {
              throw fail(item, "'kernels.flags' sets must each be a non-empty list of flags")
            }
            sets.append(flagSet(Array(inner)))
          }
          guard Set(sets).count == sets.count else {
            throw fail(v, "'kernels.flags' lists a flag set twice")
          }
          k.flags = sets[0]
          k.flagSets = sets.count > 1 ? sets : nil
        }
      }
      if let v = s["events"] {
        check {
          guard case .sequence(let seq) = v else {
            throw fail(v, "'kernels.events' must be a list")
          }
          k.events = try seq.map { try string($0, "kernels.events") }
          k.autoEvents = false
        }
      }
      if let v = s["min_repeats"] {
        check { k.minRepeats = try int(v, "kernels.min_repeats", min: 1) }
      }
      if let v = s["max_repeats"] {
        check { k.maxRepeats = try int(v, "kernels.max_repeats", min: 1) }
      }
      if let v = s["warmup"] { check { k.warmup = try int(v, "kernels.warmup", min: 0) } }
      if let v = s["cold"] { check { k.cold = try bool(v, "kernels.cold") } }
      if let v = s["simulate"] { check { k.simulate = try bool(v, "kernels.simulate") } }
      if let v = s["wait_idle_s"] {
        check { k.waitIdleSeconds = try double(v, "kernels.wait_idle_s", min: 0) }
      }
      if let v = s["budget_s"] {
        check { k.budgetSeconds = try double(v, "kernels.budget_s", min: 0) }
      }
      if let v = s["ci_fraction"] {
        check {
          let f = try double(v, "kernels.ci_fraction", min: -.infinity)
          guard f > 0 && f < 1 else {
            throw fail(v, "'kernels.ci_fraction' must be > 0 and < 1, got \(f)")
          }
          k.ciFraction = f
        }
      }
      if let v = s["min_time_s"] {
        check { k.minTimeSeconds = try double(v, "kernels.min_time_s", min: 0) }
      }
      if let v = s["multiplex"] { check { k.multiplex = try bool(v, "kernels.multiplex") } }
      if let v = s["isa"] {
        check {
          let names = try list(v, "kernels.isa").map { try string($0, "kernels.isa") }
          let allowed = KernelISA.allCases.map(\.rawValue) + ["auto"]
          for (item, name) in zip(try list(v, "kernels.isa"), names) where !allowed.contains(name) {
            throw fail(
              item,
              "'kernels.isa' entries must be \(allowed.joined(separator: ", ")), got '\(name)'")
          }
          guard Set(names).count == names.count else {
            throw fail(v, "'kernels.isa' lists an ISA twice")
          }
          k.isa = names
        }
      }
      if let v = s["unroll"] {
        check {
          let u = try list(v, "kernels.unroll").map { try int($0, "kernels.unroll", min: 1) }
          guard u.allSatisfy({ $0 <= KernelSpec.maxUnroll }), Set(u).count == u.count else {
            throw fail(
              v, "'kernels.unroll' must list distinct factors from 1 to \(KernelSpec.maxUnroll)")
          }
          k.unroll = u
        }
      }
      if let v = s["n_tile"] {
        check {
          let t = try list(v, "kernels.n_tile").map { try int($0, "kernels.n_tile", min: 1) }
          guard t.allSatisfy({ $0 <= KernelSpec.maxNTile }), Set(t).count == t.count else {
            throw fail(
              v, "'kernels.n_tile' must list distinct widths from 1 to \(KernelSpec.maxNTile)")
          }
          k.nTile = t
        }
      }
      if let v = s["n_block"] {
        check {
          let b = try list(v, "kernels.n_block").map { try int($0, "kernels.n_block", min: 0) }
          guard !b.isEmpty, Set(b).count == b.count else {
            throw fail(v, "'kernels.n_block' must list distinct tile widths (0: none)")
          }
          k.nBlock = b
        }
      }
      for key in ["baked", "reorder", "pack_x"] {
        guard let v = s[key] else { continue }
        check {
          let b = try list(v, "kernels.\(key)").map { try bool($0, "kernels.\(key)") }
          guard !b.isEmpty, Set(b).count == b.count else {
            throw fail(v, "'kernels.\(key)' must list false, true or both, each once")
          }
          switch key {
          case "baked": k.baked = b
          case "reorder": k.reorder = b
          default: k.packX = b
          }
        }
      }
      // Prefetch distances in kept entries: of X's rows, and of the packed weights.
      for (key, limit) in [
        ("prefetch", KernelSpec.maxPrefetch), ("prefetch_w", KernelSpec.maxPrefetchW),
      ] {
        guard let v = s[key] else { continue }
        check {
          let d = try list(v, "kernels.\(key)").map { try int($0, "kernels.\(key)", min: 0) }
          guard !d.isEmpty, d.allSatisfy({ $0 <= limit }), Set(d).count == d.count else {
            throw fail(v, "'kernels.\(key)' must list distinct distances from 0 to \(limit)")
          }
          if key == "prefetch" { k.prefetch = d } else { k.prefetchW = d }
        }
      }
      if let v = s["threads"] {
        check {
          let t = try list(v, "kernels.threads").map { try int($0, "kernels.threads", min: 1) }
          guard t.allSatisfy({ $0 <= KernelSpec.maxThreads }), Set(t).count == t.count else {
            throw fail(
              v, "'kernels.threads' must list distinct counts from 1 to \(KernelSpec.maxThreads)")
          }
          k.threads = t
        }
      }
      guard partial || k.maxRepeats >= k.minRepeats else {
        throw fail(n, "'kernels.max_repeats' must be >= 'kernels.min_repeats'")
      }
      // budget_s bounds the sampling time, so a longer minimum would silently be cut short.
      guard partial || k.minTimeSeconds <= k.budgetSeconds else {
        throw fail(
          s["min_time_s"] ?? n,
          "'kernels.min_time_s' (\(k.minTimeSeconds)) must be <= 'kernels.budget_s' (\(k.budgetSeconds))"
        )
      }
    }

    func search(_ n: Node, into q: inout SearchSpec) throws {
      let s = try entries(n, "search", allowed: ["strategy", "trials", "seed", "eta", "rungs"])
      if let v = s["eta"] { check { q.eta = try int(v, "search.eta", min: 2) } }
      if let v = s["rungs"] { check { q.rungs = try int(v, "search.rungs", min: 1) } }
      if let v = s["strategy"] {
        check { q.strategy = try oneOf(v, "search.strategy", SearchSpec.Strategy.self) }
      }
      if let v = s["trials"] { check { q.trials = try int(v, "search.trials", min: 1) } }
      if let v = s["seed"] { check { q.seed = try int(v, "search.seed", min: 0) } }
      guard partial || q.strategy != .random || q.trials != nil else {
        throw fail(n, "'search.trials' is required with strategy random")
      }
    }

    /// `objectives`: a list of metric names (`accuracy`, `latency`, `size`) or `{metric,
    /// direction}` mappings (`direction`: `max` or `min`; default: the metric's natural one).
    func objectives(_ n: Node) throws -> [ObjectiveSpec] {
      var out: [ObjectiveSpec] = []
      for (i, item) in try list(n, "objectives").enumerated() {
        check {
          let key = "objectives[\(i)]"
          var metricNode = item
          var directionNode: Node? = nil
          if case .mapping = item {
            let m = try entries(item, key, allowed: ["metric", "direction"])
            guard let mn = m["metric"] else { throw fail(item, "\(key) needs a 'metric'") }
            metricNode = mn
            directionNode = m["direction"]
          }
          let metric = try oneOf(metricNode, "\(key).metric", ObjectiveSpec.Metric.self)
          var o = ObjectiveSpec(metric: metric)
          if let d = directionNode {
            o.direction = try oneOf(d, "\(key).direction", ObjectiveSpec.Goal.self)
          }
          guard !out.contains(where: { $0.metric == metric }) else {
            throw fail(metricNode, "'objectives' lists '\(metric.rawValue)' twice")
          }
          out.append(o)
        }
      }
      return out
    }

    /// `budget`: `trials` (the most trials the run executes, counting every finished one, dense
    /// baselines and rungs included) and `time_s` (seconds of wall time per `sweep run`).
    func budget(_ n: Node) throws -> BudgetSpec {
      let s = try entries(n, "budget", allowed: ["trials", "time_s"])
      var b = BudgetSpec()
      if let v = s["trials"] { check { b.trials = try int(v, "budget.trials", min: 1) } }
      if let v = s["time_s"] {
        check { b.timeSeconds = try double(v, "budget.time_s", min: 0, inclusive: false) }
      }
      guard s["trials"] != nil || s["time_s"] != nil else {
        throw fail(n, "'budget' needs 'trials' or 'time_s'")
      }
      return b
    }
  }
}
