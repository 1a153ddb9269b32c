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
                            gid: configuration.user?.gid ?? 0, new_session: 1)
                        return clock_spawn(&attributes, &pid, &stage, &error)
                    }
                }
            }
        }
        guard result == 0 else {
            throw SupervisorError(message: "cannot start \(program) (\(Self.stageName(stage)))", errno: error)
        }
        self.pid = pid
        DedicatedThread.start { [self] in reap() }
    }

    /// Waits for the child to end.
    public func waitForExit() async -> ExitStatus {
        while true {
            if let status = await waitForExit(orCancellation: ()) { return status }
            // Only cancellation returns nil; the caller asked to wait regardless, so poll the state once more.
            if let status = exitStatus { return status }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Waits for the child to end, up to `timeout`; nil if it is still running then.
    public func waitForExit(timeout: Duration) async -> ExitStatus? {
        await withTaskGroup(of: ExitStatus?.self) { group in
            group.addTask { await self.waitForExit(orCancellation: ()) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? exitStatus
        }
    }

    /// The exit status if the child has ended.
    public var exitStatus: ExitStatus? { state.withLock { $0.status } }

    /// Sends a signal to the child's whole process group (the app and anything it started).
    public func signalGroup(_ signal: Int32) {
        guard exitStatus == nil else { return }
        kill(-pid, signal)
    }

    /// SIGTERM to the process group, SIGKILL after `timeout`; returns how it ended.
    public func stop(timeout: Duration) async -> ExitStatus {
        signalGroup(SIGTERM)
        if let status = await waitForExit(timeout: timeout) { return status }
        signalGroup(SIGKILL)
        return await waitForExit()
    }

    /// Waits until the child ends (its status) or the task is cancelled (nil).
    private func waitForExit(orCancellation: Void) async -> ExitStatus? {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<ExitStatus?, Never>) in
                let resumeNow: ExitStatus?? = state.withLock { state in
                    if let status = state.status { return .some(status) }
                    if Task.isCancelled { return .some(nil) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let resumeNow { continuation.resume(returning: resumeNow) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: nil)
        }
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
                throw SupervisorError(message: "cannot start \(program): \(path) is not an executable file", errno: errno)
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
