import AWSCore
import AgentConfig
import AgentStatus
import Foundation
import TestSupport
import Testing

@testable import Diagnostics

/// Each check's judgement from fixed inputs: simulated statvfs, fake systemd, scripted IMDS answers, Date samples.
@Suite struct DiskCheckTests {
    static let gib: UInt64 = 1 << 30
    static let mib: UInt64 = 1 << 20

    func configuration() -> Configuration {
        var configuration = Configuration(app: AppConfiguration(source: .file(path: "/x.tar.gz"), command: ["app"]))
        configuration.stateDirectory = "/nonexistent-state/clock"
        configuration.app.installDirectory = "/nonexistent-install/clock"
        return configuration
    }

    func run(_ stats: FileSystemStats) -> CheckResult {
        DiskCheck(configuration: configuration(), stats: { _ in stats }).run()
    }

    @Test func plentyOfSpaceIsOK() {
        let result = run(
            FileSystemStats(
                totalBytes: 100 * Self.gib, availableBytes: 50 * Self.gib, totalInodes: 1000, availableInodes: 900,
                fileSystemID: 7))
        #expect(result.status == .ok)
        #expect(result.detail.contains("state_dir /nonexistent-state/clock: 50 GiB free (50 %), 90 % of inodes free"))
        // Both directories on one file system: reported once.
        #expect(result.detail.contains("install_dir /nonexistent-install/clock: same file system as state_dir"))
    }

    @Test(arguments: [
        // (total, available, inodes total, inodes free, expected)
        (100 * gib, 50 * mib, UInt64(1000), UInt64(900), CheckStatus.fail),  // < 100 MiB
        (100 * gib, 500 * mib, 1000, 900, .warn),  // < 1 GiB
        (1000 * gib, 50 * gib, 1000, 900, .warn),  // 5 % < 10 %
        (100 * gib, 50 * gib, 1000, 5, .fail),  // 0.5 % inodes
        (100 * gib, 50 * gib, 1000, 50, .warn),  // 5 % inodes
        (100 * gib, 50 * gib, 0, 0, .ok),  // no inode accounting (btrfs)
    ])
    func thresholds(total: UInt64, available: UInt64, inodes: UInt64, freeInodes: UInt64, expected: CheckStatus) {
        let result = run(
            FileSystemStats(
                totalBytes: total, availableBytes: available, totalInodes: inodes, availableInodes: freeInodes))
        #expect(result.status == expected, "\(result)")
        if expected != .ok {
            #expect(result.hint.contains("free space on the file system of /nonexistent-state/clock"))
            #expect(result.hint.contains("/nonexistent-install/clock/releases"))
        }
    }

    @Test func nearestExistingAncestorIsMeasured() {
        #expect(DiskCheck.existingAncestor("/tmp/surely/not/there") == "/tmp")
        #expect(DiskCheck.existingAncestor("/") == "/")
    }
}

@Suite struct ClockCheckTests {
    func sample(skew: Double) -> ProbeTransport.DateSample {
        let server = UTCTime(secondsSinceEpoch: 1_800_000_000)
        return ProbeTransport.DateSample(server: server, local: server.adding(skew), host: "sts.example")
    }

    @Test(arguments: [(0.0, CheckStatus.ok), (59, .ok), (-90, .warn), (120, .warn), (301, .fail), (-600, .fail)])
    func skew(seconds: Double, expected: CheckStatus) {
        let result = ClockCheck.result(samples: [sample(skew: seconds)])
        #expect(result.status == expected, "\(result)")
        if expected == .fail {
            #expect(result.detail.contains("SigV4 breaks"))
            #expect(result.hint.contains("chrony/NTP"))
        }
    }

    @Test func direction() {
        #expect(ClockCheck.result(samples: [sample(skew: 600)]).detail.contains("10 min ahead of AWS"))
        #expect(ClockCheck.result(samples: [sample(skew: -600)]).detail.contains("10 min behind AWS"))
    }

    @Test func noDateIsSkip() {
        #expect(ClockCheck.result(samples: []).status == .skip)
    }
}

@Suite struct ConfigCheckTests {
    let scratch: TemporaryDirectory

    init() throws { scratch = try TemporaryDirectory() }

    func write(_ text: String, mode: Int16 = 0o640) throws -> String {
        let path = scratch.file("config.yaml")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }

