/// What came back: status, headers (names lower-cased) and, for in-memory sinks and errors, the body.
public struct HTTPResponse: Sendable {
    /// The HTTP status code.
    public var status: Int
    /// Response headers of the final response, names lower-cased.
    public var headers: HTTPHeaders
    /// The body when it was kept in memory; empty when it was streamed to a file descriptor.
    public var body: [UInt8]
    /// Body bytes written to the file descriptor sink.
    public var bytesWritten: Int

    /// Creates a response.
    public init(status: Int, headers: HTTPHeaders, body: [UInt8], bytesWritten: Int = 0) {
        self.status = status
        self.headers = headers
        self.body = body
        self.bytesWritten = bytesWritten
    }

    /// Whether the status is 2xx.
    public var isSuccess: Bool { (200..<300).contains(status) }

    /// The body as text (invalid UTF-8 replaced), for error messages.
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}
