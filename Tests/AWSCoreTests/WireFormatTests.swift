import AWSCore
import Testing

@Suite struct WireFormatTests {
    @Test(
        arguments: [
            ("http://127.0.0.1:5000", "http", "127.0.0.1", 5000, "", "127.0.0.1:5000"),
            (
                "https://logs.us-east-1.amazonaws.com/", "https", "logs.us-east-1.amazonaws.com", nil, "",
                "logs.us-east-1.amazonaws.com"
            ),
            ("http://[::1]:8080/prefix/", "http", "::1", 8080, "/prefix", "[::1]:8080"),
            ("HTTPS://host:443", "https", "host", 443, "", "host"),
        ] as [(String, String, String, Int?, String, String)])
    func endpointParsing(url: String, scheme: String, host: String, port: Int?, base: String, hostHeader: String) throws
    {
        let endpoint = try #require(Endpoint(url: url))
        #expect(endpoint.scheme == scheme)
        #expect(endpoint.host == host)
        #expect(endpoint.port == port)
        #expect(endpoint.basePath == base)
        #expect(endpoint.hostHeader == hostHeader)
    }

    @Test(arguments: [
        "ftp://x", "127.0.0.1:80", "http://", "http://user@host", "http://host:0", "http://host:99999",
        "http://host/?q",
    ])
    func badEndpoints(url: String) {
        #expect(Endpoint(url: url) == nil)
    }

    @Test func endpointOverridesFollowTheSDKRules() throws {
        let environment = Environment([
            "AWS_ENDPOINT_URL": "http://127.0.0.1:1000", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": "http://127.0.0.1:2000",
        ])
        let resolver = EndpointResolver(environment: environment)
        #expect(try resolver.endpoint(for: .logs, region: "us-east-1").port == 2000)
        #expect(try resolver.endpoint(for: .s3, region: "us-east-1").port == 1000)
        let none = EndpointResolver(environment: Environment())
        #expect(
            try none.endpoint(for: .autoscaling, region: "eu-west-1").base
                == "https://autoscaling.eu-west-1.amazonaws.com")
        #expect(try none.endpoint(for: .logs, region: "cn-north-1").host == "logs.cn-north-1.amazonaws.com.cn")
        let bad = EndpointResolver(environment: Environment(["AWS_ENDPOINT_URL_S3": "not a url"]))
        #expect(throws: AWSError.self) { try bad.endpoint(for: .s3, region: "us-east-1") }
    }

    /// The default IMDS address is only ever built, never contacted, in tests.
    @Test func metadataEndpointSelection() throws {
        #expect(try MetadataClient.endpoint(environment: Environment()) == MetadataClient.defaultIPv4)
        #expect(try MetadataClient.endpoint(environment: Environment())?.base == "http://169.254.169.254")
        #expect(
            try MetadataClient.endpoint(environment: Environment(["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6"]))?
                .base
                == "http://[fd00:ec2::254]")
        #expect(
            try MetadataClient.endpoint(
                environment: Environment(["AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9/"]))?.port == 9)
        #expect(try MetadataClient.endpoint(environment: Environment(["AWS_EC2_METADATA_DISABLED": "true"])) == nil)
    }

    @Test func percentEncoding() {
        #expect(PercentEncoding.encode("a b+c/d~e_f.g-h*") == "a%20b%2Bc%2Fd~e_f.g-h%2A")
        #expect(PercentEncoding.encode("a b/c", keepSlash: true) == "a%20b/c")
        #expect(PercentEncoding.decode("a%20b%2bc+d%zz") == "a b+c+d%zz")
    }

    @Test func times() throws {
        let time = try #require(UTCTime(iso8601: "2026-11-25T18:04:11Z"))
        #expect(time.amzDate == "20261125T180411Z")
        #expect(time.iso8601 == "2026-11-25T18:04:11Z")
        #expect(UTCTime(iso8601: "2026-11-25T19:04:11+01:00") == time)
        #expect(UTCTime(iso8601: "2026-11-25T18:04:11.500Z")!.secondsSinceEpoch == time.secondsSinceEpoch + 0.5)
        #expect(UTCTime(httpDate: "Wed, 25 Nov 2026 18:04:11 GMT") == time)
        #expect(UTCTime(iso8601: "2026-13-25T18:04:11Z") == nil)
        #expect(UTCTime(iso8601: "yesterday") == nil)
    }

    @Test func hexAndBase64() {
        #expect(Hex.encode([0x00, 0xAB, 0xFF]) == "00abff")
        #expect(Hex.decode("00ABff") == [0x00, 0xAB, 0xFF])
        #expect(Hex.decode("0") == nil)
        for input in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            let encoded = Base64.encode(Array(input.utf8))
            #expect(Base64.decode(encoded) == Array(input.utf8))
        }
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(Base64.encode(Array("fo".utf8)) == "Zm8=")
        #expect(Base64.decode("not base64!") == nil)
    }

    @Test func jsonText() {
        var out: [UInt8] = []
        JSONText.appendQuoted("a\"b\\c\nd\te\u{01}ሴ", to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "\"a\\\"b\\\\c\\nd\\te\\u0001ሴ\"")
        let object = JSONText.object([("n", .int(-5)), ("s", .string("x")), ("r", .raw(Array("[1]".utf8)))])
        #expect(String(decoding: object, as: UTF8.self) == "{\"n\":-5,\"s\":\"x\",\"r\":[1]}")
    }

    @Test func xml() throws {
        let text = """
            <?xml version="1.0"?>
            <!-- comment -->
            <R xmlns="http://x/"><A attr="v>">one &amp; two &lt;3&gt; &#65;&#x42;</A><B/><C><![CDATA[<raw>]]></C>
            <L><member><N>1</N></member><member><N>2</N></member></L></R>
            """
        let root = try #require(XMLElement.parse(Array(text.utf8)))
        #expect(root.name == "R")
        #expect(root.text(at: "A") == "one & two <3> AB")
        #expect(root.child("B")?.text == "")
        #expect(root.text(at: "C") == "<raw>")
        #expect(root.child("L")?.children(named: "member").compactMap { $0.child("N")?.text } == ["1", "2"])
        #expect(
            XMLElement.parse(Array("<a><b></a>".utf8)) == nil || XMLElement.parse(Array("<a><b></a>".utf8))?.name == "a"
        )
        #expect(XMLElement.parse(Array("not xml".utf8)) == nil)
    }

    @Test func gzipRoundTrip() throws {
        let input = Array(String(repeating: "clock-agent line\n", count: 1000).utf8)
        let compressed = try Gzip.compress(input)
        #expect(compressed.count < input.count / 10)
        #expect(compressed.prefix(2) == [0x1F, 0x8B])
        #expect(try Gzip.decompress(compressed) == input)
    }

    @Test func credentialsNeverPrintTheirSecrets() {
        let credentials = Credentials(
            accessKeyID: "ASIAEXAMPLEKEY123456", secretAccessKey: "SECRETsecretSECRET", sessionToken: "TOKENtokenTOKEN")
        for text in [
            credentials.description, credentials.debugDescription, "\(credentials)", String(reflecting: credentials),
        ] {
            #expect(!text.contains("SECRETsecretSECRET"))
            #expect(!text.contains("TOKENtokenTOKEN"))
            #expect(!text.contains("EXAMPLEKEY123"))
        }
        #expect(credentials.maskedAccessKeyID == "ASIA************3456")
    }
}

