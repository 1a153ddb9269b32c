import AWSCore
import Foundation
import TestSupport
import Testing

@testable import Diagnostics

/// The doctor against the test harness (moto with IAM authorization, the IMDSv2 fake, the strict CloudWatch sink),
/// each failure induced there and the `fail` and hint it must produce. No agent runs here (the end-to-end tests
/// cover the all-green case with a running agent), so the instance stays in `Pending:Wait` on the launch hook.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct DoctorHarnessTests {
    /// Every doctor run with the default limits must finish within this, hanging endpoints included (generous: CI
    /// machines are slow).
    static let upperBound: Duration = .seconds(15)

    /// Limits for the tests about what the checks find rather than how fast: on a loaded machine (the whole suite
    /// runs in parallel, a moto per suite) an answer slower than the default limit must not turn into a failed
    /// check. How the defaults bound a hanging endpoint is what `metadataFaults` and the e2e tests check.
    static let patient: DoctorLimits = {
        var limits = DoctorLimits()
        limits.metadataMilliseconds = 5_000
        limits.awsMilliseconds = 15_000
        limits.healthMilliseconds = 10_000
        limits.localSeconds = 10
        limits.checkSeconds = 120
        return limits
    }()

    let harness: Harness
    let scratch: TemporaryDirectory
    let transport = CurlTransport(userAgent: "clock-agent-doctor-test")

    init() async throws {
        scratch = try TemporaryDirectory()
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0) }).write(
            to: URL(fileURLWithPath: scratch.file("clock-app.tar.gz")))
        harness = try await Harness.start(artifact: scratch.file("clock-app.tar.gz"), sink: true)
    }

    /// A configuration like the e2e tests': the harness's artifact and hooks, an app health URL nobody serves.
    func writeConfig(
        key: String? = nil, sha256: String? = nil, launchHook: String? = nil, retentionDays: Int? = nil,
        group: String? = nil
    ) throws -> String {
        var app: [String: Any] = [
            "source": "s3://\(harness.info.bucket)/\(key ?? harness.info.artifact_key ?? "clock-app.tar.gz")",
            "install_dir": scratch.file("install"), "command": ["/usr/bin/python3", "app.py"],
            "health": ["url": "http://127.0.0.1:\(try LoopbackPort.unused())/healthz", "timeout": "500ms"],
        ]
        if let sha256 { app["sha256"] = sha256 }
        var logs: [String: Any] = ["sources": [["name": "app", "type": "app"]]]
        if let retentionDays { logs["retention_days"] = retentionDays }
        if let group { logs["group"] = group }
        let config: [String: Any] = [
            "state_dir": scratch.file("state"), "app": app, "logs": logs,
            "lifecycle": [
                "launch_hook": launchHook ?? harness.info.launch_hook, "terminate_hook": harness.info.terminate_hook,
            ],
        ]
        let path = scratch.file("config.yaml")
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Runs the doctor and checks it finished in time.
    func doctor(
        config: String, clock: any WallClock = SystemClock(), limits: DoctorLimits = Self.patient,
        stats: @escaping @Sendable (String) -> FileSystemStats? = { _ in
            FileSystemStats(totalBytes: 100 << 30, availableBytes: 50 << 30, totalInodes: 1000, availableInodes: 900)
        }
    ) async -> DoctorReport {
        let context = DoctorContext(
            configPath: config, environment: harness.environment(useSink: true), clock: clock, transport: transport,
            fileSystemStats: stats, systemd: FakeSystemd(isBooted: false), limits: limits)
        let started = ContinuousClock.now
        let report = await Doctor(context: context).run()
        let elapsed = ContinuousClock.now - started
        if limits.checkSeconds == DoctorLimits().checkSeconds {
            #expect(elapsed < Self.upperBound, "doctor took \(elapsed)")
        }
        return report
    }

    /// The text with what changes from run to run replaced: loopback ports, the scratch directory, the masked
    /// access key id, the credentials' remaining lifetime, the measured skew and curl's connect time.
    func normalised(_ text: String) -> String {
        let replacements: [(String, String)] = [
            (NSRegularExpression.escapedPattern(for: scratch.path), "<TMP>"),
            (#"127\.0\.0\.1:\d+"#, "127.0.0.1:PORT"),
            (#"port \d+"#, "port PORT"),
            (#"after \d+ ms"#, "after N ms"),
            (#"A[SK]IA\*+[A-Z0-9]{4}"#, "ASIA****"),
            (#"expire in \d+ h \d+ min"#, "expire in 6 h"),
            (#"within \d+ s of AWS"#, "within N s of AWS"),
        ]
        var result = text
        for (pattern, template) in replacements {
            let regex = try! NSRegularExpression(pattern: pattern)
            result = regex.stringByReplacingMatches(
                in: result, range: NSRange(result.startIndex..., in: result), withTemplate: template)
        }
        return result
    }

    /// `clock-agent doctor` on a fresh instance waiting on its launch hook, no agent running, 50 MiB free.
    static let freshInstanceGolden = """
        ok    config        <TMP>/config.yaml is valid
        ok    imds          IMDSv2 token and metadata work at http://127.0.0.1:PORT (instance i-0123456789abcdef0)
        ok    identity      i-0123456789abcdef0 in us-east-1a (us-east-1), Auto Scaling group clock-asg (found by instance metadata tag aws:autoscaling:groupName)
        ok    credentials   instance-profile credentials of role clock-agent-role (key ASIA****), expire in 6 h; sts:GetCallerIdentity: arn:aws:sts::123456789012:assumed-role/clock-agent-role/i-0123456789abcdef0
        ok    clock         the local clock is within N s of AWS (Date from 127.0.0.1:PORT)
        ok    s3            s3://webclock-bucket/clock-app.tar.gz reachable (4 KiB); S3's SHA-256 matches app.sha256
        ok    cloudwatch    created log group /clock/app with retention 30 days (as the agent would); stream i-0123456789abcdef0/doctor writable (1 test event)
        warn  autoscaling   the launch is not complete (Pending:Wait): the agent completes the launch hook once the app is healthy; i-0123456789abcdef0 in clock-asg: Pending:Wait, Healthy; hooks clock-launch (heartbeat 300 s, global 30000 s), clock-terminate (heartbeat 300 s, global 30000 s)
              fix: if it stays there, see `clock-agent status` and journalctl -u clock-agent
        ok    iam           10 permissions proven by the agent's own harmless calls; not exercised: autoscaling:CompleteLifecycleAction (the instance is Pending:Wait: a call could decide the pending action)
        fail  app           health URL fails: http://127.0.0.1:PORT/healthz: Failed to connect to 127.0.0.1 port PORT after N ms: Couldn't connect to server; agent not running: process state unknown
              fix: the agent isn't running: start it (systemctl start clock-agent) and see journalctl -u clock-agent
        ok    logs          app (app output); agent not running: backlog from checkpoints on disk
        skip  systemd       not running under systemd (no /run/systemd/system)
        fail  disk          state_dir <TMP>/state: 50 MiB free (0.5 %), 90 % of inodes free; install_dir <TMP>/install: 50 MiB free (0.5 %), 90 % of inodes free
              fix: free space on the file system of <TMP>/state: remove old releases in <TMP>/install/releases, rotate or delete logs, or grow the volume; free space on the file system of <TMP>/install: remove old releases in <TMP>/install/releases, rotate or delete logs, or grow the volume
        summary: 9 ok, 1 warn, 2 fail, 1 skip

        """

    func lifecycleCalls() throws -> [[String: Any]] {
        let answer = try harness.control("GET", "/lifecycle/calls") as? [String: Any]
        return answer?["calls"] as? [[String: Any]] ?? []
    }

    @Test func healthyHarnessWithoutAgent() async throws {
        let config = try writeConfig(sha256: harness.info.artifact_sha256)
        let report = await doctor(
            config: config,
            stats: { _ in
                FileSystemStats(totalBytes: 10 << 30, availableBytes: 50 << 20, totalInodes: 1000, availableInodes: 900)
            })
        let byName = Dictionary(uniqueKeysWithValues: report.checks.map { ($0.name, $0) })
        #expect(
            report.checks.map(\.name) == [
                "config", "imds", "identity", "credentials", "clock", "s3", "cloudwatch", "autoscaling", "iam", "app",
                "logs", "systemd", "disk",
            ])
        for name in ["config", "imds", "identity", "credentials", "clock", "s3", "cloudwatch", "iam"] {
            #expect(byName[name]?.status == .ok, "\(byName[name].map { "\($0)" } ?? name)")
        }
        #expect(
            byName["identity"]?.detail
                == "\(harness.info.instance_id) in \(harness.info.az) (\(harness.info.region)), Auto Scaling group \(harness.info.asg) (found by instance metadata tag aws:autoscaling:groupName)"
        )
        #expect(
            byName["credentials"]?.detail.contains("instance-profile credentials of role \(harness.info.role)") == true)
        #expect(byName["credentials"]?.detail.contains("assumed-role/\(harness.info.role)/") == true)
        #expect(byName["s3"]?.detail.contains("S3's SHA-256 matches app.sha256") == true)
        #expect(byName["cloudwatch"]?.detail.hasPrefix("created log group /clock/app with retention 30 days") == true)
        // Without an agent the launch is pending: a warning, not a failure.
        #expect(byName["autoscaling"]?.status == .warn)
        #expect(byName["autoscaling"]?.detail.contains("Pending:Wait") == true)
        #expect(
            byName["iam"]?.detail.contains("autoscaling:CompleteLifecycleAction (the instance is Pending:Wait") == true)
        // App down (nobody serves the health URL, no agent).
        #expect(byName["app"]?.status == .fail)
        #expect(byName["app"]?.detail.hasPrefix("health URL fails:") == true)
        #expect(
            byName["app"]?.hint
                == "the agent isn't running: start it (systemctl start clock-agent) and see journalctl -u clock-agent")
        #expect(byName["logs"]?.status == .ok)
        #expect(byName["systemd"]?.status == .skip)
        // Disk full (simulated statvfs: 50 MiB free).
        #expect(byName["disk"]?.status == .fail)
        #expect(byName["disk"]?.detail.contains("50 MiB free") == true)
        #expect(report.exitCode == 1)

        // What the operator reads: the whole text form, with only ports, paths, times and the key id normalised.
        #expect(normalised(report.text) == Self.freshInstanceGolden)

        // The one labelled event is in the doctor's stream, and retention was set on the group it created.
        let events =
            try harness.control("GET", "/sink/events?group=/clock/app&stream=\(harness.info.instance_id)/doctor")
            as? [String: Any]
        let messages = (events?["events"] as? [[String: Any]] ?? []).compactMap { $0["message"] as? String }
        #expect(messages.count == 1)
        #expect(
            messages.first?.hasPrefix("clock-agent doctor: write test (instance \(harness.info.instance_id)") == true)

        // The doctor decided nothing: its heartbeat hit the hook that isn't pending, Complete was not called in
        // Pending:Wait, SetInstanceHealth said Healthy; the instance is still waiting on the launch hook.
        let calls = try lifecycleCalls()
        #expect(!calls.contains { $0["action"] as? String == "CompleteLifecycleAction" })
        let heartbeats = calls.filter { $0["action"] as? String == "RecordLifecycleActionHeartbeat" }
        #expect(heartbeats.count == 1)
        #expect(heartbeats.first?["hook"] as? String == harness.info.terminate_hook)
        #expect(heartbeats.first?["outcome"] as? String == "ValidationError")
        let health = calls.filter { $0["action"] as? String == "SetInstanceHealth" }
        #expect(health.count == 1 && (health.first?["health_status"] as? String)?.lowercased() == "healthy")
        let state = try harness.control("GET", "/lifecycle/state") as? [String: Any]
        let instance = (state?["instances"] as? [String: Any])?[harness.info.instance_id] as? [String: Any]
        #expect(instance?["state"] as? String == "Pending:Wait")

        // A group whose name starts with this one's, with another retention (the doctor creates it): the retention
        // read for /clock/app is /clock/app's own.
        let sibling = await doctor(config: try writeConfig(retentionDays: 7, group: "/clock/app-old"))
        #expect(
            sibling["cloudwatch"]?.detail.hasPrefix("created log group /clock/app-old with retention 7 days") == true)

        // A second run finds the group and stream already there (the configuration written again: writeConfig
        // reuses one file).
        let again = await doctor(config: try writeConfig(sha256: harness.info.artifact_sha256))
        #expect(again["cloudwatch"]?.status == .ok)
        #expect(again["cloudwatch"]?.detail.hasPrefix("log group /clock/app exists; stream") == true)
        #expect(again["cloudwatch"]?.detail.hasSuffix("; retention 30 days as configured") == true)

        // A configured retention that differs from the existing group's is named, with the command that sets it;
        // the doctor itself leaves the group's retention alone.
        let week = await doctor(config: try writeConfig(retentionDays: 7))
        let cloudwatch = try #require(week["cloudwatch"])
        #expect(cloudwatch.status == .warn)
        #expect(
            cloudwatch.detail.contains(
                "/clock/app: retention 30 days, but logs.retention_days is 7 (the agent sets retention only on a group it creates)"
            ), "\(cloudwatch.detail)")
        #expect(
            cloudwatch.hint
                == "aws logs put-retention-policy --log-group-name /clock/app --retention-in-days 7, or set logs.retention_days to match"
        )
        let group = try harness.control("GET", "/sink/events?group=/clock/app") as? [String: Any]
        #expect(group?["retentionInDays"] as? Int == 30, "\(String(describing: group?["retentionInDays"]))")
    }

    @Test(arguments: [
        ("{\"down\": \"refuse\"}", "cannot reach the instance metadata service", "AWS_EC2_METADATA_DISABLED=true"),
        ("{\"down\": \"hang\"}", "timed out after 1 s and", "HttpPutResponseHopLimit"),
        ("{\"token_403\": true}", "refused with HTTP 403: the metadata service is disabled", "--http-endpoint enabled"),
        (
            "{\"token_delay_ms\": 3000}", "timed out after 1 s, while a GET without a token was answered",
            "the instance metadata hop limit is too low for this network path (HttpPutResponseHopLimit"
        ),
    ])
    func metadataFaults(fault: String, detail: String, hint: String) async throws {
        let config = try writeConfig()
        try harness.control("POST", "/imds/faults", try JSONSerialization.jsonObject(with: Data(fault.utf8)))
        let report = await doctor(config: config, limits: DoctorLimits())
        try harness.control("POST", "/imds/faults", ["clear": true])
        let imds = try #require(report["imds"])
        #expect(imds.status == .fail)
        #expect(imds.detail.contains(detail), "\(imds.detail)")
        #expect(imds.hint.contains(hint), "\(imds.hint)")
        // One root cause, one failure: what needs instance metadata is skipped, not failed.
        #expect(report["identity"]?.status == .skip)
        #expect(report["credentials"]?.status == .skip)
        #expect(report["iam"]?.status == .skip)
        #expect(report["config"]?.status == .ok)
        #expect(report.exitCode == 1)
    }

    @Test(arguments: [(600.0, CheckStatus.fail, "10 min ahead of AWS"), (-150, .warn, "2 min behind AWS")])
    func skewedClock(offset: Double, status: CheckStatus, detail: String) async throws {
        let config = try writeConfig()
        let skewed = ManualClock(UTCTime.now().adding(offset))
        // The manual clock stands still; the doctor finishes in well under the skew's granularity.
        let report = await doctor(config: config, clock: skewed)
        let clock = try #require(report["clock"])
        #expect(clock.status == status, "\(clock)")
        #expect(clock.detail.contains(detail), "\(clock.detail)")
        #expect(clock.hint.contains("chrony/NTP"))
        if status == .fail { #expect(clock.detail.contains("SigV4 breaks beyond 5 min")) }
        // The calls themselves still work: the signatures are corrected from AWS's Date.
        #expect(report["cloudwatch"]?.status == .ok, "\(report["cloudwatch"].map { "\($0)" } ?? "")")
        #expect(report["credentials"]?.status == .ok)
    }

    @Test func missingObjectChecksumMismatchAndMissingHook() async throws {
        let missing = try writeConfig(key: "releases/missing.tar.gz", launchHook: "no-such-hook")
        let report = await doctor(config: missing)
        #expect(report["s3"]?.status == .fail)
        #expect(
            report["s3"]?.detail
                == "no object s3://\(harness.info.bucket)/releases/missing.tar.gz (HeadObject: HTTP 404)")
        #expect(
            report["s3"]?.hint
                == "upload the artifact to s3://\(harness.info.bucket)/releases/missing.tar.gz, or fix app.source")
        let autoscaling = try #require(report["autoscaling"])
        #expect(autoscaling.status == .fail)
        #expect(
            autoscaling.detail.hasPrefix(
                "lifecycle.launch_hook no-such-hook does not exist in group \(harness.info.asg) (hooks: clock-launch, clock-terminate)"
            ))
        #expect(
            autoscaling.hint.hasPrefix(
                "set lifecycle.launch_hook: clock-launch (the group's launch hook), or create it (aws autoscaling put-lifecycle-hook"
            ))
        // A 404 still proves s3:GetObject (and s3:ListBucket).
        #expect(report["iam"]?.status == .ok)

        let mismatch = try writeConfig(sha256: String(repeating: "0", count: 64))
        let second = await doctor(config: mismatch)
        #expect(second["s3"]?.status == .fail)
        #expect(second["s3"]?.detail.contains("differs from app.sha256 \(String(repeating: "0", count: 64))") == true)
    }

    @Test func removedPermissionsAreNamed() async throws {
        let config = try writeConfig()
        try harness.control("POST", "/policy/remove", ["sids": ["ReportLifecycle"]])
        let report = await doctor(config: config)
        let iam = try #require(report["iam"])
        #expect(iam.status == .fail)
        #expect(
            iam.detail.hasPrefix("denied: autoscaling:RecordLifecycleActionHeartbeat, autoscaling:SetInstanceHealth"),
            "\(iam.detail)")
        let group =
            "arn:aws:autoscaling:\(harness.info.region):\(harness.info.account):autoScalingGroup:*:autoScalingGroupName/\(harness.info.asg)"
        #expect(
            iam.hint
                == "add autoscaling:RecordLifecycleActionHeartbeat and autoscaling:SetInstanceHealth on \(group) to the instance role \(harness.info.role) (packaging/iam/clock-agent-policy.json)"
        )

        try harness.control("POST", "/policy/restore", [String: Any]())
        try harness.control("POST", "/policy/remove", ["sids": ["ShipLogs"]])
        let logs = await doctor(config: config)
        try harness.control("POST", "/policy/restore", [String: Any]())
        let cloudwatch = try #require(logs["cloudwatch"])
        #expect(cloudwatch.status == .fail)
        #expect(
            cloudwatch.detail.contains("does not exist and can't be created (logs:CreateLogGroup denied)")
                || cloudwatch.detail.contains("cannot create log streams"), "\(cloudwatch.detail)")
        #expect(logs["iam"]?.status == .fail)
        #expect(
            logs["iam"]?.hint.contains(
                "logs:CreateLogStream on arn:aws:logs:\(harness.info.region):\(harness.info.account):log-group:/clock/app:log-stream:*"
            ) == true)

        // The doctor's own read of the retention: a warning that names the action, nothing fails.
        try harness.control("POST", "/policy/remove", ["sids": ["CheckRetention"]])
        let retention = await doctor(config: config)
        try harness.control("POST", "/policy/restore", [String: Any]())
        let allGroups = "arn:aws:logs:\(harness.info.region):\(harness.info.account):log-group:*"
        #expect(retention["cloudwatch"]?.status == .warn)
        #expect(
            retention["cloudwatch"]?.detail.hasPrefix(
                "cannot read the retention of /clock/app (logs:DescribeLogGroups denied)")
                == true, "\(String(describing: retention["cloudwatch"]?.detail))")
        #expect(retention["iam"]?.detail.hasPrefix("denied (not essential): logs:DescribeLogGroups") == true)
        #expect(
            retention["iam"]?.hint
                == "add logs:DescribeLogGroups on \(allGroups) to the instance role \(harness.info.role) (packaging/iam/clock-agent-policy.json)"
        )
    }
}
