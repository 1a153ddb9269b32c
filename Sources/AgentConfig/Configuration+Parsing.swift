extension Configuration {
    /// Parses and validates YAML text. Errors name the key path and what was expected.
    /// - Parameter file: the file name used in error messages.
    public static func parse(yaml text: String, file: String? = nil) throws -> Configuration {
        let root: YAMLNode?
        do {
            root = try YAMLDocument.compose(text)
        } catch {
            throw ConfigurationError(keyPath: "", message: "not valid YAML: \(error)", file: file)
        }
        guard let root else { throw ConfigurationError(keyPath: "", message: "the file is empty", file: file) }
        return try parse(ConfigNode(node: root, path: "", file: file))
    }

    /// Reads and parses a file.
    public static func load(path: String) throws -> Configuration {
        let text: String
        do {
            text = try FileText.read(path)
        } catch {
            throw ConfigurationError(keyPath: "", message: "\(error)", file: path)
        }
        return try parse(yaml: text, file: path)
    }

    static func parse(_ root: ConfigNode) throws -> Configuration {
        let top = try root.mapping(allowed: ["state_dir", "app", "logs", "lifecycle", "metrics"])
        guard let appNode = top["app"] else {
            throw ConfigurationError(keyPath: "app", message: "required key is missing", file: root.file)
        }
        var config = Configuration(app: try AppConfiguration.parse(appNode))
        if let node = top["state_dir"] { config.stateDirectory = try absolutePath(node) }
        if let node = top["logs"] { config.logs = try LogsConfiguration.parse(node) }
        if let node = top["lifecycle"] { config.lifecycle = try LifecycleConfiguration.parse(node) }
        if let node = top["metrics"] { config.metrics = try MetricsConfiguration.parse(node) }
        if config.logs.sources.count > 1, !config.logs.stream.contains("{source}") {
            throw ConfigurationError(
                keyPath: "logs.stream",
                message:
                    "must contain {source} when there is more than one source, or their events would mix in one stream",
                file: root.file)
        }
        return config
    }

    static func absolutePath(_ node: ConfigNode) throws -> String {
        let value = try node.string()
        guard value.hasPrefix("/") else { throw node.error("expected an absolute path, got \"\(value)\"") }
        var path = value
        while path.count > 1, path.hasSuffix("/") { path.removeLast() }
        return path
    }
}

extension AppConfiguration {
    static func parse(_ node: ConfigNode) throws -> AppConfiguration {
        let members = try node.mapping(allowed: [
            "source", "sha256", "install_dir", "prepare", "command", "user", "environment", "stop_timeout",
            "launch_timeout", "health", "restart",
        ])
        guard let sourceNode = members["source"] else { throw missing(node, "source") }
        guard let commandNode = members["command"] else { throw missing(node, "command") }
        let command = try commandNode.stringList()
        guard let program = command.first, !program.isEmpty else {
            throw commandNode.error("expected a non-empty list such as [python3, app.py] (argv, no shell)")
        }
        var app = AppConfiguration(source: try ArtifactSource.parse(sourceNode), command: command)
        if let node = members["sha256"], !node.isNull {
            let value = try node.string().lowercased()
            guard value.utf8.count == 64,
                value.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
            else { throw node.error("expected 64 hexadecimal digits (the artifact's SHA-256)") }
            app.sha256 = value
        }
        if let node = members["install_dir"] { app.installDirectory = try Configuration.absolutePath(node) }
        if let node = members["prepare"] {
            app.prepare = try node.sequence().map { step in
                let argv = try step.stringList()
                guard let first = argv.first, !first.isEmpty else { throw step.error("expected a non-empty argv list") }
                return argv
            }
        }
        if let node = members["user"], !node.isNull {
            let user = try node.string()
            guard isValidUserName(user) else { throw node.error("\"\(user)\" is not a valid user name") }
            app.user = user
        }
        if let node = members["environment"], !node.isNull {
            var seen: Set<String> = []
            for (name, valueNode) in try node.pairs() {
                guard isValidVariableName(name) else {
                    throw valueNode.error("\"\(name)\" is not a valid environment variable name")
                }
                guard seen.insert(name).inserted else { throw valueNode.error("set twice") }
                app.environment.append(EnvironmentVariable(name: name, value: try valueNode.string(lenient: true)))
            }
            app.environment.sort { $0.name < $1.name }
        }
        if let node = members["stop_timeout"] { app.stopTimeout = try node.positiveDuration() }
        if let node = members["launch_timeout"] { app.launchTimeout = try node.positiveDuration() }
        if let node = members["health"] { app.health = try HealthConfiguration.parse(node) }
        if let node = members["restart"] { app.restart = try RestartConfiguration.parse(node) }
        return app
    }

