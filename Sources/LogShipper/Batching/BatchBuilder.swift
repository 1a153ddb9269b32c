import AWSCore

/// Builds one PutLogEvents request body while events arrive, enforcing every limit as it goes.
///
/// Each event is validated, sanitised and JSON-escaped in a single pass straight into the body: invalid UTF-8
/// and NUL become U+FFFD (CloudWatch would replace invalid bytes itself, but the batch size must be counted
/// after the replacement), `"`/`\`/control characters are escaped, and plain ASCII runs are copied eight bytes
/// at a time. Sizes are counted as CloudWatch counts them (UTF-8 bytes of the sanitised message + 26).
public struct BatchBuilder: Sendable {
    /// Why an event was not added.
    public enum Refusal: Error, Equatable, Sendable {
        /// The batch has no room for it (bytes, event count or 24 h span): send this batch, then add it to the next.
        case full
        /// Nothing left after sanitising (an empty message is invalid): skip it.
        case empty
    }

    /// The marker appended to a message cut at the event size limit.
    public static let truncationMarker: [UInt8] = Array(" [clock-agent: truncated at the 1 MB event limit]".utf8)
    /// The marker appended to a piece of a line that continues in the next event.
    public static let continuationMarker: [UInt8] = Array(" [clock-agent: line continues in the next event]".utf8)

    private let prefix: [UInt8]
    /// The body so far (without the closing `]}`).
    public private(set) var body: [UInt8]
    /// Events in the batch.
    public private(set) var count = 0
    /// Σ (message bytes + 26), as CloudWatch counts it.
    public private(set) var size = 0
    /// First and last event timestamps.
    public private(set) var firstTimestamp: Int64 = 0
    public private(set) var lastTimestamp: Int64 = 0
    /// Events whose message had invalid UTF-8 or NUL replaced.
    public private(set) var sanitisedEvents = 0
    /// Events cut at the size limit.
    public private(set) var truncatedEvents = 0
    private let maxBytes: Int
    private let maxEvents: Int

