/// One source's open batch: the body being built, where each input stands once it is accepted, and the batches
/// completed while reading.
///
/// The shipper reads a chunk at a time and hands over each line; this is the per-line path, so it is a value type
/// the reading loop borrows for a whole read (no class property, no dictionary and no allocation per line). The
/// input position of the last line is kept in two fields and folded into the per-input map only when another input
/// comes along or the batch is sealed. It holds no `ContinuousClock.Instant` (a resilient type: a struct holding
/// one has no fixed layout, and every access to it would go through type metadata): the open batch's start is kept
/// as a `Duration` since a fixed instant.
public struct BatchAssembler: Sendable {
    /// The source's name.
    public let source: String
    /// The log stream.
    public let stream: String
    /// The batch being built (with the spare bodies for the next ones).
    public private(set) var builder: BatchBuilder
    /// When the open batch got its first event, as time since `Self.reference`.
    private var openedSince: Duration?
    /// Batches sealed by `add` (one filled up), in order, waiting to be collected with `takeCompleted()`.
    public private(set) var completed: [OutgoingBatch] = []
    private var lastTimestamp: Int64 = 0
    private var lastKey: InputKey?
    /// Where `lastKey` stands: a file offset is kept as plain integers (copying the enum, which may hold a journal
    /// cursor string, costs two outlined calls per line), anything else as the position itself.
    private var lastOffset: Int64 = 0
    private var lastGeneration = 0
    private var lastCursor: InputPosition?
    private var positions: [InputKey: InputPosition] = [:]
    /// Positions reached by empty lines while no batch was open: committed with the next batch.
    private var emptyAdvance: [InputKey: InputPosition] = [:]
    private var nextSequence: UInt64 = 1

    /// Starts with an empty batch.
    public init(
        source: String, group: String, stream: String, poolLimit: Int, maxBytes: Int = CloudWatchLimits.maxBatchBytes
    ) {
        self.source = source
        self.stream = stream
        builder = BatchBuilder(group: group, stream: stream, maxBytes: maxBytes, spareBodies: poolLimit)
    }

    /// Whether a batch is open.
    public var isBuilding: Bool { !builder.isEmpty }

    /// When the open batch got its first event.
    public var openedAt: ContinuousClock.Instant? { openedSince.map { Self.reference.advanced(by: $0) } }

    /// The instant `openedSince` counts from.
    private static let reference = ContinuousClock.now

    /// Adds one line (or piece of a line) read at `timestamp`; `position` is where its input stands after it.
    @inline(__always)
    public mutating func add(
        key: InputKey, message: UnsafeRawBufferPointer, continued: Bool, position: InputPosition, timestamp: Int64,
        now: ContinuousClock.Instant
    ) {
        // CloudWatch refuses a batch whose events are out of order; a clock stepped back must not cause that.
        let time = max(timestamp, lastTimestamp)
        do {
            try builder.append(timestamp: time, message: message, continued: continued)
        } catch .empty {
            skipped(key, position)
            return
        } catch {
            guard addToNewBatch(message: message, continued: continued, timestamp: time, now: now) else {
                skipped(key, position)
                return
            }
        }
        lastTimestamp = time
        reached(key, position)
        if builder.count == 1 { opened(now: now) }
    }

    /// The open batch is full: seals it and adds the event to the next; false when the event turned out empty.
    /// Kept out of `add` so that the per-line path needs no room for an `OutgoingBatch`.
    @inline(never)
    private mutating func addToNewBatch(
        message: UnsafeRawBufferPointer, continued: Bool, timestamp: Int64, now: ContinuousClock.Instant
    ) -> Bool {
        if let batch = seal(now: now) { completed.append(batch) }
        do {
            // An empty batch takes any event: a message is at most one event's size.
            try builder.append(timestamp: timestamp, message: message, continued: continued)
            return true
        } catch .empty {
            return false
        } catch {
            preconditionFailure("an empty batch refused an event: the batch limits are smaller than one event")
        }
    }

    @inline(never)
    private mutating func opened(now: ContinuousClock.Instant) { openedSince = now - Self.reference }

    /// Closes the open batch, if any, for sending.
    public mutating func seal(now: ContinuousClock.Instant) -> OutgoingBatch? {
        guard !builder.isEmpty else { return nil }
        if let lastKey { positions[lastKey] = lastPosition }
        var covered = emptyAdvance
        covered.merge(positions) { $1 }
        let events = builder.count
        let bytes = builder.size
        let sanitised = builder.sanitisedEvents
        let truncated = builder.truncatedEvents
        let body = builder.seal()
        let batch = OutgoingBatch(
            sequence: nextSequence, source: source, stream: stream, body: body, events: events, bytes: bytes,
            inputBytes: 0, positions: covered, sanitisedEvents: sanitised, truncatedEvents: truncated)
        nextSequence += 1
        positions.removeAll(keepingCapacity: true)
        emptyAdvance.removeAll()
        lastKey = nil
        openedSince = nil
        return batch
    }

    /// Takes a delivered body back for a later batch.
    public mutating func recycle(_ body: consuming [UInt8]) { builder.recycle(body) }

    /// Lets go of all body memory while no batch is open (the source has gone quiet).
    public mutating func releaseMemory() { builder.releaseMemory() }

    /// The batches sealed by `add` since the last call.
    public mutating func takeCompleted() -> [OutgoingBatch] {
        var taken: [OutgoingBatch] = []
        swap(&taken, &completed)
        return taken
    }

    /// An input moved on without an event (an empty line).
    private mutating func skipped(_ key: InputKey, _ position: InputPosition) {
        if builder.isEmpty { emptyAdvance[key] = position } else { reached(key, position) }
    }

    @inline(__always)
    private mutating func reached(_ key: InputKey, _ position: InputPosition) {
        if key != lastKey {
            if let lastKey { positions[lastKey] = lastPosition }
            lastKey = key
        }
        if case .offset(let offset, let generation) = position {
            lastOffset = offset
            lastGeneration = generation
            if lastCursor != nil { lastCursor = nil }
        } else {
            lastCursor = position
        }
    }

    /// The position of the last event added.
    private var lastPosition: InputPosition { lastCursor ?? .offset(lastOffset, generation: lastGeneration) }
}
