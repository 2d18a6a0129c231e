import Analysis
import Foundation
import TuningSchema

/// One figure of a benchmark: a measured value with its unit and direction, and the goal it is
/// held against when the issue names one.
public struct BenchFigure: Codable, Sendable {
  public var name: String
  public var value: Double?
  public var unit: String
  public var direction: Direction
  public var goal: Double?
  public var note: String?

  public init(
    name: String, value: Double?, unit: String, direction: Direction, goal: Double? = nil,
    note: String? = nil
  ) {
    self.name = name
    self.value = value
    self.unit = unit
    self.direction = direction
    self.goal = goal
    self.note = note
  }

  /// Whether the value meets the goal in the figure's direction (nil without goal or value).
  public var meetsGoal: Bool? {
    guard let goal, let value else { return nil }
    return direction == .higherIsBetter ? value >= goal : value <= goal
  }

  enum CodingKeys: String, CodingKey {
    case name, value, unit, direction, goal, note
    case meetsGoal = "meets_goal"
  }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    name = try c.decode(String.self, forKey: .name)
    value = try c.decodeIfPresent(Double.self, forKey: .value)
    unit = try c.decode(String.self, forKey: .unit)
    direction = try c.decode(Direction.self, forKey: .direction)
    goal = try c.decodeIfPresent(Double.self, forKey: .goal)
    note = try c.decodeIfPresent(String.self, forKey: .note)
  }

  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(name, forKey: .name)
    try c.encode(value, forKey: .value)
    try c.encode(unit, forKey: .unit)
    try c.encode(direction, forKey: .direction)
    try c.encodeIfPresent(goal, forKey: .goal)
    try c.encodeIfPresent(note, forKey: .note)
    try c.encodeIfPresent(meetsGoal, forKey: .meetsGoal)
  }
}

/// `results/bench/<name>.json`: the figures of one benchmark run, with the environment.
public struct BenchRecord: Codable, Sendable {
  public var schemaVersion = 1
  public var benchmark: String
  public var quick: Bool
  public var createdAt: String
  public var gitCommit: String?
  public var seconds: Double
  public var environment: EnvironmentInfo
  public var settings: [String: String]
  public var figures: [BenchFigure]
  /// Raw series behind the figures (e.g. every run's median), for re-analysis.
  public var series: [String: [Double]]

  enum CodingKeys: String, CodingKey {
    case benchmark, quick, seconds, environment, settings, figures, series
    case schemaVersion = "schema_version"
    case createdAt = "created_at"
    case gitCommit = "git_commit"
  }
}
