import Foundation
import Supervisor
import Testing
import TestSupport

@Suite(.timeLimit(.minutes(1)))
struct ChildProcessTests {
    static let environment = ["PATH": "/usr/bin:/bin"]

    @Test func exitStatusDecoding() {
        #expect(ExitStatus(waitStatus: 0) == .exited(0))
        #expect(ExitStatus(waitStatus: 3 << 8) == .exited(3))
        #expect(ExitStatus(waitStatus: 9) == .signaled(9, coreDumped: false))
        #expect(ExitStatus(waitStatus: 0x80 | 11) == .signaled(11, coreDumped: true))
        #expect(ExitStatus.signaled(9, coreDumped: false).description == "killed by SIGKILL")
        #expect(ExitStatus.exited(3).description == "exit status 3")
    }

    @Test func runsWithoutAShellInItsOwnProcessGroup() async throws {
        let directory = try TemporaryDirectory()
        let output = open(directory.file("out"), O_WRONLY | O_CREAT | O_APPEND, 0o600)
        defer { close(output) }
        let child = try ChildProcess(
            .init(
                arguments: ["sh", "-c", "echo \"$0 $FOO\"; ps -o pgid= -p $$; pwd; echo err >&2; exit 3", "$HOME"],
                environment: Self.environment.merging(["FOO": "bar baz"]) { $1 }, directory: directory.path,
                standardOutput: output, standardError: output))
        #expect(await child.waitForExit() == .exited(3))
        let lines = try String(contentsOfFile: directory.file("out"), encoding: .utf8).split(separator: "\n").map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        // "$HOME" reached the program as a literal argument: no shell expanded it.
        #expect(lines[0] == "$HOME bar baz")
        #expect(lines[1] == String(child.pid))
        #expect(lines[2] == directory.path)
        #expect(lines[3] == "err")
    }

    @Test func signalsAreNotInheritedBlocked() async throws {
        let child = try ChildProcess(.init(arguments: ["sleep", "30"], environment: Self.environment))
        let mask = try String(contentsOfFile: "/proc/\(child.pid)/status", encoding: .utf8)
            .split(separator: "\n").first { $0.hasPrefix("SigBlk:") }
        #expect(mask?.hasSuffix("0000000000000000") == true)
        let status = await child.stop(timeout: .seconds(5))
        #expect(status == .signaled(15, coreDumped: false))
    }

    @Test func stopEscalatesToSigkill() async throws {
        let child = try ChildProcess(
            .init(arguments: ["sh", "-c", "trap '' TERM; sleep 30 & wait"], environment: Self.environment))
        try await Task.sleep(for: .milliseconds(200))
        let started = ContinuousClock.now
        let status = await child.stop(timeout: .milliseconds(500))
        #expect(status == .signaled(9, coreDumped: false))
        // The child ignores SIGTERM and would run 30 s: only SIGKILL ends it this early.
        #expect(ContinuousClock.now - started < .seconds(25))
    }

    /// A task that is cancelled while it waits for the child stays suspended: it gets the exit status when the child
    /// ends, and burns no CPU meanwhile.
    @Test func waitingInACancelledTaskDoesNotSpin() async throws {
        let executor = SingleThreadExecutor()
        defer { executor.shutdown() }
        let child = try ChildProcess(.init(arguments: ["sleep", "3"], environment: Self.environment))
        let before = executor.cpuTime
        let waiter = Task(executorPreference: executor) {
            withUnsafeCurrentTask { $0?.cancel() }
            return await child.waitForExit()
        }
        let status = await waiter.value
        let used = executor.cpuTime - before
        #expect(status == .exited(0))
        // Spinning for 3 s shows up as seconds of CPU, even on a busy machine; a suspended wait uses next to none.
        #expect(used < .milliseconds(300), "the waiting thread used \(used) of CPU in 3 s")
    }

