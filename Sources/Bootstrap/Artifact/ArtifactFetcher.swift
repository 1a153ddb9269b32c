import AWSCore
import AgentConfig
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// A downloaded artifact whose SHA-256 has been verified.
public struct VerifiedArtifact: Sendable, Equatable {
    /// The verified file (in `state_dir/downloads/`).
    public var path: String
    /// Its hex SHA-256, which names the release.
    public var sha256: String
    /// Its size in bytes.
    public var size: Int64
    /// S3's entity tag, when it came from S3.
    public var etag: String?
}

/// What S3 says about the artifact before anything is downloaded.
public struct ArtifactHead: Sendable, Equatable {
    /// The entity tag.
    public var etag: String?
    /// The object's whole-object SHA-256 (hex), if it was uploaded with one.
    public var sha256: String?
    /// The size in bytes.
    public var size: Int64?
}

/// Downloads the artifact into a temporary file in `state_dir/downloads/` and verifies it before anything else
/// sees it.
///
/// - S3: `GetObject` streamed to disk, with `If-Match` on the `HeadObject` answer's ETag, so a replaced object is
///   never mixed with the one the HEAD described; a dropped connection resumes with `Range` + `If-Match`. A 412 (the
///   object changed) starts over with a fresh HEAD; a 416 on a resume means every byte is already there. Verified
///   against S3's `x-amz-checksum-sha256` when the object has a whole-object one (a multipart `-N` composite is not
///   a content hash and is skipped) and against the pinned `app.sha256`.
/// - `file://`: copied into the same temporary file first, so the source can't change under verification.
/// - Transient errors (throttling, 5xx, timeouts, resets, IMDS briefly away, a download whose bytes don't match
///   S3's own checksum, a full disk) are retried with backoff until the deadline — a whole new download at most
///   `maxDownloads` times; permanent ones (no such key, access denied, a mismatch with the pinned `app.sha256`) fail
///   at once. `BootstrapError.isPermanent` decides.
/// - Hashing, copying and fsync run on a thread of their own, never on the cooperative pool.
public struct ArtifactFetcher: Sendable {
    /// How many times a download starts from scratch (object changed, corrupt download, ...) before giving up.
    public static let maxDownloads = 5

    private let s3: S3Client?
    private let downloads: String
    private let logger: Logger
    private let retry: RetryPolicy

    /// Creates a fetcher writing into `downloads` (created if missing, mode 0700).
    public init(
        s3: S3Client?, downloads: String, logger: Logger,
        retry: RetryPolicy = RetryPolicy(maxAttempts: .max, baseDelay: 0.5, maxDelay: 15)
    ) {
        self.s3 = s3
        self.downloads = downloads
        self.logger = logger
        self.retry = retry
    }

    /// `HeadObject` of an S3 source (retried until the deadline); nil for `file://`.
    public func head(_ source: ArtifactSource, deadline: ContinuousClock.Instant) async throws -> ArtifactHead? {
        guard case .s3(let bucket, let key) = source, let s3 else { return nil }
        let info = try await retrying("HeadObject", deadline: deadline) {
            try await s3.headObject(bucket: bucket, key: key)
        }
        return ArtifactHead(etag: info.etag, sha256: Self.wholeObjectSHA256(info), size: info.objectSize)
    }

    /// The object's SHA-256 (hex) when S3's `x-amz-checksum-sha256` is a hash of the whole object.
    ///
    /// A multipart upload's SHA-256 checksum is a checksum of the parts' checksums (S3 supports full-object
    /// checksums of multipart uploads only for the CRC algorithms), whether or not the value carries its `-N` suffix
    /// and `x-amz-checksum-type: COMPOSITE` (moto sends neither). A multipart object is known by its ETag, which ends
    /// in `-<parts>`. See "Checking object integrity" in the Amazon S3 User Guide.
    static func wholeObjectSHA256(_ info: S3Client.ObjectInfo) -> String? {
        guard let hex = info.fullObjectSHA256Hex else { return nil }
        if info.checksumType == "FULL_OBJECT" { return hex }
        let tag = info.etag.map { $0.filter { $0 != "\"" } } ?? ""
        if let dash = tag.lastIndex(of: "-"), !tag[tag.index(after: dash)...].isEmpty,
            tag[tag.index(after: dash)...].allSatisfy(\.isNumber)
        {
            return nil
        }
        return hex
    }

