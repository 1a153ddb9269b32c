import AWSCore
import Logging
import Metrics

/// Reports to the Auto Scaling group: completes lifecycle actions, sends heartbeats, marks the instance unhealthy.
///
/// "No active Lifecycle Action found" needs care (Amazon EC2 Auto Scaling API Reference, and the race seen right
/// after a transition): the instance's state decides. While it is `…:Wait` (or a bare `Pending`/`Terminating`,
/// not yet waiting) the action isn't visible yet and the call is retried every few seconds; once it is
/// `…:Proceed`, `InService`, `Terminated` and the like, the action was already decided (by us earlier, a timeout or
/// an operator) and there is nothing left to do; with no group at all, lifecycle work stops.
public struct LifecycleReporter: Sendable {
    /// How a completion ended.
    public enum Outcome: Sendable, Equatable {
        /// Auto Scaling accepted our result.
        case completed
        /// The action had already been decided; the instance is in this state.
        case alreadyDecided(state: String)
        /// The instance is in no group any more.
        case notInGroup
    }

    private let autoscaling: AutoScalingClient
    /// The group.
    public let group: String
    /// This instance.
    public let instanceID: String
    private let logger: Logger
    private let raceRetryInterval: Duration

    /// Creates a reporter.
    public init(
        autoscaling: AutoScalingClient, group: String, instanceID: String, logger: Logger,
        raceRetryInterval: Duration = .seconds(5)
    ) {
        self.autoscaling = autoscaling
        self.group = group
        self.instanceID = instanceID
        self.logger = logger
        self.raceRetryInterval = raceRetryInterval
    }

    /// `CompleteLifecycleAction`, handling "No active Lifecycle Action found" as described above, until `deadline`.
    /// Throttling, 5xx answers and network trouble are retried with capped, jittered backoff until the deadline too:
    /// a verdict that never arrives leaves the instance to the hook's DefaultResult, which is usually ABANDON.
    public func complete(
        hook: String, result: AutoScalingClient.LifecycleActionResult, deadline: ContinuousClock.Instant
    ) async throws -> Outcome {
        var failures = 0
        while true {
            do {
                try await autoscaling.completeLifecycleAction(
                    group: group, hook: hook, instanceID: instanceID, result: result)
                Counter(
                    label: "clock_lifecycle_actions_completed_total",
                    dimensions: [("hook", hook), ("result", result.rawValue)]
                ).increment()
                logger.notice(
                    "lifecycle action completed",
                    metadata: ["asg.name": "\(group)", "asg.hook": "\(hook)", "asg.result": "\(result.rawValue)"])
                return .completed
            } catch let error as AWSError where Self.isNoActiveAction(error) {
                let instances = try await retrying("DescribeAutoScalingInstances", deadline: deadline) {
                    try await autoscaling.describeAutoScalingInstances([instanceID])
                }
                guard let instance = instances.first(where: { $0.instanceID == instanceID }) else {
                    logger.notice(
                        "the instance is in no Auto Scaling group any more; nothing to complete",
                        metadata: ["asg.hook": "\(hook)"])
                    return .notInGroup
                }
                let state = instance.lifecycleState
                guard Self.isWaiting(state) else {
                    logger.notice(
                        "lifecycle action was already decided",
                        metadata: ["asg.hook": "\(hook)", "asg.state": "\(state)", "asg.result": "\(result.rawValue)"])
                    return .alreadyDecided(state: state)
                }
                guard ContinuousClock.now.advanced(by: raceRetryInterval) < deadline else { throw error }
                logger.info(
                    "lifecycle action not visible yet; retrying",
                    metadata: ["asg.hook": "\(hook)", "asg.state": "\(state)"])
                try await Task.sleep(for: raceRetryInterval)
            } catch  where RetryPolicy.isRetryable(error) {
                failures += 1
                try await pause(
                    after: error, failures: failures, operation: "CompleteLifecycleAction", deadline: deadline)
            }
        }
    }

