/// Bounds on what one archive may create, so a hostile or broken artifact cannot fill the disk or exhaust inodes.
public struct TarLimits: Sendable, Equatable {
    /// The most entries (files, directories, links, and directories created implicitly for them) an archive may have.
    public var maxEntries: Int
    /// The most file data, in bytes, all entries together may write.
    public var maxTotalBytes: Int64
    /// The largest single file, in bytes.
    public var maxEntryBytes: Int64

    /// Creates limits; the defaults are those of `TarLimits.default`.
    public init(maxEntries: Int = 100_000, maxTotalBytes: Int64 = 4 << 30, maxEntryBytes: Int64 = 2 << 30) {
        self.maxEntries = maxEntries
        self.maxTotalBytes = maxTotalBytes
        self.maxEntryBytes = maxEntryBytes
    }

    /// 100,000 entries, 4 GiB in total, 2 GiB per file: far above any app release, far below a full disk.
    public static let `default` = TarLimits()
}
