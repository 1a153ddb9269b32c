import AWSCore
import AgentConfig
import Logging

/// `clock-agent doctor`: runs every check and says what to fix.
///
/// The configuration is checked first; then the AWS chain (imds → identity/credentials → s3, cloudwatch,
/// autoscaling → iam, clock), the app, the log sources, systemd and the disk are checked concurrently. Every probe
/// has a short time limit and each group of checks a safety deadline, so the doctor finishes within a few seconds
/// even when endpoints hang. Checks change nothing but the doctor's own labelled log stream
/// (`<instance-id>/doctor`) and, when the log group is missing, create it as the agent would.
public struct Doctor: Sendable {
    /// The outside world.
    let context: DoctorContext
    /// Receives the AWS core's messages.
    let logger: Logger

    /// Creates a doctor; `logger` receives the AWS core's own messages (the CLI passes a silent one).
    public init(
        context: DoctorContext,
        logger: Logger = Logger(label: "clock-agent.doctor", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.context = context
        self.logger = logger
    }

    /// Runs every check.
    public func run() async -> DoctorReport {
        let (config, configuration) = ConfigCheck(path: context.configPath).run()
        let context = self.context
        let logger = self.logger
        let deadline = context.limits.checkSeconds
        let needsConfig = CheckResult.skip("", "needs a valid configuration (see config)")

        let awsChecks = AWSChecks(context: context, configuration: configuration, logger: logger)
        async let aws = Self.bounded(
            deadline, names: ["imds", "identity", "credentials", "clock", "s3", "cloudwatch", "autoscaling", "iam"],
            partial: awsChecks.partial
        ) {
            await awsChecks.run()
        }
        async let local = Self.bounded(deadline, names: ["app", "logs"]) { () async -> [CheckResult] in
            guard let configuration else { return [Self.named(needsConfig, "app"), Self.named(needsConfig, "logs")] }
            let socket = context.statusSocket ?? configuration.stateDirectory + "/status.sock"
            async let agent = AgentLookup.fetch(socket: socket, timeoutSeconds: context.limits.localSeconds)
            let app = AppCheck(
                app: configuration.app, stateDirectory: configuration.stateDirectory, transport: context.transport,
                healthLimitMilliseconds: context.limits.healthMilliseconds)
            let lookup = await agent
            async let appResult = app.run(agent: lookup)
            let logsResult = LogSourcesCheck(configuration: configuration).run(agent: lookup)
            return [await appResult, logsResult]
        }
        async let systemd = Self.bounded(deadline, names: ["systemd"]) {
            [await SystemdCheck(systemd: context.systemd, timeoutSeconds: context.limits.localSeconds).run()]
        }
        let disk =
            configuration.map { DiskCheck(configuration: $0, stats: context.fileSystemStats).run() }
            ?? Self.named(needsConfig, "disk")
        let results = [config] + (await aws) + (await local) + (await systemd) + [disk]
        return DoctorReport(checks: results)
    }

    private static func named(_ result: CheckResult, _ name: String) -> CheckResult {
        var copy = result
        copy.name = name
        return copy
    }

    /// Runs checks with a deadline; checks still running then are reported as `fail` (stuck), in order, next to
    /// those that had finished (`partial`).
    static func bounded(
        _ seconds: Int, names: [String], partial: PartialResults? = nil,
        _ operation: @escaping @Sendable () async -> [CheckResult]
    ) async -> [CheckResult] {
        await withTaskGroup(of: [CheckResult]?.self) { group in
            group.addTask { await operation() }
            group.addTask {
                try? await Task.sleep(for: .seconds(seconds))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            if let first { return first }
            return names.map {
                partial?[$0]
                    ?? CheckResult(
                        name: $0, status: .fail, detail: "did not finish within \(seconds) s",
                        hint:
                            "an endpoint or a local command hangs: run doctor again; if it persists, check the network path"
                    )
            }
        }
    }
}
