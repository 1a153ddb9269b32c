import AWSCore
import AgentConfig
import Bootstrap
import Foundation
import TestSupport
import Testing

/// `ArtifactFetcher` against a scripted S3 (`FakeS3`): every GET of one object version is pinned with `If-Match`,
/// resumes use `Range`, and what may heal is retried while what can't fails at once.
@Suite(.timeLimit(.minutes(3)))
struct ArtifactFetcherTests {
    static let bytes: [UInt8] = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    static let replacement: [UInt8] = Array("a new build of the app\n".utf8)
    static let source = ArtifactSource.s3(bucket: "webclock-bucket", key: "clock-app.tar.gz")

    /// One fetch: HEAD, then download and verify, with quick retries; the downloads folder lives in `directory`.
    /// The default deadline is far: only the deadline test means to reach it, and a busy machine must not.
    static func fetch(
        _ s3: FakeS3, pinned: String? = nil, within limit: Duration = .seconds(120), capture: LogCapture = LogCapture(),
        directory: TemporaryDirectory
    ) async throws -> VerifiedArtifact {
        let fetcher = ArtifactFetcher(
            s3: s3.client(logger: capture.logger()), downloads: directory.file("downloads"), logger: capture.logger(),
            retry: RetryPolicy(maxAttempts: .max, baseDelay: 0.01, maxDelay: 0.05))
        let deadline = ContinuousClock.now.advanced(by: limit)
        let head = try await fetcher.head(source, deadline: deadline)
        return try await fetcher.fetch(source, pinned: pinned, head: head, deadline: deadline)
    }

