import AWSCore
import Logging

/// Delivers batches to CloudWatch Logs until they are accepted.
///
/// - Throttling, 5xx, timeouts and resets: capped, jittered backoff, for as long as it takes (the file on disk is
///   the buffer; only the batches in flight are in memory).
/// - Missing group or stream (ResourceNotFoundException, e.g. an operator deleted it): created, then sent again.
/// - Credential and permission errors: retried slowly (an operator can fix the role; the data waits on disk).
/// - Refusals of the batch itself (InvalidParameterException and the like, which the batcher's limits should make
///   impossible): the events go to the dead-letter folder with the error — never silently dropped.
/// - `rejectedLogEventsInfo` (too old, too new, expired): those events go to the dead-letter folder, counted.
public struct LogSender: Sendable {
    /// How a batch ended.
    public struct Outcome: Sendable {
        /// Events refused, per reason.
        public var tooOld = 0
        public var tooNew = 0
        public var expired = 0
        /// Events written to the dead-letter folder in all.
        public var deadLettered = 0
        /// The last error seen while delivering, if any.
        public var lastError: String?
        /// Whether delivery was abandoned (shutdown deadline): the batch was not accepted.
        public var cancelled = false
    }

    let logs: CloudWatchLogsClient
    let provisioner: StreamProvisioner
    let deadLetters: DeadLetterWriter
    let gzip: Bool
    let logger: Logger
    let retry = RetryPolicy(maxAttempts: .max, baseDelay: 0.25, maxDelay: 30)

    /// Creates a sender.
    public init(logs: CloudWatchLogsClient, provisioner: StreamProvisioner, deadLetters: DeadLetterWriter, gzip: Bool, logger: Logger) {
        self.logs = logs
        self.provisioner = provisioner
        self.deadLetters = deadLetters
        self.gzip = gzip
        self.logger = logger
    }

    /// Permanent refusals of a whole batch.
    static let refusedBatchCodes: Set<String> = [
        "InvalidParameterException", "SerializationException", "DataAlreadyAcceptedException", "InvalidSequenceTokenException",
    ]

    /// Sends until accepted (or refused for good, or the task is cancelled).
    public func deliver(_ batch: OutgoingBatch) async -> Outcome {
        var outcome = Outcome()
        var attempt = 0
        while true {
            do {
                let rejected = try await logs.putLogEvents(encodedBody: batch.body, gzip: gzip, retry: .none)
                if let rejected { handle(rejected, batch, &outcome) }
                return outcome
            } catch let error as AWSError {
                outcome.lastError = error.description
                if error.kind == .cancelled || Task.isCancelled {
                    outcome.cancelled = true
                    return outcome
                }
                if error.code == "ResourceNotFoundException" {
                    do {
                        try await provisioner.provision(stream: batch.stream)
                        continue
                    } catch {
                        outcome.lastError = "\(error)"
                        logger.error("cannot create the log group or stream", metadata: ["cwl.stream": "\(batch.stream)", "error": "\(error)"])
                    }
                } else if let code = error.code, Self.refusedBatchCodes.contains(code) {
                    deadLetter(batch, reason: "CloudWatch refused the batch: \(error)", &outcome)
                    return outcome
                }
                attempt += 1
                let slow = error.httpStatus == 403 || error.kind == .credentials || error.hasCode("AccessDeniedException", "AccessDenied", "UnrecognizedClientException")
                let delay = slow ? max(retry.delay(beforeRetry: attempt), 10 + Double.random(in: 0..<10)) : retry.delay(beforeRetry: attempt)
                let level: Logger.Level = RetryPolicy.isThrottling(error) || attempt < 3 ? .info : .warning
                logger.log(
                    level: level, "PutLogEvents failed; retrying",
                    metadata: [
                        "cwl.stream": "\(batch.stream)", "logs.source": "\(batch.source)", "retry.attempt": "\(attempt)",
                        "retry.delay_ms": "\(Int(delay * 1000))", "error": "\(error)",
                    ])
                do {
                    try await Task.sleep(for: .milliseconds(Int(delay * 1000)))
                } catch {
                    outcome.cancelled = true
                    return outcome
                }
            } catch {
                outcome.lastError = "\(error)"
                outcome.cancelled = true
                return outcome
            }
        }
    }

    private func handle(_ rejected: CloudWatchLogsClient.RejectedEvents, _ batch: OutgoingBatch, _ outcome: inout Outcome) {
        if let end = rejected.tooOldLogEventEndIndex, end > 0 {
            outcome.tooOld = end
            deadLetter(batch, range: 0..<end, reason: "too old (more than 14 days, or older than the group's retention)", &outcome)
        }
        if let end = rejected.expiredLogEventEndIndex, end > 0 {
            outcome.expired = end
            deadLetter(batch, range: 0..<end, reason: "expired (older than the group's retention)", &outcome)
        }
        if let start = rejected.tooNewLogEventStartIndex, start < batch.events {
            outcome.tooNew = batch.events - start
            deadLetter(batch, range: start..<batch.events, reason: "too new (more than 2 hours in the future)", &outcome)
        }
        logger.warning(
            "CloudWatch rejected events; they are in the dead-letter folder",
            metadata: [
                "logs.source": "\(batch.source)", "logs.too_old": "\(outcome.tooOld)", "logs.too_new": "\(outcome.tooNew)",
                "logs.expired": "\(outcome.expired)",
            ])
    }

    private func deadLetter(_ batch: OutgoingBatch, range: Range<Int>? = nil, reason: String, _ outcome: inout Outcome) {
        do {
            outcome.deadLettered += try deadLetters.write(source: batch.source, stream: batch.stream, body: batch.body, range: range, reason: reason)
        } catch {
            outcome.lastError = "\(error)"
            logger.critical("cannot write refused events to the dead-letter folder", metadata: ["logs.source": "\(batch.source)", "error": "\(error)"])
        }
    }
}
