import AWSCore
import Foundation
import Synchronization
import Testing
import TestSupport

@testable import LogShipper

/// A CloudWatch Logs answering from memory: one group, streams created by CreateLogStream, PutLogEvents refused
/// with ResourceNotFoundException while the group or stream is missing, and switches to throttle, to hold the first
/// PutLogEvents until several arrived (so that they find the stream missing together), and to hold CreateLogGroup.
final class ScriptedCloudWatch: HTTPTransport, Sendable {
    struct State {
        var group = false
        var streams: Set<String> = []
        var calls: [String] = []
        var throttle = false
        /// The first `rendezvous` PutLogEvents are answered only once that many arrived.
        var rendezvous = 0
        var parked: [CheckedContinuation<Void, Never>] = []
        var holdGroup = false
        var heldGroup: CheckedContinuation<Void, Never>?
    }

    let state = Mutex(State())

    func count(_ operation: String) -> Int { state.withLock { $0.calls.filter { $0 == operation }.count } }

    func send(_ request: HTTPRequest, sink: ResponseSink) async throws -> HTTPResponse {
        let operation = String(request.headers["X-Amz-Target"]?.split(separator: ".").last ?? "")
        let object = (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any]
        let stream = object?["logStreamName"] as? String ?? ""
        let answer: HTTPResponse = state.withLock { state in
            state.calls.append(operation)
            switch operation {
            case "CreateLogGroup":
                return state.group ? Self.error("ResourceAlreadyExistsException") : Self.ok
            case "PutRetentionPolicy":
                return state.group ? Self.ok : Self.error("ResourceNotFoundException")
            case "CreateLogStream":
                guard state.group else { return Self.error("ResourceNotFoundException") }
                return state.streams.insert(stream).inserted ? Self.ok : Self.error("ResourceAlreadyExistsException")
            case "PutLogEvents":
                if state.throttle { return Self.error("ThrottlingException") }
                return state.group && state.streams.contains(stream) ? Self.ok : Self.error("ResourceNotFoundException")
            default:
                return Self.error("UnknownOperationException")
            }
        }
        if operation == "PutLogEvents" {
            await withCheckedContinuation { continuation in
                let release: [CheckedContinuation<Void, Never>] = state.withLock { state in
                    guard state.rendezvous > 0 else { return [continuation] }
                    state.parked.append(continuation)
                    guard state.parked.count >= state.rendezvous else { return [] }
                    state.rendezvous = 0
                    defer { state.parked.removeAll() }
                    return state.parked
                }
                for waiter in release { waiter.resume() }
            }
        }
        if operation == "CreateLogGroup" {
            await withCheckedContinuation { continuation in
                let go = state.withLock { state in
                    guard state.holdGroup else { return true }
                    state.heldGroup = continuation
                    return false
                }
                if go { continuation.resume() }
            }
            state.withLock { $0.group = true }
        }
        return answer
    }

    func releaseGroup() {
        let held = state.withLock { state in
            state.holdGroup = false
            defer { state.heldGroup = nil }
            return state.heldGroup
        }
        held?.resume()
    }

    static let ok = HTTPResponse(status: 200, headers: HTTPHeaders(), body: Array("{}".utf8))

