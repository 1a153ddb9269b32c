/// An HTTP request as the AWS clients build it: an endpoint, a wire-encoded path and query, headers and a body.
///
/// The path and query are kept exactly as they go on the wire (already percent-encoded) because SigV4 signs the
/// wire form: S3 uses it as is, other services encode it once more (see `SigV4Signer`).
public struct HTTPRequest: Sendable {
    /// `GET`, `PUT`, `POST`, `HEAD`.
    public var method: String
    /// Scheme, host and port the request goes to.
    public var endpoint: Endpoint
    /// The path as sent, percent-encoded, starting with `/`, including the endpoint's base path when it has one
    /// (the clients prefix `endpoint.basePath`, because SigV4 signs the path the server sees).
    public var path: String
    /// The query as sent, percent-encoded, without the leading `?`; empty for none.
    public var query: String
    /// Request headers in the order they are sent.
    public var headers: HTTPHeaders
    /// The request body; empty for none.
    public var body: [UInt8]
    /// Connect and transfer time limits.
    public var timeouts: HTTPTimeouts
    /// Whether proxies from the environment (`HTTPS_PROXY`, `NO_PROXY`) apply; false for the link-local
    /// metadata service, which must never be reached through a proxy.
    public var useProxy: Bool

    /// Creates a request; `Host` is derived from the endpoint when the request is signed or sent.
    public init(
        method: String,
        endpoint: Endpoint,
        path: String = "/",
        query: String = "",
        headers: HTTPHeaders = HTTPHeaders(),
        body: [UInt8] = [],
        timeouts: HTTPTimeouts = .api,
        useProxy: Bool = true
    ) {
        self.method = method
        self.endpoint = endpoint
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.timeouts = timeouts
        self.useProxy = useProxy
    }

    /// The full URL as libcurl receives it: scheme, host and port, then `path` as it is (the base path is already
    /// part of it), then the query.
    public var url: String {
        query.isEmpty ? origin + path : origin + path + "?" + query
    }

    /// The URL without its query, for error messages and logs.
    public var displayURL: String { origin + path }

    /// `scheme://host[:port]`, without the endpoint's base path.
    private var origin: String { "\(endpoint.scheme)://\(endpoint.hostHeader)" }
}

/// Time limits of one request.
///
/// See https://curl.se/libcurl/c/CURLOPT_CONNECTTIMEOUT_MS.html, https://curl.se/libcurl/c/CURLOPT_TIMEOUT_MS.html
/// and https://curl.se/libcurl/c/CURLOPT_LOW_SPEED_LIMIT.html.
public struct HTTPTimeouts: Sendable, Equatable {
    /// Longest time to establish the connection (TCP and TLS), in milliseconds.
    public var connectMilliseconds: Int
    /// Longest time for the whole transfer in milliseconds; 0 means no overall limit (streams use `lowSpeed`).
    public var totalMilliseconds: Int
    /// Abort when fewer than `bytesPerSecond` move for `seconds` in a row; nil for no such check.
    public var lowSpeed: (bytesPerSecond: Int, seconds: Int)?

    /// Creates time limits.
    public init(connectMilliseconds: Int, totalMilliseconds: Int, lowSpeed: (bytesPerSecond: Int, seconds: Int)? = nil)
    {
        self.connectMilliseconds = connectMilliseconds
        self.totalMilliseconds = totalMilliseconds
        self.lowSpeed = lowSpeed
    }

    /// Limits for AWS API calls: 3 s to connect, 30 s in all.
    public static let api = HTTPTimeouts(connectMilliseconds: 3_000, totalMilliseconds: 30_000)

    /// Limits for instance metadata: 1 s to connect and 1 s in all, as the AWS SDKs use.
    public static let metadata = HTTPTimeouts(connectMilliseconds: 1_000, totalMilliseconds: 1_000)

    /// Limits for downloads of unknown size: no overall limit, but abort when stalled for 30 s.
    public static let download = HTTPTimeouts(
        connectMilliseconds: 5_000, totalMilliseconds: 0, lowSpeed: (bytesPerSecond: 1, seconds: 30))

    public static func == (lhs: HTTPTimeouts, rhs: HTTPTimeouts) -> Bool {
        lhs.connectMilliseconds == rhs.connectMilliseconds && lhs.totalMilliseconds == rhs.totalMilliseconds
            && lhs.lowSpeed?.bytesPerSecond == rhs.lowSpeed?.bytesPerSecond
            && lhs.lowSpeed?.seconds == rhs.lowSpeed?.seconds
    }
}

/// Where the response body goes.
public enum ResponseSink: Sendable {
    /// Keep the body in memory, failing the request if it grows past `limit` bytes.
    case memory(limit: Int)
    /// Write a 2xx body to this open file descriptor (at its current offset); other bodies stay in memory so the
    /// error can be read.
    case fileDescriptor(Int32)

    /// Memory, up to 16 MiB: enough for every API answer the agent reads.
    public static let memory = ResponseSink.memory(limit: 16 << 20)
}
