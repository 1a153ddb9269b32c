import CLinux
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The files of one `file` source (a path or glob) or the app's output file, tailed with no loss across
/// rotation.
///
/// - Identity is device + inode + a fingerprint of the first bytes, never the name: a file renamed by rotation
///   (also while the agent was stopped) is found again and read to its end; a new file at the old name starts at 0;
///   a reused inode with different first bytes is a new file.
/// - copytruncate: when a file shrinks under the reader, the copy is looked for in the same directory (same first
///   bytes, at least as long as what was read) and the rest is read from the copy.
/// - Deleted or renamed-away files stay open until everything in them was accepted, then are released.
/// - What can't be recovered (a checkpointed file gone while the agent was stopped) is reported with the number
///   of bytes lost.
///
/// Cost stays flat as files are added: a change event finds its file through a path index, a loop turn visits
/// only the files that changed (`readable`), hold data (`holding`) or were rotated away (`detachedKeys`), and
/// the backlog is a running total. Files are opened with `O_NOATIME` (no inode write per read), and the soft
/// descriptor limit is raised towards the hard one before tailed and rotated-away files could use it up.
final class FileInput {
    /// The pattern: an absolute path whose last component (and directories) may contain `*`, `?`, `[...]`.
    let pattern: String
    let source: String
    private let multilineStart: Regex<AnyRegexOutput>?
    private let punchHoles: Bool
    private let logger: Logger
    private(set) var files: [InputKey: TrackedFile] = [:]
    /// Loss and error reports for status.
    private(set) var lostBytes: Int64 = 0
    private(set) var lastError: String?
    private var reportedErrors: Set<String> = []
    /// Copies found after copytruncate: acknowledgements of (file, generation) now belong to the copy.
    private var redirects: [RedirectKey: InputKey] = [:]
    /// The file each known path names (attached files, and rotated files whose new name was seen).
    private var byPath: [String: InputKey] = [:]
    /// Files that may have data to read (not at their end).
    private var readable: Set<InputKey> = []
    /// Files holding back a partial line or a multiline event.
    private var holding: Set<InputKey> = []
    /// Files whose path no longer names them.
    private var detachedKeys: Set<InputKey> = []
    /// Names matching the pattern that were renamed away before this input opened them, by inotify rename cookie:
    /// the file is read under its new name (a file created and rotated between two loop turns would be lost).
    private var movedBeforeOpened: [UInt32: String] = [:]
    private let backlogCounter = BacklogCounter()
    private var cachedPositions: [String]?

    private struct RedirectKey: Hashable {
        var key: InputKey
        var generation: Int
    }

    /// How long a detached file must stay unchanged at its end before it is released.
    static let releaseAfter: Duration = .seconds(5)
    /// Bytes of accepted app output kept before punching a hole (app source only).
    static let punchGranularity: Int64 = 1 << 20

    init(source: String, pattern: String, multilineStart: String?, punchHoles: Bool, logger: Logger) throws {
        self.source = source
        self.pattern = pattern
        self.punchHoles = punchHoles
        self.logger = logger
        if let pattern = multilineStart {
            do {
                self.multilineStart = try Regex(pattern)
            } catch {
                throw ShipperError(
                    message: "logs source \(source): multiline_start is not a valid regular expression: \(error)")
            }
        } else {
            self.multilineStart = nil
        }
    }

    /// The directories to watch (the pattern's parent directories that exist now).
    var directories: [String] {
        let parent = Self.parent(of: pattern)
        return Self.hasWildcard(parent) ? Self.glob(parent).filter(Self.isDirectory) : [parent]
    }

    /// Whether a name in a watched directory belongs to this input.
    func matches(directory: String, name: String) -> Bool {
        let full = directory + "/" + name
        return fnmatch(pattern, full, FNM_PATHNAME) == 0
    }

    // MARK: - Start-up