    static func isValidUserName(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 32 else { return false }
        let isStart = (0x61...0x7A).contains(first) || (0x41...0x5A).contains(first) || first == 0x5F
        return isStart
            && name.utf8.allSatisfy {
                (0x61...0x7A).contains($0) || (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F
                    || $0 == 0x2D || $0 == 0x2E
            }
    }

    static func isValidVariableName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(0x30...0x39).contains(first) else { return false }
        return name.utf8.allSatisfy {
            (0x61...0x7A).contains($0) || (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F
        }
    }
}

extension ArtifactSource {
    static func parse(_ node: ConfigNode) throws -> ArtifactSource {
        let text = try node.string()
        if text.hasPrefix("s3://") {
            let rest = text.dropFirst(5)
            guard let slash = rest.firstIndex(of: "/") else {
                throw node.error("expected s3://bucket/key, got \"\(text)\" (no key)")
            }
            let bucket = String(rest[..<slash])
            let key = String(rest[rest.index(after: slash)...])
            guard isValidBucket(bucket) else { throw node.error("\"\(bucket)\" is not a valid S3 bucket name") }
            guard !key.isEmpty, !key.hasSuffix("/") else {
                throw node.error("expected s3://bucket/key naming an object, got \"\(text)\"")
            }
            return .s3(bucket: bucket, key: key)
        }
        if text.hasPrefix("file://") {
            let path = String(text.dropFirst(7))
            guard path.hasPrefix("/") else {
                throw node.error("expected file:///absolute/path (three slashes), got \"\(text)\"")
            }
            return .file(path: path)
        }
        throw node.error("expected s3://bucket/key or file:///path, got \"\(text)\"")
    }

