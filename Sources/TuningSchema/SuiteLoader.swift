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
  public var description: String {
    if let line { return "\(file):\(line): \(message)" }
    return "\(file): \(message)"
  }
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
    let (root, included) = try tree(path: path, chain: [])
    var p = Parser(file: path)
    if included {
      // Keys and types were checked per file; what remains (required keys, cross-key rules) is
      // about the merged suite, whose lines come from several files.
      p.lineless = true
    }
    return try p.suite(root)
  }

  public static func parse(_ text: String, file: String) throws -> SweepSpec {
    let root = try compose(text, file: file)
    var p = Parser(file: file)
    return try p.suite(root)
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
  static func tree(path: String, chain: [String]) throws -> (Node, Bool) {
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
    var partial = Parser(file: path)
    partial.partial = true
    _ = try partial.suite(own)
    let dir = (path as NSString).deletingLastPathComponent
    var merged = Node.mapping(Node.Mapping([]))
    for inc in paths {
      let incPath = inc.hasPrefix("/") ? inc : (dir.isEmpty ? inc : "\(dir)/\(inc)")
      let (incNode, _) = try tree(path: incPath, chain: chain + [canonical])
      var fragment = Parser(file: incPath)
      fragment.partial = true
      _ = try fragment.suite(incNode)
      merged = merge(merged, incNode)
    }
    return (merge(merged, own), true)
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
    /// Checking one file of several: inherited keys may be missing, cross-key rules wait.
    var partial = false
    /// Checking a merged tree: node lines may belong to other files, so none is given.
    var lineless = false

    init(file: String) { self.file = file }

    func fail(_ node: Node?, _ message: String) -> SuiteError {
      SuiteError(file: file, line: lineless ? nil : node?.mark?.line, message: message)
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
          throw fail(
            key,
            "unknown key '\(prefix)\(name)' (allowed: \(allowed.sorted().joined(separator: ", ")))")
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
        guard partial, let stand = placeholders[required] else {
          throw fail(root, "missing required key '\(required)'")
        }
        e[required] = stand
      }
      let version = try int(e["schema_version"]!, "schema_version", min: 1)
      guard version == SweepSpec.currentSchemaVersion else {
        throw fail(
          e["schema_version"],
          "schema_version \(version) is not supported (this blkrew reads \(SweepSpec.currentSchemaVersion))"
        )
      }
      let name = try string(e["name"]!, "name")
      guard name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }),
        !name.hasPrefix(".")
      else {
        throw fail(e["name"], "'name' may contain only letters, digits, '-', '_' and '.'")
      }
      let model = try string(e["model"]!, "model")
      guard Catalog.models.contains(model) else {
        throw fail(
          e["model"],
          "model '\(model)' is unknown (available: \(Catalog.models.joined(separator: ", ")))")
      }
      let dataset = try string(e["dataset"]!, "dataset")
      guard Catalog.datasets.contains(dataset) else {
        throw fail(
          e["dataset"],
          "dataset '\(dataset)' is unknown (available: \(Catalog.datasets.joined(separator: ", ")))"
        )
      }
      guard partial || Catalog.datasets(for: model).contains(dataset) else {
        throw fail(
          e["dataset"],
          "model '\(model)' does not train on '\(dataset)' (it takes: "
            + Catalog.datasets(for: model).joined(separator: ", ") + ")")
      }
      let blocks = try blockList(e["blocks"]!, "blocks")
      var rates: [Double] = []
      for item in try list(e["rates"]!, "rates") {
        let r = try double(item, "rates", min: 1)
        rates.append(r)
      }
      var spec = SweepSpec(name: name, model: model, dataset: dataset, blocks: blocks, rates: rates)
      spec.schemaVersion = version
      if let n = e["scheme"] { spec.scheme = try oneOf(n, "scheme", PruningScheme.self) }
      if let n = e["subset"] {
        let s = try entries(n, "subset", allowed: ["train", "val", "test"])
        if let v = s["train"] { spec.subset.train = try int(v, "subset.train", min: 1) }
        if let v = s["val"] { spec.subset.val = try int(v, "subset.val", min: 1) }
        if let v = s["test"] { spec.subset.test = try int(v, "subset.test", min: 1) }
      }
      if let n = e["phases"] {
        let s = try entries(
          n, "phases", allowed: ["pretrain_epochs", "reg_epochs", "retrain_epochs"])
        if let v = s["pretrain_epochs"] {
          spec.phases.pretrainEpochs = try int(v, "phases.pretrain_epochs", min: 0)
        }
        if let v = s["reg_epochs"] {
          spec.phases.regEpochs = try int(v, "phases.reg_epochs", min: 0)
        }
        if let v = s["retrain_epochs"] {
          spec.phases.retrainEpochs = try int(v, "phases.retrain_epochs", min: 0)
        }
      }
      if let n = e["training"] {
        let s = try entries(
          n, "training",
          allowed: [
            "batch_size", "learning_rate", "retrain_learning_rate", "momentum", "weight_decay",
            "optimizer", "schedule", "warmup_steps", "reg_learning_rate",
          ])
        if let v = s["reg_learning_rate"] {
          spec.training.regLearningRate = try double(v, "training.reg_learning_rate", min: 0)
        }
        if let v = s["optimizer"] {
          spec.training.optimizer = try oneOf(
            v, "training.optimizer", TrainingSpec.OptimizerKind.self)
        }
        if let v = s["schedule"] {
          spec.training.schedule = try oneOf(v, "training.schedule", TrainingSpec.ScheduleKind.self)
        }
        if let v = s["warmup_steps"] {
          spec.training.warmupSteps = try int(v, "training.warmup_steps", min: 0)
        }
        if let v = s["batch_size"] {
          spec.training.batchSize = try int(v, "training.batch_size", min: 1)
        }
        if let v = s["learning_rate"] {
          spec.training.learningRate = try double(
            v, "training.learning_rate", min: 0, inclusive: false)
        }
        if let v = s["retrain_learning_rate"] {
          spec.training.retrainLearningRate = try double(
            v, "training.retrain_learning_rate", min: 0, inclusive: false)
        }
        if let v = s["momentum"] {
          spec.training.momentum = try double(v, "training.momentum", min: 0)
        }
        if let v = s["weight_decay"] {
          spec.training.weightDecay = try double(v, "training.weight_decay", min: 0)
        }
      }
      if let n = e["regularizer"] {
        spec.regularizer = try regularizer(n, "regularizer", base: spec.regularizer)
      }
      if let n = e["methods"] {
        var methods: [MethodSpec] = []
        for (i, item) in try list(n, "methods").enumerated() {
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
            method.scheme = try oneOf(v, "methods[\(i)].scheme", PruningScheme.self)
          }
          if let v = m["regularizer"] {
            method.regularizer = try regularizer(
              v, "methods[\(i)].regularizer", base: spec.regularizer)
          }
          if let v = m["blocks"] { method.blocks = try blockList(v, "methods[\(i)].blocks") }
          methods.append(method)
        }
        guard !methods.isEmpty else { throw fail(n, "'methods' must list at least one method") }
        spec.methods = methods
      }
      if let n = e["init"] {
        let given = try string(n, "init")
        let dir = (file as NSString).deletingLastPathComponent
        let path = given.hasPrefix("/") || dir.isEmpty ? given : "\(dir)/\(given)"
        guard let bytes = FileManager.default.contents(atPath: path) else {
          throw fail(n, "'init': no such file \(path)")
        }
        spec.initCheckpoint = InitCheckpoint(
          path: path, sha256: SHA256.hex(of: [UInt8](bytes)))
      }
      guard partial || spec.phases.pretrainEpochs > 0 || spec.initCheckpoint != nil else {
        throw fail(
          e["phases"] ?? root, "'phases.pretrain_epochs' may be 0 only with an 'init' checkpoint")
      }
      if let n = e["width"] {
        spec.width = try double(n, "width", min: 0, inclusive: false)
      }
      if let n = e["layer_rates"] {
        spec.layerRates = try numberMap(n, "layer_rates", min: 1)
      }
      if let n = e["rate_mode"] {
        spec.rateMode = try oneOf(n, "rate_mode", RateMode.self)
        let schemes = [spec.scheme] + (spec.methods ?? []).compactMap(\.scheme)
        guard partial || spec.rateMode != .global || !schemes.contains(.blockColumnRow) else {
          throw fail(n, "'rate_mode: global' does not apply to the block-column-row scheme")
        }
        guard partial || spec.rateMode != .global || spec.layerRates == nil else {
          throw fail(n, "'rate_mode: global' and 'layer_rates' exclude each other")
        }
      }
      if let n = e["keep_dense"] {
        guard case .sequence(let seq) = n else { throw fail(n, "'keep_dense' must be a list") }
        spec.keepDense = try seq.map { try string($0, "keep_dense") }
      }
      if let n = e["latency"] {
        let s = try entries(n, "latency", allowed: ["batch", "batch_n", "threads"])
        if let v = s["batch"] { spec.latency.batch = try int(v, "latency.batch", min: 1) }
        if let v = s["batch_n"] { spec.latency.batchN = try int(v, "latency.batch_n", min: 0) }
        if let v = s["threads"] {
          spec.latency.threads = try int(v, "latency.threads", min: 1)
          guard spec.latency.threads == 1 else {
            throw fail(v, "'latency.threads' > 1 is not implemented yet")
          }
        }
      }
      if let n = e["kernels"] {
        let s = try entries(
          n, "kernels",
          allowed: [
            "compiler", "flags", "events", "min_repeats", "max_repeats", "warmup", "budget_s",
            "cold", "simulate", "wait_idle_s", "ci_fraction", "min_time_s", "multiplex",
          ])
        if let v = s["compiler"] {
          spec.kernels.compiler = try string(v, "kernels.compiler")
          guard ["gcc", "clang", "cc"].contains(spec.kernels.compiler) else {
            throw fail(v, "'kernels.compiler' must be gcc, clang or cc")
          }
        }
        if let v = s["flags"] {
          guard case .sequence(let seq) = v else { throw fail(v, "'kernels.flags' must be a list") }
          spec.kernels.flags = try seq.map { item in
            let f = try string(item, "kernels.flags")
            guard SuiteLoader.allowedFlagPrefixes.contains(where: { f.hasPrefix($0) }) else {
              throw fail(item, "compiler flag '\(f)' is not allowed")
            }
            return f
          }
        }
        if let v = s["events"] {
          guard case .sequence(let seq) = v else {
            throw fail(v, "'kernels.events' must be a list")
          }
          spec.kernels.events = try seq.map { try string($0, "kernels.events") }
          spec.kernels.autoEvents = false
        }
        if let v = s["min_repeats"] {
          spec.kernels.minRepeats = try int(v, "kernels.min_repeats", min: 1)
        }
        if let v = s["max_repeats"] {
          spec.kernels.maxRepeats = try int(v, "kernels.max_repeats", min: 1)
        }
        if let v = s["warmup"] { spec.kernels.warmup = try int(v, "kernels.warmup", min: 0) }
        if let v = s["cold"] { spec.kernels.cold = try bool(v, "kernels.cold") }
        if let v = s["simulate"] { spec.kernels.simulate = try bool(v, "kernels.simulate") }
        if let v = s["wait_idle_s"] {
          spec.kernels.waitIdleSeconds = try double(v, "kernels.wait_idle_s", min: 0)
        }
        if let v = s["budget_s"] {
          spec.kernels.budgetSeconds = try double(v, "kernels.budget_s", min: 0)
        }
        if let v = s["ci_fraction"] {
          let f = try double(v, "kernels.ci_fraction", min: -.infinity)
          guard f > 0 && f < 1 else {
            throw fail(v, "'kernels.ci_fraction' must be > 0 and < 1, got \(f)")
          }
          spec.kernels.ciFraction = f
        }
        if let v = s["min_time_s"] {
          spec.kernels.minTimeSeconds = try double(v, "kernels.min_time_s", min: 0)
        }
        if let v = s["multiplex"] { spec.kernels.multiplex = try bool(v, "kernels.multiplex") }
        guard partial || spec.kernels.maxRepeats >= spec.kernels.minRepeats else {
          throw fail(n, "'kernels.max_repeats' must be >= 'kernels.min_repeats'")
        }
        // budget_s bounds the sampling time, so a longer minimum would silently be cut short.
        guard partial || spec.kernels.minTimeSeconds <= spec.kernels.budgetSeconds else {
          throw fail(
            s["min_time_s"] ?? n,
            "'kernels.min_time_s' (\(spec.kernels.minTimeSeconds)) must be <= 'kernels.budget_s' (\(spec.kernels.budgetSeconds))"
          )
        }
      }
      if let n = e["search"] {
        let s = try entries(n, "search", allowed: ["strategy", "trials", "seed", "eta", "rungs"])
        if let v = s["eta"] { spec.search.eta = try int(v, "search.eta", min: 2) }
        if let v = s["rungs"] { spec.search.rungs = try int(v, "search.rungs", min: 1) }
        if let v = s["strategy"] {
          spec.search.strategy = try oneOf(v, "search.strategy", SearchSpec.Strategy.self)
        }
        if let v = s["trials"] { spec.search.trials = try int(v, "search.trials", min: 1) }
        if let v = s["seed"] { spec.search.seed = try int(v, "search.seed", min: 0) }
        guard partial || spec.search.strategy != .random || spec.search.trials != nil else {
          throw fail(n, "'search.trials' is required with strategy random")
        }
      }
      if let n = e["seeds"] {
        spec.seeds = try list(n, "seeds").map { try int($0, "seeds", min: 0) }
      }
      if let n = e["trial_timeout_s"] {
        spec.trialTimeoutSeconds = try double(n, "trial_timeout_s", min: 1)
      }
      guard partial || spec.subset.train >= spec.training.batchSize else {
        throw fail(
          e["subset"] ?? root,
          "'subset.train' (\(spec.subset.train)) must be at least 'training.batch_size' (\(spec.training.batchSize))"
        )
      }
      return spec
    }
  }
}
