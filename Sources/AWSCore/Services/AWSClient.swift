import Logging

/// Signs, sends and retries AWS API requests; turns error answers into `AWSError`.
///
/// Every service client of the agent goes through `execute`, so retry, clock-skew correction, credential refresh
/// and error decoding behave the same for S3, CloudWatch Logs, Auto Scaling and STS.
public final class AWSClient: Sendable {
    /// Sends the requests.
    public let transport: any HTTPTransport
    /// Supplies credentials for signing.
    public let credentials: any CredentialsProvider
    /// The corrected clock requests are signed with.
    public let clock: ClockCorrection
    /// Where each service's requests go.
    public let endpoints: EndpointResolver
    let logger: Logger

    /// Creates a client.
    public init(
        transport: any HTTPTransport, credentials: any CredentialsProvider, clock: ClockCorrection,
        endpoints: EndpointResolver, logger: Logger
    ) {
        self.transport = transport
        self.credentials = credentials
        self.clock = clock
        self.endpoints = endpoints
        self.logger = logger
    }

    /// Signs and sends a request, retrying under `retry`; returns the 2xx answer or throws `AWSError`.
    ///
    /// - Skew: when an answer's `Date` shows the local clock is off and the error is a signature/time error,
    ///   the request is signed again with the corrected clock and sent once more (not counted as a retry).
    /// - Credentials: on `ExpiredToken`-style errors the provider is asked to refresh, then one more try.
    /// - Streams: for a file-descriptor sink, transport errors are not retried here (bytes may already be written;
    ///   the caller resumes with `Range`).
    public func execute(
        _ unsigned: HTTPRequest, signer: SigV4Signer, operation: String,
        sink: ResponseSink = .memory, retry: RetryPolicy = .standard, payloadHash: String? = nil
    ) async throws -> HTTPResponse {
        var attempt = 0
        var resignedForSkew = false
        var refreshedCredentials = false
        while true {
            attempt += 1
            var request = unsigned
            let credentials = try await self.credentials.credentials()
            signer.sign(&request, credentials: credentials, at: clock.now(), payloadHash: payloadHash)
            let error: AWSError
            do {
                let response = try await transport.send(request, sink: sink)
                let clockChanged = clock.observe(dateHeader: response.headers["date"])
                if response.isSuccess { return response }
                error = Self.decodeError(
                    response, service: signer.service, operation: operation,
                    resource: request.displayURL)
                if Self.isSkewError(error), clockChanged || Self.isSkewMessage(error), !resignedForSkew {
                    resignedForSkew = true
                    logger.warning(
                        "clock skew detected; signing again with the corrected clock",
                        metadata: [
                            "aws.service": "\(signer.service)", "aws.operation": "\(operation)",
                            "clock.offset_seconds": "\(Int(clock.currentOffset))",
                        ])
                    attempt -= 1
                    continue
                }
                if Self.isCredentialError(error), !refreshedCredentials {
                    refreshedCredentials = true
                    await self.credentials.invalidate()
                    attempt -= 1
                    continue
                }
            } catch let failure as AWSError {
                if failure.kind == .transport, case .fileDescriptor = sink {
                    throw failure.with(service: signer.service, operation: operation)
                }
                error = failure.with(service: signer.service, operation: operation)
            }
            guard attempt < retry.maxAttempts, RetryPolicy.isRetryable(error) else { throw error }
            try Task.checkCancellation()
            let delay = retry.delay(beforeRetry: attempt)
            logger.debug(
                "retrying AWS call",
                metadata: [
                    "aws.service": "\(signer.service)", "aws.operation": "\(operation)", "retry.attempt": "\(attempt)",
                    "retry.delay_ms": "\(Int(delay * 1000))", "error": "\(error)",
                ])
            try await Task.sleep(for: .milliseconds(Int(delay * 1000)))
        }
    }