    /// Starts an empty batch for a stream.
    public init(group: String, stream: String, maxBytes: Int = CloudWatchLimits.maxBatchBytes, maxEvents: Int = CloudWatchLimits.maxEvents) {
        var prefix: [UInt8] = Array(#"{"logGroupName":"#.utf8)
        JSONText.appendQuoted(group, to: &prefix)
        prefix.append(contentsOf: Array(#","logStreamName":"#.utf8))
        JSONText.appendQuoted(stream, to: &prefix)
        prefix.append(contentsOf: Array(#","logEvents":["#.utf8))
        self.prefix = prefix
        body = prefix
        body.reserveCapacity(maxBytes + maxBytes / 8 + 4096)
        self.maxBytes = maxBytes
        self.maxEvents = maxEvents
    }

    /// Whether the batch has no events.
    public var isEmpty: Bool { count == 0 }

    /// The complete request body.
    public var requestBody: [UInt8] { body + [0x5D, 0x7D] }

    /// Empties the batch for reuse (the body's storage is kept).
    public mutating func reset() {
        body.removeAll(keepingCapacity: true)
        body.append(contentsOf: prefix)
        count = 0
        size = 0
        sanitisedEvents = 0
        truncatedEvents = 0
    }

    /// Adds an event. Timestamps must not decrease (callers clamp them); `continued` marks a piece of a longer line.
    public mutating func append(timestamp: Int64, message: UnsafeRawBufferPointer, continued: Bool = false) throws(Refusal) {
        guard count < maxEvents else { throw .full }
        if count > 0, timestamp - firstTimestamp > CloudWatchLimits.maxSpanMilliseconds { throw .full }
        let rollback = body.count
        if count > 0 { body.append(0x2C) }
        body.append(contentsOf: Self.eventHead)
        appendDecimal(timestamp)
        body.append(contentsOf: Self.messageHead)
        let marker = continued ? Self.continuationMarker : []
        let limit = CloudWatchLimits.maxMessageBytes - marker.count
        let messageStart = body.count
        var (written, sanitised, cut) = Self.appendSanitised(message, limit: limit, into: &body)
        if cut {
            // Too long even for an event of its own: cut it shorter, leaving room for the marker.
            body.removeSubrange(messageStart...)
            (written, sanitised, _) = Self.appendSanitised(
                message, limit: CloudWatchLimits.maxMessageBytes - Self.truncationMarker.count, into: &body)
            body.append(contentsOf: Self.truncationMarker)
            written += Self.truncationMarker.count
        } else if continued {
            body.append(contentsOf: marker)
            written += marker.count
        }
        guard written > 0 else {
            body.removeSubrange(rollback...)
            throw .empty
        }
        let eventSize = written + CloudWatchLimits.perEventOverhead
        guard size + eventSize <= maxBytes else {
            body.removeSubrange(rollback...)
            throw .full
        }
        body.append(contentsOf: Self.eventTail)
        if count == 0 { firstTimestamp = timestamp }
        lastTimestamp = timestamp
        count += 1
        size += eventSize
        if sanitised { sanitisedEvents += 1 }
        if cut { truncatedEvents += 1 }
    }

    private static let eventHead: [UInt8] = Array(#"{"timestamp":"#.utf8)
    private static let messageHead: [UInt8] = Array(#","message":""#.utf8)
    private static let eventTail: [UInt8] = [0x22, 0x7D]

    private mutating func appendDecimal(_ value: Int64) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var remaining = value < 0 ? UInt64(-value) : UInt64(value)
        var length = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[19 - length] = UInt8(truncatingIfNeeded: remaining % 10) + 0x30
                remaining /= 10
                length += 1
            } while remaining > 0
            if value < 0 { body.append(0x2D) }
            body.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[(20 - length)...]))
        }
    }

    /// Writes the sanitised, escaped message; returns the sanitised UTF-8 byte count, whether anything was
    /// replaced, and whether it was cut at `limit` bytes (at a character boundary).
    static func appendSanitised(_ input: UnsafeRawBufferPointer, limit: Int, into out: inout [UInt8]) -> (Int, Bool, Bool) {
        guard let base = input.baseAddress else { return (0, false, false) }
        let count = input.count
        var index = 0
        var written = 0
        var sanitised = false
        var runStart = 0
        @inline(__always) func flushRun(_ end: Int) {
            if end > runStart { out.append(contentsOf: UnsafeRawBufferPointer(start: base + runStart, count: end - runStart)) }
        }
        while index < count {
            // Fast path: eight plain bytes (printable ASCII, no `"` or `\`) at a time.
            if index + 8 <= count, written + 8 <= limit {
                let word = base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                if isPlain(word) {
                    index += 8
                    written += 8
                    continue
                }
            }
            let byte = base.load(fromByteOffset: index, as: UInt8.self)
            if byte >= 0x20 && byte < 0x80 && byte != 0x22 && byte != 0x5C {
                guard written + 1 <= limit else { break }
                index += 1
                written += 1
                continue
            }
            if byte < 0x80 {
                flushRun(index)
                guard written + 1 <= limit || byte == 0 else { break }
                if byte == 0 {
                    guard written + 3 <= limit else { break }
                    out.append(contentsOf: replacement)
                    written += 3
                    sanitised = true
                } else {
                    JSONText.appendEscape(byte, to: &out)
                    written += 1
                }
                index += 1
                runStart = index
                continue
            }
            let length = validSequenceLength(base, index, count)
            if length > 0 {
                guard written + length <= limit else { break }
                index += length
                written += length
            } else {
                flushRun(index)
                guard written + 3 <= limit else { break }
                out.append(contentsOf: replacement)
                written += 3
                sanitised = true
                index += 1
                runStart = index
            }
        }
        flushRun(index)
        return (written, sanitised, index < count)
    }

    private static let replacement: [UInt8] = [0xEF, 0xBF, 0xBD]

    /// True when all eight bytes are in 0x20...0x7F and none is `"` or `\`.
    @inline(__always)
    static func isPlain(_ word: UInt64) -> Bool {
        let highBit: UInt64 = 0x8080_8080_8080_8080
        let ones: UInt64 = 0x0101_0101_0101_0101
        if word & highBit != 0 { return false }
        // Any byte below 0x20: subtracting 0x20 borrows into its high bit.
        if (word &- 0x2020_2020_2020_2020) & ~word & highBit != 0 { return false }
        let quote = word ^ 0x2222_2222_2222_2222
        if (quote &- ones) & ~quote & highBit != 0 { return false }
        let backslash = word ^ 0x5C5C_5C5C_5C5C_5C5C
        if (backslash &- ones) & ~backslash & highBit != 0 { return false }
        return true
    }

    /// The length (2–4) of a well-formed UTF-8 sequence starting at `index`, or 0 if it is not one
    /// (overlong forms, surrogates and values above U+10FFFF are rejected, as Unicode requires).
    @inline(__always)
    static func validSequenceLength(_ base: UnsafeRawPointer, _ index: Int, _ count: Int) -> Int {
        let lead = base.load(fromByteOffset: index, as: UInt8.self)
        func continuation(_ offset: Int) -> UInt8? {
            guard index + offset < count else { return nil }
            let byte = base.load(fromByteOffset: index + offset, as: UInt8.self)
            return byte & 0xC0 == 0x80 ? byte : nil
        }
        switch lead {
        case 0xC2...0xDF:
            return continuation(1) != nil ? 2 : 0
        case 0xE0...0xEF:
            guard let second = continuation(1), continuation(2) != nil else { return 0 }
            if lead == 0xE0 && second < 0xA0 { return 0 }
            if lead == 0xED && second > 0x9F { return 0 }
            return 3
        case 0xF0...0xF4:
            guard let second = continuation(1), continuation(2) != nil, continuation(3) != nil else { return 0 }
            if lead == 0xF0 && second < 0x90 { return 0 }
            if lead == 0xF4 && second > 0x8F { return 0 }
            return 4
        default:
            return 0
        }
    }
}