    static func isValidBucket(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (3...63).contains(bytes.count) else { return false }
        let inner: (UInt8) -> Bool = {
            (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2E || $0 == 0x2D
        }
        let edge: (UInt8) -> Bool = { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) }
        return bytes.allSatisfy(inner) && edge(bytes.first!) && edge(bytes.last!)
    }
}

extension HealthConfiguration {
    static func parse(_ node: ConfigNode) throws -> HealthConfiguration {
        let members = try node.mapping(allowed: ["url", "interval", "timeout", "unhealthy_threshold", "start_timeout"])
        var health = HealthConfiguration()
        if let node = members["url"], !node.isNull {
            let url = try node.string()
            guard url.hasPrefix("http://") || url.hasPrefix("https://"), url.count > 8 else {
                throw node.error("expected an http:// or https:// URL, got \"\(url)\"")
            }
            health.url = url
        }
        if let node = members["interval"] { health.interval = try node.positiveDuration() }
        if let node = members["timeout"] { health.timeout = try node.positiveDuration() }
        if let node = members["unhealthy_threshold"] {
            health.unhealthyThreshold = try node.int()
            guard health.unhealthyThreshold >= 1 else { throw node.error("must be at least 1") }
        }
        if let node = members["start_timeout"] { health.startTimeout = try node.positiveDuration() }
        // The effective values count, defaults included: `interval: 1s` alone meets the default 2s timeout.
        if health.timeout > health.interval {
            if let node = members["timeout"] {
                throw node.error("must not be longer than interval (\(DurationText.format(health.interval)))")
            }
            throw (members["interval"] ?? node).error(
                "must not be shorter than timeout (\(DurationText.format(health.timeout)), the default; set timeout too)"
            )
        }
        return health
    }
}

extension RestartConfiguration {
    static func parse(_ node: ConfigNode) throws -> RestartConfiguration {
        let members = try node.mapping(allowed: [
            "initial_backoff", "max_backoff", "crash_loop_restarts", "crash_loop_window",
        ])
        var restart = RestartConfiguration()
        if let node = members["initial_backoff"] { restart.initialBackoff = try node.duration() }
        if let node = members["max_backoff"] { restart.maxBackoff = try node.duration() }
        if let node = members["crash_loop_restarts"] {
            restart.crashLoopRestarts = try node.int()
            guard restart.crashLoopRestarts >= 1 else { throw node.error("must be at least 1") }
        }
        if let node = members["crash_loop_window"] { restart.crashLoopWindow = try node.positiveDuration() }
        // The effective values count, defaults included: `initial_backoff: 1m` alone passes the default 30s maximum.
        if restart.maxBackoff < restart.initialBackoff {
            if let node = members["max_backoff"] {
                throw node.error(
                    "must not be shorter than initial_backoff (\(DurationText.format(restart.initialBackoff)))")
            }
            throw (members["initial_backoff"] ?? node).error(
                "must not be longer than max_backoff (\(DurationText.format(restart.maxBackoff)), the default; set max_backoff too)"
            )
        }
        return restart
    }
}

extension LogsConfiguration {
    static func parse(_ node: ConfigNode) throws -> LogsConfiguration {
        let members = try node.mapping(allowed: [
            "group", "stream", "retention_days", "flush_interval", "gzip", "sources",
        ])
        var logs = LogsConfiguration()
        if let node = members["group"] {
            logs.group = try node.string()
            guard isValidGroupName(logs.group) else {
                throw node.error("expected 1–512 characters of A-Z a-z 0-9 . - _ / #, got \"\(logs.group)\"")
            }
        }
        if let node = members["stream"] {
            logs.stream = try node.string()
            try validateStreamTemplate(logs.stream, node)
        }
        if let node = members["retention_days"] {
            if node.isNull {
                logs.retentionDays = nil
            } else {
                let days = try node.int()
                guard validRetentionDays.contains(days) else {
                    throw node.error(
                        "CloudWatch Logs accepts only \(validRetentionDays.map(String.init).joined(separator: ", ")) (or null to leave retention alone)"
                    )
                }
                logs.retentionDays = days
            }
        }
        if let node = members["flush_interval"] {
            logs.flushInterval = try node.positiveDuration()
            guard logs.flushInterval <= .seconds(60) else { throw node.error("must be at most 60s") }
        }
        if let node = members["gzip"] { logs.gzip = try node.bool() }
        if let node = members["sources"] {
            let items = try node.sequence()
            logs.sources = try items.map(LogSource.parse)
            var names: Set<String> = []
            var appSources = 0
            for (item, source) in zip(items, logs.sources) {
                guard names.insert(source.name).inserted else {
                    throw item.error("the name \"\(source.name)\" is used by another source")
                }
                if case .app = source.kind { appSources += 1 }
                if appSources > 1 { throw item.error("there can be only one source of type app") }
            }
        }
        return logs
    }

