import AWSCore
import AgentConfig

#if canImport(Glibc)
    import Glibc
#endif

/// `s3`: the artifact is reachable (`HeadObject`) and its checksum matches the `app.sha256` pin; for a
/// `file://` source, the file exists and its SHA-256 matches the pin.
struct ArtifactCheck {
    /// The check's name in the report.
    static let name = "s3"
    /// Larger local files are not hashed by the doctor (the agent verifies them while installing).
    static let hashLimit = 256 << 20

    /// What the earlier checks established (client, identity, configuration).
    let facts: AWSFacts

    /// The verdict and what the check's calls showed.
    struct Outcome {
        /// The verdict.
        var result: CheckResult
        /// What the calls showed about IAM permissions.
        var permissions: [Permission] = []
        /// The HTTP status of the HeadObject of the artifact, when there was an answer.
        var objectStatus: Int?
    }

    /// Runs the check.
    func run() async -> Outcome {
        guard let app = facts.configuration?.app else {
            return Outcome(result: .skip(Self.name, "needs a valid configuration (see config)"))
        }
        guard case .s3(let bucket, let key) = app.source else {
            return Outcome(result: Self.fileResult(app))
        }
        let url = "s3://\(bucket)/\(key)"
        let resource = ResourceNames.object(bucket: bucket, key: key)
        do {
            let response = try await facts.probe.headObject(bucket: bucket, key: key)
            let info = Self.info(response)
            var findings = Findings(name: Self.name)
            let size = info.objectSize.map { Format.bytes(UInt64(max(0, $0))) } ?? "size unknown"
            let s3Hash = info.fullObjectSHA256Hex
            switch (app.sha256, s3Hash) {
            case (let pin?, let published?) where pin == published:
                findings.ok("\(url) reachable (\(size)); S3's SHA-256 matches app.sha256")
            case (let pin?, let published?):
                findings.add(
                    .fail,
                    "\(url) reachable (\(size)), but S3's SHA-256 \(published) differs from app.sha256 \(pin): the agent would refuse it",
                    hint: "upload the intended artifact, or update app.sha256 to the new one's SHA-256")
            case (.some, nil):
                findings.ok(
                    "\(url) reachable (\(size)); S3 publishes no whole-object SHA-256, the agent checks app.sha256 after download"
                )
            case (nil, .some):
                findings.ok("\(url) reachable (\(size)); no app.sha256 pin, the agent verifies S3's SHA-256")
            case (nil, nil):
                findings.add(
                    .warn,
                    "\(url) reachable (\(size)), but nothing to verify it against: no app.sha256 and no S3 SHA-256 checksum",
                    hint: "set app.sha256, or upload with a SHA-256 checksum (aws s3 cp --checksum-algorithm SHA256)")
            }
            return Outcome(
                result: findings.result,
                permissions: [
                    Permission(
                        action: "s3:GetObject", resource: resource, required: true, outcome: .allowed("HeadObject"))
                ],
                objectStatus: response.status)
        } catch let error as AWSError {
            var outcome = Outcome(
                result: failure(error, url: url, bucket: bucket, key: key), objectStatus: error.httpStatus)
            let permission = Permission.outcome(of: error, success: "HeadObject")
            if error.httpStatus == 404 {
                // Only a caller with s3:GetObject (and s3:ListBucket) learns that a key is missing.
                outcome.permissions = [
                    Permission(
                        action: "s3:GetObject", resource: resource, required: true,
                        outcome: .allowed("404 for HeadObject"))
                ]
            } else if error.httpStatus == 403 {
                outcome.permissions = [
                    Permission(action: "s3:GetObject", resource: resource, required: true, outcome: .denied)
                ]
            } else {
                outcome.permissions = [
                    Permission(action: "s3:GetObject", resource: resource, required: true, outcome: permission)
                ]
            }
            return outcome
        } catch {
            return Outcome(
                result: CheckResult(name: Self.name, status: .fail, detail: "HeadObject \(url): \(error)", hint: ""))
        }
    }

