import AWSCore

#if canImport(Glibc)
    import Glibc
#endif

/// Builds one PutLogEvents request body while events arrive, enforcing every limit as it goes.
///
/// Each event is validated, sanitised and JSON-escaped in a single pass straight into the body (`MessageEscaper`),
/// and sizes are counted as CloudWatch counts them (UTF-8 bytes of the sanitised message + 26).
///
/// The body lives in a byte array with room to spare: events are written into it through one scoped pointer per
/// event (no per-piece `append`), the event head `,{"timestamp":<ms>,"message":"` is formatted once per
/// timestamp (all lines of one read share it), and `seal()` closes the JSON in place and hands the array out without
/// copying it. The shipper gives it back after delivery (`recycle(_:)`), and the next batch is built in it, so a
/// steady stream of batches allocates nothing and faults in no fresh pages. A body is only written to while no one
/// else holds it (were it still shared, Swift's copy-on-write would copy it: slower, never wrong).
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

    /// JSON bytes an event can add besides its escaped message: `,{"timestamp":<20 digits and a sign>,"message":"`,
    /// the longer marker and `"}`, rounded up; plus the escaper's overshoot and the closing `]}`.
    static let eventReserve = 128 + MessageEscaper.overshoot + 2

    /// The body capacity that holds any batch of plain ASCII: 1 MiB of counted bytes plus at most 10,000 event
    /// heads of 15 JSON bytes more than the 26 CloudWatch counts, the header and the reserve, rounded up.
    public static let standardCapacity = 1_310_720

    private let prefix: [UInt8]
    /// The body; only the first `length` bytes are meaningful, the rest up to `storage.count` is room to write in
    /// (`count` grows towards `capacity` only when an event needs the room, so reused storage is not zero-filled).
    private var storage: [UInt8]
    /// Bytes of the body so far (without the closing `]}`).
    public private(set) var length: Int
    /// Events in the batch.
    public private(set) var count = 0
    /// Σ (message bytes + 26), as CloudWatch counts it.
    public private(set) var size = 0
    /// The first event's timestamp.
    public private(set) var firstTimestamp: Int64 = 0
    /// The last event's timestamp.
    public private(set) var lastTimestamp: Int64 = 0
    /// Events whose message had invalid UTF-8 or NUL replaced.
    public private(set) var sanitisedEvents = 0
    /// Events cut at the size limit.
    public private(set) var truncatedEvents = 0
    private let maxBytes: Int
    private let maxEvents: Int
    /// The event head of the last timestamp, with its leading comma.
    private var head = EventHead(timestamp: 0)
    /// Bodies given back after delivery, for the next batches.
    private var pool: BodyPool

    /// Starts an empty batch for a stream; up to `spareBodies` delivered bodies are kept for reuse.
    public init(
        group: String, stream: String, maxBytes: Int = CloudWatchLimits.maxBatchBytes,
        maxEvents: Int = CloudWatchLimits.maxEvents,
        spareBodies: Int = 0
    ) {
        var prefix: [UInt8] = Array(#"{"logGroupName":"#.utf8)
        JSONText.appendQuoted(group, to: &prefix)
        prefix.append(contentsOf: Array(#","logStreamName":"#.utf8))
        JSONText.appendQuoted(stream, to: &prefix)
        prefix.append(contentsOf: Array(#","logEvents":["#.utf8))
        self.prefix = prefix
        self.maxBytes = maxBytes
        self.maxEvents = maxEvents
        pool = BodyPool(limit: spareBodies)
        storage = Self.makeStorage(capacity: max(Self.standardCapacity, prefix.count + Self.eventReserve))
        length = 0
        start()
    }

    /// Whether the batch has no events.
    public var isEmpty: Bool { count == 0 }

    /// The body's capacity (for tests and the pool).
    public var capacity: Int { storage.capacity }

    /// The body so far, without the closing `]}` (a copy; for tests).
    public var body: [UInt8] { Array(storage[0..<length]) }

    /// The complete request body (a copy; for tests — the shipper uses `seal()`).
    public var requestBody: [UInt8] { body + [0x5D, 0x7D] }

    /// Closes the JSON in place and hands the body out (no copy); the builder starts over, empty, in a spare body
    /// (or in fresh storage).
    public mutating func seal() -> [UInt8] {
        storage[length] = 0x5D
        storage[length + 1] = 0x7D
        var sealed = pool.take() ?? Self.makeStorage(capacity: Self.standardCapacity)
        swap(&sealed, &storage)
        // O(1): only the count changes, the storage stays where it is.
        sealed.removeLast(sealed.count - (length + 2))
        start()
        return sealed
    }

    /// Takes a delivered body back for a later batch (pass the last reference: the body is written to when reused).
    public mutating func recycle(_ body: consuming [UInt8]) { pool.recycle(body) }

    /// Spare bodies held for reuse.
    public var spareBodies: Int { pool.count }

    /// Lets go of spare bodies beyond `keep` (when shipping has gone quiet).
    public mutating func trimSpareBodies(keeping keep: Int) { pool.trim(keeping: keep) }

    /// Lets go of every spare body and, while the batch is empty, of its own storage too: a source that has gone
    /// quiet holds no body memory. The next event gets fresh storage, whose pages are touched only as it fills.
    public mutating func releaseMemory() {
        pool.trim(keeping: 0)
        guard isEmpty, storage.capacity >= Self.standardCapacity else { return }
        storage = Self.makeStorage(capacity: prefix.count + Self.eventReserve)
        start()
    }

    /// Empties the batch for reuse (the body's storage is kept).
    public mutating func reset() { start() }

    private mutating func start() {
        // A body back from delivery is as long as its last batch, which is room enough for the header.
        let minimum = prefix.count + Self.eventReserve
        if storage.count < minimum { makeRoom(for: minimum) }
        storage.withUnsafeMutableBytes { raw in
            prefix.withUnsafeBytes { raw.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        length = prefix.count
        count = 0
        size = 0
        sanitisedEvents = 0
        truncatedEvents = 0
    }

    /// Adds an event. Timestamps must not decrease (callers clamp them); `continued` marks a piece of a longer line.
    public mutating func append(
        timestamp: Int64, message: UnsafeRawBufferPointer, continued: Bool = false
    ) throws(Refusal) {
        guard count < maxEvents else { throw .full }
        if count > 0, timestamp - firstTimestamp > CloudWatchLimits.maxSpanMilliseconds { throw .full }
        let needed = length + Self.eventReserve + MessageEscaper.maxExpansion * message.count
        if needed > storage.count { makeRoom(for: needed) }
        if timestamp != head.timestamp { head = EventHead(timestamp: timestamp) }
        let write = Self.writeEvent(
            into: &storage, at: length, head: head, first: count == 0, message: message, continued: continued)
        guard write.counted > 0 else { throw .empty }
        let eventSize = write.counted + CloudWatchLimits.perEventOverhead
        guard size + eventSize <= maxBytes else { throw .full }
        length += write.output
        if count == 0 { firstTimestamp = timestamp }
        lastTimestamp = timestamp
        count += 1
        size += eventSize
        if write.replaced { sanitisedEvents += 1 }
        if write.cut { truncatedEvents += 1 }
    }

    /// What writing one event did (nothing counts until `append` commits it by moving `length`).
    private struct EventWrite {
        var output: Int
        var counted: Int
        var replaced: Bool
        var cut: Bool
    }

    /// Writes head, message, marker and tail at `offset`; the caller made room.
    private static func writeEvent(
        into storage: inout [UInt8], at offset: Int, head: EventHead, first: Bool, message: UnsafeRawBufferPointer,
        continued: Bool
    ) -> EventWrite {
        storage.withUnsafeMutableBytes { raw -> EventWrite in
            let base = raw.baseAddress! + offset
            var position = head.store(to: base, withComma: !first)
            let markerLength = continued ? continuationMarker.count : 0
            var written = MessageEscaper.write(
                message, limit: CloudWatchLimits.maxMessageBytes - markerLength, to: base + position)
            var cut = false
            if !written.complete {
                // Too long even for an event of its own: cut it shorter, leaving room for the marker.
                cut = true
                written = MessageEscaper.write(
                    message, limit: CloudWatchLimits.maxMessageBytes - truncationMarker.count, to: base + position)
                position += written.output
                position += store(truncationMarker, to: base + position)
                written.counted += truncationMarker.count
            } else {
                position += written.output
                if continued {
                    position += store(continuationMarker, to: base + position)
                    written.counted += continuationMarker.count
                }
            }
            guard written.counted > 0 else { return EventWrite(output: 0, counted: 0, replaced: false, cut: false) }
            base.storeBytes(of: 0x22, toByteOffset: position, as: UInt8.self)
            base.storeBytes(of: 0x7D, toByteOffset: position + 1, as: UInt8.self)
            return EventWrite(output: position + 2, counted: written.counted, replaced: written.replaced, cut: cut)
        }
    }

    private static func store(_ bytes: [UInt8], to destination: UnsafeMutableRawPointer) -> Int {
        bytes.withUnsafeBytes { destination.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return bytes.count
    }

    /// Makes `storage.count` at least `needed`: within the capacity by zero-filling (in steps of 64 KiB, at most to
    /// the capacity), beyond it by moving the body to larger storage (a long line that may expand when escaped).
    private mutating func makeRoom(for needed: Int) {
        if needed <= storage.capacity {
            let target = min(storage.capacity, max(needed, storage.count + 65_536))
            storage.append(contentsOf: repeatElement(0, count: target - storage.count))
        } else {
            grow(to: needed)
        }
    }

    /// Moves the body to storage of at least `minimum` bytes (and at least the standard capacity), whose unused
    /// part is never zero-filled.
    private mutating func grow(to minimum: Int) {
        let capacity = max(minimum, storage.capacity * 2, Self.standardCapacity)
        let used = length
        let grown = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
            storage.withUnsafeBytes { old in
                UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: old.baseAddress!, byteCount: used)
            }
            // The rest is scratch space: written before it is read, never zero-filled (its pages stay untouched).
            initialized = capacity
        }
        storage = grown
    }

    /// Fresh storage whose pages are not touched until events are written to them.
    static func makeStorage(capacity: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: capacity) { _, initialized in initialized = capacity }
    }
}

/// `,{"timestamp":<ms>,"message":"` for one timestamp (at most 46 bytes), kept in six words so that writing it is
/// six stores.
struct EventHead: Sendable {
    /// The timestamp the head is for.
    let timestamp: Int64
    /// Bytes of the head with its leading comma.
    let length: Int
    private var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)

    /// Formats the head of `timestamp`.
    init(timestamp: Int64) {
        self.timestamp = timestamp
        var bytes: [UInt8] = Array(#",{"timestamp":"#.utf8)
        if timestamp < 0 { bytes.append(0x2D) }
        bytes.append(contentsOf: Array(String(timestamp.magnitude).utf8))
        bytes.append(contentsOf: Array(#","message":""#.utf8))
        length = bytes.count
        var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &words) { raw in
            bytes.withUnsafeBytes { raw.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        self.words = words
    }

    /// Stores the head at `destination` (which has 48 bytes of room); returns the bytes that count.
    @inline(__always)
    func store(to destination: UnsafeMutableRawPointer, withComma: Bool) -> Int {
        if withComma {
            destination.storeBytes(of: words.0, toByteOffset: 0, as: UInt64.self)
            destination.storeBytes(of: words.1, toByteOffset: 8, as: UInt64.self)
            destination.storeBytes(of: words.2, toByteOffset: 16, as: UInt64.self)
            destination.storeBytes(of: words.3, toByteOffset: 24, as: UInt64.self)
            destination.storeBytes(of: words.4, toByteOffset: 32, as: UInt64.self)
            destination.storeBytes(of: words.5, toByteOffset: 40, as: UInt64.self)
            return length
        }
        withUnsafeBytes(of: words) { destination.copyMemory(from: $0.baseAddress! + 1, byteCount: length - 1) }
        return length - 1
    }
}
