import AgentConfig
import Supervisor

#if canImport(Glibc)
    import Glibc
#endif

/// `config`: the file parses and validates, isn't world-writable, and `app.user` exists.
struct ConfigCheck {
    /// The check's name in the report.
    static let name = "config"

    /// The configuration file.
    let path: String
    /// Looks a user up (tests substitute it).
    var lookupUser: @Sendable (String) throws -> Bool = { try UserAccount.lookup($0) != nil }

    /// The verdict and, when the file is valid, the configuration.
    func run() -> (result: CheckResult, configuration: Configuration?) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            return (
                CheckResult(
                    name: Self.name, status: .fail, detail: "cannot read \(path): \(reason)",
                    hint:
                        "create it from /usr/share/clock-agent/config.example.yaml (installed by the package), or pass --config PATH or set CLOCK_AGENT_CONFIG"
                ),
                nil
            )
        }
        let configuration: Configuration
        do {
            configuration = try Configuration.load(path: path)
        } catch let error as ConfigurationError {
            let key = error.keyPath.isEmpty ? "the file" : error.keyPath
            return (
                CheckResult(
                    name: Self.name, status: .fail, detail: "\(error)",
                    hint:
                        "fix \(key) in \(path); clock-agent config check --config \(path) validates it and prints the effective configuration"
                ),
                nil
            )
        } catch {
            return (
                CheckResult(
                    name: Self.name, status: .fail, detail: "cannot load \(path): \(error)", hint: "check the file"),
                nil
            )
        }
        var findings = Findings(name: Self.name)
        findings.ok("\(path) is valid")
        if info.st_mode & S_IWOTH != 0 {
            findings.add(
                .warn, "\(path) is world-writable (mode \(Self.octal(info.st_mode & 0o7777)))",
                hint: "chmod 640 \(path): anyone on the host could change the command the agent runs")
        }
        if let user = configuration.app.user {
            do {
                if try !lookupUser(user) {
                    findings.add(
                        .fail, "app.user \(user) does not exist",
                        hint:
                            "create it: useradd --system --no-create-home --shell /usr/sbin/nologin \(user) (or fix app.user)"
                    )
                }
            } catch {
                findings.add(
                    .warn, "cannot look up app.user \(user): \(error)", hint: "check NSS (getent passwd \(user))")
            }
        }
        return (findings.result, configuration)
    }

    /// `0644`-style mode text.
    static func octal(_ mode: mode_t) -> String {
        let text = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - text.count)) + text
    }
}