    /// Downloads and verifies, retrying what `BootstrapError.isPermanent` says may heal.
    /// - Parameters:
    ///   - pinned: `app.sha256`, if set.
    ///   - head: the `HeadObject` answer, if already fetched.
    ///   - verifying: called when a download is complete and its SHA-256 is being checked.
    public func fetch(
        _ source: ArtifactSource, pinned: String?, head: ArtifactHead?, deadline: ContinuousClock.Instant,
        verifying: @Sendable () -> Void = {}
    ) async throws -> VerifiedArtifact {
        let downloads = downloads
        do {
            try await DedicatedThread.run {
                try FileIO.makeDirectories(downloads, mode: 0o700)
                chmod(downloads, 0o700)
            }
        } catch {
            throw BootstrapError(
                step: .fetch, message: "cannot create \(downloads)", isPermanent: false,
                underlying: error as? FileIO.Failure)
        }
        var head = head
        var downloadsStarted = 0
        while true {
            downloadsStarted += 1
            do {
                return try await fetchOnce(source, pinned: pinned, head: head, deadline: deadline, verifying: verifying)
            } catch let error as BootstrapError where !error.isPermanent {
                guard downloadsStarted < Self.maxDownloads else {
                    throw BootstrapError(
                        step: error.step,
                        message: "gave up after \(downloadsStarted) downloads of \(source); last error: \(error)",
                        isPermanent: false)
                }
                try await backoff(
                    after: error, attempt: downloadsStarted, operation: "download", deadline: deadline,
                    metadata: ["app.source": "\(source)"])
                if head != nil {
                    // The object may have been replaced: describe it afresh, so the next GET's If-Match and the
                    // checksum it is verified against belong to the same object.
                    head = try await self.head(source, deadline: deadline)
                }
            }
        }
    }

    /// One download from scratch and its verification.
    private func fetchOnce(
        _ source: ArtifactSource, pinned: String?, head: ArtifactHead?, deadline: ContinuousClock.Instant,
        verifying: @Sendable () -> Void
    ) async throws -> VerifiedArtifact {
        let partial = downloads + "/download.partial"
        var etag: String?
        var published = head?.sha256
        switch source {
        case .file(let path):
            try await copyLocal(path, to: partial)
        case .s3(let bucket, let key):
            guard let s3 else {
                throw BootstrapError(step: .fetch, message: "no S3 client for \(source)", isPermanent: true)
            }
            if let pinned, let published, published != pinned {
                throw BootstrapError(
                    step: .verify,
                    message:
                        "checksum mismatch for \(source): S3 says the object's SHA-256 is \(published) but app.sha256 pins \(pinned); upload the pinned build or update app.sha256",
                    isPermanent: true)
            }
            let got = try await download(
                s3: s3, bucket: bucket, key: key, to: partial, expectedETag: head?.etag, deadline: deadline)
            etag = got.etag
            published = published ?? got.sha256
        }

        verifying()
        let actual: String
        let size: Int64
        do {
            (actual, size) = try await DedicatedThread.run {
                (try FileIO.sha256(of: partial), FileIO.size(partial) ?? 0)
            }
        } catch {
            throw BootstrapError(
                step: .verify, message: "cannot read the download", isPermanent: false,
                underlying: error as? FileIO.Failure)
        }
        if let published, actual != published {
            unlink(partial)
            throw BootstrapError(
                step: .verify,
                message:
                    "checksum mismatch for \(source): the download's SHA-256 is \(actual) but S3's x-amz-checksum-sha256 says \(published); the download is corrupt and was refused",
                isPermanent: false)
        }
        if let pinned, actual != pinned {
            unlink(partial)
            throw BootstrapError(
                step: .verify,
                message:
                    "checksum mismatch for \(source): the download's SHA-256 is \(actual) but app.sha256 pins \(pinned); the artifact was refused and nothing was installed",
                isPermanent: true)
        }
        let verified = downloads + "/\(actual).artifact"
        do {
            try await DedicatedThread.run {
                guard rename(partial, verified) == 0 else { throw FileIO.fail("rename", partial) }
                FileIO.syncDirectory(of: verified)
            }
        } catch {
            throw BootstrapError(
                step: .fetch, message: "cannot keep the download", isPermanent: false,
                underlying: error as? FileIO.Failure)
        }
        let how =
            pinned != nil
            ? "app.sha256" : (published != nil ? "x-amz-checksum-sha256" : "none (no pin, no S3 checksum)")
        logger.info(
            "artifact verified",
            metadata: [
                "app.source": "\(source)", "app.sha256": "\(actual)", "app.size": "\(size)",
                "app.verified_by": "\(how)",
            ])
        return VerifiedArtifact(path: verified, sha256: actual, size: size, etag: etag)
    }

    /// Removes downloads other than `keep` (verified artifacts are only needed until installed).
    public func clean(keeping keep: String?) {
        for name in FileIO.list(downloads) where downloads + "/" + name != keep {
            unlink(downloads + "/" + name)
        }
    }