    @Test func validFile() throws {
        let path = try write("app: {source: 'file:///x.tar.gz', command: [app]}\n")
        let (result, configuration) = ConfigCheck(path: path).run()
        #expect(result.status == .ok)
        #expect(result.detail == "\(path) is valid")
        #expect(configuration != nil)
    }

    @Test func missingFile() {
        let (result, configuration) = ConfigCheck(path: scratch.file("nope.yaml")).run()
        #expect(result.status == .fail)
        #expect(result.detail.contains("No such file"))
        #expect(result.hint.contains("config.example.yaml"))
        #expect(configuration == nil)
    }

    @Test func invalidNamesTheKeyPath() throws {
        let path = try write("app: {source: 'file:///x.tar.gz', command: [app], health: {intervl: 5s}}\n")
        let (result, configuration) = ConfigCheck(path: path).run()
        #expect(result.status == .fail)
        #expect(result.detail.contains("app.health.intervl"))
        #expect(result.hint.contains("fix app.health.intervl"))
        #expect(configuration == nil)
    }

    @Test func worldWritableIsAWarning() throws {
        let path = try write("app: {source: 'file:///x.tar.gz', command: [app]}\n", mode: 0o666)
        let (result, _) = ConfigCheck(path: path).run()
        #expect(result.status == .warn)
        #expect(result.detail.contains("world-writable (mode 0666)"))
        #expect(result.hint == "chmod 640 \(path): anyone on the host could change the command the agent runs")
    }

    @Test func missingUserFails() throws {
        let path = try write("app: {source: 'file:///x.tar.gz', command: [app], user: clock-doctor-no-such-user}\n")
        let (result, _) = ConfigCheck(path: path).run()
        #expect(result.status == .fail)
        #expect(result.detail.contains("app.user clock-doctor-no-such-user does not exist"))
        #expect(result.hint.hasPrefix("create it: useradd --system"))
    }

    @Test func existingUserIsFine() throws {
        let path = try write("app: {source: 'file:///x.tar.gz', command: [app], user: root}\n")
        #expect(ConfigCheck(path: path).run().result.status == .ok)
    }
}

/// A systemd that answers what the test says.
struct FakeSystemd: SystemdProbing {
    var isBooted = true
    var journalSocketExists = true
    var answer: Result<[String: String], SystemdProbeError> = .success([:])

    func show(
        unit: String, properties: [String], timeoutSeconds: Int
    ) async -> Result<
        [String: String], SystemdProbeError
    > {
        answer
    }

    static let healthy: [String: String] = [
        "LoadState": "loaded", "ActiveState": "active", "SubState": "running", "Type": "notify", "NotifyAccess": "main",
        "WatchdogUSec": "30s", "Result": "success",
    ]
}

@Suite struct SystemdCheckTests {
    func run(_ systemd: FakeSystemd) async -> CheckResult {
        await SystemdCheck(systemd: systemd, timeoutSeconds: 1).run()
    }

    @Test func notUnderSystemdIsSkip() async {
        let result = await run(FakeSystemd(isBooted: false))
        #expect(result.status == .skip)
        #expect(result.detail == "not running under systemd (no /run/systemd/system)")
    }

    @Test func activeNotifyWithWatchdog() async {
        let result = await run(FakeSystemd(answer: .success(FakeSystemd.healthy)))
        #expect(result.status == .ok)
        #expect(
            result.detail
                == "clock-agent.service active (running), Type=notify, READY=1 seen, watchdog 30s; journald reachable")
    }

    @Test func inactiveFails() async {
        var values = FakeSystemd.healthy
        values["ActiveState"] = "failed"
        values["SubState"] = "failed"
        values["Result"] = "exit-code"
        let result = await run(FakeSystemd(answer: .success(values)))
        #expect(result.status == .fail)
        #expect(result.detail.hasPrefix("clock-agent.service is failed (failed, result exit-code)"))
        #expect(result.hint.contains("systemctl start clock-agent"))
    }

    @Test func activatingMeansNotReadyYet() async {
        var values = FakeSystemd.healthy
        values["ActiveState"] = "activating"
        values["SubState"] = "start"
        let result = await run(FakeSystemd(answer: .success(values)))
        #expect(result.status == .warn)
        #expect(result.detail.contains("READY=1 not sent yet"))
    }

    @Test func missingWatchdogAndJournald() async {
        var values = FakeSystemd.healthy
        values["WatchdogUSec"] = "0"
        values["Type"] = "simple"
        let result = await run(FakeSystemd(journalSocketExists: false, answer: .success(values)))
        #expect(result.status == .warn)
        #expect(result.detail.contains("Type=simple"))
        #expect(result.detail.contains("no watchdog"))
        #expect(result.detail.contains("journald's socket"))
    }

    @Test func notInstalled() async {
        let result = await run(FakeSystemd(answer: .success(["LoadState": "not-found", "ActiveState": "inactive"])))
        #expect(result.status == .fail)
        #expect(result.detail == "clock-agent.service is not installed; journald reachable")
    }

    @Test func liveSystemdParsesShowOutput() {
        #expect(
            LiveSystemd.parse("Type=notify\nWatchdogUSec=30s\nStatusText=a=b\n") == [
                "Type": "notify", "WatchdogUSec": "30s", "StatusText": "a=b",
            ])
    }
}

