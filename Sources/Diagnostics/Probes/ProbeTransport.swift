import AWSCore
import Synchronization

/// The transport of the doctor's AWS calls: caps every request's time limits and remembers the last `Date`
/// header AWS sent, with the local time it arrived, so the clock check can measure the skew.
final class ProbeTransport: HTTPTransport, Sendable {
    /// An AWS `Date` header and the local clock when it arrived.
    struct DateSample: Sendable, Equatable {
        /// The server's time (1 s resolution).
        var server: UTCTime
        /// The local wall clock when the answer arrived.
        var local: UTCTime
        /// Where the answer came from (`sts GetCallerIdentity`-style label is added by the caller).
        var host: String
    }

    private let base: any HTTPTransport
    private let timeouts: HTTPTimeouts
    private let clock: any WallClock
    private let samples = Mutex<[DateSample]>([])

    /// Wraps a transport; `clock` timestamps the `Date` samples.
    init(base: any HTTPTransport, timeouts: HTTPTimeouts, clock: any WallClock) {
        self.base = base
        self.timeouts = timeouts
        self.clock = clock
    }

    /// Every `Date` seen, oldest first.
    var dateSamples: [DateSample] { samples.withLock { $0 } }

    func send(_ request: HTTPRequest, sink: ResponseSink) async throws -> HTTPResponse {
        var request = request
        request.timeouts = HTTPTimeouts(
            connectMilliseconds: min(request.timeouts.connectMilliseconds, timeouts.connectMilliseconds),
            totalMilliseconds: request.timeouts.totalMilliseconds == 0
                ? timeouts.totalMilliseconds : min(request.timeouts.totalMilliseconds, timeouts.totalMilliseconds))
        let response = try await base.send(request, sink: sink)
        if let header = response.headers["date"], let server = UTCTime(httpDate: header) {
            let sample = DateSample(server: server, local: clock.now(), host: request.endpoint.hostHeader)
            samples.withLock { $0.append(sample) }
        }
        return response
    }
}
