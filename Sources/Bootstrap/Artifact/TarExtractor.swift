#if canImport(Glibc)
    import Glibc
#endif

/// Reads a tar stream header by header and applies each entry to the extraction directory, refusing anything unsafe.
///
/// Every refusal is decided before anything is written for that entry, from the entry itself and from `TarTree`
/// (what earlier entries created); `TarDirectory` then makes the change without following symlinks, so even a
/// mistake in those checks cannot write outside the directory.
final class TarExtractor {
    /// The most data a PAX extended header or GNU long name may carry.
    static let maxMetadataBytes: Int64 = 1 << 20
    /// The most metadata headers in a row before an entry.
    static let maxMetadataHeaders = 16
    /// How much data after the end-of-archive marker is read, so zlib can verify the gzip trailer (CRC-32, length).
    static let maxTrailingBytes: Int64 = 16 << 20

    private let input: TarInput
    private let directory: TarDirectory
    private let limits: TarLimits
    private var tree = TarTree()
    private var summary = TarExtractionSummary()
    private var entryCount = 0
    /// File data read so far (written or skipped), checked against `limits.maxTotalBytes`.
    private var dataBytes: Int64 = 0
    /// Directory times are set last: creating entries inside a directory changes its modification time.
    private var directoryTimes: [(path: TarPath, time: TarTime)] = []
    private let block = UnsafeMutableRawBufferPointer.allocate(byteCount: TarHeader.blockSize, alignment: 16)

    /// Reads from `input` into `directory`.
    init(input: TarInput, directory: TarDirectory, limits: TarLimits) {
        self.input = input
        self.directory = directory
        self.limits = limits
    }

    deinit { block.deallocate() }

    /// Extracts every entry up to the end-of-archive marker.
    func run() throws(TarError) -> TarExtractionSummary {
        var pending = TarPendingMetadata()
        while true {
            guard try readHeaderBlock(pending: pending) else {
                throw TarError(
                    entry: pending.headerName,
                    message: pending.headers == 0
                        ? "truncated archive: it ends without the end-of-archive marker"
                        : "truncated archive: it ends after an extended header")
            }
            if TarHeader.isZeroBlock(UnsafeRawBufferPointer(block)) {
                try readEndOfArchive(pending: pending)
                break
            }
            let header: TarHeader
            do {
                header = try TarHeader(block: UnsafeRawBufferPointer(block))
            } catch {
                guard entryCount == 0 && pending.headers == 0 else { throw error }
                // A gzip file that is not a tar archive (a lone `app.py.gz`) fails here; say so plainly.
                throw TarError(message: "not a tar archive: the first header is invalid (\(error.message))")
            }
            if header.type.isMetadata {
                try readMetadata(header, into: &pending)
            } else {
                let entry = TarEntry(header: header, metadata: pending)
                do {
                    try extract(entry)
                } catch {
                    // A gzip error met while reading the entry's data is about this entry too.
                    throw TarError(
                        entry: error.entry ?? entry.display, message: error.message,
                        errorNumber: error.errorNumber)
                }
                pending = TarPendingMetadata()
            }
        }
        // Reading to the end lets zlib check the gzip trailer; tar pads the stream with zeros after the marker.
        _ = try input.skip(TarExtractor.maxTrailingBytes)
        applyDirectoryTimes()
        return summary
    }

    // MARK: - Reading

    /// Reads the next 512-byte block; false at the end of the stream, throws when it ends inside the block.
    private func readHeaderBlock(pending: TarPendingMetadata) throws(TarError) -> Bool {
        let count = try input.read(into: block)
        if count == 0 { return false }
        guard count == TarHeader.blockSize else {
            throw TarError(entry: pending.headerName, message: "truncated archive: it ends inside a header")
        }
        return true
    }

