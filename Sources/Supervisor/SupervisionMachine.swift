/// The rules of app supervision as a pure state machine: restart backoff, crash-loop detection, health judgement
/// and the start-up grace period. The `AppSupervisor` feeds it events and carries out its actions; tests drive it
/// directly with made-up times.
///
/// - Backoff: capped exponential (`initial × 2ⁿ`, at most `max`), each delay jittered into its upper half so a
///   fleet restarting together spreads out but never restarts in a tight loop. It resets once the app has been
///   healthy for `healthyResetAfter`.
/// - Crash loop: `crashLoopRestarts` restarts within `crashLoopWindow` (exits and health kills alike); reported
///   once per episode, with the recent exit statuses.
/// - Health: after a (re)start, failed probes don't count until the app was healthy once or `startTimeout` passed;
///   then `unhealthyThreshold` consecutive failures kill the app (and the restart path follows).
public struct SupervisionMachine: Sendable {
    /// The policy, from `app.restart` and `app.health`.
    public struct Settings: Sendable, Equatable {
        public var initialBackoff: Double
        public var maxBackoff: Double
        public var crashLoopRestarts: Int
        public var crashLoopWindow: Double
        public var unhealthyThreshold: Int
        public var startTimeout: Double
        public var healthyResetAfter: Double

        /// Creates settings (all times in seconds).
        public init(
            initialBackoff: Double, maxBackoff: Double, crashLoopRestarts: Int, crashLoopWindow: Double,
            unhealthyThreshold: Int, startTimeout: Double, healthyResetAfter: Double
        ) {
            self.initialBackoff = initialBackoff
            self.maxBackoff = maxBackoff
            self.crashLoopRestarts = crashLoopRestarts
            self.crashLoopWindow = crashLoopWindow
            self.unhealthyThreshold = unhealthyThreshold
            self.startTimeout = startTimeout
            self.healthyResetAfter = healthyResetAfter
        }
    }

    /// Something that happened.
    public enum Event: Sendable, Equatable {
        /// The app process started.
        case started(at: Double)
        /// Starting it failed (e.g. the program is missing); treated like an immediate exit.
        case spawnFailed(reason: String, at: Double)
        /// The process ended.
        case exited(ExitStatus, at: Double)
        /// A health probe finished.
        case probe(healthy: Bool, detail: String, at: Double)
        /// Time passed (the driver ticks at least once per probe interval).
        case tick(at: Double)
        /// Shutdown: stop restarting.
        case stopRequested
    }

    /// What to do.
    public enum Action: Sendable, Equatable {
        /// Start the app again after this many seconds.
        case restart(after: Double, reason: String)
        /// Stop the running app (it failed its health checks); its exit will follow as an event.
        case kill(reason: String)
        /// The app answered healthy after being unhealthy or starting; `first` when it never was before.
        case healthy(first: Bool)
        /// The app stopped being healthy.
        case unhealthy(detail: String)
        /// The first start did not become healthy within `startTimeout`.
        case startTimedOut
        /// Too many restarts within the window; the recent ones, oldest first.
        case crashLoop([Restart])
        /// The crash loop is over (healthy for the reset period).
        case recovered
    }

    /// One restart and why.
    public struct Restart: Sendable, Equatable {
        /// When the app went down (monotonic seconds).
        public var at: Double
        /// How it ended, or why it was restarted.
        public var reason: String
    }

    /// Where the app is.
    public enum Phase: String, Sendable {
        case starting
        case running
        case backoff
        case stopped
    }

    public let settings: Settings
    /// The current phase.
    public private(set) var phase: Phase = .stopped
    /// Whether the app has ever been healthy.
    public private(set) var everHealthy = false
    /// Whether the last probe said healthy (and the app runs).
    public private(set) var isHealthy = false
    /// Restarts so far.
    public private(set) var restartCount = 0
    /// The last reason the app went down.
    public private(set) var lastExit: String?
    /// Consecutive failed probes that counted.
    public private(set) var consecutiveFailures = 0

