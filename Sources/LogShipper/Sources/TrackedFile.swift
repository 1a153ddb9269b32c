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
    ///
    /// Read into a stack buffer and hex-encoded in one pass: a small file that is still growing is fingerprinted
    /// again after each read, so this sits on the tail path of every trickle-fed file.
    static func read(_ fd: Int32, length: Int = maxLength) -> Fingerprint? {
        withUnsafeTemporaryAllocation(byteCount: max(length, 1), alignment: 16) { buffer -> Fingerprint? in
            let count = pread(fd, buffer.baseAddress, length, 0)
            guard count >= 0 else { return nil }
            let digest = SHA256.hash(data: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            return Fingerprint(length: count, hash: hex(digest))
        }
    }

    /// Whether the file behind `fd` starts with the bytes this fingerprint was taken of.
    func matches(_ fd: Int32) -> Bool {
        guard let current = Fingerprint.read(fd, length: length), current.length == length else { return false }
        return current.hash == hash
    }

    private static let digits = Array("0123456789abcdef".utf8)

    private static func hex(_ digest: SHA256.Digest) -> String {
        String(unsafeUninitializedCapacity: SHA256.byteCount * 2) { out in
            var index = 0
            for byte in digest {
                out[index] = digits[Int(byte >> 4)]
                out[index + 1] = digits[Int(byte & 0x0F)]
                index += 2
            }
            return index
        }
    }
}

/// The sum of the backlogs of a source's files, kept up to date as each file's offsets move, so that reading it
/// (the status snapshot does, every loop turn) costs nothing however many files there are.
final class BacklogCounter {
    /// Bytes not yet accepted, over every file attached to this counter.
    var total: Int64 = 0
}

/// A file being tailed: its open descriptor (which keeps reading it after a rename or delete), how far it has
/// been read and how far CloudWatch has accepted it.
final class TrackedFile {
    let key: InputKey
    var path: String
    let fd: Int32
    var fingerprint: Fingerprint
    /// Bytes framed so far (the next read starts here).
    var readOffset: Int64 { didSet { backlogChanged() } }
    /// Bytes accepted by CloudWatch.
    var committedOffset: Int64 { didSet { backlogChanged() } }
    /// Incremented when the file is truncated, so acknowledgements for the old content don't move the new.
    var generation = 0
    /// The size last seen.
    var size: Int64 { didSet { backlogChanged() } }
    var framer = LineFramer()
    var multiline: MultilineJoiner?
    /// The path no longer names this file (renamed away or deleted): read to the end, then release.
    var detached = false
    /// Reading stopped at end of file (nothing to do until the file changes). Only `FileInput` sets it, together
    /// with its set of files to read.
    var atEnd = false
    /// When data last arrived.
    var lastGrowth: ContinuousClock.Instant
    /// Bytes punched out of the file after they were accepted (app output only).
    var punched: Int64 = 0
    /// On drain, read at least this far.
    var drainTarget: Int64?
    /// The source's running backlog total this file counts in (set while the file is tracked).
    var counter: BacklogCounter? {
        didSet {
            oldValue?.total -= backlog
            counter?.total += backlog
        }
    }

    init(key: InputKey, path: String, fd: Int32, fingerprint: Fingerprint, offset: Int64, size: Int64) {
        self.key = key
        self.path = path
        self.fd = fd
        self.fingerprint = fingerprint
        readOffset = offset
        committedOffset = offset
        self.size = size
        backlog = max(0, max(size, offset) - offset)
        lastGrowth = .now
    }

    deinit { close(fd) }

    /// Bytes of this file not accepted yet (read or not).
    private(set) var backlog: Int64

    private func backlogChanged() {
        let now = max(0, max(size, readOffset) - committedOffset)
        guard now != backlog else { return }
        counter?.total += now - backlog
        backlog = now
    }

    /// Whether an unfinished line or a multiline event is held back (waiting for more bytes, or for `flushHeld`).
    var isHolding: Bool { framer.pendingCount > 0 || !(multiline?.held.isEmpty ?? true) }

    /// Whether held-back data begins before the drain target: bytes written before the drain began that only a
    /// flush can hand out. (A held multiline event starts about `held.count + 1` bytes before its end.)
    var holdsBytesBeforeDrainTarget: Bool {
        guard let target = drainTarget, committedOffset < target else { return false }
        var start = readOffset - Int64(framer.pendingCount)
        if let multiline, !multiline.held.isEmpty {
            start = min(start, multiline.heldEnd - Int64(multiline.held.count) - 1)
        }
        return isHolding && start < target
    }

    /// The checkpoint entry of this file.
    func checkpoint() -> SourceCheckpoint.File? {
        guard case .file(let device, let inode) = key else { return nil }
        return SourceCheckpoint.File(
            path: path, device: device, inode: inode, fingerprint: fingerprint.hash,
            fingerprintLength: fingerprint.length,
            offset: committedOffset, size: max(size, committedOffset))
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
