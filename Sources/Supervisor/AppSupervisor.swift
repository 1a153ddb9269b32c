import AWSCore
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the app and keeps it running: starts it, notices its exit at once, probes its health, restarts it with
/// backoff, and reports what happens through `notify`. The rules live in `SupervisionMachine`; this type does the
/// I/O. Its output goes to `Launch.outputPath` (opened in append mode and handed to the app as stdout and stderr),
/// so it is on disk the moment the app writes it, whatever happens to the agent.
public final class AppSupervisor: Sendable {
    /// What to run.
    public struct Launch: Sendable {
        /// argv (no shell).
        public var arguments: [String]
        /// The app's complete environment.
        public var environment: [String: String]
        /// The working directory (`install_dir/current`).
        public var directory: String
        /// Run as this user, if set.
        public var user: UserAccount?
        /// Where stdout and stderr go.
        public var outputPath: String
        /// Where the running app's pid is kept, to clean up an app orphaned by an agent crash.
        public var pidFile: String
        /// When nothing ships the output file (no `app` log source), its size is capped: past this many bytes it is
        /// copied to `<outputPath>.1` and emptied. nil: no cap (the log shipper keeps the file small).
        public var outputLimit: Int64?

        /// Creates a launch description.
        public init(
            arguments: [String], environment: [String: String], directory: String, user: UserAccount?,
            outputPath: String, pidFile: String, outputLimit: Int64? = nil
        ) {
            self.arguments = arguments
            self.environment = environment
            self.directory = directory
            self.user = user
            self.outputPath = outputPath
            self.outputLimit = outputLimit
            self.pidFile = pidFile
        }
    }

    /// What happened, for the agent's logs, lifecycle reporting and systemd status.
    public enum Notice: Sendable {
        case started(pid: Int32)
        case spawnFailed(reason: String)
        case exited(ExitStatus)
        case healthy(first: Bool)
        case unhealthy(detail: String)
        case restarting(after: Double, reason: String)
        case startTimedOut
        case crashLoop([SupervisionMachine.Restart])
        case recovered
        /// The supervision loop is alive (for the systemd watchdog).
        case alive
    }

    /// The app as `status` shows it.
    public struct Snapshot: Sendable, Equatable {
        public var phase: SupervisionMachine.Phase
        public var pid: Int32?
        public var startedAt: UTCTime?
        public var healthy: Bool
        public var everHealthy: Bool
        public var restarts: Int
        public var lastExit: String?
    }

    private enum LoopEvent: Sendable {
        case machine(SupervisionMachine.Event)
        case restartDue
        case stop
    }

    private struct State {
        var machine: SupervisionMachine
        var child: ChildProcess?
        var startedAt: UTCTime?
        var stopped = false
        var events: AsyncStream<LoopEvent>.Continuation?
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
        var finished = false
        /// Counts starts; probes belong to one start.
        var generation = 0
        /// The current start has answered healthy once (then the regular probe interval applies).
        var healthySinceStart = false
    }

    private let launch: Launch
    private let probe: any HealthProbe
    private let probeInterval: Duration
    private let tickInterval: Duration
    private let stopTimeout: Duration
    private let logger: Logger
    private let notify: @Sendable (Notice) -> Void
    private let state: Mutex<State>
    private let clock = ContinuousClock()
    private let origin: ContinuousClock.Instant

    /// Creates a supervisor; `run()` starts the app.
    /// - Parameters:
    ///   - tickInterval: how often the loop checks timers and reports `.alive` (at most the probe interval).
    public init(
        launch: Launch, settings: SupervisionMachine.Settings, probe: any HealthProbe, probeInterval: Duration,
        tickInterval: Duration? = nil, stopTimeout: Duration, logger: Logger,
        notify: @escaping @Sendable (Notice) -> Void
    ) {
        self.launch = launch
        self.probe = probe
        self.probeInterval = probeInterval
        self.tickInterval = min(tickInterval ?? probeInterval, probeInterval)
        self.stopTimeout = stopTimeout
        self.logger = logger
        self.notify = notify
        state = Mutex(State(machine: SupervisionMachine(settings: settings)))
        origin = clock.now
    }