    /// A stop requested from a cancelled task (an agent shutting down) still gives the app its grace period: one that
    /// exits cleanly on SIGTERM is not SIGKILLed.
    @Test func stopInACancelledTaskHonoursTheGracePeriod() async throws {
        let directory = try TemporaryDirectory()
        let ready = directory.file("ready")
        let child = try ChildProcess(
            .init(
                arguments: ["sh", "-c", "trap 'sleep 0.3; exit 0' TERM; touch \"$0\"; sleep 30 & wait", ready],
                environment: Self.environment))
        try await Self.waitUntil { FileManager.default.fileExists(atPath: ready) }
        let stopper = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await child.stop(timeout: .seconds(20))
        }
        #expect(await stopper.value == .exited(0))
    }

    /// Workers the app started keep its process group after it exits; stopping reaches them too, with SIGKILL at the
    /// stop timeout for one that ignores SIGTERM.
    @Test func stopReachesWorkersThatOutliveTheApp() async throws {
        let directory = try TemporaryDirectory()
        let workerFile = directory.file("worker")
        let child = try ChildProcess(
            .init(
                arguments: [
                    "sh", "-c",
                    "sh -c 'trap \"\" TERM; echo $$ > \"$0.tmp\"; mv \"$0.tmp\" \"$0\"; exec sleep 60' \"$0\" & wait",
                    workerFile,
                ], environment: Self.environment))
        try await Self.waitUntil { FileManager.default.fileExists(atPath: workerFile) }
        let text = try String(contentsOfFile: workerFile, encoding: .utf8)
        let worker = try #require(Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        defer { kill(worker, SIGKILL) }
        #expect(Self.isRunning(worker))

        let status = await child.stop(timeout: .seconds(1))
        // The app itself ends on SIGTERM; its worker ignores SIGTERM and only the SIGKILL at the timeout ends it.
        #expect(status == .signaled(SIGTERM, coreDumped: false))
        let gone = await Self.eventually { !Self.isRunning(worker) }
        #expect(gone, "worker \(worker) of the stopped app is still running")
        #expect(!child.groupIsAlive)
    }

    /// Whether `pid` is a live process (not gone, not a zombie waiting to be reaped by init).
    static func isRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return state != "Z" && state != "X"
    }

    /// Polls `condition` every 20 ms for up to 10 s; whether it became true.
    static func eventually(_ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    /// Like `eventually`, but a failure to get there ends the test.
    static func waitUntil(_ condition: () -> Bool) async throws {
        let reached = await eventually(condition)
        try #require(reached, "timed out waiting for the child to get ready")
    }

    @Test func exitStatusIsKeptAfterTheWait() async throws {
        let child = try ChildProcess(.init(arguments: ["sleep", "0.2"], environment: Self.environment))
        #expect(child.exitStatus == nil)
        #expect(await child.waitForExit() == .exited(0))
        #expect(child.exitStatus == .exited(0))
        #expect(await child.waitForExit(timeout: .seconds(1)) == .exited(0))
    }

    @Test func missingProgramsAndDirectoriesAreClearErrors() throws {
        let missing = #expect(throws: SupervisorError.self) {
            _ = try ChildProcess(.init(arguments: ["no-such-program-xyz"], environment: Self.environment))
        }
        #expect(missing?.description.contains("no-such-program-xyz: not found in PATH") == true)
        let badDirectory = #expect(throws: SupervisorError.self) {
            _ = try ChildProcess(.init(arguments: ["true"], environment: Self.environment, directory: "/no/such/dir"))
        }
        #expect(badDirectory?.description.contains("changing to its directory") == true)
        #expect(badDirectory?.description.contains("No such file or directory") == true)
    }

    @Test func userLookup() throws {
        #expect(try UserAccount.lookup("root")?.uid == 0)
        #expect(try UserAccount.lookup("no-such-user-xyz") == nil)
    }

    /// Privilege drop: as `nobody`, the child's uid and gid are nobody's and it has no supplementary groups.
    @Test(.enabled(if: getuid() == 0)) func dropsPrivileges() async throws {
        let nobody = try #require(try UserAccount.lookup("nobody"))
        let directory = try TemporaryDirectory()
        chmod(directory.path, 0o777)
        let output = open(directory.file("ids"), O_WRONLY | O_CREAT | O_APPEND, 0o666)
        defer { close(output) }
        let child = try ChildProcess(
            .init(arguments: ["id"], environment: Self.environment, user: nobody, standardOutput: output))
        #expect(await child.waitForExit() == .exited(0))
        let ids = try String(contentsOfFile: directory.file("ids"), encoding: .utf8)
        #expect(ids.hasPrefix("uid=\(nobody.uid)"))
        #expect(ids.contains("gid=\(nobody.gid)"))
        #expect(ids.contains("groups=\(nobody.gid)(") && !ids.contains(",0(root)"))
    }
}

@Suite(.serialized)
struct InheritedLimitsTests {
    @Test func childrenStartWithTheOpenFileLimitTheAgentWasGiven() async throws {
        let given = try #require(InheritedLimits.openFiles)
        var limit = rlimit()
        #expect(getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0)
        let saved = limit
        // The agent's own soft limit moves away from the one it was given (the log shipper raises it when it tails
        // many files; lowering it here works whatever the hard limit is): the child still gets the given one.
        limit.rlim_cur = given > 512 ? given - 256 : given + 1
        try #require(limit.rlim_cur <= limit.rlim_max)
        #expect(setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0)
        defer {
            var restore = saved
            _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &restore)
        }
        let directory = try TemporaryDirectory()
        let output = open(directory.file("out"), O_WRONLY | O_CREAT | O_APPEND, 0o600)
        defer { close(output) }
        let child = try ChildProcess(
            .init(
                arguments: ["sh", "-c", "ulimit -n"], environment: ChildProcessTests.environment, standardOutput: output
            ))
        #expect(await child.waitForExit() == .exited(0))
        let printed = try String(contentsOfFile: directory.file("out"), encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines)
        #expect(printed == String(given))
    }
}
