import AWSCore
import AgentConfig
import AgentStatus
import Bootstrap
import FoundationEssentials
import LogShipper
import Metrics
import Prometheus

#if canImport(Glibc)
    import Glibc
#endif

/// Assembles the status report from the running parts (all readable without waiting).
struct StatusAssembler: Sendable {
    /// The configuration the agent runs with (hook names).
    let configuration: Configuration
    /// Who the instance is.
    let identity: InstanceIdentity
    /// The bootstrap, supervision and lifecycle state.
    let agent: InstanceAgent
    /// The log sources' statistics.
    let shipper: LogShipper
    /// The credentials in use (their snapshot holds no secret).
    let credentials: any CredentialsProvider
    /// When the agent started.
    let startedAt: UTCTime
    /// Where swift-metrics counters are collected (the Prometheus text on `/metrics`).
    let registry: PrometheusCollectorRegistry

    private var credentialsExpiry: Metrics.Gauge { Metrics.Gauge(label: "clock_credentials_expiry_seconds") }

    /// The report as of now.
    func report() -> StatusReport {
        let now = UTCTime.now()
        let snapshot = agent.snapshot
        let app = snapshot.app
        let credential = credentials.currentSnapshot
        return StatusReport(
            agent: .init(
                version: BuildInfo.version, pid: getpid(), startedAt: startedAt.iso8601,
                uptimeSeconds: Int(now.secondsSinceEpoch - startedAt.secondsSinceEpoch), phase: snapshot.phase.rawValue,
                failure: snapshot.failure),
            identity: .init(
                instanceID: identity.instanceID, region: identity.region, availabilityZone: identity.availabilityZone,
                autoScalingGroup: identity.autoScalingGroup, groupFoundBy: identity.groupSource.rawValue),
            app: .init(
                release: snapshot.release, state: app?.phase.rawValue ?? "not started", pid: app?.pid,
                startedAt: app?.startedAt?.iso8601,
                uptimeSeconds: app?.pid == nil
                    ? nil : app?.startedAt.map { Int(now.secondsSinceEpoch - $0.secondsSinceEpoch) },
                healthy: app?.healthy ?? false, restarts: app?.restarts ?? 0, lastExit: app?.lastExit),
            logs: shipper.stats.map { stats in
                .init(
                    name: stats.source, stream: stats.stream, eventsShipped: stats.eventsShipped,
                    bytesShipped: stats.bytesShipped,
                    rejectedTooOld: stats.rejectedTooOld, rejectedTooNew: stats.rejectedTooNew,
                    rejectedExpired: stats.rejectedExpired,
                    deadLettered: stats.deadLettered, sanitised: stats.sanitised, truncated: stats.truncated,
                    batchesInFlight: stats.inFlight, backlogBytes: stats.backlogBytes, lostBytes: stats.lostBytes,
                    acknowledged: stats.positions, lastError: stats.lastError)
            },
            lifecycle: .init(
                launchHook: configuration.lifecycle.launchHook, terminateHook: configuration.lifecycle.terminateHook,
                launchResult: snapshot.launchResult, lastCall: snapshot.lastLifecycleCall,
                targetState: snapshot.targetState),
            credentials: .init(
                source: credential.source, role: credential.role, accessKeyID: credential.maskedAccessKeyID,
                expiration: credential.expiration?.iso8601, lastError: credential.lastError))
    }

    /// The status socket's handler: `/status` (JSON), `/metrics` (Prometheus text), 404 otherwise.
    func handle(_ path: String) -> (status: Int, contentType: String, body: [UInt8]) {
        switch path {
        case "/status":
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            guard let data = try? encoder.encode(report()) else {
                return (500, "text/plain", Array("cannot encode\n".utf8))
            }
            return (200, "application/json", Array(data))
        case "/metrics":
            var buffer: [UInt8] = []
            if let expiration = credentials.currentSnapshot.expiration {
                credentialsExpiry.record(expiration.secondsSinceEpoch - UTCTime.now().secondsSinceEpoch)
            }
            registry.emit(into: &buffer)
            return (200, "text/plain; version=0.0.4", buffer)
        default:
            return (404, "text/plain", Array("unknown path \(path); try /status or /metrics\n".utf8))
        }
    }

    /// The loopback TCP port's handler (`metrics.listen`): `/metrics` only. The status (role, paths, errors) stays
    /// on the owner-only socket; any local user can reach a loopback port.
    func handleMetrics(_ path: String) -> (status: Int, contentType: String, body: [UInt8]) {
        guard path == "/metrics" else {
            return (404, "text/plain", Array("unknown path \(path); this port serves /metrics only\n".utf8))
        }
        return handle(path)
    }
}
