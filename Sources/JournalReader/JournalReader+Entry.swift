import CSystemd

#if canImport(Glibc)
    import Glibc
#endif

extension JournalReader {
    /// The entry the handle sits on, or nil if it has no `MESSAGE` field. Call with `state` locked.
    ///
    /// Walks the entry's fields once (`sd_journal_enumerate_available_data`, which skips fields this libsystemd
    /// cannot decompress) instead of one `sd_journal_get_data` per field, each of which would walk them again.
    /// The first occurrence of a field wins, as with `sd_journal_get_data`.
    func readCurrentEntry() throws(JournalReaderError) -> JournalEntry? {
        var fields = EntryFields()
        sd_journal_restart_data(handle)
        var data: UnsafeRawPointer?
        var length = 0
        while try journalCheck(
            sd_journal_enumerate_available_data(handle, &data, &length), "sd_journal_enumerate_available_data") > 0
        {
            guard let data else { continue }
            fields.take(UnsafeRawBufferPointer(start: data, count: length))
        }
        guard let message = fields.message else { return nil }

        var cursorText: UnsafeMutablePointer<CChar>?
        try journalCheck(sd_journal_get_cursor(handle, &cursorText), "sd_journal_get_cursor")
        guard let cursorText else {
            throw JournalReaderError(call: "sd_journal_get_cursor", errno: EADDRNOTAVAIL, detail: "no cursor returned")
        }
        let cursor = String(cString: cursorText)
        free(cursorText)

        var realtime: UInt64 = 0
        try journalCheck(sd_journal_get_realtime_usec(handle, &realtime), "sd_journal_get_realtime_usec")

        return JournalEntry(
            cursor: cursor,
            realtimeMicroseconds: realtime,
            message: message,
            unit: unit(systemdUnit: fields.systemdUnit, unitField: fields.unitField, pid: fields.pid),
            priority: fields.priority,
            pid: fields.pid
        )
    }

    /// The entry's unit: `_SYSTEMD_UNIT` when it is one of ours; for systemd's own messages (`_PID=1`, whose
    /// `_SYSTEMD_UNIT` is `init.scope`) the unit they are about (`UNIT`); otherwise `_SYSTEMD_UNIT`.
    func unit(systemdUnit: String?, unitField: String?, pid: Int32?) -> String? {
        if let systemdUnit, units.contains(systemdUnit) { return systemdUnit }
        if pid == 1, let unitField { return unitField }
        return systemdUnit
    }
}

/// The fields of one entry the reader keeps, picked out of `FIELD=value` data as it is enumerated.
struct EntryFields {
    /// `MESSAGE`, raw.
    var message: [UInt8]?
    /// `_SYSTEMD_UNIT` (trusted: journald sets it from the sender's cgroup).
    var systemdUnit: String?
    /// `UNIT` (set by the sender; systemd uses it for its messages about a unit).
    var unitField: String?
    /// `PRIORITY`, if it is 0…7.
    var priority: Int?
    /// `_PID` (trusted).
    var pid: Int32?

    /// Keeps `field` (`NAME=value` bytes, value binary-safe) if it is one of ours and not seen yet.
    mutating func take(_ field: UnsafeRawBufferPointer) {
        guard let first = field.first else { return }
        switch first {
        case UInt8(ascii: "M"):
            if message == nil, let value = Self.value(of: "MESSAGE=", in: field) { message = Array(value) }
        case UInt8(ascii: "P"):
            if priority == nil, let value = Self.value(of: "PRIORITY=", in: field) {
                priority = Self.integer(value).flatMap { (0...7).contains($0) ? $0 : nil }
            }
        case UInt8(ascii: "U"):
            if unitField == nil, let value = Self.value(of: "UNIT=", in: field) { unitField = Self.text(value) }
        case UInt8(ascii: "_"):
            if pid == nil, let value = Self.value(of: "_PID=", in: field) {
                pid = Self.integer(value).flatMap { Int32(exactly: $0) }
            } else if systemdUnit == nil, let value = Self.value(of: "_SYSTEMD_UNIT=", in: field) {
                systemdUnit = Self.text(value)
            }
        default:
            break
        }
    }

    /// The bytes after `prefix` (`NAME=`) if `field` starts with it.
    static func value(of prefix: StaticString, in field: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        let count = prefix.utf8CodeUnitCount
        guard field.count >= count, let base = field.baseAddress, memcmp(base, prefix.utf8Start, count) == 0 else {
            return nil
        }
        return UnsafeRawBufferPointer(rebasing: field[count...])
    }

    /// A non-negative decimal number of at most 18 digits, or nil.
    static func integer(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    /// A field value as text (unit names are ASCII; anything else is repaired, not trusted).
    static func text(_ bytes: UnsafeRawBufferPointer) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}