    /// After one zero block: the second zero block or the end of the stream ends the archive.
    private func readEndOfArchive(pending: TarPendingMetadata) throws(TarError) {
        guard pending.headers == 0 else {
            throw TarError(entry: pending.headerName, message: "extended header is not followed by an entry")
        }
        let count = try input.read(into: block)
        guard UnsafeRawBufferPointer(rebasing: block[0..<count]).allSatisfy({ $0 == 0 }) else {
            throw TarError(message: "a single zero block is followed by more entries: the archive is corrupt")
        }
    }

    /// Reads a PAX (`x`, `g`) or GNU (`L`, `K`) header's data into `pending`.
    private func readMetadata(_ header: TarHeader, into pending: inout TarPendingMetadata) throws(TarError) {
        let name = String(decoding: header.name, as: UTF8.self)
        pending.headers += 1
        pending.headerName = name
        guard pending.headers <= TarExtractor.maxMetadataHeaders else {
            throw TarError(
                entry: name, message: "more than \(TarExtractor.maxMetadataHeaders) extended headers in a row")
        }
        guard header.size <= TarExtractor.maxMetadataBytes else {
            throw TarError(
                entry: name,
                message: "\(header.type.displayName) of \(header.size) bytes is larger than the "
                    + "\(TarExtractor.maxMetadataBytes) bytes allowed")
        }
        var data: [UInt8] = []
        data.reserveCapacity(Int(header.size))
        while data.count < Int(header.size) {
            let available = try input.peek()
            guard !available.isEmpty else {
                throw TarError(entry: name, message: "truncated archive: it ends inside an extended header")
            }
            let count = min(available.count, Int(header.size) - data.count)
            data.append(contentsOf: available[0..<count])
            input.consume(count)
        }
        try skipPadding(after: header.size, entry: name)
        switch header.type {
        case .paxExtended:
            pending.pax = try TarPaxRecords(parsing: data, entry: name)
        case .gnuLongName:
            pending.longName = TarExtractor.trimmingTrailingNULs(data)
        case .gnuLongLink:
            pending.longLink = TarExtractor.trimmingTrailingNULs(data)
        default:
            break  // PAX global headers carry nothing extraction uses.
        }
    }

    /// Skips the zeros that pad `size` bytes of data to a whole block.
    private func skipPadding(after size: Int64, entry: String) throws(TarError) {
        let padding = (Int64(TarHeader.blockSize) - size % Int64(TarHeader.blockSize)) % Int64(TarHeader.blockSize)
        guard try input.skip(padding) == padding else {
            throw TarError(entry: entry, message: "truncated archive: it ends inside the padding after the data")
        }
    }

    /// GNU long names end with a NUL; a NUL before the end stays and is refused as part of the name.
    private static func trimmingTrailingNULs(_ data: [UInt8]) -> [UInt8] {
        var data = data
        while data.last == 0 { data.removeLast() }
        return data
    }

    // MARK: - Entries

    /// Applies one entry.
    private func extract(_ entry: TarEntry) throws(TarError) {
        try count(1, entry: entry)
        let path: TarPath
        do {
            path = try TarPath(entry.name)
        } catch {
            throw TarError(entry: entry.display, message: error.text)
        }
        if entry.isSparse {
            // A GNU sparse file in PAX form looks like a regular file whose data is a map: never write that map.
            throw TarError(entry: entry.display, message: "unsupported entry type: GNU sparse file")
        }
        switch entry.type {
        case .regular where entry.name.last == UInt8(ascii: "/"):
            // Old (v7) archives mark directories with a trailing slash on a regular entry.
            try extractDirectory(entry, at: path)
            try skipData(of: entry)
        case .regular:
            try extractFile(entry, at: path)
        case .directory:
            try extractDirectory(entry, at: path)
        case .symlink:
            try extractSymlink(entry, at: path)
        case .hardLink:
            try extractHardLink(entry, at: path)
        default:
            throw TarError(
                entry: entry.display,
                message: "unsupported entry type: \(entry.type.displayName) "
                    + "(only regular files, directories, symlinks and hard links are extracted)")
        }
    }