    private var firstStartAt: Double?
    private var startedAt: Double?
    private var healthySince: Double?
    private var backoffLevel = 0
    private var recent: [Restart] = []
    private var inCrashLoop = false
    private var startTimeoutReported = false
    private var killRequested = false
    private var stopping = false

    /// Creates a machine.
    public init(settings: Settings) { self.settings = settings }

    /// Handles an event; `random` in [0, 1) supplies the jitter.
    public mutating func handle(_ event: Event, random: Double = Double.random(in: 0..<1)) -> [Action] {
        switch event {
        case .started(let at):
            phase = .starting
            startedAt = at
            if firstStartAt == nil { firstStartAt = at }
            healthySince = nil
            isHealthy = false
            consecutiveFailures = 0
            killRequested = false
            return []

        case .spawnFailed(let reason, let at):
            return wentDown(reason: reason, at: at, random: random)

        case .exited(let status, let at):
            let reason = killRequested ? "unhealthy, stopped: \(status)" : status.description
            return wentDown(reason: reason, at: at, random: random)

        case .probe(let healthy, let detail, let at):
            guard phase == .starting || phase == .running, !killRequested else { return [] }
            if healthy {
                consecutiveFailures = 0
                var actions: [Action] = []
                if !isHealthy {
                    actions.append(.healthy(first: !everHealthy))
                    everHealthy = true
                    isHealthy = true
                    healthySince = at
                    phase = .running
                }
                actions += checkRecovery(at: at)
                return actions
            }
            healthySince = nil
            var actions: [Action] = []
            if isHealthy {
                isHealthy = false
                actions.append(.unhealthy(detail: detail))
            }
            let inGrace = phase == .starting && at - (startedAt ?? at) < settings.startTimeout
            guard !inGrace else { return actions + startTimeoutCheck(at: at) }
            consecutiveFailures += 1
            if consecutiveFailures >= settings.unhealthyThreshold {
                killRequested = true
                actions.append(.kill(reason: "\(consecutiveFailures) failed health checks: \(detail)"))
            }
            return actions + startTimeoutCheck(at: at)

        case .tick(let at):
            return startTimeoutCheck(at: at) + (isHealthy ? checkRecovery(at: at) : [])

        case .stopRequested:
            stopping = true
            return []
        }
    }

    private mutating func wentDown(reason: String, at: Double, random: Double) -> [Action] {
        let ranHealthy = healthySince.map { at - $0 >= settings.healthyResetAfter } ?? false
        if ranHealthy { backoffLevel = 0 }
        phase = stopping ? .stopped : .backoff
        isHealthy = false
        healthySince = nil
        lastExit = reason
        killRequested = false
        guard !stopping else { return [] }
        restartCount += 1
        recent.append(Restart(at: at, reason: reason))
        recent.removeAll { at - $0.at > settings.crashLoopWindow }
        let ceiling = min(settings.maxBackoff, settings.initialBackoff * Double(1 << min(backoffLevel, 30)))
        backoffLevel += 1
        let delay = ceiling * (0.5 + 0.5 * random)
        var actions: [Action] = [.restart(after: delay, reason: reason)]
        if recent.count >= settings.crashLoopRestarts, !inCrashLoop {
            inCrashLoop = true
            actions.append(.crashLoop(recent))
        }
        return actions + startTimeoutCheck(at: at)
    }

    private mutating func checkRecovery(at: Double) -> [Action] {
        guard let healthySince, at - healthySince >= settings.healthyResetAfter else { return [] }
        backoffLevel = 0
        guard inCrashLoop else { return [] }
        inCrashLoop = false
        recent.removeAll()
        return [.recovered]
    }

    private mutating func startTimeoutCheck(at: Double) -> [Action] {
        guard !everHealthy, !startTimeoutReported, let firstStartAt, at - firstStartAt >= settings.startTimeout else {
            return []
        }
        startTimeoutReported = true
        return [.startTimedOut]
    }
}
