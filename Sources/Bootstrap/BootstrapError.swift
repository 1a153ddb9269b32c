/// The error type of the Bootstrap module: what step failed, why, and whether trying again can help.
public struct BootstrapError: Error, CustomStringConvertible, Sendable {
    /// The step.
    public enum Step: String, Sendable {
        case identity
        case fetch
        case verify
        case install
        case prepare
        case lifecycle
        case app
    }

    /// The step that failed.
    public var step: Step
    /// What happened and what to do about it.
    public var message: String
    /// Whether a retry can't change the outcome (missing object, access denied, checksum mismatch, a failing
    /// prepare step).
    public var isPermanent: Bool
    /// The cause.
    public var underlying: (any Error & Sendable)?

    /// Creates an error.
    public init(step: Step, message: String, isPermanent: Bool, underlying: (any Error & Sendable)? = nil) {
        self.step = step
        self.message = message
        self.isPermanent = isPermanent
        self.underlying = underlying
    }

    public var description: String {
        var text = "\(step.rawValue): \(message)"
        if let underlying { text += " (\(underlying))" }
        return text
    }
}
