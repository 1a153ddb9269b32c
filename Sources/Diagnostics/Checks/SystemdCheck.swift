/// `systemd`: under systemd, the unit is active, `Type=notify` readiness was seen (active/running, not still
/// activating), the watchdog is configured, and journald's socket exists. Not under systemd: `skip`.
struct SystemdCheck {
    /// The check's name in the report.
    static let name = "systemd"
    /// The agent's unit.
    static let unit = "clock-agent.service"
    /// What `systemctl show` is asked for.
    static let properties = ["LoadState", "ActiveState", "SubState", "Type", "NotifyAccess", "WatchdogUSec", "Result"]

    /// What systemd says.
    let systemd: any SystemdProbing
    /// The limit of the `systemctl` call.
    let timeoutSeconds: Int

    /// Runs the check.
    func run() async -> CheckResult {
        guard systemd.isBooted else {
            return .skip(Self.name, "not running under systemd (no /run/systemd/system)")
        }
        var findings = Findings(name: Self.name)
        switch await systemd.show(unit: Self.unit, properties: Self.properties, timeoutSeconds: timeoutSeconds) {
        case .failure(let error):
            findings.add(
                .warn, "cannot ask systemd about \(Self.unit): \(error.message)",
                hint: "run systemctl status clock-agent")
        case .success(let values):
            unitFindings(values, &findings)
        }
        if systemd.journalSocketExists {
            findings.ok("journald reachable")
        } else {
            findings.add(
                .warn, "journald's socket /run/systemd/journal/socket is missing: the agent logs to stderr only",
                hint: "start systemd-journald (systemctl start systemd-journald.socket)")
        }
        return findings.result
    }

    private func unitFindings(_ values: [String: String], _ findings: inout Findings) {
        let unit = Self.unit
        let load = values["LoadState"] ?? "?"
        guard load == "loaded" else {
            findings.add(
                .fail, "\(unit) is \(load == "not-found" ? "not installed" : "not loaded (\(load))")",
                hint: "install the clock-agent package, then systemctl enable --now clock-agent")
            return
        }
        let active = values["ActiveState"] ?? "?"
        let sub = values["SubState"] ?? "?"
        let type = values["Type"] ?? "?"
        var text = "\(unit) \(active) (\(sub)), Type=\(type)"
        switch active {
        case "active":
            if type == "notify" { text += ", READY=1 seen" }
        case "activating":
            findings.add(
                .warn, "\(unit) is still activating (\(sub)): READY=1 not sent yet, the app isn't healthy yet",
                hint: "see `clock-agent status` and journalctl -u clock-agent")
        default:
            findings.add(
                .fail, "\(unit) is \(active) (\(sub)\(values["Result"].map { ", result \($0)" } ?? ""))",
                hint: "systemctl start clock-agent; see journalctl -u clock-agent -b")
        }
        if type != "notify" {
            findings.add(
                .warn, "\(unit) has Type=\(type): systemd can't tell when the app is healthy",
                hint: "use the packaged unit (Type=notify, NotifyAccess=main)")
        }
        let watchdog = values["WatchdogUSec"] ?? "0"
        if watchdog == "0" || watchdog == "infinity" || watchdog.isEmpty {
            findings.add(
                .warn, "\(unit) has no watchdog",
                hint: "set WatchdogSec= in the unit (the packaged unit has it) so a hung agent is restarted")
        } else {
            text += ", watchdog \(watchdog)"
        }
        findings.ok(text)
    }
}
