import AgentConfig
import Testing

@Suite struct ConfigurationTests {
    static let minimal = """
        app:
          source: s3://webclock-bucket/clock-app.tar.gz
          command: [python3, app.py]
        """

    @Test func minimalConfigGetsEveryDefault() throws {
        let config = try Configuration.parse(yaml: Self.minimal)
        #expect(config.stateDirectory == "/var/lib/clock-agent")
        #expect(config.app.source == .s3(bucket: "webclock-bucket", key: "clock-app.tar.gz"))
        #expect(config.app.source.isArchive)
        #expect(config.app.command == ["python3", "app.py"])
        #expect(config.app.installDirectory == "/opt/clock-app")
        #expect(config.app.stopTimeout == .seconds(10))
        #expect(config.app.launchTimeout == .seconds(900))
        #expect(config.app.health.interval == .seconds(5))
        #expect(config.app.health.startTimeout == .seconds(120))
        #expect(config.app.restart.initialBackoff == .milliseconds(200))
        #expect(config.app.restart.crashLoopWindow == .seconds(300))
        #expect(config.logs.group == "/clock/app")
        #expect(config.logs.stream == "{instance_id}/{source}")
        #expect(config.logs.retentionDays == 30)
        #expect(config.logs.sources.map(\.name) == ["app", "agent"])
        #expect(config.lifecycle.autoScalingGroup == "auto")
        #expect(config.lifecycle.launchHook == nil)
        #expect(config.lifecycle.pollInterval == .seconds(5))
        #expect(config.lifecycle.reportUnhealthy)
        #expect(config.lifecycle.drainTimeout == .seconds(600))
        #expect(config.logs.flushInterval == .seconds(1))
        #expect(config.logs.gzip == false)
        #expect(config.metrics.listen == nil)
    }

    @Test(arguments: [
        ("127.0.0.1:9464", "127.0.0.1", 9464), ("localhost:9100", "127.0.0.1", 9100), ("[::1]:9464", "::1", 9464),
        ("127.1.2.3:1024", "127.1.2.3", 1024), ("127.0.0.0:65535", "127.0.0.0", 65535),
    ])
    func metricsListensOnLoopback(text: String, host: String, port: Int) throws {
        let config = try Configuration.parse(yaml: Self.minimal + "\nmetrics: {listen: \"\(text)\"}")
        #expect(config.metrics.listen == LoopbackAddress(host: host, port: UInt16(port)))
        // What `config check` prints parses back to the same address.
        #expect(try Configuration.parse(yaml: config.yaml).metrics == config.metrics)
    }

