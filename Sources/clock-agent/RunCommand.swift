import AWSCore
import AgentConfig
import ArgumentParser
import Bootstrap
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import SystemdSupport

/// `clock-agent run`: the daemon, in the foreground.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the agent in the foreground (systemd runs it as Type=notify).",
        discussion: """
            Fetches, verifies and installs the app, supervises it, reports the launch verdict to the Auto Scaling \
            group and keeps going until SIGTERM or SIGINT, which stop the app gracefully. Never forks.
            Exit status: 0 after a clean stop; 1 for an invalid configuration; 2 when the launch failed and no \
            launch hook is configured to report it to; 3 when the instance identity or credentials can't be found.
            Log level: $CLOCK_AGENT_LOG_LEVEL (trace, debug, info, notice, warning, error), default info.
            """)

    @OptionGroup var options: ConfigOptions

    func run() async throws {
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
            metadata: ["agent.version": "\(BuildInfo.version)", "agent.commit": "\(BuildInfo.commit)", "config.path": "\(path)"])
        let services: AgentServices
        do {
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            services = try await buildServices(
                configuration: configuration, environment: environment, logger: logger, registry: registry)
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(3)
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services.services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        defer { services.status.stop() }
        do {
            try await group.run()
        } catch let error as BootstrapError {
            logger.critical("stopping", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }
        logger.info("clock-agent stopped")
    }
}
