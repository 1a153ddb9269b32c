/// One archive member, its header combined with the metadata headers before it.
struct TarEntry {
    /// The name: PAX `path`, else a GNU long name, else the header's.
    var name: [UInt8]
    /// How errors name the entry.
    var display: String
    /// The link target: PAX `linkpath`, else a GNU long link name, else the header's.
    var linkName: [UInt8]
    /// What the entry is.
    var type: TarEntryType
    /// Data bytes following the header (PAX `size` overrides the header's).
    var size: Int64
    /// Permission bits from the header.
    var mode: UInt32
    /// Modification time (PAX `mtime` overrides the header's).
    var time: TarTime
    /// Whether PAX keywords mark it as a GNU sparse file.
    var isSparse: Bool

    /// Combines a header with the metadata that preceded it.
    init(header: TarHeader, metadata: TarPendingMetadata) {
        name = metadata.pax?.path ?? metadata.longName ?? header.name
        display = String(decoding: name, as: UTF8.self)
        linkName = metadata.pax?.linkPath ?? metadata.longLink ?? header.linkName
        type = header.type
        size = metadata.pax?.size ?? header.size
        mode = header.mode
        time = metadata.pax?.mtime ?? TarTime(seconds: header.mtime, nanoseconds: 0)
        isSparse = metadata.pax?.isSparse ?? false
    }
}
