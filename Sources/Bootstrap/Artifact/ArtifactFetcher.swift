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
/// - S3: `GetObject` streamed to disk; a dropped connection resumes with `Range` + `If-Match` (412: the object
///   changed, start over). Verified against the pinned `app.sha256` and against S3's `x-amz-checksum-sha256`
///   when the object has a whole-object one (a multipart `-N` composite is not a content hash and is skipped).
/// - `file://`: copied into the same temporary file first, so the source can't change under verification.
/// - Transient errors (throttling, 5xx, timeouts, resets, IMDS briefly away) are retried with backoff until the
///   deadline; permanent ones (no such key, access denied, checksum mismatch) fail at once.
public struct ArtifactFetcher: Sendable {
    private let s3: S3Client?
    private let downloads: String
    private let logger: Logger
    private let retry: RetryPolicy

    /// Creates a fetcher writing into `downloads` (created if missing, mode 0700).
    public init(s3: S3Client?, downloads: String, logger: Logger, retry: RetryPolicy = RetryPolicy(maxAttempts: .max, baseDelay: 0.5, maxDelay: 15)) {
        self.s3 = s3
        self.downloads = downloads
        self.logger = logger
        self.retry = retry
    }

    /// `HeadObject` of an S3 source (retried until the deadline); nil for `file://`.
    public func head(_ source: ArtifactSource, deadline: ContinuousClock.Instant) async throws -> ArtifactHead? {
        guard case .s3(let bucket, let key) = source, let s3 else { return nil }
        let info = try await retrying("HeadObject", deadline: deadline) { try await s3.headObject(bucket: bucket, key: key) }
        return ArtifactHead(etag: info.etag, sha256: info.fullObjectSHA256Hex, size: info.objectSize)
    }

    /// Downloads and verifies.
    /// - Parameters:
    ///   - pinned: `app.sha256`, if set.
    ///   - head: the `HeadObject` answer, if already fetched.
    public func fetch(
        _ source: ArtifactSource, pinned: String?, head: ArtifactHead?, deadline: ContinuousClock.Instant
    ) async throws -> VerifiedArtifact {
        try FileIO.makeDirectories(downloads, mode: 0o700)
        chmod(downloads, 0o700)
        let partial = downloads + "/download.partial"
        let etag: String?
        switch source {
        case .file(let path):
            etag = nil
            try copyLocal(path, to: partial)
        case .s3(let bucket, let key):
            guard let s3 else {
                throw BootstrapError(step: .fetch, message: "no S3 client for \(source)", isPermanent: true)
            }
            if let pinned, let published = head?.sha256, published != pinned {
                throw BootstrapError(
                    step: .verify,
                    message:
                        "checksum mismatch for \(source): S3 says the object's SHA-256 is \(published) but app.sha256 pins \(pinned); upload the pinned build or update app.sha256",
                    isPermanent: true)
            }
            etag = try await download(s3: s3, bucket: bucket, key: key, to: partial, expectedETag: head?.etag, deadline: deadline)
        }

        let actual: String
        do {
            actual = try FileIO.sha256(of: partial)
        } catch {
            throw BootstrapError(step: .verify, message: "cannot read the download", isPermanent: false, underlying: error as? FileIO.Failure)
        }
        let size = FileIO.size(partial) ?? 0
        if let pinned, actual != pinned {
            unlink(partial)
            throw BootstrapError(
                step: .verify,
                message:
                    "checksum mismatch for \(source): the download's SHA-256 is \(actual) but app.sha256 pins \(pinned); the artifact was refused and nothing was installed",
                isPermanent: true)
        }
        if let published = head?.sha256, actual != published {
            unlink(partial)
            throw BootstrapError(
                step: .verify,
                message:
                    "checksum mismatch for \(source): the download's SHA-256 is \(actual) but S3's x-amz-checksum-sha256 says \(published); the download is corrupt and was refused",
                isPermanent: false)
        }
        let verified = downloads + "/\(actual).artifact"
        guard rename(partial, verified) == 0 else {
            throw BootstrapError(step: .fetch, message: "cannot keep the download", isPermanent: false, underlying: FileIO.fail("rename", partial))
        }
        FileIO.syncDirectory(of: verified)
        let how = pinned != nil ? "app.sha256" : (head?.sha256 != nil ? "x-amz-checksum-sha256" : "none (no pin, no S3 checksum)")
        logger.info(
            "artifact verified",
            metadata: ["app.source": "\(source)", "app.sha256": "\(actual)", "app.size": "\(size)", "app.verified_by": "\(how)"])
        return VerifiedArtifact(path: verified, sha256: actual, size: size, etag: etag)
    }

