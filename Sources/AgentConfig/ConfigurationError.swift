/// A configuration problem, naming the key path (e.g. `app.health.interval`) and what was expected.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The key path, e.g. `logs.sources[1].type`; empty for the whole document.
    public var keyPath: String
    /// What is wrong and what was expected.
    public var message: String
    /// The line in the file, when known.
    public var line: Int?
    /// The file, when known.
    public var file: String?

    /// Creates an error.
    public init(keyPath: String, message: String, line: Int? = nil, file: String? = nil) {
        self.keyPath = keyPath
        self.message = message
        self.line = line
        self.file = file
    }

    public var description: String {
        var location = file ?? "config"
        if let line { location += ":\(line)" }
        return keyPath.isEmpty ? "\(location): \(message)" : "\(location): \(keyPath): \(message)"
    }
}
