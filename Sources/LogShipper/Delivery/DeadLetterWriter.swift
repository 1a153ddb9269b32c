import AWSCore
import FoundationEssentials
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Keeps every event CloudWatch refused: one JSON line per event in `state_dir/dead-letter/<source>.jsonl`, with the
/// reason, written and fsynced before the batch counts as handled. Nothing is dropped silently.
public final class DeadLetterWriter: Sendable {
    /// `state_dir/dead-letter`.
    public let directory: String
    private let lock = Mutex(())

    /// Creates the writer (the directory is created on first use, mode 0700).
    public init(directory: String) { self.directory = directory }

    /// The events of a PutLogEvents body, in order (read back only on the rare refusal path).
    struct Body: Decodable {
        struct Event: Decodable {
            var timestamp: Int64
            var message: String
        }
        var logEvents: [Event]
    }

    /// Writes events `range` of a batch body with a reason; returns how many were written.
    @discardableResult
    public func write(source: String, stream: String, body: [UInt8], range: Range<Int>?, reason: String) throws -> Int {
        let events: [Body.Event]
        do {
            events = try JSONDecoder().decode(Body.self, from: Data(body)).logEvents
        } catch {
            throw ShipperError(message: "cannot read back a refused batch of \(source): \(error)")
        }
        let selected = range.map { Array(events[max(0, $0.lowerBound)..<min(events.count, $0.upperBound)]) } ?? events
        guard !selected.isEmpty else { return 0 }
        var lines: [UInt8] = []
        let now = UTCTime.now().iso8601
        for event in selected {
            lines.append(
                contentsOf: JSONText.object([
                    ("deadLetteredAt", .string(now)), ("reason", .string(reason)), ("stream", .string(stream)),
                    ("timestamp", .int(event.timestamp)), ("message", .string(event.message)),
                ]))
            lines.append(0x0A)
        }
        try lock.withLock { _ in
            try makeDirectory(directory)
            let path = "\(directory)/\(source).jsonl"
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw ShipperError(message: "cannot open \(path)", errno: errno) }
            defer { close(fd) }
            var offset = 0
            while offset < lines.count {
                let written = lines.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw ShipperError(message: "cannot write \(path)", errno: errno)
                }
                offset += written
            }
            guard fsync(fd) == 0 else { throw ShipperError(message: "cannot fsync \(path)", errno: errno) }
        }
        return selected.count
    }
}
