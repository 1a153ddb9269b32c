import Crypto

/// Signs requests with AWS Signature Version 4 (header form).
///
/// Follows "Create a signed AWS API request" (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html)
/// and is proven against AWS's own signing suite (`Tests/AWSCoreTests/SigV4SuiteTests.swift`). Two URI rules exist:
/// S3 signs the wire path as it is (no normalisation, no second encoding); every other service normalises the
/// path and encodes it once more.
public struct SigV4Signer: Sendable {
    /// How the canonical URI is derived from the wire path.
    public enum URIRule: Sendable {
        /// S3: the already-encoded wire path, used as is.
        case s3
        /// Other services: remove `.`/`..`/empty segments when `normalize` is true, then percent-encode (keeping `/`).
        case standard(normalize: Bool)
    }

    /// The service name in the credential scope, e.g. `s3`, `logs`, `autoscaling`, `sts`.
    public var service: String
    /// The region in the credential scope.
    public var region: String
    /// How the canonical URI is built.
    public var uriRule: URIRule
    /// Whether to add and sign `x-amz-content-sha256` (required by S3).
    public var addContentHashHeader: Bool
    /// Whether the session token is added after signing instead of being signed (a few services want that).
    public var omitSessionTokenFromSignature: Bool

    /// Creates a signer for one service and region.
    public init(
        service: String, region: String, uriRule: URIRule = .standard(normalize: true),
        addContentHashHeader: Bool = false, omitSessionTokenFromSignature: Bool = false
    ) {
        self.service = service
        self.region = region
        self.uriRule = uriRule
        self.addContentHashHeader = addContentHashHeader
        self.omitSessionTokenFromSignature = omitSessionTokenFromSignature
    }

    /// The empty body's SHA-256, which every GET signs.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// Headers never signed: they may be changed by proxies or added by the transport.
    private static let unsignedHeaders: Set<String> = ["authorization", "user-agent", "expect", "x-amzn-trace-id"]

    /// The intermediate results of signing, for tests and for diagnosing `SignatureDoesNotMatch`.
    public struct Result: Sendable {
        /// The canonical request.
        public var canonicalRequest: String
        /// The string to sign.
        public var stringToSign: String
        /// The hex signature.
        public var signature: String
        /// The `Authorization` header value.
        public var authorization: String
    }

