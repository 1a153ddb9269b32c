import AWSCore
import Logging
import Synchronization
import Testing
import TestSupport

@Suite struct MetadataClientTests {
    static let endpoint = Endpoint(scheme: "http", host: "127.0.0.1", port: 9)

    static func token(_ request: HTTPRequest) -> HTTPResponse {
        FakeTransport.response(200, "TOKEN-1", headers: [("X-aws-ec2-metadata-token-ttl-seconds", "21600")])
    }

    @Test func fetchesATokenOnceAndSendsItWithEveryGet() async throws {
        let transport = FakeTransport([
            Self.token,
            { _ in FakeTransport.response(200, "i-0123456789abcdef0") },
            { _ in FakeTransport.response(200, "us-east-1") },
        ])
        let client = MetadataClient(endpoint: Self.endpoint, transport: transport, logger: LogCapture().logger())
        #expect(try await client.get("meta-data/instance-id") == "i-0123456789abcdef0")
        #expect(try await client.get("meta-data/placement/region") == "us-east-1")
        let sent = transport.sent
        #expect(sent.map(\.method) == ["PUT", "GET", "GET"])
        #expect(sent[0].path == "/latest/api/token")
        #expect(sent[0].headers["X-aws-ec2-metadata-token-ttl-seconds"] == "21600")
        #expect(sent[1].headers["X-aws-ec2-metadata-token"] == "TOKEN-1")
        #expect(sent[2].headers["X-aws-ec2-metadata-token"] == "TOKEN-1")
        #expect(sent.allSatisfy { !$0.useProxy && $0.timeouts == .metadata })
    }

    @Test func getsANewTokenAfter401() async throws {
        let transport = FakeTransport([
            Self.token,
            { _ in FakeTransport.response(401) },
            { _ in FakeTransport.response(200, "TOKEN-2", headers: [("X-aws-ec2-metadata-token-ttl-seconds", "21600")])
            },
            { request in
                FakeTransport.response(request.headers["X-aws-ec2-metadata-token"] == "TOKEN-2" ? 200 : 401, "ok")
            },
        ])
        let client = MetadataClient(endpoint: Self.endpoint, transport: transport, logger: LogCapture().logger())
        #expect(try await client.get("meta-data/instance-id") == "ok")
        #expect(transport.sent.map(\.method) == ["PUT", "GET", "PUT", "GET"])
    }

    @Test func absentItemsAreNil() async throws {
        let transport = FakeTransport([Self.token, { _ in FakeTransport.response(404) }])
        let client = MetadataClient(endpoint: Self.endpoint, transport: transport, logger: LogCapture().logger())
        #expect(try await client.get("meta-data/spot/instance-action") == nil)
    }

    @Test func retriesTimeoutsThenExplainsTheHopLimit() async throws {
        let transport = FakeTransport(fallback: { _ in throw FakeTransport.timeout() })
        let client = MetadataClient(endpoint: Self.endpoint, transport: transport, logger: LogCapture().logger())
        let error = await #expect(throws: AWSError.self) { try await client.get("meta-data/instance-id") }
        #expect(transport.sent.count == 3)
        #expect(error?.kind == .metadata)
        #expect(error?.description.contains("hop limit") == true)
    }

    @Test func refusedTokenIsNotRetried() async throws {
        let transport = FakeTransport(fallback: { _ in FakeTransport.response(403) })
        let client = MetadataClient(endpoint: Self.endpoint, transport: transport, logger: LogCapture().logger())
        let error = await #expect(throws: AWSError.self) { try await client.get("meta-data/instance-id") }
        #expect(transport.sent.count == 1)
        #expect(error?.description.contains("disabled for this instance") == true)
    }

    @Test func serverErrorsAreRetried() async throws {
        let transport = FakeTransport([
            Self.token, { _ in FakeTransport.response(500) }, { _ in FakeTransport.response(200, "i-1") },
        ])
        let client = MetadataClient(endpoint: Self.endpoint, transport: transport, logger: LogCapture().logger())
        #expect(try await client.get("meta-data/instance-id") == "i-1")
    }
}

@Suite struct InstanceProfileCredentialsTests {
    static func document(key: String, expiration: UTCTime, code: String = "Success") -> String {
        """
        {"Code":"\(code)","LastUpdated":"2026-11-25T08:00:00Z","Type":"AWS-HMAC","AccessKeyId":"\(key)",\
        "SecretAccessKey":"SECRET-\(key)","Token":"TOKEN-\(key)","Expiration":"\(expiration.iso8601)"}
        """
    }

