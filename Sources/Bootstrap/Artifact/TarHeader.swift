/// One 512-byte tar header block, decoded: POSIX ustar (with `prefix`), GNU and old v7 layouts.
///
/// The layout is the ustar one in POSIX `pax` (https://pubs.opengroup.org/onlinepubs/9799919799/utilities/pax.html,
/// "ustar Interchange Format"); numbers are octal, or GNU base-256 when the first byte has its high bit set
/// (https://www.gnu.org/software/tar/manual/html_node/Standard.html).
struct TarHeader {
    /// Bytes in a header block, and the unit every member's data is padded to.
    static let blockSize = 512

    /// The name: `prefix/name` in POSIX ustar, else the `name` field; bytes up to the first NUL.
    var name: [UInt8]
    /// The `linkname` field: a symlink's target or a hard link's source.
    var linkName: [UInt8]
    /// Permission bits (and setuid/setgid/sticky, which extraction strips).
    var mode: UInt32
    /// Bytes of data after the header (for regular files and the metadata entries).
    var size: Int64
    /// Modification time, seconds since the epoch.
    var mtime: Int64
    /// What the entry is.
    var type: TarEntryType

    /// Decodes `block` (512 bytes), verifying the header checksum.
    init(block: UnsafeRawBufferPointer) throws(TarError) {
        guard block.count == TarHeader.blockSize else {
            throw TarError(message: "internal error: a tar header block must be 512 bytes")
        }
        let rawName = TarHeader.text(block, 0, 100)
        let display = String(decoding: rawName, as: UTF8.self)

        guard let stored = TarHeader.number(block, 148, 8) else {
            throw TarError(entry: display, message: "bad header: the checksum field is not a number")
        }
        let (unsigned, signed) = TarHeader.checksums(block)
        // Historic tars summed signed chars; like GNU tar, accept either sum.
        guard stored == unsigned || stored == signed else {
            throw TarError(
                entry: display,
                message: "bad header checksum (stored \(stored), computed \(unsigned)): the archive is corrupt"
            )
        }

        let isPOSIX = TarHeader.matches(block, 257, Array("ustar\0".utf8))
        let prefix = isPOSIX ? TarHeader.text(block, 345, 155) : []
        name = prefix.isEmpty ? rawName : prefix + [UInt8(ascii: "/")] + rawName
        linkName = TarHeader.text(block, 157, 100)
        type = TarEntryType(flag: block[156])

        guard let mode = TarHeader.number(block, 100, 8), mode >= 0, mode <= 0o7777_7777 else {
            throw TarError(entry: display, message: "bad header: the mode field is not a valid number")
        }
        self.mode = UInt32(mode & 0o7777)
        guard let size = TarHeader.number(block, 124, 12), size >= 0 else {
            throw TarError(entry: display, message: "bad header: the size field is not a valid number")
        }
        self.size = size
        mtime = TarHeader.number(block, 136, 12) ?? 0
    }

    /// Whether `block` is all zeros (half of the end-of-archive marker).
    static func isZeroBlock(_ block: UnsafeRawBufferPointer) -> Bool {
        block.allSatisfy { $0 == 0 }
    }

    /// The bytes of a text field up to its first NUL.
    private static func text(_ block: UnsafeRawBufferPointer, _ offset: Int, _ length: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        for index in offset..<(offset + length) {
            let byte = block[index]
            if byte == 0 { break }
            bytes.append(byte)
        }
        return bytes
    }

    /// Whether the field at `offset` holds exactly `expected`.
    private static func matches(_ block: UnsafeRawBufferPointer, _ offset: Int, _ expected: [UInt8]) -> Bool {
        expected.indices.allSatisfy { block[offset + $0] == expected[$0] }
    }

    /// The sums of all header bytes with the checksum field read as spaces: as unsigned and as signed chars.
    private static func checksums(_ block: UnsafeRawBufferPointer) -> (unsigned: Int64, signed: Int64) {
        var unsigned: Int64 = 0
        var signed: Int64 = 0
        for index in 0..<blockSize {
            let byte = (148..<156).contains(index) ? UInt8(ascii: " ") : block[index]
            unsigned += Int64(byte)
            signed += Int64(Int8(bitPattern: byte))
        }
        return (unsigned, signed)
    }

    /// A numeric field: octal digits (leading spaces, ending at NUL or space), or GNU base-256 (two's complement,
    /// big-endian, after the high bit of the first byte). nil when malformed or too large for Int64.
    static func number(_ block: UnsafeRawBufferPointer, _ offset: Int, _ length: Int) -> Int64? {
        let field = UnsafeRawBufferPointer(rebasing: block[offset..<(offset + length)])
        guard let first = field.first else { return nil }
        if first & 0x80 != 0 {
            return baseTwoFiftySix(field)
        }
        var index = 0
        while index < field.count, field[index] == UInt8(ascii: " ") { index += 1 }
        var value: Int64 = 0
        while index < field.count, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(field[index]) {
            guard value <= (Int64.max - 7) / 8 else { return nil }
            value = value * 8 + Int64(field[index] - UInt8(ascii: "0"))
            index += 1
        }
        while index < field.count {
            guard field[index] == 0 || field[index] == UInt8(ascii: " ") else { return nil }
            index += 1
        }
        return value
    }

    /// GNU base-256: the field minus the marker bit is a big-endian two's complement number.
    private static func baseTwoFiftySix(_ field: UnsafeRawBufferPointer) -> Int64? {
        let negative = field[0] & 0x40 != 0
        var value: Int64 = negative ? -1 : 0
        for (index, raw) in field.enumerated() {
            let byte = index == 0 ? (negative ? raw | 0x80 : raw & 0x7F) : raw
            guard value >> 55 == 0 || value >> 55 == -1 else { return nil }
            value = (value << 8) | Int64(byte)
        }
        return value
    }
}
