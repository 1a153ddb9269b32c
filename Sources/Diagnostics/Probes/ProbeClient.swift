import AWSCore

/// The doctor's AWS calls: each signed and sent exactly once (`RetryPolicy.none`) through the bounded
/// `ProbeTransport`, so a hanging endpoint costs one short timeout, not a retry schedule.
///
/// The agent's own service clients retry for minutes, as a daemon should; the doctor wants a quick, honest
/// answer, and the raw error code (AccessDenied, ValidationError, …) that proves whether IAM let a call through.
struct ProbeClient: Sendable {
    /// Signs and sends.
    let client: AWSClient
    /// The region requests are signed for.
    let region: String

    /// A Query-protocol action (Auto Scaling, STS); returns the `<Action>Result` element.
    func query(
        _ service: AWSService, version: String, action: String, _ parameters: [(String, String)]
    ) async throws
        -> XMLElement
    {
        let endpoint = try client.endpoints.endpoint(for: service, region: region)
        var request = HTTPRequest(method: "POST", endpoint: endpoint, path: endpoint.basePath + "/")
        request.headers.add("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
        var parts = ["Action=\(PercentEncoding.encode(action))", "Version=\(PercentEncoding.encode(version))"]
        for (name, value) in parameters {
            parts.append("\(PercentEncoding.encode(name))=\(PercentEncoding.encode(value))")
        }
        request.body = Array(parts.joined(separator: "&").utf8)
        let signer = SigV4Signer(service: service.signingName, region: region)
        let response = try await client.execute(request, signer: signer, operation: action, retry: .none)
        guard let root = XMLElement.parse(response.body) else {
            throw AWSError(
                kind: .invalidResponse, service: service.rawValue, operation: action,
                message: "the answer is not XML: \(response.bodyText.prefix(200))")
        }
        return root.child("\(action)Result") ?? root
    }

    /// A CloudWatch Logs (JSON 1.1) operation.
    func logs(_ operation: String, _ members: [(String, JSONValue)]) async throws -> HTTPResponse {
        let endpoint = try client.endpoints.endpoint(for: .logs, region: region)
        var request = HTTPRequest(method: "POST", endpoint: endpoint, path: endpoint.basePath + "/")
        request.headers.add("Content-Type", "application/x-amz-json-1.1")
        request.headers.add("X-Amz-Target", "Logs_20140328.\(operation)")
        request.body = JSONText.object(members)
        let signer = SigV4Signer(service: "logs", region: region)
        return try await client.execute(request, signer: signer, operation: operation, retry: .none)
    }

    /// `HeadObject` with checksum mode on; path-style with an endpoint override or a dotted bucket name (as
    /// `S3Client` addresses it). Region redirects are not followed: the error names the bucket's region.
    func headObject(bucket: String, key: String) async throws -> HTTPResponse {
        let encodedKey = PercentEncoding.encode(key, keepSlash: true)
        var request: HTTPRequest
        if let override = try client.endpoints.override(for: .s3) {
            request = HTTPRequest(
                method: "HEAD", endpoint: override, path: override.basePath + "/\(bucket)/\(encodedKey)")
        } else if bucket.contains(".") {
            let host = "s3.\(region).\(EndpointResolver.dnsSuffix(region: region))"
            request = HTTPRequest(
                method: "HEAD", endpoint: Endpoint(scheme: "https", host: host), path: "/\(bucket)/\(encodedKey)")
        } else {
            let host = "\(bucket).s3.\(region).\(EndpointResolver.dnsSuffix(region: region))"
            request = HTTPRequest(
                method: "HEAD", endpoint: Endpoint(scheme: "https", host: host), path: "/\(encodedKey)")
        }
        request.headers.add("x-amz-checksum-mode", "ENABLED")
        let signer = SigV4Signer(service: "s3", region: region, uriRule: .s3, addContentHashHeader: true)
        do {
            return try await client.execute(
                request, signer: signer, operation: "HeadObject", retry: .none,
                payloadHash: SigV4Signer.emptyPayloadHash)
        } catch var error as AWSError {
            error.resource = "s3://\(bucket)/\(key)"
            throw error
        }
    }
}
