import JournalReader
import Logging
import SystemdSupport

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
    /// The cursor of the last entry read.
    private var lastRead: String?
    /// Where a drain stands for this source.
    private var drain = JournalDrain()
    /// Whether this source reads the agent's own unit (then a drain waits for a marker entry of its own).
    private let readsOwnUnit: Bool

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
        let units = reader.units
        readsOwnUnit = SystemdUnit.ofThisProcess().map { units.contains($0) } ?? false
        if let reason = reader.fellBackFromCursor {
            logger.warning(
                "journal cursor not usable; shipping this boot's entries",
                metadata: ["logs.source": "\(source)", "logs.reason": "\(reason)"])
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
            drain.read(message: entry.message)
            lastRead = entry.cursor
        }
        if entries.count < limit {
            atEnd = true
            drain.reachedEnd(lastRead: lastRead, accepted: committedCursor)
        }
        return entries.count == limit
    }

    /// New entries may be there (the wait said so, or time passed).
    func poke() { atEnd = false }

    func commit(_ position: InputPosition) {
        guard case .cursor(let cursor) = position else { return }
        committedCursor = cursor
        drain.accepted(cursor)
    }

    /// A drain begins: everything in the journal now (and, when this source reads the agent's own unit, everything
    /// the agent logged until now) is to be shipped. A marker entry makes sure the agent's last entries are in.
    func beginDrain(id: String) {
        var marker: [UInt8]?
        if readsOwnUnit {
            let message = "shipping every log line written before the drain (marker \(id))"
            JournalLogHandler.send([
                "MESSAGE=\(message)", "PRIORITY=6", "SYSLOG_IDENTIFIER=clock-agent", "CLOCK_AGENT_DRAIN_MARKER=\(id)",
            ])
            marker = Array(message.utf8)
        }
        drain.begin(marker: marker)
        atEnd = false
    }

    /// The drain is over.
    func endDrain() { drain.end() }

    /// Whether everything written before the drain began was accepted.
    var drained: Bool { drain.isDone }

    func checkpoint() -> SourceCheckpoint { SourceCheckpoint(journalCursor: committedCursor) }
}
