import AWSCore
import AgentStatus
import Foundation
import Synchronization
import TestSupport
import Testing

/// The status server on a loopback TCP port (`metrics.listen`), over IPv4 and IPv6: it answers through its handler,
/// and a port already taken is an error that names the address.
@Suite struct StatusServerTests {
    /// Whether `::1` can be bound here (IPv6 is off in some containers).
    static let hasIPv6Loopback: Bool = (try? LoopbackPort.unused(ipv6: true)) != nil

    @Test func servesOnIPv4Loopback() async throws { try await servesOnALoopbackPort(host: "127.0.0.1") }

    @Test(.enabled(if: hasIPv6Loopback, "::1 can't be bound here")) func servesOnIPv6Loopback() async throws {
        try await servesOnALoopbackPort(host: "::1")
    }

    func servesOnALoopbackPort(host: String) async throws {
        let ipv6 = host.contains(":")
        let port = try LoopbackPort.unused(ipv6: ipv6)
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

    /// A client that trickles its request a byte at a time doesn't hold the server (one connection at a time): the
    /// whole request must arrive within `StatusServer.requestDeadline`, and the next client is answered.
    @Test func aTricklingClientDoesNotHoldTheServer() async throws {
        let port = try LoopbackPort.unused(ipv6: false)
        let server = try StatusServer(loopbackHost: "127.0.0.1", port: port) { _ in (200, "text/plain", [0x31]) }
        defer { server.stop() }
        let trickler = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(trickler) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(trickler, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        try #require(connected == 0)
        let start = Array("GET /metrics HTTP/1.1\r\n".utf8)
        #expect(send(trickler, start, start.count, Int32(MSG_NOSIGNAL)) == start.count)
        // One header byte every 200 ms for up to 30 s, off the test's thread, until the server hangs up.
        let fd = trickler
        let finished = Flag()
        let trickling = Thread {
            defer { finished.value.store(true, ordering: .releasing) }
            for _ in 0..<150 {
                var byte: UInt8 = 0x58
                if send(fd, &byte, 1, Int32(MSG_NOSIGNAL)) != 1 { return }
                usleep(200_000)
            }
        }
        trickling.start()
        try await Task.sleep(for: .milliseconds(300))

        // Limits well above the 2 s deadline (a loaded machine), far below the 30 s the trickle would take.
        var request = HTTPRequest(
            method: "GET", endpoint: Endpoint(scheme: "http", host: "127.0.0.1", port: Int(port)), path: "/metrics")
        request.timeouts = HTTPTimeouts(connectMilliseconds: 15_000, totalMilliseconds: 15_000)
        let answer = try await CurlTransport(userAgent: "status-server-test").send(request)
        #expect(answer.status == 200 && answer.body == [0x31])
        // The server hung up on the trickler too (its sends fail); wait for its thread before closing the descriptor
        // it writes to, so no byte can land in a descriptor reused by another test.
        let giveUp = ContinuousClock.now.advanced(by: .seconds(40))
        while !finished.isSet, ContinuousClock.now < giveUp {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(finished.isSet)
    }

    /// A flag shared with a thread.
    final class Flag: Sendable {
        let value = Atomic<Bool>(false)
        var isSet: Bool { value.load(ordering: .acquiring) }
    }
}