    /// Removes downloads other than `keep` (verified artifacts are only needed until installed).
    public func clean(keeping keep: String?) {
        for name in FileIO.list(downloads) where downloads + "/" + name != keep {
            unlink(downloads + "/" + name)
        }
    }

    private func copyLocal(_ path: String, to partial: String) throws {
        let fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw BootstrapError(step: .fetch, message: "cannot create \(partial)", isPermanent: false, underlying: FileIO.fail("open", partial))
        }
        defer { close(fd) }
        do {
            try FileIO.copy(path, to: fd)
            fsync(fd)
        } catch let failure as FileIO.Failure {
            throw BootstrapError(
                step: .fetch, message: "cannot read the artifact file://\(path)", isPermanent: failure.code == ENOENT || failure.code == EACCES,
                underlying: failure)
        }
    }

    /// Streams the object to `partial`, resuming after dropped connections; returns the ETag it came from.
    private func download(
        s3: S3Client, bucket: String, key: String, to partial: String, expectedETag: String?,
        deadline: ContinuousClock.Instant
    ) async throws -> String? {
        let fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw BootstrapError(step: .fetch, message: "cannot create \(partial)", isPermanent: false, underlying: FileIO.fail("open", partial))
        }
        defer { close(fd) }
        var etag = expectedETag
        var attempt = 0
        while true {
            let offset = Int64(lseek(fd, 0, SEEK_END))
            do {
                let info = try await s3.getObject(bucket: bucket, key: key, to: fd, offset: offset, ifMatch: offset > 0 ? etag : nil)
                guard fsync(fd) == 0 else { throw FileIO.fail("fsync", partial) }
                if let size = info.objectSize, Int64(lseek(fd, 0, SEEK_END)) != size, info.status == 206 || offset == 0 {
                    throw AWSError(
                        kind: .transport, service: "s3", operation: "GetObject", code: "curl 18",
                        message: "the download ended early")
                }
                return info.etag ?? etag
            } catch let error as AWSError {
                if error.httpStatus == 412 {
                    logger.warning("the artifact changed during the download; starting over", metadata: ["s3.key": "\(key)"])
                    ftruncate(fd, 0)
                    etag = nil
                    continue
                }
                if error.httpStatus == 416, offset > 0 {
                    // Everything was already there.
                    return etag
                }
                if etag == nil, offset > 0 {
                    // Without an ETag a resume can't be made safe: start over.
                    ftruncate(fd, 0)
                }
                attempt += 1
                try await backoffOrFail(error, attempt: attempt, operation: "GetObject", deadline: deadline, metadata: [
                    "s3.bucket": "\(bucket)", "s3.key": "\(key)", "download.bytes": "\(lseek(fd, 0, SEEK_END))",
                ])
            } catch let failure as FileIO.Failure {
                throw BootstrapError(step: .fetch, message: "cannot write the download", isPermanent: false, underlying: failure)
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
                try await backoffOrFail(error, attempt: attempt, operation: operation, deadline: deadline, metadata: [:])
            }
        }
    }

    private func backoffOrFail(
        _ error: AWSError, attempt: Int, operation: String, deadline: ContinuousClock.Instant, metadata: Logger.Metadata
    ) async throws {
        let transient = RetryPolicy.isRetryable(error) || error.kind == .credentials || error.kind == .metadata
        guard transient else {
            throw BootstrapError(step: .fetch, message: error.description, isPermanent: true)
        }
        let delay = Duration.milliseconds(Int(retry.delay(beforeRetry: attempt) * 1000))
        guard ContinuousClock.now.advanced(by: delay) < deadline else {
            throw BootstrapError(
                step: .fetch, message: "gave up at the launch deadline after \(attempt) attempts; last error: \(error)",
                isPermanent: false)
        }
        var details = metadata
        details["error"] = "\(error)"
        details["retry.attempt"] = "\(attempt)"
        details["aws.operation"] = "\(operation)"
        logger.warning("artifact request failed; retrying", metadata: details)
        try await Task.sleep(for: delay)
    }
}
