import AWSCore
import Logging
import Synchronization

/// Delivers batches to CloudWatch Logs until they are accepted.
///
/// - Throttling, 5xx, timeouts and resets: capped, fully jittered backoff, for as long as it takes (the file on disk
///   is the buffer; only the batches in flight are in memory). The backoff is the source's, not the batch's: when
///   one batch is refused for the rate, the source's other batches in flight and its next ones wait for the same
///   backoff instead of each keeping a request in the air (see `Backoff`).
/// - A fleet booting at once: until a source's first request is accepted, a refusal for the rate is answered with
///   a much wider backoff (`bootBackoff`, from 0–10 s up to 0–300 s): the herd of first PutLogEvents and
///   CreateLogStream calls spreads itself over as many seconds as the account's quota needs, instead of coming back
///   within a second. A boot that is not throttled sends at once (the first line is not delayed, and the reader is
///   never held up behind unsent batches).
/// - Missing group or stream (ResourceNotFoundException, e.g. an operator deleted it): created once, however many
///   batches found it missing (`StreamProvisioner`), then sent again.
/// - Credential and permission errors: retried slowly (an operator can fix the role; the data waits on disk).
/// - Refusals of the batch itself (InvalidParameterException and the like, which the batcher's limits should make
///   impossible): the events go to the dead-letter folder with the error — never silently dropped.
/// - `rejectedLogEventsInfo` (too old, too new, expired): those events go to the dead-letter folder, counted.
///
/// While a source's batches fail, the error is the source's current error (`currentErrors`), until one succeeds.
public struct LogSender: Sendable {
    /// How a batch ended.
    public struct Outcome: Sendable {
        /// Events refused, per reason.
        public var tooOld = 0
        public var tooNew = 0
        public var expired = 0
        /// Events written to the dead-letter folder in all.
        public var deadLettered = 0
        /// What went wrong with this batch in the end: CloudWatch refused it, its dead letters could not be
        /// written, or delivery was abandoned after this error. Nil when it was accepted (errors of attempts before
        /// the accepted one are over).
        public var lastError: String?
        /// Whether delivery was abandoned (shutdown deadline): the batch was not accepted.
        public var cancelled = false
    }

    let logs: CloudWatchLogsClient
    let provisioner: StreamProvisioner
    let deadLetters: DeadLetterWriter
    let gzip: Bool
    let logger: Logger
    private let shared: SharedState

    /// The backoff of a source that has had a request accepted: 0–0.25 s after the first failed round, doubling
    /// to 0–30 s.
    public static let steadyBackoff = Backoff.Scale(base: .milliseconds(250), cap: .seconds(30))
    /// The backoff of a source refused for the rate before any of its requests was accepted — a fleet booting at
    /// once: 0–10 s after the first refusal, doubling to 0–300 s (see bench/README.md "Scale" for the numbers).
    public static let bootBackoff = Backoff.Scale(base: .seconds(10), cap: .seconds(300))
    /// Retries after credential and permission errors wait at least this long, plus up to as much again.
    public static let slowRetry: Duration = .seconds(10)

    /// Creates a sender.
    /// - Parameter bootBackoff: the backoff before a source's first acceptance (tests shorten it).
    public init(
        logs: CloudWatchLogsClient, provisioner: StreamProvisioner, deadLetters: DeadLetterWriter, gzip: Bool,
        logger: Logger,
        bootBackoff: Backoff.Scale = LogSender.bootBackoff
    ) {
        self.logs = logs
        self.provisioner = provisioner
        self.deadLetters = deadLetters
        self.gzip = gzip
        self.logger = logger
        shared = SharedState(steady: Self.steadyBackoff, boot: bootBackoff)
    }

    /// Permanent refusals of a whole batch.
    static let refusedBatchCodes: Set<String> = [
        "InvalidParameterException", "SerializationException", "DataAlreadyAcceptedException",
        "InvalidSequenceTokenException",
    ]

    /// Per source, the error its batches are failing with right now (cleared when one of them is accepted). The
    /// missing group or stream the sender creates itself is not an error here.
    public var currentErrors: [String: String] {
        shared.state.withLock { table in table.sources.compactMapValues(\.error) }
    }