    /// `RecordLifecycleActionHeartbeat`.
    public func heartbeat(hook: String) async throws {
        try await autoscaling.recordLifecycleActionHeartbeat(group: group, hook: hook, instanceID: instanceID)
        Counter(label: "clock_lifecycle_heartbeats_total", dimensions: [("hook", hook)]).increment()
        logger.debug("lifecycle heartbeat sent", metadata: ["asg.hook": "\(hook)"])
    }

    /// One heartbeat whose failure is logged, never thrown: "No active Lifecycle Action found" only at debug level
    /// (normal before the action is visible and after it was decided), anything else as a warning.
    public func tryHeartbeat(hook: String) async {
        do {
            try await heartbeat(hook: hook)
        } catch let error as AWSError where Self.isNoActiveAction(error) {
            logger.debug("no active lifecycle action to heartbeat", metadata: ["asg.hook": "\(hook)"])
        } catch {
            logger.warning("lifecycle heartbeat failed", metadata: ["asg.hook": "\(hook)", "error": "\(error)"])
        }
    }

    /// Heartbeats every `interval` until the task is cancelled; failures are logged, never fatal.
    public func heartbeats(hook: String, every interval: Duration) async {
        while (try? await Task.sleep(for: interval)) != nil {
            await tryHeartbeat(hook: hook)
        }
    }

    /// `SetInstanceHealth Unhealthy` with `ShouldRespectGracePeriod=false`, so the group replaces the instance.
    /// Transient failures are retried until `deadline`: a crash loop is reported once, so the report must arrive.
    public func reportUnhealthy(reason: String, deadline: ContinuousClock.Instant) async throws {
        try await retrying("SetInstanceHealth", deadline: deadline) {
            try await autoscaling.setInstanceHealth(instanceID: instanceID, healthy: false, respectGracePeriod: false)
        }
        Counter(label: "clock_instance_marked_unhealthy_total").increment()
        logger.error(
            "instance marked Unhealthy in its Auto Scaling group",
            metadata: ["asg.name": "\(group)", "app.reason": "\(reason)"])
    }

    /// Runs `call` until it succeeds, fails for good, or `deadline` passes, backing off after retryable failures.
    private func retrying<T: Sendable>(
        _ operation: String, deadline: ContinuousClock.Instant, _ call: () async throws -> T
    ) async throws -> T {
        var failures = 0
        while true {
            do {
                return try await call()
            } catch  where RetryPolicy.isRetryable(error) {
                failures += 1
                try await pause(after: error, failures: failures, operation: operation, deadline: deadline)
            }
        }
    }

    /// Sleeps before the next attempt (1 s doubling up to 30 s, full jitter), or rethrows `error` when the deadline
    /// would pass first.
    private func pause(
        after error: any Error, failures: Int, operation: String, deadline: ContinuousClock.Instant
    ) async throws {
        let retrying = try await Self.retryPolicy.pause(beforeRetry: failures, deadline: deadline) {
            logger.warning(
                "Auto Scaling call failed; retrying",
                metadata: ["aws.operation": "\(operation)", "retry.attempt": "\(failures)", "error": "\(error)"])
        }
        guard retrying else { throw error }
    }

    /// Backoff for lifecycle calls on top of the client's own quick retries: 1 s doubling up to 30 s.
    static let retryPolicy = RetryPolicy(maxAttempts: Int.max, baseDelay: 1, maxDelay: 30)

    static func isNoActiveAction(_ error: AWSError) -> Bool {
        error.code == "ValidationError" && error.message.contains("No active Lifecycle Action found")
    }

    /// `…:Wait`, or a bare `Pending`/`Terminating` that is about to wait.
    static func isWaiting(_ state: String) -> Bool {
        state.hasSuffix(":Wait") || state == "Pending" || state == "Terminating"
    }
}
