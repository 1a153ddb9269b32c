import Synchronization

/// Something that happens once in the agent's life — a stop request, the end of the bootstrap, a finished drain —
/// that any number of tasks can wait for, also when they start waiting after it happened.
public final class OneShotEvent: Sendable {
    private struct State {
        var fired = false
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    /// Creates an event that has not happened yet.
    public init() {}

    /// Whether it happened.
    public var hasFired: Bool { state.withLock { $0.fired } }

    /// Makes it happen and wakes every waiter; false if it had happened already.
    @discardableResult
    public func fire() -> Bool {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>]? in
            guard !state.fired else { return nil }
            state.fired = true
            let waiting = Array(state.waiters.values)
            state.waiters.removeAll()
            return waiting
        }
        guard let waiters else { return false }
        for waiter in waiters { waiter.resume() }
        return true
    }

    /// Waits until it happened or the calling task is cancelled; returns whether it happened.
    @discardableResult
    public func wait() async -> Bool {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.fired || Task.isCancelled { return true }
                    state.waiters[id] = waiter
                    return false
                }
                if now { waiter.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
        return hasFired
    }

    /// Waits until it happened, the task is cancelled or `deadline` passed; returns whether it happened.
    @discardableResult
    public func wait(until deadline: ContinuousClock.Instant) async -> Bool {
        guard !hasFired else { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.wait() }
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first || hasFired
        }
    }
}