    /// A metadata service whose credentials and availability the test controls.
    final class FakeIMDS: Sendable {
        let state = Mutex<(key: String, expiration: UTCTime, up: Bool, code: String)>(
            (key: "ASIAFIRST0000000", expiration: UTCTime(secondsSinceEpoch: 0), up: true, code: "Success"))

        func transport() -> FakeTransport {
            FakeTransport(fallback: { [self] request in
                let current = state.withLock { $0 }
                guard current.up else { throw FakeTransport.timeout() }
                if request.method == "PUT" {
                    return FakeTransport.response(
                        200, "T", headers: [("X-aws-ec2-metadata-token-ttl-seconds", "21600")])
                }
                if request.path.hasSuffix("security-credentials/") {
                    return FakeTransport.response(200, "clock-agent-role\n")
                }
                return FakeTransport.response(
                    200,
                    InstanceProfileCredentialsTests.document(
                        key: current.key, expiration: current.expiration, code: current.code))
            })
        }
    }

    @Test func refreshesFifteenMinutesBeforeExpiryAndKeepsCredentialsWhenIMDSIsDown() async throws {
        let clock = ManualClock(UTCTime(iso8601: "2026-11-25T08:00:00Z")!)
        let imds = FakeIMDS()
        imds.state.withLock { $0.expiration = clock.now().adding(3600) }
        let capture = LogCapture()
        let transport = imds.transport()
        let metadata = MetadataClient(
            endpoint: MetadataClientTests.endpoint, transport: transport, logger: capture.logger())
        let provider = InstanceProfileCredentialsProvider(metadata: metadata, clock: clock, logger: capture.logger())

        let first = try await provider.credentials()
        #expect(first.accessKeyID == "ASIAFIRST0000000")
        #expect(first.sessionToken == "TOKEN-ASIAFIRST0000000")

        // 40 minutes later: still outside the refresh window, no new fetch needed even if IMDS is down.
        imds.state.withLock { $0.up = false }
        clock.advance(40 * 60)
        #expect(try await provider.credentials() == first)
        #expect(Self.documentRequests(transport) == 1)

        // 50 minutes in (10 min left): the refresh starts in the background, fails, and the old credentials stay in
        // use.
        clock.advance(10 * 60)
        #expect(try await provider.credentials() == first)
        #expect(await Self.eventually { provider.currentSnapshot.lastError != nil })
        #expect(capture.all.contains { $0.contains("keeping the current credentials") })

        // Within the next 5 minutes nobody asks IMDS again: the retry waits 5–15 minutes.
        let asked = transport.sent.count
        clock.advance(4 * 60)
        #expect(try await provider.credentials() == first)
        #expect(transport.sent.count == asked)

        // IMDS returns with rotated credentials; once the old ones have expired and the retry is due, the next
        // caller waits for the refresh and gets the new ones.
        imds.state.withLock {
            $0.up = true
            $0.key = "ASIASECOND000000"
            $0.expiration = clock.now().adding(3600)
        }
        clock.advance(11 * 60 + 1)
        #expect(try await provider.credentials().accessKeyID == "ASIASECOND000000")
        #expect(await provider.snapshot().lastError == nil)
        #expect(!capture.all.contains { $0.contains("SECRET-") || $0.contains("TOKEN-ASIA") })
    }

    /// With valid credentials in the refresh window, callers never wait for IMDS (here: an IMDS that answers only
    /// when the test lets it): they get the current credentials at once while one refresh runs in the background.
    @Test func refreshRunsInTheBackgroundWhileTheCurrentCredentialsAreValid() async throws {
        let clock = ManualClock(UTCTime(iso8601: "2026-11-25T08:00:00Z")!)
        let imds = FakeIMDS()
        imds.state.withLock { $0.expiration = clock.now().adding(3600) }
        let gate = Gate()
        let transport = GatedTransport(imds.transport(), gate: gate)
        let metadata = MetadataClient(
            endpoint: MetadataClientTests.endpoint, transport: transport, logger: LogCapture().logger())
        let provider = InstanceProfileCredentialsProvider(
            metadata: metadata, clock: clock, logger: LogCapture().logger())
        gate.open()
        let first = try await provider.credentials()
        gate.close()

        imds.state.withLock {
            $0.key = "ASIASECOND000000"
            $0.expiration = clock.now().adding(7200)
        }
        clock.advance(50 * 60)
        // The limit only ends the test when callers wait for the gate (the bug); generous for a busy machine.
        let answers = await Self.withGateOpenedAfter(.seconds(45), gate) {
            await withTaskGroup(of: Credentials?.self) { group in
                for _ in 0..<20 { group.addTask { try? await provider.credentials() } }
                return await group.reduce(into: []) { $0.append($1) }
            }
        }
        #expect(!answers.opened, "callers waited for the refresh although their credentials were valid")
        #expect(answers.value.allSatisfy { $0 == first })
        #expect(transport.documentRequests == 2, "one refresh for all callers (after the first fetch)")

        gate.open()
        #expect(await Self.eventually { provider.currentSnapshot.expiration != first.expiration })
        #expect(try await provider.credentials().accessKeyID == "ASIASECOND000000")
        #expect(transport.documentRequests == 2)
    }

