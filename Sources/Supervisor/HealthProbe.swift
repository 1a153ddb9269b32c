import AWSCore

/// Judges whether the app is healthy.
public protocol HealthProbe: Sendable {
    /// One check: healthy or not, and a short detail for logs (status code, error).
    func check() async -> (healthy: Bool, detail: String)
}

/// `GET` of `app.health.url`: healthy when the answer is 2xx within the timeout.
public struct HTTPHealthProbe: HealthProbe {
    private let transport: any HTTPTransport
    private let endpoint: Endpoint
    private let path: String
    private let query: String
    private let timeout: Duration

    /// Creates a probe; nil when the URL is not `http(s)://host[:port]/path`.
    public init?(url: String, timeout: Duration, transport: any HTTPTransport) {
        guard let schemeEnd = url.firstRange(of: "://") else { return nil }
        let rest = url[schemeEnd.upperBound...]
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        guard let endpoint = Endpoint(url: String(url[..<slash])) else { return nil }
        var target = String(rest[slash...])
        if target.isEmpty { target = "/" }
        if let mark = target.firstIndex(of: "?") {
            path = String(target[..<mark])
            query = String(target[target.index(after: mark)...])
        } else {
            path = target
            query = ""
        }
        self.endpoint = endpoint
        self.timeout = timeout
        self.transport = transport
    }

    public func check() async -> (healthy: Bool, detail: String) {
        let milliseconds = max(
            1, Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
        var request = HTTPRequest(
            method: "GET", endpoint: endpoint, path: path, query: query,
            timeouts: HTTPTimeouts(connectMilliseconds: milliseconds, totalMilliseconds: milliseconds), useProxy: false)
        request.headers.add("Accept", "*/*")
        do {
            let response = try await transport.send(request, sink: .memory(limit: 64 * 1024))
            return (response.isSuccess, "HTTP \(response.status) from \(endpoint.base)\(path)")
        } catch let error as AWSError {
            return (false, "\(endpoint.base)\(path): \(error.message)")
        } catch {
            return (false, "\(endpoint.base)\(path): \(error)")
        }
    }
}

/// Without a health URL: healthy while the process runs (the machine's start grace gives it one interval).
public struct ProcessRunningProbe: HealthProbe {
    /// Creates the probe.
    public init() {}

    public func check() async -> (healthy: Bool, detail: String) { (true, "process running (no health URL)") }
}
