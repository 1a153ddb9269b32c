import FoundationEssentials
import Logging
import Synchronization

/// Credentials of the instance profile, read from IMDS and refreshed before they expire.
///
/// - Refresh starts 15 minutes before `Expiration` (EC2 publishes new credentials at least 5 minutes before);
///   until IMDS hands out a later `Expiration`, the provider asks again every minute or two.
/// - Single flight: at most one IMDS fetch runs at a time, whoever asks. While the current credentials are valid,
///   callers get them at once and the refresh runs in the background; only when none are valid (none yet, expired,
///   or invalidated after AWS rejected them) do callers wait — all of them on that one refresh.
/// - Static stability: when IMDS can't be reached at refresh time, the current credentials stay in use (AWS keeps
///   honouring them during a metadata outage) and the refresh is retried after a jittered 5–15 minutes.
/// - `Code` other than `Success` is an error. See "Retrieve security credentials from instance metadata"
///   (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html#instance-metadata-security-credentials).
public actor InstanceProfileCredentialsProvider: CredentialsProvider {
    /// How long before expiry refreshing starts.
    public static let refreshWindow: Double = 15 * 60
    /// After a failed refresh, when (seconds, jittered) to try again while the current credentials stay in use.
    public static let retryAfterFailure: ClosedRange<Double> = 300...900
    /// When IMDS still serves the credentials in use inside the refresh window, when to ask again.
    static let retryWhileUnchanged: ClosedRange<Double> = 60...120

    private let metadata: MetadataClient
    private let clock: any WallClock
    private let logger: Logger
    private let fixedRole: String?
    private var role: String? {
        didSet { publish() }
    }
    private var cached: Credentials? {
        didSet { publish() }
    }
    private var nextAttempt: UTCTime?
    private var lastError: String? {
        didSet { publish() }
    }
    private var forceRefresh = false
    /// The refresh in flight, shared by everyone who needs it.
    private var refresh: Task<Credentials, any Error>?
    private nonisolated let published = Mutex(CredentialsSnapshot(source: "instance-profile"))

    /// Creates a provider reading the role name from IMDS (or from `role` when given, like
    /// `AWS_EC2_INSTANCE_PROFILE_NAME`).
    public init(metadata: MetadataClient, clock: any WallClock, logger: Logger, role: String? = nil) {
        self.metadata = metadata
        self.clock = clock
        self.logger = logger
        fixedRole = role
    }

    public func credentials() async throws -> Credentials {
        let now = clock.now()
        if let cached, !forceRefresh {
            let expired = cached.expiration.map { now >= $0 } ?? false
            let retryLater = nextAttempt.map { now < $0 } ?? false
            if !expired {
                let due = cached.expiration.map { now >= $0.adding(-Self.refreshWindow) } ?? false
                if due, !retryLater { startRefresh() }
                return cached
            }
            // Expired, and IMDS failed a moment ago: keep using them until the retry (static stability).
            if retryLater { return cached }
        }
        return try await startRefresh().value
    }

    /// The refresh in flight, or a new one. It runs in a task of its own, so that no caller has to wait for it
    /// unless it needs its result, and a caller's cancellation can't abort it for the others.
    @discardableResult
    private func startRefresh() -> Task<Credentials, any Error> {
        if let refresh { return refresh }
        let task = Task { try await self.performRefresh() }
        refresh = task
        return task
    }

    /// Fetches from IMDS and updates the cache; on failure keeps (and returns) the credentials in use, if any.
    private func performRefresh() async throws -> Credentials {
        defer { refresh = nil }
        let now = clock.now()
        do {
            let fresh = try await fetch()
            lastError = nil
            forceRefresh = false
            if let cached, cached.expiration == fresh.expiration, cached.accessKeyID == fresh.accessKeyID {
                // EC2 has not rotated yet; ask again shortly.
                nextAttempt = now.adding(Double.random(in: Self.retryWhileUnchanged))
                return cached
            }
            cached = fresh
            nextAttempt = nil
            logger.info(
                "instance-profile credentials refreshed",
                metadata: [
                    "aws.role": "\(role ?? "?")", "aws.access_key_id": "\(fresh.maskedAccessKeyID)",
                    "aws.credentials.expiration": "\(fresh.expiration.map { $0.iso8601 } ?? "none")",
                ])
            return fresh
        } catch {
            lastError = "\(error)"
            forceRefresh = false
            guard let cached else { throw error }
            let retryAt = now.adding(Double.random(in: Self.retryAfterFailure))
            nextAttempt = retryAt
            let expired = cached.expiration.map { now >= $0 } ?? false
            logger.warning(
                "credential refresh failed; keeping the current credentials",
                metadata: [
                    "error": "\(error)", "aws.credentials.expired": "\(expired)",
                    "aws.credentials.expiration": "\(cached.expiration.map { $0.iso8601 } ?? "none")",
                    "retry.at": "\(retryAt.iso8601)",
                ])
            return cached
        }
    }

    public func invalidate() async {
        nextAttempt = nil
        forceRefresh = true
    }

    public func snapshot() async -> CredentialsSnapshot { currentSnapshot }

    public nonisolated var currentSnapshot: CredentialsSnapshot { published.withLock { $0 } }

    private func publish() {
        let snapshot = CredentialsSnapshot(
            source: "instance-profile", role: role ?? fixedRole, maskedAccessKeyID: cached?.maskedAccessKeyID,
            expiration: cached?.expiration, lastError: lastError)
        published.withLock { $0 = snapshot }
    }

    private func fetch() async throws -> Credentials {
        let name: String
        if let known = role ?? fixedRole {
            name = known
        } else {
            guard let listing = try await metadata.get("meta-data/iam/security-credentials/"),
                let first = listing.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).first
            else {
                throw AWSError(
                    kind: .credentials, service: "imds", operation: "GET meta-data/iam/security-credentials/",
                    message:
                        "no IAM role is attached to this instance (no instance profile); attach one with the clock-agent policy"
                )
            }
            name = String(first).trimmingASCIIWhitespace()
        }
        guard let body = try await metadata.get("meta-data/iam/security-credentials/\(name)") else {
            role = nil
            throw AWSError(
                kind: .credentials, service: "imds", operation: "GET meta-data/iam/security-credentials/\(name)",
                httpStatus: 404,
                message: "the instance profile role \(name) has no credentials (was the role replaced?)")
        }
        role = name
        return try Self.parse(Array(body.utf8), role: name)
    }

    /// The credential document IMDS serves for a role.
    struct Document: Decodable {
        var Code: String?
        var Message: String?
        var AccessKeyId: String?
        var SecretAccessKey: String?
        var Token: String?
        var Expiration: String?
    }

    /// Parses the credential document; errors name the problem but never quote the document (it holds secrets).
    static func parse(_ body: [UInt8], role: String) throws -> Credentials {
        let operation = "GET meta-data/iam/security-credentials/\(role)"
        guard let document = try? JSONDecoder().decode(Document.self, from: Data(body)) else {
            throw AWSError(
                kind: .credentials, service: "imds", operation: operation,
                message: "the credential document is not valid JSON")
        }
        guard document.Code == "Success" else {
            throw AWSError(
                kind: .credentials, service: "imds", operation: operation, code: document.Code ?? "missing Code",
                message: "the metadata service did not return credentials: \(document.Message ?? "no message")")
        }
        guard let key = document.AccessKeyId, !key.isEmpty, let secret = document.SecretAccessKey, !secret.isEmpty
        else {
            throw AWSError(
                kind: .credentials, service: "imds", operation: operation,
                message: "the credential document lacks AccessKeyId or SecretAccessKey")
        }
        var expiration: UTCTime?
        if let text = document.Expiration {
            guard let parsed = UTCTime(iso8601: text) else {
                throw AWSError(
                    kind: .credentials, service: "imds", operation: operation,
                    message: "the credential Expiration \(text) is not an RFC 3339 time")
            }
            expiration = parsed
        }
        return Credentials(
            accessKeyID: key, secretAccessKey: secret, sessionToken: document.Token, expiration: expiration)
    }
}
