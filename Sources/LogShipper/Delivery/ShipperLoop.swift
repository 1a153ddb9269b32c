import AWSCore
import CLinux
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The reading side of the shipper, on a thread of its own: waits on inotify (and the journal) with `poll`, reads
/// what changed, frames and batches it, and hands finished batches to the senders. It reads only while a source
/// has room for more batches in flight, so the files on disk are the buffer and memory stays bounded whatever the
/// backlog or however long CloudWatch is away. Idle, it sleeps in `poll` (no busy polling; a safety rescan runs
/// every 30 s).
final class ShipperLoop: @unchecked Sendable {
    /// Tunables.
    struct Settings {
        /// How long a batch may wait for more events before it is sent.
        var flushInterval: Duration = .seconds(1)
        /// Batches in flight per source.
        var maxInFlight = 4
        /// Bytes per read.
        var chunkSize = 256 * 1024
        /// Safety rescan of the file patterns.
        var rescanInterval: Duration = .seconds(30)
        /// After a read that found lines, change notifications are collected for this long before files are read
        /// again: a file written line by line costs one wake-up per interval, not one per line. Lines wait at most
        /// this long more (well inside the flush interval); a backlog is read without pause.
        var readCoalescing: Duration = .milliseconds(100)
        /// The status snapshot is rebuilt at most this often while busy (and always when the loop goes idle).
        var statsInterval: Duration = .milliseconds(100)
    }

    /// Messages from other threads.
    enum Message {
        /// A batch was delivered (or given up at shutdown); its body comes back for reuse.
        case delivered(
            source: Int, sequence: UInt64, events: Int, bytes: Int, outcome: LogSender.Outcome, body: [UInt8])
        case drain(CheckedContinuation<DrainOutcome, Never>, deadline: ContinuousClock.Instant)
        case stop
    }

    private let pipelines: [Pipeline]
    private let checkpoints: CheckpointStore
    private let settings: Settings
    private let logger: Logger
    private let dispatch: @Sendable (OutgoingBatch) -> Void
    private let inbox = Mutex<[Message]>([])
    private let wake: Int32
    private let inotify: Int32
    /// inotify watch descriptors: one per directory, shared by the sources whose patterns look there.
    private var watches: [Int32: (directory: String, pipelines: Set<Int>)] = [:]
    private let statsSnapshot = Mutex<[SourceStats]>([])
    private var drainWaiters: [(CheckedContinuation<DrainOutcome, Never>, ContinuousClock.Instant)] = []
    private var drainStarted = false
    private var stopRequested = false
    private var lastRescan = ContinuousClock.now
    /// When a read last found lines in a file (see `Settings.readCoalescing`).
    private var lastLinesRead = ContinuousClock.now.advanced(by: .seconds(-3600))
    /// When the status snapshot was last rebuilt, and whether a turn since then has not been published.
    private var lastPublished = ContinuousClock.now.advanced(by: .seconds(-3600))
    private var unpublished = false
    private let buffer: UnsafeMutableRawBufferPointer
    /// inotify events are read into this (allocated once: the tail path reads it on every wake-up).
    private let inotifyBuffer: UnsafeMutableRawBufferPointer

    init(
        pipelines: [Pipeline], checkpoints: CheckpointStore, settings: Settings, logger: Logger,
        dispatch: @escaping @Sendable (OutgoingBatch) -> Void
    ) throws {
        self.pipelines = pipelines
        self.checkpoints = checkpoints
        self.settings = settings
        self.logger = logger
        self.dispatch = dispatch
        wake = CLinux_wake_descriptor()
        inotify = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard wake >= 0, inotify >= 0 else {
            throw ShipperError(message: "cannot create the shipper's wait descriptors", errno: errno)
        }
        buffer = .allocate(byteCount: settings.chunkSize, alignment: 16)
        inotifyBuffer = .allocate(byteCount: 16 * 1024, alignment: 8)
        statsSnapshot.withLock { $0 = pipelines.map(\.stats) }
    }

    deinit {
        close(wake)
        close(inotify)
        buffer.deallocate()
        inotifyBuffer.deallocate()
    }

    /// Starts the thread.
    func start() { DedicatedThread.start(name: "shipper") { [self] in run() } }

    /// Sends a message to the loop and wakes it.
    func post(_ message: Message) {
        inbox.withLock { $0.append(message) }
        var one: UInt64 = 1
        _ = write(wake, &one, 8)
    }

    /// Reads everything written so far, sends it, and waits until it was accepted and the checkpoints are
    /// queued — or until `deadline`, when it reports what was left. Shipping goes on normally afterwards.
    func drain(deadline: ContinuousClock.Instant) async -> DrainOutcome {
        await withCheckedContinuation { post(.drain($0, deadline: deadline)) }
    }

