/// The S3 calls the agent makes: `GetObject` streamed to a file (resumable) and `HeadObject`.
///
/// With an endpoint override the bucket goes in the path (path-style); otherwise virtual-hosted addressing is used,
/// except for bucket names with dots, whose virtual host would not match the TLS certificate. One region redirect
/// (301/307/400 naming another region) is followed by signing again for that region.
public struct S3Client: Sendable {
    /// What S3 said about an object.
    public struct ObjectInfo: Sendable, Equatable {
        /// 200 for a whole object, 206 for a range.
        public var status: Int
        /// Bytes in this answer's body.
        public var contentLength: Int64?
        /// The whole object's size (from `Content-Range` for a range, else `Content-Length`).
        public var objectSize: Int64?
        /// The entity tag, with its quotes, as `If-Match` wants it back.
        public var etag: String?
        /// `x-amz-checksum-sha256` (base64); ends in `-N` for a composite multipart checksum.
        public var checksumSHA256: String?
        /// `x-amz-checksum-type`: `FULL_OBJECT` or `COMPOSITE`.
        public var checksumType: String?
        /// `x-amz-version-id`.
        public var versionID: String?
        /// Bytes written to the file descriptor.
        public var bytesWritten: Int

        /// The whole-object SHA-256 as hex, when S3 gave one (composite multipart checksums are not one).
        public var fullObjectSHA256Hex: String? {
            guard let checksumSHA256, !checksumSHA256.contains("-"), checksumType != "COMPOSITE",
                let bytes = Base64.decode(checksumSHA256), bytes.count == 32
            else { return nil }
            return Hex.encode(bytes)
        }
    }

    private let client: AWSClient
    /// The region requests are signed for.
    public let region: String

    /// Creates a client for a region.
    public init(client: AWSClient, region: String) {
        self.client = client
        self.region = region
    }

    /// `HeadObject`: the object's size, ETag and (with checksum mode) SHA-256.
    public func headObject(bucket: String, key: String) async throws -> ObjectInfo {
        try await send(method: "HEAD", operation: "HeadObject", bucket: bucket, key: key, headers: [:], sink: .memory)
    }

    /// `GetObject` written to `descriptor` at its current offset.
    /// - Parameters:
    ///   - offset: resume from this byte (`Range: bytes=<offset>-`), 0 for the whole object.
    ///   - ifMatch: the ETag the earlier part came from; S3 answers 412 if the object changed since.
    public func getObject(
        bucket: String, key: String, to descriptor: Int32, offset: Int64 = 0, ifMatch: String? = nil
    ) async throws -> ObjectInfo {
        var headers = HTTPHeaders()
        if offset > 0 { headers.add("Range", "bytes=\(offset)-") }
        if let ifMatch { headers.add("If-Match", ifMatch) }
        return try await send(
            method: "GET", operation: "GetObject", bucket: bucket, key: key, headers: headers,
            sink: .fileDescriptor(descriptor))
    }

    private func send(
        method: String, operation: String, bucket: String, key: String, headers: HTTPHeaders, sink: ResponseSink
    ) async throws -> ObjectInfo {
        guard Self.isValidBucketName(bucket) else {
            throw AWSError(
                kind: .invalidInput, service: "s3", operation: operation, resource: "s3://\(bucket)/\(key)",
                message: "\"\(bucket)\" is not a valid S3 bucket name")
        }
        var signingRegion = region
        var followedRedirect = false
        while true {
            var request = try request(method: method, bucket: bucket, key: key, region: signingRegion)
            for field in headers { request.headers.add(field.name, field.value) }
            request.headers.add("x-amz-checksum-mode", "ENABLED")
            if case .fileDescriptor = sink { request.timeouts = .download }
            let signer = SigV4Signer(service: "s3", region: signingRegion, uriRule: .s3, addContentHashHeader: true)
            do {
                let response = try await client.execute(
                    request, signer: signer, operation: operation, sink: sink,
                    payloadHash: SigV4Signer.emptyPayloadHash)
                return Self.info(response)
            } catch var error as AWSError {
                error.resource = "s3://\(bucket)/\(key)"
                if !followedRedirect, let other = Self.redirectRegion(error), other != signingRegion {
                    followedRedirect = true
                    client.logger.info(
                        "bucket is in another region; signing again for it",
                        metadata: ["s3.bucket": "\(bucket)", "s3.region": "\(other)"])
                    signingRegion = other
                    continue
                }
                throw Self.explain(error, bucket: bucket, key: key)
            }
        }
    }

    private func request(method: String, bucket: String, key: String, region: String) throws -> HTTPRequest {
        let encodedKey = PercentEncoding.encode(key, keepSlash: true)
        if let override = try client.endpoints.override(for: .s3) {
            return HTTPRequest(
                method: method, endpoint: override, path: override.basePath + "/\(bucket)/\(encodedKey)")
        }
        let suffix = EndpointResolver.dnsSuffix(region: region)
        if bucket.contains(".") {
            return HTTPRequest(
                method: method, endpoint: Endpoint(scheme: "https", host: "s3.\(region).\(suffix)"),
                path: "/\(bucket)/\(encodedKey)")
        }
        return HTTPRequest(
            method: method, endpoint: Endpoint(scheme: "https", host: "\(bucket).s3.\(region).\(suffix)"),
            path: "/\(encodedKey)")
    }

    /// The region an error answer points to (301 `PermanentRedirect`, 307, 400 `AuthorizationHeaderMalformed`).
    static func redirectRegion(_ error: AWSError) -> String? {
        guard let status = error.httpStatus, [301, 307, 400].contains(status) else { return nil }
        return error.details["x-amz-bucket-region"] ?? error.details["Region"]
    }

    /// Adds what to do about the common failures to the message.
    static func explain(_ error: AWSError, bucket: String, key: String) -> AWSError {
        var error = error
        switch error.code {
        case "NoSuchKey", "NotFound":
            error.message =
                "no object s3://\(bucket)/\(key) (\(error.message.isEmpty ? "HTTP 404" : error.message)); check app.source"
        case "NoSuchBucket":
            error.message = "the bucket \(bucket) does not exist; check app.source"
        case "AccessDenied", "Forbidden":
            error.message =
                "access denied to s3://\(bucket)/\(key)\(error.message.isEmpty ? "" : " (\(error.message))"); the instance role needs s3:GetObject on arn:aws:s3:::\(bucket)/\(key) (and s3:ListBucket on the bucket to tell a missing key from a denied one)"
        default:
            break
        }
        return error
    }

    static func info(_ response: HTTPResponse) -> ObjectInfo {
        let length = response.headers["content-length"].flatMap { Int64($0) }
        var size = length
        if let range = response.headers["content-range"], let slash = range.lastIndex(of: "/") {
            size = Int64(range[range.index(after: slash)...])
        }
        return ObjectInfo(
            status: response.status, contentLength: length, objectSize: size, etag: response.headers["etag"],
            checksumSHA256: response.headers["x-amz-checksum-sha256"],
            checksumType: response.headers["x-amz-checksum-type"], versionID: response.headers["x-amz-version-id"],
            bytesWritten: response.bytesWritten)
    }

    /// S3 general-purpose bucket naming rules: 3–63 characters of `a-z 0-9 . -`, starting and ending with a letter
    /// or digit (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
    public static func isValidBucketName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (3...63).contains(bytes.count) else { return false }
        for byte in bytes {
            let allowed = (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte) || byte == 0x2E || byte == 0x2D
            if !allowed { return false }
        }
        let edge: (UInt8) -> Bool = { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) }
        return edge(bytes.first!) && edge(bytes.last!)
    }
}