    /// With no valid credentials, every caller waits, and all of them on the same single fetch.
    @Test func callersWithoutCredentialsShareOneFetch() async throws {
        let imds = FakeIMDS()
        imds.state.withLock { $0.expiration = UTCTime.now().adding(3600) }
        let gate = Gate()
        let transport = GatedTransport(imds.transport(), gate: gate)
        let metadata = MetadataClient(
            endpoint: MetadataClientTests.endpoint, transport: transport, logger: LogCapture().logger())
        let provider = InstanceProfileCredentialsProvider(
            metadata: metadata, clock: SystemClock(), logger: LogCapture().logger())
        let answers = await withTaskGroup(of: Credentials?.self) { group in
            for _ in 0..<20 { group.addTask { try? await provider.credentials() } }
            // Everyone is waiting on the one fetch before it may answer.
            _ = await Self.eventually { transport.documentRequests == 1 }
            try? await Task.sleep(for: .milliseconds(100))
            gate.open()
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(answers.count == 20)
        #expect(answers.allSatisfy { $0?.accessKeyID == "ASIAFIRST0000000" })
        #expect(transport.documentRequests == 1)
    }

    /// Credential-document GETs the transport has seen.
    static func documentRequests(_ transport: FakeTransport) -> Int {
        transport.sent.filter { $0.method == "GET" && $0.path.hasSuffix("security-credentials/clock-agent-role") }.count
    }

    /// Polls `condition` every 10 ms for up to 30 s; whether it became true.
    static func eventually(_ condition: @Sendable () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return await condition()
    }

    /// Runs `body`; if it hasn't finished after `limit`, opens the gate so it can (and reports that it had to).
    static func withGateOpenedAfter<T: Sendable>(
        _ limit: Duration, _ gate: Gate, _ body: @escaping @Sendable () async -> T
    ) async -> (value: T, opened: Bool) {
        await withTaskGroup(of: GateOutcome<T>.self) { group in
            group.addTask { .finished(await body()) }
            group.addTask {
                do {
                    try await Task.sleep(for: limit)
                } catch {
                    return .stillShut
                }
                gate.open()
                return .opened
            }
            var value: T?
            var opened = false
            while let outcome = await group.next() {
                switch outcome {
                case .finished(let result):
                    value = result
                    group.cancelAll()
                case .opened:
                    opened = true
                case .stillShut:
                    break
                }
            }
            // `body` always finishes: the gate opens after `limit` at the latest.
            guard let value else { preconditionFailure("body did not return") }
            return (value, opened)
        }
    }

    @Test func failureCodeIsAnErrorThatNamesTheCode() async throws {
        let imds = FakeIMDS()
        imds.state.withLock {
            $0.code = "AssumeRoleUnauthorizedAccess"
            $0.expiration = UTCTime.now().adding(3600)
        }
        let metadata = MetadataClient(
            endpoint: MetadataClientTests.endpoint, transport: imds.transport(), logger: LogCapture().logger())
        let provider = InstanceProfileCredentialsProvider(
            metadata: metadata, clock: SystemClock(), logger: LogCapture().logger())
        let error = await #expect(throws: AWSError.self) { try await provider.credentials() }
        #expect(error?.code == "AssumeRoleUnauthorizedAccess")
        #expect(error?.description.contains("SECRET") == false)
    }

    @Test func environmentCredentialsComeFirst() async throws {
        let provider = try CredentialChain.resolve(
            environment: Environment(["AWS_ACCESS_KEY_ID": "AKIAENV000000000", "AWS_SECRET_ACCESS_KEY": "s"]),
            metadata: nil, clock: SystemClock(), logger: LogCapture().logger())
        #expect(try await provider.credentials().accessKeyID == "AKIAENV000000000")
        #expect(await provider.snapshot().source == "environment")
        #expect(throws: AWSError.self) {
            try CredentialChain.resolve(
                environment: Environment(["AWS_ACCESS_KEY_ID": "AKIAENV000000000"]), metadata: nil,
                clock: SystemClock(),
                logger: LogCapture().logger())
        }
        #expect(throws: AWSError.self) {
            try CredentialChain.resolve(
                environment: Environment(), metadata: nil, clock: SystemClock(), logger: LogCapture().logger())
        }
    }
}