@Suite struct ErrorDecodingTests {
    @Test func jsonErrorsAreNormalised() {
        let response = HTTPResponse(
            status: 400, headers: HTTPHeaders([("x-amzn-RequestId", "req-1")]),
            body: Array(
                #"{"__type":"com.amazonaws.logs#ThrottlingException:http://internal","message":"Rate exceeded"}"#.utf8))
        let error = AWSClient.decodeError(response, service: "logs", operation: "PutLogEvents", resource: nil)
        #expect(error.code == "ThrottlingException")
        #expect(error.message == "Rate exceeded")
        #expect(
            error.description
                == "logs PutLogEvents failed: HTTP 400 ThrottlingException: Rate exceeded (request id req-1)")
        #expect(RetryPolicy.isRetryable(error))
        #expect(RetryPolicy.isThrottling(error))
    }

    @Test func queryErrors() {
        let body = """
            <ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type>\
            <Code>ValidationError</Code><Message>No active Lifecycle Action found with instance ID i-1</Message>\
            </Error><RequestId>r-2</RequestId></ErrorResponse>
            """
        let error = AWSClient.decodeError(
            HTTPResponse(status: 400, headers: HTTPHeaders(), body: Array(body.utf8)), service: "autoscaling",
            operation: "CompleteLifecycleAction", resource: nil)
        #expect(error.code == "ValidationError")
        #expect(error.requestID == "r-2")
        #expect(!RetryPolicy.isRetryable(error))
    }

    @Test func s3ErrorsKeepUsefulExtrasButNeverTheCanonicalRequest() {
        let body = """
            <Error><Code>SignatureDoesNotMatch</Code><Message>nope</Message><StringToSign>x</StringToSign>\
            <CanonicalRequest>GET\n/\n\nx-amz-security-token:SECRET-TOKEN\n</CanonicalRequest><RequestId>r</RequestId></Error>
            """
        let error = AWSClient.decodeError(
            HTTPResponse(status: 403, headers: HTTPHeaders(), body: Array(body.utf8)), service: "s3",
            operation: "GetObject", resource: "s3://b/k")
        #expect(error.code == "SignatureDoesNotMatch")
        #expect(!error.description.contains("SECRET-TOKEN"))
        #expect(error.details["CanonicalRequest"] == nil)
    }

    @Test func bodilessAnswersAreNamedByStatus() {
        let error = AWSClient.decodeError(
            HTTPResponse(status: 404, headers: HTTPHeaders(), body: []), service: "s3", operation: "HeadObject",
            resource: nil)
        #expect(error.code == "NotFound")
        let redirect = AWSClient.decodeError(
            HTTPResponse(status: 301, headers: HTTPHeaders([("x-amz-bucket-region", "eu-west-1")]), body: []),
            service: "s3", operation: "HeadObject", resource: nil)
        #expect(redirect.details["x-amz-bucket-region"] == "eu-west-1")
    }

    @Test(arguments: [
        ("curl 7", true), ("curl 28", true), ("curl 56", true), ("curl 60", false), ("curl 3", false),
    ])
    func transportRetryClassification(code: String, retryable: Bool) {
        let error = AWSError(kind: .transport, service: "logs", operation: "PutLogEvents", code: code, message: "x")
        #expect(RetryPolicy.isRetryable(error) == retryable)
    }

    @Test func backoffIsCappedAndJittered() {
        let policy = RetryPolicy(maxAttempts: 10, baseDelay: 0.2, maxDelay: 5)
        #expect(policy.delay(beforeRetry: 1, random: 0.999) < 0.2)
        #expect(policy.delay(beforeRetry: 3, random: 0.999) < 0.8)
        #expect(policy.delay(beforeRetry: 30, random: 0.999) <= 5)
        #expect(policy.delay(beforeRetry: 30, random: 0) == 0)
        let samples = (0..<50).map { _ in policy.delay(beforeRetry: 4) }
        #expect(Set(samples).count > 40)
    }
}
