import CSystemd
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A reader of the journal entries of some systemd units, owning one `sd_journal` handle
/// (https://www.freedesktop.org/software/systemd/man/sd-journal.html).
///
/// The log shipper drives it from one dedicated thread: `next(limit:)` until it returns nothing, then
/// `wait(timeout:)`, and again. Both calls hold a lock around the handle (libsystemd handles are not thread-safe),
/// so `wait` also blocks a concurrent `next` until it returns.
///
/// What is selected: see `JournalFilter.units(_:)` — `_SYSTEMD_UNIT=<unit>`, or `_PID=1` with `UNIT=<unit>` for
/// systemd's own messages about the unit. Entries without a `MESSAGE` field are passed over.
public final class JournalReader: @unchecked Sendable {
    /// Why a `.cursor` start could not be used (e.g. a corrupted checkpoint), in which case the reader started at
    /// `.bootStart` instead; nil when it started where asked. The reader has no logger: the caller logs this.
    public let fellBackFromCursor: String?
    /// The units read, normalized (`clock-agent` → `clock-agent.service`); empty for a raw test filter.
    public let units: [String]

    /// The handle; only touched while `state` is locked, never handed out of the module.
    let handle: OpaquePointer
    /// What `next` carries from one call to the following one.
    private let state: Mutex<ReadState>

    /// What `next` carries between calls.
    struct ReadState: Sendable {
        /// The handle sits on an entry that has not been returned yet (a `.cursor` start whose entry is gone).
        var currentUnread = false
        /// An error met after some entries of a batch were read: the batch is returned, the error thrown next.
        var deferredError: JournalReaderError?
    }

    /// Opens the local journal (`SD_JOURNAL_LOCAL_ONLY`), or the journal files in `directory`
    /// (`sd_journal_open_directory`, for tests and tools), for the entries of `units`, positioned at `start`.
    ///
    /// Units without a type suffix get `.service`. Throws `JournalReaderError` for no units, a malformed unit
    /// name, or a failing libsystemd call; a `.cursor` that libsystemd refuses is not an error (see
    /// `fellBackFromCursor`).
    public convenience init(units: [String], directory: String? = nil, start: JournalStart) throws {
        try self.init(filter: JournalFilter.units(units), directory: directory, start: start, bootID: nil)
    }

    /// Opens a reader with any filter; `bootID` (32 hex digits) stands in for the current boot for `.bootStart`
    /// (journal files built by tests carry made-up boot IDs). nil reads it with `sd_id128_get_boot`.
    init(filter: JournalFilter, directory: String?, start: JournalStart, bootID: String?) throws(JournalReaderError) {
        var opened: OpaquePointer?
        if let directory {
            try journalCheck(
                sd_journal_open_directory(&opened, directory, 0), "sd_journal_open_directory", "directory \(directory)")
        } else {
            try journalCheck(sd_journal_open(&opened, Int32(SD_JOURNAL_LOCAL_ONLY)), "sd_journal_open")
        }
        guard let opened else {
            throw JournalReaderError(call: "sd_journal_open", errno: ENOMEM, detail: "no handle returned")
        }
        let position: Position
        do throws(JournalReaderError) {
            position = try Self.prepare(opened, filter: filter, start: start, bootID: bootID)
        } catch {
            sd_journal_close(opened)
            throw error
        }
        handle = opened
        units = filter.units
        fellBackFromCursor = position.fellBack
        state = Mutex(ReadState(currentUnread: position.currentUnread))
    }

    deinit {
        sd_journal_close(handle)
    }

    /// Runs `body` with the handle while holding the lock.
    func withHandle<R>(_ body: (OpaquePointer) -> R) -> R {
        state.withLock { _ in body(handle) }
    }

    /// Up to `limit` entries after the current position, oldest first; empty when there are none (yet).
    ///
    /// Never blocks on the journal changing. The position moves past every entry returned. If reading fails
    /// part-way through a batch, the entries read so far are returned and the error is thrown by the next call;
    /// an entry whose fields could not be read is passed over after that.
    public func next(limit: Int) throws -> [JournalEntry] {
        guard limit > 0 else { return [] }
        return try state.withLock { state throws(JournalReaderError) -> [JournalEntry] in
            if let error = state.deferredError {
                state.deferredError = nil
                throw error
            }
            var entries: [JournalEntry] = []
            entries.reserveCapacity(min(limit, 4096))
            do throws(JournalReaderError) {
                while entries.count < limit {
                    if state.currentUnread {
                        state.currentUnread = false
                    } else if try journalCheck(sd_journal_next(handle), "sd_journal_next") == 0 {
                        break
                    }
                    if let entry = try readCurrentEntry() { entries.append(entry) }
                }
            } catch {
                if entries.isEmpty { throw error }
                state.deferredError = error
            }
            return entries
        }
    }

    /// Blocks the calling thread until the journal changes (entries appended, files rotated or added) or `timeout`
    /// passes (`sd_journal_wait`); returns true if it changed.
    ///
    /// Never call it on the Swift concurrency pool: the shipper calls it from a dedicated thread. Changes made
    /// since the reader was opened are not missed (its inotify watch exists from `init` on). journald signals
    /// appends through a 250 ms coalescing timer, so a wake-up follows a write within about half a second. A
    /// signal interrupting the wait returns false.
    public func wait(timeout: Duration) throws -> Bool {
        let microseconds = Self.microseconds(timeout)
        return try state.withLock { _ throws(JournalReaderError) -> Bool in
            let result = sd_journal_wait(handle, microseconds)
            if result == -EINTR { return false }
            try journalCheck(result, "sd_journal_wait")
            // SD_JOURNAL_APPEND and SD_JOURNAL_INVALIDATE (rotation, new or removed files: libsystemd re-reads
            // them itself) both mean there may be more to read.
            return Int(result) != Int(SD_JOURNAL_NOP)
        }
    }

    /// A timeout for `sd_journal_wait`: microseconds, at least 0, and never `UINT64_MAX` (which means "forever").
    static func microseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        let capped = UInt64(min(seconds, 100 * 365 * 86_400))
        return capped * 1_000_000 + UInt64(attoseconds / 1_000_000_000_000)
    }
}
