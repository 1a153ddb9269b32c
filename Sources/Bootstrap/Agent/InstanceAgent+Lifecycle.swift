import AWSCore
import Logging
import Supervisor

extension InstanceAgent {
    /// Instance metadata paths the watcher polls.
    static let targetStatePath = "meta-data/autoscaling/target-lifecycle-state"
    /// How long the agent waits for instance metadata to say whether the instance is in a warm pool before it
    /// starts the app anyway.
    static let targetStateWait: Duration = .seconds(30)
    /// A spot interruption notice without a time: EC2 gives two minutes; finish with a margin.
    static let spotDrainWithoutTime: Duration = .seconds(110)

    /// Polls instance metadata every `lifecycle.poll_interval` (with ±10 % jitter, reusing the IMDSv2 token): the
    /// target lifecycle state always, the spot notice and rebalance recommendation on spot instances only. One
    /// small request per interval on an on-demand instance. A failed read is tried again at the next poll.
    func watch(_ metadata: any MetadataReading) async {
        var detector = TransitionDetector()
        var isSpot: Bool?
        let interval = config.lifecycle.pollInterval.seconds
        while !Task.isCancelled {
            var decisions: [TransitionDetector.Decision] = []
            do {
                let target = try await metadata.get(Self.targetStatePath)?.trimmingASCIIWhitespace()
                note(target: target)
                if let decision = detector.target(target) { decisions.append(decision) }
            } catch {
                logger.debug(
                    "instance metadata poll failed",
                    metadata: ["imds.path": "\(Self.targetStatePath)", "error": "\(error)"])
            }
            do {
                if isSpot == nil {
                    isSpot =
                        (try await metadata.get("meta-data/instance-life-cycle"))?.trimmingASCIIWhitespace() == "spot"
                }
                if isSpot == true {
                    if let decision = detector.spot(try await metadata.get("meta-data/spot/instance-action")) {
                        decisions.append(decision)
                    }
                    if let decision = detector.rebalance(
                        try await metadata.get("meta-data/events/recommendations/rebalance"))
                    {
                        decisions.append(decision)
                    }
                }
            } catch {
                logger.debug(
                    "instance metadata poll failed", metadata: ["imds.path": "meta-data/spot", "error": "\(error)"])
            }
            for decision in decisions { await act(on: decision) }
            let delay = interval * Double.random(in: 0.9...1.1)
            do { try await Task.sleep(for: .milliseconds(Int(delay * 1000))) } catch { return }
        }
    }

