import Logging

/// An IMDSv2-only client of the EC2 instance metadata service.
///
/// A session token is fetched with `PUT /latest/api/token` (TTL 6 h), cached, renewed five minutes before it runs
/// out and whenever a GET answers 401. Each request has a 1 s limit and up to three attempts, as the AWS SDKs
/// use; there is deliberately no fallback to IMDSv1. See "Use the Instance Metadata Service to access instance
/// metadata" (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-service.html).
public actor MetadataClient {
    /// The default IPv4 endpoint (used only on EC2; tests set `AWS_EC2_METADATA_SERVICE_ENDPOINT`).
    public static let defaultIPv4 = Endpoint(scheme: "http", host: "169.254.169.254")
    /// The default IPv6 endpoint (Nitro instances in IPv6 subnets).
    public static let defaultIPv6 = Endpoint(scheme: "http", host: "fd00:ec2::254")

    /// The token lifetime asked for, in seconds (the maximum IMDS allows).
    public static let tokenTTL = 21_600

    /// The endpoint the environment selects, or nil when `AWS_EC2_METADATA_DISABLED` is true.
    /// - Throws: when `AWS_EC2_METADATA_SERVICE_ENDPOINT` is not an http(s) URL.
    public static func endpoint(environment: Environment) throws -> Endpoint? {
        if environment.isTrue("AWS_EC2_METADATA_DISABLED") { return nil }
        if let value = environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"] {
            guard let endpoint = Endpoint(url: value) else {
                throw AWSError(
                    kind: .invalidInput, service: "imds", operation: "resolve endpoint",
                    message: "AWS_EC2_METADATA_SERVICE_ENDPOINT=\(value) is not an http(s)://host[:port] URL")
            }
            return endpoint
        }
        if environment["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"]?.lowercasedASCII() == "ipv6" { return defaultIPv6 }
        return defaultIPv4
    }

    /// Where requests go.
    public let endpoint: Endpoint
    private let transport: any HTTPTransport
    private let logger: Logger
    private let attempts: Int
    private let timeouts: HTTPTimeouts
    private var token: (value: String, renewAt: ContinuousClock.Instant)?
    /// Requests sent so far (token PUTs included), for `status` and the polling-cost benchmark.
    public private(set) var requestCount = 0

    /// Creates a client.
    public init(
        endpoint: Endpoint, transport: any HTTPTransport, logger: Logger, attempts: Int = 3,
        timeouts: HTTPTimeouts = .metadata
    ) {
        self.endpoint = endpoint
        self.transport = transport
        self.logger = logger
        self.attempts = attempts
        self.timeouts = timeouts
    }

    /// Reads `/latest/<path>` (e.g. `meta-data/instance-id`); nil when the item does not exist (404).
    public func get(_ path: String) async throws -> String? {
        var attempt = 0
        while true {
            attempt += 1
            let token = try await currentToken()
            var request = HTTPRequest(
                method: "GET", endpoint: endpoint, path: endpoint.basePath + "/latest/" + path,
                timeouts: timeouts, useProxy: false)
            request.headers.add("X-aws-ec2-metadata-token", token)
            do {
                requestCount += 1
                let response = try await transport.send(request, sink: .memory(limit: 1 << 20))
                switch response.status {
                case 200:
                    return response.bodyText
                case 404:
                    return nil
                case 401 where attempt < attempts:
                    // The token expired or IMDS restarted: get a new one and try again.
                    self.token = nil
                    continue
                default:
                    let error = failure(
                        "GET \(path)", status: response.status,
                        message: response.status == 401
                            ? "the metadata service refused the session token (HTTP 401) even after a new token was fetched"
                            : "unexpected HTTP \(response.status)")
                    guard response.status >= 500, attempt < attempts else { throw error }
                }
            } catch let error as AWSError where error.kind == .transport {
                guard attempt < attempts else { throw failure("GET \(path)", transport: error) }
            }
            try await backoff(attempt)
        }
    }

    /// Reads an item that must exist.
    public func require(_ path: String) async throws -> String {
        guard let value = try await get(path) else {
            throw failure("GET \(path)", status: 404, message: "the item does not exist on this instance")
        }
        return value.trimmingASCIIWhitespace()
    }

    /// Forgets the cached token (tests use it to simulate a metadata service restart).
    public func dropToken() { token = nil }

    private func currentToken() async throws -> String {
        if let token, ContinuousClock.now < token.renewAt { return token.value }
        var attempt = 0
        while true {
            attempt += 1
            var request = HTTPRequest(
                method: "PUT", endpoint: endpoint, path: endpoint.basePath + "/latest/api/token", timeouts: timeouts,
                useProxy: false)
            request.headers.add("X-aws-ec2-metadata-token-ttl-seconds", String(Self.tokenTTL))
            do {
                requestCount += 1
                let response = try await transport.send(request, sink: .memory(limit: 64 * 1024))
                if response.status == 200, !response.body.isEmpty {
                    let ttl =
                        response.headers["x-aws-ec2-metadata-token-ttl-seconds"].flatMap { Int($0) } ?? Self.tokenTTL
                    let renewAfter = max(ttl - 300, ttl / 2)
                    let value = response.bodyText
                    token = (value, ContinuousClock.now.advanced(by: .seconds(renewAfter)))
                    return value
                }
                let message: String
                switch response.status {
                case 403:
                    message =
                        "the token request was refused (HTTP 403): the metadata service is disabled for this instance"
                case 404, 405:
                    message = "no IMDSv2 token endpoint (HTTP \(response.status)); clock-agent does not use IMDSv1"
                case 400: message = "the token request was rejected as malformed (HTTP 400)"
                default: message = "unexpected HTTP \(response.status) to the token request"
                }
                let error = failure("PUT api/token", status: response.status, message: message)
                guard response.status >= 500, attempt < attempts else { throw error }
            } catch let error as AWSError where error.kind == .transport {
                guard attempt < attempts else {
                    var failure = failure("PUT api/token", transport: error)
                    if error.isTimeout {
                        failure.message +=
                            "; the token answer never arrived: on EC2 this is the symptom of a too-low hop limit (HttpPutResponseHopLimit, e.g. when running in a container) or of link-local packet throttling"
                    }
                    throw failure
                }
            }
            try await backoff(attempt)
        }
    }

    private func backoff(_ attempt: Int) async throws {
        let delay = RetryPolicy(maxAttempts: attempts, baseDelay: 0.1, maxDelay: 1).delay(beforeRetry: attempt)
        try await Task.sleep(for: .milliseconds(Int(delay * 1000)))
    }

    private func failure(_ operation: String, status: Int, message: String) -> AWSError {
        AWSError(
            kind: .metadata, service: "imds", operation: operation, resource: endpoint.base, httpStatus: status,
            message: message)
    }

    private func failure(_ operation: String, transport error: AWSError) -> AWSError {
        AWSError(
            kind: .metadata, service: "imds", operation: operation, resource: endpoint.base, code: error.code,
            message: error.message, isTimeout: error.isTimeout)
    }
}
