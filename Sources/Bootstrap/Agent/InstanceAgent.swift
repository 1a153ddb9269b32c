import AWSCore
import AgentConfig
import Logging
import Metrics
import Supervisor
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Takes the instance from bare to serving and keeps it there: fetch, verify, install, prepare, supervise, and
/// tell the Auto Scaling group — CONTINUE once the app is first healthy, ABANDON when the launch fails, Unhealthy
/// on a crash loop.
///
/// Outcomes of a failed launch (DESIGN.md, "Lifecycle edge cases"): with a launch hook the reason is logged, the
/// hook gets ABANDON and the agent keeps running (so its logs keep shipping) until the instance is terminated;
/// without one, `run()` throws and the process exits non-zero for systemd's restart policy.
public final class InstanceAgent: Sendable {
    /// What the agent works with.
    public struct Context: Sendable {
        public var configuration: Configuration
        public var identity: InstanceIdentity
        /// S3, when the artifact comes from S3.
        public var s3: S3Client?
        /// Lifecycle reporting, when the instance is in a group.
        public var lifecycle: LifecycleReporter?
        /// Health probes' HTTP transport.
        public var transport: any HTTPTransport
        public var status: any StatusReporting
        public var logger: Logger
        /// The systemd watchdog interval, if any (the loop ticks at least twice per interval).
        public var watchdogInterval: Duration?
        /// Instance metadata, polled for lifecycle transitions and spot notices (nil off EC2).
        public var metadata: (any MetadataReading)?
        /// Ships every log line written so far, until the deadline; says whether everything went and, if not, what
        /// was left. (The log shipper, injected so this module doesn't depend on it.)
        public var drainLogs: @Sendable (ContinuousClock.Instant) async -> (complete: Bool, summary: String)

        /// Creates a context.
        public init(
            configuration: Configuration, identity: InstanceIdentity, s3: S3Client?, lifecycle: LifecycleReporter?,
            transport: any HTTPTransport, status: any StatusReporting, logger: Logger, watchdogInterval: Duration?,
            metadata: (any MetadataReading)? = nil,
            drainLogs: @escaping @Sendable (ContinuousClock.Instant) async -> (complete: Bool, summary: String) = { _ in
                (true, "no log shipping")
            }
        ) {
            self.configuration = configuration
            self.identity = identity
            self.s3 = s3
            self.lifecycle = lifecycle
            self.transport = transport
            self.status = status
            self.logger = logger
            self.watchdogInterval = watchdogInterval
            self.metadata = metadata
            self.drainLogs = drainLogs
        }
    }

    /// The state `status` shows.
    public struct Snapshot: Sendable, Equatable {
        public var phase: AgentPhase
        public var release: String?
        public var app: AppSupervisor.Snapshot?
        public var launchResult: String?
        public var lastLifecycleCall: String?
        public var failure: String?
        public var targetState: String?
    }

    struct State {
        var phase: AgentPhase = .starting
        var release: String?
        var supervisor: AppSupervisor?
        var launchResult: String?
        var lastLifecycleCall: String?
        var failure: String?
        /// A launch lifecycle action waits for this agent's verdict: at start, and again after the instance left a
        /// warm pool. Launch heartbeats are sent while it does.
        var launchActionOpen = false
        /// The app's supervision loop is running (it pings the watchdog itself).
        var supervising = false
        /// The launch was abandoned: the app is stopped and stays stopped.
        var abandoned = false
        /// The final drain has begun.
        var draining = false
        /// The terminate hook is to be completed once the final drain has shipped the logs.
        var terminateHookWanted = false
        /// Supervision was ended because the instance goes back into a warm pool (this target state).
        var returningToWarmPool: String?
        /// Parked in a warm pool: resumed with true when the instance is put in service, false on a drain.
        var warmWaiter: CheckedContinuation<Bool, Never>?
        /// The target lifecycle state last seen in instance metadata.
        var targetState: String?
    }

    /// Why supervision ended.
    enum SupervisionEnding {
        /// The app was stopped for the final drain.
        case stopped
        /// The launch was abandoned (ABANDON accepted); the app is stopped.
        case abandoned
        /// The instance goes back into a warm pool (its target state); the app is stopped.
        case returnToWarmPool(String)
    }

