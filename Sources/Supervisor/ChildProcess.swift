import Dispatch
import AWSCore
import CSpawn
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A child process started without a shell, in its own session and process group, optionally as another user.
///
/// Its exit is noticed at once: a dedicated thread blocks in `waitpid` for it (no polling), so neither the
/// cooperative pool nor a timer is involved.
public final class ChildProcess: Sendable {
    /// How to start the child.
    public struct Configuration: Sendable {
        /// argv; `arguments[0]` is looked up in `PATH` unless it contains a `/`.
        public var arguments: [String]
        /// The complete environment of the child.
        public var environment: [String: String]
        /// The working directory.
        public var directory: String?
        /// Run as this user (its primary group, no supplementary groups).
        public var user: UserAccount?
        /// Descriptors for stdin/stdout/stderr (nil: /dev/null). The caller keeps ownership.
        public var standardInput: Int32?
        public var standardOutput: Int32?
        public var standardError: Int32?

        /// Creates a configuration.
        public init(
            arguments: [String], environment: [String: String], directory: String? = nil, user: UserAccount? = nil,
            standardInput: Int32? = nil, standardOutput: Int32? = nil, standardError: Int32? = nil
        ) {
            self.arguments = arguments
            self.environment = environment
            self.directory = directory
            self.user = user
            self.standardInput = standardInput
            self.standardOutput = standardOutput
            self.standardError = standardError
        }
    }

    private struct State {
        var status: ExitStatus?
        var waiters: [UInt64: CheckedContinuation<ExitStatus?, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    /// The process id, which is also its process group id.
    public let pid: pid_t
    private let state = Mutex(State())

    /// Starts the child.
    /// - Throws: `SupervisorError` naming the program and the step that failed (`exec`, `chdir`, `setuid`, ...).
    public init(_ configuration: Configuration) throws {
        guard let program = configuration.arguments.first, !program.isEmpty else {
            throw SupervisorError(message: "cannot start a process without a command")
        }
        let path = try Self.resolve(program, environment: configuration.environment, directory: configuration.directory)
        let environment = configuration.environment.map { "\($0.key)=\($0.value)" }.sorted()
        var pid: pid_t = 0
        var stage: Int32 = 0
        var error: Int32 = 0
        let result = withCStringArray(configuration.arguments) { argv in
            withCStringArray(environment) { envp in
                path.withCString { pathPointer in
                    withOptionalCString(configuration.directory) { directory in
                        var attributes = clock_spawn_attributes(
                            path: pathPointer, argv: argv, envp: envp, directory: directory,
                            stdin_fd: configuration.standardInput ?? -1, stdout_fd: configuration.standardOutput ?? -1,
                            stderr_fd: configuration.standardError ?? -1,
                            drop_privileges: configuration.user == nil ? 0 : 1, uid: configuration.user?.uid ?? 0,
                            gid: configuration.user?.gid ?? 0, new_session: 1,
                            reset_open_files: InheritedLimits.openFiles == nil ? 0 : 1,
                            open_files_soft: InheritedLimits.openFiles ?? 0)
                        return clock_spawn(&attributes, &pid, &stage, &error)
                    }
                }
            }
        }
        guard result == 0 else {
            throw SupervisorError(message: "cannot start \(program) (\(Self.stageName(stage)))", errno: error)
        }
        self.pid = pid
        DedicatedThread.start(name: "reaper") { [self] in reap() }
    }

    /// Waits for the child to end.
    ///
    /// Cancellation of the calling task does not end the wait: the task stays suspended (it never polls) until the
    /// exit is reaped, which the dedicated reaper thread reports at once.
    public func waitForExit() async -> ExitStatus {
        while true {
            // Without a deadline and without cancellation nothing resumes the wait with nil; the loop only spares a
            // force unwrap and runs once.
            if let status = await wait(deadline: nil, cancellable: false) { return status }
        }
    }

    /// Waits for the child to end, up to `timeout`; nil if it is still running then.
    ///
    /// The timeout is honoured in full even when the calling task is cancelled: callers use it as a grace period.
    public func waitForExit(timeout: Duration) async -> ExitStatus? {
        await wait(deadline: ContinuousClock.now.advanced(by: timeout), cancellable: false)
    }

    /// Waits for the child to end, until `deadline` or until the calling task is cancelled, whichever comes first;
    /// nil if it is still running then (`Task.isCancelled` tells the two apart).
    public func waitForExitOrCancellation(deadline: ContinuousClock.Instant) async -> ExitStatus? {
        await wait(deadline: deadline, cancellable: true)
    }

    /// The exit status if the child has ended.
    public var exitStatus: ExitStatus? { state.withLock { $0.status } }

    /// Sends a signal to the child's whole process group (the app and anything it started), also after the child
    /// itself has exited, as long as processes of its group are left.
    ///
    /// The group id is the child's pid. While the child runs, or any process of its group does, the kernel does not
    /// hand that number out again, so the signal can only reach the child's own group.
    public func signalGroup(_ signal: Int32) {
        guard exitStatus == nil || groupIsAlive else { return }
        kill(-pid, signal)
    }

    /// Whether any process of the child's process group (the child included) is still alive.
    ///
    /// Zombies don't count: a killed worker that was reparented to init stays a zombie until init gets round to
    /// reaping it, which may take a while, but it has ended.
    public var groupIsAlive: Bool {
        guard kill(-pid, 0) == 0 || errno == EPERM else { return false }
        guard let proc = opendir("/proc") else { return true }
        defer { closedir(proc) }
        while let entry = readdir(proc) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let member = Int32(name), let stat = try? readSmallFile("/proc/\(member)/stat") else { continue }
            // After the command name (which may hold spaces and parentheses): state, ppid, pgrp.
            guard let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ", maxSplits: 3)
            if fields.count >= 3, Int32(fields[2]) == pid, fields[0] != "Z", fields[0] != "X" { return true }
        }
        return false
    }

