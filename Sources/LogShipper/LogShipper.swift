import AWSCore
import AgentConfig
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Ships the app's output, log files and journald units to CloudWatch Logs with at-least-once delivery: a source's
/// checkpoint moves only after PutLogEvents accepted the data, `kill -9` loses nothing (the batches in flight are
/// sent again), and a drain ships everything written before it began.
///
/// Reading, framing and batching run on one thread (`ShipperLoop`); each finished batch is delivered by a task
/// (`LogSender`), several in flight per stream.
public final class LogShipper: Sendable {
    /// What to ship and how.
    public struct Settings: Sendable {
        public var logs: LogsConfiguration
        public var stateDirectory: String
        /// The app's output file (the `app` source).
        public var appOutputPath: String
        public var names: StreamName.Values
        /// Read journal files from this directory instead of the system journal (tests).
        public var journalDirectory: String?
        /// How long a batch waits for more events.
        public var flushInterval: Duration
        /// Compress request bodies.
        public var gzip: Bool
        /// Batches in flight per stream.
        public var maxInFlight: Int

        /// Creates settings.
        public init(
            logs: LogsConfiguration, stateDirectory: String, appOutputPath: String, names: StreamName.Values,
            journalDirectory: String? = nil, flushInterval: Duration = .seconds(1), gzip: Bool = false,
            maxInFlight: Int = 4
        ) {
            self.logs = logs
            self.stateDirectory = stateDirectory
            self.appOutputPath = appOutputPath
            self.names = names
            self.journalDirectory = journalDirectory
            self.flushInterval = flushInterval
            self.gzip = gzip
            self.maxInFlight = maxInFlight
        }
    }

    private let loop: ShipperLoop
    private let sender: LogSender
    private let checkpoints: CheckpointStore
    private let batches: AsyncStream<OutgoingBatch>
    private let batchSink: AsyncStream<OutgoingBatch>.Continuation
    private let logger: Logger
    /// Creates groups and streams on demand.
    public let provisioner: StreamProvisioner

    /// Sets up every source (loading checkpoints; a corrupt one is moved aside and reported).
    public init(settings: Settings, logs: CloudWatchLogsClient, logger: Logger) throws {
        self.logger = logger
        if !Self.mappedBodies {
            logger.debug("cannot fix the allocator's mmap threshold; freed request bodies may stay resident")
        }
        checkpoints = try CheckpointStore(directory: settings.stateDirectory + "/checkpoints")
        provisioner = StreamProvisioner(
            logs: logs, group: settings.logs.group, retentionDays: settings.logs.retentionDays, logger: logger)
        sender = LogSender(
            logs: logs, provisioner: provisioner,
            deadLetters: DeadLetterWriter(directory: settings.stateDirectory + "/dead-letter"),
            gzip: settings.gzip, logger: logger)
        var pipelines: [Pipeline] = []
        for source in settings.logs.sources {
            let stream = StreamName.render(settings.logs.stream, source: source.name, values: settings.names)
            let checkpoint = Self.loadCheckpoint(checkpoints, source: source.name, logger: logger)
            let input: Pipeline.Input
            switch source.kind {
            case .app:
                // The supervisor creates the file later; its directory must exist now to be watched.
                try makeDirectory(FileInput.parent(of: settings.appOutputPath))
                let file = try FileInput(
                    source: source.name, pattern: settings.appOutputPath, multilineStart: nil, punchHoles: true,
                    logger: logger)
                file.start(checkpoint: checkpoint)
                input = .files(file)
            case .file(let path, let multilineStart):
                let file = try FileInput(
                    source: source.name, pattern: path, multilineStart: multilineStart, punchHoles: false,
                    logger: logger)
                file.start(checkpoint: checkpoint)
                input = .files(file)
            case .journal(let units):
                input = .journal(
                    try JournalInput(
                        source: source.name, units: units, directory: settings.journalDirectory, checkpoint: checkpoint,
                        logger: logger))
            }
            pipelines.append(
                Pipeline(
                    name: source.name, stream: stream, group: settings.logs.group, input: input,
                    bodies: settings.maxInFlight + 1))
            logger.info(
                "shipping a log source",
                metadata: [
                    "logs.source": "\(source.name)", "cwl.group": "\(settings.logs.group)", "cwl.stream": "\(stream)",
                ])
        }
        (batches, batchSink) = AsyncStream<OutgoingBatch>.makeStream()
        let sink = batchSink
        loop = try ShipperLoop(
            pipelines: pipelines, checkpoints: checkpoints,
            settings: .init(flushInterval: settings.flushInterval, maxInFlight: settings.maxInFlight), logger: logger,
            dispatch: { sink.yield($0) })
        sourceIndex = Dictionary(uniqueKeysWithValues: pipelines.enumerated().map { ($1.name, $0) })
    }

    private let sourceIndex: [String: Int]

    private static func loadCheckpoint(_ store: CheckpointStore, source: String, logger: Logger) -> SourceCheckpoint? {
        do {
            return try store.load(source: source)
        } catch {
            let path = store.file(source)
            let aside = path + ".corrupt-\(Int(UTCTime.now().secondsSinceEpoch))"
            rename(path, aside)
            logger.error(
                "checkpoint unreadable; moved aside, the source starts over (events may be sent twice)",
                metadata: ["logs.source": "\(source)", "file.path": "\(aside)", "error": "\(error)"])
            return nil
        }
    }

    /// Runs until `drain()` has finished.
    public func run() async {
        loop.start()
        await withDiscardingTaskGroup { group in
            for await batch in batches {
                // The task takes the batch out of the parcel, so that once it is delivered no closure context keeps
                // its body alive: the body goes back to the reader for reuse with no other reference left.
                let parcel = Parcel(batch)
                group.addTask { await self.deliver(parcel.take()) }
            }
        }
        await checkpoints.flush()
        checkpoints.stop()
    }

    private func deliver(_ batch: consuming OutgoingBatch) async {
        let outcome = await sender.deliver(batch)
        loop.post(
            .delivered(
                source: sourceIndex[batch.source] ?? 0, sequence: batch.sequence, events: batch.events,
                bytes: batch.bytes,
                outcome: outcome, body: batch.body))
    }

    /// Ships everything written so far and waits until CloudWatch accepted it and the checkpoints are on disk —
    /// or until `deadline`, reporting what was left. Shipping continues afterwards; call it as often as needed.
    @discardableResult
    public func drain(deadline: ContinuousClock.Instant) async -> DrainOutcome {
        sender.drainStarted()
        let outcome = await loop.drain(deadline: deadline)
        await checkpoints.flush()
        return outcome
    }

    /// Stops shipping (what was accepted stays checkpointed; the rest is read again next time).
    public func stop() {
        loop.stop()
        batchSink.finish()
    }

    /// Each source's statistics. `lastError` is the error the source's batches are failing with right now (while
    /// they retry), else what went wrong with its last batch or its input.
    public var stats: [SourceStats] {
        let current = sender.currentErrors
        guard !current.isEmpty else { return loop.stats }
        return loop.stats.map { stats in
            var stats = stats
            if let error = current[stats.source] { stats.lastError = error }
            return stats
        }
    }
}
