import CCurl
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One request in flight: the request, where its answer goes, and the answer as it arrives.
///
/// Created by the caller's task, then touched only by the transport thread until `finish` resumes the caller.
final class CurlTransfer: @unchecked Sendable {
    private static let nextID = Atomic<UInt64>(1)

    let id: UInt64
    let request: HTTPRequest
    let sink: ResponseSink
    var continuation: CheckedContinuation<HTTPResponse, any Error>?
    var easy: CurlEasy?
    var headerList: UnsafeMutablePointer<curl_slist>?
    let errorBuffer: UnsafeMutablePointer<CChar>

    /// How much of the request body curl has read (`readBody`).
    private var uploadOffset = 0
    private var status = 0
    private var headers = HTTPHeaders()
    private var body: [UInt8] = []
    private var bytesWritten = 0
    private var sinkFailure: String?

    init(request: HTTPRequest, sink: ResponseSink) {
        id = Self.nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        self.request = request
        self.sink = sink
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit {
        releaseHeaders()
        errorBuffer.deallocate()
    }

    func releaseHeaders() {
        if let headerList { curl_slist_free_all(headerList) }
        headerList = nil
    }

    /// A header line: a status line starts a new header block (after 1xx or a proxy CONNECT answer).
    func receiveHeaderLine(_ line: UnsafeRawBufferPointer) {
        var end = line.count
        while end > 0, line[end - 1] == 0x0A || line[end - 1] == 0x0D { end -= 1 }
        guard end > 0 else { return }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: line[0..<end]), as: UTF8.self)
        if text.hasPrefix("HTTP/") {
            headers = HTTPHeaders()
            let parts = text.split(separator: " ", maxSplits: 2)
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            return
        }
        guard let colon = text.firstIndex(of: ":") else { return }
        let name = text[..<colon].lowercasedASCII()
        let value = text[text.index(after: colon)...].trimmingASCIIWhitespace()
        headers.add(name, value)
    }

    /// Copies the next bytes of the request body into curl's buffer; returns how many (0 at the end).
    func readBody(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        request.body.withUnsafeBytes { body in
            let count = min(buffer.count, body.count - uploadOffset)
            guard count > 0, let source = body.baseAddress, let destination = buffer.baseAddress else { return 0 }
            destination.copyMemory(from: source + uploadOffset, byteCount: count)
            uploadOffset += count
            return count
        }
    }

    /// Rewinds (or moves) the request body to `offset`; false when it is outside the body.
    func seekBody(to offset: Int) -> Bool {
        guard offset >= 0, offset <= request.body.count else { return false }
        uploadOffset = offset
        return true
    }

    /// Body bytes: to the file descriptor for a 2xx answer with a descriptor sink, else to memory.
    func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if case .fileDescriptor(let fd) = sink, (200..<300).contains(status) {
            var offset = 0
            while offset < bytes.count {
                let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    sinkFailure = "writing the response to the file failed: \(String(cString: strerror(errno)))"
                    return false
                }
                offset += written
            }
            bytesWritten += bytes.count
            return true
        }
        let limit: Int
        switch sink {
        case .memory(let max): limit = max
        case .fileDescriptor: limit = 1 << 20
        }
        guard body.count + bytes.count <= limit else {
            sinkFailure = "response body larger than \(limit) bytes"
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    /// Turns curl's result into the response or the error.
    func complete(curlCode: CURLcode) -> Result<HTTPResponse, any Error> {
        guard curlCode == CURLE_OK else {
            let detail = String(cString: errorBuffer)
            var message = sinkFailure ?? (detail.isEmpty ? String(cString: curl_easy_strerror(curlCode)) : detail)
            if sinkFailure == nil, curlCode == CURLE_OPERATION_TIMEDOUT { message = "timed out: " + message }
            return .failure(
                transportError(
                    code: "curl \(curlCode.rawValue)", message: message,
                    isTimeout: curlCode == CURLE_OPERATION_TIMEDOUT))
        }
        if status == 0, let easy { status = easy.responseCode }
        return .success(HTTPResponse(status: status, headers: headers, body: body, bytesWritten: bytesWritten))
    }

    func finish(_ outcome: Result<HTTPResponse, any Error>) {
        let continuation = self.continuation
        self.continuation = nil
        continuation?.resume(with: outcome)
    }

    func transportError(code: String, message: String, isTimeout: Bool = false) -> AWSError {
        AWSError(
            kind: .transport, service: "http", operation: request.method, resource: request.displayURL,
            code: code, message: message, isTimeout: isTimeout)
    }

    func cancellationError() -> AWSError {
        AWSError(
            kind: .cancelled, service: "http", operation: request.method, resource: request.displayURL,
            message: "cancelled")
    }
}

extension StringProtocol {
    /// Drops leading and trailing spaces, tabs and line breaks.
    public func trimmingASCIIWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
        var text = Substring(self)[...]
        while let first = text.first, isSpace(first) { text = text.dropFirst() }
        while let last = text.last, isSpace(last) { text = text.dropLast() }
        return String(text)
    }
}
