import AWSCore
import Logging

/// Creates the log group (with its retention) and streams when CloudWatch says they are missing — never
/// before, and never with DescribeLogStreams: the first PutLogEvents of a stream that exists costs no control-plane
/// call at all, which keeps a large fleet clear of the CreateLogStream and Describe quotas.
///
/// - Once: when several batches find a stream (or several streams find the group) missing at the same time, one
///   of them creates it and the others wait for that creation (single flight).
/// - Never again without cause: a batch sent before the stream was created that comes back with
///   ResourceNotFoundException is simply sent again; only a stream that was missing in an answer to a request sent
///   after its creation (an operator deleted it) is created again. See `Ledger`.
/// - One attempt per creation: the calls are made without the client's quick retries; a throttled or failed
///   creation is thrown to the sender, whose backoff (shared by the source's batches) decides when to try again.
public actor StreamProvisioner {
    private let logs: CloudWatchLogsClient
    private let group: String
    private let retentionDays: Int?
    private let logger: Logger
    private var ledger = Ledger()
    /// Batches waiting for the creation of a stream or of the group someone else is making.
    private var waiters: [Ledger.Resource: [CheckedContinuation<Void, any Error>]] = [:]
    /// A group this provisioner created whose retention could not be set yet.
    private var retentionOwed = false
    /// Control-plane calls made (for the fleet analysis and status).
    public private(set) var controlPlaneCalls = 0

    /// Creates a provisioner for one group.
    public init(logs: CloudWatchLogsClient, group: String, retentionDays: Int?, logger: Logger) {
        self.logs = logs
        self.group = group
        self.retentionDays = retentionDays
        self.logger = logger
    }

    /// What the sender needs to know before a PutLogEvents to `stream`: the stream's generation (pass it back to
    /// `provision(stream:seen:)` if the answer is ResourceNotFoundException) and whether the stream is known to be
    /// missing (its last creation failed), so that the request would only be refused.
    public func observe(stream: String) -> (generation: Int, knownMissing: Bool) {
        (ledger.generation(of: .stream(stream)), ledger.isKnownMissing(.stream(stream)))
    }

    /// Makes sure the stream (and the group) exist after CloudWatch answered ResourceNotFoundException to a request
    /// sent at generation `seen` (from `observe`), or before a request to a stream known to be missing. Returns
    /// when the stream exists or was created since; throws the creation's error (throttling, permissions).
    public func provision(stream: String, seen: Int) async throws {
        try await ensure(.stream(stream), seen: seen)
    }

    private func ensure(_ resource: Ledger.Resource, seen: Int) async throws {
        switch ledger.missing(resource, seen: seen) {
        case .resend:
            return
        case .wait:
            try await withCheckedThrowingContinuation { waiters[resource, default: []].append($0) }
        case .create:
            let failure: (any Error)?
            do {
                switch resource {
                case .group: try await createGroup()
                case .stream(let stream): try await createStream(stream)
                }
                failure = nil
            } catch {
                failure = error
            }
            ledger.finished(resource, created: failure == nil)
            for waiter in waiters.removeValue(forKey: resource) ?? [] {
                if let failure { waiter.resume(throwing: failure) } else { waiter.resume() }
            }
            if let failure { throw failure }
        }
    }

    private func createStream(_ stream: String) async throws {
        if ledger.isKnownMissing(.group) { try await ensure(.group, seen: ledger.generation(of: .group)) }
        let groupGeneration = ledger.generation(of: .group)
        do {
            controlPlaneCalls += 1
            if try await logs.createLogStream(group: group, stream: stream, retry: .none) {
                logger.info("log stream created", metadata: ["cwl.group": "\(group)", "cwl.stream": "\(stream)"])
            }
        } catch let error as AWSError where error.code == "ResourceNotFoundException" {
            try await ensure(.group, seen: groupGeneration)
            controlPlaneCalls += 1
            try await logs.createLogStream(group: group, stream: stream, retry: .none)
            logger.info("log stream created", metadata: ["cwl.group": "\(group)", "cwl.stream": "\(stream)"])
        }
    }

    private func createGroup() async throws {
        controlPlaneCalls += 1
        if try await logs.createLogGroup(group, retry: .none) {
            logger.info("log group created", metadata: ["cwl.group": "\(group)"])
            retentionOwed = retentionDays != nil
        }
        if retentionOwed, let retentionDays {
            controlPlaneCalls += 1
            try await logs.putRetentionPolicy(group: group, days: retentionDays, retry: .none)
            retentionOwed = false
            logger.info(
                "log group retention set",
                metadata: ["cwl.group": "\(group)", "cwl.retention_days": "\(retentionDays)"])
        }
    }
}

extension StreamProvisioner {
    /// The rules of creating on demand, as a value: which creations are under way, which resources were created
    /// since a request was sent, and which are known to be missing.
    ///
    /// Each resource has a generation, counted up by every successful creation. A request records the generation
    /// it was sent at; when it comes back with ResourceNotFoundException:
    /// - a creation is under way → wait for it, then send again;
    /// - the resource was created after the request was sent (its generation moved on) → send again, create
    ///   nothing: the answer is about the time before the creation;
    /// - otherwise the resource is missing now (never created by this agent, or deleted since) → create it.
    public struct Ledger: Sendable, Equatable {
        /// What can be missing.
        public enum Resource: Hashable, Sendable {
            case group
            case stream(String)
        }

        /// What to do about a ResourceNotFoundException.
        public enum Step: Equatable, Sendable {
            /// Create the resource now (the caller must report `finished`).
            case create
            /// Someone is creating it: wait for that, then send again.
            case wait
            /// It was created after the request was sent: send again.
            case resend
        }

        private struct Entry: Equatable {
            var generation = 0
            var creating = false
            var knownMissing = false
        }

        private var entries: [Resource: Entry] = [:]

        /// An empty ledger: nothing created yet, nothing known to be missing.
        public init() {}

        /// The number of successful creations of `resource` so far.
        public func generation(of resource: Resource) -> Int { entries[resource]?.generation ?? 0 }

        /// Whether the last creation of `resource` failed (a request to it would be refused).
        public func isKnownMissing(_ resource: Resource) -> Bool { entries[resource]?.knownMissing ?? false }

        /// Whether a creation of `resource` is under way.
        public func isCreating(_ resource: Resource) -> Bool { entries[resource]?.creating ?? false }

        /// A request sent at generation `seen` found `resource` missing (or is about to be sent to a resource known
        /// to be missing).
        public mutating func missing(_ resource: Resource, seen: Int) -> Step {
            var entry = entries[resource] ?? Entry()
            if entry.creating { return .wait }
            if seen < entry.generation { return .resend }
            entry.creating = true
            entries[resource] = entry
            return .create
        }

        /// The creation that `missing` asked for ended.
        public mutating func finished(_ resource: Resource, created: Bool) {
            var entry = entries[resource] ?? Entry()
            entry.creating = false
            entry.knownMissing = !created
            if created { entry.generation += 1 }
            entries[resource] = entry
        }
    }
}
