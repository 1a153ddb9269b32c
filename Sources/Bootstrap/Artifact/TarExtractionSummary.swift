/// What an extraction wrote.
public struct TarExtractionSummary: Sendable, Equatable {
    /// Regular files written, hard links included.
    public var files: Int
    /// Directories created, including parents the archive did not list itself (the top-level `.` is not counted).
    public var directories: Int
    /// Symbolic links created.
    public var symlinks: Int
    /// File data written, in bytes.
    public var bytes: Int64

    /// Creates a summary.
    public init(files: Int = 0, directories: Int = 0, symlinks: Int = 0, bytes: Int64 = 0) {
        self.files = files
        self.directories = directories
        self.symlinks = symlinks
        self.bytes = bytes
    }
}