    static func isValidGroupName(_ name: String) -> Bool {
        (1...512).contains(name.utf8.count)
            && name.utf8.allSatisfy {
                (0x61...0x7A).contains($0) || (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2E
                    || $0 == 0x2D || $0 == 0x5F || $0 == 0x2F || $0 == 0x23
            }
    }

    static func validateStreamTemplate(_ template: String, _ node: ConfigNode) throws {
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{") {
            guard let close = rest[open...].firstIndex(of: "}") else {
                throw node.error("unclosed { in \"\(template)\"")
            }
            let name = String(rest[rest.index(after: open)..<close])
            guard streamPlaceholders.contains(name) else {
                throw node.error(
                    "unknown placeholder {\(name)} (known: \(streamPlaceholders.map { "{\($0)}" }.joined(separator: " ")))"
                )
            }
            rest = rest[rest.index(after: close)...]
        }
        guard !template.isEmpty, !template.contains(":"), !template.contains("*") else {
            throw node.error("stream names must be non-empty and contain neither : nor *")
        }
    }
}

extension LogSource {
    static func parse(_ node: ConfigNode) throws -> LogSource {
        let members = try node.mapping(allowed: ["name", "type", "path", "multiline_start", "units"])
        guard let nameNode = members["name"] else { throw missing(node, "name") }
        guard let typeNode = members["type"] else { throw missing(node, "type") }
        let name = try nameNode.string()
        guard !name.isEmpty, name.utf8.count <= 64,
            name.utf8.allSatisfy({
                (0x61...0x7A).contains($0) || (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D
                    || $0 == 0x5F || $0 == 0x2E
            })
        else { throw nameNode.error("expected 1–64 characters of A-Z a-z 0-9 - _ ., got \"\(name)\"") }
        let type = try typeNode.string()
        func reject(_ keys: [String]) throws {
            for key in keys where members[key] != nil {
                throw members[key]!.error("not used by sources of type \(type)")
            }
        }
        switch type {
        case "app":
            try reject(["path", "multiline_start", "units"])
            return LogSource(name: name, kind: .app)
        case "file":
            try reject(["units"])
            guard let pathNode = members["path"] else { throw missing(node, "path") }
            let path = try Configuration.absolutePath(pathNode)
            var multiline: String?
            if let regexNode = members["multiline_start"], !regexNode.isNull {
                let pattern = try regexNode.string()
                do {
                    _ = try Regex(pattern)
                } catch {
                    throw regexNode.error("not a valid regular expression: \(error)")
                }
                multiline = pattern
            }
            return LogSource(name: name, kind: .file(path: path, multilineStart: multiline))
        case "journal":
            try reject(["path", "multiline_start"])
            guard let unitsNode = members["units"] else { throw missing(node, "units") }
            let units = try unitsNode.stringList()
            guard !units.isEmpty else {
                throw unitsNode.error("expected at least one unit, e.g. [clock-agent.service]")
            }
            return LogSource(name: name, kind: .journal(units: units))
        default:
            throw typeNode.error("expected one of app, file, journal, got \"\(type)\"")
        }
    }
}

extension LifecycleConfiguration {
    static func parse(_ node: ConfigNode) throws -> LifecycleConfiguration {
        let members = try node.mapping(allowed: [
            "auto_scaling_group", "launch_hook", "terminate_hook", "poll_interval", "report_unhealthy", "drain_timeout",
        ])
        var lifecycle = LifecycleConfiguration()
        if let node = members["auto_scaling_group"] {
            lifecycle.autoScalingGroup = try node.string()
            guard !lifecycle.autoScalingGroup.isEmpty, lifecycle.autoScalingGroup.utf8.count <= 255 else {
                throw node.error("expected auto or a group name of 1–255 characters")
            }
        }
        if let node = members["launch_hook"], !node.isNull { lifecycle.launchHook = try hookName(node) }
        if let node = members["terminate_hook"], !node.isNull { lifecycle.terminateHook = try hookName(node) }
        if let node = members["poll_interval"] { lifecycle.pollInterval = try node.positiveDuration() }
        if let node = members["report_unhealthy"] { lifecycle.reportUnhealthy = try node.bool() }
        if let node = members["drain_timeout"] {
            lifecycle.drainTimeout = try node.positiveDuration()
            // The hook's global timeout is at most 48 h; a drain must end well before the instance is forced down.
            guard lifecycle.drainTimeout <= .seconds(7200) else { throw node.error("must be at most 2h") }
        }
        return lifecycle
    }

    /// Hook names: `[A-Za-z0-9\-_\/]+`, at most 255 characters (PutLifecycleHook).
    static func hookName(_ node: ConfigNode) throws -> String {
        let name = try node.string()
        guard (1...255).contains(name.utf8.count),
            name.utf8.allSatisfy({
                (0x61...0x7A).contains($0) || (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D
                    || $0 == 0x5F || $0 == 0x2F
            })
        else { throw node.error("expected a hook name of A-Z a-z 0-9 - _ /, got \"\(name)\"") }
        return name
    }
}

extension MetricsConfiguration {
    static func parse(_ node: ConfigNode) throws -> MetricsConfiguration {
        let members = try node.mapping(allowed: ["listen"])
        var metrics = MetricsConfiguration()
        if let node = members["listen"], !node.isNull {
            let text = try node.string()
            guard let address = LoopbackAddress.parse(text) else {
                throw node.error(
                    "expected a loopback address and a port of \(LoopbackAddress.lowestPort)–65535 (127.0.0.1:9464, [::1]:9464 or localhost:9464), got \"\(text)\""
                )
            }
            metrics.listen = address
        }
        return metrics
    }
}

private func missing(_ node: ConfigNode, _ key: String) -> ConfigurationError {
    ConfigurationError(
        keyPath: node.child(path: key), message: "required key is missing", line: node.node.line, file: node.file)
}
