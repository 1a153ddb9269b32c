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
            drainLogs: @escaping @Sendable (ContinuousClock.Instant) async -> (complete: Bool, summary: String) = { _ in (true, "no log shipping") }
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
        var shutdownRequested = false
        /// A drain has begun / is finished; who waits for it.
        var draining = false
        var drained = false
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
        /// In a warm pool: the app waits for the instance to be put in service.
        var warm = false
        var warmWaiter: CheckedContinuation<Bool, Never>?
        /// The target lifecycle state last seen in instance metadata.
        var targetState: String?
    }

    let context: Context
    let state = Mutex(State())
    /// How often launch-hook heartbeats are sent while bootstrapping (the hook's heartbeat timeout is ≥ 30 s).
    public static let launchHeartbeatInterval: Duration = .seconds(10)

    /// Creates the agent.
    public init(context: Context) { self.context = context }

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
    /// termination, a spot interruption or a warm-pool transition (which drain). Throws only when the launch
    /// failed without a launch hook to report it to.
    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            if let metadata = context.metadata {
                group.addTask { await self.watch(metadata) }
            }
            group.addTask { try await self.live() }
            // The watcher runs until cancelled; `live` returns once the agent is done (and any drain finished).
            try await group.next()
            group.cancelAll()
        }
    }

    /// Bootstrap, the warm pool if the instance is in one, then supervision until the app is stopped.
    private func live() async throws {
        let deadline = ContinuousClock.now.advanced(by: config.app.launchTimeout)
        let initialTarget = try? await context.metadata?.get("meta-data/autoscaling/target-lifecycle-state")
        let release: String
        let user: UserAccount?
        do {
            user = try resolveUser()
            release = try await withBootstrapHeartbeats { try await self.bootstrap(deadline: deadline) }
        } catch {
            try await launchFailed("\(error)")
            await waitForDrain()
            return
        }
        if let target = initialTarget?.trimmingASCIIWhitespace(), target.hasPrefix("Warmed:") {
            let inService = await waitInWarmPool(target)
            guard inService else {
                await waitForDrain()
                return
            }
        }
        if !state.withLock({ $0.shutdownRequested }) {
            try await supervise(release: release, user: user)
        }
        await waitForDrain()
    }

    /// SIGTERM or SIGINT (systemd stop, shutdown): drains. The terminate hook is completed only if instance
    /// metadata says the instance is being terminated (DESIGN.md: a SIGTERM without a `Terminated` target
    /// state drains without calling the hook).
    public func shutdown() async {
        var hook: String?
        if let metadata = context.metadata, config.lifecycle.terminateHook != nil,
            let target = try? await metadata.get("meta-data/autoscaling/target-lifecycle-state"),
            target.trimmingASCIIWhitespace() == "Terminated"
        {
            hook = config.lifecycle.terminateHook
        }
        await drain(reason: "stop requested (SIGTERM)", hook: hook, deadline: .now.advanced(by: config.lifecycle.drainTimeout))
    }

    // MARK: - Bootstrap

    func setPhase(_ phase: AgentPhase, _ text: String) {
        state.withLock { $0.phase = phase }
        context.status.status(text)
        logger.info("phase", metadata: ["agent.phase": "\(phase.rawValue)", "agent.status": "\(text)"])
    }

    private func bootstrap(deadline: ContinuousClock.Instant) async throws -> String {
        let stateDirectory = config.stateDirectory
        do {
            try FileIO.makeDirectories(stateDirectory + "/app", mode: 0o700)
            chmod(stateDirectory, 0o700)
        } catch {
            throw BootstrapError(step: .install, message: "cannot create state_dir \(stateDirectory)", isPermanent: true, underlying: error as? FileIO.Failure)
        }
        let installer = ReleaseInstaller(installDirectory: config.app.installDirectory, logger: logger)
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
            let artifact = try await fetcher.fetch(source, pinned: config.app.sha256, head: head, deadline: deadline)
            setPhase(.installing, "installing release \(artifact.sha256.prefix(12))")
            _ = try installer.install(artifact, isArchive: source.isArchive, fileName: source.fileName)
            record.save(source: source, etag: artifact.etag, sha256: artifact.sha256)
            fetcher.clean(keeping: nil)
            sha256 = artifact.sha256
        }
        guard let sha256 else { throw BootstrapError(step: .install, message: "no release", isPermanent: false) }
        let release = installer.releasePath(sha256: sha256)

        let prepare = PrepareRunner(
            markers: stateDirectory + "/prepared", outputPath: Self.appOutputPath(stateDirectory: stateDirectory),
            environment: appEnvironment(user: nil), logger: logger)
        if !prepare.isPrepared(sha256: sha256, steps: config.app.prepare) {
            setPhase(.preparing, "preparing release \(sha256.prefix(12)) (\(config.app.prepare.count) steps)")
        }
        try await prepare.run(steps: config.app.prepare, release: release, sha256: sha256)
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
                    message: "app.user \(name) does not exist on this instance; create it (useradd --system \(name)) or remove app.user",
                    isPermanent: true)
            }
            return account
        } catch let error as SupervisorError {
            throw BootstrapError(step: .app, message: "cannot look up app.user \(name)", isPermanent: false, underlying: error)
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

    /// Runs `body` while heartbeating the launch hook and pinging the watchdog.
    private func withBootstrapHeartbeats<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            if let lifecycle = context.lifecycle, let hook = config.lifecycle.launchHook {
                group.addTask {
                    await lifecycle.heartbeats(hook: hook, every: Self.launchHeartbeatInterval)
                    return nil
                }
            }
            if let interval = context.watchdogInterval {
                group.addTask {
                    while (try? await Task.sleep(for: interval / 2)) != nil { self.context.status.watchdog() }
                    return nil
                }
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            throw CancellationError()
        }
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
            throw BootstrapError(step: .app, message: "launch failed and no launch hook is configured: \(reason)", isPermanent: true)
        }
        await completeLaunch(lifecycle, hook: hook, result: .abandon)
        // Stay up so the reason reaches CloudWatch; the group terminates the instance (which drains).
    }

    func completeLaunch(_ lifecycle: LifecycleReporter, hook: String, result: AutoScalingClient.LifecycleActionResult) async {
        let deadline = ContinuousClock.now.advanced(by: .seconds(600))
        do {
            let outcome = try await lifecycle.complete(hook: hook, result: result, deadline: deadline)
            state.withLock {
                $0.launchResult = result.rawValue
                $0.lastLifecycleCall = "CompleteLifecycleAction \(hook) \(result.rawValue): \(outcome)"
            }
        } catch {
            state.withLock { $0.lastLifecycleCall = "CompleteLifecycleAction \(hook) \(result.rawValue) failed: \(error)" }
            logger.error("completing the launch lifecycle action failed", metadata: ["asg.hook": "\(hook)", "error": "\(error)"])
        }
    }

    // MARK: - Supervision

    private func supervise(release: String, user: UserAccount?) async throws {
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
                pidFile: config.stateDirectory + "/app/app.pid"),
            settings: Self.settings(config.app), probe: probe, probeInterval: health.interval, tickInterval: tick,
            stopTimeout: config.app.stopTimeout, logger: logger, notify: { noticeSink.yield($0) })
        let alreadyShuttingDown = state.withLock { state -> Bool in
            state.supervisor = supervisor
            return state.shutdownRequested
        }
        setPhase(.startingApp, "starting app: \(config.app.command.joined(separator: " "))")
        let failure = Mutex<String?>(nil)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await supervisor.run()
                noticeSink.finish()
            }
            if alreadyShuttingDown { group.addTask { await supervisor.stopApp() } }
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
        state.withLock { $0.phase = .stopped }
    }

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
    private func handle(_ notice: AppSupervisor.Notice, supervisor: AppSupervisor, group: inout TaskGroup<Void>) -> String? {
        switch notice {
        case .alive:
            context.status.watchdog()
        case .started(let pid):
            logger.info("app started", metadata: ["app.pid": "\(pid)", "app.command": "\(config.app.command.joined(separator: " "))"])
        case .spawnFailed(let reason):
            logger.error("app could not be started", metadata: ["app.reason": "\(reason)"])
        case .exited(let status):
            let stopping = state.withLock { $0.shutdownRequested }
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
            state.withLock { $0.phase = .healthy }
            if first {
                logger.notice("app is healthy", metadata: ["app.pid": "\(pid)"])
                let hook = config.lifecycle.launchHook
                group.addTask {
                    if let lifecycle = self.context.lifecycle, let hook {
                        await self.completeLaunch(lifecycle, hook: hook, result: .continue)
                    }
                    self.context.status.ready("healthy (pid \(pid))")
                }
            } else {
                logger.notice("app is healthy again", metadata: ["app.pid": "\(pid)"])
                context.status.status("healthy (pid \(pid))")
            }
        case .unhealthy(let detail):
            Gauge(label: "clock_app_healthy").record(0)
            setPhase(.unhealthy, "unhealthy: \(detail)")
        case .startTimedOut:
            guard !state.withLock({ $0.draining }) else { return nil }
            let reason =
                "the app was not healthy within app.health.start_timeout (\(DurationText.format(config.app.health.startTimeout)))"
                + (supervisor.snapshot.lastExit.map { "; last exit: \($0)" } ?? "")
            state.withLock { $0.failure = reason }
            logger.critical("launch failed", metadata: ["agent.reason": "\(reason)"])
            if let lifecycle = context.lifecycle, let hook = config.lifecycle.launchHook {
                context.status.status("launch failed: \(reason)")
                group.addTask { await self.completeLaunch(lifecycle, hook: hook, result: .abandon) }
            } else {
                return reason
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
                        try await lifecycle.reportUnhealthy(reason: "crash loop: \(statuses)")
                        self.state.withLock { $0.lastLifecycleCall = "SetInstanceHealth Unhealthy" }
                    } catch {
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