@Suite struct MetadataCheckTests {
    let endpoint = Endpoint(scheme: "http", host: "127.0.0.1", port: 9)

    func run(_ transport: FakeTransport) async -> CheckResult {
        await MetadataCheck(endpoint: endpoint, transport: transport, timeoutMilliseconds: 1000).run().result
    }

    @Test func tokenAndGetWork() async {
        let transport = FakeTransport([
            { _ in FakeTransport.response(200, "TOKEN") }, { _ in FakeTransport.response(200, "i-1") },
        ])
        let result = await run(transport)
        #expect(result.status == .ok)
        #expect(result.detail == "IMDSv2 token and metadata work at http://127.0.0.1:9 (instance i-1)")
        #expect(transport.sent.map(\.method) == ["PUT", "GET"])
        #expect(transport.sent[1].headers["X-aws-ec2-metadata-token"] == "TOKEN")
        #expect(transport.sent.allSatisfy { $0.timeouts.totalMilliseconds == 1000 && !$0.useProxy })
    }

    @Test func tokenRefusedMeansDisabled() async {
        let result = await run(FakeTransport([{ _ in FakeTransport.response(403) }]))
        #expect(result.status == .fail)
        #expect(result.detail.contains("HTTP 403: the metadata service is disabled"))
        #expect(result.hint.contains("--http-endpoint enabled"))
    }

    @Test func tokenTimeoutWithAnsweredGetIsTheHopLimit() async {
        let transport = FakeTransport([{ _ in throw FakeTransport.timeout() }, { _ in FakeTransport.response(401) }])
        let result = await run(transport)
        #expect(result.status == .fail)
        #expect(
            result.detail
                == "token request (PUT /latest/api/token) timed out after 1 s, while a GET without a token was answered (HTTP 401)"
        )
        #expect(
            result.hint.hasPrefix(
                "the instance metadata hop limit is too low for this network path (HttpPutResponseHopLimit"))
        #expect(transport.sent.last?.headers["X-aws-ec2-metadata-token"] == nil)
    }

    @Test func everythingTimesOut() async {
        let result = await run(FakeTransport(fallback: { _ in throw FakeTransport.timeout() }))
        #expect(result.status == .fail)
        #expect(result.detail.contains("timed out after 1 s and http://127.0.0.1:9 answers nothing"))
        #expect(result.hint.contains("HttpPutResponseHopLimit"))
        #expect(result.hint.contains("AWS_EC2_METADATA_DISABLED=true"))
    }

    @Test func refused() async {
        let result = await run(FakeTransport())  // no handler: curl 7, connection refused
        #expect(result.status == .fail)
        #expect(result.detail.hasPrefix("cannot reach the instance metadata service at http://127.0.0.1:9"))
    }
}

@Suite struct PermissionsResultTests {
    let group = "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:*:autoScalingGroupName/clock-asg"