@Suite struct AWSClientBehaviourTests {
    static func client(_ transport: FakeTransport, clock: any WallClock = SystemClock()) -> AWSClient {
        .testing(over: transport, clock: clock)
    }

    static func parseAmzDate(_ text: String) -> UTCTime? {
        let c = Array(text)
        guard c.count == 16 else { return nil }
        let date = String(c[0..<4]) + "-" + String(c[4..<6]) + "-" + String(c[6..<8])
        let time = String(c[9..<11]) + ":" + String(c[11..<13]) + ":" + String(c[13..<15])
        return UTCTime(iso8601: date + "T" + time + "Z")
    }

    static func httpDate(_ time: UTCTime) -> String {
        let days = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let iso = time.iso8601
        let day = Int(time.secondsSinceEpoch / 86400) % 7
        let parts = iso.split(whereSeparator: { "-T:Z".contains($0) })
        return
            "\(days[day]), \(parts[2]) \(months[Int(parts[1])! - 1]) \(parts[0]) \(parts[3]):\(parts[4]):\(parts[5]) GMT"
    }

    /// The local clock is an hour slow: the first answer is RequestTimeTooSkewed with AWS's Date; the request is
    /// signed again with the corrected clock and succeeds.
    @Test func reSignsOnceWithTheCorrectedClock() async throws {
        let real = UTCTime.now()
        let skewed = ManualClock(real.adding(-3600))
        let transport = FakeTransport([
            { _ in
                FakeTransport.response(
                    403, "<Error><Code>RequestTimeTooSkewed</Code><Message>too skewed</Message></Error>",
                    headers: [("Date", Self.httpDate(real))])
            },
            { _ in
                FakeTransport.response(
                    200,
                    "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::1:user/u</Arn><Account>1</Account></GetCallerIdentityResult></GetCallerIdentityResponse>"
                )
            },
        ])
        let identity = try await STSClient(client: Self.client(transport, clock: skewed), region: "us-east-1")
            .getCallerIdentity()
        #expect(identity.account == "1")
        let dates = transport.sent.map { $0.headers["X-Amz-Date"]! }
        #expect(dates.count == 2)
        #expect(dates[0] == skewed.now().amzDate || dates[0] < real.amzDate)
        let corrected = try #require(Self.parseAmzDate(dates[1]))
        #expect(abs(corrected.secondsSinceEpoch - real.secondsSinceEpoch) < 30)
    }

