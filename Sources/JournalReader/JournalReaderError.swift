#if canImport(Glibc)
    import Glibc
#endif

/// A libsystemd journal call that failed, or a reader argument it refused.
///
/// The description reads like a log line: the call, the errno text and number, then what the reader was working
/// on, e.g. `sd_journal_open_directory: No such file or directory (errno 2); directory /var/log/x`.
public struct JournalReaderError: Error, CustomStringConvertible, Sendable {
    /// The failing call, e.g. `sd_journal_seek_cursor`, or `JournalReader.init` for a refused argument.
    public var call: String
    /// The (positive) errno value: libsystemd returns it negated.
    public var errno: Int32
    /// What the call was about (path, cursor, unit name, match), when that helps.
    public var detail: String?

    /// Creates an error.
    public init(call: String, errno: Int32, detail: String? = nil) {
        self.call = call
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        let text = strerror(errno).map { String(cString: $0) } ?? "unknown error"
        return "\(call): \(text) (errno \(errno))" + (detail.map { "; \($0)" } ?? "")
    }
}

/// Checks a libsystemd return value: negative values are `-errno` and become a thrown `JournalReaderError`.
@discardableResult
func journalCheck(
    _ result: Int32, _ call: String, _ detail: @autoclosure () -> String? = nil
) throws(JournalReaderError) -> Int32 {
    guard result >= 0 else { throw JournalReaderError(call: call, errno: -result, detail: detail()) }
    return result
}