    @Test func deniedRequiredPermissionsNameActionResourceAndPolicy() {
        let result = PermissionsCheck.result(
            [
                Permission(
                    action: "s3:GetObject", resource: "arn:aws:s3:::b/k", required: true,
                    outcome: .allowed("HeadObject")),
                Permission(
                    action: "autoscaling:RecordLifecycleActionHeartbeat", resource: group, required: true,
                    outcome: .denied),
                Permission(action: "autoscaling:SetInstanceHealth", resource: group, required: true, outcome: .denied),
                Permission(action: "s3:ListBucket", resource: "arn:aws:s3:::b", required: false, outcome: .denied),
                Permission(
                    action: "autoscaling:CompleteLifecycleAction", resource: group, required: true,
                    outcome: .notExercised("the instance is Pending:Wait")),
            ], grantee: "the instance role clock-agent-role")
        #expect(result.status == .fail)
        #expect(
            result.detail
                == "denied: autoscaling:RecordLifecycleActionHeartbeat, autoscaling:SetInstanceHealth; denied (not essential): s3:ListBucket; 1 permission proven by the agent's own harmless calls; not exercised: autoscaling:CompleteLifecycleAction (the instance is Pending:Wait)"
        )
        #expect(
            result.hint
                == "add autoscaling:RecordLifecycleActionHeartbeat and autoscaling:SetInstanceHealth on \(group) to the instance role clock-agent-role (packaging/iam/clock-agent-policy.json); add s3:ListBucket on arn:aws:s3:::b to the instance role clock-agent-role (packaging/iam/clock-agent-policy.json)"
        )
    }

    @Test func everythingProven() {
        let result = PermissionsCheck.result(
            [Permission(action: "logs:PutLogEvents", resource: "r", required: true, outcome: .allowed("PutLogEvents"))],
            grantee: "x")
        #expect(result.status == .ok)
        #expect(result.hint.isEmpty)
    }

    @Test(arguments: [
        ("AccessDenied", 403, true), ("AccessDeniedException", 400, true), ("ValidationError", 400, false),
        ("ResourceNotFoundException", 400, false),
    ])
    func outcomeOfAnError(code: String, status: Int, denied: Bool) {
        let error = AWSError(kind: .service, service: "x", operation: "y", httpStatus: status, code: code, message: "m")
        let outcome = Permission.outcome(of: error, success: "")
        #expect(outcome == (denied ? .denied : .allowed(code)))
    }

    @Test func timeoutProvesNothing() {
        let outcome = Permission.outcome(of: FakeTransport.timeout(), success: "")
        guard case .unknown = outcome else {
            Issue.record("expected unknown, got \(outcome)")
            return
        }
    }

    @Test(
        arguments: [
            ("Pending:Wait", "clock-terminate"), ("Pending", "clock-terminate"), ("InService", "clock-launch"),
            ("Terminating:Wait", "clock-launch"), ("Standby", nil), ("Warmed:Running", nil),
        ] as [(String, String?)])
    func probedHookCanNeverBeThePendingOne(state: String, hook: String?) {
        var lifecycle = LifecycleConfiguration()
        lifecycle.launchHook = "clock-launch"
        lifecycle.terminateHook = "clock-terminate"
        #expect(PermissionsCheck.safeHook(state: state, lifecycle: lifecycle) == hook)
        lifecycle.terminateHook = nil
        if state.hasPrefix("Pending") {
            #expect(PermissionsCheck.safeHook(state: state, lifecycle: lifecycle) == PermissionsCheck.probeHook)
        }
    }
}

@Suite struct HookTimeoutTests {
    func findings(heartbeat: Int, drain: Duration) -> CheckResult {
        var lifecycle = LifecycleConfiguration()
        lifecycle.terminateHook = "clock-terminate"
        lifecycle.drainTimeout = drain
        var findings = Findings(name: "autoscaling")
        AutoScalingCheck.hookFindings(
            [
                LifecycleHookInfo(
                    name: "clock-terminate", transition: "autoscaling:EC2_INSTANCE_TERMINATING",
                    heartbeatTimeout: heartbeat)
            ],
            lifecycle: lifecycle, app: AppConfiguration(source: .file(path: "/x"), command: ["a"]), group: "g",
            &findings)
        return findings.result
    }

    @Test func drainWithinTheGlobalTimeout() {
        let result = findings(heartbeat: 300, drain: .seconds(600))
        #expect(result.status == .ok)
        #expect(result.detail == "hooks clock-terminate (heartbeat 300 s, global 30000 s)")
    }