    /// Opens the files the pattern matches now and reconciles them with the checkpoint.
    func start(checkpoint: SourceCheckpoint?) {
        var remembered: [InputKey: SourceCheckpoint.File] = [:]
        for entry in checkpoint?.files ?? [] { remembered[.file(device: entry.device, inode: entry.inode)] = entry }
        for path in currentPaths() {
            guard let (fd, info) = openFile(path) else { continue }
            let key = InputKey.file(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
            let size = Int64(info.st_size)
            var offset: Int64 = 0
            var fingerprint = Fingerprint.read(fd) ?? Fingerprint(length: 0, hash: "")
            if let entry = remembered.removeValue(forKey: key) {
                let stored = Fingerprint(length: entry.fingerprintLength, hash: entry.fingerprint)
                if stored.matches(fd) {
                    fingerprint = stored
                    if size >= entry.offset {
                        offset = entry.offset
                    } else {
                        // Truncated while the agent was stopped (copytruncate): the rest is in the copy, if any.
                        recoverFromCopy(of: entry, directory: Self.parent(of: path), excluding: key)
                    }
                } else {
                    reportLoss(
                        entry,
                        reason: "its inode now holds a different file (deleted and reused while the agent was stopped)")
                }
            }
            track(TrackedFile(key: key, path: path, fd: fd, fingerprint: fingerprint, offset: offset, size: size))
        }
        // Checkpointed files no longer at their path: renamed by rotation (read the rest) or gone (report).
        for entry in remembered.values.sorted(by: { $0.path < $1.path }) {
            if !findRenamed(entry) {
                reportLoss(entry, reason: "it was rotated away or deleted while the agent was stopped")
            }
        }
    }

    private func findRenamed(_ entry: SourceCheckpoint.File) -> Bool {
        let directory = Self.parent(of: entry.path)
        for name in Self.list(directory) {
            let path = directory + "/" + name
            var info = stat()
            guard stat(path, &info) == 0, UInt64(info.st_dev) == entry.device, UInt64(info.st_ino) == entry.inode,
                info.st_mode & S_IFMT == S_IFREG
            else { continue }
            guard let (fd, _) = openFile(path) else { return false }
            let stored = Fingerprint(length: entry.fingerprintLength, hash: entry.fingerprint)
            guard stored.matches(fd) else {
                close(fd)
                return false
            }
            let file = TrackedFile(
                key: .file(device: entry.device, inode: entry.inode), path: path, fd: fd, fingerprint: stored,
                offset: min(entry.offset, Int64(info.st_size)), size: Int64(info.st_size))
            file.detached = true
            track(file)
            logger.info(
                "found a rotated file by its identity; shipping the rest",
                metadata: [
                    "logs.source": "\(source)", "file.path": "\(path)", "file.was": "\(entry.path)",
                    "file.offset": "\(entry.offset)",
                ])
            return true
        }
        return false
    }

    private func reportLoss(_ entry: SourceCheckpoint.File, reason: String) {
        // The checkpoint knows the file's size when it was last written: at least that much is gone; anything
        // written after it can't be counted.
        let known = max(0, entry.size - entry.offset)
        lostBytes += known
        let amount = known > 0 ? "at least \(known) bytes" : "any bytes written after the last checkpoint"
        let message = "\(entry.path): \(amount) after offset \(entry.offset) could not be shipped: \(reason)"
        lastError = message
        logger.error(
            "log data lost",
            metadata: [
                "logs.source": "\(source)", "file.path": "\(entry.path)", "file.offset": "\(entry.offset)",
                "logs.lost_bytes": "\(known)", "logs.reason": "\(reason)",
            ])
    }

    // MARK: - Changes

    /// A watched directory reported a change to `name` (created, moved, deleted, modified, attributes).
    ///
    /// O(1) in the number of files: the path index finds the file the name stands for; one `stat` tells whether
    /// the name still names it. A name not in the index is a new file (if it matches the pattern) or a rotated
    /// file under its new name (then it is indexed under that name and read).
    func changed(directory: String, name: String, movedFrom: Bool = false, movedTo: Bool = false, cookie: UInt32 = 0) {
        let path = directory + "/" + name
        if movedFrom, byPath[path] == nil, matches(directory: directory, name: name) {
            if movedBeforeOpened.count >= Self.pendingMovesLimit { movedBeforeOpened.removeAll() }
            movedBeforeOpened[cookie] = path
        }
        if movedTo, let from = movedBeforeOpened.removeValue(forKey: cookie), !matches(directory: directory, name: name)
        {
            openRenamed(from: from, to: path)
            return
        }
        // A name this input knows nothing about, in a directory with no rotated file to look for: not ours.
        if byPath[path] == nil, detachedKeys.isEmpty, !matches(directory: directory, name: name) { return }
        var info = stat()
        let exists = stat(path, &info) == 0
        let current = exists ? InputKey.file(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)) : nil
        if let key = byPath[path], let file = files[key] {
            if current == key {
                wake(file)
                return
            }
            byPath.removeValue(forKey: path)
            if !file.detached { detach(file, reason: "renamed or deleted") }
        }
        guard let current else { return }
        if let existing = files[current] {
            // A rotated file seen under its new name: read what was written to it since.
            if existing.detached {
                rename(existing, to: path)
                wake(existing)
            }
            return
        }
        if matches(directory: directory, name: name) { open(path) }
    }

