import AWSCore
import Logging
import Synchronization
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// One S3 object served the way S3 serves it to `GetObject`/`HeadObject` with checksum mode on: ETag, size,
/// `x-amz-checksum-sha256`, `Range` (206, or 416 past the end) and `If-Match` (412) — plus faults a test scripts per
/// GET: a connection dropped after some bytes, corrupted bytes, an error status, the object replaced.
final class FakeS3: HTTPTransport, Sendable {
    /// What one GET does besides answering.
    enum Fault: Sendable {
        /// Writes this many bytes of the answer (at most all of them), then fails like a dropped connection (curl 18).
        case dropAfter(Int)
        /// Answers with the first byte flipped.
        case corrupt
        /// Answers with this status and an S3 error body.
        case status(Int, code: String)
        /// Replaces the object with these bytes before answering.
        case replace([UInt8])
    }

    struct Object {
        var bytes: [UInt8]
        var version = 1
        /// `x-amz-checksum-sha256` as S3 sends it; nil for none.
        var checksum: String?
        var checksumType: String?
        /// The number of parts of a multipart upload (its ETag ends in `-<parts>`); nil for a single PUT.
        var parts: Int?

        var etag: String { "\"etag-v\(version)\(parts.map { "-\($0)" } ?? "")\"" }
    }

    /// A request as the fake saw it.
    struct Seen: Sendable {
        var method: String
        var range: String?
        var ifMatch: String?
    }

    private struct State {
        var object: Object
        var faults: [Fault]
        var fallback: Fault?
        var seen: [Seen] = []
    }

    private let state: Mutex<State>

    /// Serves `bytes` with a whole-object checksum; `faults[i]` applies to GET number `i`, `fallback` to later ones.
    init(_ bytes: [UInt8], faults: [Fault] = [], fallback: Fault? = nil) {
        state = Mutex(
            State(object: Object(bytes: bytes, checksum: Self.checksum(bytes)), faults: faults, fallback: fallback))
    }

    /// S3's base64 SHA-256 of `bytes`.
    static func checksum(_ bytes: [UInt8]) -> String {
        Base64.encode(Hex.decode(SigV4Signer.sha256Hex(bytes)) ?? [])
    }

    /// Sets the checksum headers (e.g. a multipart composite `...-3` with type `COMPOSITE`) and the number of parts
    /// the object was uploaded in.
    func setChecksum(_ checksum: String?, type: String?, parts: Int? = nil) {
        state.withLock {
            $0.object.checksum = checksum
            $0.object.checksumType = type
            $0.object.parts = parts
        }
    }

    /// Every request so far.
    var seen: [Seen] { state.withLock { $0.seen } }

    /// The GETs so far.
    var gets: [Seen] { seen.filter { $0.method == "GET" } }

    /// The client the fetcher uses (path-style against a made-up endpoint; nothing leaves the process).
    func client(logger: Logger) -> S3Client {
        S3Client(client: .testing(over: self, logger: logger), region: "us-east-1")
    }

    func send(_ request: HTTPRequest, sink: ResponseSink) async throws -> HTTPResponse {
        let range = request.headers["Range"]
        let ifMatch = request.headers["If-Match"]
        let (object, fault) = state.withLock { state -> (Object, Fault?) in
            state.seen.append(Seen(method: request.method, range: range, ifMatch: ifMatch))
            var fault: Fault?
            if request.method == "GET" {
                let index = state.seen.filter { $0.method == "GET" }.count - 1
                fault = index < state.faults.count ? state.faults[index] : state.fallback
                if case .replace(let bytes) = fault {
                    state.object = Object(
                        bytes: bytes, version: state.object.version + 1, checksum: Self.checksum(bytes))
                }
            }
            return (state.object, fault)
        }
        var headers = [("ETag", object.etag), ("x-amz-request-id", "FAKE")]
        if let checksum = object.checksum { headers.append(("x-amz-checksum-sha256", checksum)) }
        if let type = object.checksumType { headers.append(("x-amz-checksum-type", type)) }
        if let ifMatch, ifMatch != object.etag { return Self.error(412, "PreconditionFailed") }
        if case .status(let status, let code) = fault { return Self.error(status, code) }
        if request.method == "HEAD" {
            return HTTPResponse(
                status: 200, headers: HTTPHeaders(headers + [("Content-Length", "\(object.bytes.count)")]), body: [])
        }
        var body = object.bytes
        var status = 200
        if let range, let start = Int(range.dropFirst("bytes=".count).dropLast()) {
            guard start < object.bytes.count else { return Self.error(416, "InvalidRange") }
            body = Array(object.bytes[start...])
            status = 206
            headers.append(("Content-Range", "bytes \(start)-\(object.bytes.count - 1)/\(object.bytes.count)"))
            // S3 sends no whole-object checksum with a range.
            headers.removeAll { $0.0.hasPrefix("x-amz-checksum") }
        }
        headers.append(("Content-Length", "\(body.count)"))
        if case .corrupt = fault { body[0] ^= 0xFF }
        var dropped = false
        if case .dropAfter(let count) = fault {
            body = Array(body.prefix(count))
            dropped = true
        }
        guard case .fileDescriptor(let fd) = sink else {
            return HTTPResponse(status: status, headers: HTTPHeaders(headers), body: body)
        }
        let written = body.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if dropped {
            throw AWSError(
                kind: .transport, service: "http", operation: "GET", code: "curl 18",
                message: "transfer closed with outstanding read data remaining")
        }
        return HTTPResponse(status: status, headers: HTTPHeaders(headers), body: [], bytesWritten: written)
    }

    static func error(_ status: Int, _ code: String) -> HTTPResponse {
        HTTPResponse(
            status: status, headers: HTTPHeaders([("Content-Type", "application/xml")]),
            body: Array("<Error><Code>\(code)</Code><Message>\(code)</Message></Error>".utf8))
    }
}