    /// The mode of an extracted file: 0640, or 0750 when the archive makes it executable for anyone. Nothing is
    /// readable by others, nothing is writable but by the owner, and there is no setuid, setgid or sticky bit.
    static func fileMode(_ archived: UInt32) -> mode_t {
        archived & 0o111 != 0 ? 0o750 : 0o640
    }

    /// The mode of every extracted directory, whatever the archive says: owner rwx (so the rest of the archive and
    /// the installer can write inside), group r-x, nothing for others.
    static let directoryMode: mode_t = 0o750

    /// Counts `created` more entries against `limits.maxEntries`.
    private func count(_ created: Int, entry: TarEntry) throws(TarError) {
        entryCount += created
        guard entryCount <= limits.maxEntries else {
            throw TarError(
                entry: entry.display, message: "archive has more than \(limits.maxEntries) entries (the limit)")
        }
    }

    /// Counts `size` bytes of data against the limits before any of it is read.
    private func reserve(_ size: Int64, entry: TarEntry) throws(TarError) {
        guard size <= limits.maxEntryBytes else {
            throw TarError(
                entry: entry.display,
                message: "file is \(size) bytes, more than the limit of \(limits.maxEntryBytes) bytes per file")
        }
        guard size <= limits.maxTotalBytes - dataBytes else {
            throw TarError(
                entry: entry.display,
                message: "archive holds more than the limit of \(limits.maxTotalBytes) bytes of file data")
        }
        dataBytes += size
    }

    /// Skips an entry's data that is not written (a directory with data).
    private func skipData(of entry: TarEntry) throws(TarError) {
        guard entry.size > 0 else { return }
        try reserve(entry.size, entry: entry)
        guard try input.skip(entry.size) == entry.size else {
            throw TarError(entry: entry.display, message: "truncated archive: it ends inside the entry's data")
        }
        try skipPadding(after: entry.size, entry: entry.display)
    }

    private func extractFile(_ entry: TarEntry, at path: TarPath) throws(TarError) {
        guard let name = path.components.last else {
            throw TarError(entry: entry.display, message: "a file cannot replace the release directory itself")
        }
        try reserve(entry.size, entry: entry)
        let parent = try prepareParent(of: path, entry: entry)
        try refuseExisting(name, in: parent.node, entry: entry)
        let file = try directory.createFile(name, in: parent.fd, entry: entry.display)
        var left = entry.size
        while left > 0 {
            let available = try input.peek()
            guard !available.isEmpty else {
                throw TarError(
                    entry: entry.display,
                    message: "truncated archive: the file's data ends after \(entry.size - left) "
                        + "of \(entry.size) bytes")
            }
            let count = Int(min(Int64(available.count), left))
            try file.write(UnsafeRawBufferPointer(rebasing: available[0..<count]), entry: entry.display)
            input.consume(count)
            left -= Int64(count)
        }
        try file.finish(mode: TarExtractor.fileMode(entry.mode), time: entry.time, entry: entry.display)
        _ = tree.add(name, kind: .file, under: parent.node)
        summary.files += 1
        summary.bytes += entry.size
        try skipPadding(after: entry.size, entry: entry.display)
    }

    private func extractDirectory(_ entry: TarEntry, at path: TarPath) throws(TarError) {
        // The extraction directory itself (`.`, `./`) belongs to the caller: its mode and time are left alone.
        guard let name = path.components.last else { return }
        let mode = TarExtractor.directoryMode
        let parent = try prepareParent(of: path, entry: entry)
        if let existing = tree.child(of: parent.node, named: name) {
            guard tree.kind(existing) == .directory else {
                throw TarError(
                    entry: entry.display,
                    message: "\(tree.kind(existing).noun) with this name was extracted earlier; "
                        + "a directory cannot replace it")
            }
            try directory.setDirectoryMode(name, in: parent.fd, mode: mode, entry: entry.display)
        } else {
            try directory.makeDirectory(name, in: parent.fd, mode: mode, entry: entry.display)
            _ = tree.add(name, kind: .directory, under: parent.node)
            summary.directories += 1
        }
        directoryTimes.append((path, entry.time))
    }

