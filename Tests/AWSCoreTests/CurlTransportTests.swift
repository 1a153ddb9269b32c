import AWSCore
import Foundation
import Testing
import TestSupport

/// The libcurl transport against a real HTTP server on loopback.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct CurlTransportTests {
    let server: ServerProcess
    let transport = CurlTransport(userAgent: "clock-agent-test")

    init() async throws {
        server = try await ServerProcess.start(script: "servers/http_test_server.py")
    }

    var endpoint: Endpoint { Endpoint(scheme: "http", host: "127.0.0.1", port: server.port) }

    func echo(_ response: HTTPResponse) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(response.body)) as! [String: Any]
    }

    @Test func sendsHeadersAndBodyAndReusesTheConnection() async throws {
        var request = HTTPRequest(method: "POST", endpoint: endpoint, path: "/echo", body: Array("hello".utf8))
        request.headers.add("Content-Type", "text/plain")
        request.headers.add("X-Amz-Target", "Test.Op")
        let first = try echo(try await transport.send(request))
        let second = try echo(try await transport.send(request))
        let headers = first["headers"] as! [String: String]
        #expect(first["method"] as? String == "POST")
        #expect(first["body_length"] as? Int == 5)
        #expect(headers["x-amz-target"] == "Test.Op")
        #expect(headers["content-type"] == "text/plain")
        #expect(headers["user-agent"] == "clock-agent-test")
        #expect(headers["expect"] == nil)
        // Keep-alive: both requests came over the same TCP connection (same client port).
        #expect(first["client_port"] as? Int == second["client_port"] as? Int)
    }

    @Test func putWithoutBodyAndHead() async throws {
        let put = try echo(try await transport.send(HTTPRequest(method: "PUT", endpoint: endpoint, path: "/echo")))
        #expect(put["method"] as? String == "PUT")
        #expect((put["headers"] as! [String: String])["content-type"] == nil)
        let head = try await transport.send(
            HTTPRequest(method: "HEAD", endpoint: endpoint, path: "/bytes", query: "n=1000"))
        #expect(head.status == 200)
        #expect(head.headers["content-length"] == "1000")
        #expect(head.body.isEmpty)
    }

    @Test func pathIsSentExactlyAsBuilt() async throws {
        let path = "/echo/a%20b//c/./d/../e%2Bf"
        let answer = try echo(try await transport.send(HTTPRequest(method: "GET", endpoint: endpoint, path: path)))
        #expect(answer["raw_path"] as? String == path)
    }

    @Test func errorStatusesAreAnswersNotErrors() async throws {
        let response = try await transport.send(
            HTTPRequest(method: "GET", endpoint: endpoint, path: "/status", query: "code=503"))
        #expect(response.status == 503)
        #expect(response.bodyText == "status body")
    }

    @Test func streamsTwoHundredsToAFileDescriptor() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/download"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        defer { close(fd) }
        let response = try await transport.send(
            HTTPRequest(method: "GET", endpoint: endpoint, path: "/bytes", query: "n=3000000"),
            sink: .fileDescriptor(fd))
        #expect(response.bytesWritten == 3_000_000)
        #expect(response.body.isEmpty)
        let written = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(written.count == 3_000_000)
        #expect(written[1000] == UInt8(1000 % 251))
        // A non-2xx answer goes to memory so the error can be read, not into the file.
        let failed = try await transport.send(
            HTTPRequest(method: "GET", endpoint: endpoint, path: "/status", query: "code=404"),
            sink: .fileDescriptor(fd))
        #expect(failed.status == 404)
        #expect(failed.bodyText == "status body")
    }

    @Test func memoryLimitIsEnforced() async throws {
        let error = await #expect(throws: AWSError.self) {
            _ = try await self.transport.send(
                HTTPRequest(method: "GET", endpoint: self.endpoint, path: "/bytes", query: "n=100000"),
                sink: .memory(limit: 1000))
        }
        #expect(error?.description.contains("larger than 1000 bytes") == true)
    }

    @Test func timeoutsAreTransportErrors() async throws {
        var request = HTTPRequest(method: "GET", endpoint: endpoint, path: "/slow", query: "ms=3000")
        request.timeouts = HTTPTimeouts(connectMilliseconds: 1000, totalMilliseconds: 300)
        // The server answers after 3 s; a timeout error (not an answer) shows the 300 ms limit worked.
        let error = await #expect(throws: AWSError.self) { _ = try await self.transport.send(request) }
        #expect(error?.kind == .transport)
        #expect(error?.isTimeout == true)
        #expect(error.map(RetryPolicy.isRetryable) == true)
    }

    @Test func droppedConnectionsArePartialTransfers() async throws {
        let error = await #expect(throws: AWSError.self) {
            _ = try await self.transport.send(
                HTTPRequest(method: "GET", endpoint: self.endpoint, path: "/drop", query: "n=10&of=100"))
        }
        #expect(error?.code == "curl 18")
        #expect(error.map(RetryPolicy.isRetryable) == true)
    }

    @Test func refusedConnectionsAreRetryableTransportErrors() async throws {
        let closed = Endpoint(scheme: "http", host: "127.0.0.1", port: 1)
        let error = await #expect(throws: AWSError.self) {
            _ = try await self.transport.send(HTTPRequest(method: "GET", endpoint: closed, path: "/"))
        }
        #expect(error?.code == "curl 7")
        #expect(error?.description.contains("http://127.0.0.1:1/") == true)
        #expect(error.map(RetryPolicy.isRetryable) == true)
    }

    @Test func cancellationEndsAWaitingRequest() async throws {
        let request = HTTPRequest(method: "GET", endpoint: endpoint, path: "/slow", query: "ms=5000")
        let transport = self.transport
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    _ = try await transport.send(request)
                    Issue.record("expected cancellation")
                } catch let error as AWSError {
                    #expect(error.kind == .cancelled)
                } catch {
                    Issue.record("unexpected \(error)")
                }
            }
            try? await Task.sleep(for: .milliseconds(200))
            group.cancelAll()
        }
    }

    @Test func manyConcurrentRequests() async throws {
        let endpoint = self.endpoint
        let transport = self.transport
        let statuses = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<40 {
                group.addTask {
                    (try? await transport.send(
                        HTTPRequest(method: "GET", endpoint: endpoint, path: "/bytes", query: "n=10000")))?.status ?? 0
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses.count == 40)
        #expect(statuses.allSatisfy { $0 == 200 })
    }
}

