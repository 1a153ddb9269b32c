import AWSCore
import AgentConfig
import AgentStatus
import Bootstrap
import LogShipper
import Logging
import Prometheus
import ServiceLifecycle
import SystemdSupport

/// Everything `run` starts, in dependency order (ServiceGroup shuts them down in reverse).
struct AgentServices {
    var services: [ServiceGroupConfiguration.ServiceConfiguration]
    var agent: InstanceAgent
    var shipper: LogShipper
    var status: StatusServer
    /// `/metrics` on `metrics.listen`, when it is set and the port could be opened.
    var metrics: StatusServer?

    /// Stops serving the status socket and the metrics port.
    func stopServing() {
        status.stop()
        metrics?.stop()
    }
}

/// Builds the agent from its configuration and the process environment: transport, metadata, identity,
/// credentials, AWS clients, and the services. Tests call this too.
func buildServices(
    configuration: Configuration, environment: Environment, logger: Logger, registry: PrometheusCollectorRegistry
) async throws -> AgentServices {
    let startedAt = UTCTime.now()
    let transport = CurlTransport(caBundle: environment.caBundle, userAgent: BuildInfo.userAgent)
    let clock = ClockCorrection()
    let metadata = try MetadataClient.endpoint(environment: environment).map {
        MetadataClient(endpoint: $0, transport: transport, logger: logger)
    }
    var identity = try await resolveIdentity(metadata: metadata, environment: environment, logger: logger)
    let credentials = try CredentialChain.resolve(
        environment: environment, metadata: metadata, clock: clock, logger: logger)
    let aws = AWSClient(
        transport: transport, credentials: credentials, clock: clock,
        endpoints: EndpointResolver(environment: environment),
        logger: logger)
    let autoscaling = AutoScalingClient(client: aws, region: identity.region)
    identity = try await retryingAtBoot("Auto Scaling group", logger: logger) { [identity] in
        try await IdentityResolver.resolveGroup(
            identity, configured: configuration.lifecycle.autoScalingGroup, metadata: metadata,
            describe: { try await autoscaling.describeAutoScalingInstances([$0]) }, logger: logger)
    }
    logger.info(
        "instance identity",
        metadata: [
            "ec2.instance_id": "\(identity.instanceID)", "ec2.region": "\(identity.region)",
            "ec2.az": "\(identity.availabilityZone)", "asg.name": "\(identity.autoScalingGroup ?? "none")",
            "asg.found_by": "\(identity.groupSource.rawValue)",
        ])
    let lifecycle = identity.autoScalingGroup.map {
        LifecycleReporter(autoscaling: autoscaling, group: $0, instanceID: identity.instanceID, logger: logger)
    }
    var s3: S3Client?
    if case .s3 = configuration.app.source { s3 = S3Client(client: aws, region: identity.region) }
    let shipper = try LogShipper(
        settings: .init(
            logs: configuration.logs, stateDirectory: configuration.stateDirectory,
            appOutputPath: InstanceAgent.appOutputPath(stateDirectory: configuration.stateDirectory),
            names: .init(
                instanceID: identity.instanceID, hostname: identity.hostname, region: identity.region,
                availabilityZone: identity.availabilityZone),
            flushInterval: configuration.logs.flushInterval, gzip: configuration.logs.gzip),
        logs: CloudWatchLogsClient(client: aws, region: identity.region), logger: logger)
    let notifier = SystemdNotifier(environment: environment)
    let agent = InstanceAgent(
        context: .init(
            configuration: configuration, identity: identity, s3: s3, lifecycle: lifecycle, transport: transport,
            status: SystemdStatus(notifier: notifier), logger: logger, watchdogInterval: notifier.watchdogInterval,
            metadata: metadata,
            drainLogs: { deadline in
                let outcome = await shipper.drain(deadline: deadline)
                return (outcome.complete, outcome.description)
            }))
    let assembler = StatusAssembler(
        configuration: configuration, identity: identity, agent: agent, shipper: shipper, credentials: credentials,
        startedAt: startedAt, registry: registry)
    let status = try StatusServer(path: configuration.stateDirectory + "/status.sock", handler: assembler.handle)
    var metrics: StatusServer?
    if let address = configuration.metrics.listen {
        // The metrics port is a convenience: a port taken by something else is logged, not a reason to fail the
        // launch (the same metrics stay on the status socket).
        do {
            metrics = try StatusServer(loopbackHost: address.host, port: address.port, handler: assembler.handleMetrics)
            logger.info("serving metrics", metadata: ["metrics.listen": "\(address)"])
        } catch {
            logger.error(
                "cannot serve metrics on metrics.listen; they stay on the status socket",
                metadata: ["metrics.listen": "\(address)", "error": "\(error)"])
        }
    }
    return AgentServices(
        services: [
            // Log shipping starts first and stops last, so the agent's whole life, drain included, is shipped.
            .init(service: ShipperService(shipper: shipper)),
            .init(
                service: AgentService(agent: agent), successTerminationBehavior: .gracefullyShutdownGroup,
                failureTerminationBehavior: .gracefullyShutdownGroup),
        ],
        agent: agent, shipper: shipper, status: status, metrics: metrics)
}

