/// What a source has done, for `status` and metrics.
public struct SourceStats: Sendable, Equatable {
    /// The source name and its stream.
    public var source: String
    public var stream: String
    /// Events and bytes CloudWatch accepted.
    public var eventsShipped: Int64 = 0
    public var bytesShipped: Int64 = 0
    /// Events CloudWatch refused, per reason (written to the dead-letter folder).
    public var rejectedTooOld: Int64 = 0
    public var rejectedTooNew: Int64 = 0
    public var rejectedExpired: Int64 = 0
    /// Events written to the dead-letter folder for any reason.
    public var deadLettered: Int64 = 0
    /// Messages that had invalid UTF-8 or NUL replaced, or were cut at the event limit.
    public var sanitised: Int64 = 0
    public var truncated: Int64 = 0
    /// Batches in flight and sent in all.
    public var inFlight: Int = 0
    public var batchesSent: Int64 = 0
    /// Bytes not yet accepted (read or not).
    public var backlogBytes: Int64 = 0
    /// Bytes that could not be shipped at all (files gone while the agent was stopped).
    public var lostBytes: Int64 = 0
    /// Where the source stands: per file `path@offset`, or the journal cursor.
    public var positions: [String] = []
    /// The last error, if the last attempt failed.
    public var lastError: String?

    /// Creates empty statistics.
    public init(source: String, stream: String) {
        self.source = source
        self.stream = stream
    }
}
