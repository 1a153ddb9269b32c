import AWSCore
import Logging
import Supervisor

extension InstanceAgent {
    /// Polls instance metadata every `lifecycle.poll_interval` (with ±10 % jitter, reusing the IMDSv2 token): the
    /// target lifecycle state always, the spot notice and rebalance recommendation on spot instances only. One
    /// small request per interval on an on-demand instance.
    func watch(_ metadata: any MetadataReading) async {
        var detector = TransitionDetector()
        let isSpot = (try? await metadata.get("meta-data/instance-life-cycle"))?.trimmingASCIIWhitespace() == "spot"
        let interval = config.lifecycle.pollInterval.seconds
        while !Task.isCancelled {
            var decisions: [TransitionDetector.Decision] = []
            do {
                let target = try await metadata.get("meta-data/autoscaling/target-lifecycle-state")?.trimmingASCIIWhitespace()
                if let target { state.withLock { $0.targetState = target } }
                if let decision = detector.target(target) { decisions.append(decision) }
                if isSpot {
                    if let decision = detector.spot(try await metadata.get("meta-data/spot/instance-action")) { decisions.append(decision) }
                    if let decision = detector.rebalance(try await metadata.get("meta-data/events/recommendations/rebalance")) {
                        decisions.append(decision)
                    }
                }
            } catch {
                logger.debug("instance metadata poll failed", metadata: ["error": "\(error)"])
            }
            for decision in decisions { await act(on: decision) }
            let delay = interval * Double.random(in: 0.9...1.1)
            do { try await Task.sleep(for: .milliseconds(Int(delay * 1000))) } catch { return }
        }
    }

    private func act(on decision: TransitionDetector.Decision) async {
        switch decision {
        case .terminate:
            logger.notice("the instance is being terminated; draining", metadata: ["asg.target_state": "Terminated"])
            await drain(
                reason: "the Auto Scaling group is terminating the instance", hook: config.lifecycle.terminateHook,
                deadline: .now.advanced(by: config.lifecycle.drainTimeout))
        case .spotInterruption(let action, let time):
            var deadline = ContinuousClock.now.advanced(by: config.lifecycle.drainTimeout)
            if let time {
                // Finish inside the notice, with a margin for the shutdown itself.
                let left = time.secondsSinceEpoch - UTCTime.now().secondsSinceEpoch - 10
                deadline = min(deadline, .now.advanced(by: .milliseconds(Int(max(left, 1) * 1000))))
            }
            logger.notice(
                "spot interruption notice; draining before it",
                metadata: ["spot.action": "\(action)", "spot.time": "\(time.map(\.iso8601) ?? "unknown")"])
            await drain(reason: "spot interruption (\(action))", hook: nil, deadline: deadline)
        case .rebalanceRecommended(let noticeTime):
            logger.notice("EC2 recommends rebalancing this spot instance", metadata: ["spot.rebalance_notice": "\(noticeTime)"])
        case .enterWarmPool(let target):
            logger.notice("the instance is going into a warm pool", metadata: ["asg.target_state": "\(target)"])
        case .leaveWarmPool:
            let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                state.warm = false
                let waiting = state.warmWaiter
                state.warmWaiter = nil
                return waiting
            }
            logger.notice("the instance left the warm pool; starting the app", metadata: ["asg.target_state": "InService"])
            waiter?.resume(returning: true)
        }
    }

    /// Drains, once: stop the app (its last words are captured), ship every line written before this point,
    /// then — only now — complete the terminate hook, heartbeating it while the drain takes time. Ends at
    /// `deadline` with what could be shipped, saying what was left.
    func drain(reason: String, hook: String?, deadline: ContinuousClock.Instant) async {
        let first = state.withLock { state -> Bool in
            state.shutdownRequested = true
            guard !state.draining else { return false }
            state.draining = true
            state.phase = .draining
            return true
        }
        guard first else {
            await waitForDrain()
            return
        }
        let started = ContinuousClock.now
        context.status.stopping("draining: \(reason)")
        logger.notice("draining", metadata: ["agent.reason": "\(reason)", "asg.hook": "\(hook ?? "none")"])
        let (supervisor, warmWaiter) = state.withLock { state -> (AppSupervisor?, CheckedContinuation<Bool, Never>?) in
            let waiter = state.warmWaiter
            state.warmWaiter = nil
            return (state.supervisor, waiter)
        }
        warmWaiter?.resume(returning: false)
        await withTaskGroup(of: Void.self) { group in
            if let hook, let lifecycle = context.lifecycle {
                group.addTask { await lifecycle.heartbeats(hook: hook, every: Self.launchHeartbeatInterval) }
            }
            if let interval = context.watchdogInterval {
                group.addTask {
                    while (try? await Task.sleep(for: interval / 2)) != nil { self.context.status.watchdog() }
                }
            }
            await supervisor?.stopApp()
            let logs = await context.drainLogs(deadline)
            if logs.complete {
                logger.notice("every log line written before the drain was shipped", metadata: ["drain.seconds": "\(seconds(since: started))"])
            } else {
                logger.error("drain deadline reached; some log lines were not shipped", metadata: ["drain.left": "\(logs.summary)"])
            }
            group.cancelAll()
        }
        if let hook, let lifecycle = context.lifecycle {
            do {
                let outcome = try await lifecycle.complete(
                    hook: hook, result: .continue, deadline: max(deadline, .now.advanced(by: .seconds(60))))
                state.withLock { $0.lastLifecycleCall = "CompleteLifecycleAction \(hook) CONTINUE: \(outcome)" }
            } catch {
                state.withLock { $0.lastLifecycleCall = "CompleteLifecycleAction \(hook) CONTINUE failed: \(error)" }
                logger.error("completing the terminate lifecycle action failed", metadata: ["asg.hook": "\(hook)", "error": "\(error)"])
            }
        }
        logger.notice("drained", metadata: ["drain.seconds": "\(seconds(since: started))"])
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.drained = true
            state.phase = .stopped
            let waiting = state.drainWaiters
            state.drainWaiters.removeAll()
            return waiting
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Waits until a drain has finished (returns at once if none will: only after a drain began or finished).
    func waitForDrain() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                if state.drained { return true }
                state.drainWaiters.append(waiter)
                return false
            }
            if done { waiter.resume() }
        }
    }

    /// In a warm pool: the release is installed and prepared; complete the launch hook without starting the
    /// app, then wait for the instance to be put in service. Returns false if it is drained instead.
    func waitInWarmPool(_ target: String) async -> Bool {
        setPhase(.warm, "warm pool (\(target)): release ready, app not started")
        if let lifecycle = context.lifecycle, let hook = config.lifecycle.launchHook {
            await completeLaunch(lifecycle, hook: hook, result: .continue)
        }
        return await withCheckedContinuation { (waiter: CheckedContinuation<Bool, Never>) in
            let outcome: Bool? = state.withLock { state in
                if state.draining { return false }
                if !state.warm, state.targetState == "InService" { return true }
                state.warm = true
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
