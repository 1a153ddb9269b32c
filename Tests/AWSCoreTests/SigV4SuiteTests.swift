import AWSCore
import Foundation
import Testing

/// AWS's own SigV4 signing suite (awslabs/aws-c-auth, Apache-2.0; see Resources/sigv4/README.md).
/// Every folder is a case, so a new case is a new folder.
@Suite struct SigV4SuiteTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Resources/sigv4")

    static let cases: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.filter { name in
            FileManager.default.fileExists(
                atPath: root.appendingPathComponent(name).appendingPathComponent("context.json").path)
        }.sorted()
    }()

    @Test func suiteHasAllCases() {
        #expect(Self.cases.count == 38)
    }

    @Test(arguments: cases)
    func signsLikeAWS(_ name: String) throws {
        let folder = Self.root.appendingPathComponent(name)
        let context =
            try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("context.json")))
            as! [String: Any]
        let credentialsJSON = context["credentials"] as! [String: Any]
        let credentials = Credentials(
            accessKeyID: credentialsJSON["access_key_id"] as! String,
            secretAccessKey: credentialsJSON["secret_access_key"] as! String,
            sessionToken: credentialsJSON["token"] as? String)
        let time = try #require(UTCTime(iso8601: context["timestamp"] as! String))
        var request = try Self.parseRequest(Data(contentsOf: folder.appendingPathComponent("request.txt")))
        let signer = SigV4Signer(
            service: context["service"] as! String, region: context["region"] as! String,
            uriRule: .standard(normalize: context["normalize"] as! Bool),
            addContentHashHeader: context["sign_body"] as! Bool,
            omitSessionTokenFromSignature: (context["omit_session_token"] as? Bool) ?? false)
        let result = signer.sign(&request, credentials: credentials, at: time)

        func expected(_ file: String) throws -> String {
            try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
        }
        #expect(result.canonicalRequest == (try expected("header-canonical-request.txt")))
        #expect(result.stringToSign == (try expected("header-string-to-sign.txt")))
        #expect(
            result.signature == (try expected("header-signature.txt")).trimmingCharacters(in: .whitespacesAndNewlines))
        // The signed request carries the same Authorization line as the suite's.
        let signedText = try expected("header-signed-request.txt")
        #expect(signedText.contains("Authorization:\(result.authorization)"))
    }

    /// Reads the suite's raw request text: request line, `Name:value` headers with indented continuation lines,
    /// a blank line, the body.
    static func parseRequest(_ data: Data) throws -> HTTPRequest {
        let bytes = [UInt8](data)
        var headerEnd = bytes.count
        var bodyStart = bytes.count
        for index in 0..<bytes.count where bytes[index] == 0x0A {
            if index + 1 < bytes.count, bytes[index + 1] == 0x0A {
                headerEnd = index
                bodyStart = index + 2
                break
            }
        }
        let head = String(decoding: bytes[0..<headerEnd], as: UTF8.self)
        var lines = head.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        while lines.first?.isEmpty == true { lines.removeFirst() }
        let requestLine = lines.removeFirst()
        let method = String(requestLine.prefix { $0 != " " })
        var target = String(requestLine.dropFirst(method.count + 1))
        if target.hasSuffix(" HTTP/1.1") { target.removeLast(" HTTP/1.1".count) }
        let path: String
        let query: String
        if let mark = target.firstIndex(of: "?") {
            path = String(target[..<mark])
            query = String(target[target.index(after: mark)...])
        } else {
            path = target
            query = ""
        }
        var headers: [(String, String)] = []
        for line in lines {
            if line.first == " " || line.first == "\t", !headers.isEmpty {
                headers[headers.count - 1].1 += "\n" + line
            } else if let colon = line.firstIndex(of: ":") {
                headers.append((String(line[..<colon]), String(line[line.index(after: colon)...])))
            }
        }
        let host = headers.first { $0.0.lowercased() == "host" }?.1 ?? "example.amazonaws.com"
        return HTTPRequest(
            method: method, endpoint: Endpoint(scheme: "https", host: host), path: path, query: query,
            headers: HTTPHeaders(headers), body: Array(bytes[min(bodyStart, bytes.count)...]))
    }
}

/// The S3 examples of the S3 API reference ("Signature Calculations for the Authorization Header: Transferring
/// Payload in a Single Chunk" and "Authenticating Requests: Using Query Parameters").
@Suite struct SigV4S3ExampleTests {
    static let credentials = Credentials(
        accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    static let time = UTCTime(iso8601: "2013-05-24T00:00:00Z")!
    static let host = Endpoint(scheme: "https", host: "examplebucket.s3.amazonaws.com")
    static let signer = SigV4Signer(service: "s3", region: "us-east-1", uriRule: .s3, addContentHashHeader: true)

    @Test func getObject() {
        var request = HTTPRequest(method: "GET", endpoint: Self.host, path: "/test.txt")
        request.headers.add("Range", "bytes=0-9")
        let result = Self.signer.sign(&request, credentials: Self.credentials, at: Self.time)
        #expect(result.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func putObject() {
        var request = HTTPRequest(
            method: "PUT", endpoint: Self.host, path: "/" + PercentEncoding.encode("test$file.text", keepSlash: true),
            body: Array("Welcome to Amazon S3.".utf8))
        request.headers.add("Date", "Fri, 24 May 2013 00:00:00 GMT")
        request.headers.add("x-amz-storage-class", "REDUCED_REDUNDANCY")
        let result = Self.signer.sign(&request, credentials: Self.credentials, at: Self.time)
        #expect(request.path == "/test%24file.text")
        #expect(result.signature == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test func getBucketLifecycle() {
        var request = HTTPRequest(method: "GET", endpoint: Self.host, path: "/", query: "lifecycle")
        let result = Self.signer.sign(&request, credentials: Self.credentials, at: Self.time)
        #expect(result.canonicalRequest.split(separator: "\n", omittingEmptySubsequences: false)[2] == "lifecycle=")
        #expect(result.signature == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    }

    @Test func listObjects() {
        var request = HTTPRequest(method: "GET", endpoint: Self.host, path: "/", query: "max-keys=2&prefix=J")
        let result = Self.signer.sign(&request, credentials: Self.credentials, at: Self.time)
        #expect(result.signature == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test func presignedGet() {
        let request = HTTPRequest(method: "GET", endpoint: Self.host, path: "/test.txt")
        let signed = Self.signer.presign(request, credentials: Self.credentials, at: Self.time, expires: 86400)
        #expect(signed.result.signature == "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
        #expect(
            signed.query.hasSuffix("X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"))
    }

    /// S3 signs the encoded wire path as is: no second encoding, no dot-segment removal, `//` kept.
    @Test(arguments: [
        ("a b+c%d", "/bucket/a%20b%2Bc%25d"),
        ("dir//x/./y/../z", "/bucket/dir//x/./y/../z"),
        ("ሴ.txt", "/bucket/%E1%88%B4.txt"),
    ])
    func s3CanonicalURI(key: String, wire: String) {
        let path = "/bucket/" + PercentEncoding.encode(key, keepSlash: true)
        #expect(path == wire)
        #expect(Self.signer.canonicalURI(path) == wire)
        // Another service would encode it once more.
        #expect(
            SigV4Signer(service: "x", region: "r", uriRule: .standard(normalize: false)).canonicalURI("/a%20b")
                == "/a%2520b")
    }
}
