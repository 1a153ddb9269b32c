/// One source on its way to its stream: the batch being built, the batches in flight, and what has been accepted.
final class Pipeline {
    enum Input {
        case files(FileInput)
        case journal(JournalInput)
    }

    let name: String
    let stream: String
    let input: Input
    /// The open batch; the reading loop borrows it for a whole read through `withAssembler`.
    private var assembler: BatchAssembler
    var acks = AckTracker()
    var stats: SourceStats
    /// Batches sealed but not dispatched yet.
    var queued: [OutgoingBatch] = []
    /// The checkpoint last queued for writing.
    var lastSaved: SourceCheckpoint?
    let metrics: SourceMetrics

    /// - Parameter bodies: request bodies kept for reuse (the batches that can be in flight, plus one).
    init(name: String, stream: String, group: String, input: Input, bodies: Int) {
        self.name = name
        self.stream = stream
        self.input = input
        assembler = BatchAssembler(source: name, group: group, stream: stream, poolLimit: bodies)
        stats = SourceStats(source: name, stream: stream)
        metrics = SourceMetrics(source: name)
    }

    /// Runs `body` with the open batch borrowed: one exclusive access for the whole read instead of one per line.
    func withAssembler<Result>(_ body: (inout BatchAssembler) -> Result) -> Result { body(&assembler) }

    /// When the open batch must be sent at the latest.
    func deadline(flushInterval: Duration) -> ContinuousClock.Instant? {
        assembler.openedAt.map { $0.advanced(by: flushInterval) }
    }

    var isBuilding: Bool { assembler.isBuilding }

    /// Closes the open batch, if any, and queues it with the batches `add` completed; registers them as sent.
    func sealAndCollect(now: ContinuousClock.Instant, sealOpen: Bool) {
        var batches = assembler.takeCompleted()
        if sealOpen, let batch = assembler.seal(now: now) { batches.append(batch) }
        for batch in batches {
            stats.sanitised += Int64(batch.sanitisedEvents)
            stats.truncated += Int64(batch.truncatedEvents)
            acks.sent(batch.sequence, positions: batch.positions)
            queued.append(batch)
        }
    }

    /// A delivered batch's body, for the next batches.
    func recycle(_ body: consuming [UInt8]) { assembler.recycle(body) }

    /// Lets go of body memory once shipping has gone quiet.
    func releaseMemory() { assembler.releaseMemory() }
}
