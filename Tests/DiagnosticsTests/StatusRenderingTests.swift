import AWSCore
import AgentStatus
import Foundation
import Testing

/// The text form of `clock-agent status` (golden output) and the JSON field names scripts rely on.
@Suite struct StatusRenderingTests {
    /// A healthy agent with one clean source and one in trouble (rejections, loss, a last error).
    static let report = StatusReport(
        agent: .init(
            version: "0.1.0", pid: 812, startedAt: "2026-12-07T02:00:00Z", uptimeSeconds: 192, phase: "healthy",
            failure: nil),
        identity: .init(
            instanceID: "i-0123456789abcdef0", region: "us-east-1", availabilityZone: "us-east-1a",
            autoScalingGroup: "clock-asg", groupFoundBy: "instance metadata tag"),
        app: .init(
            release: String(repeating: "ab", count: 32), state: "running", pid: 901, startedAt: "2026-12-07T02:00:11Z",
            uptimeSeconds: 181, healthy: true, restarts: 1, lastExit: "exit status 1"),
        logs: [
            .init(
                name: "app", stream: "i-0123456789abcdef0/app", eventsShipped: 42, bytesShipped: 4096,
                rejectedTooOld: 0, rejectedTooNew: 0, rejectedExpired: 0, deadLettered: 0, sanitised: 0, truncated: 0,
                batchesInFlight: 0, backlogBytes: 0, lostBytes: 0,
                acknowledged: ["/var/lib/clock-agent/app/output.log@5120"], lastError: nil),
            .init(
                name: "files", stream: "i-0123456789abcdef0/files", eventsShipped: 7, bytesShipped: 700,
                rejectedTooOld: 2, rejectedTooNew: 1, rejectedExpired: 0, deadLettered: 3, sanitised: 0, truncated: 0,
                batchesInFlight: 1, backlogBytes: 2048, lostBytes: 10, acknowledged: ["/var/log/clock/web.log@700"],
                lastError: "logs PutLogEvents failed: HTTP 400 ThrottlingException: Rate exceeded"),
        ],
        lifecycle: .init(
            launchHook: "clock-launch", terminateHook: "clock-terminate", launchResult: "CONTINUE",
            lastCall: "CompleteLifecycleAction clock-launch CONTINUE: completed", targetState: "InService"),
        credentials: .init(
            source: "instance-profile", role: "clock-agent-role", accessKeyID: "ASIA************3VTJ",
            expiration: "2026-12-07T08:03:25Z", lastError: nil))

    static let now = UTCTime(iso8601: "2026-12-07T02:03:12Z")!

    static let golden = """
        clock-agent 0.1.0 (pid 812, up 3m12s): healthy
        instance    i-0123456789abcdef0 in us-east-1a (us-east-1), group clock-asg (instance metadata tag)
        app         running, pid 901, up 3m1s, healthy, 1 restart, last exit: exit status 1
        release     abababababababababababababababababababababababababababababababab
        lifecycle   launch hook clock-launch (CONTINUE), terminate hook clock-terminate
                    target state InService
                    last call: CompleteLifecycleAction clock-launch CONTINUE: completed
        credentials instance-profile (role clock-agent-role), key ASIA************3VTJ, expires 2026-12-07T08:03:25Z (in 6h0m)
        logs
          app -> i-0123456789abcdef0/app: 42 events shipped, backlog 0 bytes, 0 in flight
            acknowledged /var/lib/clock-agent/app/output.log@5120
          files -> i-0123456789abcdef0/files: 7 events shipped, backlog 2048 bytes, 1 in flight
            rejected 3 (too old 2, too new 1, expired 0); dead-lettered 3
            lost 10 bytes (see the agent's log)
            acknowledged /var/log/clock/web.log@700
            last error: logs PutLogEvents failed: HTTP 400 ThrottlingException: Rate exceeded

        """

    @Test func textMatchesGolden() {
        #expect(Self.report.text(now: Self.now) == Self.golden)
    }

    @Test func failedLaunchAndExpiredCredentials() {
        var report = Self.report
        report.agent.phase = "launch failed"
        report.agent.failure = "no object s3://webclock-bucket/clock-app.tar.gz (HTTP 404)"
        report.app = .init(
            release: nil, state: "not started", pid: nil, startedAt: nil, uptimeSeconds: nil, healthy: false,
            restarts: 0, lastExit: nil)
        report.lifecycle.launchResult = "ABANDON"
        report.credentials.lastError = "instance metadata: no answer in time"
        let later = UTCTime(iso8601: "2026-12-07T09:03:25Z")!
        let lines = report.text(now: later).split(separator: "\n").map(String.init)
        #expect(lines[0] == "clock-agent 0.1.0 (pid 812, up 3m12s): launch failed")
        #expect(lines[1] == "failure     no object s3://webclock-bucket/clock-app.tar.gz (HTTP 404)")
        #expect(lines[3] == "app         not started, not healthy, 0 restarts")
        #expect(lines[4].hasPrefix("lifecycle   launch hook clock-launch (ABANDON)"))
        #expect(lines.contains { $0.hasSuffix("expires 2026-12-07T08:03:25Z (EXPIRED 1h0m ago)") })
        #expect(lines.contains("            last refresh error: instance metadata: no answer in time"))
    }

    /// The JSON keys other people's scripts read (`clock-agent status --json`): added to, never renamed.
    @Test func jsonKeysAreStable() throws {
        let data = try JSONEncoder().encode(Self.report)
        let object = try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(object.keys) == ["agent", "identity", "app", "logs", "lifecycle", "credentials"])
        let agent = try #require(object["agent"] as? [String: Any])
        #expect(Set(agent.keys).isSuperset(of: ["version", "pid", "startedAt", "uptimeSeconds", "phase"]))
        let app = try #require(object["app"] as? [String: Any])
        #expect(Set(app.keys).isSuperset(of: ["state", "pid", "healthy", "restarts", "lastExit", "release"]))
        let source = try #require((object["logs"] as? [[String: Any]])?.last)
        #expect(
            Set(source.keys).isSuperset(of: [
                "name", "stream", "eventsShipped", "bytesShipped", "rejectedTooOld", "rejectedTooNew",
                "rejectedExpired", "deadLettered", "batchesInFlight", "backlogBytes", "lostBytes", "acknowledged",
                "lastError",
            ]))
        let lifecycle = try #require(object["lifecycle"] as? [String: Any])
        #expect(
            Set(lifecycle.keys).isSuperset(of: [
                "launchHook", "terminateHook", "launchResult", "lastCall", "targetState",
            ]))
        let credentials = try #require(object["credentials"] as? [String: Any])
        #expect(Set(credentials.keys).isSuperset(of: ["source", "role", "accessKeyID", "expiration"]))
        #expect(try JSONDecoder().decode(StatusReport.self, from: data) == Self.report)
    }
}