    static func error(_ type: String) -> HTTPResponse {
        HTTPResponse(
            status: 400, headers: HTTPHeaders(), body: Array(#"{"__type":"\#(type)","message":"scripted"}"#.utf8))
    }
}

@Suite(.timeLimit(.minutes(1))) struct LogSenderTests {
    let cloudWatch = ScriptedCloudWatch()
    let scratch: TemporaryDirectory
    let sender: LogSender

    init() throws {
        scratch = try TemporaryDirectory()
        sender = Self.sender(
            over: cloudWatch, scratch: scratch, retentionDays: 30, bootBackoff: LogSender.steadyBackoff)
    }

    /// A sender over the scripted CloudWatch, writing dead letters into `scratch`.
    static func sender(
        over cloudWatch: ScriptedCloudWatch, scratch: TemporaryDirectory, retentionDays: Int?,
        bootBackoff: LogSender.Backoff.Scale
    ) -> LogSender {
        let logs = CloudWatchLogsClient(client: .testing(over: cloudWatch), region: "us-east-1")
        return LogSender(
            logs: logs,
            provisioner: StreamProvisioner(
                logs: logs, group: "/g", retentionDays: retentionDays, logger: LogCapture().logger()),
            deadLetters: DeadLetterWriter(directory: scratch.file("dead-letter")), gzip: false,
            logger: LogCapture().logger(), bootBackoff: bootBackoff)
    }

    /// A boot backoff of a year: a source throttled at boot would wait "forever".
    static let yearLongBoot = LogSender.Backoff.Scale(base: .seconds(86_400 * 365), cap: .seconds(86_400 * 365))

    static func batch(_ source: String, _ sequence: UInt64 = 1) -> OutgoingBatch {
        let body =
            #"{"logGroupName":"/g","logStreamName":"i-1/\#(source)","logEvents":[{"timestamp":1,"message":"m"}]}"#
        return OutgoingBatch(
            sequence: sequence, source: source, stream: "i-1/\(source)", body: Array(body.utf8), events: 1, bytes: 27,
            inputBytes: 2,
            positions: [:])
    }

    func deliverAll(_ batches: [OutgoingBatch]) async -> [LogSender.Outcome] {
        await withTaskGroup(of: LogSender.Outcome.self) { group in
            for batch in batches { group.addTask { await sender.deliver(batch) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
    }

    func eventually(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out waiting for \(what)")
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Six batches of two streams find the group and their streams missing at the same moment: the group is
    /// created once (with its retention), each stream once, and every batch is then accepted.
    @Test func batchesFindingTheirStreamMissingTogetherCreateItOnce() async throws {
        cloudWatch.state.withLock {
            $0.rendezvous = 6
            $0.holdGroup = true
        }
        let batches = (1...4).map { Self.batch("app", UInt64($0)) } + (1...2).map { Self.batch("files", UInt64($0)) }
        async let outcomes = deliverAll(batches)
        try await eventually("CreateLogGroup, and both streams refused for the missing group") {
            cloudWatch.count("CreateLogGroup") == 1 && cloudWatch.count("CreateLogStream") == 2
        }
        #expect(sender.currentErrors.isEmpty, "a missing group or stream the agent creates is not an error to show")
        cloudWatch.releaseGroup()
        let results = await outcomes
        #expect(results.allSatisfy { !$0.cancelled && $0.lastError == nil && $0.deadLettered == 0 })
        #expect(cloudWatch.count("CreateLogGroup") == 1)
        #expect(cloudWatch.count("PutRetentionPolicy") == 1)
        // Per stream: one refused for the missing group, one that creates it.
        #expect(cloudWatch.count("CreateLogStream") == 4)
        #expect(cloudWatch.count("PutLogEvents") == 12, "each batch: one refused, one accepted")
        #expect(cloudWatch.state.withLock { $0.streams } == ["i-1/app", "i-1/files"])

        // The streams exist now: later batches cost no control-plane call.
        _ = await deliverAll([Self.batch("app", 5), Self.batch("files", 3)])
        #expect(cloudWatch.count("CreateLogStream") == 4)
        #expect(cloudWatch.count("PutLogEvents") == 14)
    }

    /// A stream deleted after it was created (an operator) is created again, once.
    @Test func aDeletedStreamIsCreatedAgain() async throws {
        _ = await deliverAll([Self.batch("app", 1)])
        #expect(cloudWatch.count("CreateLogStream") == 2)
        cloudWatch.state.withLock { $0.streams.removeAll() }
        cloudWatch.state.withLock { $0.rendezvous = 3 }
        let results = await deliverAll((2...4).map { Self.batch("app", UInt64($0)) })
        #expect(results.allSatisfy { !$0.cancelled && $0.lastError == nil })
        #expect(cloudWatch.count("CreateLogStream") == 3)
        #expect(cloudWatch.count("CreateLogGroup") == 1)
        #expect(cloudWatch.state.withLock { $0.streams } == ["i-1/app"])
    }

    /// While a source's batches are throttled its error is visible; once one is accepted it is gone.
    @Test func theErrorOfABatchStuckRetryingIsVisibleUntilOneSucceeds() async throws {
        _ = await deliverAll([Self.batch("app", 1)])
        cloudWatch.state.withLock { $0.throttle = true }
        async let outcomes = deliverAll([Self.batch("app", 2), Self.batch("app", 3)])
        try await eventually("the throttling shown as the source's error") {
            sender.currentErrors["app"]?.contains("ThrottlingException") == true
        }
        #expect(sender.currentErrors["app"]?.contains("PutLogEvents") == true)
        #expect(sender.currentErrors["files"] == nil)
        cloudWatch.state.withLock { $0.throttle = false }
        let results = await outcomes
        #expect(results.allSatisfy { !$0.cancelled && $0.lastError == nil })
        #expect(sender.currentErrors.isEmpty)
    }

    /// A source refused for the rate before anything of it was accepted waits on the boot scale (here a year):
    /// one request, no hammering, and the wait ends with the task.
    @Test func aThrottledBootWaitsAndTheWaitEndsWithCancellation() async throws {
        let patient = Self.sender(
            over: cloudWatch, scratch: scratch, retentionDays: nil, bootBackoff: Self.yearLongBoot)
        cloudWatch.state.withLock { $0.throttle = true }
        let outcome = await withTaskGroup(of: LogSender.Outcome.self) { group in
            group.addTask { await patient.deliver(Self.batch("app")) }
            try? await eventually("the first refusal") { cloudWatch.count("PutLogEvents") == 1 }
            try? await Task.sleep(for: .milliseconds(100))
            group.cancelAll()
            return await group.next()
        }
        #expect(outcome?.cancelled == true)
        #expect(outcome?.lastError?.contains("ThrottlingException") == true)
        #expect(cloudWatch.state.withLock { $0.calls } == ["PutLogEvents"])
        #expect(patient.currentErrors["app"]?.contains("ThrottlingException") == true)
    }

    /// A drain started while a source waits on the boot scale (here a year) cuts the wait to the steady scale: the
    /// batch is delivered within seconds once CloudWatch takes it again.
    @Test func aDrainCutsTheBootWaitShort() async throws {
        let patient = Self.sender(
            over: cloudWatch, scratch: scratch, retentionDays: nil, bootBackoff: Self.yearLongBoot)
        cloudWatch.state.withLock {
            $0.throttle = true
            $0.group = true
            $0.streams = ["i-1/app"]
        }
        async let outcome = patient.deliver(Self.batch("app"))
        try await eventually("the first refusal") { cloudWatch.count("PutLogEvents") == 1 }
        cloudWatch.state.withLock { $0.throttle = false }
        patient.drainStarted()
        let delivered = await outcome
        #expect(!delivered.cancelled && delivered.lastError == nil)
        #expect(cloudWatch.count("PutLogEvents") == 2)
        #expect(patient.currentErrors.isEmpty)
    }
}