    @Test func drainBeyondTheGlobalTimeout() {
        let result = findings(heartbeat: 30, drain: .seconds(3600))
        #expect(result.status == .warn)
        #expect(
            result.detail.hasPrefix(
                "lifecycle.drain_timeout (3600 s) exceeds clock-terminate's global timeout (3000 s)"))
        #expect(result.hint.contains("lower lifecycle.drain_timeout below 3000 s"))
    }

    @Test func drainCloseToTheGlobalTimeout() {
        #expect(
            findings(heartbeat: 30, drain: .seconds(2900)).detail.contains(
                "is close to clock-terminate's global timeout"))
    }

    @Test func globalTimeoutIsCapped() {
        #expect(LifecycleHookInfo(name: "h", transition: "t", heartbeatTimeout: 7200).effectiveGlobalTimeout == 172_800)
    }

    @Test func unnamedHookOfTheGroupIsAWarning() {
        var findings = Findings(name: "autoscaling")
        AutoScalingCheck.hookFindings(
            [
                LifecycleHookInfo(
                    name: "clock-launch", transition: "autoscaling:EC2_INSTANCE_LAUNCHING", heartbeatTimeout: 300)
            ],
            lifecycle: LifecycleConfiguration(), app: AppConfiguration(source: .file(path: "/x"), command: ["a"]),
            group: "g", &findings)
        #expect(findings.result.status == .warn)
        #expect(findings.result.hint == "set lifecycle.launch_hook: clock-launch")
    }
}

@Suite struct DeadlineTests {
    @Test(.timeLimit(.minutes(1))) func stuckChecksAreReportedNextToFinishedOnes() async {
        let partial = PartialResults()
        let started = ContinuousClock.now
        let results = await Doctor.bounded(1, names: ["imds", "identity"], partial: partial) {
            partial.record(CheckResult(name: "imds", status: .ok, detail: "fine"))
            try? await Task.sleep(for: .seconds(30))
            return []
        }
        #expect(ContinuousClock.now - started < .seconds(20))
        #expect(results.map(\.name) == ["imds", "identity"])
        #expect(results[0] == CheckResult(name: "imds", status: .ok, detail: "fine"))
        #expect(results[1].status == .fail)
        #expect(results[1].detail == "did not finish within 1 s")
    }
}

@Suite(.timeLimit(.minutes(1))) struct BoundedCommandTests {
    @Test func capturesOutputAndStatus() async throws {
        let outcome = await BoundedCommand.run(["printf", "Type=notify\\nWatchdogUSec=30s\\n"], timeoutSeconds: 5)
        let (status, output) = try outcome.get()
        #expect(status.isSuccess)
        #expect(LiveSystemd.parse(output) == ["Type": "notify", "WatchdogUSec": "30s"])
    }

    @Test func aHangingCommandIsKilledAtItsLimit() async {
        let started = ContinuousClock.now
        let outcome = await BoundedCommand.run(["sleep", "30"], timeoutSeconds: 1)
        // Killed, not waited for: well under the 30 s the command would take (generous for a loaded CI machine).
        #expect(ContinuousClock.now - started < .seconds(20))
        guard case .failure(let error) = outcome else {
            Issue.record("expected a failure, got \(outcome)")
            return
        }
        #expect(error.message == "sleep 30 did not finish within 1 s")
    }

    @Test func aMissingProgramIsAFailure() async {
        let outcome = await BoundedCommand.run(["clock-agent-no-such-program"], timeoutSeconds: 1)
        guard case .failure = outcome else {
            Issue.record("expected a failure, got \(outcome)")
            return
        }
    }
}

/// `logs` from the configuration, the files on disk and the running agent's report.
@Suite struct LogSourcesCheckTests {
    let scratch: TemporaryDirectory

    init() throws { scratch = try TemporaryDirectory() }

    func configuration(_ sources: [LogSource]) -> Configuration {
        var configuration = Configuration(app: AppConfiguration(source: .file(path: "/x.tar.gz"), command: ["app"]))
        configuration.stateDirectory = scratch.file("state")
        configuration.logs.sources = sources
        return configuration
    }

