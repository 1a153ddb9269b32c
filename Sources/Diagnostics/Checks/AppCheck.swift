import AWSCore
import AgentConfig
import Supervisor

/// `app`: the health URL answers, and — from the running agent — the process runs, how often it restarted and
/// how it last ended.
struct AppCheck {
    /// The check's name in the report.
    static let name = "app"

    /// `app:` of the configuration.
    let app: AppConfiguration
    /// `state_dir` (for the app output path in hints).
    let stateDirectory: String
    /// Sends the requests.
    let transport: any HTTPTransport
    /// The longest the health probe may take, whatever `app.health.timeout` says.
    let healthLimitMilliseconds: Int

    /// Probes the health URL (when configured) while the status is fetched, then judges both.
    func run(agent: AgentLookup) async -> CheckResult {
        var findings = Findings(name: Self.name)
        let running: Bool
        if case .running = agent { running = true } else { running = false }
        let startHint =
            "the agent isn't running: start it (systemctl start clock-agent) and see journalctl -u clock-agent"
        let logHint =
            "see `clock-agent status`, journalctl -u clock-agent and the app's output in \(stateDirectory)/app/output.log"
        if let url = app.health.url {
            let configured = Int(AutoScalingCheck.seconds(app.health.timeout) * 1000)
            let timeout = Duration.milliseconds(max(100, min(configured, healthLimitMilliseconds)))
            if let probe = HTTPHealthProbe(url: url, timeout: timeout, transport: transport) {
                let (healthy, detail) = await probe.check()
                if healthy {
                    findings.ok("health URL answers (\(detail))")
                } else {
                    findings.add(
                        .fail, "health URL fails: \(detail)",
                        hint: running ? "the app isn't serving: " + logHint : startHint)
                }
            } else {
                findings.add(.fail, "app.health.url \(url) is not an http(s) URL", hint: "fix app.health.url")
            }
        }
        switch agent {
        case .running(let report):
            let state = report.app
            var text = "app \(state.state)"
            if let pid = state.pid { text += ", pid \(pid)" }
            text += ", \(state.restarts) restart\(state.restarts == 1 ? "" : "s")"
            if let exit = state.lastExit { text += ", last exit: \(exit)" }
            if state.pid == nil {
                findings.add(
                    .fail, text + " (agent: \(report.agent.phase))",
                    hint: report.agent.failure.map { "the agent says: \($0); " + logHint } ?? logHint)
            } else if state.restarts > 0 {
                findings.add(.warn, text, hint: "the app has been restarting: " + logHint)
            } else {
                findings.ok(text)
            }
        case .notRunning:
            findings.add(.warn, "agent not running: process state unknown", hint: startHint)
        case .failed(let why):
            findings.add(.warn, "agent status unavailable: \(why)", hint: "see journalctl -u clock-agent")
        }
        return findings.result
    }
}