    /// Ends the loop (after a drain, at exit).
    func stop() { post(.stop) }

    /// The sources' statistics as of the last loop turn.
    var stats: [SourceStats] { statsSnapshot.withLock { $0 } }

    // MARK: - The loop

    private func run() {
        for (index, pipeline) in pipelines.enumerated() {
            if case .files(let input) = pipeline.input { watch(input, pipeline: index) }
        }
        while true {
            let now = ContinuousClock.now
            handleInbox()
            var more = false
            for (index, pipeline) in pipelines.enumerated() {
                if pump(pipeline, index: index, now: now) { more = true }
            }
            flushDue(now: now)
            let draining = !drainWaiters.isEmpty
            if draining { finishDrains(now: now) }
            unpublished = true
            if draining || stopRequested || now - lastPublished >= settings.statsInterval {
                publishStats()
                lastPublished = now
                unpublished = false
            }
            if stopRequested { return }
            if now - lastRescan >= settings.rescanInterval {
                lastRescan = now
                rescanAll()
                more = true
            }
            if !more { trimIdleBodies() }
            // Collect change notifications for a while after a read that found lines (never while draining).
            let notificationsDue = lastLinesRead.advanced(by: settings.readCoalescing)
            let watchFiles = drainStarted || now >= notificationsDue
            var timeout = more ? 0 : timeout(now: now)
            if !watchFiles { timeout = min(timeout, Self.milliseconds(until: notificationsDue, from: now)) }
            if unpublished {
                timeout = min(
                    timeout, Self.milliseconds(until: lastPublished.advanced(by: settings.statsInterval), from: now))
            }
            waitForWork(timeout: timeout, watchFiles: watchFiles)
        }
    }

    /// Sources with nothing open and nothing in flight hold no body memory.
    private func trimIdleBodies() {
        for pipeline in pipelines where pipeline.acks.inFlight == 0 && !pipeline.isBuilding && pipeline.queued.isEmpty {
            pipeline.releaseMemory()
        }
    }

    private func handleInbox() {
        let messages = inbox.withLock { messages in
            let taken = messages
            messages.removeAll()
            return taken
        }
        for message in messages {
            switch message {
            case .delivered(let index, let sequence, let events, let bytes, let outcome, let body):
                pipelines[index].recycle(body)
                delivered(pipelines[index], sequence: sequence, events: events, bytes: bytes, outcome: outcome)
            case .drain(let waiter, let deadline):
                drainWaiters.append((waiter, deadline))
                if !drainStarted {
                    drainStarted = true
                    // Changes already reported count as written before the drain: read them before the targets.
                    readInotify()
                    let id = Self.drainID()
                    for pipeline in pipelines {
                        switch pipeline.input {
                        case .files(let input): input.setDrainTargets()
                        case .journal(let input): input.beginDrain(id: id)
                        }
                    }
                }
            case .stop:
                stopRequested = true
                for (waiter, _) in drainWaiters { waiter.resume(returning: drainOutcome(complete: false)) }
                drainWaiters.removeAll()
            }
        }
    }

    /// Reads from one source while it has room in flight; returns true if there is more to read right away.
    private func pump(_ pipeline: Pipeline, index: Int, now: ContinuousClock.Instant) -> Bool {
        dispatchQueued(pipeline)
        guard pipeline.acks.inFlight < settings.maxInFlight else { return false }
        let more: Bool
        switch pipeline.input {
        case .files(let input):
            // All lines of one read share the timestamp (and so the event head the builder formats once).
            let timestamp = UTCTime.now().milliseconds
            let buffer = self.buffer
            let draining = drainStarted
            let linger = settings.flushInterval
            var linesRead = false
            more = pipeline.withAssembler { assembler in
                let more = input.pump(chunks: 4, buffer: buffer, now: now) { key, line, continued, position in
                    linesRead = true
                    assembler.add(
                        key: key, message: line, continued: continued, position: position, timestamp: timestamp,
                        now: now)
                }
                input.flushHeld(now: now, linger: linger, draining: draining) { key, line, continued, position in
                    assembler.add(
                        key: key, message: line, continued: continued, position: position, timestamp: timestamp,
                        now: now)
                }
                return more
            }
            if linesRead { lastLinesRead = now }
            if input.releaseFinished(now: now) { save(pipeline) }
        case .journal(let input):
            more = pipeline.withAssembler { assembler in
                input.pump(limit: 1000) { key, message, continued, position, timestamp in
                    assembler.add(
                        key: key, message: message, continued: continued, position: position, timestamp: timestamp,
                        now: now)
                }
            }
        }
        pipeline.sealAndCollect(now: now, sealOpen: false)
        dispatchQueued(pipeline)
        return more && pipeline.acks.inFlight < settings.maxInFlight
    }

