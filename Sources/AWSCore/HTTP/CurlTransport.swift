import CCurl
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The HTTP transport of the agent: libcurl's multi interface driven by one dedicated thread.
///
/// Every transfer of the process runs on that thread, never on the Swift concurrency pool, so a slow or stalled
/// endpoint can't starve the agent's tasks. The multi handle keeps a connection cache per host, so requests to
/// the same endpoint reuse their TCP/TLS connection (keep-alive), and several requests may be in flight at once.
/// TLS verification is always on; `AWS_CA_BUNDLE` replaces the CA file; proxies come from the environment as
/// libcurl reads them (https://curl.se/libcurl/c/CURLOPT_PROXY.html, "Environment variables").
public final class CurlTransport: HTTPTransport, Sendable {
    private let loop: CurlLoop

    /// Starts the transport thread.
    /// - Parameters:
    ///   - caBundle: a PEM file of trusted CAs replacing the system's (`AWS_CA_BUNDLE`), or nil.
    ///   - userAgent: the `User-Agent` header value.
    ///   - maxConnectionsPerHost: parallel connections per host (requests beyond wait for one).
    public init(caBundle: String? = nil, userAgent: String = "clock-agent", maxConnectionsPerHost: Int = 8) {
        CurlGlobal.initialize()
        loop = CurlLoop(caBundle: caBundle, userAgent: userAgent, maxConnectionsPerHost: maxConnectionsPerHost)
        loop.start()
    }

    deinit {
        loop.stop()
    }

    public func send(_ request: HTTPRequest, sink: ResponseSink) async throws -> HTTPResponse {
        let transfer = CurlTransfer(request: request, sink: sink)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPResponse, any Error>) in
                transfer.continuation = continuation
                loop.submit(transfer)
            }
        } onCancel: {
            loop.cancel(transfer.id)
        }
    }
}

/// Process-wide `curl_global_init`, done once before the first handle (https://curl.se/libcurl/c/curl_global_init.html).
enum CurlGlobal {
    private static let initialized: Bool = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK
    }()

    static func initialize() {
        precondition(initialized, "curl_global_init failed")
    }
}

/// The thread and multi handle behind `CurlTransport`.
final class CurlLoop: @unchecked Sendable {
    private struct Shared {
        var pending: [CurlTransfer] = []
        var cancelled: Set<UInt64> = []
        var stopping = false
    }

    private let multi: UnsafeMutableRawPointer
    private let shared = Mutex(Shared())
    private let caBundle: String?
    private let userAgent: String
    // Owned by the loop thread only.
    private var active: [UnsafeMutableRawPointer: CurlTransfer] = [:]
    private var idleHandles: [CurlEasy] = []

    init(caBundle: String?, userAgent: String, maxConnectionsPerHost: Int) {
        guard let multi = curl_multi_init() else { fatalError("curl_multi_init returned NULL (out of memory)") }
        self.multi = multi
        self.caBundle = caBundle
        self.userAgent = userAgent
        _ = CCurl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, maxConnectionsPerHost)
    }

    func start() {
        DedicatedThread.start(name: "curl") { [self] in run() }
    }

    func submit(_ transfer: CurlTransfer) {
        shared.withLock { $0.pending.append(transfer) }
        curl_multi_wakeup(multi)
    }

    func cancel(_ id: UInt64) {
        shared.withLock { _ = $0.cancelled.insert(id) }
        curl_multi_wakeup(multi)
    }

    func stop() {
        shared.withLock { $0.stopping = true }
        curl_multi_wakeup(multi)
    }

    private func run() {
        var running: Int32 = 0
        while true {
            let (pending, cancelled, stopping) = shared.withLock { state in
                let taken = (state.pending, state.cancelled, state.stopping)
                state.pending.removeAll()
                state.cancelled.removeAll()
                return taken
            }
            for transfer in pending {
                if cancelled.contains(transfer.id) {
                    transfer.finish(.failure(transfer.cancellationError()))
                } else {
                    begin(transfer)
                }
            }
            for id in cancelled {
                if let (handle, transfer) = active.first(where: { $0.value.id == id }) {
                    active.removeValue(forKey: handle)
                    curl_multi_remove_handle(multi, handle)
                    recycle(transfer)
                    transfer.finish(.failure(transfer.cancellationError()))
                }
            }
            if stopping && active.isEmpty { break }
            curl_multi_perform(multi, &running)
            collectFinished()
            // Waits for socket activity, curl's own timers, or curl_multi_wakeup from submit/cancel/stop.
            // With nothing in flight this sleeps for a minute at a time: no busy polling.
            let timeout: Int32 = active.isEmpty ? 60_000 : 1_000
            curl_multi_poll(multi, nil, 0, timeout, nil)
        }
        for handle in idleHandles { handle.close() }
        idleHandles.removeAll()
        curl_multi_cleanup(multi)
    }

    private func begin(_ transfer: CurlTransfer) {
        let easy = idleHandles.popLast() ?? CurlEasy()
        transfer.easy = easy
        do {
            try easy.configure(for: transfer, caBundle: caBundle, userAgent: userAgent)
        } catch {
            recycle(transfer)
            transfer.finish(.failure(error))
            return
        }
        let code = curl_multi_add_handle(multi, easy.handle)
        guard code == CURLM_OK else {
            recycle(transfer)
            let text = String(cString: curl_multi_strerror(code))
            transfer.finish(.failure(transfer.transportError(code: "curlm \(code.rawValue)", message: text)))
            return
        }
        active[easy.handle] = transfer
    }

    private func collectFinished() {
        var remaining: Int32 = 0
        while let message = curl_multi_info_read(multi, &remaining) {
            guard message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle else { continue }
            let result = message.pointee.data.result
            curl_multi_remove_handle(multi, handle)
            guard let transfer = active.removeValue(forKey: handle) else { continue }
            let outcome = transfer.complete(curlCode: result)
            recycle(transfer)
            transfer.finish(outcome)
        }
    }

    private func recycle(_ transfer: CurlTransfer) {
        guard let easy = transfer.easy else { return }
        transfer.easy = nil
        transfer.releaseHeaders()
        easy.reset()
        if idleHandles.count < 16 { idleHandles.append(easy) } else { easy.close() }
    }
}
