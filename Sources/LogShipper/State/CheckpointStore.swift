import AWSCore
import FoundationEssentials
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Saves checkpoints atomically (temp file, fsync, rename) on a thread of its own.
///
/// Saves are coalesced: while one is being written, newer states of the same source replace each other, and the
/// next write carries the latest. So at any throughput the on-disk checkpoint trails the accepted data by at most
/// the batches accepted during one write, and the shipper never waits for the disk.
///
/// The directory is fsynced (which makes the renames themselves durable) at most once a second while writes
/// follow each other, and always before the writer goes idle and before `flush()` returns. A process that dies
/// (`kill -9`) loses nothing either way: the kernel has the renamed file. Only a machine crash can undo the renames
/// of the last second (the checkpoint is then up to a second older, never ahead of what was accepted), and that
/// saves one fsync, a journal commit and a device flush per accepted batch.
public final class CheckpointStore: Sendable {
    private struct Shared {
        var dirty: [String: SourceCheckpoint] = [:]
        var writing = false
        /// Files were renamed since the directory was last synced.
        var directoryUnsynced = false
        var stopped = false
        var flushWaiters: [CheckedContinuation<Void, Never>] = []
        var errors: [String: String] = [:]
    }

    /// `state_dir/checkpoints`.
    public let directory: String
    private let shared = Mutex(Shared())
    private let signal = WakeSignal()

    /// Opens the store (creating the directory, mode 0700) and starts its writer thread.
    public init(directory: String) throws {
        self.directory = directory
        try makeDirectory(directory)
        DedicatedThread.start(name: "checkpoints") { [self] in run() }
    }

    /// The saved checkpoint of a source, if any.
    /// - Throws: when the file exists but can't be read or parsed (the caller decides; it is never silently ignored).
    public func load(source: String) throws -> SourceCheckpoint? {
        let path = file(source)
        guard let data = try readFile(path) else { return nil }
        do {
            return try JSONDecoder().decode(SourceCheckpoint.self, from: Data(data))
        } catch {
            throw ShipperError(
                message: "the checkpoint \(path) is corrupt (\(error)); move it aside to start this source over")
        }
    }

    /// Queues a save (returns at once).
    public func save(source: String, _ checkpoint: SourceCheckpoint) {
        shared.withLock { $0.dirty[source] = checkpoint }
        signal.notify()
    }

    /// Waits until everything queued so far is on disk.
    public func flush() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let done = shared.withLock { state -> Bool in
                if state.dirty.isEmpty && !state.writing && !state.directoryUnsynced { return true }
                state.flushWaiters.append(waiter)
                return false
            }
            if done { waiter.resume() } else { signal.notify() }
        }
    }

    /// The last write error per source (for status), if the latest write failed.
    public var writeErrors: [String: String] { shared.withLock { $0.errors } }

    /// Stops the writer thread after writing what is queued.
    public func stop() {
        shared.withLock { $0.stopped = true }
        signal.notify()
    }

    func file(_ source: String) -> String { "\(directory)/\(source).json" }

    /// The longest a rename waits for its directory fsync while writes follow each other.
    static let directorySyncInterval: Duration = .seconds(1)

    private func run() {
        var lastDirectorySync = ContinuousClock.now
        while true {
            let (batch, stop, unsynced): ([String: SourceCheckpoint], Bool, Bool) = shared.withLock { state in
                let taken = state.dirty
                state.dirty.removeAll()
                state.writing = !taken.isEmpty
                return (taken, state.stopped, state.directoryUnsynced)
            }
            if batch.isEmpty {
                if unsynced {
                    // Going idle (or asked to flush): make the last renames durable first.
                    syncDirectory(directory)
                    lastDirectorySync = .now
                    shared.withLock { $0.directoryUnsynced = false }
                }
                let waiters = shared.withLock { state -> [CheckedContinuation<Void, Never>] in
                    guard state.dirty.isEmpty else { return [] }
                    let waiting = state.flushWaiters
                    state.flushWaiters.removeAll()
                    return waiting
                }
                for waiter in waiters { waiter.resume() }
                if stop { return }
                signal.wait()
                continue
            }
            for (source, checkpoint) in batch {
                do {
                    try writeAtomically(file(source), checkpoint.encodedJSON(), syncDirectory: false)
                    shared.withLock {
                        _ = $0.errors.removeValue(forKey: source)
                        $0.directoryUnsynced = true
                    }
                } catch {
                    shared.withLock { $0.errors[source] = "\(error)" }
                }
            }
            let now = ContinuousClock.now
            if now - lastDirectorySync >= Self.directorySyncInterval {
                shared.withLock { $0.directoryUnsynced = false }
                syncDirectory(directory)
                lastDirectorySync = now
            }
            shared.withLock { $0.writing = false }
        }
    }
}

/// Creates a directory and its parents, owner-only.
func makeDirectory(_ path: String) throws {
    var current = ""
    for component in path.split(separator: "/") {
        current += "/" + component
        if mkdir(current, 0o700) != 0, errno != EEXIST {
            throw ShipperError(message: "cannot create \(current)", errno: errno)
        }
    }
}

/// Reads a whole file; nil if it doesn't exist.
func readFile(_ path: String) throws -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
        if errno == ENOENT { return nil }
        throw ShipperError(message: "cannot open \(path)", errno: errno)
    }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = read(fd, &buffer, buffer.count)
        if count < 0 {
            if errno == EINTR { continue }
            throw ShipperError(message: "cannot read \(path)", errno: errno)
        }
        if count == 0 { return bytes }
        bytes.append(contentsOf: buffer[0..<count])
    }
}

/// Temp file, fsync, rename, fsync of the directory (unless the caller syncs it itself, `syncDirectory: false`):
/// after a crash the file is the old or the new one, whole.
func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o600, syncDirectory sync: Bool = true) throws {
    let temporary = path + ".tmp"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else { throw ShipperError(message: "cannot create \(temporary)", errno: errno) }
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if written < 0 {
            if errno == EINTR { continue }
            let code = errno
            close(fd)
            throw ShipperError(message: "cannot write \(temporary)", errno: code)
        }
        offset += written
    }
    guard fsync(fd) == 0 else {
        let code = errno
        close(fd)
        throw ShipperError(message: "cannot fsync \(temporary)", errno: code)
    }
    close(fd)
    guard rename(temporary, path) == 0 else { throw ShipperError(message: "cannot rename \(temporary)", errno: errno) }
    if sync { syncDirectory(String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])) }
}

/// fsync of a directory: makes the renames in it durable.
func syncDirectory(_ directory: String) {
    let fd = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { return }
    fsync(fd)
    close(fd)
}
