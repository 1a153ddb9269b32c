/// Scheme, host and port of a service endpoint, plus a path prefix when the configured URL had one.
public struct Endpoint: Sendable, Equatable, CustomStringConvertible {
    /// `http` or `https`.
    public var scheme: String
    /// Host name or address; IPv6 addresses without brackets.
    public var host: String
    /// Explicit port, or nil for the scheme's default.
    public var port: Int?
    /// A path prefix from the configured URL, without a trailing slash (usually empty).
    public var basePath: String

    /// Creates an endpoint.
    public init(scheme: String, host: String, port: Int? = nil, basePath: String = "") {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.basePath = basePath
    }

    /// Parses `scheme://host[:port][/path]`; returns nil for anything else (no user info, query or fragment).
    public init?(url: String) {
        guard let schemeEnd = url.firstRange(of: "://") else { return nil }
        let scheme = url[..<schemeEnd.lowerBound].lowercasedASCII()
        guard scheme == "http" || scheme == "https" else { return nil }
        var rest = url[schemeEnd.upperBound...]
        var basePath = ""
        if let slash = rest.firstIndex(of: "/") {
            basePath = String(rest[slash...])
            rest = rest[..<slash]
        }
        while basePath.hasSuffix("/") { basePath.removeLast() }
        guard !rest.isEmpty, !rest.contains("@"), !basePath.contains("?"), !basePath.contains("#") else { return nil }
        var host: Substring
        var port: Int?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()), (1...65535).contains(p) else { return nil }
                port = p
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            port = p
        } else {
            host = rest
        }
        guard !host.isEmpty else { return nil }
        self.init(scheme: scheme, host: String(host), port: port, basePath: basePath)
    }

    /// The value of the `Host` header: host, plus the port when it isn't the scheme's default.
    public var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        guard let port, !(scheme == "http" && port == 80), !(scheme == "https" && port == 443) else { return name }
        return "\(name):\(port)"
    }

    /// `scheme://host[:port]` plus the base path, without a trailing slash.
    public var base: String { "\(scheme)://\(hostHeader)\(basePath)" }

    public var description: String { base }
}
