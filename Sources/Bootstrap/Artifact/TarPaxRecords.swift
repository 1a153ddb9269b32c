/// The keywords of a PAX extended header (`x`) that extraction uses; the others are ignored.
///
/// Records are `"<length> <keyword>=<value>\n"`, the length counting the whole record
/// (https://pubs.opengroup.org/onlinepubs/9799919799/utilities/pax.html, "pax Extended Header").
struct TarPaxRecords {
    /// `path`: the entry's name, overriding the header's.
    var path: [UInt8]?
    /// `linkpath`: the link target, overriding the header's.
    var linkPath: [UInt8]?
    /// `size`: the data size, overriding the header's (files over 8 GiB).
    var size: Int64?
    /// `mtime`: seconds since the epoch, with a fraction.
    var mtime: TarTime?
    /// Whether `GNU.sparse.*` keywords mark the entry as a sparse file, whose data is a map, not the file.
    var isSparse = false

    /// No keywords.
    init() {}

    /// Parses the header's data; `entry` names the header in errors.
    init(parsing data: [UInt8], entry: String) throws(TarError) {
        var index = 0
        while index < data.count {
            // Padding after the last record (some writers leave NULs) ends the list.
            if data[index] == 0 { break }
            var length = 0
            var cursor = index
            while cursor < data.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(data[cursor]) {
                guard length < 100_000_000 else { break }
                length = length * 10 + Int(data[cursor] - UInt8(ascii: "0"))
                cursor += 1
            }
            guard cursor < data.count, data[cursor] == UInt8(ascii: " "), length > cursor - index + 1,
                index + length <= data.count, data[index + length - 1] == UInt8(ascii: "\n")
            else {
                throw TarError(entry: entry, message: "malformed PAX extended header record at byte \(index)")
            }
            let record = data[(cursor + 1)..<(index + length - 1)]
            guard let equals = record.firstIndex(of: UInt8(ascii: "=")) else {
                throw TarError(entry: entry, message: "malformed PAX extended header record at byte \(index)")
            }
            let key = String(decoding: record[record.startIndex..<equals], as: UTF8.self)
            let value = Array(record[(equals + 1)...])
            try apply(key: key, value: value, entry: entry)
            index += length
        }
    }

    /// Records one keyword. An empty value unsets it, as POSIX says.
    private mutating func apply(key: String, value: [UInt8], entry: String) throws(TarError) {
        switch key {
        case "path":
            path = value.isEmpty ? nil : value
        case "linkpath":
            linkPath = value.isEmpty ? nil : value
        case "size":
            guard !value.isEmpty else {
                size = nil
                return
            }
            guard let parsed = TarPaxRecords.decimal(value[...]) else {
                throw TarError(entry: entry, message: "PAX size \(TarError.quoted(value)) is not a valid size")
            }
            size = parsed
        case "mtime":
            mtime = TarPaxRecords.time(value)
        case _ where key.hasPrefix("GNU.sparse."):
            isSparse = true
        default:
            break
        }
    }

    /// A non-negative decimal integer of at most 18 digits.
    private static func decimal(_ digits: ArraySlice<UInt8>) -> Int64? {
        guard !digits.isEmpty, digits.count <= 18 else { return nil }
        var value: Int64 = 0
        for digit in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) else { return nil }
            value = value * 10 + Int64(digit - UInt8(ascii: "0"))
        }
        return value
    }

    /// `[-]seconds[.fraction]`; nil when malformed (the time is only cosmetic, so it is then ignored).
    private static func time(_ value: [UInt8]) -> TarTime? {
        var digits = value[...]
        let negative = digits.first == UInt8(ascii: "-")
        if negative { digits = digits.dropFirst() }
        let dot = digits.firstIndex(of: UInt8(ascii: "."))
        guard let seconds = decimal(digits[digits.startIndex..<(dot ?? digits.endIndex)]) else { return nil }
        var nanoseconds = 0
        if let dot {
            let fraction = digits[(dot + 1)...]
            guard fraction.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
            var scale = 100_000_000
            for digit in fraction.prefix(9) {
                nanoseconds += Int(digit - UInt8(ascii: "0")) * scale
                scale /= 10
            }
        }
        guard negative else { return TarTime(seconds: seconds, nanoseconds: nanoseconds) }
        return nanoseconds == 0
            ? TarTime(seconds: -seconds, nanoseconds: 0)
            : TarTime(seconds: -seconds - 1, nanoseconds: 1_000_000_000 - nanoseconds)
    }
}
