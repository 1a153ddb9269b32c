import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// A swift-log handler writing one text line per event to stderr:
/// `2026-11-25T08:04:42.123Z info  message key=value …` (or, with `syslogPrefix`, `<6>message key=value` so a
/// journal reading the stream assigns priorities).
public struct TextLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let syslogPrefix: Bool

    /// Creates a handler.
    public init(label: String, syslogPrefix: Bool = false) {
        self.syslogPrefix = syslogPrefix
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let body = TextLogFormat.messageLine(event.message.description, merged)
        let line: String
        if syslogPrefix {
            line = "<\(JournalLogHandler.priority(event.level))>\(body)\n"
        } else {
            let level = event.level.rawValue
            line =
                "\(TextLogFormat.timestamp()) \(level)\(String(repeating: " ", count: max(0, 8 - level.count)))\(body)\n"
        }
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 {
                    if written < 0 && errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }
}

/// How messages and metadata become text.
public enum TextLogFormat {
    /// `message key=value key2="value with spaces"`, keys sorted.
    public static func messageLine(_ message: String, _ metadata: Logger.Metadata) -> String {
        guard !metadata.isEmpty else { return message }
        var line = message
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            line += " \(key)=\(quote("\(value)"))"
        }
        return line
    }

    static func quote(_ value: String) -> String {
        let needsQuotes = value.isEmpty || value.contains { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }
        guard needsQuotes else { return value }
        var out = "\""
        for character in value {
            switch character {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default: out.append(character)
            }
        }
        return out + "\""
    }

    static func timestamp() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var seconds = spec.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(spec.tv_nsec / 1_000_000), 3))Z"
    }
}
