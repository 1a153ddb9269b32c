/// One source on its way to its stream: the batch being built, the batches in flight, and what has been accepted.
final class Pipeline {
    enum Input {
        case files(FileInput)
        case journal(JournalInput)
    }

    let name: String
    let stream: String
    let input: Input
    var builder: BatchBuilder
    private var positions: [InputKey: InputPosition] = [:]
    private var openedAt: ContinuousClock.Instant?
    private var lastTimestamp: Int64 = 0
    var acks = AckTracker()
    private var nextSequence: UInt64 = 1
    var stats: SourceStats
    /// Batches sealed but held because too many are in flight (tiny events can fill several per read).
    var queued: [OutgoingBatch] = []
    /// The checkpoint last queued for writing.
    var lastSaved: SourceCheckpoint?
    let metrics: SourceMetrics

    init(name: String, stream: String, group: String, input: Input) {
        self.name = name
        self.stream = stream
        self.input = input
        builder = BatchBuilder(group: group, stream: stream)
        stats = SourceStats(source: name, stream: stream)
        metrics = SourceMetrics(source: name)
    }

    /// When the open batch must be sent at the latest.
    func deadline(flushInterval: Duration) -> ContinuousClock.Instant? { openedAt.map { $0.advanced(by: flushInterval) } }

    var isBuilding: Bool { !builder.isEmpty }

    /// Adds an event; returns batches that were completed by it (usually none, at most one or two).
    func add(
        key: InputKey, message: UnsafeRawBufferPointer, continued: Bool, position: InputPosition, timestamp: Int64,
        now: ContinuousClock.Instant
    ) -> [OutgoingBatch] {
        // CloudWatch refuses a batch whose events are out of order; a clock stepped back must not cause that.
        let time = max(timestamp, lastTimestamp)
        var completed: [OutgoingBatch] = []
        for _ in 0..<2 {
            do {
                try builder.append(timestamp: time, message: message, continued: continued)
                lastTimestamp = time
                positions[key] = position
                if openedAt == nil { openedAt = now }
                return completed
            } catch .empty {
                // Nothing to send (an empty line): still a position reached.
                if !builder.isEmpty { positions[key] = position } else { emptyAdvance[key] = position }
                return completed
            } catch {
                // .full: send what there is and add the event to a new batch.
                if let batch = seal(now: now) { completed.append(batch) }
            }
        }
        return completed
    }

    /// Positions reached by empty lines while no batch was open: committed with the next batch.
    private var emptyAdvance: [InputKey: InputPosition] = [:]

    /// Closes the open batch, if any, for sending.
    func seal(now: ContinuousClock.Instant) -> OutgoingBatch? {
        guard !builder.isEmpty else { return nil }
        var covered = emptyAdvance
        covered.merge(positions) { $1 }
        let batch = OutgoingBatch(
            sequence: nextSequence, source: name, stream: stream, body: builder.requestBody, events: builder.count,
            bytes: builder.size, inputBytes: 0, positions: covered, oldestRead: openedAt ?? now)
        stats.sanitised += Int64(builder.sanitisedEvents)
        stats.truncated += Int64(builder.truncatedEvents)
        acks.sent(nextSequence, positions: covered)
        nextSequence += 1
        builder.reset()
        positions.removeAll(keepingCapacity: true)
        emptyAdvance.removeAll()
        openedAt = nil
        return batch
    }
}
