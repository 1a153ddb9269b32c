import AWSCore
import AgentConfig
import Logging
import Supervisor

#if canImport(Glibc)
    import Glibc
#endif

/// Runs `app.prepare` once per release, in the release directory.
///
/// Each step's output goes to the app's output log (so it is shipped with the app's logs), after a header line
/// naming the step. Success is recorded in `state_dir/prepared/<sha256>` together with the steps themselves: a
/// reboot with the same artifact and the same steps skips them; changed steps run again.
public struct PrepareRunner: Sendable {
    private let markers: String
    private let outputPath: String
    private let environment: [String: String]
    private let launchTimeout: Duration?
    private let stopGrace: Duration
    private let logger: Logger

    /// Creates a runner.
    /// - Parameters:
    ///   - markers: `state_dir/prepared`.
    ///   - outputPath: the app's output log.
    ///   - environment: the steps' environment (the app's).
    ///   - launchTimeout: `app.launch_timeout`, named when a step is stopped at the deadline.
    ///   - stopGrace: how long a stopped step has between SIGTERM and SIGKILL.
    public init(
        markers: String, outputPath: String, environment: [String: String], launchTimeout: Duration? = nil,
        stopGrace: Duration = .seconds(5), logger: Logger
    ) {
        self.markers = markers
        self.outputPath = outputPath
        self.environment = environment
        self.launchTimeout = launchTimeout
        self.stopGrace = stopGrace
        self.logger = logger
    }

    /// A deadline that never comes (100 years away): the default of `run`.
    public static var noDeadline: ContinuousClock.Instant { .now.advanced(by: .seconds(100 * 365 * 86_400)) }

    /// The marker of a release: `state_dir/prepared/<sha256>`. The installer removes it when it unpacks the release
    /// afresh, so the steps run again for the new copy.
    public static func markerPath(markers: String, sha256: String) -> String { markers + "/" + sha256 }

    /// Whether these steps already succeeded for this release.
    public func isPrepared(sha256: String, steps: [[String]]) -> Bool {
        steps.isEmpty || FileIO.readText(Self.markerPath(markers: markers, sha256: sha256)) == Self.record(steps)
    }

    /// Runs the steps unless already done; throws `BootstrapError` naming the failing step and its exit status.
    ///
    /// A step still running at `deadline` (the launch deadline), or when the calling task is cancelled (the agent
    /// is shutting down), is stopped: SIGTERM to its process group, SIGKILL after the stop grace. The error then
    /// names the step, says that it was stopped, and why.
    public func run(
        steps: [[String]], release: String, sha256: String, deadline: ContinuousClock.Instant = PrepareRunner.noDeadline
    ) async throws {
        guard !isPrepared(sha256: sha256, steps: steps) else {
            if !steps.isEmpty {
                logger.info("prepare steps already done for this release", metadata: ["app.release": "\(sha256)"])
            }
            return
        }
        for (index, step) in steps.enumerated() {
            let label = "\(index + 1)/\(steps.count)"
            let command = step.joined(separator: " ")
            if Task.isCancelled || ContinuousClock.now >= deadline {
                let reason =
                    Task.isCancelled ? "the agent is shutting down" : "the launch deadline has passed (\(limit))"
                throw BootstrapError(
                    step: .prepare, message: "prepare step \(label) (\(command)) was not started: \(reason)",
                    isPermanent: !Task.isCancelled)
            }
            let output = open(outputPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            guard output >= 0 else {
                throw BootstrapError(
                    step: .prepare, message: "cannot open \(outputPath)", isPermanent: false,
                    underlying: FileIO.fail("open", outputPath))
            }
            defer { close(output) }
            let header = "clock-agent: prepare step \(label): \(command)\n"
            _ = header.withCString { write(output, $0, strlen($0)) }
            logger.info(
                "running prepare step", metadata: ["prepare.step": "\(label)", "prepare.command": "\(command)"])
            let started = ContinuousClock.now
            let child: ChildProcess
            do {
                child = try ChildProcess(
                    .init(
                        arguments: step, environment: environment, directory: release, standardOutput: output,
                        standardError: output))
            } catch {
                throw BootstrapError(
                    step: .prepare, message: "prepare step \(label) (\(command)) could not start: \(error)",
                    isPermanent: true)
            }
            guard let status = await child.waitForExitOrCancellation(deadline: deadline) else {
                let cancelled = Task.isCancelled
                let reason = cancelled ? "the agent is shutting down" : "it did not finish within \(limit)"
                logger.warning(
                    "stopping prepare step",
                    metadata: [
                        "prepare.step": "\(label)", "prepare.command": "\(command)", "prepare.reason": "\(reason)",
                    ])
                let ended = await child.stop(timeout: stopGrace)
                throw BootstrapError(
                    step: .prepare,
                    message:
                        "prepare step \(label) (\(command)) was stopped (\(ended)): \(reason); its output is in the app log",
                    isPermanent: !cancelled)
            }
            guard status.isSuccess else {
                throw BootstrapError(
                    step: .prepare,
                    message: "prepare step \(label) (\(command)) failed with \(status); its output is in the app log",
                    isPermanent: true)
            }
            logger.info(
                "prepare step finished",
                metadata: [
                    "prepare.step": "\(label)",
                    "prepare.seconds": "\((ContinuousClock.now - started).components.seconds)",
                ])
        }
        let markers = markers
        let marker = Self.markerPath(markers: markers, sha256: sha256)
        let record = Self.record(steps)
        do {
            try await DedicatedThread.run {
                try FileIO.makeDirectories(markers, mode: 0o700)
                try FileIO.writeAtomically(marker, record)
            }
        } catch {
            throw BootstrapError(
                step: .prepare, message: "cannot record that prepare succeeded", isPermanent: false,
                underlying: error as? FileIO.Failure)
        }
    }

    /// The limit the launch deadline comes from, as the error names it.
    private var limit: String {
        launchTimeout.map { "app.launch_timeout (\(DurationText.format($0)))" } ?? "the launch deadline"
    }

    /// The marker's content: the steps, one argv per line, NUL-separated arguments.
    static func record(_ steps: [[String]]) -> String {
        steps.map { $0.joined(separator: "\u{0}") }.joined(separator: "\n") + "\n"
    }
}