    static func contents(_ artifact: VerifiedArtifact) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: artifact.path)))
    }

    @Test func theFirstGetIsPinnedToTheObjectTheHeadDescribed() async throws {
        let directory = try TemporaryDirectory()
        let s3 = FakeS3(Self.bytes)
        let artifact = try await Self.fetch(s3, pinned: SigV4Signer.sha256Hex(Self.bytes), directory: directory)
        #expect(artifact.sha256 == SigV4Signer.sha256Hex(Self.bytes))
        #expect(try Self.contents(artifact) == Self.bytes)
        #expect(s3.gets.count == 1)
        #expect(s3.gets.first?.ifMatch == "\"etag-v1\"")
        #expect(s3.gets.first?.range == nil)
    }

    @Test func aDroppedConnectionResumesWithRangeAndIfMatch() async throws {
        let directory = try TemporaryDirectory()
        let s3 = FakeS3(Self.bytes, faults: [.dropAfter(70_000)])
        let artifact = try await Self.fetch(s3, directory: directory)
        #expect(try Self.contents(artifact) == Self.bytes)
        #expect(s3.gets.count == 2)
        #expect(s3.gets.last?.range == "bytes=70000-")
        #expect(s3.gets.last?.ifMatch == "\"etag-v1\"")
    }

    /// The object is replaced after the HEAD: the GET answers 412 instead of mixing versions, and the fetch starts
    /// over with a fresh HEAD, ending with the new object verified against its own checksum.
    @Test func anObjectReplacedAfterTheHeadStartsOver() async throws {
        let directory = try TemporaryDirectory()
        let s3 = FakeS3(Self.bytes, faults: [.replace(Self.replacement)])
        let capture = LogCapture()
        let artifact = try await Self.fetch(s3, capture: capture, directory: directory)
        #expect(try Self.contents(artifact) == Self.replacement)
        #expect(artifact.sha256 == SigV4Signer.sha256Hex(Self.replacement))
        #expect(s3.seen.map(\.method) == ["HEAD", "GET", "HEAD", "GET"])
        #expect(s3.gets.map(\.ifMatch) == ["\"etag-v1\"", "\"etag-v2\""])
        #expect(capture.all.contains { $0.contains("changed during the download") })
    }

    /// Replaced in the middle of a download: the resume's If-Match fails, nothing of the two versions is mixed.
    @Test func anObjectReplacedDuringTheDownloadStartsOver() async throws {
        let directory = try TemporaryDirectory()
        let s3 = FakeS3(Self.bytes, faults: [.dropAfter(50_000), .replace(Self.replacement)])
        let artifact = try await Self.fetch(s3, directory: directory)
        #expect(try Self.contents(artifact) == Self.replacement)
        #expect(s3.gets.map(\.range) == [nil, "bytes=50000-", nil])
    }

    /// The connection dropped after the last byte: the resume answers 416, which means the download is complete.
    @Test func a416OnResumeMeansAlreadyComplete() async throws {
        let directory = try TemporaryDirectory()
        let s3 = FakeS3(Self.bytes, faults: [.dropAfter(Self.bytes.count)])
        let artifact = try await Self.fetch(s3, pinned: SigV4Signer.sha256Hex(Self.bytes), directory: directory)
        #expect(try Self.contents(artifact) == Self.bytes)
        #expect(s3.gets.map(\.range) == [nil, "bytes=\(Self.bytes.count)-"])
    }

    /// A multipart upload's composite checksum (`...-N`, type COMPOSITE, or just a multipart ETag `...-N` as moto
    /// sends it) is not a hash of the object and is not compared with one.
    @Test(
        arguments: [
            ("q8Eqv3mJQKr0TzE4rb06GqvyfDMDNbWBPvPa2XFOb3Y=-3", "COMPOSITE", 3),
            ("q8Eqv3mJQKr0TzE4rb06GqvyfDMDNbWBPvPa2XFOb3Y=-3", nil, 3),
            ("q8Eqv3mJQKr0TzE4rb06GqvyfDMDNbWBPvPa2XFOb3Y=", "COMPOSITE", 3),
            ("q8Eqv3mJQKr0TzE4rb06GqvyfDMDNbWBPvPa2XFOb3Y=", nil, 2),
        ] as [(String, String?, Int?)])
    func multipartChecksumsAreNotWholeObjectHashes(checksum: String, type: String?, parts: Int?) async throws {
        let directory = try TemporaryDirectory()
        let s3 = FakeS3(Self.bytes)
        s3.setChecksum(checksum, type: type, parts: parts)
        let artifact = try await Self.fetch(s3, pinned: SigV4Signer.sha256Hex(Self.bytes), directory: directory)
        #expect(try Self.contents(artifact) == Self.bytes)
        #expect(s3.gets.count == 1)
    }

    /// A full-object checksum of a multipart object (type FULL_OBJECT) is a hash of the object, and is compared.
    @Test func aFullObjectChecksumOfAMultipartObjectIsCompared() async throws {
        let directory = try TemporaryDirectory()
        let s3 = FakeS3(Self.bytes)
        s3.setChecksum(FakeS3.checksum(Self.replacement), type: "FULL_OBJECT", parts: 2)
        let error = await #expect(throws: BootstrapError.self) { try await Self.fetch(s3, directory: directory) }
        #expect(error?.description.contains("x-amz-checksum-sha256") == true, "\(String(describing: error))")
    }

    /// Bytes that don't match S3's own checksum are a bad download, not a bad artifact: downloaded again.
    @Test func aCorruptDownloadIsDownloadedAgain() async throws {
        let directory = try TemporaryDirectory()
        let s3 = FakeS3(Self.bytes, faults: [.corrupt])
        let capture = LogCapture()
        let artifact = try await Self.fetch(s3, capture: capture, directory: directory)
        #expect(try Self.contents(artifact) == Self.bytes)
        #expect(s3.gets.count == 2)
        #expect(capture.all.contains { $0.contains("the download is corrupt") })
    }

    @Test func aDownloadThatIsCorruptEveryTimeGivesUp() async throws {
        let directory = try TemporaryDirectory()
        let s3 = FakeS3(Self.bytes, fallback: .corrupt)
        let error = await #expect(throws: BootstrapError.self) { try await Self.fetch(s3, directory: directory) }
        #expect(error?.isPermanent == false)
        #expect(
            error?.description.contains("gave up after \(ArtifactFetcher.maxDownloads) downloads") == true,
            "\(String(describing: error))")
        #expect(s3.gets.count == ArtifactFetcher.maxDownloads)
        #expect(!FileManager.default.fileExists(atPath: directory.file("downloads/download.partial")))
    }

    /// S3's checksum matched the bytes (or there is none): a mismatch with `app.sha256` is the operator's to fix, and
    /// fails at once.
    @Test func aMismatchWithThePinnedHashFailsAtOnce() async throws {
        let directory = try TemporaryDirectory()
        let pinned = String(repeating: "0", count: 64)
        let published = FakeS3(Self.bytes)
        let before = await #expect(throws: BootstrapError.self) {
            try await Self.fetch(published, pinned: pinned, directory: directory)
        }
        #expect(before?.isPermanent == true)
        #expect(published.gets.isEmpty, "S3's checksum already differs from the pin: nothing to download")

        let unpublished = FakeS3(Self.bytes)
        unpublished.setChecksum(nil, type: nil)
        let after = await #expect(throws: BootstrapError.self) {
            try await Self.fetch(unpublished, pinned: pinned, directory: directory)
        }
        #expect(after?.isPermanent == true)
        #expect(after?.description.contains("app.sha256 pins \(pinned)") == true)
        #expect(unpublished.gets.count == 1)
    }

    @Test func transientErrorsAreRetriedUntilTheDeadline() async throws {
        let directory = try TemporaryDirectory()
        let s3 = FakeS3(Self.bytes, fallback: .status(503, code: "SlowDown"))
        let started = ContinuousClock.now
        let error = await #expect(throws: BootstrapError.self) {
            try await Self.fetch(s3, within: .seconds(3), directory: directory)
        }
        #expect(error?.description.contains("gave up at the launch deadline") == true, "\(String(describing: error))")
        #expect(s3.gets.count > 1)
        #expect(ContinuousClock.now - started > .seconds(1))
    }

    @Test func permanentErrorsAreNotRetried() async throws {
        let directory = try TemporaryDirectory()
        let s3 = FakeS3(Self.bytes, fallback: .status(403, code: "AccessDenied"))
        let error = await #expect(throws: BootstrapError.self) { try await Self.fetch(s3, directory: directory) }
        #expect(error?.isPermanent == true)
        #expect(s3.gets.count == 1)
    }
}
