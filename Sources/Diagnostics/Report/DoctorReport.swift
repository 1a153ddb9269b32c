/// Everything `clock-agent doctor` found: one result per check, in a fixed order.
///
/// The checks, in order: `config`, `imds`, `identity`, `credentials`, `clock`, `s3`, `cloudwatch`,
/// `autoscaling`, `iam`, `app`, `logs`, `systemd`, `disk`.
///
/// JSON form (`clock-agent doctor --json`), stable — fields and check names are added, never renamed:
/// ```json
/// {
///   "checks": [
///     {"name": "config", "status": "ok", "detail": "/etc/clock-agent/config.yaml is valid", "hint": ""},
///     {"name": "imds", "status": "fail", "detail": "token request (PUT /latest/api/token) timed out after 1 s",
///      "hint": "the instance metadata hop limit is too low for this network path (HttpPutResponseHopLimit); …"}
///   ],
///   "summary": {"ok": 9, "warn": 1, "fail": 1, "skip": 2}
/// }
/// ```
/// - `name`: the check (list above).
/// - `status`: `ok`, `warn`, `fail` or `skip` (doesn't apply here, or a check it depends on failed).
/// - `detail`: what was found, one line.
/// - `hint`: what to do, one line; `""` when there is nothing to do.
/// - `summary`: how many checks have each status; all four keys are always present.
///
/// The exit status is 0 when no check failed and 1 otherwise.
public struct DoctorReport: Sendable, Equatable {
    /// The results, in check order.
    public var checks: [CheckResult]

    /// Creates a report.
    public init(checks: [CheckResult]) { self.checks = checks }

    /// How many checks have the status.
    public func count(_ status: CheckStatus) -> Int { checks.count { $0.status == status } }

    /// Whether any check failed.
    public var hasFailures: Bool { checks.contains { $0.status == .fail } }

    /// The process exit status: 0 when nothing failed, 1 otherwise.
    public var exitCode: Int32 { hasFailures ? 1 : 0 }

    /// The result of a check by name.
    public subscript(name: String) -> CheckResult? { checks.first { $0.name == name } }

    /// `summary: 9 ok, 1 warn, 1 fail, 2 skip`.
    public var summaryLine: String {
        "summary: \(count(.ok)) ok, \(count(.warn)) warn, \(count(.fail)) fail, \(count(.skip)) skip"
    }
}
