import AWSCore
import Foundation
import Logging
import Testing
import TestSupport

/// Every service call of the agent against moto with IAM authorization on, as the least-privilege IAM user
/// (`packaging/iam/clock-agent-policy.json`) and as the instance-profile role served by the IMDS fake. Outcomes are
/// checked with boto3 and the harness's call log, not with the project's own clients.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct MotoIntegrationTests {
    let harness: Harness
    let capture = LogCapture()
    let transport = CurlTransport(userAgent: "clock-agent-test")
    let artifact: TemporaryDirectory

    init() async throws {
        artifact = try TemporaryDirectory()
        let bytes = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try Data(bytes).write(to: URL(fileURLWithPath: artifact.file("clock-app.tar.gz")))
        harness = try await Harness.start(artifact: artifact.file("clock-app.tar.gz"), sink: true)
    }

    func client(
        _ credentials: any CredentialsProvider, clock: any WallClock = SystemClock(), useSink: Bool = false
    ) -> AWSClient {
        AWSClient(
            transport: transport, credentials: credentials, clock: ClockCorrection(base: clock),
            endpoints: EndpointResolver(environment: harness.environment(useSink: useSink)), logger: capture.logger())
    }

    var userClient: AWSClient { client(StaticCredentialsProvider(harness.userCredentials)) }

    func secretsNeverLogged(_ secrets: [String], errors: [String] = []) {
        for secret in secrets where !secret.isEmpty {
            for line in capture.all + errors {
                #expect(!line.contains(secret), "a secret appeared in: \(line)")
            }
        }
    }

    @Test func s3GetObjectStreamsVerifiesAndResumes() async throws {
        let s3 = S3Client(client: userClient, region: harness.info.region)
        let key = try #require(harness.info.artifact_key)
        let head = try await s3.headObject(bucket: harness.info.bucket, key: key)
        #expect(head.objectSize == 200_000)
        #expect(head.fullObjectSHA256Hex == harness.info.artifact_sha256)

        let path = artifact.file("download")
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        defer { close(fd) }
        let whole = try await s3.getObject(bucket: harness.info.bucket, key: key, to: fd)
        #expect(whole.status == 200)
        #expect(whole.bytesWritten == 200_000)
        #expect(whole.fullObjectSHA256Hex == harness.info.artifact_sha256)

        // Resume: keep the first 50,000 bytes, ask for the rest with Range + If-Match.
        ftruncate(fd, 50_000)
        lseek(fd, 50_000, SEEK_SET)
        let rest = try await s3.getObject(
            bucket: harness.info.bucket, key: key, to: fd, offset: 50_000, ifMatch: head.etag)
        #expect(rest.status == 206)
        #expect(rest.objectSize == 200_000)
        #expect(rest.bytesWritten == 150_000)
        let downloaded = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(downloaded == (try Data(contentsOf: URL(fileURLWithPath: artifact.file("clock-app.tar.gz")))))

        // The object changed since: If-Match fails with 412.
        let error = await #expect(throws: AWSError.self) {
            _ = try await s3.getObject(
                bucket: harness.info.bucket, key: key, to: fd, offset: 10, ifMatch: "\"not-the-etag\"")
        }
        #expect(error?.httpStatus == 412)
    }

    @Test(arguments: [
        "with space.txt", "plus+sign.txt", "per%cent.txt", "ünïcødé/ሴ.txt", "double//slash.txt", "dots/./and/../x.txt",
    ])
    func s3KeysSurviveSigning(key: String) async throws {
        let body = artifact.file("body")
        try Data("key \(key)".utf8).write(to: URL(fileURLWithPath: body))
        try await harness.admin(["put-object", key, body])
        let s3 = S3Client(client: userClient, region: harness.info.region)
        let path = artifact.file("got")
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        defer { close(fd) }
        _ = try await s3.getObject(bucket: harness.info.bucket, key: key, to: fd)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "key \(key)")
    }

    @Test func s3MissingKeyAndForeignBucket() async throws {
        let s3 = S3Client(client: userClient, region: harness.info.region)
        let missing = await #expect(throws: AWSError.self) {
            _ = try await s3.headObject(bucket: harness.info.bucket, key: "no/such/key.tgz")
        }
        #expect(missing?.httpStatus == 404)
        #expect(missing?.description.contains("no object s3://webclock-bucket/no/such/key.tgz") == true)
        let denied = await #expect(throws: AWSError.self) {
            _ = try await s3.headObject(bucket: "someone-elses-bucket", key: "x")
        }
        #expect(denied?.httpStatus == 403)
        #expect(denied?.description.contains("s3:GetObject") == true)
    }

    @Test func cloudWatchLogsCallsLandInMoto() async throws {
        let logs = CloudWatchLogsClient(client: userClient, region: harness.info.region)
        #expect(try await logs.createLogGroup("/clock/app") == true)
        #expect(try await logs.createLogGroup("/clock/app") == false)
        #expect(try await logs.createLogStream(group: "/clock/app", stream: "i-1/app") == true)
        #expect(try await logs.createLogStream(group: "/clock/app", stream: "i-1/app") == false)
        try await logs.putRetentionPolicy(group: "/clock/app", days: 30)
        let now = UTCTime.now().milliseconds
        let rejected = try await logs.putLogEvents(
            group: "/clock/app", stream: "i-1/app",
            events: [
                .init(timestamp: now, message: "first \"quoted\""), .init(timestamp: now + 1, message: "second ሴ\ttab"),
            ])
        #expect(rejected == nil)
        let stored = try await harness.logEvents(group: "/clock/app", stream: "i-1/app")
        #expect(stored.map(\.message) == ["first \"quoted\"", "second ሴ\ttab"])
        #expect(String(decoding: try await harness.admin(["retention", "/clock/app"]), as: UTF8.self) == "30")
    }

    /// Rejected events come back as index ranges (checked against the strict sink: moto reports the too-old end
    /// index inclusively, AWS exclusively).
    @Test func rejectedEventsAreReportedByIndex() async throws {
        let logs = CloudWatchLogsClient(
            client: client(StaticCredentialsProvider(harness.userCredentials), useSink: true),
            region: harness.info.region)
        try await logs.createLogGroup("/clock/app")
        try await logs.createLogStream(group: "/clock/app", stream: "r")
        let now = UTCTime.now().milliseconds
        let rejected = try await logs.putLogEvents(
            group: "/clock/app", stream: "r",
            events: [
                .init(timestamp: now - 20 * 86_400_000, message: "too old"), .init(timestamp: now, message: "fine"),
                .init(timestamp: now + 3 * 3_600_000, message: "too new"),
            ])
        #expect(rejected?.tooOldLogEventEndIndex == 1)
        #expect(rejected?.tooNewLogEventStartIndex == 2)
        #expect(
            try await harness.logEvents(group: "/clock/app", stream: "r", fromSink: true).map(\.message) == ["fine"])
    }

    @Test func autoScalingCallsAreAuthorisedAndRecorded() async throws {
        let autoscaling = AutoScalingClient(client: userClient, region: harness.info.region)
        let instances = try await autoscaling.describeAutoScalingInstances([harness.info.instance_id])
        #expect(instances.first?.groupName == harness.info.asg)
        #expect(instances.first?.lifecycleState == "Pending:Wait")
        try await autoscaling.recordLifecycleActionHeartbeat(
            group: harness.info.asg, hook: harness.info.launch_hook, instanceID: harness.info.instance_id)
        try await autoscaling.completeLifecycleAction(
            group: harness.info.asg, hook: harness.info.launch_hook, instanceID: harness.info.instance_id,
            result: .continue)
        try await autoscaling.setInstanceHealth(
            instanceID: harness.info.instance_id, healthy: false, respectGracePeriod: false)
        let answer = try #require(try harness.control("GET", "/lifecycle/calls") as? [String: Any])
        let calls = try #require(answer["calls"] as? [[String: Any]])
        let actions = calls.filter { ($0["outcome"] as? String) != "denied" }.map { $0["action"] as! String }
        #expect(actions == ["RecordLifecycleActionHeartbeat", "CompleteLifecycleAction", "SetInstanceHealth"])
        #expect(calls[1]["result"] as? String == "CONTINUE")
        #expect(calls[2]["health_status"] as? String == "Unhealthy")
        #expect(calls[2]["should_respect_grace_period"] as? Bool == false)
        // Completing again: the action is over, AWS says so with ValidationError.
        let again = await #expect(throws: AWSError.self) {
            try await autoscaling.completeLifecycleAction(
                group: harness.info.asg, hook: harness.info.launch_hook, instanceID: harness.info.instance_id,
                result: .continue)
        }
        #expect(again?.code == "ValidationError")
        #expect(again?.message.contains("No active Lifecycle Action found") == true)
    }

    @Test func actionOutsideThePolicyIsAccessDenied() async throws {
        // Without its statement, DescribeLifecycleHooks is outside the user's policy.
        try harness.control("POST", "/policy/remove", ["sids": ["CheckHooks"]])
        defer { _ = try? harness.control("POST", "/policy/restore") }
        let autoscaling = AutoScalingClient(client: userClient, region: harness.info.region)
        let error = await #expect(throws: AWSError.self) {
            _ = try await autoscaling.describeLifecycleHooks(group: harness.info.asg)
        }
        #expect(error?.code == "AccessDenied")
        #expect(error?.httpStatus == 403)
        #expect(error?.description.contains("autoscaling DescribeLifecycleHooks failed") == true)
        // With it (the shipped policy), the call works.
        _ = try harness.control("POST", "/policy/restore")
        let hooks = try await autoscaling.describeLifecycleHooks(group: harness.info.asg)
        #expect(Set(hooks.map(\.name)) == [harness.info.launch_hook, harness.info.terminate_hook])
    }

    @Test func removingAStatementBreaksTheCallThatNeedsIt() async throws {
        try harness.control("POST", "/policy/remove", ["sids": ["ShipLogs"]])
        defer { _ = try? harness.control("POST", "/policy/restore") }
        let logs = CloudWatchLogsClient(client: userClient, region: harness.info.region)
        let error = await #expect(throws: AWSError.self) { _ = try await logs.createLogGroup("/clock/denied") }
        #expect(error?.code == "AccessDenied")
    }

    @Test func wrongSecretIsSignatureDoesNotMatch() async throws {
        let wrong = Credentials(accessKeyID: harness.info.user.access_key_id, secretAccessKey: "wrong-secret-value-123")
        let s3 = S3Client(client: client(StaticCredentialsProvider(wrong)), region: harness.info.region)
        let error = await #expect(throws: AWSError.self) {
            _ = try await s3.headObject(bucket: harness.info.bucket, key: harness.info.artifact_key ?? "x")
        }
        // A HEAD answer has no body, so S3 reports 403 only; a GET names the code.
        #expect(error?.httpStatus == 403)
        let fd = open("/dev/null", O_WRONLY)
        defer { close(fd) }
        let getError = await #expect(throws: AWSError.self) {
            _ = try await s3.getObject(bucket: harness.info.bucket, key: harness.info.artifact_key ?? "x", to: fd)
        }
        #expect(getError?.code == "SignatureDoesNotMatch")
        #expect(getError?.description.contains("s3 GetObject failed (s3://webclock-bucket/") == true)
        let logs = CloudWatchLogsClient(client: client(StaticCredentialsProvider(wrong)), region: harness.info.region)
        let logsError = await #expect(throws: AWSError.self) { _ = try await logs.createLogGroup("/clock/x") }
        #expect(logsError?.code == "SignatureDoesNotMatch" || logsError?.code == "InvalidSignatureException")
        secretsNeverLogged(
            ["wrong-secret-value-123"], errors: [error, getError, logsError].compactMap { $0?.description })
    }

    @Test func stsSaysWhoWeAre() async throws {
        let identity = try await STSClient(client: userClient, region: harness.info.region).getCallerIdentity()
        #expect(identity.account == harness.info.account)
        #expect(identity.arn.hasSuffix(":user/clock-agent"))
    }

    /// The instance-profile path: IMDSv2 token, role name, temporary credentials with a session token, used to
    /// sign S3, CloudWatch Logs (strict sink) and Auto Scaling calls.
    @Test func instanceProfileCredentialsFromIMDSWork() async throws {
        let environment = harness.environment(useSink: true)
        let metadata = MetadataClient(
            endpoint: try #require(try MetadataClient.endpoint(environment: environment)), transport: transport,
            logger: capture.logger())
        let provider = try CredentialChain.resolve(
            environment: environment, metadata: metadata, clock: SystemClock(), logger: capture.logger())
        let credentials = try await provider.credentials()
        #expect(credentials.sessionToken != nil)
        #expect(credentials.expiration != nil)
        #expect(await provider.snapshot().role == harness.info.role)
        let aws = client(provider, useSink: true)
        let identity = try await STSClient(client: aws, region: harness.info.region).getCallerIdentity()
        #expect(identity.arn.contains("assumed-role/\(harness.info.role)"))
        _ = try await S3Client(client: aws, region: harness.info.region).headObject(
            bucket: harness.info.bucket, key: harness.info.artifact_key ?? "x")
        let logs = CloudWatchLogsClient(client: aws, region: harness.info.region)
        try await logs.createLogGroup("/clock/app")
        try await logs.createLogStream(group: "/clock/app", stream: "role")
        _ = try await logs.putLogEvents(
            group: "/clock/app", stream: "role",
            events: [.init(timestamp: UTCTime.now().milliseconds, message: "hello")])
        #expect(
            try await harness.logEvents(group: "/clock/app", stream: "role", fromSink: true).map(\.message) == ["hello"]
        )

        // Every IMDS request carried a valid token (v2 only).
        let answer = try #require(try harness.control("GET", "/imds/requests") as? [String: Any])
        let requests = try #require(answer["requests"] as? [[String: Any]])
        #expect(requests.filter { $0["method"] as? String == "GET" }.allSatisfy { $0["token_valid"] as? Bool == true })
        secretsNeverLogged([credentials.secretAccessKey, credentials.sessionToken ?? ""])
    }

    /// A clock an hour slow: the strict sink refuses the signature ("Signature expired"), the client learns the
    /// offset from the Date header and signs again.
    @Test func skewedClockIsCorrected() async throws {
        let slow = ManualClock(UTCTime.now().adding(-3600))
        let aws = client(StaticCredentialsProvider(harness.userCredentials), clock: slow, useSink: true)
        let logs = CloudWatchLogsClient(client: aws, region: harness.info.region)
        #expect(try await logs.createLogGroup("/clock/skew") == true)
        #expect(abs(aws.clock.currentOffset - 3600) < 60)
        #expect(capture.all.contains { $0.contains("clock skew detected") })
    }

    @Test func identityComesFromIMDSTagsOrTheAPI() async throws {
        let environment = harness.environment()
        let metadata = MetadataClient(
            endpoint: try #require(try MetadataClient.endpoint(environment: environment)), transport: transport,
            logger: capture.logger())
        let autoscaling = AutoScalingClient(client: userClient, region: harness.info.region)
        let base = try await IdentityProbe.instance(metadata)
        #expect(base.instanceID == harness.info.instance_id)
        #expect(base.zone == harness.info.az)
        #expect(base.region == harness.info.region)
        #expect(try await metadata.get("meta-data/tags/instance/aws:autoscaling:groupName") == harness.info.asg)
        try harness.control("POST", "/imds/tags", ["enabled": false])
        #expect(try await metadata.get("meta-data/tags/instance/aws:autoscaling:groupName") == nil)
        #expect(
            try await autoscaling.describeAutoScalingInstances([base.instanceID]).first?.groupName == harness.info.asg)
    }
}

/// Reads the identity items the agent needs straight from IMDS.
enum IdentityProbe {
    static func instance(_ metadata: MetadataClient) async throws -> (instanceID: String, zone: String, region: String)
    {
        (
            try await metadata.require("meta-data/instance-id"),
            try await metadata.require("meta-data/placement/availability-zone"),
            try await metadata.require("meta-data/placement/region")
        )
    }
}