    private func dispatchQueued(_ pipeline: Pipeline) {
        while !pipeline.queued.isEmpty {
            let batch = pipeline.queued.removeFirst()
            pipeline.stats.batchesSent += 1
            pipeline.metrics.batches.increment()
            dispatch(batch)
        }
    }

    /// Sends batches that waited the flush interval (or everything, when draining).
    private func flushDue(now: ContinuousClock.Instant) {
        for pipeline in pipelines where pipeline.isBuilding {
            let due = pipeline.deadline(flushInterval: settings.flushInterval).map { now >= $0 } ?? false
            if due || drainStarted {
                pipeline.sealAndCollect(now: now, sealOpen: true)
                dispatchQueued(pipeline)
            }
        }
    }

    private func delivered(_ pipeline: Pipeline, sequence: UInt64, events: Int, bytes: Int, outcome: LogSender.Outcome)
    {
        pipeline.stats.rejectedTooOld += Int64(outcome.tooOld)
        pipeline.stats.rejectedTooNew += Int64(outcome.tooNew)
        pipeline.stats.rejectedExpired += Int64(outcome.expired)
        pipeline.stats.deadLettered += Int64(outcome.deadLettered)
        pipeline.stats.lastError = outcome.lastError
        pipeline.metrics.rejectedTooOld.increment(by: Int64(outcome.tooOld))
        pipeline.metrics.rejectedTooNew.increment(by: Int64(outcome.tooNew))
        pipeline.metrics.rejectedExpired.increment(by: Int64(outcome.expired))
        pipeline.metrics.deadLettered.increment(by: Int64(outcome.deadLettered))
        if outcome.cancelled { return }
        pipeline.stats.eventsShipped += Int64(events - outcome.deadLettered)
        pipeline.stats.bytesShipped += Int64(bytes)
        pipeline.metrics.eventsShipped.increment(by: Int64(events - outcome.deadLettered))
        pipeline.metrics.bytesShipped.increment(by: Int64(bytes))
        for positions in pipeline.acks.acknowledge(sequence) {
            for (key, position) in positions {
                switch pipeline.input {
                case .files(let input): input.commit(key, position)
                case .journal(let input): input.commit(position)
                }
            }
        }
        save(pipeline)
    }

    /// Queues the source's checkpoint for writing, unless it is what was written last.
    private func save(_ pipeline: Pipeline) {
        let checkpoint: SourceCheckpoint
        switch pipeline.input {
        case .files(let input): checkpoint = input.checkpoint()
        case .journal(let input): checkpoint = input.checkpoint()
        }
        guard checkpoint != pipeline.lastSaved else { return }
        pipeline.lastSaved = checkpoint
        checkpoints.save(source: pipeline.name, checkpoint)
    }

    /// Answers drain waiters whose drain is complete or whose deadline passed; ends drain mode when none is left.
    private func finishDrains(now: ContinuousClock.Instant) {
        let complete = drainComplete()
        drainWaiters.removeAll { waiter, deadline in
            guard complete || now >= deadline else { return false }
            waiter.resume(returning: drainOutcome(complete: complete))
            return true
        }
        if drainWaiters.isEmpty {
            drainStarted = false
            for pipeline in pipelines {
                switch pipeline.input {
                case .files(let input): input.clearDrainTargets()
                case .journal(let input): input.endDrain()
                }
            }
        }
    }

    private func drainOutcome(complete: Bool) -> DrainOutcome {
        var left: [String: Int64] = [:]
        for pipeline in pipelines {
            switch pipeline.input {
            case .files(let input):
                let behind = input.drainLeft
                if behind > 0 { left[pipeline.name] = behind }
            case .journal(let input):
                if !input.drained { left[pipeline.name] = -1 }
            }
        }
        return DrainOutcome(complete: complete, unshippedBytes: left)
    }

    /// Whether every source's data from before the drain began was accepted (data written since doesn't count).
    private func drainComplete() -> Bool {
        pipelines.allSatisfy { pipeline in
            switch pipeline.input {
            case .files(let input): return input.drained
            case .journal(let input): return input.drained
            }
        }
    }

    /// A short random id for a drain's journal marker.
    private static func drainID() -> String {
        String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }

    private func publishStats() {
        let snapshot = pipelines.map { pipeline -> SourceStats in
            var stats = pipeline.stats
            stats.inFlight = pipeline.acks.inFlight
            switch pipeline.input {
            case .files(let input):
                stats.backlogBytes = input.backlog
                stats.lostBytes = input.lostBytes
                stats.positions = input.positions
                if stats.lastError == nil { stats.lastError = input.lastError }
            case .journal(let input):
                stats.positions = input.committedCursor.map { [$0] } ?? []
                if stats.lastError == nil { stats.lastError = input.lastError }
            }
            pipeline.metrics.backlog.record(Double(stats.backlogBytes))
            pipeline.metrics.inFlight.record(Double(stats.inFlight))
            pipeline.metrics.lost.record(Double(stats.lostBytes))
            return stats
        }
        statsSnapshot.withLock { $0 = snapshot }
    }

