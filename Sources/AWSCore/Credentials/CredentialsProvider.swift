import Logging

/// Supplies credentials for signing.
public protocol CredentialsProvider: Sendable {
    /// Valid credentials, refreshed as needed.
    func credentials() async throws -> Credentials
    /// Drops cached credentials after AWS said they are stale, so the next call fetches new ones.
    func invalidate() async
    /// What the provider is and what it holds now, for `status` and `doctor` (never the secret).
    func snapshot() async -> CredentialsSnapshot
    /// The same, readable from any thread without waiting (the status socket's thread).
    var currentSnapshot: CredentialsSnapshot { get }
}

/// Where credentials come from and when they expire, without any secret.
public struct CredentialsSnapshot: Sendable, Equatable {
    /// `environment` or `instance-profile`.
    public var source: String
    /// The IAM role name for instance-profile credentials.
    public var role: String?
    /// The masked access key id of the credentials in use.
    public var maskedAccessKeyID: String?
    /// When the credentials in use expire.
    public var expiration: UTCTime?
    /// The last refresh failure, if the latest attempt failed.
    public var lastError: String?

    /// Creates a snapshot.
    public init(
        source: String, role: String? = nil, maskedAccessKeyID: String? = nil, expiration: UTCTime? = nil,
        lastError: String? = nil
    ) {
        self.source = source
        self.role = role
        self.maskedAccessKeyID = maskedAccessKeyID
        self.expiration = expiration
        self.lastError = lastError
    }
}

/// Credentials given once, e.g. from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`.
public struct StaticCredentialsProvider: CredentialsProvider {
    private let value: Credentials
    private let source: String

    /// Creates a provider for fixed credentials.
    public init(_ credentials: Credentials, source: String = "environment") {
        value = credentials
        self.source = source
    }

    /// Credentials from the standard environment variables, if both the key id and the secret are set.
    public init?(environment: Environment) {
        guard let key = environment["AWS_ACCESS_KEY_ID"], let secret = environment["AWS_SECRET_ACCESS_KEY"] else {
            return nil
        }
        self.init(
            Credentials(accessKeyID: key, secretAccessKey: secret, sessionToken: environment["AWS_SESSION_TOKEN"]))
    }

    public func credentials() async throws -> Credentials { value }

    public func invalidate() async {}

    public func snapshot() async -> CredentialsSnapshot { currentSnapshot }

    public var currentSnapshot: CredentialsSnapshot {
        CredentialsSnapshot(source: source, maskedAccessKeyID: value.maskedAccessKeyID, expiration: value.expiration)
    }
}

/// The credential chain of the agent: the environment variables first, then the instance profile from IMDS.
public enum CredentialChain {
    /// The first source that applies here.
    /// - Throws: `AWSError` of kind `.credentials` when neither the environment nor IMDS can supply credentials.
    public static func resolve(
        environment: Environment, metadata: MetadataClient?, clock: any WallClock, logger: Logger
    ) throws -> any CredentialsProvider {
        if let provider = StaticCredentialsProvider(environment: environment) { return provider }
        if environment["AWS_ACCESS_KEY_ID"] != nil {
            throw AWSError(
                kind: .credentials, service: "credentials", operation: "resolve",
                message: "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; set both or neither")
        }
        guard let metadata else {
            throw AWSError(
                kind: .credentials, service: "credentials", operation: "resolve",
                message:
                    "no credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set and the instance metadata service is disabled (AWS_EC2_METADATA_DISABLED)"
            )
        }
        return InstanceProfileCredentialsProvider(metadata: metadata, clock: clock, logger: logger)
    }
}