    private func extractSymlink(_ entry: TarEntry, at path: TarPath) throws(TarError) {
        guard let name = path.components.last else {
            throw TarError(entry: entry.display, message: "a symlink cannot replace the release directory itself")
        }
        if let problem = tree.symlinkTargetProblem(entry.linkName, linkParent: path.parent) {
            throw TarError(entry: entry.display, message: problem)
        }
        let parent = try prepareParent(of: path, entry: entry)
        try refuseExisting(name, in: parent.node, entry: entry)
        try directory.makeSymlink(name, to: entry.linkName, in: parent.fd, entry: entry.display)
        _ = tree.add(name, kind: .symlink, under: parent.node)
        directory.setTime(name, in: parent.fd, to: entry.time)
        summary.symlinks += 1
    }

    private func extractHardLink(_ entry: TarEntry, at path: TarPath) throws(TarError) {
        guard let name = path.components.last else {
            throw TarError(entry: entry.display, message: "a hard link cannot replace the release directory itself")
        }
        let quoted = TarError.quoted(entry.linkName)
        let source: TarPath
        do {
            source = try TarPath(entry.linkName)
        } catch {
            throw TarError(entry: entry.display, message: "hard link target \(quoted): \(error.text)")
        }
        guard case .directory(let sourceParent) = tree.walk(source.parent), let sourceName = source.components.last,
            let sourceNode = tree.child(of: sourceParent, named: sourceName), tree.kind(sourceNode) == .file
        else {
            throw TarError(
                entry: entry.display,
                message: "hard link target \(quoted) is not a regular file extracted earlier from this archive")
        }
        let parent = try prepareParent(of: path, entry: entry)
        try refuseExisting(name, in: parent.node, entry: entry)
        try directory.makeHardLink(name, in: parent.fd, to: source, entry: entry.display)
        _ = tree.add(name, kind: .file, under: parent.node)
        summary.files += 1
    }

    /// The parent directory of `path`, made (with any missing ancestors) when the archive did not list it first.
    private func prepareParent(of path: TarPath, entry: TarEntry) throws(TarError) -> (fd: Int32, node: Int) {
        let components = path.parent
        switch tree.walk(components) {
        case .directory(let node):
            let fd = try directory.parent(node: node, components: components, createFrom: nil, entry: entry.display)
            return (fd, node)
        case .blocked(let depth, let kind):
            let blocker = TarError.quoted(TarPath.joined(components.prefix(depth + 1)))
            throw TarError(
                entry: entry.display,
                message: kind == .symlink
                    ? "path goes through the symlink \(blocker) extracted earlier; nothing is written through a symlink"
                    : "path goes through \(blocker), which is \(kind.noun), not a directory")
        case .missing(let parent, let depth):
            try count(components.count - depth, entry: entry)
            var node = parent
            for name in components.dropFirst(depth) {
                node = tree.add(name, kind: .directory, under: node)
            }
            summary.directories += components.count - depth
            let fd = try directory.parent(node: node, components: components, createFrom: depth, entry: entry.display)
            return (fd, node)
        }
    }

    /// Refuses an entry whose name was already extracted (a file or link never replaces anything).
    private func refuseExisting(_ name: [UInt8], in parent: Int, entry: TarEntry) throws(TarError) {
        guard let existing = tree.child(of: parent, named: name) else { return }
        let kind = tree.kind(existing)
        throw TarError(
            entry: entry.display,
            message: kind == .directory
                ? "would replace a directory extracted earlier"
                : "duplicate entry: \(kind.noun) with this name was extracted earlier")
    }

    /// Sets the directories' times from the archive, now that nothing more is created inside them.
    private func applyDirectoryTimes() {
        for (path, time) in directoryTimes {
            guard let name = path.components.last, case .directory(let node) = tree.walk(path.parent),
                let fd = try? directory.parent(node: node, components: path.parent, createFrom: nil, entry: "")
            else { continue }
            directory.setTime(name, in: fd, to: time)
        }
    }
}
