import AWSCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Serves the agent's state on a unix socket in `state_dir` (mode 0600: only root, or the agent's user, may
/// connect): `GET /status` answers JSON, `GET /metrics` the Prometheus text format. Plain HTTP/1.1 with one
/// request per connection, so `curl --unix-socket /var/lib/clock-agent/status.sock http://agent/status` works too.
/// The same server on a loopback TCP port (`metrics.listen`) answers what its handler allows (only `/metrics`).
/// Runs on a thread of its own; each answer is built from state the agent keeps current, without waiting.
public final class StatusServer: Sendable {
    /// Builds the answer to a path: status code, content type, body.
    public typealias Handler = @Sendable (String) -> (status: Int, contentType: String, body: [UInt8])

    /// Where it listens: the socket's path, or `127.0.0.1:PORT` / `[::1]:PORT`.
    public let path: String
    private let isUnixSocket: Bool
    private let listener: Int32
    private let handler: Handler
    private let stopped = Atomic<Bool>(false)

    /// Listens on a loopback TCP address (`host` numeric: `127.x.y.z` or `::1`) and starts serving.
    /// - Throws: `StatusError` naming the address (e.g. the port is taken).
    public init(loopbackHost host: String, port: UInt16, handler: @escaping Handler) throws {
        let ipv6 = host.contains(":")
        path = ipv6 ? "[\(host)]:\(port)" : "\(host):\(port)"
        isUnixSocket = false
        self.handler = handler
        let fd = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw StatusError(message: "cannot create a socket for \(path)", errno: errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound: Int32
        if ipv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, host, &address.sin6_addr) == 1 else {
                close(fd)
                throw StatusError(message: "not a numeric IPv6 address: \(host)")
            }
            bound = Self.bind(fd, to: address)
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
                close(fd)
                throw StatusError(message: "not a numeric IPv4 address: \(host)")
            }
            bound = Self.bind(fd, to: address)
        }
        try Self.listen(fd, bound: bound, at: path)
        listener = fd
        DedicatedThread.start(name: "metrics") { [self] in serve() }
    }

    /// Binds the socket (replacing a stale one left by a crashed agent) and starts serving.
    public init(path: String, handler: @escaping Handler) throws {
        self.path = path
        isUnixSocket = true
        self.handler = handler
        let address = try Self.address(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw StatusError(message: "cannot create the status socket", errno: errno) }
        unlink(path)
        let previousMask = umask(0o177)
        let bound = Self.bind(fd, to: address)
        umask(previousMask)
        try Self.listen(fd, bound: bound, at: path)
        chmod(path, 0o600)
        listener = fd
        DedicatedThread.start(name: "status") { [self] in serve() }
    }

    /// Stops serving (and removes the unix socket).
    public func stop() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        if isUnixSocket { unlink(path) }
    }

    /// `bind(2)` to a `sockaddr_in`, `sockaddr_in6` or `sockaddr_un`; its result.
    private static func bind<Address>(_ fd: Int32, to address: Address) -> Int32 {
        withUnsafePointer(to: address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<Address>.size))
            }
        }
    }

    /// Starts listening on a socket `bind` returned `bound` for; closes it and throws, naming `path`, when either
    /// failed.
    private static func listen(_ fd: Int32, bound: Int32, at path: String) throws {
        guard bound == 0, Glibc.listen(fd, 16) == 0 else {
            let code = errno
            close(fd)
            throw StatusError(message: "cannot listen on \(path)", errno: code)
        }
    }

    /// The `sockaddr_un` of a socket path.
    /// - Throws: `StatusError` when the path doesn't fit (at most 107 bytes).
    static func address(_ path: String) throws -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw StatusError(message: "the status socket path \(path) is too long (at most 107 bytes)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        return address
    }

    private func serve() {
        while !stopped.load(ordering: .relaxed) {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                break
            }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            answer(connection)
            close(connection)
        }
        close(listener)
    }

    /// How long a client may take to send its request, all of it: one connection is served at a time, so a client
    /// trickling bytes must not hold the others off (a per-read timeout would let it).
    static let requestDeadline: Duration = .seconds(2)

    private func answer(_ connection: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(connection, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let deadline = ContinuousClock.now.advanced(by: Self.requestDeadline)
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while request.count < 16 * 1024 {
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { break }
            var ready = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(
                left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)
            let polled = poll(&ready, 1, max(1, milliseconds))
            if polled < 0, errno == EINTR { continue }
            guard polled > 0 else { break }
            let count = read(connection, &buffer, buffer.count)
            if count <= 0 { break }
            request.append(contentsOf: buffer[0..<count])
            if request.count >= 4, request.suffix(4).elementsEqual([0x0D, 0x0A, 0x0D, 0x0A]) { break }
            if request.contains(0x0A), !request.starts(with: Array("GET".utf8)),
                !request.starts(with: Array("HEAD".utf8))
            {
                break
            }
        }
        let line = String(decoding: request.prefix { $0 != 0x0D && $0 != 0x0A }, as: UTF8.self)
        let parts = line.split(separator: " ")
        let (status, type, body): (Int, String, [UInt8])
        if parts.count >= 2, parts[0] == "GET" {
            let target = String(parts[1])
            (status, type, body) = handler(String(target.prefix { $0 != "?" }))
        } else {
            (status, type, body) = (405, "text/plain", Array("only GET is supported\n".utf8))
        }
        let reason = status == 200 ? "OK" : status == 404 ? "Not Found" : "Error"
        var response = Array(
            "HTTP/1.1 \(status) \(reason)\r\nContent-Type: \(type)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
                .utf8)
        response.append(contentsOf: body)
        StatusSocketIO.sendAll(response, to: connection)
    }
}

/// A status socket problem, worded for the operator (`no clock-agent is running (nothing listens on …)`).
public struct StatusError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, naming the socket path.
    public var message: String
    /// The system error behind it, if any (appended to the description as `strerror` text).
    public var errno: Int32?

    /// Creates an error.
    public init(message: String, errno: Int32? = nil) {
        self.message = message
        self.errno = errno
    }

    /// The message and, when there is one, the system error's text.
    public var description: String {
        guard let errno else { return message }
        return "\(message): \(String(cString: strerror(errno)))"
    }
}

/// Writes on the status socket's connections without ever raising `SIGPIPE`.
///
/// A peer that hangs up early (a `curl` interrupted, a `clock-agent status` killed by its timeout) makes `write(2)`
/// raise `SIGPIPE`, whose default action ends the process: outside systemd (which sets `IgnoreSIGPIPE=yes`) that
/// would kill the agent, or the asking command. `send(2)` with `MSG_NOSIGNAL` reports `EPIPE` instead.
enum StatusSocketIO {
    /// Sends every byte, retrying after `EINTR`; gives up quietly when the peer is gone or the send times out.
    /// - Returns: whether everything was sent.
    @discardableResult
    static func sendAll(_ bytes: [UInt8], to fd: Int32) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes {
                send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent < 0, errno == EINTR { continue }
            if sent <= 0 { return false }
            offset += sent
        }
        return true
    }
}