/// Instance id, region and AZ, retried for a minute: at boot the metadata service may answer late.
private func resolveIdentity(
    metadata: MetadataClient?, environment: Environment, logger: Logger
) async throws
    -> InstanceIdentity
{
    try await retryingAtBoot("instance identity", logger: logger) {
        try await IdentityResolver.resolveInstance(metadata: metadata, regionOverride: environment.region)
    }
}

/// Runs a start-up lookup, retrying transient failures (a metadata service that answers late, a throttled
/// DescribeAutoScalingInstances) for a minute before giving up.
private func retryingAtBoot<T>(_ what: String, logger: Logger, _ lookup: () async throws -> T) async throws -> T {
    let deadline = ContinuousClock.now.advanced(by: .seconds(60))
    var attempt = 0
    while true {
        do {
            return try await lookup()
        } catch {
            attempt += 1
            guard ContinuousClock.now < deadline, RetryPolicy.isRetryable(error) else { throw error }
            logger.warning(
                "start-up lookup failed; retrying",
                metadata: ["agent.lookup": "\(what)", "error": "\(error)", "retry.attempt": "\(attempt)"])
            try await Task.sleep(for: .seconds(min(attempt * 2, 10)))
        }
    }
}

/// The instance agent as a service: stops the app on graceful shutdown (SIGTERM/SIGINT).
struct AgentService: Service {
    let agent: InstanceAgent

    func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await agent.run() }
            group.addTask {
                // Graceful shutdown (SIGTERM/SIGINT) drains; cancellation (the agent gave up) does not.
                if (try? await gracefulShutdown()) != nil { await agent.shutdown() }
            }
            try await group.next()
            group.cancelAll()
        }
    }
}

/// The log shipper as a service: on graceful shutdown (after the app was stopped), ships everything that was
/// written, waits until CloudWatch accepted it, and saves the checkpoints.
struct ShipperService: Service {
    let shipper: LogShipper
    /// The last drain, after the agent has stopped (the agent's own drain already shipped the app's output).
    static let finalDrain: Duration = .seconds(30)

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await shipper.run() }
            group.addTask {
                if (try? await gracefulShutdown()) != nil {
                    await shipper.drain(deadline: .now.advanced(by: Self.finalDrain))
                }
                shipper.stop()
            }
            _ = await group.next()
            // Deliveries still retrying now can't finish: cancel them (their data stays unacknowledged and is
            // read again next time).
            group.cancelAll()
        }
    }
}

/// Announces the agent's phase to systemd.
struct SystemdStatus: StatusReporting {
    let notifier: SystemdNotifier

    func status(_ text: String) { notifier.status(text) }
    func ready(_ text: String) { notifier.ready(status: text) }
    func stopping(_ text: String) { notifier.stopping(status: text) }
    func watchdog() { notifier.watchdog() }
}