    private func copyLocal(_ path: String, to partial: String) async throws {
        try await DedicatedThread.run {
            let fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw BootstrapError(
                    step: .fetch, message: "cannot create \(partial)", isPermanent: false,
                    underlying: FileIO.fail("open", partial))
            }
            defer { close(fd) }
            do {
                try FileIO.copy(path, to: fd)
                guard fsync(fd) == 0 else { throw FileIO.fail("fsync", partial) }
            } catch let failure as FileIO.Failure {
                throw BootstrapError(
                    step: .fetch, message: "cannot read the artifact file://\(path)",
                    isPermanent: failure.code == ENOENT || failure.code == EACCES,
                    underlying: failure)
            }
        }
    }

    /// Streams the object to `partial`, resuming after dropped connections; returns the ETag it came from and the
    /// whole-object SHA-256 a complete (200) answer carried, if any.
    ///
    /// Every GET carries `If-Match` once an ETag is known (from the HEAD, else from the first answer), so the bytes
    /// all come from one version of the object. A 412 means it changed: the caller starts over with a fresh HEAD.
    private func download(
        s3: S3Client, bucket: String, key: String, to partial: String, expectedETag: String?,
        deadline: ContinuousClock.Instant
    ) async throws -> (etag: String?, sha256: String?) {
        let fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw BootstrapError(
                step: .fetch, message: "cannot create \(partial)", isPermanent: false,
                underlying: FileIO.fail("open", partial))
        }
        defer { close(fd) }
        let etag = expectedETag
        var attempt = 0
        while true {
            let offset = Int64(lseek(fd, 0, SEEK_END))
            do {
                let info = try await s3.getObject(bucket: bucket, key: key, to: fd, offset: offset, ifMatch: etag)
                if offset > 0, info.status == 200 {
                    // The range was ignored: the whole object landed after the part already there. Start over.
                    throw AWSError(
                        kind: .invalidResponse, service: "s3", operation: "GetObject", httpStatus: 200,
                        message: "the answer to a Range request was the whole object")
                }
                try await DedicatedThread.run { () throws(FileIO.Failure) in
                    guard fsync(fd) == 0 else { throw FileIO.fail("fsync", partial) }
                }
                if let size = info.objectSize, Int64(lseek(fd, 0, SEEK_END)) != size {
                    throw AWSError(
                        kind: .transport, service: "s3", operation: "GetObject", code: "curl 18",
                        message: "the download ended early")
                }
                return (info.etag ?? etag, info.status == 200 ? Self.wholeObjectSHA256(info) : nil)
            } catch let error as AWSError {
                if error.httpStatus == 412 {
                    throw BootstrapError(
                        step: .fetch,
                        message:
                            "s3://\(bucket)/\(key) changed during the download (HTTP 412 for If-Match \(etag ?? "?")); starting over",
                        isPermanent: false)
                }
                if error.httpStatus == 416, offset > 0, etag != nil {
                    // Every byte is already there (the connection dropped after the last one).
                    return (etag, nil)
                }
                if etag == nil || error.kind == .invalidResponse {
                    // Without an ETag a resume can't be made safe, and a mangled answer can't be resumed: start over.
                    guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else {
                        throw BootstrapError(
                            step: .fetch, message: "cannot write the download", isPermanent: false,
                            underlying: FileIO.fail("truncate", partial))
                    }
                }
                attempt += 1
                try await backoffOrFail(
                    error, attempt: attempt, operation: "GetObject", deadline: deadline,
                    metadata: [
                        "s3.bucket": "\(bucket)", "s3.key": "\(key)", "download.bytes": "\(lseek(fd, 0, SEEK_END))",
                    ])
            } catch let failure as FileIO.Failure {
                throw BootstrapError(
                    step: .fetch, message: "cannot write the download", isPermanent: false, underlying: failure)
            }
        }
    }

    private func retrying<T: Sendable>(
        _ operation: String, deadline: ContinuousClock.Instant, _ body: () async throws -> T
    ) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await body()
            } catch let error as AWSError {
                attempt += 1
                try await backoffOrFail(
                    error, attempt: attempt, operation: operation, deadline: deadline, metadata: [:])
            }
        }
    }

    /// A permanent AWS error fails at once; a transient one waits out the backoff, unless that would pass the
    /// deadline.
    private func backoffOrFail(
        _ error: AWSError, attempt: Int, operation: String, deadline: ContinuousClock.Instant, metadata: Logger.Metadata
    ) async throws {
        let transient =
            RetryPolicy.isRetryable(error) || error.kind == .credentials || error.kind == .metadata
            || error.kind == .invalidResponse
        guard transient else {
            throw BootstrapError(step: .fetch, message: error.description, isPermanent: true)
        }
        try await backoff(after: error, attempt: attempt, operation: operation, deadline: deadline, metadata: metadata)
    }

    /// Waits before retry `attempt`, or throws when that would pass the deadline.
    private func backoff(
        after error: any Error, attempt: Int, operation: String, deadline: ContinuousClock.Instant,
        metadata: Logger.Metadata
    ) async throws {
        var details = metadata
        details["error"] = "\(error)"
        details["retry.attempt"] = "\(attempt)"
        details["aws.operation"] = "\(operation)"
        guard
            try await retry.pause(
                beforeRetry: attempt, deadline: deadline,
                announce: {
                    logger.warning("artifact request failed; retrying", metadata: details)
                })
        else {
            throw BootstrapError(
                step: .fetch, message: "gave up at the launch deadline after \(attempt) attempts; last error: \(error)",
                isPermanent: false)
        }
    }
}