    /// Sends until accepted (or refused for good, or the task is cancelled).
    public func deliver(_ batch: OutgoingBatch) async -> Outcome {
        var outcome = Outcome()
        var failures = 0
        var lastError: String?
        while true {
            guard let ticket = await admit(batch.source) else {
                outcome.lastError = lastError
                outcome.cancelled = true
                return outcome
            }
            switch await attempt(batch, ticket: ticket) {
            case .accepted(let rejected):
                shared.accepted(batch.source, ticket)
                if let rejected { handle(rejected, batch, &outcome) }
                return outcome
            case .refused(let error):
                shared.accepted(batch.source, ticket)
                outcome.lastError = error.description
                deadLetter(batch, reason: "CloudWatch refused the batch: \(error)", &outcome)
                return outcome
            case .resend:
                continue
            case .failed(let error):
                lastError = "\(error)"
                if Task.isCancelled || (error as? AWSError)?.kind == .cancelled || error is CancellationError {
                    outcome.lastError = lastError
                    outcome.cancelled = true
                    return outcome
                }
                failures += 1
                let slow = Self.isSlow(error)
                let minimum = slow ? Self.slowRetry + Self.slowRetry * Double.random(in: 0..<1) : .zero
                let wait = shared.failed(
                    batch.source, ticket, error: "\(error)", throttled: RetryPolicy.isThrottling(error),
                    minimum: minimum)
                let level: Logger.Level = RetryPolicy.isThrottling(error) || failures < 3 ? .info : .warning
                logger.log(
                    level: level, "PutLogEvents failed; retrying",
                    metadata: [
                        "cwl.stream": "\(batch.stream)", "logs.source": "\(batch.source)",
                        "retry.attempt": "\(failures)",
                        "retry.delay_ms": "\(Self.milliseconds(wait))", "error": "\(error)",
                    ])
            }
        }
    }

    /// How one attempt ended.
    private enum Attempt {
        case accepted(CloudWatchLogsClient.RejectedEvents?)
        case refused(AWSError)
        case resend
        case failed(any Error)
    }

    /// One PutLogEvents (creating the stream first when it is known to be missing).
    private func attempt(_ batch: OutgoingBatch, ticket: Backoff.Ticket) async -> Attempt {
        let stream = await provisioner.observe(stream: batch.stream)
        do {
            if stream.knownMissing { try await provisioner.provision(stream: batch.stream, seen: stream.generation) }
            return .accepted(try await logs.putLogEvents(encodedBody: batch.body, gzip: gzip, retry: .none))
        } catch let error as AWSError
            where error.code == "ResourceNotFoundException" && error.operation == "PutLogEvents"
        {
            do {
                try await provisioner.provision(stream: batch.stream, seen: stream.generation)
                return .resend
            } catch {
                logger.error(
                    "cannot create the log group or stream",
                    metadata: ["cwl.stream": "\(batch.stream)", "error": "\(error)"])
                return .failed(error)
            }
        } catch let error as AWSError where error.code.map(Self.refusedBatchCodes.contains) ?? false {
            return .refused(error)
        } catch {
            return .failed(error)
        }
    }

    /// Waits until the source may send; nil when the task was cancelled meanwhile.
    private func admit(_ source: String) async -> Backoff.Ticket? {
        while true {
            switch shared.admit(source) {
            case .send(let ticket):
                return ticket
            case .wait(let until):
                do {
                    // In slices of at most a second: a drain may shorten the wait meanwhile (`drainStarted`).
                    try await Task.sleep(until: min(until, .now + Self.waitSlice), clock: .continuous)
                } catch {
                    return nil
                }
            }
        }
    }

    /// The longest a waiting batch sleeps before it looks at its source's backoff again.
    static let waitSlice = Duration.seconds(1)

    /// The agent is draining (scale-in, SIGTERM): a source still waiting on the wide boot backoff would outlast the
    /// drain, so from now on every source backs off on the steady scale, and waits drawn from the boot scale are
    /// drawn again from the steady one.
    public func drainStarted() {
        shared.endBoot()
    }

    /// Credential and permission errors: an operator has to act, so retries are slow.
    static func isSlow(_ error: any Error) -> Bool {
        guard let error = error as? AWSError else { return false }
        return error.httpStatus == 403 || error.kind == .credentials
            || error.hasCode("AccessDeniedException", "AccessDenied", "UnrecognizedClientException")
    }

    static func milliseconds(_ duration: Duration) -> Int {
        Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }

