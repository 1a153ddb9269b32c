import AWSCore

extension StatusReport {
    /// Width of the label column (`credentials` plus a space).
    static let labelWidth = 12

    /// The text form of `clock-agent status`: one line per part, the log sources below, every secret left out
    /// (the report holds none). Times are shown relative to `now` as well as absolute.
    ///
    /// ```
    /// clock-agent 0.1.0 (pid 812, up 3m12s): healthy
    /// instance    i-0123456789abcdef0 in us-east-1a (us-east-1), group clock-asg (instance metadata tag)
    /// app         running, pid 901, up 3m1s, healthy, 0 restarts
    /// release     646183baa212e67f1a987cbedb1364ac81f166559f61c5b210e8dd855feb111d
    /// lifecycle   launch hook clock-launch (CONTINUE), terminate hook clock-terminate
    ///             last call: CompleteLifecycleAction clock-launch CONTINUE: completed
    /// credentials instance-profile (role clock-agent-role), key ASIA************3VTJ, expires 2026-12-07T08:03:25Z (in 5h56m)
    /// logs
    ///   app -> i-0123456789abcdef0/app: 42 events shipped, backlog 0 bytes, 0 in flight
    ///     acknowledged /var/lib/clock-agent/app/output.log@5120
    /// ```
    public func text(now: UTCTime = .now()) -> String {
        var lines: [String] = []
        lines.append(
            "clock-agent \(agent.version) (pid \(agent.pid), up \(Self.duration(agent.uptimeSeconds))): \(agent.phase)")
        if let failure = agent.failure { lines.append(Self.label("failure") + failure) }
        lines.append(
            Self.label("instance")
                + "\(identity.instanceID) in \(identity.availabilityZone) (\(identity.region)), group \(identity.autoScalingGroup ?? "none") (\(identity.groupFoundBy))"
        )
        var appLine = Self.label("app") + app.state
        if let pid = app.pid { appLine += ", pid \(pid)" }
        if let uptime = app.uptimeSeconds { appLine += ", up \(Self.duration(uptime))" }
        appLine += app.healthy ? ", healthy" : ", not healthy"
        appLine += ", \(app.restarts) restart\(app.restarts == 1 ? "" : "s")"
        if let exit = app.lastExit { appLine += ", last exit: \(exit)" }
        lines.append(appLine)
        if let release = app.release { lines.append(Self.label("release") + release) }
        lines.append(
            Self.label("lifecycle")
                + "launch hook \(lifecycle.launchHook ?? "none") (\(lifecycle.launchResult ?? "not completed")), terminate hook \(lifecycle.terminateHook ?? "none")"
        )
        if let target = lifecycle.targetState { lines.append(Self.label("") + "target state \(target)") }
        if let last = lifecycle.lastCall { lines.append(Self.label("") + "last call: \(last)") }
        var credentialLine = Self.label("credentials") + credentials.source
        if let role = credentials.role { credentialLine += " (role \(role))" }
        if let key = credentials.accessKeyID { credentialLine += ", key \(key)" }
        if let expiration = credentials.expiration {
            credentialLine += ", expires \(expiration)"
            if let time = UTCTime(iso8601: expiration) {
                let left = Int((time.secondsSinceEpoch - now.secondsSinceEpoch).rounded())
                credentialLine += left >= 0 ? " (in \(Self.duration(left)))" : " (EXPIRED \(Self.duration(-left)) ago)"
            }
        }
        lines.append(credentialLine)
        if let error = credentials.lastError { lines.append(Self.label("") + "last refresh error: \(error)") }
        lines.append("logs")
        for source in logs {
            lines.append(
                "  \(source.name) -> \(source.stream): \(source.eventsShipped) events shipped, backlog \(source.backlogBytes) bytes, \(source.batchesInFlight) in flight"
            )
            let rejected = source.rejectedTooOld + source.rejectedTooNew + source.rejectedExpired
            if rejected > 0 || source.deadLettered > 0 {
                lines.append(
                    "    rejected \(rejected) (too old \(source.rejectedTooOld), too new \(source.rejectedTooNew), expired \(source.rejectedExpired)); dead-lettered \(source.deadLettered)"
                )
            }
            if source.lostBytes > 0 { lines.append("    lost \(source.lostBytes) bytes (see the agent's log)") }
            for position in source.acknowledged { lines.append("    acknowledged \(position)") }
            if let error = source.lastError { lines.append("    last error: \(error)") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The label padded to the label column.
    static func label(_ text: String) -> String {
        text.count < labelWidth ? text + String(repeating: " ", count: labelWidth - text.count) : text + " "
    }

    /// `42s`, `3m12s`, `5h56m`, `2d4h`.
    static func duration(_ seconds: Int) -> String {
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m\(seconds % 60)s" }
        if seconds < 86_400 { return "\(seconds / 3600)h\(seconds % 3600 / 60)m" }
        return "\(seconds / 86_400)d\(seconds % 86_400 / 3600)h"
    }
}
