import JournalReader
import Logging

/// The entries of a `journal` source: the listed units' messages with the journal's own timestamps, resumed from
/// the cursor of the last accepted entry.
final class JournalInput {
    let source: String
    private let reader: JournalReader
    private let logger: Logger
    private(set) var committedCursor: String?
    private(set) var lastError: String?
    /// Entries read and not yet accepted.
    private(set) var unacknowledged = 0
    private var atEnd = false

    init(source: String, units: [String], directory: String?, checkpoint: SourceCheckpoint?, logger: Logger) throws {
        self.source = source
        self.logger = logger
        committedCursor = checkpoint?.journalCursor
        let start: JournalStart = committedCursor.map { .cursor($0) } ?? .bootStart
        do {
            reader = try JournalReader(units: units, directory: directory, start: start)
        } catch {
            throw ShipperError(message: "logs source \(source): cannot open the journal: \(error)")
        }
        if let reason = reader.fellBackFromCursor {
            logger.warning("journal cursor not usable; shipping this boot's entries", metadata: ["logs.source": "\(source)", "logs.reason": "\(reason)"])
        }
    }

    /// The journal's descriptor to wait on, with `process()` after it fired.
    var descriptor: Int32? { reader.pollDescriptor }

    /// Tells the reader the descriptor fired.
    func process() {
        do {
            if try reader.process() { atEnd = false }
        } catch {
            lastError = "\(error)"
        }
    }

    /// Reads up to `limit` entries; returns true when there may be more right away.
    func pump(limit: Int, emit: (InputKey, UnsafeRawBufferPointer, Bool, InputPosition, Int64) -> Void) -> Bool {
        guard !atEnd else { return false }
        let entries: [JournalEntry]
        do {
            entries = try reader.next(limit: limit)
        } catch {
            lastError = "\(error)"
            logger.error("reading the journal failed", metadata: ["logs.source": "\(source)", "error": "\(error)"])
            atEnd = true
            return false
        }
        for entry in entries {
            entry.message.withUnsafeBytes { bytes in
                emit(.journal, bytes, false, .cursor(entry.cursor), Int64(entry.realtimeMicroseconds / 1000))
            }
        }
        if entries.count < limit { atEnd = true }
        return entries.count == limit
    }

    /// New entries may be there (the wait said so, or time passed).
    func poke() { atEnd = false }

    func commit(_ position: InputPosition) {
        if case .cursor(let cursor) = position { committedCursor = cursor }
    }

    func checkpoint() -> SourceCheckpoint { SourceCheckpoint(journalCursor: committedCursor) }
}
