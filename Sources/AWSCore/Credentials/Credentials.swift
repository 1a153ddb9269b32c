/// An AWS access key pair, with the session token and expiry of temporary credentials.
///
/// `description` never shows the secret or the token, so credentials can't leak into logs by interpolation.
public struct Credentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The access key id (not secret, but shown shortened).
    public var accessKeyID: String
    /// The secret access key.
    public var secretAccessKey: String
    /// The session token of temporary credentials.
    public var sessionToken: String?
    /// When temporary credentials stop working.
    public var expiration: UTCTime?

    /// Creates credentials.
    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: UTCTime? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }

    /// The access key id with all but its first four and last four characters masked.
    public var maskedAccessKeyID: String {
        guard accessKeyID.count > 8 else { return String(repeating: "*", count: accessKeyID.count) }
        return accessKeyID.prefix(4) + String(repeating: "*", count: accessKeyID.count - 8) + accessKeyID.suffix(4)
    }

    public var description: String {
        "Credentials(accessKeyID: \(maskedAccessKeyID), secret: <redacted>\(sessionToken == nil ? "" : ", token: <redacted>")\(expiration.map { ", expires: \($0)" } ?? ""))"
    }

    public var debugDescription: String { description }
}
