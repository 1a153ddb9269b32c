import AWSCore
import AgentConfig
import AgentStatus
import ArgumentParser
import FoundationEssentials

/// `clock-agent status`: the running agent's state, from its status socket.
struct StatusCommand: ParsableCommand {
    /// Name, abstract and help text.
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the running agent's state: phase, app, log sources, lifecycle, credentials.",
        discussion: """
            Asks the running agent over its status socket (state_dir/status.sock, owner-only: run it as root) and \
            prints the agent's phase (and why the launch failed, if it did); the instance, its zone and Auto \
            Scaling group; the app (pid, uptime, health, restarts, last exit, release); the lifecycle hooks, the \
            launch result, the last hook call and the target lifecycle state; the credentials (source, role, masked \
            key id, expiry; never a secret); and each log source (events shipped, backlog, batches in flight, \
            acknowledged positions, events rejected and dead-lettered, last error).

            Exit status: 0 when the agent answered; 1 when no agent runs ("no clock-agent is running") or it could \
            not be asked.

            --json prints the same report as a JSON object with agent, identity, app, logs, lifecycle and \
            credentials; fields are added, never renamed.

            The same socket serves the metrics in the Prometheus text format:
            curl --unix-socket /var/lib/clock-agent/status.sock http://agent/metrics
            With metrics.listen set (e.g. 127.0.0.1:9464) they are on that loopback port too.
            """)

    /// `--config`.
    @OptionGroup var options: ConfigOptions

    /// `--json`: print the report as the agent sent it.
    @Flag(help: "Print the report as JSON.")
    var json = false

    /// `--socket`: ask this socket instead of the configuration's.
    @Option(
        help: ArgumentHelp(
            "The status socket.", discussion: "Default: status.sock in the configuration's state_dir.",
            valueName: "path"))
    var socket: String?

    /// Asks the agent and prints its answer.
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
            printError(
                "clock-agent status: the agent answered HTTP \(status): \(String(decoding: body, as: UTF8.self))")
            throw ExitCode(1)
        }
        if json {
            print(String(decoding: body, as: UTF8.self))
            return
        }
        do {
            let report = try JSONDecoder().decode(StatusReport.self, from: Data(body))
            print(report.text(), terminator: "")
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
