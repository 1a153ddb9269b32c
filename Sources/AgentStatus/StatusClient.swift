#if canImport(Glibc)
    import Glibc
#endif

/// Asks a running agent over its status socket.
public enum StatusClient {
    /// `GET path` on the socket; returns the status code and body.
    /// - Throws: `StatusError` saying no agent runs when the socket is missing or nobody listens.
    public static func get(_ path: String, socket socketPath: String, timeoutSeconds: Int = 5) throws -> (Int, [UInt8])
    {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw StatusError(message: "cannot create a socket", errno: errno) }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = try StatusServer.address(socketPath)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            let code = errno
            if code == ENOENT || code == ECONNREFUSED {
                throw StatusError(message: "no clock-agent is running (nothing listens on \(socketPath))")
            }
            if code == EACCES {
                throw StatusError(message: "permission denied on \(socketPath): run as root (or as the agent's user)")
            }
            throw StatusError(message: "cannot connect to \(socketPath)", errno: code)
        }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: clock-agent\r\nConnection: close\r\n\r\n".utf8)
        guard StatusSocketIO.sendAll(request, to: fd) else {
            throw StatusError(message: "the agent closed \(socketPath) before taking the request", errno: errno)
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 { throw StatusError(message: "the agent did not answer on \(socketPath)", errno: errno) }
            if count == 0 { break }
            response.append(contentsOf: buffer[0..<count])
        }
        guard let split = response.firstRange(of: [0x0D, 0x0A, 0x0D, 0x0A]) else {
            throw StatusError(message: "the agent's answer on \(socketPath) is not HTTP")
        }
        let head = String(decoding: response[..<split.lowerBound], as: UTF8.self)
        let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return (status, Array(response[split.upperBound...]))
    }
}