    /// Looks at everything again (periodically, and after an inotify overflow).
    func rescan() {
        for file in Array(files.values) where !file.detached {
            var info = stat()
            if stat(file.path, &info) != 0
                || InputKey.file(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)) != file.key
            {
                if byPath[file.path] == file.key { byPath.removeValue(forKey: file.path) }
                detach(file, reason: "renamed or deleted")
            }
        }
        for file in files.values { wake(file) }
        for path in currentPaths() { open(path) }
    }

    private func detach(_ file: TrackedFile, reason: String) {
        file.detached = true
        detachedKeys.insert(file.key)
        wake(file)
        logger.info(
            "file rotated; reading it to its end",
            metadata: [
                "logs.source": "\(source)", "file.path": "\(file.path)", "file.reason": "\(reason)",
                "file.offset": "\(file.readOffset)",
            ])
    }

    /// Records a file's new name.
    private func rename(_ file: TrackedFile, to path: String) {
        guard file.path != path else {
            byPath[path] = file.key
            return
        }
        if byPath[file.path] == file.key { byPath.removeValue(forKey: file.path) }
        file.path = path
        byPath[path] = file.key
        cachedPositions = nil
    }

    /// The file may have data: read it on the next pump.
    private func wake(_ file: TrackedFile) {
        file.atEnd = false
        readable.insert(file.key)
    }

    /// Reading reached the end of the file.
    private func rest(_ file: TrackedFile) {
        file.atEnd = true
        readable.remove(file.key)
    }

    private func noteHolding(_ file: TrackedFile) {
        if file.isHolding { holding.insert(file.key) } else { holding.remove(file.key) }
    }

    /// How many unmatched renames are remembered (the second half of a rename comes in the same read of events).
    private static let pendingMovesLimit = 1024

    /// A file matching the pattern was renamed to `path` before it was opened: read it to its end under its new
    /// name, as a rotated file, then release it.
    private func openRenamed(from: String, to path: String) {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return }
        let key = InputKey.file(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        guard files[key] == nil, let (fd, opened) = openFile(path) else { return }
        guard InputKey.file(device: UInt64(opened.st_dev), inode: UInt64(opened.st_ino)) == key else {
            close(fd)
            return
        }
        let file = TrackedFile(
            key: key, path: path, fd: fd, fingerprint: Fingerprint.read(fd) ?? Fingerprint(length: 0, hash: ""),
            offset: 0, size: Int64(opened.st_size))
        file.detached = true
        track(file)
        logger.info(
            "reading a file renamed before it was opened",
            metadata: ["logs.source": "\(source)", "file.path": "\(path)", "file.was": "\(from)"])
    }

    /// Starts tailing a path if it is a file not tracked yet.
    private func open(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return }
        let key = InputKey.file(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        if let existing = files[key] {
            if existing.detached { rename(existing, to: path) }
            return
        }
        guard let (fd, opened) = openFile(path) else { return }
        let openedKey = InputKey.file(device: UInt64(opened.st_dev), inode: UInt64(opened.st_ino))
        guard files[openedKey] == nil else {
            close(fd)
            return
        }
        let file = TrackedFile(
            key: openedKey, path: path, fd: fd, fingerprint: Fingerprint.read(fd) ?? Fingerprint(length: 0, hash: ""),
            offset: 0, size: Int64(opened.st_size))
        track(file)
        logger.info("tailing a new file", metadata: ["logs.source": "\(source)", "file.path": "\(path)"])
    }

    private func track(_ file: TrackedFile) {
        if files[file.key] != nil { untrack(file.key) }
        if let multilineStart { file.multiline = MultilineJoiner(start: multilineStart) }
        files[file.key] = file
        file.counter = backlogCounter
        if file.detached { detachedKeys.insert(file.key) }
        if !file.detached || byPath[file.path] == nil { byPath[file.path] = file.key }
        wake(file)
        cachedPositions = nil
        DescriptorLimit.opened(logger: logger)
    }

    /// Stops tracking a file (its descriptor closes when the last reference goes).
    private func untrack(_ key: InputKey) {
        guard let file = files.removeValue(forKey: key) else { return }
        DescriptorLimit.closed()
        cachedPositions = nil
        file.counter = nil
        if byPath[file.path] == key { byPath.removeValue(forKey: file.path) }
        readable.remove(key)
        holding.remove(key)
        detachedKeys.remove(key)
        redirects = redirects.filter { $0.value != key && $0.key.key != key }
    }

    /// `O_NOATIME`: reads don't update the file's access time, which would dirty its inode on every read of a
    /// tailed file. Allowed only for the file's owner (or with CAP_FOWNER); `openFile` retries without it.
    /// The value is Linux's (the same on every architecture Swift runs on); Swift's Glibc module hides it.
    private static let noAccessTime: Int32 = 0o1_000_000

    private func openFile(_ path: String) -> (Int32, stat)? {
        let flags = (punchHoles ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK
        var fd = Glibc.open(path, flags | Self.noAccessTime)
        if fd < 0, errno == EPERM { fd = Glibc.open(path, flags) }
        guard fd >= 0 else {
            let code = errno
            if code != ENOENT { reportOnce(path, "cannot open \(path): \(String(cString: strerror(code)))") }
            return nil
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            return nil
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            reportOnce(path, "\(path) is not a regular file; skipping it")
            return nil
        }
        reportedErrors.remove(path)
        return (fd, info)
    }

    private func reportOnce(_ path: String, _ message: String) {
        lastError = message
        guard reportedErrors.insert(path).inserted else { return }
        logger.error(
            "cannot read a log file",
            metadata: ["logs.source": "\(source)", "file.path": "\(path)", "error": "\(message)"])
    }

    // MARK: - Reading

    /// Reads from files with data (at most `chunks` × `buffer.count` bytes in all); events go to `emit`.
    /// Returns true when there may be more to read right away.
    ///
    /// Only files that changed are visited, the ones furthest behind first. A read that returns data costs one
    /// `pread`; the file's size is asked for (`fstat`) only when a woken file had nothing new, which is how a
    /// truncation shows (copytruncate).
    func pump(
        chunks: Int, buffer: UnsafeMutableRawBufferPointer, now: ContinuousClock.Instant,
        emit: (InputKey, UnsafeRawBufferPointer, Bool, InputPosition) -> Void
    ) -> Bool {
        guard !readable.isEmpty else { return false }
        var budget = chunks * buffer.count
        let order = readable.compactMap { files[$0] }.sorted { $0.readOffset < $1.readOffset }
        for file in order where !file.atEnd {
            guard budget > 0 else { return true }
            var readAny = false
            while budget > 0 {
                let count = pread(file.fd, buffer.baseAddress, min(buffer.count, budget), off_t(file.readOffset))
                if count < 0 {
                    if errno == EINTR { continue }
                    reportOnce(file.path, "cannot read \(file.path): \(String(cString: strerror(errno)))")
                    rest(file)
                    break
                }
                if count == 0 {
                    if readAny {
                        // Grew and was read to its end in this turn.
                        file.size = max(file.size, file.readOffset)
                        rest(file)
                        break
                    }
                    var info = stat()
                    guard fstat(file.fd, &info) == 0 else {
                        rest(file)
                        break
                    }
                    let size = Int64(info.st_size)
                    if size < file.readOffset {
                        truncated(file, newSize: size)
                        file.size = size
                        readAny = false
                        continue
                    }
                    file.size = size
                    rest(file)
                    break
                }
                readAny = true
                budget -= count
                file.readOffset += Int64(count)
                file.lastGrowth = now
                if file.fingerprint.length < Fingerprint.maxLength, file.readOffset > Int64(file.fingerprint.length),
                    let refreshed = Fingerprint.read(file.fd)
                {
                    file.fingerprint = refreshed
                }
                frame(file, UnsafeRawBufferPointer(rebasing: buffer[0..<count]), now: now, emit: emit)
                noteHolding(file)
            }
            if file.size < file.readOffset { file.size = file.readOffset }
        }
        return !readable.isEmpty
    }

    private func frame(
        _ file: TrackedFile, _ bytes: UnsafeRawBufferPointer, now: ContinuousClock.Instant,
        emit: (InputKey, UnsafeRawBufferPointer, Bool, InputPosition) -> Void
    ) {
        let generation = file.generation
        // Read once: a class property read inside the per-line closure costs a retain and release per line.
        let key = file.key
        if file.multiline == nil {
            file.framer.feed(bytes, endingAt: file.readOffset) { line, end, continued in
                emit(key, line, continued, .offset(end, generation: generation))
            }
            return
        }
        file.framer.feed(bytes, endingAt: file.readOffset) { line, end, continued in
            joinMultiline(file, line, end: end, continued: continued, now: now, emit: emit)
        }
    }

    private func joinMultiline(
        _ file: TrackedFile, _ line: UnsafeRawBufferPointer, end: Int64, continued: Bool, now: ContinuousClock.Instant,
        emit: (InputKey, UnsafeRawBufferPointer, Bool, InputPosition) -> Void
    ) {
        guard var joiner = file.multiline else { return }
        defer { file.multiline = joiner }
        let generation = file.generation
        let startsEvent = joiner.held.isEmpty || joiner.isStart(line)
        if startsEvent, !joiner.held.isEmpty {
            joiner.held.withUnsafeBytes { emit(file.key, $0, false, .offset(joiner.heldEnd, generation: generation)) }
            joiner.held.removeAll(keepingCapacity: true)
        }
        if !joiner.held.isEmpty { joiner.held.append(0x0A) }
        joiner.held.append(contentsOf: line)
        joiner.heldEnd = end
        joiner.heldSince = now
        if continued || joiner.held.count >= file.framer.maxPiece {
            // Too long to hold: hand out what there is, marked as continuing.
            joiner.held.withUnsafeBytes { emit(file.key, $0, true, .offset(end, generation: generation)) }
            joiner.held.removeAll(keepingCapacity: true)
        }
    }

    /// Hands out held-back data: partial last lines and multiline events that waited `linger`, and — during a
    /// drain — whatever holds bytes written before the drain began (a file's last line without its newline, an
    /// event waiting for its next start line). Files that will not grow any more (detached, at their end) always
    /// flush.
    func flushHeld(
        now: ContinuousClock.Instant, linger: Duration, draining: Bool,
        emit: (InputKey, UnsafeRawBufferPointer, Bool, InputPosition) -> Void
    ) {
        guard !holding.isEmpty else { return }
        for file in holding.compactMap({ files[$0] }) {
            defer { noteHolding(file) }
            let quiet = now - file.lastGrowth >= linger
            let force = draining && file.holdsBytesBeforeDrainTarget
            let generation = file.generation
            if var joiner = file.multiline, !joiner.held.isEmpty, force || quiet || file.detached {
                joiner.held.withUnsafeBytes {
                    emit(file.key, $0, false, .offset(joiner.heldEnd, generation: generation))
                }
                joiner.held.removeAll(keepingCapacity: true)
                file.multiline = joiner
            }
            if file.framer.pendingCount > 0, force || (file.detached && file.atEnd && quiet) {
                file.framer.flush(at: file.readOffset) { line, end, continued in
                    if file.multiline != nil {
                        joinMultiline(file, line, end: end, continued: continued, now: now, emit: emit)
                        if var joiner = file.multiline, !joiner.held.isEmpty {
                            joiner.held.withUnsafeBytes {
                                emit(file.key, $0, false, .offset(joiner.heldEnd, generation: generation))
                            }
                            joiner.held.removeAll()
                            file.multiline = joiner
                        }
                    } else {
                        emit(file.key, line, continued, .offset(end, generation: generation))
                    }
                }
            }
        }
    }

    /// The earliest time held-back multiline data is due.
    func nextHeldDeadline(linger: Duration) -> ContinuousClock.Instant? {
        guard multilineStart != nil else { return nil }
        return holding.compactMap { files[$0]?.multiline?.heldSince.map { $0.advanced(by: linger) } }.min()
    }

    private func truncated(_ file: TrackedFile, newSize: Int64) {
        let readTo = file.readOffset
        var recovered = false
        let directory = Self.parent(of: file.path)
        for name in Self.list(directory) {
            let path = directory + "/" + name
            var info = stat()
            guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, Int64(info.st_size) >= readTo else {
                continue
            }
            let key = InputKey.file(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
            guard key != file.key, files[key] == nil, let (fd, _) = openFile(path) else { continue }
            guard file.fingerprint.length > 0, file.fingerprint.matches(fd) else {
                close(fd)
                continue
            }
            let copy = TrackedFile(
                key: key, path: path, fd: fd, fingerprint: file.fingerprint, offset: readTo, size: Int64(info.st_size))
            copy.committedOffset = file.committedOffset
            copy.detached = true
            track(copy)
            redirects[RedirectKey(key: file.key, generation: file.generation)] = key
            recovered = true
            logger.info(
                "file truncated under the reader (copytruncate); reading the rest from the copy",
                metadata: [
                    "logs.source": "\(source)", "file.path": "\(file.path)", "file.copy": "\(path)",
                    "file.offset": "\(readTo)",
                ])
            break
        }
        if !recovered {
            let message =
                "\(file.path) was truncated at \(readTo) bytes to \(newSize) and no copy of it was found; anything written between the last read and the truncation is lost"
            lastError = message
            logger.warning(
                "file truncated under the reader",
                metadata: ["logs.source": "\(source)", "file.path": "\(file.path)", "file.offset": "\(readTo)"])
        }
        if let target = file.drainTarget {
            // What the drain waits for was in the old content: it is now the copy's to ship (or lost, and said so).
            if recovered,
                let copy = redirects[RedirectKey(key: file.key, generation: file.generation)].flatMap({ files[$0] })
            {
                copy.drainTarget = target
            }
            file.drainTarget = newSize
        }
        file.generation += 1
        file.readOffset = 0
        file.committedOffset = 0
        cachedPositions = nil
        file.punched = 0
        file.framer.reset()
        file.multiline?.held.removeAll()
        file.fingerprint = Fingerprint.read(file.fd) ?? Fingerprint(length: 0, hash: "")
        noteHolding(file)
        wake(file)
    }

    private func recoverFromCopy(of entry: SourceCheckpoint.File, directory: String, excluding key: InputKey) {
        let stored = Fingerprint(length: entry.fingerprintLength, hash: entry.fingerprint)
        for name in Self.list(directory) {
            let path = directory + "/" + name
            var info = stat()
            guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, Int64(info.st_size) >= entry.offset else {
                continue
            }
            let candidate = InputKey.file(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
            guard candidate != key, files[candidate] == nil, let (fd, _) = openFile(path) else { continue }
            guard stored.length > 0, stored.matches(fd) else {
                close(fd)
                continue
            }
            let copy = TrackedFile(
                key: candidate, path: path, fd: fd, fingerprint: stored, offset: entry.offset, size: Int64(info.st_size)
            )
            copy.detached = true
            track(copy)
            logger.info(
                "file truncated while the agent was stopped; reading the rest from its copy",
                metadata: ["logs.source": "\(source)", "file.path": "\(entry.path)", "file.copy": "\(path)"])
            return
        }
        reportLoss(entry, reason: "it was truncated while the agent was stopped and no copy was found")
    }

    // MARK: - Acknowledgements and release

    /// CloudWatch accepted data up to `position` of `key`.
    func commit(_ key: InputKey, _ position: InputPosition) {
        guard case .offset(let offset, let generation) = position else { return }
        var target = files[key]
        if let file = target, file.generation != generation {
            target = redirects[RedirectKey(key: key, generation: generation)].flatMap { files[$0] }
        } else if target == nil {
            target = redirects[RedirectKey(key: key, generation: generation)].flatMap { files[$0] }
        }
        guard let file = target, offset > file.committedOffset else { return }
        file.committedOffset = offset
        cachedPositions = nil
        if punchHoles, !file.detached {
            let aligned = (file.committedOffset / 4096) * 4096
            if aligned - file.punched >= Self.punchGranularity {
                // Accepted app output no longer needs disk space; offsets stay as they are (sparse file).
                if CLinux_punch_hole(file.fd, Int64(file.punched), Int64(aligned - file.punched)) == 0 {
                    file.punched = aligned
                }
            }
        }
    }

    /// Closes detached files that are read to their end, quiet, and fully accepted. Returns whether any was released.
    func releaseFinished(now: ContinuousClock.Instant) -> Bool {
        guard !detachedKeys.isEmpty else { return false }
        var released = false
        for file in detachedKeys.compactMap({ files[$0] })
        where file.atEnd && !file.isHolding
            && file.committedOffset >= file.readOffset && now - file.lastGrowth >= Self.releaseAfter
        {
            // Written to since (a rotated or deleted file whose writer still holds it: no event names it): read on.
            var info = stat()
            if fstat(file.fd, &info) == 0, Int64(info.st_size) > file.readOffset {
                file.lastGrowth = now
                wake(file)
                continue
            }
            untrack(file.key)
            released = true
            logger.info(
                "released a rotated file after shipping all of it",
                metadata: ["logs.source": "\(source)", "file.path": "\(file.path)"])
        }
        return released
    }

    /// The checkpoint of this input.
    func checkpoint() -> SourceCheckpoint {
        SourceCheckpoint(files: files.values.compactMap { $0.checkpoint() }.sorted { $0.path < $1.path })
    }

    /// Bytes read but not yet accepted, and bytes not read yet (backlog), for status.
    var backlog: Int64 { backlogCounter.total }

    /// Where each file stands, `path@acceptedOffset`, sorted, for status: rebuilt only after an acknowledgement,
    /// a rename or a file coming or going, not on every loop turn (with a thousand files, building these strings
    /// on every wake-up costs more than reading the files).
    var positions: [String] {
        if let cachedPositions { return cachedPositions }
        let built = files.values.map { "\($0.path)@\($0.committedOffset)" }.sorted()
        cachedPositions = built
        return built
    }

    // MARK: - Drain

    /// A drain begins: looks at the pattern again (a file created a moment ago, whose change notification has not
    /// been read yet, counts too), then marks in each file the bytes the drain waits for — its size now.
    func setDrainTargets() {
        rescan()
        for file in files.values {
            var info = stat()
            file.drainTarget = fstat(file.fd, &info) == 0 ? Int64(info.st_size) : file.readOffset
            wake(file)
        }
    }

    /// Back to normal after a drain.
    func clearDrainTargets() {
        for file in files.values { file.drainTarget = nil }
    }

    /// Whether CloudWatch accepted every byte written before the drain began. Lines written since don't count:
    /// a writer that keeps going can't hold the drain up.
    var drained: Bool {
        files.values.allSatisfy { file in file.committedOffset >= (file.drainTarget ?? 0) }
    }

    /// Bytes written before the drain began and not accepted yet.
    var drainLeft: Int64 {
        files.values.reduce(0) { sum, file in sum + max(0, (file.drainTarget ?? 0) - file.committedOffset) }
    }

    // MARK: - Paths

    private func currentPaths() -> [String] {
        // Directories matching the pattern are kept: opening them reports that they are not log files.
        Self.hasWildcard(pattern) ? Self.glob(pattern) : [pattern]
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }

    static func hasWildcard(_ text: String) -> Bool { text.contains { $0 == "*" || $0 == "?" || $0 == "[" } }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    static func glob(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard Glibc.glob(pattern, 0, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { result.gl_pathv[$0].map { String(cString: $0) } }
    }

    static func list(_ directory: String) -> [String] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
