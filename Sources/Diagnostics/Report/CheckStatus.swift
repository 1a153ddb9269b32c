/// The verdict of one doctor check.
///
/// Ordered by severity (`ok` < `skip` < `warn` < `fail`) so that a check built from several findings takes the
/// worst of them.
public enum CheckStatus: String, Sendable, CaseIterable, Comparable {
    /// Works as it should.
    case ok
    /// Doesn't apply here (not under systemd, no hook configured) or couldn't run because a prerequisite failed.
    case skip
    /// Works now, but something should be looked at.
    case warn
    /// Broken: the agent can't do its job until this is fixed.
    case fail

    /// Severity rank: ok 0, skip 1, warn 2, fail 3.
    var severity: Int {
        switch self {
        case .ok: return 0
        case .skip: return 1
        case .warn: return 2
        case .fail: return 3
        }
    }

    public static func < (lhs: CheckStatus, rhs: CheckStatus) -> Bool { lhs.severity < rhs.severity }
}
