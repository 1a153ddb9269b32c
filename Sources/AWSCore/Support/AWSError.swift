/// The one error type of the AWS core: every failure of a transport, a service call, the metadata service or
/// the credential chain, with what a human needs to act on it.
///
/// `description` reads like a log line, for example
/// `logs PutLogEvents failed: HTTP 400 ThrottlingException: Rate exceeded (request id 1f2e…)`.
/// It never contains credentials: request bodies and signed headers are not part of it.
public struct AWSError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, broadly.
    public enum Kind: String, Sendable {
        /// No HTTP answer: connect failure, timeout, reset, TLS failure (curl error).
        case transport
        /// The service answered with an error status.
        case service
        /// The instance metadata service failed or is disabled.
        case metadata
        /// No usable credentials.
        case credentials
        /// The answer could not be understood.
        case invalidResponse
        /// The caller asked for something invalid (bad bucket name, bad URL).
        case invalidInput
        /// The task was cancelled while waiting.
        case cancelled
    }

    /// What went wrong, broadly.
    public var kind: Kind
    /// The service, e.g. `s3`, `logs`, `autoscaling`, `sts`, `imds`.
    public var service: String
    /// The operation, e.g. `GetObject`, or a short action for non-API steps.
    public var operation: String
    /// The URL or resource involved (never with query parameters or credentials).
    public var resource: String?
    /// The HTTP status, when there was an answer.
    public var httpStatus: Int?
    /// The AWS error code (`__type`, `<Code>`), normalised; for transport errors `curl <n>`.
    public var code: String?
    /// The human-readable message.
    public var message: String
    /// The request id AWS gave, for support cases.
    public var requestID: String?
    /// Extra fields of the error answer that help act on it (S3's `Region`, `Endpoint`, `ServerTime`,
    /// the `x-amz-bucket-region` header). Only an allow-list is kept: answers such as S3's `CanonicalRequest`
    /// can carry the session token and are dropped.
    public var details: [String: String] = [:]
    /// Whether the curl error was a timeout (lets retry and diagnostics tell a stall from a refusal).
    public var isTimeout: Bool
    /// The lower-level cause, if any.
    public var underlying: (any Error & Sendable)?

    /// Creates an error.
    public init(
        kind: Kind, service: String, operation: String, resource: String? = nil, httpStatus: Int? = nil,
        code: String? = nil, message: String, requestID: String? = nil, isTimeout: Bool = false,
        underlying: (any Error & Sendable)? = nil
    ) {
        self.kind = kind
        self.service = service
        self.operation = operation
        self.resource = resource
        self.httpStatus = httpStatus
        self.code = code
        self.message = message
        self.requestID = requestID
        self.isTimeout = isTimeout
        self.underlying = underlying
    }

    public var description: String {
        var text = "\(service) \(operation) failed"
        if let resource { text += " (\(resource))" }
        text += ":"
        if let httpStatus { text += " HTTP \(httpStatus)" }
        if let code { text += " \(code)" }
        if !message.isEmpty { text += (code == nil && httpStatus == nil ? " " : ": ") + message }
        if let requestID, !requestID.isEmpty { text += " (request id \(requestID))" }
        if let underlying { text += "; caused by: \(underlying)" }
        return text
    }

    /// Whether this is the given AWS error code.
    public func hasCode(_ candidates: String...) -> Bool {
        guard let code else { return false }
        return candidates.contains(code)
    }
}
