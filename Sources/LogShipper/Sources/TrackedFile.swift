import Crypto

#if canImport(Glibc)
    import Glibc
#endif

/// The first bytes of a file, hashed: with device and inode, the file's identity across renames, and the way a
/// reused inode (new file, same number) is told apart from the file the checkpoint was about.
struct Fingerprint: Equatable, Sendable {
    /// How many leading bytes are hashed (at most `Fingerprint.maxLength`).
    var length: Int
    /// Hex SHA-256 of those bytes.
    var hash: String

    static let maxLength = 1024

    /// The fingerprint of the first `length` bytes (or fewer, if the file is shorter).
    static func read(_ fd: Int32, length: Int = maxLength) -> Fingerprint? {
        var buffer = [UInt8](repeating: 0, count: length)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, 0) }
        guard count >= 0 else { return nil }
        return Fingerprint(length: count, hash: SHA256.hash(data: buffer[0..<count]).map { String($0, radix: 16).leftPadded(2) }.joined())
    }

    /// Whether the file behind `fd` starts with the bytes this fingerprint was taken of.
    func matches(_ fd: Int32) -> Bool {
        guard let current = Fingerprint.read(fd, length: length), current.length == length else { return false }
        return current.hash == hash
    }
}

/// A file being tailed: its open descriptor (which keeps reading it after a rename or delete), how far it has
/// been read and how far CloudWatch has accepted it.
final class TrackedFile {
    let key: InputKey
    var path: String
    let fd: Int32
    var fingerprint: Fingerprint
    /// Bytes framed so far (the next read starts here).
    var readOffset: Int64
    /// Bytes accepted by CloudWatch.
    var committedOffset: Int64
    /// Incremented when the file is truncated, so acknowledgements for the old content don't move the new.
    var generation = 0
    /// The size last seen.
    var size: Int64
    var framer = LineFramer()
    var multiline: MultilineJoiner?
    /// The path no longer names this file (renamed away or deleted): read to the end, then release.
    var detached = false
    /// Reading stopped at end of file (nothing to do until the file changes).
    var atEnd = false
    /// When data last arrived.
    var lastGrowth: ContinuousClock.Instant
    /// Bytes punched out of the file after they were accepted (app output only).
    var punched: Int64 = 0
    /// On drain, read at least this far.
    var drainTarget: Int64?

    init(key: InputKey, path: String, fd: Int32, fingerprint: Fingerprint, offset: Int64, size: Int64) {
        self.key = key
        self.path = path
        self.fd = fd
        self.fingerprint = fingerprint
        readOffset = offset
        committedOffset = offset
        self.size = size
        lastGrowth = .now
    }

    deinit { close(fd) }

    /// The checkpoint entry of this file.
    func checkpoint() -> SourceCheckpoint.File? {
        guard case .file(let device, let inode) = key else { return nil }
        return SourceCheckpoint.File(
            path: path, device: device, inode: inode, fingerprint: fingerprint.hash, fingerprintLength: fingerprint.length,
            offset: committedOffset, size: max(size, committedOffset))
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// Joins continuation lines to the line that starts an event (`multiline_start`): a Java stack trace, say, is
/// one event. The event is held until the next start line, or until no line arrived for the flush interval.
struct MultilineJoiner {
    let start: Regex<AnyRegexOutput>
    /// The event being collected, and where it ends in the file.
    var held: [UInt8] = []
    var heldEnd: Int64 = 0
    var heldSince: ContinuousClock.Instant?

    init(start: Regex<AnyRegexOutput>) { self.start = start }

    /// Whether a line starts a new event.
    func isStart(_ line: UnsafeRawBufferPointer) -> Bool {
        let text = String(decoding: line, as: UTF8.self)
        return (try? start.prefixMatch(in: text)) != nil
    }
}
