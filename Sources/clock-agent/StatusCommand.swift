import AWSCore
import AgentConfig
import AgentStatus
import ArgumentParser
import FoundationEssentials

/// `clock-agent status`.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the running agent's state: phase, app, log sources, lifecycle, credentials.",
        discussion: """
            Asks the running agent over its status socket (state_dir/status.sock, owner-only). Exits 0 when an \
            agent answered, 1 when none runs. --json prints the same report as JSON (a stable format: fields are \
            added, never renamed).
            """)

    @OptionGroup var options: ConfigOptions

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: ArgumentHelp("The status socket (default: state_dir/status.sock from the configuration).", valueName: "path"))
    var socket: String?

    func run() throws {
        let path = socket ?? Self.socketPath(configuration: options.path(environment: .process()))
        let status: Int
        let body: [UInt8]
        do {
            (status, body) = try StatusClient.get("/status", socket: path)
        } catch {
            printError("clock-agent status: \(error)")
            throw ExitCode(1)
        }
        guard status == 200 else {
            printError("clock-agent status: the agent answered HTTP \(status): \(String(decoding: body, as: UTF8.self))")
            throw ExitCode(1)
        }
        if json {
            print(String(decoding: body, as: UTF8.self))
            return
        }
        do {
            let report = try JSONDecoder().decode(StatusReport.self, from: Data(body))
            print(StatusText.render(report), terminator: "")
        } catch {
            printError("clock-agent status: the agent's report could not be read (\(error)); try --json")
            throw ExitCode(1)
        }
    }

    /// The socket path: `state_dir/status.sock` of the configuration, or the default state directory when the
    /// configuration can't be read (status should work even then).
    static func socketPath(configuration path: String) -> String {
        let stateDirectory = (try? Configuration.load(path: path).stateDirectory) ?? "/var/lib/clock-agent"
        return stateDirectory + "/status.sock"
    }
}

/// The human-readable form of a status report.
enum StatusText {
    static func render(_ report: StatusReport) -> String {
        var lines: [String] = []
        let agent = report.agent
        lines.append("clock-agent \(agent.version) (pid \(agent.pid), up \(duration(agent.uptimeSeconds))): \(agent.phase)")
        if let failure = agent.failure { lines.append("  failure: \(failure)") }
        let identity = report.identity
        lines.append(
            "instance   \(identity.instanceID) in \(identity.availabilityZone) (\(identity.region)), group \(identity.autoScalingGroup ?? "none") (\(identity.groupFoundBy))")
        let app = report.app
        var appLine = "app        \(app.state)"
        if let pid = app.pid { appLine += ", pid \(pid)" }
        if let uptime = app.uptimeSeconds { appLine += ", up \(duration(uptime))" }
        appLine += app.healthy ? ", healthy" : ", not healthy"
        appLine += ", \(app.restarts) restart\(app.restarts == 1 ? "" : "s")"
        if let exit = app.lastExit { appLine += ", last exit: \(exit)" }
        lines.append(appLine)
        if let release = app.release { lines.append("release    \(release)") }
        let lifecycle = report.lifecycle
        lines.append(
            "lifecycle  launch hook \(lifecycle.launchHook ?? "none") (\(lifecycle.launchResult ?? "not completed")), terminate hook \(lifecycle.terminateHook ?? "none")")
        if let target = lifecycle.targetState { lines.append("           target state \(target)") }
        if let last = lifecycle.lastCall { lines.append("           last call: \(last)") }
        let credentials = report.credentials
        var credentialLine = "credentials \(credentials.source)"
        if let role = credentials.role { credentialLine += " (role \(role))" }
        if let key = credentials.accessKeyID { credentialLine += ", key \(key)" }
        if let expiration = credentials.expiration { credentialLine += ", expires \(expiration)" }
        lines.append(credentialLine)
        if let error = credentials.lastError { lines.append("           last refresh error: \(error)") }
        lines.append("logs")
        for source in report.logs {
            lines.append(
                "  \(source.name) -> \(source.stream): \(source.eventsShipped) events shipped, backlog \(source.backlogBytes) bytes, \(source.batchesInFlight) in flight")
            let rejected = source.rejectedTooOld + source.rejectedTooNew + source.rejectedExpired
            if rejected > 0 || source.deadLettered > 0 {
                lines.append(
                    "    rejected \(rejected) (too old \(source.rejectedTooOld), too new \(source.rejectedTooNew), expired \(source.rejectedExpired)); dead-lettered \(source.deadLettered)")
            }
            if source.lostBytes > 0 { lines.append("    lost \(source.lostBytes) bytes (see the agent's log)") }
            for position in source.acknowledged { lines.append("    acknowledged \(position)") }
            if let error = source.lastError { lines.append("    last error: \(error)") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func duration(_ seconds: Int) -> String {
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m\(seconds % 60)s" }
        if seconds < 86_400 { return "\(seconds / 3600)h\(seconds % 3600 / 60)m" }
        return "\(seconds / 86_400)d\(seconds % 86_400 / 3600)h"
    }
}
