import AWSCore
import Crypto
import Foundation
import Testing
import TestSupport

/// Request bodies above the copy limit are read by curl from the request itself; they must arrive whole, and the
/// handle must serve small bodies again afterwards.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct CurlLargeBodyTests {
    let server: ServerProcess
    let transport = CurlTransport(userAgent: "clock-agent-test")

    init() async throws {
        server = try await ServerProcess.start(script: "servers/http_test_server.py")
    }

    var endpoint: Endpoint { Endpoint(scheme: "http", host: "127.0.0.1", port: server.port) }

    func echo(_ body: [UInt8], method: String = "POST") async throws -> [String: Any] {
        let response = try await transport.send(
            HTTPRequest(method: method, endpoint: endpoint, path: "/echo", body: body))
        return try JSONSerialization.jsonObject(with: Data(response.body)) as! [String: Any]
    }

    @Test(arguments: [64 * 1024, 64 * 1024 + 1, 1_200_000, 3_000_001])
    func largeBodiesArriveWhole(size: Int) async throws {
        let body = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        let expected = SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined()
        for method in ["POST", "PUT"] {
            let answer = try await echo(body, method: method)
            #expect(answer["method"] as? String == method)
            #expect(answer["body_length"] as? Int == size)
            #expect(answer["body_sha256"] as? String == expected)
            #expect((answer["headers"] as! [String: String])["expect"] == nil)
        }
        // The same (recycled) handles carry a small body next.
        let small = try await echo(Array("small".utf8))
        #expect(small["body_length"] as? Int == 5)
    }
}
