// swift-tools-version:6.0
// blkrew: benchmarking and autotuning harness for block-based DNN pruning (BLK-REW).
// Layers and import rules: docs/ARCHITECTURE.md.
import PackageDescription

let package = Package(
  name: "blkrew",
  platforms: [.macOS(.v14)],
  products: [
    .executable(name: "blkrew", targets: ["blkrew"])
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
  ],
  targets: [
    // L0: system libraries through pkg-config.
    .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
    .target(name: "CProcessShims"),
    .target(name: "CMachineProbe"),
    // L1: records that cross stages or touch disk; child-process spawning.
    .target(name: "TuningSchema", dependencies: [.product(name: "Yams", package: "Yams")]),
    .target(name: "ChildProcesses", dependencies: ["CProcessShims"]),
    // L2: numerics, models, data.
    .target(name: "Tensors", dependencies: ["CBLAS"]),
    .target(name: "NeuralNets", dependencies: ["Tensors"]),
    .target(name: "Datasets", dependencies: ["CZlib", "Tensors"]),
    // L3: stages (they do not import each other, except Training -> Pruning, Reporting -> Analysis).
    .target(name: "Pruning", dependencies: ["Tensors", "TuningSchema"]),
    .target(
      name: "Training",
      dependencies: ["Pruning", "NeuralNets", "Tensors", "Datasets", "TuningSchema"]),
    .target(name: "KernelCodegen", dependencies: ["TuningSchema"]),
    .target(
      name: "KernelBuild", dependencies: ["TuningSchema", "ChildProcesses"],
      resources: [.copy("runner")]),
    .target(name: "KernelRun", dependencies: ["TuningSchema", "ChildProcesses"]),
    .target(name: "ResultStore", dependencies: ["TuningSchema"]),
    .target(name: "Search", dependencies: ["TuningSchema"]),
    .target(name: "Analysis"),
    .target(name: "Reporting", dependencies: ["Analysis", "TuningSchema"]),
    // L4: the sweep loop; the only target that knows the order of the stages.
    .target(
      name: "Driver",
      dependencies: [
        "TuningSchema", "ChildProcesses", "Training", "Pruning", "KernelCodegen", "KernelBuild",
        "KernelRun", "ResultStore", "Search", "Analysis", "Reporting", "Datasets", "NeuralNets",
        "Tensors", "CMachineProbe",
      ]),
    // L4: benchmarks of `make bench` (they compose stages like the Driver and use its probe).
    .target(
      name: "Benchmarks",
      dependencies: [
        "Driver", "TuningSchema", "ChildProcesses", "KernelCodegen", "KernelBuild", "KernelRun",
        "ResultStore", "Analysis", "Training", "NeuralNets", "Tensors", "Datasets",
      ]),
    // L5: the command line.
    .executableTarget(
      name: "blkrew",
      dependencies: [
        "Driver", "Benchmarks", "TuningSchema", "ResultStore", "KernelBuild",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    // Tests.
    .testTarget(name: "TensorsTests", dependencies: ["Tensors"]),
    .testTarget(name: "NeuralNetsTests", dependencies: ["NeuralNets", "Tensors"]),
    .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Tensors"]),
    .testTarget(
      name: "KernelTests",
      dependencies: [
        "KernelCodegen", "KernelBuild", "KernelRun", "TuningSchema", "ChildProcesses",
      ],
      exclude: ["Fixtures"]),
    .testTarget(name: "SchemaTests", dependencies: ["TuningSchema"]),
    .testTarget(name: "PruningTests", dependencies: ["Pruning", "Tensors", "TuningSchema"]),
    .testTarget(name: "SearchTests", dependencies: ["Search", "TuningSchema"]),
    .testTarget(name: "AnalysisTests", dependencies: ["Analysis", "TuningSchema"]),
    .testTarget(name: "ReportingTests", dependencies: ["Reporting", "TuningSchema"]),
    .testTarget(
      name: "TrainingTests",
      dependencies: ["Training", "NeuralNets", "TuningSchema", "Datasets", "Search"]),
    .testTarget(name: "ResultStoreTests", dependencies: ["ResultStore"]),
    .testTarget(
      name: "EndToEndTests",
      dependencies: [
        "TuningSchema", "ChildProcesses", "NeuralNets", "KernelCodegen", "KernelBuild",
      ]),
  ]
)