    /// SIGTERM to the process group, SIGKILL to whatever is left of it after `timeout`; returns how the child ended.
    ///
    /// The whole group counts: workers that outlive the child (they keep its process group) are waited for and
    /// killed too. The grace period is honoured even when the calling task is cancelled — an agent that is shutting
    /// down is exactly when the app deserves it.
    public func stop(timeout: Duration) async -> ExitStatus {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        signalGroup(SIGTERM)
        if await !waitForGroupToEnd(deadline: deadline) {
            signalGroup(SIGKILL)
            // A killed process is gone only once the kernel has run its exit, which on a loaded machine takes a
            // moment; until then it still holds the app's ports and files. SIGKILL can't be caught, so this ends
            // unless a process is stuck in the kernel (uninterruptible I/O): then give up after a bounded wait.
            _ = await waitForGroupToEnd(deadline: ContinuousClock.now.advanced(by: Self.killGrace))
        }
        return await waitForExit()
    }

    /// The queue of the stop and wait timers: a queue of their own (a thread is made for it when needed), so a
    /// global queue saturated by blocking work elsewhere in the process can't hold a grace period or a SIGKILL back.
    static let timers = DispatchQueue(label: "clock-agent.child-process-timers")

    /// How long a stop waits for the group to vanish after SIGKILL.
    static let killGrace = Duration.seconds(10)

    /// Waits, whatever the calling task's cancellation, until the child has exited and no process of its group is
    /// left (true), or until `deadline` (false).
    private func waitForGroupToEnd(deadline: ContinuousClock.Instant) async -> Bool {
        if exitStatus == nil, await wait(deadline: deadline, cancellable: false) == nil { return false }
        // The rest of the group is not our children, so nothing reports their exit: look again after a pause that
        // doubles from 5 ms to 200 ms. Only a stop does this, and only for as long as the grace period lasts.
        var pause = Duration.milliseconds(5)
        while groupIsAlive {
            let now = ContinuousClock.now
            guard now < deadline else { return false }
            await Self.sleepIgnoringCancellation(min(pause, deadline - now))
            pause = min(pause * 2, .milliseconds(200))
        }
        return true
    }

    /// Sleeps for `duration` even if the calling task is cancelled (a cancelled `Task.sleep` returns at once).
    ///
    /// A timer on a dispatch queue resumes the waiting task; no task's cancellation reaches it.
    private static func sleepIgnoringCancellation(_ duration: Duration) async {
        let interval = dispatchInterval(until: ContinuousClock.now.advanced(by: duration))
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            Self.timers.asyncAfter(deadline: .now() + interval) { waiter.resume() }
        }
    }

