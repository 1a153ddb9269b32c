import AWSCore
import Testing
import TestSupport

/// The URL libcurl is given for endpoints with and without a path prefix (`AWS_EC2_METADATA_SERVICE_ENDPOINT`,
/// `AWS_ENDPOINT_URL_*` may carry one): the prefix appears once, and it is part of the path SigV4 signs.
@Suite struct RequestURLTests {
    static func token(_ request: HTTPRequest) -> HTTPResponse {
        FakeTransport.response(200, "TOKEN-1", headers: [("X-aws-ec2-metadata-token-ttl-seconds", "21600")])
    }

    /// IMDS at `AWS_EC2_METADATA_SERVICE_ENDPOINT`: the token PUT and a GET.
    @Test(arguments: [
        ("http://127.0.0.1:1234", "http://127.0.0.1:1234"),
        ("http://127.0.0.1:1234/", "http://127.0.0.1:1234"),
        ("http://127.0.0.1:1234/some/prefix", "http://127.0.0.1:1234/some/prefix"),
        ("http://127.0.0.1:1234/some/prefix/", "http://127.0.0.1:1234/some/prefix"),
        ("http://127.0.0.1:1234/some/prefix//", "http://127.0.0.1:1234/some/prefix"),
        ("http://[::1]:1234/imds/", "http://[::1]:1234/imds"),
        ("http://localhost/", "http://localhost"),
    ])
    func metadataURLs(configured: String, base: String) async throws {
        let endpoint = try #require(Endpoint(url: configured))
        let transport = FakeTransport([Self.token, { _ in FakeTransport.response(200, "i-0123456789abcdef0") }])
        let client = MetadataClient(endpoint: endpoint, transport: transport, logger: LogCapture().logger())
        #expect(try await client.get("meta-data/instance-id") == "i-0123456789abcdef0")
        let sent = transport.sent
        #expect(sent.map(\.url) == [base + "/latest/api/token", base + "/latest/meta-data/instance-id"])
        #expect(sent.map(\.displayURL) == sent.map(\.url))
    }

    /// S3 with an endpoint override is path-style: `<endpoint>/<bucket>/<key>`, the key percent-encoded once with
    /// its slashes kept (also doubled ones), and the signed path is the path of the URL.
    @Test(arguments: [
        ("http://127.0.0.1:9000", "app.tgz", "http://127.0.0.1:9000/webclock-bucket/app.tgz"),
        ("http://127.0.0.1:9000/", "a b/c.tgz", "http://127.0.0.1:9000/webclock-bucket/a%20b/c.tgz"),
        ("http://127.0.0.1:9000/s3", "100%.tgz", "http://127.0.0.1:9000/s3/webclock-bucket/100%25.tgz"),
        (
            "http://127.0.0.1:9000/s3/", "ünï/çødé.tgz",
            "http://127.0.0.1:9000/s3/webclock-bucket/%C3%BCn%C3%AF/%C3%A7%C3%B8d%C3%A9.tgz"
        ),
        ("http://127.0.0.1:9000/a/b/", "x//y.tgz", "http://127.0.0.1:9000/a/b/webclock-bucket/x//y.tgz"),
        ("https://s3.example.test/p/", "a+b=c&d.tgz", "https://s3.example.test/p/webclock-bucket/a%2Bb%3Dc%26d.tgz"),
    ])
    func s3PathStyleURLs(configured: String, key: String, expected: String) async throws {
        let transport = FakeTransport(fallback: { _ in
            FakeTransport.response(200, "", headers: [("ETag", "\"abc\""), ("Content-Length", "5")])
        })
        let client = AWSClient.testing(over: transport, endpoints: ["AWS_ENDPOINT_URL_S3": configured])
        _ = try await S3Client(client: client, region: "us-east-1").headObject(bucket: "webclock-bucket", key: key)
        let sent = try #require(transport.sent.first)
        #expect(sent.url == expected)
        let origin = "\(sent.endpoint.scheme)://\(sent.endpoint.hostHeader)"
        #expect(origin + sent.path == expected, "the signed path is the path the server sees")
    }

    /// JSON and Query services post to the endpoint's root, which is its base path when it has one.
    @Test(arguments: [
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000/"),
        ("http://127.0.0.1:5000/", "http://127.0.0.1:5000/"),
        ("http://127.0.0.1:5000/logs", "http://127.0.0.1:5000/logs/"),
        ("http://127.0.0.1:5000/logs/", "http://127.0.0.1:5000/logs/"),
    ])
    func cloudWatchLogsURLs(configured: String, expected: String) async throws {
        let transport = FakeTransport(fallback: { _ in FakeTransport.response(200, "{}") })
        let client = AWSClient.testing(
            over: transport, endpoints: ["AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": configured])
        let logs = CloudWatchLogsClient(client: client, region: "us-east-1")
        _ = try await logs.putLogEvents(group: "/g", stream: "s", events: [.init(timestamp: 1, message: "m")])
        #expect(transport.sent.map(\.url) == [expected])
    }

    /// A request built by hand: the query follows the path, and the base path is not added a second time.
    @Test func queryAndPrefix() throws {
        let endpoint = try #require(Endpoint(url: "http://127.0.0.1:8080/prefix/"))
        let request = HTTPRequest(method: "GET", endpoint: endpoint, path: endpoint.basePath + "/x", query: "a=1&b=%20")
        #expect(request.url == "http://127.0.0.1:8080/prefix/x?a=1&b=%20")
        #expect(request.displayURL == "http://127.0.0.1:8080/prefix/x")
    }
}
