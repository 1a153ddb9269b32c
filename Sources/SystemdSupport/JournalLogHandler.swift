import CSystemd
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// A swift-log handler writing native journald entries with `sd_journal_sendv`
/// (https://www.freedesktop.org/software/systemd/man/sd_journal_sendv.html).
///
/// Each entry carries `MESSAGE` (the message followed by its metadata as `key=value`, so `journalctl -u clock-agent`
/// shows everything), `PRIORITY`, `SYSLOG_IDENTIFIER`, `CODE_FILE`/`CODE_LINE`/`CODE_FUNC`, and every metadata key
/// as its own field (`s3.key` → `S3_KEY`) for `journalctl S3_KEY=…` queries.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String
    private let identifier: String

    /// Creates a handler.
    public init(label: String, identifier: String = "clock-agent") {
        self.label = label
        self.identifier = identifier
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        var fields: [String] = [
            "MESSAGE=" + TextLogFormat.messageLine(event.message.description, merged),
            "PRIORITY=\(Self.priority(event.level))",
            "SYSLOG_IDENTIFIER=\(identifier)",
            "CODE_FILE=\(event.file)",
            "CODE_LINE=\(event.line)",
            "CODE_FUNC=\(event.function)",
            "CLOCK_LOGGER=\(label)",
        ]
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            if let name = Self.fieldName(key) { fields.append("\(name)=\(value)") }
        }
        Self.send(fields)
    }

    /// Writes one entry; the fields are `NAME=value` strings (values may contain newlines).
    public static func send(_ fields: [String]) {
        var storage: [UInt8] = []
        var ranges: [(Int, Int)] = []
        for field in fields {
            ranges.append((storage.count, field.utf8.count))
            storage.append(contentsOf: field.utf8)
        }
        storage.withUnsafeMutableBytes { bytes in
            var vectors = ranges.map { iovec(iov_base: bytes.baseAddress! + $0.0, iov_len: $0.1) }
            _ = sd_journal_sendv(&vectors, Int32(vectors.count))
        }
    }

    /// syslog priorities (`PRIORITY=`), as `journalctl -p` filters them.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// A journal field name for a metadata key: upper-case letters, digits and `_`, not starting with `_` or a
    /// digit, at most 64 characters; nil if nothing usable is left.
    static func fieldName(_ key: String) -> String? {
        var name = ""
        for scalar in key.unicodeScalars {
            switch scalar {
            case "a"..."z": name.unicodeScalars.append(Unicode.Scalar(scalar.value - 32)!)
            case "A"..."Z", "0"..."9": name.unicodeScalars.append(scalar)
            default: name.append("_")
            }
        }
        while name.first == "_" || (name.first?.isNumber ?? false) { name.removeFirst() }
        guard !name.isEmpty else { return nil }
        let reserved: Set<String> = ["MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE", "CODE_FUNC"]
        if reserved.contains(name) { name = "CLOCK_" + name }
        return String(name.prefix(64))
    }
}
