/// When a journal source has shipped everything written before a drain began. A pure value type: `JournalInput`
/// feeds it what it reads and what CloudWatch accepted; tests drive it directly.
///
/// The journal is written by journald, not by the writers themselves: an entry the agent sent a moment before the
/// drain may not be in the journal files yet. When the source reads the agent's own unit, the drain therefore
/// begins by sending a marker entry and waits until the reader has seen it (journald handles one sender's entries
/// in order, so everything the agent logged before is in by then). Then, at the next end of the journal, the last
/// entry read becomes the target, and the drain is done once CloudWatch accepted an entry at or after it. Entries
/// that keep arriving meanwhile don't hold the drain up.
struct JournalDrain: Equatable {
    /// Where a drain stands.
    enum Phase: Equatable {
        /// No drain.
        case idle
        /// Waiting to read the marker entry (its message).
        case awaitingMarker([UInt8])
        /// Waiting for the reader to reach the end of the journal.
        case awaitingEnd
        /// Waiting for CloudWatch to accept the entry at this cursor (or a later one).
        case awaitingAcceptance(String)
        /// Everything written before the drain began was accepted.
        case done
    }

    private(set) var phase: Phase = .idle

    /// Whether the drain (if one runs) is complete.
    var isDone: Bool { phase == .done || phase == .idle }

    /// A drain begins; `marker` is the message of the marker entry just sent, if one was.
    mutating func begin(marker: [UInt8]?) {
        phase = marker.map { .awaitingMarker($0) } ?? .awaitingEnd
    }

    /// The drain is over (answered or given up).
    mutating func end() { phase = .idle }

    /// An entry was read.
    mutating func read(message: [UInt8]) {
        if case .awaitingMarker(let marker) = phase, message == marker { phase = .awaitingEnd }
    }

    /// The reader reached the end of the journal; `lastRead` is the cursor of the last entry read so far (nil: none
    /// since the start) and `accepted` that of the last one CloudWatch accepted.
    mutating func reachedEnd(lastRead: String?, accepted: String?) {
        guard phase == .awaitingEnd else { return }
        guard let lastRead else {
            phase = .done
            return
        }
        if let accepted, JournalCursorOrder.isAtOrAfter(accepted, lastRead) {
            phase = .done
        } else {
            phase = .awaitingAcceptance(lastRead)
        }
    }

    /// CloudWatch accepted entries up to `cursor`.
    mutating func accepted(_ cursor: String) {
        if case .awaitingAcceptance(let target) = phase, JournalCursorOrder.isAtOrAfter(cursor, target) {
            phase = .done
        }
    }
}

/// The order of journal cursors (`s=<seqnum id>;i=<seqnum>;b=<boot>;m=<monotonic>;t=<realtime>;x=<hash>`, all hex,
/// sd_journal_get_cursor(3)): by sequence number within one sequence-number ID (one journald instance), else by
/// wall-clock time.
enum JournalCursorOrder {
    /// The fields that order cursors.
    struct Fields: Equatable {
        var seqnumID: Substring
        var seqnum: UInt64
        var realtime: UInt64
    }

    /// Parses the ordering fields; nil for a cursor of another shape.
    static func fields(_ cursor: String) -> Fields? {
        var seqnumID: Substring?
        var seqnum: UInt64?
        var realtime: UInt64?
        for part in cursor.split(separator: ";") {
            guard part.count > 2, part[part.index(part.startIndex, offsetBy: 1)] == "=" else { continue }
            let value = part.dropFirst(2)
            switch part.first {
            case "s": seqnumID = value
            case "i": seqnum = UInt64(value, radix: 16)
            case "t": realtime = UInt64(value, radix: 16)
            default: break
            }
        }
        guard let seqnumID, let seqnum, let realtime else { return nil }
        return Fields(seqnumID: seqnumID, seqnum: seqnum, realtime: realtime)
    }

    /// Whether the entry at `cursor` comes at or after the entry at `target`. Cursors that can't be parsed compare
    /// equal only to themselves.
    static func isAtOrAfter(_ cursor: String, _ target: String) -> Bool {
        if cursor == target { return true }
        guard let a = fields(cursor), let b = fields(target) else { return false }
        return a.seqnumID == b.seqnumID ? a.seqnum >= b.seqnum : a.realtime >= b.realtime
    }
}