    /// The time from now until `deadline`, for a dispatch timer (zero if it has passed).
    private static func dispatchInterval(until deadline: ContinuousClock.Instant) -> DispatchTimeInterval {
        let (seconds, attoseconds) = (deadline - ContinuousClock.now).components
        return .nanoseconds(max(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000), 0))
    }

    /// Waits until the child ends (its status), `deadline` passes (nil) or, when `cancellable`, the calling task is
    /// cancelled (nil). The waiter is resumed by the reaper thread, by a timer task, or by the cancellation handler,
    /// whichever comes first; the others then find nothing to resume.
    private func wait(deadline: ContinuousClock.Instant?, cancellable: Bool) async -> ExitStatus? {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        var timer: DispatchWorkItem?
        defer { timer?.cancel() }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<ExitStatus?, Never>) in
                let resumeNow: ExitStatus?? = state.withLock { state in
                    if let status = state.status { return .some(status) }
                    if cancellable, Task.isCancelled { return .some(nil) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let resumeNow {
                    continuation.resume(returning: resumeNow)
                    return
                }
                if let deadline {
                    // A dispatch timer, so that the caller's cancellation can't cut the deadline short.
                    let item = DispatchWorkItem { [self] in resumeWaiter(id) }
                    timer = item
                    Self.timers.asyncAfter(
                        deadline: .now() + Self.dispatchInterval(until: deadline), execute: item)
                }
            }
        } onCancel: {
            if cancellable { resumeWaiter(id) }
        }
    }

    /// Resumes waiter `id` with nil if it is still waiting.
    private func resumeWaiter(_ id: UInt64) {
        let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
        waiter?.resume(returning: nil)
    }

    private func reap() {
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 {
            if errno != EINTR {
                raw = 0x7F00  // cannot happen for our own child; report as "exit status 127"
                break
            }
        }
        let status = ExitStatus(waitStatus: raw)
        let waiters = state.withLock { state in
            state.status = status
            let waiting = state.waiters
            state.waiters.removeAll()
            return waiting
        }
        for waiter in waiters.values { waiter.resume(returning: status) }
    }

    /// Finds the program: paths with a `/` are taken as they are (relative to `directory`), others are searched
    /// in the child's `PATH` as execvp would.
    static func resolve(_ program: String, environment: [String: String], directory: String?) throws -> String {
        if program.contains("/") {
            let path = program.hasPrefix("/") ? program : "\(directory ?? ".")/\(program)"
            guard access(path, X_OK) == 0 else {
                throw SupervisorError(
                    message: "cannot start \(program): \(path) is not an executable file", errno: errno)
            }
            return path
        }
        let search = environment["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for directory in search.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(program)"
            var info = stat()
            if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        throw SupervisorError(message: "cannot start \(program): not found in PATH (\(search))")
    }

    static func stageName(_ stage: Int32) -> String {
        switch UInt32(stage) {
        case CLOCK_SPAWN_FORK.rawValue: return "fork"
        case CLOCK_SPAWN_SETSID.rawValue: return "setsid"
        case CLOCK_SPAWN_DUP.rawValue: return "redirecting stdin/stdout/stderr"
        case CLOCK_SPAWN_CHDIR.rawValue: return "changing to its directory"
        case CLOCK_SPAWN_SETGROUPS.rawValue: return "dropping supplementary groups"
        case CLOCK_SPAWN_SETGID.rawValue: return "setgid"
        case CLOCK_SPAWN_SETUID.rawValue: return "setuid"
        case CLOCK_SPAWN_EXEC.rawValue: return "exec"
        case CLOCK_SPAWN_PIPE.rawValue: return "pipe"
        default: return "step \(stage)"
        }
    }
}

/// Calls `body` with a NULL-terminated array of C strings that live for the duration of the call.
func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    let pointers = strings.map { strdup($0) } + [nil]
    defer { for pointer in pointers { free(pointer) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Calls `body` with a C string or NULL.
func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let string else { return body(nil) }
    return string.withCString { body($0) }
}
