import Foundation
import Logging
import Supervisor
import Synchronization
import Testing
import TestSupport

/// The supervisor's own I/O around the state machine: what happens to processes an app leaves behind, and a stop
/// requested before the loop began.
@Suite(.timeLimit(.minutes(1)))
struct AppSupervisorTests {
    static let settings = SupervisionMachine.Settings(
        initialBackoff: 0.05, maxBackoff: 0.1, crashLoopRestarts: 100, crashLoopWindow: 60, unhealthyThreshold: 3,
        startTimeout: 30, healthyResetAfter: 10)

    func supervisor(
        _ arguments: [String], in directory: TemporaryDirectory, outputLimit: Int64? = nil,
        notify: @escaping @Sendable (AppSupervisor.Notice) -> Void = { _ in }
    ) -> AppSupervisor {
        AppSupervisor(
            launch: .init(
                arguments: arguments, environment: ["PATH": "/usr/bin:/bin"], directory: directory.path, user: nil,
                outputPath: directory.file("output.log"), pidFile: directory.file("app.pid"), outputLimit: outputLimit),
            settings: Self.settings, probe: ProcessRunningProbe(), probeInterval: .milliseconds(100),
            stopTimeout: .seconds(2), logger: Logger(label: "test"), notify: notify)
    }

    /// The workers' command line, distinctive enough that a reused pid (other tests start many processes) is not
    /// taken for a worker.
    static let workerCommand = "sleep 317"

    /// Whether `pid` is a live worker (zombies waiting for init don't count).
    static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")"),
            let command = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)
        else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X" && command.split(separator: "\0").joined(separator: " ") == workerCommand
    }

    static func waitUntil(_ deadline: Duration = .seconds(20), _ condition: () -> Bool) async -> Bool {
        let end = ContinuousClock.now.advanced(by: deadline)
        while ContinuousClock.now < end {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    @Test func workersLeftByAnExitedAppAreStoppedBeforeTheRestart() async throws {
        let directory = try TemporaryDirectory()
        // The app starts a worker that ignores SIGTERM, records its pid (one line per start) and exits.
        let script = "trap '' TERM; \(Self.workerCommand) & echo $! >> workers; exit 1"
        let app = supervisor(["sh", "-c", script], in: directory)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await app.run() }
            let workers = directory.file("workers")
            let twoStarts = await Self.waitUntil {
                ((try? String(contentsOfFile: workers, encoding: .utf8))?.split(separator: "\n").count ?? 0) >= 2
            }
            #expect(twoStarts, "the app was restarted")
            let first = try #require(
                Int32((try String(contentsOfFile: workers, encoding: .utf8)).split(separator: "\n")[0]))
            #expect(!Self.isAlive(first), "the first start's worker was stopped before the second start")
            await app.stopApp()
            try await group.waitForAll()
        }
        for line in try String(contentsOfFile: directory.file("workers"), encoding: .utf8).split(separator: "\n") {
            #expect(!Self.isAlive(Int32(line) ?? 0), "no worker outlives the supervisor's stop")
        }
    }

    @Test func aStopBeforeTheLoopBeganStartsNothing() async throws {
        let directory = try TemporaryDirectory()
        let started = Mutex(0)
        let app = supervisor(["sh", "-c", "echo started >> starts; exec sleep 300"], in: directory) { notice in
            if case .started = notice { started.withLock { $0 += 1 } }
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await app.stopApp() }
            // Let the stop request land first.
            try? await Task.sleep(for: .milliseconds(100))
            group.addTask { await app.run() }
            await group.waitForAll()
        }
        #expect(started.withLock { $0 } == 0)
        #expect(!FileManager.default.fileExists(atPath: directory.file("starts")))
    }

    @Test func anUnshippedOutputFileIsCapped() async throws {
        let directory = try TemporaryDirectory()
        // 200 lines of 1 KiB at once, then quiet: the file passes the 64 KiB cap and is moved to its .1 copy.
        let script =
            "i=0; while [ $i -lt 200 ]; do printf '%01023d\\n' $i; i=$((i+1)); done; echo after; exec sleep 300"
        let app = supervisor(["sh", "-c", script], in: directory, outputLimit: 64 << 10)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await app.run() }
            let moved = await Self.waitUntil {
                (try? FileManager.default.attributesOfItem(atPath: directory.file("output.log.1"))[.size] as? Int) ?? 0
                    >= 200 * 1024
            }
            #expect(moved, "the output was copied to output.log.1")
            await app.stopApp()
            await group.waitForAll()
        }
        let size = try FileManager.default.attributesOfItem(atPath: directory.file("output.log"))[.size] as? Int ?? -1
        #expect(size < 64 << 10, "the output file was emptied")
    }
}
