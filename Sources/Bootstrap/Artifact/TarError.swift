#if canImport(Glibc)
    import Glibc
#endif

/// Why an archive was refused or could not be extracted: the entry at fault (when there is one) and the problem.
///
/// `description` reads like a log line, e.g. `archive entry "../evil": path escapes the release directory`. Names are
/// quoted with control characters escaped, so a hostile entry name cannot forge a line in the journal.
public struct TarError: Error, CustomStringConvertible, Sendable {
    /// The entry's name as the archive spells it; nil when the archive as a whole is at fault (e.g. corrupt gzip).
    public var entry: String?
    /// What is wrong, e.g. `path escapes the release directory`.
    public var message: String
    /// The `errno` of the system call that failed, when one did. Set exactly when the problem is local (disk full,
    /// permissions, I/O error) rather than the archive itself, so a caller can tell a retryable failure from a bad
    /// artifact.
    public var errorNumber: Int32?

    /// Creates an error about `entry` (or the whole archive when nil).
    public init(entry: String? = nil, message: String, errorNumber: Int32? = nil) {
        self.entry = entry
        self.message = message
        self.errorNumber = errorNumber
    }

    /// `archive entry "<name>": <message>[: <strerror> (errno N)]`, or `archive: <message>` without an entry.
    public var description: String {
        var reason = message
        if let errorNumber {
            reason += ": \(String(cString: strerror(errorNumber))) (errno \(errorNumber))"
        }
        guard let entry else { return "archive: \(reason)" }
        return "archive entry \(TarError.quoted(entry)): \(reason)"
    }

    /// Quotes a name for a message: `"` and `\` escaped, control characters as `\u{..}`.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                result += "\\u{\(String(scalar.value, radix: 16))}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    /// Quotes raw name bytes (invalid UTF-8 shown as U+FFFD).
    static func quoted(_ bytes: [UInt8]) -> String {
        quoted(String(decoding: bytes, as: UTF8.self))
    }
}
