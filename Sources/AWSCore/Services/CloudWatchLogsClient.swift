import FoundationEssentials

/// The CloudWatch Logs calls the agent makes (JSON 1.1, target prefix `Logs_20140328`).
///
/// Group, stream and retention are created once on the cold path; `PutLogEvents` never sends a sequence token
/// (ignored since 2023) and several may be in flight per stream. There is deliberately no `DescribeLogStreams`.
public struct CloudWatchLogsClient: Sendable {
    /// Which events of a batch CloudWatch refused, as index ranges of the batch.
    public struct RejectedEvents: Sendable, Equatable, Decodable {
        /// Events `[0, n)` were more than 14 days old or older than the group's retention.
        public var tooOldLogEventEndIndex: Int?
        /// Events `[n, count)` were more than 2 hours in the future.
        public var tooNewLogEventStartIndex: Int?
        /// Events `[0, n)` had already expired under the group's retention.
        public var expiredLogEventEndIndex: Int?

        /// Creates a value.
        public init(
            tooOldLogEventEndIndex: Int? = nil, tooNewLogEventStartIndex: Int? = nil,
            expiredLogEventEndIndex: Int? = nil
        ) {
            self.tooOldLogEventEndIndex = tooOldLogEventEndIndex
            self.tooNewLogEventStartIndex = tooNewLogEventStartIndex
            self.expiredLogEventEndIndex = expiredLogEventEndIndex
        }
    }

    /// One event to send.
    public struct Event: Sendable, Equatable {
        /// Milliseconds since the epoch.
        public var timestamp: Int64
        /// The message (non-empty).
        public var message: String

        /// Creates an event.
        public init(timestamp: Int64, message: String) {
            self.timestamp = timestamp
            self.message = message
        }
    }

    private struct PutLogEventsResponse: Decodable {
        var rejectedLogEventsInfo: RejectedEvents?
    }

    private let client: AWSClient
    /// The region of the log group.
    public let region: String

    /// Creates a client for a region.
    public init(client: AWSClient, region: String) {
        self.client = client
        self.region = region
    }

    /// `CreateLogGroup`; returns false when the group already existed.
    /// - Parameter retry: `.none` when the caller has its own backoff (the log shipper's, shared per source).
    @discardableResult
    public func createLogGroup(_ group: String, retry: RetryPolicy = .standard) async throws -> Bool {
        try await createIgnoringExisting("CreateLogGroup", [("logGroupName", .string(group))], retry: retry)
    }

    /// `CreateLogStream`; returns false when the stream already existed.
    /// - Parameter retry: `.none` when the caller has its own backoff (the log shipper's, shared per source).
    @discardableResult
    public func createLogStream(group: String, stream: String, retry: RetryPolicy = .standard) async throws -> Bool {
        try await createIgnoringExisting(
            "CreateLogStream", [("logGroupName", .string(group)), ("logStreamName", .string(stream))], retry: retry)
    }

    /// `PutRetentionPolicy`.
    public func putRetentionPolicy(group: String, days: Int, retry: RetryPolicy = .standard) async throws {
        _ = try await call(
            "PutRetentionPolicy",
            body: JSONText.object([("logGroupName", .string(group)), ("retentionInDays", .int(Int64(days)))]),
            retry: retry)
    }

    /// `PutLogEvents` of events in chronological order.
    public func putLogEvents(
        group: String, stream: String, events: [Event], retry: RetryPolicy = .standard
    ) async throws
        -> RejectedEvents?
    {
        var list: [UInt8] = [0x5B]
        for (index, event) in events.enumerated() {
            if index > 0 { list.append(0x2C) }
            list.append(
                contentsOf: JSONText.object([("timestamp", .int(event.timestamp)), ("message", .string(event.message))])
            )
        }
        list.append(0x5D)
        let body = JSONText.object([
            ("logGroupName", .string(group)), ("logStreamName", .string(stream)), ("logEvents", .raw(list)),
        ])
        return try await putLogEvents(encodedBody: body, retry: retry)
    }

    /// `PutLogEvents` with a body already encoded by the caller (the log shipper builds it while batching).
    /// - Parameter gzip: send the body compressed (`Content-Encoding: gzip`); the signature covers the compressed bytes.
    public func putLogEvents(
        encodedBody: [UInt8], gzip: Bool = false, retry: RetryPolicy = .standard
    ) async throws
        -> RejectedEvents?
    {
        let response = try await call("PutLogEvents", body: encodedBody, gzip: gzip, retry: retry)
        // Nearly every answer is `{}` (nothing rejected): no decoder for that.
        if Self.isEmptyObject(response.body) { return nil }
        guard let decoded = try? JSONDecoder().decode(PutLogEventsResponse.self, from: Data(response.body)) else {
            throw AWSError(
                kind: .invalidResponse, service: "logs", operation: "PutLogEvents",
                message: "the answer is not the documented JSON: \(response.bodyText.prefix(200))")
        }
        return decoded.rejectedLogEventsInfo
    }

    /// Whether a body is empty or a JSON object without members (`{}`, whitespace allowed).
    static func isEmptyObject(_ body: [UInt8]) -> Bool {
        var opened = false
        var closed = false
        for byte in body {
            switch byte {
            case 0x20, 0x09, 0x0A, 0x0D: continue
            case 0x7B where !opened: opened = true
            case 0x7D where opened && !closed: closed = true
            default: return false
            }
        }
        return opened == closed
    }

    private func createIgnoringExisting(
        _ operation: String, _ members: [(String, JSONValue)], retry: RetryPolicy
    ) async throws -> Bool {
        do {
            _ = try await call(operation, body: JSONText.object(members), retry: retry)
            return true
        } catch let error as AWSError where error.code == "ResourceAlreadyExistsException" {
            return false
        }
    }

    private func call(
        _ operation: String, body: [UInt8], gzip: Bool = false, retry: RetryPolicy = .standard
    )
        async throws -> HTTPResponse
    {
        let endpoint = try client.endpoints.endpoint(for: .logs, region: region)
        var request = HTTPRequest(method: "POST", endpoint: endpoint, path: endpoint.basePath + "/")
        request.headers.add("Content-Type", "application/x-amz-json-1.1")
        request.headers.add("X-Amz-Target", "Logs_20140328.\(operation)")
        if gzip {
            request.body = try Gzip.compress(body)
            request.headers.add("Content-Encoding", "gzip")
        } else {
            request.body = body
        }
        let signer = SigV4Signer(service: "logs", region: region)
        return try await client.execute(request, signer: signer, operation: operation, retry: retry)
    }
}
