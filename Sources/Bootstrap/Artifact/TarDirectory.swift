#if canImport(Glibc)
    import Glibc
#endif

/// The extraction directory, and every change extraction makes inside it.
///
/// Each entry is created with an `*at` system call relative to a descriptor of its parent, and that descriptor is
/// reached from the extraction directory one component at a time with `O_NOFOLLOW | O_DIRECTORY`, so the kernel
/// itself refuses to pass through a symlink, whatever the archive did before. Files are created with
/// `O_CREAT | O_EXCL | O_NOFOLLOW`, so nothing existing is ever opened or replaced. The descriptor of the last parent
/// is kept for the next entry (archives list a directory's entries together); all are closed in `deinit`.
final class TarDirectory {
    /// The extraction directory's descriptor.
    private let rootFD: Int32
    /// The last parent directory opened: its tree node and descriptor.
    private var cached: (node: Int, fd: Int32)?

    /// Opens `path`, which must be an existing, empty directory.
    init(path: String) throws(TarError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw TarError(message: "cannot open extraction directory \(TarError.quoted(path))", errorNumber: errno)
        }
        let listingFD = dup(fd)
        guard listingFD >= 0, let listing = fdopendir(listingFD) else {
            let number = errno
            if listingFD >= 0 { close(listingFD) }
            close(fd)
            throw TarError(message: "cannot list extraction directory \(TarError.quoted(path))", errorNumber: number)
        }
        var empty = true
        while let item = readdir(listing) {
            let name = item.pointee.d_name
            let dot = CChar(UInt8(ascii: "."))
            if name.0 == dot && (name.1 == 0 || (name.1 == dot && name.2 == 0)) { continue }
            empty = false
            break
        }
        closedir(listing)
        guard empty else {
            close(fd)
            throw TarError(message: "extraction directory \(TarError.quoted(path)) is not empty")
        }
        rootFD = fd
    }

    deinit {
        if let cached { close(cached.fd) }
        close(rootFD)
    }

    /// A descriptor of the directory at `components` (tree node `node`), valid until the next call.
    ///
    /// Components from index `createFrom` on do not exist yet and are made (with the mode of every extracted directory).
    func parent(
        node: Int, components: ArraySlice<[UInt8]>, createFrom: Int?, entry: String
    ) throws(TarError) -> Int32 {
        if components.isEmpty { return rootFD }
        if createFrom == nil, let cached, cached.node == node { return cached.fd }
        if let cached {
            close(cached.fd)
            self.cached = nil
        }
        let fd = try walk(components, createFrom: createFrom, entry: entry)
        cached = (node, fd)
        return fd
    }

    /// Walks from the extraction directory without following symlinks, creating from `createFrom` on.
    private func walk(_ components: ArraySlice<[UInt8]>, createFrom: Int?, entry: String) throws(TarError) -> Int32 {
        var current = rootFD
        for (depth, name) in components.enumerated() {
            let created = createFrom.map { depth >= $0 } ?? false
            let path = { TarPath.joined(components.prefix(depth + 1)) }
            let next: Int32 = TarDirectory.withCString(name) { cName in
                if created && mkdirat(current, cName, 0o700) != 0 { return -1 }
                return openat(current, cName, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            let number = errno
            if current != rootFD { close(current) }
            guard next >= 0 else {
                throw TarError(
                    entry: entry, message: "cannot \(created ? "create" : "open") directory \(TarError.quoted(path()))",
                    errorNumber: number)
            }
            current = next
            if created && fchmod(current, TarExtractor.directoryMode) != 0 {
                let number = errno
                close(current)
                throw TarError(
                    entry: entry, message: "cannot set the mode of \(TarError.quoted(path()))",
                    errorNumber: number)
            }
        }
        return current
    }

    /// Creates directory `name` in `parent` with `mode` (exactly: the umask does not apply).
    func makeDirectory(_ name: [UInt8], in parent: Int32, mode: mode_t, entry: String) throws(TarError) {
        let made = TarDirectory.withCString(name) { mkdirat(parent, $0, 0o700) }
        guard made == 0 else { throw TarError(entry: entry, message: "cannot create directory", errorNumber: errno) }
        try setDirectoryMode(name, in: parent, mode: mode, entry: entry)
    }

    /// Sets the mode of the directory `name` in `parent`, opening it without following a symlink.
    func setDirectoryMode(_ name: [UInt8], in parent: Int32, mode: mode_t, entry: String) throws(TarError) {
        let fd = TarDirectory.withCString(name) { openat(parent, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw TarError(entry: entry, message: "cannot open directory", errorNumber: errno) }
        defer { close(fd) }
        guard fchmod(fd, mode) == 0 else {
            throw TarError(entry: entry, message: "cannot set the directory's mode", errorNumber: errno)
        }
    }

    /// Creates a new file `name` in `parent`, failing if anything by that name exists (a symlink included).
    func createFile(_ name: [UInt8], in parent: Int32, entry: String) throws(TarError) -> TarOutputFile {
        let fd = TarDirectory.withCString(name) {
            openat(parent, $0, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        }
        guard fd >= 0 else { throw TarError(entry: entry, message: "cannot create file", errorNumber: errno) }
        return TarOutputFile(fd: fd)
    }

    /// Creates symlink `name` in `parent` pointing at `target`.
    func makeSymlink(_ name: [UInt8], to target: [UInt8], in parent: Int32, entry: String) throws(TarError) {
        let made = TarDirectory.withCString(target) { cTarget in
            TarDirectory.withCString(name) { symlinkat(cTarget, parent, $0) }
        }
        guard made == 0 else { throw TarError(entry: entry, message: "cannot create symlink", errorNumber: errno) }
    }

    /// Creates hard link `name` in `parent` to the file `source` (never following a symlink, not even the last one).
    func makeHardLink(_ name: [UInt8], in parent: Int32, to source: TarPath, entry: String) throws(TarError) {
        guard let sourceName = source.components.last else {
            throw TarError(entry: entry, message: "hard link target is the release directory itself")
        }
        let sourceParent = source.parent.isEmpty ? rootFD : try walk(source.parent, createFrom: nil, entry: entry)
        defer { if sourceParent != rootFD { close(sourceParent) } }
        let made = TarDirectory.withCString(sourceName) { cSource in
            TarDirectory.withCString(name) { linkat(sourceParent, cSource, parent, $0, 0) }
        }
        guard made == 0 else { throw TarError(entry: entry, message: "cannot create hard link", errorNumber: errno) }
    }

    /// Sets the access and modification times of `name` in `parent` (the link itself for a symlink).
    /// Best effort: times are cosmetic, so a failure is ignored.
    func setTime(_ name: [UInt8], in parent: Int32, to time: TarTime) {
        var times = [TarDirectory.timespec(time), TarDirectory.timespec(time)]
        _ = TarDirectory.withCString(name) { utimensat(parent, $0, &times, AT_SYMLINK_NOFOLLOW) }
    }

    /// `time` as a `timespec`.
    static func timespec(_ time: TarTime) -> Glibc.timespec {
        Glibc.timespec(tv_sec: Int(truncatingIfNeeded: time.seconds), tv_nsec: time.nanoseconds)
    }

    /// Calls `body` with `bytes` as a NUL-terminated C string.
    static func withCString<Result>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> Result) -> Result {
        let cString = bytes.map { CChar(bitPattern: $0) } + [0]
        return body(cString)
    }
}
