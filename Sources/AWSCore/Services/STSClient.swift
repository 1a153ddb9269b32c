/// The one STS call the agent makes: `GetCallerIdentity`, which needs no permission and proves the credentials.
public struct STSClient: Sendable {
    /// Who the credentials belong to.
    public struct CallerIdentity: Sendable, Equatable {
        /// The account id.
        public var account: String
        /// The principal's ARN, e.g. `arn:aws:sts::123456789012:assumed-role/clock-agent/i-0123…`.
        public var arn: String
        /// The principal's unique id.
        public var userID: String
    }

    private let query: QueryProtocol

    /// Creates a client for a region (the regional STS endpoint).
    public init(client: AWSClient, region: String) {
        query = QueryProtocol(client: client, service: .sts, version: "2011-06-15", region: region)
    }

    /// `GetCallerIdentity`.
    public func getCallerIdentity() async throws -> CallerIdentity {
        let result = try await query.call("GetCallerIdentity", [])
        guard let account = result.child("Account")?.text, let arn = result.child("Arn")?.text else {
            throw AWSError(
                kind: .invalidResponse, service: "sts", operation: "GetCallerIdentity",
                message: "the answer lacks Account or Arn")
        }
        return CallerIdentity(account: account, arn: arn, userID: result.child("UserId")?.text ?? "")
    }
}
