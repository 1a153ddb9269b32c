import AWSCore
import Logging
import Synchronization

/// A scripted `HTTPTransport`: answers each request with the next handler's result and records what was sent.
public final class FakeTransport: HTTPTransport, Sendable {
    /// Produces the answer to one request (or throws a transport error).
    public typealias Handler = @Sendable (HTTPRequest) throws -> HTTPResponse

    private let state: Mutex<(handlers: [Handler], fallback: Handler?, sent: [HTTPRequest])>

    /// Creates a transport answering with `handlers` in order, then with `fallback` for every further request.
    public init(_ handlers: [Handler] = [], fallback: Handler? = nil) {
        state = Mutex((handlers: handlers, fallback: fallback, sent: []))
    }

    /// Every request sent so far.
    public var sent: [HTTPRequest] { state.withLock { $0.sent } }

    public func send(_ request: HTTPRequest, sink: ResponseSink) async throws -> HTTPResponse {
        let handler: Handler? = state.withLock { state in
            state.sent.append(request)
            return state.handlers.isEmpty ? state.fallback : state.handlers.removeFirst()
        }
        guard let handler else {
            throw AWSError(
                kind: .transport, service: "http", operation: request.method, code: "curl 7",
                message: "no scripted answer")
        }
        return try handler(request)
    }

    /// A response with a text body.
    public static func response(_ status: Int, _ body: String = "", headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: HTTPHeaders(headers), body: Array(body.utf8))
    }

    /// A transport error as libcurl reports a timeout.
    public static func timeout() -> AWSError {
        AWSError(
            kind: .transport, service: "http", operation: "GET", code: "curl 28", message: "timed out", isTimeout: true)
    }
}

/// A wall clock the test sets.
public final class ManualClock: WallClock, Sendable {
    private let time: Mutex<UTCTime>

    /// Starts at the given time.
    public init(_ start: UTCTime) { time = Mutex(start) }

    public func now() -> UTCTime { time.withLock { $0 } }

    /// Moves the clock.
    public func advance(_ seconds: Double) { time.withLock { $0 = $0.adding(seconds) } }
}

extension AWSClient {
    /// The static credentials test clients sign with.
    public static let testCredentials = StaticCredentialsProvider(
        Credentials(accessKeyID: "AKIATEST00000000", secretAccessKey: "s3cr3t"))

    /// A client for tests over `transport` (a fake): the test credentials, and every service at an address nothing
    /// listens on unless `endpoints` names others.
    public static func testing(
        over transport: any HTTPTransport, endpoints: [String: String] = ["AWS_ENDPOINT_URL": "http://127.0.0.1:9"],
        clock: any WallClock = SystemClock(), logger: Logger = LogCapture().logger()
    ) -> AWSClient {
        AWSClient(
            transport: transport, credentials: testCredentials, clock: ClockCorrection(base: clock),
            endpoints: EndpointResolver(environment: Environment(endpoints)), logger: logger)
    }
}
