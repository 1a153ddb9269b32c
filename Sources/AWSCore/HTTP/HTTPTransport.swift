/// Sends HTTP requests. The one real implementation is `CurlTransport`; tests substitute their own.
public protocol HTTPTransport: Sendable {
    /// Sends the request and returns the final response, whatever its status; throws `AWSError` of kind
    /// `.transport` when no response arrived (connect failure, timeout, reset).
    func send(_ request: HTTPRequest, sink: ResponseSink) async throws -> HTTPResponse
}

extension HTTPTransport {
    /// Sends the request keeping the response body in memory.
    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        try await send(request, sink: .memory)
    }
}