    /// Error codes that mean the signature's time was off.
    static let skewCodes: Set<String> = [
        "RequestTimeTooSkewed", "RequestExpired", "RequestInTheFuture", "InvalidSignatureException",
        "SignatureDoesNotMatch", "AuthFailure",
    ]

    static func isSkewError(_ error: AWSError) -> Bool { error.code.map { skewCodes.contains($0) } ?? false }

    /// `RequestTimeTooSkewed` and "Signature expired" say outright that the time is the problem.
    static func isSkewMessage(_ error: AWSError) -> Bool {
        error.code == "RequestTimeTooSkewed" || error.code == "RequestExpired" || error.code == "RequestInTheFuture"
            || error.message.contains("Signature expired") || error.message.contains("Signature not yet current")
    }

    /// Error codes that mean the credentials are stale.
    static let credentialCodes: Set<String> = [
        "ExpiredToken", "ExpiredTokenException", "InvalidToken", "TokenRefreshRequired", "RequestExpiredToken",
        "UnrecognizedClientException", "InvalidClientTokenId",
    ]

    static func isCredentialError(_ error: AWSError) -> Bool {
        error.code.map { credentialCodes.contains($0) } ?? false
    }

    /// Reads an error answer: JSON (`{"__type", "message"}`, CloudWatch Logs), Query XML
    /// (`<ErrorResponse><Error><Code>`, Auto Scaling, STS) or REST XML (`<Error><Code>`, S3), told apart by the
    /// body itself because emulators and proxies don't always answer in the service's own format.
    public static func decodeError(
        _ response: HTTPResponse, service: String, operation: String, resource: String?
    ) -> AWSError {
        var code: String?
        var message = ""
        var requestID = response.headers["x-amzn-requestid"] ?? response.headers["x-amz-request-id"]
        var details: [String: String] = [:]
        let body = response.body
        let firstByte = body.first { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }
        if firstByte == 0x7B, let decoded = JSONErrorBody.decode(body) {
            code = decoded.code
            message = decoded.message ?? ""
        } else if firstByte == 0x3C, let root = XMLElement.parse(body) {
            let error = root.first(named: "Error") ?? root
            code = error.child("Code")?.text
            message = error.child("Message")?.text ?? ""
            requestID = requestID ?? root.first(named: "RequestId")?.text
            for child in error.children where detailFields.contains(child.name) { details[child.name] = child.text }
        }
        if let region = response.headers["x-amz-bucket-region"] { details["x-amz-bucket-region"] = region }
        if code == nil, let type = response.headers["x-amzn-errortype"] { code = JSONErrorBody.normalise(type) }
        if code == nil {
            // HEAD answers and some proxies carry no body: name the status.
            switch response.status {
            case 301: code = "PermanentRedirect"
            case 307: code = "TemporaryRedirect"
            case 400: code = "BadRequest"
            case 403: code = "Forbidden"
            case 404: code = "NotFound"
            case 412: code = "PreconditionFailed"
            case 416: code = "InvalidRange"
            case 429: code = "TooManyRequestsException"
            case 503: code = "ServiceUnavailable"
            default: break
            }
        }
        if message.isEmpty, code == nil, !body.isEmpty {
            message = String(response.bodyText.prefix(200))
        }
        var error = AWSError(
            kind: .service, service: service, operation: operation, resource: resource, httpStatus: response.status,
            code: code, message: message, requestID: requestID)
        error.details = details
        return error
    }

    /// Error fields worth keeping (never `CanonicalRequest` or `StringToSign`: they may include the session token).
    static let detailFields: Set<String> = [
        "Region", "Endpoint", "Bucket", "Key", "ServerTime", "RequestTime", "MaxAllowedSkewMilliseconds", "Condition",
        "ActualObjectSize", "RangeRequested",
    ]
}

extension AWSError {
    /// The same error attributed to a service call (transport errors are created without one).
    func with(service: String, operation: String) -> AWSError {
        var copy = self
        if copy.service == "http" {
            copy.service = service
            copy.operation = operation
        }
        return copy
    }
}
