import FoundationEssentials

/// Where one source stands: what CloudWatch has accepted, per file or as a journal cursor.
///
/// Saved as JSON in `state_dir/checkpoints/<source>.json`; only ever moved forward after PutLogEvents accepted
/// the data it covers.
public struct SourceCheckpoint: Codable, Sendable, Equatable {
    /// One file of a file or app source.
    public struct File: Codable, Sendable, Equatable {
        /// The path it was last seen at.
        public var path: String
        /// Device and inode: the file's identity while it exists.
        public var device: UInt64
        public var inode: UInt64
        /// SHA-256 (hex) of the first `fingerprintLength` bytes: tells a reused inode from the same file.
        public var fingerprint: String
        public var fingerprintLength: Int
        /// Bytes accepted by CloudWatch (reading resumes here).
        public var offset: Int64
        /// The file's size when last seen, to say how much was lost if it disappears.
        public var size: Int64

        /// Creates an entry.
        public init(
            path: String, device: UInt64, inode: UInt64, fingerprint: String, fingerprintLength: Int, offset: Int64,
            size: Int64
        ) {
            self.path = path
            self.device = device
            self.inode = inode
            self.fingerprint = fingerprint
            self.fingerprintLength = fingerprintLength
            self.offset = offset
            self.size = size
        }
    }

    /// Files, for file and app sources.
    public var files: [File]
    /// The cursor of the last accepted journal entry.
    public var journalCursor: String?

    /// Creates a checkpoint.
    public init(files: [File] = [], journalCursor: String? = nil) {
        self.files = files
        self.journalCursor = journalCursor
    }
}
