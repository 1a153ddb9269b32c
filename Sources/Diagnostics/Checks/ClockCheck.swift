/// `clock`: the local clock against the `Date` of AWS's answers. SigV4 signatures are refused when the signing
/// time is more than 5 minutes off (15 for S3), so more than 1 minute is a warning and more than 5 a failure.
enum ClockCheck {
    /// The check's name in the report.
    static let name = "clock"
    /// More skew than this (seconds) is a warning.
    static let warnAfter: Double = 60
    /// More skew than this (seconds) is a failure: SigV4 refuses signatures more than 5 minutes off.
    static let failAfter: Double = 300

    /// The verdict from the first `Date` seen (the STS answer's, as STS is called first).
    static func result(samples: [ProbeTransport.DateSample]) -> CheckResult {
        guard let sample = samples.first else {
            return .skip(name, "no AWS answer carried a Date header to compare with")
        }
        // The Date header has one-second resolution: round the skew to whole seconds.
        let skew = (sample.local.secondsSinceEpoch - sample.server.secondsSinceEpoch).rounded()
        let direction = skew > 0 ? "ahead of" : "behind"
        let amount = Format.duration(skew)
        if abs(skew) > failAfter {
            return CheckResult(
                name: name, status: .fail,
                detail:
                    "the local clock is \(amount) \(direction) AWS (Date from \(sample.host)): SigV4 breaks beyond 5 min",
                hint:
                    "sync the clock: check chrony/NTP (chronyc tracking, timedatectl status); the agent corrects its signatures meanwhile, but other tools won't"
            )
        }
        if abs(skew) > warnAfter {
            return CheckResult(
                name: name, status: .warn,
                detail: "the local clock is \(amount) \(direction) AWS (Date from \(sample.host))",
                hint:
                    "sync the clock before it drifts past 5 min: check chrony/NTP (chronyc tracking, timedatectl status)"
            )
        }
        return CheckResult(
            name: name, status: .ok,
            detail: "the local clock is within \(Int(abs(skew))) s of AWS (Date from \(sample.host))")
    }
}
