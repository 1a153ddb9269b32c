import Bootstrap
import Foundation
import TestSupport
import Testing

/// `PrepareRunner`: a step that outlives the launch deadline, or an agent shutting down, stops the step's whole
/// process group (SIGTERM, SIGKILL after the grace) and fails with an error that says which step, that it was
/// stopped, and why.
///
/// The runner runs on an executor of its own, so that other tests keeping the cooperative pool busy can't hold up
/// the start of a step past its deadline.
@Suite(.timeLimit(.minutes(3)))
struct PrepareRunnerTests {
    /// A step that ignores SIGTERM and starts a worker that ignores it too; it records both pids.
    static func stubbornStep(_ pids: String) -> [String] {
        ["sh", "-c", "trap '' TERM; sleep 100 & echo \"$$ $!\" > \"$0.tmp\"; mv \"$0.tmp\" \"$0\"; wait", pids]
    }

    static func runner(_ directory: TemporaryDirectory) -> PrepareRunner {
        PrepareRunner(
            markers: directory.file("prepared"), outputPath: directory.file("output.log"),
            environment: ["PATH": "/usr/bin:/bin"], launchTimeout: .seconds(900), stopGrace: .milliseconds(300),
            logger: LogCapture().logger())
    }

    @Test func aStepStillRunningAtTheDeadlineIsStopped() async throws {
        let directory = try TemporaryDirectory()
        let pids = directory.file("pids")
        let runner = Self.runner(directory)
        let executor = SingleThreadExecutor()
        defer { executor.shutdown() }
        // Generous: the step must have started before the deadline, even when other tests keep the machine busy.
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        let run = Task(executorPreference: executor) {
            try await runner.run(
                steps: [Self.stubbornStep(pids)], release: directory.path, sha256: "abc", deadline: deadline)
        }
        let error = await #expect(throws: BootstrapError.self) { try await run.value }
        #expect(error?.step == .prepare)
        #expect(
            error?.message.hasPrefix("prepare step 1/1 (sh -c trap '' TERM; sleep 100") == true,
            "\(String(describing: error))")
        #expect(error?.message.contains("was stopped") == true)
        #expect(error?.message.contains("did not finish within app.launch_timeout (15m)") == true)
        try await Self.expectGone(pids)
        #expect(!runner.isPrepared(sha256: "abc", steps: [Self.stubbornStep(pids)]))
    }

    @Test func aStepRunningWhenTheAgentShutsDownIsStopped() async throws {
        let directory = try TemporaryDirectory()
        let pids = directory.file("pids")
        let runner = Self.runner(directory)
        let executor = SingleThreadExecutor()
        defer { executor.shutdown() }
        let task = Task(executorPreference: executor) {
            try await runner.run(steps: [Self.stubbornStep(pids)], release: directory.path, sha256: "abc")
        }
        try await Self.waitFor(pids)
        task.cancel()
        let error = await #expect(throws: BootstrapError.self) { try await task.value }
        #expect(error?.message.contains("prepare step 1/1") == true)
        #expect(error?.message.contains("was stopped") == true)
        #expect(error?.message.contains("the agent is shutting down") == true, "\(String(describing: error))")
        try await Self.expectGone(pids)
    }

    @Test func stepsThatFinishRecordTheMarker() async throws {
        let directory = try TemporaryDirectory()
        let runner = Self.runner(directory)
        let steps = [["sh", "-c", "echo prepared > done"]]
        try await runner.run(
            steps: steps, release: directory.path, sha256: "abc", deadline: .now.advanced(by: .seconds(30)))
        #expect(FileManager.default.fileExists(atPath: directory.file("done")))
        #expect(runner.isPrepared(sha256: "abc", steps: steps))
        let output = try String(contentsOfFile: directory.file("output.log"), encoding: .utf8)
        #expect(output.contains("clock-agent: prepare step 1/1: sh -c echo prepared > done"))
    }

    /// Waits (up to 60 s: the machine may be busy) for the step to have written its pids.
    static func waitFor(_ pids: String) async throws {
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        while !FileManager.default.fileExists(atPath: pids), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        try #require(FileManager.default.fileExists(atPath: pids), "the step never started")
    }

    /// The step's shell and its worker are gone (zombies waiting for init count as gone).
    static func expectGone(_ pids: String) async throws {
        let text = try String(contentsOfFile: pids, encoding: .utf8)
        let numbers = text.split(whereSeparator: \.isWhitespace).compactMap { Int32($0) }
        try #require(numbers.count == 2)
        defer { for pid in numbers { kill(pid, SIGKILL) } }
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        while numbers.contains(where: isRunning), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        for pid in numbers { #expect(!isRunning(pid), "process \(pid) of the stopped step is still running") }
    }

    static func isRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return state != "Z" && state != "X"
    }
}
