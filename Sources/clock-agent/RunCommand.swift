import AWSCore
import AgentConfig
import ArgumentParser
import Bootstrap
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Supervisor
import SystemdSupport

/// `clock-agent run`: the daemon, in the foreground.
struct RunCommand: AsyncParsableCommand {
    /// Name, abstract and help text.
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the agent in the foreground (systemd runs it as Type=notify).",
        discussion: """
            Fetches the app (app.source), verifies its SHA-256, installs it as a release, runs the prepare steps, \
            starts and supervises the app (health probe, restarts with backoff, crash-loop detection), ships the \
            configured logs to CloudWatch Logs and reports to the Auto Scaling group: CONTINUE on the launch hook \
            once the app is healthy (then READY=1 to systemd), ABANDON when the launch fails, Unhealthy on a crash \
            loop. Never forks.

            SIGTERM or SIGINT, or the target lifecycle state Terminated (or a spot interruption notice) in instance \
            metadata, start a drain: the app is stopped (app.stop_timeout), every line written until then is \
            shipped, the checkpoints are saved, and — only when the instance is being terminated — the terminate \
            hook is completed. lifecycle.drain_timeout bounds it.

            Logs: native journald entries under systemd (journalctl -u clock-agent), text lines on stderr \
            otherwise; the level is $CLOCK_AGENT_LOG_LEVEL (trace, debug, info, notice, warning, error; default \
            info).

            Exit status: 0 after a clean stop or drain; 1 for an invalid configuration; 2 when the launch failed \
            and no launch hook is configured to report it to; 3 when the instance identity or credentials can't be \
            found.
            """)

    /// `--config`.
    @OptionGroup var options: ConfigOptions

    /// Loads the configuration, builds the services and runs them until they stop.
    func run() async throws {
        ignoreBrokenPipes()
        // Trapped before anything else: a stop request during start-up must not kill the agent half-way.
        let stop = await StopSignals()
        // The open-file limit the app gets, read before the log shipper may raise the agent's own.
        _ = InheritedLimits.openFiles
        let environment = Environment.process()
        let level = environment["CLOCK_AGENT_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? .info
        AgentLogging.bootstrap(journalStream: environment["JOURNAL_STREAM"], level: level)
        let logger = Logger(label: "clock-agent")
        let path = options.path(environment: environment)
        let configuration: Configuration
        do {
            configuration = try Configuration.load(path: path)
        } catch let error as ConfigurationError {
            logger.critical("invalid configuration", metadata: ["config.error": "\(error)"])
            printError("invalid configuration: \(error)")
            throw ExitCode(1)
        }
        logger.info(
            "clock-agent starting",
            metadata: [
                "agent.version": "\(BuildInfo.version)", "agent.commit": "\(BuildInfo.commit)",
                "config.path": "\(path)",
            ])
        try await withThrowingTaskGroup(of: Void.self) { signals in
            signals.addTask { await stop.run() }
            defer { signals.cancelAll() }
            try await runServices(configuration: configuration, environment: environment, stop: stop, logger: logger)
        }
    }

    /// Builds the services (unless a stop request comes first) and runs them until they stop.
    private func runServices(
        configuration: Configuration, environment: Environment, stop: StopSignals, logger: Logger
    ) async throws {
        let built: AgentServices?
        do {
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            built = try await withThrowingTaskGroup(of: AgentServices?.self) { startup in
                startup.addTask {
                    try await buildServices(
                        configuration: configuration, environment: environment, logger: logger, registry: registry)
                }
                startup.addTask {
                    await stop.wait()
                    return nil
                }
                defer { startup.cancelAll() }
                return try await startup.next() ?? nil
            }
        } catch {
            guard stop.requested == nil else {
                logger.notice("stopped during start-up", metadata: ["agent.signal": "\(stop.requested ?? "")"])
                return
            }
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(3)
        }
        guard let services = built else {
            logger.notice("stopped during start-up", metadata: ["agent.signal": "\(stop.requested ?? "")"])
            return
        }
        defer { services.stopServing() }
        // Signals reach the group through `stop` (trapped since the start), not through handlers of its own.
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services.services, gracefulShutdownSignals: [], logger: logger))
        await stop.attach(group)
        do {
            try await group.run()
        } catch let error as BootstrapError {
            logger.critical("stopping", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }
        logger.info("clock-agent stopped")
    }
}
