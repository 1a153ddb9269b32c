/// One journal entry as the log shipper needs it.
///
/// Built from the entry's fields as libsystemd returns them
/// (https://www.freedesktop.org/software/systemd/man/sd_journal_get_data.html); entries without `MESSAGE` are
/// never produced (the reader passes over them).
public struct JournalEntry: Sendable, Equatable {
    /// The entry's cursor (`sd_journal_get_cursor`): the checkpoint to resume after it with `JournalStart.cursor`.
    public var cursor: String
    /// The journal's own timestamp of the entry, microseconds since the epoch (`sd_journal_get_realtime_usec`).
    public var realtimeMicroseconds: UInt64
    /// The bytes of the `MESSAGE` field, exactly: may be empty, binary, invalid UTF-8, or contain NUL and newlines.
    public var message: [UInt8]
    /// The unit the entry belongs to: `_SYSTEMD_UNIT`, or `UNIT` for systemd's own messages about the unit.
    public var unit: String?
    /// The syslog priority (`PRIORITY`, 0 emerg … 7 debug), if the entry has a numeric one.
    public var priority: Int?
    /// The sender's process ID (`_PID`, set by journald), if present.
    public var pid: Int32?

    /// Creates an entry.
    public init(
        cursor: String, realtimeMicroseconds: UInt64, message: [UInt8], unit: String? = nil, priority: Int? = nil,
        pid: Int32? = nil
    ) {
        self.cursor = cursor
        self.realtimeMicroseconds = realtimeMicroseconds
        self.message = message
        self.unit = unit
        self.priority = priority
        self.pid = pid
    }
}