    private func failure(_ error: AWSError, url: String, bucket: String, key: String) -> CheckResult {
        let fail = { (detail: String, hint: String) in
            CheckResult(name: Self.name, status: .fail, detail: detail, hint: hint)
        }
        if error.kind == .transport {
            return fail(
                "HeadObject \(url) got no answer: \(error.message)",
                "check the network path to S3 (security groups, NAT or an S3 gateway endpoint, HTTPS_PROXY/NO_PROXY)")
        }
        switch error.httpStatus {
        case 404:
            return fail(
                "no object \(url) (HeadObject: HTTP 404)", "upload the artifact to \(url), or fix app.source")
        case 403:
            return fail(
                "access denied to \(url) (HeadObject: HTTP 403): the object is missing or s3:GetObject is not allowed",
                "add s3:GetObject on \(ResourceNames.object(bucket: bucket, key: key)) to \(facts.grantee) (packaging/iam/clock-agent-policy.json); with s3:ListBucket on \(ResourceNames.bucket(bucket)) a missing object shows as 404"
            )
        case 301, 307, 400:
            let other = error.details["x-amz-bucket-region"] ?? error.details["Region"]
            return fail(
                "HeadObject \(url): HTTP \(error.httpStatus ?? 0)\(other.map { ": the bucket is in \($0), not \(facts.probe.region)" } ?? "")",
                "the agent follows one region redirect; to avoid it keep the bucket in the instance's region")
        default:
            return fail("HeadObject \(url): \(error)", "")
        }
    }

    /// Size and checksum from a HeadObject answer (as `S3Client.ObjectInfo` reads them).
    static func info(_ response: HTTPResponse) -> (objectSize: Int64?, fullObjectSHA256Hex: String?) {
        let size = response.headers["content-length"].flatMap { Int64($0) }
        guard let checksum = response.headers["x-amz-checksum-sha256"], !checksum.contains("-"),
            response.headers["x-amz-checksum-type"] != "COMPOSITE", let bytes = Base64.decode(checksum),
            bytes.count == 32
        else { return (size, nil) }
        return (size, Hex.encode(bytes))
    }

    /// A `file://` source: exists, is a readable regular file, and matches the pin.
    static func fileResult(_ app: AppConfiguration) -> CheckResult {
        guard case .file(let path) = app.source else { return .skip(name, "not a file:// source") }
        var info = stat()
        guard stat(path, &info) == 0 else {
            return CheckResult(
                name: name, status: .fail, detail: "file://\(path): \(String(cString: strerror(errno)))",
                hint: "put the artifact at \(path), or fix app.source")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            return CheckResult(
                name: name, status: .fail, detail: "file://\(path) is not a regular file", hint: "fix app.source")
        }
        guard let pin = app.sha256 else {
            return CheckResult(
                name: name, status: .warn,
                detail: "file://\(path) exists (\(Format.bytes(UInt64(info.st_size)))), no app.sha256 pin to verify it",
                hint: "set app.sha256 (sha256sum \(path))")
        }
        guard info.st_size <= hashLimit else {
            return CheckResult(
                name: name, status: .ok,
                detail:
                    "file://\(path) exists (\(Format.bytes(UInt64(info.st_size)))); too large for the doctor to hash, the agent verifies app.sha256 when installing"
            )
        }
        guard let bytes = readFile(path) else {
            return CheckResult(
                name: name, status: .fail, detail: "cannot read file://\(path): \(String(cString: strerror(errno)))",
                hint: "make it readable by root")
        }
        let actual = SigV4Signer.sha256Hex(bytes)
        guard actual == pin else {
            return CheckResult(
                name: name, status: .fail,
                detail: "file://\(path) has SHA-256 \(actual), but app.sha256 is \(pin): the agent would refuse it",
                hint: "put the intended artifact there, or update app.sha256")
        }
        return CheckResult(
            name: name, status: .ok,
            detail: "file://\(path) exists (\(Format.bytes(UInt64(info.st_size)))) and matches app.sha256")
    }

    private static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: buffer[0..<count])
        }
    }
}
