/// What one input (a file, the journal) is: its identity while the agent runs.
public enum InputKey: Hashable, Sendable, CustomStringConvertible {
    /// A file, by device and inode.
    case file(device: UInt64, inode: UInt64)
    /// The journal of a journal source.
    case journal

    public var description: String {
        switch self {
        case .file(let device, let inode): return "file \(device):\(inode)"
        case .journal: return "journal"
        }
    }
}

/// Where an input stands after some events: a byte offset (in a generation of the file: truncation starts a new
/// one) or a journal cursor.
public enum InputPosition: Sendable, Equatable {
    case offset(Int64, generation: Int)
    case cursor(String)
}

/// A finished PutLogEvents request body and what accepting it means for each input.
public struct OutgoingBatch: Sendable {
    /// Increasing per source; acknowledgements are applied in this order.
    public var sequence: UInt64
    /// The source's name.
    public var source: String
    /// The log stream.
    public var stream: String
    /// The JSON body (given back to the source's `BodyPool` after delivery).
    public var body: [UInt8]
    /// Events and CloudWatch-counted bytes.
    public var events: Int
    public var bytes: Int
    /// Raw input bytes the batch covers (for backlog accounting).
    public var inputBytes: Int64
    /// Where each input stands once this batch is accepted.
    public var positions: [InputKey: InputPosition]
    /// Events whose message had invalid UTF-8 or NUL replaced.
    public var sanitisedEvents = 0
    /// Events cut at the event size limit.
    public var truncatedEvents = 0
}

/// Applies acknowledgements in sequence order: a batch's positions count only once every earlier batch of the
/// same source was accepted too, so a checkpoint never jumps over data still in flight.
public struct AckTracker: Sendable {
    private var pending: [UInt64: [InputKey: InputPosition]] = [:]
    private var acknowledged: Set<UInt64> = []
    private var next: UInt64

    /// Starts expecting sequence `first`.
    public init(first: UInt64 = 1) { next = first }

    /// Batches sent and not yet acknowledged.
    public var inFlight: Int { pending.count - acknowledged.count }

    /// Records a sent batch.
    public mutating func sent(_ sequence: UInt64, positions: [InputKey: InputPosition]) {
        pending[sequence] = positions
    }

    /// Records an acknowledgement; returns the positions that may now be committed (oldest first).
    public mutating func acknowledge(_ sequence: UInt64) -> [[InputKey: InputPosition]] {
        guard pending[sequence] != nil else { return [] }
        acknowledged.insert(sequence)
        var ready: [[InputKey: InputPosition]] = []
        while acknowledged.contains(next), let positions = pending.removeValue(forKey: next) {
            acknowledged.remove(next)
            ready.append(positions)
            next += 1
        }
        return ready
    }
}
