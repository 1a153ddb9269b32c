#if canImport(Glibc)
    import Glibc
#endif

/// The error type of process supervision: what failed, with the errno text when there is one.
public struct SupervisorError: Error, CustomStringConvertible, Sendable {
    /// What failed, e.g. `cannot start python3 (exec)`.
    public var message: String
    /// The errno, if any.
    public var errno: Int32?

    /// Creates an error.
    public init(message: String, errno: Int32? = nil) {
        self.message = message
        self.errno = errno
    }

    public var description: String {
        guard let errno else { return message }
        return "\(message): \(String(cString: strerror(errno)))"
    }
}
