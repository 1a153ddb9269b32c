/// A YAML node with the key path that leads to it, so every error can name where it is.
struct ConfigNode {
    let node: YAMLNode
    let path: String
    let file: String?

    func error(_ message: String) -> ConfigurationError {
        ConfigurationError(keyPath: path, message: message, line: node.line, file: file)
    }

    func child(path key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The members of a mapping, rejecting unknown keys and duplicates.
    func mapping(allowed: [String]) throws -> [String: ConfigNode] {
        guard case .mapping(let mapping) = node.content else { throw error("expected a mapping of keys, got \(kind)") }
        var members: [String: ConfigNode] = [:]
        for (key, value) in mapping {
            guard let name = key.string else { throw error("keys must be strings") }
            let childPath = child(path: name)
            guard allowed.contains(name) else {
                let suggestion = allowed.min { Self.distance($0, name) < Self.distance($1, name) }
                var message = "unknown key (expected one of: \(allowed.joined(separator: ", "))"
                if let suggestion, Self.distance(suggestion, name) <= 2 { message += "; did you mean \(suggestion)?" }
                message += ")"
                throw ConfigurationError(
                    keyPath: childPath, message: message, line: key.line, file: file)
            }
            guard members[name] == nil else {
                throw ConfigurationError(
                    keyPath: childPath, message: "key appears twice", line: key.line, file: file)
            }
            members[name] = ConfigNode(node: value, path: childPath, file: file)
        }
        return members
    }

    /// The entries of a mapping with free-form keys (e.g. `app.environment`), in file order.
    func pairs() throws -> [(String, ConfigNode)] {
        guard case .mapping(let mapping) = node.content else { throw error("expected a mapping, got \(kind)") }
        var result: [(String, ConfigNode)] = []
        for (key, value) in mapping {
            guard let name = key.string else { throw error("keys must be strings") }
            result.append((name, ConfigNode(node: value, path: child(path: name), file: file)))
        }
        return result
    }

    /// The items of a sequence.
    func sequence() throws -> [ConfigNode] {
        guard case .sequence(let sequence) = node.content else { throw error("expected a list, got \(kind)") }
        return sequence.enumerated().map { ConfigNode(node: $0.element, path: "\(path)[\($0.offset)]", file: file) }
    }

    var isNull: Bool {
        if case .scalar = node.content, node.tag == .null { return true }
        return false
    }

    /// A string; numbers and booleans are accepted as their text only when `lenient` (environment values).
    func string(lenient: Bool = false) throws -> String {
        guard case .scalar(let text, let plain) = node.content else { throw error("expected a string, got \(kind)") }
        if !lenient, node.tag != .str, plain, node.tag != .null {
            // `PORT: 8080` is fine in an environment map, but `command: 5` is a mistake worth naming.
            throw error("expected a string, got \(kind) \"\(text)\" (quote it)")
        }
        if node.tag == .null { throw error("expected a string, got nothing (null)") }
        return text
    }

    func int() throws -> Int {
        guard let value = node.int else {
            throw error("expected an integer, got \(describe)")
        }
        return value
    }

    func bool() throws -> Bool {
        guard let value = node.bool else {
            throw error("expected true or false, got \(describe)")
        }
        return value
    }

    func duration() throws -> Duration {
        guard let text = node.string, let value = DurationText.parse(text) else {
            throw error("expected a duration such as 200ms, 5s, 5m or 1h, got \(describe)")
        }
        return value
    }

    func positiveDuration() throws -> Duration {
        let value = try duration()
        guard value > .zero else { throw error("must be longer than 0") }
        return value
    }

    func stringList() throws -> [String] {
        try sequence().map { try $0.string() }
    }

    var kind: String {
        switch node.content {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar:
            switch node.tag {
            case .int: return "an integer"
            case .float: return "a number"
            case .bool: return "a boolean"
            case .null: return "nothing (null)"
            default: return "a string"
            }
        }
    }

    var describe: String {
        if let text = node.string { return "\(kind) \"\(text)\"" }
        return kind
    }

    /// Levenshtein distance, for "did you mean".
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