    let context: Context
    let state = Mutex(State())
    /// The final drain has begun (SIGTERM, termination, spot notice): the bootstrap stops, the app is not started.
    let stopRequested = OneShotEvent()
    /// The bootstrap (fetch, verify, install, prepare) is over, one way or the other.
    let bootstrapFinished = OneShotEvent()
    /// The final drain is over.
    let drained = OneShotEvent()
    /// Instance metadata answered the target lifecycle state once (a 404 counts: no transition yet).
    let targetStateKnown = OneShotEvent()
    /// How often lifecycle heartbeats are sent while an action waits for the agent (the hook's heartbeat timeout is
    /// at least 30 s).
    public static let launchHeartbeatInterval: Duration = .seconds(10)
    /// How long a lifecycle verdict is retried (throttling, outages) before the hook's DefaultResult is left to decide.
    static let verdictDeadline: Duration = .seconds(600)

    /// Creates the agent.
    public init(context: Context) {
        self.context = context
        state.withLock {
            $0.launchActionOpen = context.lifecycle != nil && context.configuration.lifecycle.launchHook != nil
        }
    }

    var config: Configuration { context.configuration }
    var logger: Logger { context.logger }

    /// `state_dir/app/output.log`: the app's stdout and stderr.
    public static func appOutputPath(stateDirectory: String) -> String { stateDirectory + "/app/output.log" }

    /// The current state.
    public var snapshot: Snapshot {
        state.withLock { state in
            Snapshot(
                phase: state.phase, release: state.release, app: state.supervisor?.snapshot,
                launchResult: state.launchResult, lastLifecycleCall: state.lastLifecycleCall, failure: state.failure,
                targetState: state.targetState)
        }
    }

