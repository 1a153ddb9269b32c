/// The agent's configuration (`/etc/clock-agent/config.yaml`), with every default applied.
///
/// The YAML contract is documented in `README.md` and `packaging/config/config.example.yaml`; parsing and
/// validation live in `Configuration+Parsing.swift`, the printed form in `Configuration+YAML.swift`.
public struct Configuration: Sendable, Equatable {
    /// Checkpoints, downloads, dead letters, the status socket.
    public var stateDirectory: String = "/var/lib/clock-agent"
    /// The application: where it comes from, how it runs, how its health is judged.
    public var app: AppConfiguration
    /// Log shipping to CloudWatch Logs.
    public var logs: LogsConfiguration = LogsConfiguration()
    /// Lifecycle hooks and health reporting to the Auto Scaling group.
    public var lifecycle: LifecycleConfiguration = LifecycleConfiguration()
    /// Where the Prometheus metrics are served besides the status socket.
    public var metrics: MetricsConfiguration = MetricsConfiguration()

    /// Creates a configuration around an app; everything else takes its default.
    public init(app: AppConfiguration) { self.app = app }

    /// The default path of the configuration file.
    public static let defaultPath = "/etc/clock-agent/config.yaml"
}

/// Where the app artifact comes from.
public enum ArtifactSource: Sendable, Equatable, CustomStringConvertible {
    /// `s3://bucket/key`.
    case s3(bucket: String, key: String)
    /// `file:///absolute/path`.
    case file(path: String)

    public var description: String {
        switch self {
        case .s3(let bucket, let key): return "s3://\(bucket)/\(key)"
        case .file(let path): return "file://\(path)"
        }
    }

    /// The artifact's file name (last path component), which decides whether it is unpacked.
    public var fileName: String {
        switch self {
        case .s3(_, let key): return String(key.split(separator: "/").last ?? Substring(key))
        case .file(let path): return String(path.split(separator: "/").last ?? Substring(path))
        }
    }

    /// Whether the artifact is a gzip-compressed tar archive (`.tar.gz` or `.tgz`).
    public var isArchive: Bool {
        let name = fileName.lowercased()
        return name.hasSuffix(".tar.gz") || name.hasSuffix(".tgz")
    }
}

/// `app:` — the supervised application.
public struct AppConfiguration: Sendable, Equatable {
    /// `app.source`.
    public var source: ArtifactSource
    /// `app.sha256`: the pinned SHA-256 (lower-case hex), if any.
    public var sha256: String?
    /// `app.install_dir`: holds `releases/<sha256>/` and the `current` symlink.
    public var installDirectory: String = "/opt/clock-app"
    /// `app.prepare`: argv lists run once per release, in the release directory.
    public var prepare: [[String]] = []
    /// `app.command`: the argv run in `current/`.
    public var command: [String]
    /// `app.user`: run the app as this user and its primary group.
    public var user: String?
    /// `app.environment`, sorted by name.
    public var environment: [EnvironmentVariable] = []
    /// `app.stop_timeout`: SIGTERM, then SIGKILL after this long.
    public var stopTimeout: Duration = .seconds(10)
    /// `app.launch_timeout`: how long fetching, verifying, installing and preparing may take in all, retrying
    /// transient failures, before the launch is given up (ABANDON).
    public var launchTimeout: Duration = .seconds(900)
    /// `app.health`.
    public var health: HealthConfiguration = HealthConfiguration()
    /// `app.restart`.
    public var restart: RestartConfiguration = RestartConfiguration()

    /// Creates an app configuration with defaults for everything optional.
    public init(source: ArtifactSource, command: [String]) {
        self.source = source
        self.command = command
    }
}

/// One `NAME: value` of `app.environment`.
public struct EnvironmentVariable: Sendable, Equatable {
    /// The variable name.
    public var name: String
    /// Its value.
    public var value: String

    /// Creates a variable.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// `app.health` — how the app's health is probed.
public struct HealthConfiguration: Sendable, Equatable {
    /// `url`: answered with 2xx when healthy; without it the app counts as healthy once it has been running for
    /// one `interval`.
    public var url: String?
    /// `interval`: time between probes.
    public var interval: Duration = .seconds(5)
    /// `timeout`: limit of one probe.
    public var timeout: Duration = .seconds(2)
    /// `unhealthy_threshold`: consecutive failures that restart the app.
    public var unhealthyThreshold: Int = 3
    /// `start_timeout`: how long a new app may take to become healthy.
    public var startTimeout: Duration = .seconds(120)

    /// Creates the defaults.
    public init() {}
}

/// `app.restart` — restart backoff and crash-loop detection.
public struct RestartConfiguration: Sendable, Equatable {
    /// `initial_backoff`: the first restart delay.
    public var initialBackoff: Duration = .milliseconds(200)
    /// `max_backoff`: the delay cap.
    public var maxBackoff: Duration = .seconds(30)
    /// `crash_loop_restarts`: restarts within `crash_loop_window` that count as a crash loop.
    public var crashLoopRestarts: Int = 5
    /// `crash_loop_window`.
    public var crashLoopWindow: Duration = .seconds(300)

