import AWSCore
import AgentStatus
import Foundation
import Testing

/// The status server on a loopback TCP port (`metrics.listen`), over IPv4 and IPv6: it answers through its handler,
/// and a port already taken is an error that names the address.
@Suite struct StatusServerTests {
    /// A loopback port nothing listens on right now (bound to port 0, read back, closed).
    static func freePort(ipv6: Bool) throws -> UInt16 {
        let fd = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let bound = withUnsafeMutablePointer(to: &storage) { pointer -> Int32 in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address -> Int32 in
                if ipv6 {
                    var any = sockaddr_in6()
                    any.sin6_family = sa_family_t(AF_INET6)
                    any.sin6_addr = in6addr_loopback
                    return withUnsafePointer(to: &any) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                        }
                    }
                }
                var any = sockaddr_in()
                any.sin_family = sa_family_t(AF_INET)
                any.sin_addr.s_addr = inet_addr("127.0.0.1")
                return withUnsafePointer(to: &any) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
        }
        try #require(bound == 0, "bind: \(String(cString: strerror(errno)))")
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
    }

    @Test(arguments: ["127.0.0.1", "::1"])
    func servesOnALoopbackPort(host: String) async throws {
        let ipv6 = host.contains(":")
        let port = try Self.freePort(ipv6: ipv6)
        let server = try StatusServer(loopbackHost: host, port: port) { path in
            path == "/metrics" ? (200, "text/plain", Array("clock_up 1\n".utf8)) : (404, "text/plain", [])
        }
        defer { server.stop() }
        #expect(server.path == (ipv6 ? "[::1]:\(port)" : "127.0.0.1:\(port)"))

        let transport = CurlTransport(userAgent: "status-server-test")
        let endpoint = Endpoint(scheme: "http", host: host, port: Int(port))
        let metrics = try await transport.send(HTTPRequest(method: "GET", endpoint: endpoint, path: "/metrics"))
        #expect(metrics.status == 200)
        #expect(String(decoding: metrics.body, as: UTF8.self) == "clock_up 1\n")
        let other = try await transport.send(HTTPRequest(method: "GET", endpoint: endpoint, path: "/status"))
        #expect(other.status == 404)

        // A second server on the same port: refused, and the error names the address.
        #expect {
            try StatusServer(loopbackHost: host, port: port) { _ in (200, "text/plain", []) }
        } throws: { error in
            "\(error)" == "cannot listen on \(server.path): Address already in use"
        }
    }
}