    @Test(arguments: [
        "0.0.0.0:9464", "10.0.0.5:9464", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "[::]:9464", "::1:9464",
        "127.0.0.256:9464", "127.0.0:9464", "localhost:http", "[::1]9464", "example.com:9464", "",
        "127.0.0.1:80", "127.0.0.1:1023", "127.0.0.010:9464", "127.+0.+0.+1:9464", "127.-0.0.1:9464",
        "127.0.0.1:+9464", "127.0.0.1:09464", "[127.0.0.1]:9464", "[localhost]:9464", " 127.0.0.1:9464",
        "127.0.0.1:9464 ", "127.0.0.١:9464",
    ])
    func metricsRefusesWhatIsNotLoopback(text: String) {
        do {
            _ = try Configuration.parse(yaml: Self.minimal + "\nmetrics: {listen: \"\(text)\"}", file: "test.yaml")
            Issue.record("expected an error for \(text)")
        } catch let error as ConfigurationError {
            #expect(error.keyPath == "metrics.listen")
            #expect(error.description.contains("expected a loopback address and a port of 1024–65535"), "\(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func fullDesignExampleParses() throws {
        let config = try Configuration.parse(
            yaml: """
                state_dir: /var/lib/clock-agent
                app:
                  source: s3://webclock-bucket/clock-app.tar.gz
                  sha256: "\(String(repeating: "AB", count: 32))"
                  install_dir: /opt/clock-app
                  prepare: [[python3, -m, venv, .venv]]
                  command: [python3, app.py]
                  user: clock
                  environment: {PORT: "8080", DEBUG: 0}
                  stop_timeout: 10s
                  health: {url: "http://127.0.0.1:8080/healthz", interval: 5s, timeout: 2s,
                           unhealthy_threshold: 3, start_timeout: 120s}
                  restart: {initial_backoff: 200ms, max_backoff: 30s, crash_loop_restarts: 5, crash_loop_window: 5m}
                logs:
                  group: /clock/app
                  stream: "{instance_id}/{source}"
                  retention_days: 30
                  sources:
                    - {name: app, type: app}
                    - {name: files, type: file, path: "/var/log/clock/*.log", multiline_start: '^\\d{4}-'}
                    - {name: agent, type: journal, units: [clock-agent.service]}
                lifecycle:
                  auto_scaling_group: auto
                  launch_hook: clock-launch
                  terminate_hook: clock-terminate
                  poll_interval: 5s
                  report_unhealthy: true
                """)
        #expect(config.app.sha256 == String(repeating: "ab", count: 32))
        #expect(config.app.prepare == [["python3", "-m", "venv", ".venv"]])
        #expect(config.app.user == "clock")
        #expect(config.app.environment.map(\.name) == ["DEBUG", "PORT"])
        #expect(config.app.environment.map(\.value) == ["0", "8080"])
        #expect(config.logs.sources[1].kind == .file(path: "/var/log/clock/*.log", multilineStart: "^\\d{4}-"))
        #expect(config.lifecycle.launchHook == "clock-launch")
        #expect(config.lifecycle.terminateHook == "clock-terminate")
    }

    @Test func printedConfigParsesBackToTheSameValue() throws {
        let config = try Configuration.parse(
            yaml: Self.minimal + """

                  environment: {MESSAGE: "quote \\" and backslash \\\\ and\\nnewline"}
                lifecycle: {launch_hook: clock-launch}
                """)
        let again = try Configuration.parse(yaml: config.yaml)
        #expect(again == config)
    }

    /// Every bad input names the key path and what was expected.
    @Test(arguments: [
        ("app: {command: [a]}", "app.source", "required key is missing"),
        ("app: {source: s3://b-1/k}", "app.command", "required key is missing"),
        ("app: {source: s3://b-1/k, command: []}", "app.command", "non-empty list"),
        ("app: {source: http://x/y, command: [a]}", "app.source", "expected s3://bucket/key or file:///path"),
        ("app: {source: s3://Bad_Bucket/k, command: [a]}", "app.source", "not a valid S3 bucket name"),
        ("app: {source: file://relative, command: [a]}", "app.source", "three slashes"),
        ("app: {source: s3://b-1/k, command: [a], sha256: abc}", "app.sha256", "64 hexadecimal digits"),
        ("app: {source: s3://b-1/k, command: [a], stop_timeout: 10}", "app.stop_timeout", "expected a duration"),
        (
            "app: {source: s3://b-1/k, command: [a], stop_timeout: 10 seconds}", "app.stop_timeout",
            "expected a duration"
        ),
        ("app: {source: s3://b-1/k, command: [a], helth: {}}", "app.helth", "did you mean health"),
        (
            "app: {source: s3://b-1/k, command: [a], health: {unhealthy_threshold: 0}}",
            "app.health.unhealthy_threshold", "at least 1"
        ),
        (
            "app: {source: s3://b-1/k, command: [a], health: {unhealthy_threshold: three}}",
            "app.health.unhealthy_threshold", "expected an integer"
        ),
        ("app: {source: s3://b-1/k, command: [a], health: {url: ftp://x}}", "app.health.url", "http:// or https://"),
        (
            "app: {source: s3://b-1/k, command: [a], restart: {initial_backoff: 5s, max_backoff: 1s}}",
            "app.restart.max_backoff", "initial_backoff"
        ),
        ("app: {source: s3://b-1/k, command: [a], user: 'bad user'}", "app.user", "not a valid user name"),
        (
            "app: {source: s3://b-1/k, command: [a], environment: {'1X': y}}", "app.environment.1X",
            "not a valid environment variable"
        ),
        (
            "app: {source: s3://b-1/k, command: [a]}\nlogs: {retention_days: 31}", "logs.retention_days",
            "CloudWatch Logs accepts only"
        ),
        (
            "app: {source: s3://b-1/k, command: [a]}\nlogs: {stream: '{instance}'}", "logs.stream",
            "unknown placeholder {instance}"
        ),
        ("app: {source: s3://b-1/k, command: [a]}\nlogs: {stream: 'fixed'}", "logs.stream", "must contain {source}"),
        (
            "app: {source: s3://b-1/k, command: [a]}\nlogs: {sources: [{name: x, type: syslog}]}",
            "logs.sources[0].type", "expected one of app, file, journal"
        ),
        (
            "app: {source: s3://b-1/k, command: [a]}\nlogs: {sources: [{name: x, type: file}]}", "logs.sources[0].path",
            "required key is missing"
        ),
        (
            "app: {source: s3://b-1/k, command: [a]}\nlogs: {sources: [{name: x, type: file, path: /a, multiline_start: '('}]}",
            "logs.sources[0].multiline_start", "not a valid regular expression"
        ),
        (
            "app: {source: s3://b-1/k, command: [a]}\nlogs: {sources: [{name: x, type: app}, {name: x, type: journal, units: [u]}]}",
            "logs.sources[1]", "used by another source"
        ),
        (
            "app: {source: s3://b-1/k, command: [a]}\nlogs: {sources: [{name: x, type: app, units: [u]}]}",
            "logs.sources[0].units", "not used by sources of type app"
        ),
        (
            "app: {source: s3://b-1/k, command: [a]}\nlifecycle: {report_unhealthy: maybe}",
            "lifecycle.report_unhealthy", "expected true or false"
        ),
        (
            "app: {source: s3://b-1/k, command: [a]}\nlifecycle: {drain_timeout: 3h}", "lifecycle.drain_timeout",
            "at most 2h"
        ),
        ("app: {source: s3://b-1/k, command: [a]}\nlogs: {flush_interval: 2m}", "logs.flush_interval", "at most 60s"),
        ("app: {source: s3://b-1/k, command: [a]}\nlogs: {gzip: yes please}", "logs.gzip", "expected true or false"),
        (
            "app: {source: s3://b-1/k, command: [a]}\nlifecycle: {launch_hook: 'a b'}", "lifecycle.launch_hook",
            "hook name"
        ),
        ("app: {source: s3://b-1/k, command: [a]}\nextra: 1", "extra", "unknown key"),
        ("app: {source: s3://b-1/k, command: [a]}\nstate_dir: relative/dir", "state_dir", "absolute path"),
        ("- just\n- a list", "", "expected a mapping"),
        ("app: [unclosed", "", "not valid YAML"),
    ])
    func invalidInputNamesTheKey(yaml: String, keyPath: String, fragment: String) {
        do {
            _ = try Configuration.parse(yaml: yaml, file: "test.yaml")
            Issue.record("expected an error for \(yaml)")
        } catch let error as ConfigurationError {
            #expect(error.keyPath == keyPath)
            #expect(error.description.contains(fragment), "\(error)")
            #expect(error.description.hasPrefix("test.yaml"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test(arguments: [("200ms", 200), ("5s", 5000), ("1.5s", 1500), ("5m", 300_000), ("1h", 3_600_000), ("0s", 0)])
    func durations(text: String, milliseconds: Int64) {
        #expect(DurationText.parse(text) == .milliseconds(milliseconds))
    }

    @Test(arguments: ["5", "5 s", "-1s", "1d", "s", "1.2.3s", ""])
    func badDurations(text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test func durationFormattingRoundTrips() {
        for text in ["200ms", "5s", "2m", "1h", "1500ms"] {
            #expect(DurationText.format(DurationText.parse(text)!) == text)
        }
    }
}

/// `config check` prints the effective configuration (`Configuration.yaml`); whatever passes the check must print
/// as YAML that passes it again, with the same value, and what can't round-trip must fail the check and name the key.
@Suite struct EffectiveConfigurationTests {
    /// The minimal config with `fragment` added: indented fragments go under `app:` (which gets the default
    /// command unless the fragment sets one), others at the top level.
    static func input(_ fragment: String) -> String {
        var text = "app:\n  source: s3://webclock-bucket/clock-app.tar.gz\n"
        if !fragment.contains("  command:") { text += "  command: [python3, app.py]\n" }
        return text + fragment + "\n"
    }

    /// Valid inputs, each a fragment added under the minimal config's `app:` or at the top level.
    @Test(arguments: [
        "",
        "  health: {interval: 3s}",
        "  health: {interval: 500ms, timeout: 500ms}",
        "  health: {url: 'http://127.0.0.1:8080/healthz?probe=1#x', start_timeout: 1.5h}",
        "  restart: {initial_backoff: 0s, max_backoff: 0s}",
        "  restart: {initial_backoff: 1500ms, max_backoff: 90s, crash_loop_restarts: 1, crash_loop_window: 1s}",
        "  sha256: \"\(String(repeating: "Ab", count: 32))\"",
        "  user: clock-app.user_1",
        "  prepare: [[python3, -m, venv, .venv], ['sh', '-c', 'echo \"a: b # c\" > out']]",
        "  command: [python3, -c, \"print('{x}: [y], # z')\", '']",
        "  environment: {EMPTY: '', YES: 'yes', NULL: 'null', TILDE: '~', OCTAL: '0123', NUM: 8080, BOOL: true}",
        "  environment: {MIXED: \"tab\\tquote\\\" backslash\\\\ cr\\r bell\\a del\\x7f nel\\N ls\\L ps\\P bom\\uFEFF c1\\x9b é 日本 🕐\"}",
        "  environment: {LEADING: '  spaced  ', COLON: 'a: b', HASH: ' # not a comment', DASH: '- item'}",
        "  install_dir: '/opt/clock app/with spaces/'",
        "  stop_timeout: 1h\n  launch_timeout: 2m",
        "logs: {sources: []}",
        "logs: {retention_days: null, flush_interval: 60s, gzip: true}",
        "logs: {stream: 'fixed-name', sources: [{name: app, type: app}]}",
        "logs: {group: '/clock/app#1', stream: '{hostname}-{az}/{region}/{instance_id}/{source}'}",
        "logs: {sources: [{name: f.1, type: file, path: '/var/log/clock/*.log', multiline_start: '^\\d{4}-\"x\"\\\\'}, {name: j, type: journal, units: [a.service, b.service]}]}",
        "logs: {sources: [{name: f, type: file, path: /var/log/app.log, multiline_start: null}]}",
        "lifecycle: {auto_scaling_group: my-group, launch_hook: clock-launch, terminate_hook: a/b_c-d, poll_interval: 250ms, report_unhealthy: false, drain_timeout: 2h}",
        "state_dir: /",
        "state_dir: '/var/lib/clock agent//'",
    ])
    func printedConfigParsesBack(fragment: String) throws {
        let config = try Configuration.parse(yaml: Self.input(fragment), file: "input.yaml")
        let printed = config.yaml
        let again: Configuration
        do {
            again = try Configuration.parse(yaml: printed, file: "printed.yaml")
        } catch {
            Issue.record("the printed config does not parse back: \(error)\n\(printed)")
            return
        }
        #expect(again == config, "\(printed)")
        #expect(again.yaml == printed)
    }

    /// Checks across keys use the effective values, defaults included, and name a key the input set.
    @Test(arguments: [
        ("  health: {interval: 1s}", "app.health.interval", "must not be shorter than timeout (2s"),
        ("  health: {timeout: 10s}", "app.health.timeout", "must not be longer than interval (5s)"),
        ("  health: {interval: 1s, timeout: 2s}", "app.health.timeout", "must not be longer than interval (1s)"),
        ("  restart: {initial_backoff: 1m}", "app.restart.initial_backoff", "must not be longer than max_backoff (30s"),
        (
            "  restart: {max_backoff: 100ms}", "app.restart.max_backoff",
            "must not be shorter than initial_backoff (200ms)"
        ),
    ])
    func crossKeyChecksUseEffectiveValues(fragment: String, keyPath: String, message: String) {
        do {
            let config = try Configuration.parse(yaml: Self.input(fragment), file: "input.yaml")
            Issue.record("expected an error naming \(keyPath); the effective config was:\n\(config.yaml)")
        } catch let error as ConfigurationError {
            #expect(error.keyPath == keyPath)
            #expect(error.description.contains(message), "\(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}