    /// Creates the defaults.
    public init() {}
}

/// `logs:` — CloudWatch Logs shipping.
public struct LogsConfiguration: Sendable, Equatable {
    /// `group`: the log group.
    public var group: String = "/clock/app"
    /// `stream`: the stream name template.
    public var stream: String = "{instance_id}/{source}"
    /// `retention_days`: set on the group when the agent creates it; nil leaves retention alone.
    public var retentionDays: Int? = 30
    /// `flush_interval`: how long a batch waits for more events before it is sent (a full batch goes at once).
    public var flushInterval: Duration = .seconds(1)
    /// `gzip`: compress PutLogEvents bodies (`Content-Encoding: gzip`): less network, more CPU.
    public var gzip = false
    /// `sources`.
    public var sources: [LogSource] = [
        LogSource(name: "app", kind: .app),
        LogSource(name: "agent", kind: .journal(units: ["clock-agent.service"])),
    ]

    /// Creates the defaults.
    public init() {}

    /// Retention values CloudWatch Logs accepts (`PutRetentionPolicy`, `retentionInDays`).
    public static let validRetentionDays: [Int] = [
        1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
    ]

    /// The placeholders `stream` may use.
    public static let streamPlaceholders = ["instance_id", "hostname", "source", "region", "az"]
}

/// One entry of `logs.sources`.
public struct LogSource: Sendable, Equatable {
    /// What is read.
    public enum Kind: Sendable, Equatable {
        /// The supervised app's stdout and stderr.
        case app
        /// Files matching a path or glob.
        case file(path: String, multilineStart: String?)
        /// journald entries of these units.
        case journal(units: [String])

        /// The `type:` value.
        public var typeName: String {
            switch self {
            case .app: return "app"
            case .file: return "file"
            case .journal: return "journal"
            }
        }
    }

    /// `name`: unique, used in stream names and checkpoints.
    public var name: String
    /// `type` and its settings.
    public var kind: Kind

    /// Creates a source.
    public init(name: String, kind: Kind) {
        self.name = name
        self.kind = kind
    }
}

/// `lifecycle:` — the Auto Scaling side.
public struct LifecycleConfiguration: Sendable, Equatable {
    /// `auto_scaling_group`: `auto` (find it) or a name.
    public var autoScalingGroup: String = "auto"
    /// `launch_hook`: complete it with CONTINUE/ABANDON; nil to not report launch.
    public var launchHook: String?
    /// `terminate_hook`: complete it after draining; nil to not wait on termination.
    public var terminateHook: String?
    /// `poll_interval`: how often the target lifecycle state is read from IMDS.
    public var pollInterval: Duration = .seconds(5)
    /// `report_unhealthy`: mark the instance Unhealthy on a crash loop.
    public var reportUnhealthy: Bool = true
    /// `drain_timeout`: the longest a drain may take (stop the app, ship every line, then complete the terminate
    /// hook); after it the hook is completed with what could be shipped, and what was left is logged.
    public var drainTimeout: Duration = .seconds(600)

    /// Creates the defaults.
    public init() {}
}

/// `metrics:` — the Prometheus text of `/metrics`, served on the status socket always and, when `listen` is set, on a
/// loopback TCP port too (most scrapers can't read a unix socket).
public struct MetricsConfiguration: Sendable, Equatable {
    /// `listen`: `127.0.0.1:PORT`, `[::1]:PORT` or `localhost:PORT`; nil (the default) serves no TCP port.
    public var listen: LoopbackAddress?

    /// Creates the defaults.
    public init() {}
}

/// A loopback address and port to listen on (`metrics.listen`). Only loopback: the port is for a scraper on the
/// instance (a Prometheus agent, the CloudWatch agent's Prometheus input); the agent opens nothing to the network.
public struct LoopbackAddress: Sendable, Equatable, CustomStringConvertible {
    /// The numeric address: `127.x.y.z` or `::1`.
    public var host: String
    /// 1024–65535.
    public var port: UInt16

    /// Creates an address; `host` must already be a numeric loopback address.
    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Whether the host is IPv6 (`::1`).
    public var isIPv6: Bool { host.contains(":") }

    /// `127.0.0.1:9464` or `[::1]:9464`, as it is written in the configuration.
    public var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// The lowest port accepted: the service runs without `CAP_NET_BIND_SERVICE`, so it can't bind below 1024.
    public static let lowestPort: UInt16 = 1024

    /// Parses `host:port`; nil when it isn't a loopback address (`127.x.y.z` in plain decimal, `[::1]`,
    /// `localhost`) with a port of 1024–65535.
    public static func parse(_ text: String) -> LoopbackAddress? {
        let host: Substring
        let portText: Substring
        let bracketed = text.hasPrefix("[")
        if bracketed {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                return nil
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            // An IPv6 address needs its brackets: `::1:9464` could be read two ways.
            guard let colon = text.firstIndex(of: ":"), colon == text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard let port = decimal(portText, upTo: Int(UInt16.max)).map(UInt16.init), port >= lowestPort else {
            return nil
        }
        if bracketed {
            return host == "::1" || host == "0:0:0:0:0:0:0:1" ? LoopbackAddress(host: "::1", port: port) : nil
        }
        if host == "localhost" { return LoopbackAddress(host: "127.0.0.1", port: port) }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false).map { decimal($0, upTo: 255) }
        guard octets.count == 4, octets[0] == 127, octets.allSatisfy({ $0 != nil }) else { return nil }
        return LoopbackAddress(host: octets.map { String($0!) }.joined(separator: "."), port: port)
    }

    /// Plain decimal digits (no sign, no leading zero: `010` is octal to some tools) up to `limit`.
    private static func decimal(_ text: Substring, upTo limit: Int) -> Int? {
        guard (1...5).contains(text.utf8.count), text.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
            text.utf8.count == 1 || text.utf8.first != 0x30, let value = Int(text), value <= limit
        else { return nil }
        return value
    }
}