/// TLS verification is always on; AWS_CA_BUNDLE adds trust for a private CA.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct CurlTLSTests {
    let directory: TemporaryDirectory
    let server: ServerProcess

    init() async throws {
        directory = try TemporaryDirectory()
        let arguments = [
            "/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", directory.path + "/key.pem", "-out",
            directory.path + "/cert.pem",
        ]
        _ = try await DedicatedThread.run { () throws(any Error) -> Data in try Command.run(arguments, timeout: 60) }
        server = try await ServerProcess.start(
            script: "servers/http_test_server.py",
            arguments: ["--tls", directory.path + "/cert.pem", directory.path + "/key.pem"])
    }

    @Test func selfSignedCertificateIsRefusedWithoutTheBundle() async throws {
        let transport = CurlTransport()
        let request = HTTPRequest(
            method: "GET", endpoint: Endpoint(scheme: "https", host: "127.0.0.1", port: server.port), path: "/bytes",
            query: "n=10")
        let error = await #expect(throws: AWSError.self) { _ = try await transport.send(request) }
        #expect(error?.code == "curl 60")
        #expect(error.map(RetryPolicy.isRetryable) == false)
    }

    @Test func caBundleIsHonoured() async throws {
        let transport = CurlTransport(caBundle: directory.path + "/cert.pem")
        let request = HTTPRequest(
            method: "GET", endpoint: Endpoint(scheme: "https", host: "127.0.0.1", port: server.port), path: "/bytes",
            query: "n=10")
        let response = try await transport.send(request)
        #expect(response.status == 200)
        #expect(response.body.count == 10)
    }
}