    private func handle(
        _ rejected: CloudWatchLogsClient.RejectedEvents, _ batch: OutgoingBatch, _ outcome: inout Outcome
    ) {
        if let end = rejected.tooOldLogEventEndIndex, end > 0 {
            outcome.tooOld = end
            deadLetter(
                batch, range: 0..<end, reason: "too old (more than 14 days, or older than the group's retention)",
                &outcome)
        }
        if let end = rejected.expiredLogEventEndIndex, end > 0 {
            outcome.expired = end
            deadLetter(batch, range: 0..<end, reason: "expired (older than the group's retention)", &outcome)
        }
        if let start = rejected.tooNewLogEventStartIndex, start < batch.events {
            outcome.tooNew = batch.events - start
            deadLetter(
                batch, range: start..<batch.events, reason: "too new (more than 2 hours in the future)", &outcome)
        }
        logger.warning(
            "CloudWatch rejected events; they are in the dead-letter folder",
            metadata: [
                "logs.source": "\(batch.source)", "logs.too_old": "\(outcome.tooOld)",
                "logs.too_new": "\(outcome.tooNew)",
                "logs.expired": "\(outcome.expired)",
            ])
    }

    private func deadLetter(_ batch: OutgoingBatch, range: Range<Int>? = nil, reason: String, _ outcome: inout Outcome)
    {
        do {
            outcome.deadLettered += try deadLetters.write(
                source: batch.source, stream: batch.stream, body: batch.body, range: range, reason: reason)
        } catch {
            outcome.lastError = "\(error)"
            logger.critical(
                "cannot write refused events to the dead-letter folder",
                metadata: ["logs.source": "\(batch.source)", "error": "\(error)"])
        }
    }
}

extension LogSender {
    /// What the senders of all sources share: per source, its backoff and its current error.
    final class SharedState: Sendable {
        struct Source {
            var backoff: Backoff
            var error: String?
        }

        struct Table {
            var sources: [String: Source] = [:]
            /// Set by a drain: every source is past its boot from then on.
            var bootOver = false
        }

        let state = Mutex(Table())
        let steady: Backoff.Scale
        let boot: Backoff.Scale

        init(steady: Backoff.Scale, boot: Backoff.Scale) {
            self.steady = steady
            self.boot = boot
        }

        /// The source's decision for one more request.
        func admit(_ source: String) -> Backoff.Decision {
            let now = ContinuousClock.now
            return state.withLock { table in
                // Stored on first sight: a failure must find the source's entry to record its wait and error.
                if table.sources[source] == nil {
                    var backoff = Backoff(steady: steady, boot: boot)
                    if table.bootOver { backoff.endBoot(now: now, random: 0) }
                    table.sources[source] = Source(backoff: backoff)
                }
                return table.sources[source]!.backoff.admit(now: now)
            }
        }

        func accepted(_ source: String, _ ticket: Backoff.Ticket) {
            state.withLock { table in
                let firstAcceptance = table.sources[source]?.backoff.proven == false
                table.sources[source]?.backoff.accepted(ticket)
                table.sources[source]?.error = nil
                // The account's quota let this agent through: its other sources still backing off at boot start their
                // boot scale over instead of sleeping out a wide draw (a source alone in a 0–300 s wait would show
                // its first lines minutes after its siblings). Refused again, their windows widen again.
                guard firstAcceptance else { return }
                let now = ContinuousClock.now
                for other in table.sources.keys where other != source {
                    table.sources[other]?.backoff.restartBoot(now: now, random: Double.random(in: 0..<1))
                }
            }
        }

        /// Records a failure; returns how long the source now waits.
        func failed(
            _ source: String, _ ticket: Backoff.Ticket, error: String, throttled: Bool, minimum: Duration
        ) -> Duration {
            let now = ContinuousClock.now
            return state.withLock { table in
                table.sources[source]?.error = error
                table.sources[source]?.backoff.failed(
                    ticket, now: now, random: Double.random(in: 0..<1), throttled: throttled, minimum: minimum)
                guard let notBefore = table.sources[source]?.backoff.notBefore, notBefore > now else { return .zero }
                return notBefore - now
            }
        }

        /// Ends the boot of every source, now and to come (see `Backoff.endBoot`).
        func endBoot() {
            let now = ContinuousClock.now
            state.withLock { table in
                table.bootOver = true
                for source in table.sources.keys {
                    table.sources[source]?.backoff.endBoot(now: now, random: Double.random(in: 0..<1))
                }
            }
        }
    }

