/// The kind of an archive member, from the header's typeflag byte.
enum TarEntryType: Equatable {
    /// `0` or NUL.
    case regular
    /// `1`.
    case hardLink
    /// `2`.
    case symlink
    /// `3`.
    case characterDevice
    /// `4`.
    case blockDevice
    /// `5`.
    case directory
    /// `6`.
    case fifo
    /// `x`: PAX keywords for the next entry.
    case paxExtended
    /// `g`: PAX keywords for the rest of the archive (ignored).
    case paxGlobal
    /// `L`: GNU long name of the next entry.
    case gnuLongName
    /// `K`: GNU long link name of the next entry.
    case gnuLongLink
    /// Anything else (contiguous files, GNU sparse files, volume headers, …).
    case other(UInt8)

    /// Decodes a typeflag byte.
    init(flag: UInt8) {
        switch flag {
        case 0, UInt8(ascii: "0"): self = .regular
        case UInt8(ascii: "1"): self = .hardLink
        case UInt8(ascii: "2"): self = .symlink
        case UInt8(ascii: "3"): self = .characterDevice
        case UInt8(ascii: "4"): self = .blockDevice
        case UInt8(ascii: "5"): self = .directory
        case UInt8(ascii: "6"): self = .fifo
        case UInt8(ascii: "x"): self = .paxExtended
        case UInt8(ascii: "g"): self = .paxGlobal
        case UInt8(ascii: "L"): self = .gnuLongName
        case UInt8(ascii: "K"): self = .gnuLongLink
        default: self = .other(flag)
        }
    }

    /// Whether this header only carries metadata for the entry after it.
    var isMetadata: Bool {
        switch self {
        case .paxExtended, .paxGlobal, .gnuLongName, .gnuLongLink: true
        default: false
        }
    }

    /// How a refusal names the type, e.g. `character device`.
    var displayName: String {
        switch self {
        case .regular: "regular file"
        case .hardLink: "hard link"
        case .symlink: "symbolic link"
        case .characterDevice: "character device"
        case .blockDevice: "block device"
        case .directory: "directory"
        case .fifo: "FIFO"
        case .paxExtended: "PAX extended header"
        case .paxGlobal: "PAX global header"
        case .gnuLongName: "GNU long name"
        case .gnuLongLink: "GNU long link name"
        case .other(let flag):
            (0x21...0x7E).contains(flag)
                ? "type \(TarError.quoted(String(UnicodeScalar(flag))))" : "type 0x\(String(flag, radix: 16))"
        }
    }
}