    // MARK: - Waiting

    private func timeout(now: ContinuousClock.Instant) -> Int32 {
        var deadline = lastRescan.advanced(by: settings.rescanInterval)
        for (_, drainDeadline) in drainWaiters { deadline = min(deadline, drainDeadline) }
        for pipeline in pipelines {
            if let due = pipeline.deadline(flushInterval: settings.flushInterval) { deadline = min(deadline, due) }
            if case .files(let input) = pipeline.input {
                if let held = input.nextHeldDeadline(linger: settings.flushInterval) { deadline = min(deadline, held) }
                if input.files.values.contains(where: { $0.detached }) {
                    deadline = min(deadline, now.advanced(by: .seconds(1)))
                }
            }
        }
        return Self.milliseconds(until: deadline, from: now)
    }

    /// Milliseconds to wait for `deadline` (rounded up, at most a minute).
    private static func milliseconds(
        until deadline: ContinuousClock.Instant, from now: ContinuousClock.Instant
    ) -> Int32 {
        let remaining = deadline - now
        if remaining <= .zero { return 0 }
        return Int32(
            min(
                remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000 + 1,
                60_000))
    }

    /// Sleeps in `poll` until a message, a journal, a file change (when `watchFiles`) or the timeout.
    private func waitForWork(timeout: Int32, watchFiles: Bool) {
        // A negative descriptor is ignored by poll(2): file changes wait in the inotify queue meanwhile.
        var descriptors = [
            pollfd(fd: wake, events: Int16(POLLIN), revents: 0),
            pollfd(fd: watchFiles ? inotify : -1, events: Int16(POLLIN), revents: 0),
        ]
        var journals: [(Int, JournalInput)] = []
        for pipeline in pipelines {
            if case .journal(let input) = pipeline.input, let fd = input.descriptor {
                journals.append((descriptors.count, input))
                descriptors.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
            }
        }
        let ready = poll(&descriptors, nfds_t(descriptors.count), timeout)
        guard ready > 0 else {
            for (_, input) in journals { input.process() }
            return
        }
        if descriptors[0].revents != 0 {
            var value: UInt64 = 0
            _ = read(wake, &value, 8)
        }
        if watchFiles, descriptors[1].revents != 0 { readInotify() }
        for (index, input) in journals where descriptors[index].revents != 0 { input.process() }
    }

    // MARK: - inotify

    private func watch(_ input: FileInput, pipeline: Int) {
        for directory in input.directories {
            let mask = UInt32(
                IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB
                    | IN_ONLYDIR)
            let descriptor = inotify_add_watch(inotify, directory, mask)
            if descriptor < 0 {
                logger.warning(
                    "cannot watch a log directory; looking again every 30 s",
                    metadata: [
                        "logs.source": "\(input.source)", "file.directory": "\(directory)",
                        "error": "\(String(cString: strerror(errno)))",
                    ])
                continue
            }
            watches[descriptor, default: (directory, [])].pipelines.insert(pipeline)
        }
    }

    private func rescanAll() {
        for (index, pipeline) in pipelines.enumerated() {
            switch pipeline.input {
            case .files(let input):
                watch(input, pipeline: index)
                input.rescan()
                // Also records the files' current sizes, so a file lost while the agent is down can be counted.
                save(pipeline)
            case .journal(let input):
                input.poke()
            }
        }
    }

    private func readInotify() {
        let events = UnsafeRawBufferPointer(inotifyBuffer)
        while true {
            let count = read(inotify, inotifyBuffer.baseAddress, inotifyBuffer.count)
            if count <= 0 { return }
            var offset = 0
            while offset + 16 <= count {
                let descriptor = events.loadUnaligned(fromByteOffset: offset, as: Int32.self)
                let mask = events.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
                let cookie = events.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
                let length = Int(events.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                let nameBytes = events[(offset + 16)..<min(count, offset + 16 + length)]
                let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
                offset += 16 + length
                if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                    rescanAll()
                    continue
                }
                guard let watch = watches[descriptor] else { continue }
                if mask & UInt32(IN_IGNORED) != 0 {
                    watches.removeValue(forKey: descriptor)
                    continue
                }
                guard !name.isEmpty else { continue }
                for index in watch.pipelines {
                    if case .files(let input) = pipelines[index].input {
                        input.changed(
                            directory: watch.directory, name: name, movedFrom: mask & UInt32(IN_MOVED_FROM) != 0,
                            movedTo: mask & UInt32(IN_MOVED_TO) != 0, cookie: cookie)
                    }
                }
            }
        }
    }
}
