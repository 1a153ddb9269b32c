#if canImport(Glibc)
    import Glibc
#endif

/// Free space and inodes of the file system holding a path (`statvfs(3)`).
public struct FileSystemStats: Sendable, Equatable {
    /// Bytes in all.
    public var totalBytes: UInt64
    /// Bytes available to unprivileged users (`f_bavail`).
    public var availableBytes: UInt64
    /// Inodes in all; 0 when the file system doesn't count them (e.g. btrfs).
    public var totalInodes: UInt64
    /// Inodes available to unprivileged users (`f_favail`).
    public var availableInodes: UInt64
    /// The file-system id, to tell whether two paths share a file system.
    public var fileSystemID: UInt64

    /// Creates statistics.
    public init(
        totalBytes: UInt64, availableBytes: UInt64, totalInodes: UInt64, availableInodes: UInt64,
        fileSystemID: UInt64 = 0
    ) {
        self.totalBytes = totalBytes
        self.availableBytes = availableBytes
        self.totalInodes = totalInodes
        self.availableInodes = availableInodes
        self.fileSystemID = fileSystemID
    }

    /// `statvfs` of the path; nil when it fails (e.g. the path doesn't exist).
    @Sendable
    public static func of(_ path: String) -> FileSystemStats? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        let unit = UInt64(info.f_frsize == 0 ? info.f_bsize : info.f_frsize)
        return FileSystemStats(
            totalBytes: UInt64(info.f_blocks) * unit, availableBytes: UInt64(info.f_bavail) * unit,
            totalInodes: UInt64(info.f_files), availableInodes: UInt64(info.f_favail), fileSystemID: UInt64(info.f_fsid)
        )
    }
}
