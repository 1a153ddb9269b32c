import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Chooses where the agent's own logs go.
///
/// Under systemd, stderr is connected to the journal and `JOURNAL_STREAM` holds that stream's `device:inode`
/// (systemd.exec(5), "$JOURNAL_STREAM"): then entries are written natively with structured fields. Otherwise
/// they are text lines on stderr.
public enum AgentLogging {
    /// Where log lines go.
    public enum Destination: String, Sendable {
        case journal
        case text
    }

    /// The destination for this process, given `JOURNAL_STREAM`.
    public static func destination(journalStream: String?) -> Destination {
        guard let journalStream else { return .text }
        let parts = journalStream.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return .text }
        var info = stat()
        guard fstat(2, &info) == 0 else { return .text }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode ? .journal : .text
    }

    /// Installs the handler for the whole process (call once, first thing in `main`).
    public static func bootstrap(journalStream: String?, level: Logger.Level) {
        let destination = destination(journalStream: journalStream)
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler
            switch destination {
            case .journal: handler = JournalLogHandler(label: label)
            case .text: handler = TextLogHandler(label: label)
            }
            handler.logLevel = level
            return handler
        }
    }
}