    /// Records a polled target state; a parked warm-pool instance is woken when it reads `InService`, whatever the
    /// watcher saw before (it may have missed the `Warmed:*` state).
    private func note(target: String?) {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            if let target { state.targetState = target }
            guard target == "InService", let waiter = state.warmWaiter else { return nil }
            state.warmWaiter = nil
            return waiter
        }
        targetStateKnown.fire()
        if let waiter {
            logger.notice(
                "the instance left the warm pool; starting the app", metadata: ["asg.target_state": "InService"])
            waiter.resume(returning: true)
        }
    }

    /// The target lifecycle state, once instance metadata has answered (nil: no transition yet, or no answer within
    /// `targetStateWait`).
    func currentTargetState() async -> String? {
        if !(await targetStateKnown.wait(until: .now.advanced(by: Self.targetStateWait))) {
            logger.warning(
                "instance metadata did not say whether the instance is in a warm pool; starting the app",
                metadata: ["imds.path": "\(Self.targetStatePath)"])
        }
        return state.withLock { $0.targetState }
    }

    private func act(on decision: TransitionDetector.Decision) async {
        switch decision {
        case .terminate:
            logger.notice("the instance is being terminated; draining", metadata: ["asg.target_state": "Terminated"])
            state.withLock { $0.terminateHookWanted = true }
            await drain(
                reason: "the Auto Scaling group is terminating the instance",
                deadline: .now.advanced(by: config.lifecycle.drainTimeout))
        case .spotInterruption(let action, let time):
            var deadline = ContinuousClock.now.advanced(
                by: min(config.lifecycle.drainTimeout, Self.spotDrainWithoutTime))
            if let time {
                // Finish inside the notice, with a margin for the shutdown itself.
                let left = time.secondsSinceEpoch - UTCTime.now().secondsSinceEpoch - 10
                deadline = min(
                    ContinuousClock.now.advanced(by: config.lifecycle.drainTimeout),
                    .now.advanced(by: .milliseconds(Int(max(left, 1) * 1000))))
            }
            logger.notice(
                "spot interruption notice; draining before it",
                metadata: ["spot.action": "\(action)", "spot.time": "\(time.map(\.iso8601) ?? "unknown")"])
            await drain(reason: "spot interruption (\(action))", deadline: deadline)
        case .rebalanceRecommended(let noticeTime):
            logger.notice(
                "EC2 recommends rebalancing this spot instance", metadata: ["spot.rebalance_notice": "\(noticeTime)"])
        case .enterWarmPool(let target):
            let supervisor = state.withLock { state -> AppSupervisor? in
                guard state.supervising, !state.draining else { return nil }
                state.returningToWarmPool = target
                return state.supervisor
            }
            guard let supervisor else {
                logger.notice("the instance is going into a warm pool", metadata: ["asg.target_state": "\(target)"])
                return
            }
            // Scale-in with instance reuse: stop serving; the app's last words are shipped by `returnToWarmPool`.
            logger.notice(
                "the instance goes back into the warm pool; stopping the app",
                metadata: ["asg.target_state": "\(target)"])
            await supervisor.stopApp()
        case .leaveWarmPool:
            break  // `note(target:)` wakes the parked agent.
        }
    }

    /// The final drain, once: stop what runs (the bootstrap, the app — whose last words are captured), ship every
    /// line written before this point, then — only now — complete the terminate hook if the instance is being
    /// terminated, heartbeating it while the drain takes time. Ends at `deadline` with what could be shipped,
    /// saying what was left. A second caller waits for the first drain.
    func drain(reason: String, deadline: ContinuousClock.Instant) async {
        let (first, warmWaiter) = state.withLock { state -> (Bool, CheckedContinuation<Bool, Never>?) in
            guard !state.draining else { return (false, nil) }
            state.draining = true
            state.phase = .draining
            let waiter = state.warmWaiter
            state.warmWaiter = nil
            return (true, waiter)
        }
        stopRequested.fire()
        guard first else {
            await drained.wait()
            return
        }
        let started = ContinuousClock.now
        context.status.stopping("draining: \(reason)")
        logger.notice("draining", metadata: ["agent.reason": "\(reason)"])
        warmWaiter?.resume(returning: false)
        let hook = config.lifecycle.terminateHook
        await withTaskGroup(of: Void.self) { group in
            if let hook, let lifecycle = context.lifecycle {
                group.addTask {
                    while (try? await Task.sleep(for: Self.launchHeartbeatInterval)) != nil {
                        if self.state.withLock({ $0.terminateHookWanted }) { await lifecycle.tryHeartbeat(hook: hook) }
                    }
                }
            }
            // The bootstrap stops at the stop request (a prepare step is stopped); wait for it so its output is
            // on disk before the logs are drained.
            await bootstrapFinished.wait(until: deadline)
            await state.withLock({ $0.supervisor })?.stopApp()
            await shipLogs(deadline: deadline, started: started)
            group.cancelAll()
        }
        if let hook, let lifecycle = context.lifecycle, await isBeingTerminated() {
            await completeTerminateHook(lifecycle, hook: hook, deadline: max(deadline, .now.advanced(by: .seconds(60))))
        }
        logger.notice("drained", metadata: ["drain.seconds": "\(seconds(since: started))"])
        state.withLock { $0.phase = .stopped }
        drained.fire()
    }

    /// Scale-in with instance reuse: the app is stopped; ship its last words and everything else, complete the
    /// terminate hook (which holds the instance in `Warmed:Pending:Wait`), and go back to waiting in the pool.
    func returnToWarmPool(_ target: String) async {
        let started = ContinuousClock.now
        let deadline = started.advanced(by: config.lifecycle.drainTimeout)
        setPhase(.draining, "back into the warm pool (\(target)): shipping logs")
        let hook = config.lifecycle.terminateHook
        await withTaskGroup(of: Void.self) { group in
            if let hook, let lifecycle = context.lifecycle {
                group.addTask { await lifecycle.heartbeats(hook: hook, every: Self.launchHeartbeatInterval) }
            }
            await shipLogs(deadline: deadline, started: started)
            group.cancelAll()
        }
        guard !stopRequested.hasFired else { return }
        if let hook, let lifecycle = context.lifecycle {
            await completeTerminateHook(lifecycle, hook: hook, deadline: max(deadline, .now.advanced(by: .seconds(60))))
        }
    }

    /// Ships every line written so far, until `deadline`, and logs how it went.
    private func shipLogs(deadline: ContinuousClock.Instant, started: ContinuousClock.Instant) async {
        let logs = await context.drainLogs(deadline)
        if logs.complete {
            logger.notice(
                "every log line written before the drain was shipped",
                metadata: ["drain.seconds": "\(seconds(since: started))"])
        } else {
            logger.error(
                "drain deadline reached; some log lines were not shipped", metadata: ["drain.left": "\(logs.summary)"])
        }
    }

    /// Whether the terminate hook is due: a `Terminated` target state seen by the watcher, or read now (a SIGTERM
    /// may have come before the watcher's next poll).
    private func isBeingTerminated() async -> Bool {
        let known = state.withLock { state in
            state.terminateHookWanted || state.targetState == "Terminated" || state.targetState == "Warmed:Terminated"
        }
        if known { return true }
        guard let metadata = context.metadata,
            let target = try? await metadata.get(Self.targetStatePath)?.trimmingASCIIWhitespace()
        else { return false }
        state.withLock { $0.targetState = target }
        return target == "Terminated" || target == "Warmed:Terminated"
    }

    private func completeTerminateHook(
        _ lifecycle: LifecycleReporter, hook: String, deadline: ContinuousClock.Instant
    ) async {
        do {
            let outcome = try await lifecycle.complete(hook: hook, result: .continue, deadline: deadline)
            state.withLock { $0.lastLifecycleCall = "CompleteLifecycleAction \(hook) CONTINUE: \(outcome)" }
        } catch {
            state.withLock { $0.lastLifecycleCall = "CompleteLifecycleAction \(hook) CONTINUE failed: \(error)" }
            logger.error(
                "completing the terminate lifecycle action failed",
                metadata: ["asg.hook": "\(hook)", "error": "\(error)"])
        }
    }

    /// In a warm pool: the release is installed and prepared; the app does not run. The first time, complete the
    /// launch hook (the instance waits in `Warmed:Pending:Wait`) and tell systemd the agent is up; then wait to be
    /// put in service. Returns false if the final drain comes first.
    func waitInWarmPool(_ target: String, completeLaunchHook: Bool) async -> Bool {
        setPhase(.warm, "warm pool (\(target)): release ready, app not started")
        if completeLaunchHook, let lifecycle = context.lifecycle, let hook = config.lifecycle.launchHook {
            _ = await completeLaunch(lifecycle, hook: hook, result: .continue)
        }
        context.status.ready("warm pool (\(target)): release ready, app not started")
        return await withCheckedContinuation { (waiter: CheckedContinuation<Bool, Never>) in
            let outcome: Bool? = state.withLock { state in
                if state.draining { return false }
                if state.targetState == "InService" { return true }
                state.warmWaiter = waiter
                return nil
            }
            if let outcome { waiter.resume(returning: outcome) }
        }
    }

    private func seconds(since start: ContinuousClock.Instant) -> String {
        let elapsed = ContinuousClock.now - start
        let milliseconds = elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
        return String(format: milliseconds)
    }
}

private func String(format milliseconds: Int64) -> String {
    "\(milliseconds / 1000).\(String(milliseconds % 1000 + 1000).dropFirst())"
}