    func agent(lastError: String?, backlog: Int64 = 0) -> AgentLookup {
        let source = StatusReport.Source(
            name: "app", stream: "i-1/app", eventsShipped: 3, bytesShipped: 30, rejectedTooOld: 0, rejectedTooNew: 0,
            rejectedExpired: 0, deadLettered: 0, sanitised: 0, truncated: 0, batchesInFlight: 0,
            backlogBytes: backlog, lostBytes: 0, acknowledged: [], lastError: lastError)
        return .running(
            StatusReport(
                agent: .init(version: "0", pid: 1, startedAt: "", uptimeSeconds: 1, phase: "healthy", failure: nil),
                identity: .init(
                    instanceID: "i-1", region: "r", availabilityZone: "az", autoScalingGroup: nil, groupFoundBy: "none"),
                app: .init(
                    release: nil, state: "running", pid: 2, startedAt: nil, uptimeSeconds: 1, healthy: true,
                    restarts: 0, lastExit: nil),
                logs: [source],
                lifecycle: .init(
                    launchHook: nil, terminateHook: nil, launchResult: nil, lastCall: nil, targetState: nil),
                credentials: .init(source: "environment", role: nil, accessKeyID: nil, expiration: nil, lastError: nil)
            ))
    }

    /// A fresh log group: the first PutLogEvents is told the group is missing, and the agent creates it. Not a
    /// problem to report (it is how the agent works), unlike any other last error.
    @Test func theMissingGroupTheAgentCreatedIsNotAWarning() {
        let check = LogSourcesCheck(configuration: configuration([LogSource(name: "app", kind: .app)]))
        let created = check.run(
            agent: agent(
                lastError:
                    "logs PutLogEvents failed (https://logs.us-east-1.amazonaws.com/): HTTP 400 ResourceNotFoundException: The specified log group does not exist."
            ))
        #expect(created.status == .ok, "\(created)")
        #expect(created.detail.contains("app (app output), backlog 0 B, created its missing log group or stream"))

        let throttled = check.run(agent: agent(lastError: "logs PutLogEvents failed: HTTP 400 ThrottlingException"))
        #expect(throttled.status == .warn)
        #expect(throttled.detail.hasPrefix("app: last error: logs PutLogEvents failed: HTTP 400 ThrottlingException"))
        #expect(throttled.hint == "see `clock-agent status` and journalctl -u clock-agent")
    }

    @Test func unreadableAndMissingFilesDeadLettersAndBacklogFromCheckpoints() throws {
        let logs = scratch.file("logs")
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        try Data(repeating: 0x41, count: 300).write(to: URL(fileURLWithPath: logs + "/a.log"))
        try FileManager.default.createDirectory(atPath: logs + "/b.log", withIntermediateDirectories: true)
        let inode = try #require(
            (try FileManager.default.attributesOfItem(atPath: logs + "/a.log"))[.systemFileNumber] as? UInt64)
        let state = scratch.file("state")
        try FileManager.default.createDirectory(atPath: state + "/checkpoints", withIntermediateDirectories: true)
        try Data(#"{"files": [{"path": "\#(logs)/a.log", "inode": \#(inode), "offset": 100}]}"#.utf8).write(
            to: URL(fileURLWithPath: state + "/checkpoints/web.json"))
        try FileManager.default.createDirectory(atPath: state + "/dead-letter", withIntermediateDirectories: true)
        try Data("{\"reason\":\"too old\"}\n{\"reason\":\"too old\"}\n".utf8).write(
            to: URL(fileURLWithPath: state + "/dead-letter/web.jsonl"))

        let check = LogSourcesCheck(
            configuration: configuration([
                LogSource(name: "web", kind: .file(path: logs + "/*.log", multilineStart: nil)),
                LogSource(name: "later", kind: .file(path: logs + "/none-yet.log", multilineStart: nil)),
            ]))
        let result = check.run(agent: .notRunning("no clock-agent is running"))
        #expect(result.status == .fail)
        #expect(result.detail.hasPrefix("web: cannot read \(logs)/b.log: not a regular file"), "\(result.detail)")
        #expect(result.detail.contains("later: nothing matches \(logs)/none-yet.log yet"))
        #expect(result.detail.contains("2 events in \(state)/dead-letter (web.jsonl 2)"))
        // 300 bytes written, 100 acknowledged in the checkpoint.
        #expect(result.detail.contains("web (\(logs)/*.log: 2 files), backlog 200 B (from checkpoints)"))
        #expect(result.detail.contains("agent not running: backlog from checkpoints on disk"))
        #expect(result.hint.hasPrefix("make \(logs)/b.log a readable regular file"))
        #expect(result.hint.contains("CloudWatch refused them"))
    }
}
