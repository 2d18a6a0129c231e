#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A learning-rate schedule: `rate(at: step, base:)` for step 0, 1, 2, … (the step about to be
/// taken). Closed forms of PyTorch's schedulers, computed in Double:
///
/// - `.constant`: `base`.
/// - `.step(every: k, gamma: γ)`: `base · γ^⌊s/k⌋` (`StepLR(step_size=k, gamma=γ)`).
/// - `.cosine(total: T, minLR: η)`: `η + (base − η)·(1 + cos(π·s/T))/2` for `s ≤ T`, then `η`
///   (`CosineAnnealingLR(T_max=T, eta_min=η)`, held at `η` after T instead of rising again).
/// - `.warmup(steps: W)` on any of them: `base · (s + 1)/W` for `s < W`, then the schedule
///   evaluated at `s − W` (like `SequentialLR` of a linear warm-up and the schedule, whose own
///   count starts after the warm-up; the last warm-up step already reaches `base`).
///
/// `LRSchedule.cosine(total: 900, minLR: 0).warmup(steps: 100)` warms up for 100 steps and then
/// anneals over 900.
public struct LRSchedule: Sendable, Equatable {
  public enum Decay: Sendable, Equatable {
    case constant
    case step(every: Int, gamma: Double)
    case cosine(total: Int, minLR: Double)
  }

  public var decay: Decay
  /// Linear warm-up steps before `decay` starts (0 = none).
  public var warmupSteps: Int

  public init(decay: Decay, warmupSteps: Int = 0) {
    precondition(warmupSteps >= 0, "LRSchedule: negative warm-up")
    switch decay {
    case .constant: break
    case .step(let every, let gamma):
      precondition(every > 0 && gamma >= 0, "LRSchedule.step: every must be > 0, gamma ≥ 0")
    case .cosine(let total, let minLR):
      precondition(total > 0 && minLR >= 0, "LRSchedule.cosine: total must be > 0, minLR ≥ 0")
    }
    self.decay = decay
    self.warmupSteps = warmupSteps
  }

  public static let constant = LRSchedule(decay: .constant)

  public static func step(every: Int, gamma: Double) -> LRSchedule {
    LRSchedule(decay: .step(every: every, gamma: gamma))
  }

  public static func cosine(total: Int, minLR: Double = 0) -> LRSchedule {
    LRSchedule(decay: .cosine(total: total, minLR: minLR))
  }

  /// Constant rate after a linear warm-up.
  public static func warmup(steps: Int) -> LRSchedule {
    LRSchedule(decay: .constant, warmupSteps: steps)
  }

  /// This schedule preceded by a linear warm-up of `steps` steps.
  public func warmup(steps: Int) -> LRSchedule {
    LRSchedule(decay: decay, warmupSteps: steps)
  }

  /// The learning rate for step `step` (0-based) with base rate `base`.
  public func rate(at step: Int, base: Float) -> Float {
    precondition(step >= 0, "LRSchedule: negative step \(step)")
    let b = Double(base)
    if step < warmupSteps { return Float(b * Double(step + 1) / Double(warmupSteps)) }
    let s = step - warmupSteps
    switch decay {
    case .constant:
      return base
    case .step(let every, let gamma):
      return Float(b * pow(gamma, Double(s / every)))
    case .cosine(let total, let minLR):
      if s >= total { return Float(minLR) }
      return Float(minLR + (b - minLR) * (1 + cos(Double.pi * Double(s) / Double(total))) / 2)
    }
  }
}
