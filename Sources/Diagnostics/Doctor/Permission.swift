import AWSCore

/// What the doctor learned about one IAM permission the agent needs.
struct Permission: Sendable, Equatable {
    /// What a call showed.
    enum Outcome: Sendable, Equatable {
        /// Authorization passed; the text says which answer proved it.
        case allowed(String)
        /// IAM refused the call.
        case denied
        /// Deliberately not called; the text says why.
        case notExercised(String)
        /// The call gave no verdict (timeout, other error); the text says what happened.
        case unknown(String)
    }

    /// e.g. `autoscaling:RecordLifecycleActionHeartbeat`.
    var action: String
    /// The resource ARN to grant it on.
    var resource: String
    /// Whether the agent can't work without it (false for the ones that only improve diagnostics).
    var required: Bool
    /// What the calls showed.
    var outcome: Outcome

    /// The outcome of a call that succeeded or failed with `error` (nil for success).
    ///
    /// Any error answer other than an authorization failure comes after IAM's check, so it proves the
    /// permission too (e.g. `ValidationError: No active Lifecycle Action found`).
    static func outcome(of error: (any Error)?, success: String) -> Outcome {
        guard let error else { return .allowed(success) }
        guard let aws = error as? AWSError else { return .unknown("\(error)") }
        if isDenied(aws) { return .denied }
        if aws.kind == .service, let code = aws.code, !credentialCodes.contains(code),
            aws.httpStatus.map({ $0 < 500 }) ?? false
        {
            return .allowed(code)
        }
        if aws.kind == .transport { return .unknown(aws.isTimeout ? "no answer in time" : "no answer: \(aws.message)") }
        return .unknown("\(aws.code ?? "error"): \(aws.message)")
    }

    /// Whether an error is IAM refusing the call.
    static func isDenied(_ error: AWSError) -> Bool {
        guard error.kind == .service else { return false }
        if let code = error.code, deniedCodes.contains(code) { return true }
        return false
    }

    /// Error codes of IAM refusing a call.
    static let deniedCodes: Set<String> = [
        "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess", "Forbidden",
        "AuthorizationError",
    ]

    /// Codes that say the request never reached IAM's verdict (signature, credentials, clock).
    static let credentialCodes: Set<String> = [
        "InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "InvalidSignatureException",
        "IncompleteSignature", "IncompleteSignatureException", "MissingAuthenticationToken",
        "MissingAuthenticationTokenException", "ExpiredToken", "ExpiredTokenException", "InvalidToken",
        "RequestExpired", "RequestTimeTooSkewed", "AuthFailure", "Throttling", "ThrottlingException", "SlowDown",
    ]
}

/// ARNs to name in "add … to the instance role" hints.
struct ResourceNames: Sendable {
    /// The region.
    var region: String
    /// The account from `GetCallerIdentity`, or `*` when unknown.
    var account: String

    /// The group's ARN (any group id).
    func autoScalingGroup(_ group: String) -> String {
        "arn:aws:autoscaling:\(region):\(account):autoScalingGroup:*:autoScalingGroupName/\(group)"
    }

    /// A log group's ARN.
    func logGroup(_ group: String) -> String { "arn:aws:logs:\(region):\(account):log-group:\(group)" }

    /// Every log group of the account in the region: list calls such as `DescribeLogGroups` are authorized on it.
    var allLogGroups: String { "arn:aws:logs:\(region):\(account):log-group:*" }

    /// The ARN of every stream of a log group.
    func logStreams(_ group: String) -> String { "arn:aws:logs:\(region):\(account):log-group:\(group):log-stream:*" }

    /// An S3 object's ARN.
    static func object(bucket: String, key: String) -> String { "arn:aws:s3:::\(bucket)/\(key)" }

    /// An S3 bucket's ARN.
    static func bucket(_ bucket: String) -> String { "arn:aws:s3:::\(bucket)" }
}