    /// The app's current state.
    public var snapshot: Snapshot {
        state.withLock { state in
            Snapshot(
                phase: state.machine.phase, pid: state.child?.exitStatus == nil ? state.child?.pid : nil,
                startedAt: state.startedAt, healthy: state.machine.isHealthy, everHealthy: state.machine.everHealthy,
                restarts: state.machine.restartCount, lastExit: state.machine.lastExit)
        }
    }

    /// Runs the app until `stopApp()` is called; then stops it (SIGTERM, SIGKILL after the stop timeout) and
    /// returns. Cancellation of the calling task also stops the app before returning.
    public func run() async {
        await killOrphan()
        let (events, continuation) = AsyncStream<LoopEvent>.makeStream()
        let alreadyStopped = state.withLock { state -> Bool in
            state.events = continuation
            return state.stopped
        }
        if alreadyStopped { continuation.yield(.stop) }
        await withTaskCancellationHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.tickLoop(continuation) }
                // A stop requested before the loop began means the app is not started at all.
                if !alreadyStopped { spawn(into: &group, continuation) }
                for await event in events {
                    if handle(event, group: &group, continuation) { break }
                }
                group.cancelAll()
            }
        } onCancel: {
            continuation.yield(.stop)
        }
        let waiters = state.withLock { state in
            state.finished = true
            state.events = nil
            let waiting = state.stopWaiters
            state.stopWaiters.removeAll()
            return waiting
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Stops the app for good (no restart) and waits until it has exited and `run()` is finishing.
    public func stopApp() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let events: AsyncStream<LoopEvent>.Continuation?? = state.withLock { state in
                state.stopped = true
                if state.finished { return .none }
                state.stopWaiters.append(waiter)
                return .some(state.events)
            }
            switch events {
            case .none: waiter.resume()
            case .some(let continuation): continuation?.yield(.stop)
            }
        }
    }

    private var now: Double {
        let elapsed = clock.now - origin
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// Returns true when the loop should end.
    private func handle(
        _ event: LoopEvent, group: inout TaskGroup<Void>, _ continuation: AsyncStream<LoopEvent>.Continuation
    ) -> Bool {
        switch event {
        case .stop:
            let child = state.withLock { state -> ChildProcess? in
                state.stopped = true
                _ = state.machine.handle(.stopRequested)
                return state.child
            }
            if let child, child.exitStatus == nil {
                logger.info("stopping the app", metadata: ["app.pid": "\(child.pid)"])
                // The waiter started with the process reports the exit, which ends the loop.
                group.addTask { _ = await child.stop(timeout: self.stopTimeout) }
                return false
            }
            // The app's main process is gone but processes it started may not be: stop them too. The loop ends
            // now; the task group waits for this task before `run()` returns.
            stopLeftovers(of: child, in: &group)
            return true
        case .restartDue:
            let stopped = state.withLock { $0.stopped }
            if !stopped { spawn(into: &group, continuation) }
            return false
        case .machine(let machineEvent):
            if case .tick = machineEvent { notify(.alive) }
            let (actions, child, stopped) = state.withLock { state in
                (state.machine.handle(machineEvent), state.child, state.stopped)
            }
            if case .exited(let status, _) = machineEvent {
                removePidFile()
                notify(.exited(status))
                if stopped {
                    // The stop was requested (its event may still be queued behind this exit, and is not handled
                    // once the loop ends): processes the app left behind go too, before `run()` returns.
                    stopLeftovers(of: child, in: &group)
                    return true
                }
            }
            for action in actions {
                perform(action, child: child, group: &group, continuation)
            }
            return false
        }
    }

    /// Stops what is left of an exited app's process group (workers it started), if anything is.
    private func stopLeftovers(of child: ChildProcess?, in group: inout TaskGroup<Void>) {
        guard let child, child.groupIsAlive else { return }
        logger.info("stopping what is left of the app's process group", metadata: ["app.pid": "\(child.pid)"])
        group.addTask { _ = await child.stop(timeout: self.stopTimeout) }
    }

    private func perform(
        _ action: SupervisionMachine.Action, child: ChildProcess?, group: inout TaskGroup<Void>,
        _ continuation: AsyncStream<LoopEvent>.Continuation
    ) {
        switch action {
        case .restart(let delay, let reason):
            notify(.restarting(after: delay, reason: reason))
            let stopTimeout = self.stopTimeout
            group.addTask {
                // Processes the exited app left behind (workers, children) would hold its port and files: they
                // go before the new start.
                if let child, child.groupIsAlive { _ = await child.stop(timeout: stopTimeout) }
                try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
                continuation.yield(.restartDue)
            }
        case .kill(let reason):
            logger.warning("app failed its health checks; restarting it", metadata: ["app.reason": "\(reason)"])
            if let child {
                group.addTask { _ = await child.stop(timeout: self.stopTimeout) }
            }
        case .healthy(let first):
            notify(.healthy(first: first))
        case .unhealthy(let detail):
            notify(.unhealthy(detail: detail))
        case .startTimedOut:
            notify(.startTimedOut)
        case .crashLoop(let restarts):
            notify(.crashLoop(restarts))
        case .recovered:
            notify(.recovered)
        }
    }

    private func spawn(into group: inout TaskGroup<Void>, _ continuation: AsyncStream<LoopEvent>.Continuation) {
        let output = open(launch.outputPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard output >= 0 else {
            let reason = "cannot open \(launch.outputPath): \(String(cString: strerror(errno)))"
            continuation.yield(.machine(.spawnFailed(reason: reason, at: now)))
            notify(.spawnFailed(reason: reason))
            return
        }
        defer { close(output) }
        do {
            let child = try ChildProcess(
                .init(
                    arguments: launch.arguments, environment: launch.environment, directory: launch.directory,
                    user: launch.user, standardOutput: output, standardError: output))
            let generation = state.withLock { state -> Int in
                state.child = child
                state.startedAt = UTCTime.now()
                state.generation += 1
                state.healthySinceStart = false
                return state.generation
            }
            continuation.yield(.machine(.started(at: now)))
            notify(.started(pid: child.pid))
            group.addTask {
                // Written before the exit is reported, so removing it on exit can't come first.
                await self.writePidFile(child.pid)
                let status = await child.waitForExit()
                continuation.yield(.machine(.exited(status, at: self.now)))
            }
            group.addTask { await self.startupProbes(generation, continuation) }
        } catch {
            continuation.yield(.machine(.spawnFailed(reason: "\(error)", at: now)))
            notify(.spawnFailed(reason: "\(error)"))
        }
    }

    /// Probes a new start right away and then at 10 ms doubling up to the probe interval, until it answers healthy
    /// once: the launch verdict and READY=1 follow the app's own start-up, not the next probe interval.
    private func startupProbes(_ generation: Int, _ continuation: AsyncStream<LoopEvent>.Continuation) async {
        var delay = Duration.milliseconds(10)
        while true {
            do { try await Task.sleep(for: delay) } catch { return }
            guard isCurrent(generation) else { return }
            let result = await probe.check()
            guard isCurrent(generation) else { return }
            continuation.yield(.machine(.probe(healthy: result.healthy, detail: result.detail, at: now)))
            if result.healthy {
                state.withLock { if $0.generation == generation { $0.healthySinceStart = true } }
                return
            }
            delay = min(delay * 2, probeInterval)
        }
    }

    /// Whether `generation` is the running start (not exited, not stopping).
    private func isCurrent(_ generation: Int) -> Bool {
        state.withLock { state in
            state.generation == generation && !state.stopped && (state.child.map { $0.exitStatus == nil } ?? false)
        }
    }

    /// Ticks the machine (timers, `.alive` for the watchdog) and probes a start that was healthy once, every
    /// probe interval.
    private func tickLoop(_ continuation: AsyncStream<LoopEvent>.Continuation) async {
        var nextProbe = clock.now.advanced(by: probeInterval)
        while !Task.isCancelled {
            do { try await Task.sleep(for: tickInterval) } catch { return }
            if clock.now >= nextProbe {
                nextProbe = clock.now.advanced(by: probeInterval)
                let steady = state.withLock { state in
                    state.healthySinceStart && !state.stopped && (state.child.map { $0.exitStatus == nil } ?? false)
                }
                if steady {
                    let result = await probe.check()
                    continuation.yield(.machine(.probe(healthy: result.healthy, detail: result.detail, at: now)))
                }
            }
            continuation.yield(.machine(.tick(at: now)))
            if let limit = launch.outputLimit { await capOutput(at: limit) }
        }
    }

    /// Keeps an output file nobody ships from filling the disk: past `limit` bytes, its content is copied to
    /// `<outputPath>.1` (replacing the previous copy) and the file is emptied. The app writes in append mode, so it
    /// goes on at the new end. Lines written between the copy and the truncation are lost (as with copytruncate).
    private func capOutput(at limit: Int64) async {
        let path = launch.outputPath
        var info = stat()
        guard stat(path, &info) == 0, Int64(info.st_size) > limit else { return }
        let copied = await DedicatedThread.run { () -> Bool in
            let source = open(path, O_RDONLY | O_CLOEXEC)
            guard source >= 0 else { return false }
            defer { close(source) }
            let copy = path + ".1"
            let target = open(copy + ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
            guard target >= 0 else { return false }
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            var ok = true
            while ok {
                let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
                if count <= 0 {
                    ok = count == 0
                    break
                }
                ok = buffer.withUnsafeBytes { write(target, $0.baseAddress, count) } == count
            }
            close(target)
            guard ok, rename(copy + ".tmp", copy) == 0 else {
                unlink(copy + ".tmp")
                return false
            }
            return truncate(path, 0) == 0
        }
        if copied {
            logger.notice(
                "app output reached its size limit; moved to the .1 copy",
                metadata: ["file.path": "\(path)", "file.limit_bytes": "\(limit)"])
        }
    }

    // MARK: - pid file and orphans

    /// Records the app's pid and start time, on a thread of its own (fsync blocks; the cooperative pool must not).
    private func writePidFile(_ pid: Int32) async {
        let path = launch.pidFile
        await DedicatedThread.run {
            guard let start = Self.processStartTime(pid) else { return }
            let text = "\(pid) \(start)\n"
            let fd = open(path + ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { return }
            _ = text.withCString { write(fd, $0, strlen($0)) }
            fsync(fd)
            close(fd)
            rename(path + ".tmp", path)
        }
    }

    private func removePidFile() { unlink(launch.pidFile) }

    /// An app left running by an agent that died (kill -9 outside systemd): stop its process group before
    /// starting a new one, but only if the pid still belongs to that process (same start time).
    private func killOrphan() async {
        guard let text = try? readSmallFile(launch.pidFile) else { return }
        defer { removePidFile() }
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard parts.count == 2, let pid = Int32(parts[0]), let start = UInt64(parts[1]), pid > 1,
            Self.processStartTime(pid) == start
        else { return }
        logger.warning("stopping an app left running by an earlier agent", metadata: ["app.pid": "\(pid)"])
        kill(-pid, SIGTERM)
        let deadline = clock.now.advanced(by: stopTimeout)
        while clock.now < deadline, Self.processStartTime(pid) == start {
            do { try await Task.sleep(for: .milliseconds(50)) } catch { break }
        }
        if Self.processStartTime(pid) == start { kill(-pid, SIGKILL) }
    }

    /// Field 22 of `/proc/<pid>/stat` (start time in clock ticks since boot), which tells a pid's reuse apart.
    static func processStartTime(_ pid: Int32) -> UInt64? {
        guard let text = try? readSmallFile("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else {
            return nil
        }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command name: state is field 3, so start time (22) is index 19 here.
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }
}

/// Reads a small file as text.
func readSmallFile(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw SupervisorError(message: "cannot open \(path)", errno: errno) }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: 4096)
    let count = read(fd, &bytes, bytes.count)
    guard count >= 0 else { throw SupervisorError(message: "cannot read \(path)", errno: errno) }
    return String(decoding: bytes[0..<count], as: UTF8.self)
}
