extension Configuration {
    /// The effective configuration as YAML, every default spelled out; parsing it gives back the same value.
    public var yaml: String {
        var lines: [String] = []
        lines.append("state_dir: \(q(stateDirectory))")
        lines.append("app:")
        lines.append("  source: \(q(app.source.description))")
        lines.append("  sha256: \(app.sha256.map(q) ?? "null")")
        lines.append("  install_dir: \(q(app.installDirectory))")
        lines.append("  prepare: [\(app.prepare.map(list).joined(separator: ", "))]")
        lines.append("  command: \(list(app.command))")
        lines.append("  user: \(app.user.map(q) ?? "null")")
        if app.environment.isEmpty {
            lines.append("  environment: {}")
        } else {
            lines.append("  environment:")
            for variable in app.environment { lines.append("    \(variable.name): \(q(variable.value))") }
        }
        lines.append("  stop_timeout: \(DurationText.format(app.stopTimeout))")
        lines.append("  launch_timeout: \(DurationText.format(app.launchTimeout))")
        lines.append("  health:")
        lines.append("    url: \(app.health.url.map(q) ?? "null")")
        lines.append("    interval: \(DurationText.format(app.health.interval))")
        lines.append("    timeout: \(DurationText.format(app.health.timeout))")
        lines.append("    unhealthy_threshold: \(app.health.unhealthyThreshold)")
        lines.append("    start_timeout: \(DurationText.format(app.health.startTimeout))")
        lines.append("  restart:")
        lines.append("    initial_backoff: \(DurationText.format(app.restart.initialBackoff))")
        lines.append("    max_backoff: \(DurationText.format(app.restart.maxBackoff))")
        lines.append("    crash_loop_restarts: \(app.restart.crashLoopRestarts)")
        lines.append("    crash_loop_window: \(DurationText.format(app.restart.crashLoopWindow))")
        lines.append("logs:")
        lines.append("  group: \(q(logs.group))")
        lines.append("  stream: \(q(logs.stream))")
        lines.append("  retention_days: \(logs.retentionDays.map(String.init) ?? "null")")
        lines.append("  flush_interval: \(DurationText.format(logs.flushInterval))")
        lines.append("  gzip: \(logs.gzip)")
        // An empty list needs its brackets: a bare `sources:` is null, which the parser rightly refuses.
        lines.append(logs.sources.isEmpty ? "  sources: []" : "  sources:")
        for source in logs.sources {
            var fields = ["name: \(q(source.name))", "type: \(source.kind.typeName)"]
            switch source.kind {
            case .app:
                break
            case .file(let path, let multiline):
                fields.append("path: \(q(path))")
                if let multiline { fields.append("multiline_start: \(q(multiline))") }
            case .journal(let units):
                fields.append("units: \(list(units))")
            }
            lines.append("    - {\(fields.joined(separator: ", "))}")
        }
        lines.append("lifecycle:")
        lines.append("  auto_scaling_group: \(q(lifecycle.autoScalingGroup))")
        lines.append("  launch_hook: \(lifecycle.launchHook.map(q) ?? "null")")
        lines.append("  terminate_hook: \(lifecycle.terminateHook.map(q) ?? "null")")
        lines.append("  poll_interval: \(DurationText.format(lifecycle.pollInterval))")
        lines.append("  report_unhealthy: \(lifecycle.reportUnhealthy)")
        lines.append("  drain_timeout: \(DurationText.format(lifecycle.drainTimeout))")
        lines.append("metrics:")
        lines.append("  listen: \(metrics.listen.map { q($0.description) } ?? "null")")
        return lines.joined(separator: "\n") + "\n"
    }

    private func list(_ items: [String]) -> String { "[" + items.map(q).joined(separator: ", ") + "]" }

    /// A YAML double-quoted scalar.
    private func q(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                // Control characters, and what YAML reads as a line break (NEL, LS, PS: folded into a space inside
                // quotes) or a byte order mark, are escaped so they survive a round trip.
                if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\x" + String(repeating: "0", count: 2 - hex.count) + hex
                } else if [0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF].contains(scalar.value) {
                    out += "\\u" + String(scalar.value, radix: 16).uppercased()
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