    /// Runs until the instance is done with: bootstrap, then supervision, while watching instance metadata for a
    /// termination, a spot interruption or a warm-pool transition. Throws only when the launch failed without a
    /// launch hook to report it to.
    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            if let metadata = context.metadata {
                group.addTask { await self.watch(metadata) }
            } else {
                targetStateKnown.fire()
            }
            if let interval = context.watchdogInterval {
                group.addTask { await self.feedWatchdog(every: interval / 2) }
            }
            if let lifecycle = context.lifecycle, let hook = config.lifecycle.launchHook {
                group.addTask { await self.launchHeartbeats(lifecycle, hook: hook) }
            }
            group.addTask { try await self.live() }
            // The other tasks run until cancelled; `live` returns once the agent is done (and any drain finished).
            try await group.next()
            group.cancelAll()
        }
    }

    /// Bootstrap, then — in a warm pool — wait to be put in service, supervise, and go round again when the
    /// instance is returned to the warm pool; until the final drain.
    private func live() async throws {
        let deadline = ContinuousClock.now.advanced(by: config.app.launchTimeout)
        let bootstrap = await bootstrapUnlessStopped(deadline: deadline)
        bootstrapFinished.fire()
        let release: String
        let user: UserAccount?
        switch bootstrap {
        case .stopped:
            logger.notice("bootstrap stopped: the agent is shutting down")
            await drained.wait()
            return
        case .failed(let reason):
            try await launchFailed(reason)
            await drained.wait()
            return
        case .ready(let path, let account):
            release = path
            user = account
        }
        var firstEntry = true
        var fromWarmPool = false
        while !stopRequested.hasFired {
            if let target = await currentTargetState(), target.hasPrefix("Warmed:") {
                guard await waitInWarmPool(target, completeLaunchHook: firstEntry) else { break }
                fromWarmPool = true
            }
            firstEntry = false
            if fromWarmPool {
                // Out of the warm pool the instance waits in `Pending:Wait` on the launch hook again.
                let hooked = context.lifecycle != nil && config.lifecycle.launchHook != nil
                state.withLock { $0.launchActionOpen = hooked }
                fromWarmPool = false
            }
            guard !stopRequested.hasFired else { break }
            let ending = try await supervise(release: release, user: user)
            guard case .returnToWarmPool(let target) = ending else {
                if case .abandoned = ending { state.withLock { $0.phase = .launchFailed } }
                break
            }
            await returnToWarmPool(target)
            fromWarmPool = true
        }
        await drained.wait()
    }

    /// SIGTERM or SIGINT (systemd stop, shutdown): the final drain. The terminate hook is completed only if the
    /// instance is being terminated (DESIGN.md: a SIGTERM without a `Terminated` target state drains without
    /// calling the hook); that is decided once the logs are shipped, so a transition seen meanwhile still counts.
    public func shutdown() async {
        await drain(
            reason: "stop requested (SIGTERM or SIGINT: systemctl stop, shutdown, Ctrl-C)",
            deadline: .now.advanced(by: config.lifecycle.drainTimeout))
    }

    /// Pings the systemd watchdog while the app's supervision loop isn't running (bootstrap, warm pool, after an
    /// ABANDON, draining); while it runs, its own loop pings.
    private func feedWatchdog(every interval: Duration) async {
        while (try? await Task.sleep(for: interval)) != nil {
            if !state.withLock({ $0.supervising }) { context.status.watchdog() }
        }
    }

    /// Keeps the launch lifecycle action alive while it waits for the verdict (bootstrap and the app's start-up).
    private func launchHeartbeats(_ lifecycle: LifecycleReporter, hook: String) async {
        while (try? await Task.sleep(for: Self.launchHeartbeatInterval)) != nil {
            guard state.withLock({ $0.launchActionOpen && !$0.draining }) else { continue }
            await lifecycle.tryHeartbeat(hook: hook)
        }
    }

    // MARK: - Bootstrap

    func setPhase(_ phase: AgentPhase, _ text: String) {
        state.withLock { $0.phase = phase }
        context.status.status(text)
        logger.info("phase", metadata: ["agent.phase": "\(phase.rawValue)", "agent.status": "\(text)"])
    }

    /// How the bootstrap ended.
    enum BootstrapResult: Sendable {
        /// Installed and prepared: the release directory and the user to run the app as.
        case ready(String, UserAccount?)
        /// It failed; the reason.
        case failed(String)
        /// The final drain began first; the bootstrap was cancelled (a running prepare step is stopped).
        case stopped
    }

    /// Runs the bootstrap until it ends or the final drain begins, whichever comes first.
    private func bootstrapUnlessStopped(deadline: ContinuousClock.Instant) async -> BootstrapResult {
        await withTaskGroup(of: BootstrapResult?.self) { group in
            group.addTask {
                do {
                    let user = try self.resolveUser()
                    return .ready(try await self.bootstrap(deadline: deadline, user: user), user)
                } catch {
                    return self.stopRequested.hasFired ? .stopped : .failed("\(error)")
                }
            }
            group.addTask {
                await self.stopRequested.wait()
                return nil
            }
            defer { group.cancelAll() }
            while let next = await group.next() {
                if let result = next { return result }
                // The drain began: cancel the bootstrap and wait for it to stop (its outcome no longer matters
                // unless it had just finished).
                group.cancelAll()
            }
            return .stopped
        }
    }

    private func bootstrap(deadline: ContinuousClock.Instant, user: UserAccount?) async throws -> String {
        let stateDirectory = config.stateDirectory
        do {
            try FileIO.makeDirectories(stateDirectory + "/app", mode: 0o700)
            chmod(stateDirectory, 0o700)
        } catch {
            throw BootstrapError(
                step: .install, message: "cannot create state_dir \(stateDirectory)", isPermanent: true,
                underlying: error as? FileIO.Failure)
        }
        // Releases are readable by the app's group only (and root): the app runs as `app.user`.
        let installer = ReleaseInstaller(
            installDirectory: config.app.installDirectory, preparedMarkers: stateDirectory + "/prepared",
            group: user?.gid, logger: logger)
        let fetcher = ArtifactFetcher(s3: context.s3, downloads: stateDirectory + "/downloads", logger: logger)
        let source = config.app.source
        let record = ArtifactRecord(path: stateDirectory + "/artifact")

        setPhase(.fetching, "fetching \(source)")
        var sha256: String?
        var head: ArtifactHead?
        if let pinned = config.app.sha256, installer.hasRelease(sha256: pinned) {
            sha256 = pinned
            logger.info("the pinned release is already installed; no download", metadata: ["app.release": "\(pinned)"])
        } else {
            head = try await fetcher.head(source, deadline: deadline)
            if let head, let known = record.installedRelease(for: source, head: head, pinned: config.app.sha256),
                installer.hasRelease(sha256: known)
            {
                sha256 = known
                logger.info("this artifact is already installed; no download", metadata: ["app.release": "\(known)"])
            }
        }
        if sha256 == nil {
            let artifact = try await fetcher.fetch(source, pinned: config.app.sha256, head: head, deadline: deadline) {
                self.setPhase(.verifying, "verifying the SHA-256 of \(source)")
            }
            setPhase(.installing, "installing release \(artifact.sha256.prefix(12))")
            _ = try await installer.installRelease(artifact, isArchive: source.isArchive, fileName: source.fileName)
            record.save(source: source, etag: artifact.etag, sha256: artifact.sha256)
            fetcher.clean(keeping: nil)
            sha256 = artifact.sha256
        }
        guard let sha256 else { throw BootstrapError(step: .install, message: "no release", isPermanent: false) }
        let release = installer.releasePath(sha256: sha256)

        let prepare = PrepareRunner(
            markers: stateDirectory + "/prepared", outputPath: Self.appOutputPath(stateDirectory: stateDirectory),
            environment: appEnvironment(user: nil), launchTimeout: config.app.launchTimeout, logger: logger)
        if !prepare.isPrepared(sha256: sha256, steps: config.app.prepare) {
            setPhase(.preparing, "preparing release \(sha256.prefix(12)) (\(config.app.prepare.count) steps)")
        }
        try await prepare.run(steps: config.app.prepare, release: release, sha256: sha256, deadline: deadline)
        try installer.activate(release)
        installer.pruneReleases()
        state.withLock { $0.release = sha256 }
        return release
    }

    private func resolveUser() throws -> UserAccount? {
        guard let name = config.app.user else { return nil }
        do {
            guard let account = try UserAccount.lookup(name) else {
                throw BootstrapError(
                    step: .app,
                    message:
                        "app.user \(name) does not exist on this instance; create it (useradd --system \(name)) or remove app.user",
                    isPermanent: true)
            }
            return account
        } catch let error as SupervisorError {
            throw BootstrapError(
                step: .app, message: "cannot look up app.user \(name)", isPermanent: false, underlying: error)
        }
    }

    /// The app's environment: a clean base, `app.environment`, then the agent's own `CLOCK_*` variables.
    func appEnvironment(user: UserAccount?) -> [String: String] {
        var environment = [
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
        ]
        if let user {
            environment["HOME"] = user.home
            environment["USER"] = user.name
            environment["LOGNAME"] = user.name
        }
        for variable in config.app.environment { environment[variable.name] = variable.value }
        environment["CLOCK_INSTANCE_ID"] = context.identity.instanceID
        environment["CLOCK_AZ"] = context.identity.availabilityZone
        environment["CLOCK_REGION"] = context.identity.region
        return environment
    }

    // MARK: - Launch verdict

    private func launchFailed(_ reason: String) async throws {
        state.withLock {
            $0.phase = .launchFailed
            $0.failure = reason
        }
        context.status.status("launch failed: \(reason)")
        logger.critical("launch failed", metadata: ["agent.reason": "\(reason)"])
        guard let lifecycle = context.lifecycle, let hook = config.lifecycle.launchHook else {
            throw BootstrapError(
                step: .app, message: "launch failed and no launch hook is configured: \(reason)", isPermanent: true)
        }
        _ = await completeLaunch(lifecycle, hook: hook, result: .abandon)
        // Stay up so the reason reaches CloudWatch; the group terminates the instance (which drains).
    }

    /// Completes the launch action with `result` (retrying until `verdictDeadline`); nil when it could not be done.
    func completeLaunch(
        _ lifecycle: LifecycleReporter, hook: String, result: AutoScalingClient.LifecycleActionResult
    ) async -> LifecycleReporter.Outcome? {
        state.withLock { $0.launchActionOpen = false }
        do {
            let outcome = try await lifecycle.complete(
                hook: hook, result: result, deadline: .now.advanced(by: Self.verdictDeadline))
            state.withLock {
                switch outcome {
                case .completed: $0.launchResult = result.rawValue
                case .alreadyDecided(let instanceState): $0.launchResult = "already decided (\(instanceState))"
                case .notInGroup: $0.launchResult = "not in a group"
                }
                $0.lastLifecycleCall = "CompleteLifecycleAction \(hook) \(result.rawValue): \(outcome)"
            }
            return outcome
        } catch {
            state.withLock {
                $0.lastLifecycleCall = "CompleteLifecycleAction \(hook) \(result.rawValue) failed: \(error)"
            }
            logger.error(
                "completing the launch lifecycle action failed", metadata: ["asg.hook": "\(hook)", "error": "\(error)"])
            return nil
        }
    }

    // MARK: - Supervision

    private func supervise(release: String, user: UserAccount?) async throws -> SupervisionEnding {
        let health = config.app.health
        let probe: any HealthProbe =
            health.url.flatMap { HTTPHealthProbe(url: $0, timeout: health.timeout, transport: context.transport) }
            ?? ProcessRunningProbe()
        let tick = context.watchdogInterval.map { min($0 / 2, health.interval) } ?? health.interval
        let (notices, noticeSink) = AsyncStream<AppSupervisor.Notice>.makeStream()
        let supervisor = AppSupervisor(
            launch: .init(
                arguments: config.app.command, environment: appEnvironment(user: user),
                directory: config.app.installDirectory + "/current", user: user,
                outputPath: Self.appOutputPath(stateDirectory: config.stateDirectory),
                pidFile: config.stateDirectory + "/app/app.pid", outputLimit: outputLimit),
            settings: Self.settings(config.app), probe: probe, probeInterval: health.interval, tickInterval: tick,
            stopTimeout: config.app.stopTimeout, logger: logger, notify: { noticeSink.yield($0) })
        let alreadyStopping = state.withLock { state -> Bool in
            state.supervisor = supervisor
            state.supervising = true
            state.returningToWarmPool = nil
            return state.draining
        }
        defer { state.withLock { $0.supervising = false } }
        setPhase(.startingApp, "starting app: \(config.app.command.joined(separator: " "))")
        let failure = Mutex<String?>(nil)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await supervisor.run()
                noticeSink.finish()
            }
            if alreadyStopping { group.addTask { await supervisor.stopApp() } }
            for await notice in notices {
                if let fatal = handle(notice, supervisor: supervisor, group: &group) {
                    failure.withLock { $0 = fatal }
                    group.addTask { await supervisor.stopApp() }
                }
            }
        }
        if let reason = failure.withLock({ $0 }) {
            throw BootstrapError(step: .app, message: reason, isPermanent: true)
        }
        return state.withLock { state -> SupervisionEnding in
            if state.abandoned { return .abandoned }
            if !state.draining, let target = state.returningToWarmPool { return .returnToWarmPool(target) }
            state.phase = .stopped
            return .stopped
        }
    }

    /// Without an `app` log source nothing ships (and trims) the app's output file: cap it instead.
    private var outputLimit: Int64? {
        let shipped = config.logs.sources.contains { source in
            if case .app = source.kind { return true }
            return false
        }
        return shipped ? nil : Self.unshippedOutputLimit
    }

    /// The size an app output file nobody ships may reach before it is moved to its `.1` copy.
    static let unshippedOutputLimit: Int64 = 64 << 20

    static func settings(_ app: AppConfiguration) -> SupervisionMachine.Settings {
        SupervisionMachine.Settings(
            initialBackoff: app.restart.initialBackoff.seconds, maxBackoff: app.restart.maxBackoff.seconds,
            crashLoopRestarts: app.restart.crashLoopRestarts, crashLoopWindow: app.restart.crashLoopWindow.seconds,
            unhealthyThreshold: app.health.unhealthyThreshold, startTimeout: app.health.startTimeout.seconds,
            healthyResetAfter: max(10, app.restart.maxBackoff.seconds))
    }

    /// Acts on a supervisor notice; AWS calls run as tasks of `group` so the notice loop (and with it the
    /// watchdog) never waits on the network. Returns a reason when the agent must give up (launch failed without
    /// a hook).
    private func handle(
        _ notice: AppSupervisor.Notice, supervisor: AppSupervisor, group: inout TaskGroup<Void>
    ) -> String? {
        switch notice {
        case .alive:
            context.status.watchdog()
        case .started(let pid):
            logger.info(
                "app started",
                metadata: ["app.pid": "\(pid)", "app.command": "\(config.app.command.joined(separator: " "))"])
        case .spawnFailed(let reason):
            logger.error("app could not be started", metadata: ["app.reason": "\(reason)"])
        case .exited(let status):
            let stopping = state.withLock { $0.draining || $0.abandoned || $0.returningToWarmPool != nil }
            if stopping {
                logger.info("app stopped", metadata: ["app.exit": "\(status)"])
            } else {
                logger.warning("app exited", metadata: ["app.exit": "\(status)"])
            }
        case .restarting(let delay, let reason):
            Counter(label: "clock_app_restarts_total").increment()
            setPhase(.restartingApp, "restarting app (\(reason)) in \(Int(delay * 1000)) ms")
        case .healthy(let first):
            Gauge(label: "clock_app_healthy").record(1)
            let pid = supervisor.snapshot.pid.map(String.init) ?? "?"
            let verdictDue = state.withLock { state -> Bool in
                state.phase = .healthy
                return first && state.launchActionOpen && !state.draining
            }
            if first {
                logger.notice("app is healthy", metadata: ["app.pid": "\(pid)"])
                let hook = config.lifecycle.launchHook
                group.addTask {
                    if verdictDue, let lifecycle = self.context.lifecycle, let hook {
                        _ = await self.completeLaunch(lifecycle, hook: hook, result: .continue)
                    }
                    self.context.status.ready("healthy (pid \(pid))")
                }
            } else {
                logger.notice("app is healthy again", metadata: ["app.pid": "\(pid)"])
                context.status.status("healthy (pid \(pid))")
            }
        case .unhealthy(let detail):
            Gauge(label: "clock_app_healthy").record(0)
            guard !state.withLock({ $0.draining }) else { return nil }
            setPhase(.unhealthy, "unhealthy: \(detail)")
        case .startTimedOut:
            guard !state.withLock({ $0.draining }) else { return nil }
            let reason =
                "the app was not healthy within app.health.start_timeout (\(DurationText.format(config.app.health.startTimeout)))"
                + (supervisor.snapshot.lastExit.map { "; last exit: \($0)" } ?? "")
            state.withLock { $0.failure = reason }
            logger.critical("launch failed", metadata: ["agent.reason": "\(reason)"])
            guard let lifecycle = context.lifecycle, let hook = config.lifecycle.launchHook else { return reason }
            guard state.withLock({ $0.launchActionOpen }) else {
                // The launch was decided before (an agent restart on a serving instance): keep supervising; a
                // crash loop or the load balancer's health check takes it from here.
                logger.warning(
                    "no launch action waits for a verdict; the app stays supervised", metadata: ["asg.hook": "\(hook)"])
                return nil
            }
            context.status.status("launch failed: \(reason)")
            group.addTask {
                let outcome = await self.completeLaunch(lifecycle, hook: hook, result: .abandon)
                guard outcome == .completed else {
                    self.logger.warning(
                        "ABANDON was not accepted; the app stays supervised",
                        metadata: ["asg.hook": "\(hook)", "asg.outcome": "\(outcome.map { "\($0)" } ?? "failed")"])
                    return
                }
                // The group replaces the instance: stop the app for good and keep shipping logs until then.
                self.state.withLock {
                    $0.abandoned = true
                    $0.phase = .launchFailed
                }
                await supervisor.stopApp()
            }
        case .crashLoop(let restarts):
            Counter(label: "clock_app_crash_loops_total").increment()
            // While draining the app is on its way out anyway: don't flap the instance's health.
            guard !state.withLock({ $0.draining }) else { return nil }
            let statuses = restarts.map(\.reason).joined(separator: "; ")
            logger.error(
                "app is in a crash loop",
                metadata: ["app.restarts": "\(restarts.count)", "app.recent_exits": "\(statuses)"])
            context.status.status("crash loop: \(restarts.count) restarts (\(restarts.last?.reason ?? ""))")
            if config.lifecycle.reportUnhealthy, let lifecycle = context.lifecycle {
                group.addTask {
                    do {
                        try await lifecycle.reportUnhealthy(
                            reason: "crash loop: \(statuses)", deadline: .now.advanced(by: Self.verdictDeadline))
                        self.state.withLock { $0.lastLifecycleCall = "SetInstanceHealth Unhealthy" }
                    } catch {
                        self.state.withLock { $0.lastLifecycleCall = "SetInstanceHealth Unhealthy failed: \(error)" }
                        self.logger.error("marking the instance Unhealthy failed", metadata: ["error": "\(error)"])
                    }
                }
            }
        case .recovered:
            logger.notice("app recovered from its crash loop")
        }
        return nil
    }
}
