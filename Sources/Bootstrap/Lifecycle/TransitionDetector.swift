import AWSCore

/// Turns what instance metadata says, poll after poll, into what the agent must do. A pure value type: the
/// watcher feeds it the polled values, tests feed it sequences directly.
///
/// - `autoscaling/target-lifecycle-state` (404 before the first transition): `Terminated` → drain and complete
///   the terminate hook; `Warmed:*` → the instance is entering a warm pool; `InService` after `Warmed:*` → it is
///   leaving the warm pool.
/// - `spot/instance-action` (404 until the two-minute notice): drain before the notice's time; no hook (spot
///   interruptions bypass lifecycle hooks).
/// - `events/recommendations/rebalance`: logged once; nothing to do.
public struct TransitionDetector: Sendable, Equatable {
    /// What to do.
    public enum Decision: Sendable, Equatable {
        /// Drain, then complete the terminate hook.
        case terminate
        /// A spot interruption: drain before `deadline` (wall clock).
        case spotInterruption(action: String, deadline: UTCTime?)
        /// The instance is going into a warm pool (`Warmed:Stopped`, `Warmed:Running`, `Warmed:Hibernated`).
        case enterWarmPool(String)
        /// The instance left the warm pool for service.
        case leaveWarmPool
        /// A rebalance recommendation appeared (noticeTime).
        case rebalanceRecommended(String)
    }

    /// The last target state seen.
    public private(set) var targetState: String?
    private var spotSeen = false
    private var rebalanceSeen = false
    private var warm = false
    private var terminating = false

    /// Creates a detector.
    public init() {}

    /// A new target lifecycle state (nil: not set yet).
    public mutating func target(_ state: String?) -> Decision? {
        guard let state, state != targetState else { return nil }
        targetState = state
        if state == "Terminated" || state == "Warmed:Terminated" {
            guard !terminating else { return nil }
            terminating = true
            return .terminate
        }
        if state.hasPrefix("Warmed:") {
            warm = true
            return .enterWarmPool(state)
        }
        if state == "InService", warm {
            warm = false
            return .leaveWarmPool
        }
        return nil
    }

    /// A new `spot/instance-action` document (nil: none).
    public mutating func spot(_ document: String?) -> Decision? {
        guard let document, !spotSeen, !terminating else { return nil }
        spotSeen = true
        terminating = true
        let action = Self.field("action", in: document) ?? "terminate"
        let time = Self.field("time", in: document).flatMap(UTCTime.init(iso8601:))
        return .spotInterruption(action: action, deadline: time)
    }

    /// A new `events/recommendations/rebalance` document (nil: none).
    public mutating func rebalance(_ document: String?) -> Decision? {
        guard let document, !rebalanceSeen else { return nil }
        rebalanceSeen = true
        return .rebalanceRecommended(Self.field("noticeTime", in: document) ?? document)
    }

    /// A string field of a small flat JSON document (`{"action":"terminate","time":"…"}`).
    static func field(_ name: String, in document: String) -> String? {
        guard let key = document.firstRange(of: "\"\(name)\"") else { return nil }
        let rest = document[key.upperBound...].drop { $0 == " " || $0 == ":" || $0 == "\t" }
        guard rest.first == "\"" else { return nil }
        let value = rest.dropFirst().prefix { $0 != "\"" }
        return String(value)
    }
}
