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
    private let logger: Logger

    /// Creates a runner.
    /// - Parameters:
    ///   - markers: `state_dir/prepared`.
    ///   - outputPath: the app's output log.
    ///   - environment: the steps' environment (the app's).
    public init(markers: String, outputPath: String, environment: [String: String], logger: Logger) {
        self.markers = markers
        self.outputPath = outputPath
        self.environment = environment
        self.logger = logger
    }

    /// Whether these steps already succeeded for this release.
    public func isPrepared(sha256: String, steps: [[String]]) -> Bool {
        steps.isEmpty || FileIO.readText(markers + "/" + sha256) == Self.record(steps)
    }

    /// Runs the steps unless already done; throws `BootstrapError` naming the failing step and its exit status.
    public func run(steps: [[String]], release: String, sha256: String) async throws {
        guard !isPrepared(sha256: sha256, steps: steps) else {
            if !steps.isEmpty { logger.info("prepare steps already done for this release", metadata: ["app.release": "\(sha256)"]) }
            return
        }
        for (index, step) in steps.enumerated() {
            let label = "\(index + 1)/\(steps.count)"
            let output = open(outputPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            guard output >= 0 else {
                throw BootstrapError(step: .prepare, message: "cannot open \(outputPath)", isPermanent: false, underlying: FileIO.fail("open", outputPath))
            }
            defer { close(output) }
            let header = "clock-agent: prepare step \(label): \(step.joined(separator: " "))\n"
            _ = header.withCString { write(output, $0, strlen($0)) }
            logger.info("running prepare step", metadata: ["prepare.step": "\(label)", "prepare.command": "\(step.joined(separator: " "))"])
            let started = ContinuousClock.now
            let status: ExitStatus
            do {
                let child = try ChildProcess(
                    .init(arguments: step, environment: environment, directory: release, standardOutput: output, standardError: output))
                status = await child.waitForExit()
            } catch {
                throw BootstrapError(
                    step: .prepare, message: "prepare step \(label) (\(step.joined(separator: " "))) could not start: \(error)",
                    isPermanent: true)
            }
            guard status.isSuccess else {
                throw BootstrapError(
                    step: .prepare,
                    message: "prepare step \(label) (\(step.joined(separator: " "))) failed with \(status); its output is in the app log",
                    isPermanent: true)
            }
            logger.info(
                "prepare step finished",
                metadata: ["prepare.step": "\(label)", "prepare.seconds": "\((ContinuousClock.now - started).components.seconds)"])
        }
        do {
            try FileIO.makeDirectories(markers, mode: 0o700)
            try FileIO.writeAtomically(markers + "/" + sha256, Self.record(steps))
        } catch {
            throw BootstrapError(step: .prepare, message: "cannot record that prepare succeeded", isPermanent: false, underlying: error as? FileIO.Failure)
        }
    }

    /// The marker's content: the steps, one argv per line, NUL-separated arguments.
    static func record(_ steps: [[String]]) -> String {
        steps.map { $0.joined(separator: "\u{0}") }.joined(separator: "\n") + "\n"
    }
}
