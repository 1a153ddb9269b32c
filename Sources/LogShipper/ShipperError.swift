#if canImport(Glibc)
    import Glibc
#endif

/// The error type of the log shipper: what failed, with the errno text when there is one.
public struct ShipperError: Error, CustomStringConvertible, Sendable {
    /// What failed.
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