    /// Signs the request in place: adds `Host` (if absent), `X-Amz-Date`, the session token, optionally
    /// `x-amz-content-sha256`, and `Authorization`.
    /// - Parameter payloadHash: the hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`; computed when nil.
    @discardableResult
    public func sign(
        _ request: inout HTTPRequest, credentials: Credentials, at time: UTCTime, payloadHash: String? = nil
    ) -> Result {
        let amzDate = time.amzDate
        let hash = payloadHash ?? Self.sha256Hex(request.body)
        if !request.headers.contains("host") { request.headers.add("Host", request.endpoint.hostHeader) }
        request.headers.replace("X-Amz-Date", amzDate)
        request.headers.remove("Authorization")
        if addContentHashHeader { request.headers.replace("x-amz-content-sha256", hash) }
        if let token = credentials.sessionToken {
            request.headers.remove("X-Amz-Security-Token")
            if !omitSessionTokenFromSignature { request.headers.add("X-Amz-Security-Token", token) }
        }

        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders(request.headers)
        let canonicalRequest = [
            request.method,
            canonicalURI(request.path),
            Self.canonicalQuery(request.query),
            canonicalHeaders,
            signedHeaders,
            hash,
        ].joined(separator: "\n")
        let scope = "\(time.scopeDate)/\(region)/\(service)/aws4_request"
        let stringToSign = "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n\(Self.sha256Hex(Array(canonicalRequest.utf8)))"
        let key = signingKey(secret: credentials.secretAccessKey, date: time.scopeDate)
        let signature = Hex.encode(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
        let authorization =
            "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        request.headers.add("Authorization", authorization)
        if let token = credentials.sessionToken, omitSessionTokenFromSignature {
            request.headers.add("X-Amz-Security-Token", token)
        }
        return Result(
            canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature,
            authorization: authorization)
    }

    /// Presigns a request in the query string ("Authenticating Requests: Using Query Parameters"): only `host` is
    /// signed and the payload is `UNSIGNED-PAYLOAD`. Returns the query to send (the request's own query plus the
    /// `X-Amz-*` parameters and the signature).
    public func presign(
        _ request: HTTPRequest, credentials: Credentials, at time: UTCTime, expires: Int
    ) -> (
        query: String, result: Result
    ) {
        let scope = "\(time.scopeDate)/\(region)/\(service)/aws4_request"
        var items = request.query.isEmpty ? [] : [request.query]
        items.append("X-Amz-Algorithm=AWS4-HMAC-SHA256")
        items.append("X-Amz-Credential=" + PercentEncoding.encode("\(credentials.accessKeyID)/\(scope)"))
        items.append("X-Amz-Date=\(time.amzDate)")
        items.append("X-Amz-Expires=\(expires)")
        if let token = credentials.sessionToken {
            items.append("X-Amz-Security-Token=" + PercentEncoding.encode(token))
        }
        items.append("X-Amz-SignedHeaders=host")
        let query = items.joined(separator: "&")
        var headers = HTTPHeaders()
        headers.add("host", request.headers["host"] ?? request.endpoint.hostHeader)
        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders(headers)
        let canonicalRequest = [
            request.method, canonicalURI(request.path), Self.canonicalQuery(query), canonicalHeaders, signedHeaders,
            "UNSIGNED-PAYLOAD",
        ].joined(separator: "\n")
        let stringToSign =
            "AWS4-HMAC-SHA256\n\(time.amzDate)\n\(scope)\n\(Self.sha256Hex(Array(canonicalRequest.utf8)))"
        let key = signingKey(secret: credentials.secretAccessKey, date: time.scopeDate)
        let signature = Hex.encode(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
        return (
            query + "&X-Amz-Signature=\(signature)",
            Result(
                canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature, authorization: "")
        )
    }

    /// The key of the day: HMAC chain `"AWS4"+secret` → date → region → service → `aws4_request`.
    func signingKey(secret: String, date: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array(("AWS4" + secret).utf8))
        for part in [date, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return key
    }

    /// The canonical URI of a wire path under this signer's rule.
    public func canonicalURI(_ wirePath: String) -> String {
        let path = wirePath.isEmpty ? "/" : wirePath
        switch uriRule {
        case .s3:
            return path
        case .standard(let normalize):
            return PercentEncoding.encode(normalize ? Self.removeDotSegments(path) : path, keepSlash: true)
        }
    }

    /// Removes `.`, `..` and empty segments, keeping a trailing slash (RFC 3986 §5.2.4 plus duplicate slashes).
    static func removeDotSegments(_ path: String) -> String {
        var segments: [Substring] = []
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        for part in parts {
            switch part {
            case "", ".": continue
            case "..": if !segments.isEmpty { segments.removeLast() }
            default: segments.append(part)
            }
        }
        var result = "/" + segments.joined(separator: "/")
        let last = parts.last ?? ""
        if !segments.isEmpty, last.isEmpty || last == "." || last == ".." { result += "/" }
        return result
    }

    /// The canonical query: pairs decoded, re-encoded, sorted by key then value; a missing value is `key=`.
    public static func canonicalQuery(_ query: String) -> String {
        guard !query.isEmpty else { return "" }
        var pairs: [(String, String)] = []
        for item in query.split(separator: "&", omittingEmptySubsequences: true) {
            let key: Substring
            let value: Substring
            if let equals = item.firstIndex(of: "=") {
                key = item[..<equals]
                value = item[item.index(after: equals)...]
            } else {
                key = item
                value = ""
            }
            pairs.append(
                (
                    PercentEncoding.encode(PercentEncoding.decode(key)),
                    PercentEncoding.encode(PercentEncoding.decode(value))
                ))
        }
        pairs.sort {
            $0.0 != $1.0
                ? $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) : $0.1.utf8.lexicographicallyPrecedes($1.1.utf8)
        }
        return pairs.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// The canonical header block (each line ending in a newline) and the signed header list.
    static func canonicalHeaders(_ headers: HTTPHeaders) -> (String, String) {
        var order: [String] = []
        var values: [String: [String]] = [:]
        for field in headers {
            let name = field.name.lowercasedASCII()
            guard !unsignedHeaders.contains(name) else { continue }
            if values[name] == nil { order.append(name) }
            values[name, default: []].append(canonicalValue(field.value))
        }
        order.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var block = ""
        for name in order { block += "\(name):\(values[name]!.joined(separator: ","))\n" }
        return (block, order.joined(separator: ";"))
    }

    /// Trims the value and collapses each run of whitespace (including folded line breaks) into one space.
    static func canonicalValue(_ value: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count)
        var pendingSpace = false
        for byte in value.utf8 {
            if byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(0x20) }
                pendingSpace = false
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Hex SHA-256 of bytes.
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        Hex.encode(SHA256.hash(data: bytes))
    }
}