    /// The backoff one source's batches share, as a value: when the next request may go, and how a failure moves
    /// that. Capped exponential backoff with full jitter ("Exponential Backoff And Jitter", AWS Architecture Blog),
    /// counted in rounds rather than per batch:
    ///
    /// - Every request takes a ticket naming the round it was sent in.
    /// - The first failure of the current round starts the next round: the source waits a uniform random part of
    ///   the ceiling (at least `minimum`), and every request waits for it — the batches in flight when the round
    ///   failed (their failures are part of the same round and move nothing) and the source's next batches.
    /// - The ceiling is `min(cap, base × 2^(failures − 1))` of the `steady` scale, or of the much wider `boot` scale
    ///   when the failure is a refusal for the rate and no request of the source has been accepted yet: a source
    ///   throttled before its first acceptance is part of a herd of instances starting together, and spreading
    ///   its retries over seconds to minutes is what lets the herd through the account's quota.
    /// - An acceptance of a request sent in the current round ends the backoff (failures back to zero);
    ///   acceptances of older requests prove nothing about the rate now and change nothing, except that the source
    ///   is past its boot.
    /// - A source's first acceptance starts the boot scale over for the agent's other sources still in their boot
    ///   (`restartBoot`): the tail of a herd is then set by the luckiest source of each instance, not the unluckiest.
    public struct Backoff: Sendable, Equatable {
        /// How fast the ceiling grows: `min(cap, base × 2^(failures − 1))`.
        public struct Scale: Sendable, Equatable {
            /// The first ceiling.
            public var base: Duration
            /// The largest ceiling.
            public var cap: Duration

            /// Creates a scale.
            public init(base: Duration, cap: Duration) {
                self.base = base
                self.cap = cap
            }

            /// The ceiling of the wait after `failures` failed rounds.
            public func ceiling(afterFailures failures: Int) -> Duration {
                guard failures > 0 else { return .zero }
                return min(cap, base * (1 << min(failures - 1, 30)))
            }
        }

        /// Permission to send one request, in a round.
        public struct Ticket: Sendable, Equatable {
            /// The round the request was sent in.
            public var round: Int
        }

        /// Whether a request may go now.
        public enum Decision: Sendable, Equatable {
            /// Send it with this ticket (report the result with `accepted` or `failed`).
            case send(Ticket)
            /// Ask again at this instant.
            case wait(until: ContinuousClock.Instant)
        }

        /// The scale once a request was accepted.
        public let steady: Scale
        /// The scale of refusals for the rate before that.
        public let boot: Scale
        /// Failed rounds since the last acceptance.
        public private(set) var failures = 0
        /// The current round.
        public private(set) var round = 0
        /// Nothing is sent before this instant.
        public private(set) var notBefore: ContinuousClock.Instant?
        /// Whether the source is past its boot: a request of it has been accepted, or `endBoot` was called.
        public private(set) var proven = false

        /// Creates a backoff with nothing sent yet.
        public init(steady: Scale, boot: Scale) {
            self.steady = steady
            self.boot = boot
        }

        /// Whether a request may be sent at `now`.
        public func admit(now: ContinuousClock.Instant) -> Decision {
            if let notBefore, now < notBefore { return .wait(until: notBefore) }
            return .send(Ticket(round: round))
        }

        /// A request was accepted (or refused for good: the service answered, the rate was fine).
        public mutating func accepted(_ ticket: Ticket) {
            proven = true
            guard ticket.round == round else { return }
            failures = 0
        }

        /// Ends the boot: refusals for the rate no longer widen to the boot scale, and a wait drawn from it is cut to
        /// `random` × the steady ceiling of the failures so far, if that is sooner.
        public mutating func endBoot(now: ContinuousClock.Instant, random: Double) {
            guard !proven else { return }
            proven = true
            if let until = notBefore, until > now {
                notBefore = min(until, now + steady.ceiling(afterFailures: failures) * random)
            }
        }

        /// Starts the boot scale over for a source still in its boot (another source of the agent had its first
        /// acceptance): with more than one failed round, the wait is cut to `random` × the boot scale's first ceiling
        /// if that is sooner, and the failures count from one again.
        public mutating func restartBoot(now: ContinuousClock.Instant, random: Double) {
            guard !proven, failures > 1 else { return }
            failures = 1
            if let until = notBefore, until > now {
                notBefore = min(until, now + boot.ceiling(afterFailures: 1) * random)
            }
        }

        /// A request failed at `now`; `random` in `[0, 1)` picks the wait within the ceiling; `throttled` says
        /// whether it was refused for the rate.
        public mutating func failed(
            _ ticket: Ticket, now: ContinuousClock.Instant, random: Double, throttled: Bool, minimum: Duration = .zero
        ) {
            guard ticket.round == round else { return }
            failures += 1
            round += 1
            let scale = throttled && !proven ? boot : steady
            notBefore = now + max(minimum, scale.ceiling(afterFailures: failures) * random)
        }
    }
}