    @Test func throttlingIsRetriedWithBackoffOtherClientErrorsAreNot() async throws {
        let throttled: FakeTransport.Handler = { _ in
            FakeTransport.response(400, #"{"__type":"ThrottlingException","message":"Rate exceeded"}"#)
        }
        let transport = FakeTransport([throttled, throttled, { _ in FakeTransport.response(200, "{}") }])
        let logs = CloudWatchLogsClient(client: Self.client(transport), region: "us-east-1")
        _ = try await logs.putLogEvents(group: "/g", stream: "s", events: [.init(timestamp: 1, message: "m")])
        #expect(transport.sent.count == 3)

        let invalid = FakeTransport(fallback: { _ in
            FakeTransport.response(400, #"{"__type":"InvalidParameterException","message":"bad"}"#)
        })
        let failing = CloudWatchLogsClient(client: Self.client(invalid), region: "us-east-1")
        let error = await #expect(throws: AWSError.self) {
            _ = try await failing.putLogEvents(group: "/g", stream: "s", events: [.init(timestamp: 1, message: "m")])
        }
        #expect(invalid.sent.count == 1)
        #expect(error?.description.hasPrefix("logs PutLogEvents failed") == true)
        #expect(error?.description.contains("HTTP 400 InvalidParameterException: bad") == true)
    }

    @Test func alreadyExistsIsSuccess() async throws {
        let transport = FakeTransport(fallback: { _ in
            FakeTransport.response(400, #"{"__type":"ResourceAlreadyExistsException","message":"exists"}"#)
        })
        let logs = CloudWatchLogsClient(client: Self.client(transport), region: "us-east-1")
        #expect(try await logs.createLogGroup("/clock/app") == false)
        #expect(try await logs.createLogStream(group: "/clock/app", stream: "i-1/app") == false)
    }

    @Test func gzipBodiesAreSignedAsSent() async throws {
        let transport = FakeTransport(fallback: { _ in FakeTransport.response(200, "{}") })
        let logs = CloudWatchLogsClient(client: Self.client(transport), region: "us-east-1")
        _ = try await logs.putLogEvents(
            encodedBody: Array(#"{"logGroupName":"/g","logStreamName":"s","logEvents":[]}"#.utf8), gzip: true)
        let sent = try #require(transport.sent.first)
        #expect(sent.headers["Content-Encoding"] == "gzip")
        #expect(
            try Gzip.decompress(sent.body) == Array(#"{"logGroupName":"/g","logStreamName":"s","logEvents":[]}"#.utf8))
        #expect(sent.headers["X-Amz-Target"] == "Logs_20140328.PutLogEvents")
        #expect(
            sent.headers["Authorization"]?.contains(
                "SignedHeaders=content-encoding;content-type;host;x-amz-date;x-amz-target") == true)
    }

    @Test func rejectedEventsAreReported() async throws {
        let transport = FakeTransport(fallback: { _ in
            FakeTransport.response(
                200, #"{"rejectedLogEventsInfo":{"tooOldLogEventEndIndex":2,"tooNewLogEventStartIndex":5}}"#)
        })
        let logs = CloudWatchLogsClient(client: Self.client(transport), region: "us-east-1")
        let rejected = try await logs.putLogEvents(
            group: "/g", stream: "s", events: [.init(timestamp: 1, message: "m")])
        #expect(rejected == .init(tooOldLogEventEndIndex: 2, tooNewLogEventStartIndex: 5))
    }

    /// A bucket in another region: S3 answers 301 with x-amz-bucket-region; the call is signed again for it, once.
    @Test func s3RegionRedirectIsFollowedOnce() async throws {
        let transport = FakeTransport([
            { _ in FakeTransport.response(301, "", headers: [("x-amz-bucket-region", "eu-west-1")]) },
            { request in
                #expect(request.headers["Authorization"]?.contains("/eu-west-1/s3/aws4_request") == true)
                return FakeTransport.response(200, "", headers: [("ETag", "\"abc\""), ("Content-Length", "5")])
            },
        ])
        let s3 = S3Client(client: Self.client(transport), region: "us-east-1")
        let info = try await s3.headObject(bucket: "webclock-bucket", key: "a b/c.tgz")
        #expect(info.etag == "\"abc\"")
        #expect(transport.sent.count == 2)
        #expect(transport.sent[0].path == "/webclock-bucket/a%20b/c.tgz")
        #expect(transport.sent[0].headers["x-amz-checksum-mode"] == "ENABLED")
        #expect(transport.sent[0].headers["x-amz-content-sha256"] == SigV4Signer.emptyPayloadHash)
    }

    @Test func s3AccessDeniedSaysWhatToFix() async throws {
        let transport = FakeTransport(fallback: { _ in
            FakeTransport.response(403, "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>")
        })
        let s3 = S3Client(client: Self.client(transport), region: "us-east-1")
        let error = await #expect(throws: AWSError.self) {
            _ = try await s3.headObject(bucket: "webclock-bucket", key: "app.tgz")
        }
        #expect(error?.description.contains("s3:GetObject on arn:aws:s3:::webclock-bucket/app.tgz") == true)
    }
}

/// Holds requests until the test opens it.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    /// Waits until the gate is open.
    func pass() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let passNow = state.withLock { state -> Bool in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if passNow { continuation.resume() }
        }
    }

    /// Lets every waiting and later request through.
    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Holds later requests again.
    func close() { state.withLock { $0.open = false } }
}

/// A transport whose credential-document requests wait at a gate; counts them.
final class GatedTransport: HTTPTransport, Sendable {
    private let inner: FakeTransport
    private let gate: Gate
    private let count = Mutex(0)

    init(_ inner: FakeTransport, gate: Gate) {
        self.inner = inner
        self.gate = gate
    }

    /// Credential-document GETs so far (counted when they arrive, before the gate).
    var documentRequests: Int { count.withLock { $0 } }

    func send(_ request: HTTPRequest, sink: ResponseSink) async throws -> HTTPResponse {
        if request.method == "GET", request.path.hasSuffix("security-credentials/clock-agent-role") {
            count.withLock { $0 += 1 }
            await gate.pass()
        }
        return try await inner.send(request, sink: sink)
    }
}

/// What a task of `withGateOpenedAfter` ended with.
enum GateOutcome<T: Sendable>: Sendable {
    /// The body's result.
    case finished(T)
    /// The time limit passed and the gate was opened.
    case opened
    /// The body finished first; the gate stayed shut.
    case stillShut
}
