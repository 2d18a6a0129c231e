/// A first-order optimizer: `step` updates every parameter from its accumulated `grad` (and
/// keeps masked weights at +0.0); `learningRate` is what an `LRSchedule` sets before each step.
public protocol Optimizer {
  mutating func step(_ params: [Parameter])
  var learningRate: Float { get set }
}

extension SGD: Optimizer {}
