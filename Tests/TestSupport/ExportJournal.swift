import Foundation

/// Journal files with known content, built without journald: entries in the journal export format
/// (https://systemd.io/JOURNAL_EXPORT_FORMATS/) converted by `systemd-journal-remote`.
public struct ExportJournal {
    /// One entry: `(field, value)` pairs in order.
    public typealias Entry = [(String, [UInt8])]

    /// A made-up boot that is not the current one.
    public static let oldBoot = "0123456789abcdef0123456789abcdef"
    /// The machine's current boot (`/proc/sys/kernel/random/boot_id` without dashes), so the public
    /// `.bootStart` path (`sd_id128_get_boot`) finds these entries.
    public static let currentBoot: String = {
        let text = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)) ?? ""
        return text.filter { $0.isHexDigit }.lowercased()
    }()
    /// The wall-clock time of entry 0.
    public static let baseRealtime: UInt64 = 1_700_000_000_000_000

    /// The wall-clock time of entry `index`: 1 ms apart.
    public static func realtime(_ index: Int) -> UInt64 { baseRealtime + UInt64(index) * 1_000 }

    /// An entry as journald would store a unit's output line; `message: nil` leaves out `MESSAGE`.
    public static func entry(
        _ index: Int, unit: String?, message: [UInt8]?, boot: String = currentBoot, pid: Int? = nil,
        priority: Int? = 6, extra: [(String, String)] = [], realtime: UInt64? = nil
    ) -> Entry {
        var fields: Entry = [
            ("__REALTIME_TIMESTAMP", Array(String(realtime ?? Self.realtime(index)).utf8)),
            ("__MONOTONIC_TIMESTAMP", Array(String(5_000_000 + index * 1_000).utf8)),
            ("_BOOT_ID", Array(boot.utf8)),
            ("_PID", Array(String(pid ?? 1_000 + index).utf8)),
        ]
        if let unit { fields.append(("_SYSTEMD_UNIT", Array(unit.utf8))) }
        if let priority { fields.append(("PRIORITY", Array(String(priority).utf8))) }
        for (name, value) in extra { fields.append((name, Array(value.utf8))) }
        if let message { fields.append(("MESSAGE", message)) }
        return fields
    }

    /// A text message as bytes.
    public static func entry(
        _ index: Int, unit: String?, _ message: String, boot: String = currentBoot, pid: Int? = nil,
        priority: Int? = 6, extra: [(String, String)] = [], realtime: UInt64? = nil
    ) -> Entry {
        entry(
            index, unit: unit, message: Array(message.utf8), boot: boot, pid: pid, priority: priority, extra: extra,
            realtime: realtime)
    }

    /// The export-format bytes: `NAME=value` lines, or for values that are not plain printable text `NAME`,
    /// newline, the length as 64-bit little endian, the bytes, newline; a blank line after each entry.
    public static func exportBytes(_ entries: [Entry]) -> [UInt8] {
        var out: [UInt8] = []
        for entry in entries {
            for (name, value) in entry {
                out.append(contentsOf: name.utf8)
                if value.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) {
                    out.append(UInt8(ascii: "="))
                    out.append(contentsOf: value)
                } else {
                    out.append(UInt8(ascii: "\n"))
                    withUnsafeBytes(of: UInt64(value.count).littleEndian) { out.append(contentsOf: $0) }
                    out.append(contentsOf: value)
                }
                out.append(UInt8(ascii: "\n"))
            }
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    /// Writes `entries` into `<scratch>/<name>/<name>.journal` and returns that directory (for
    /// `sd_journal_open_directory`).
    public static func build(
        _ entries: [Entry], in scratch: TemporaryDirectory, name: String = "journal"
    ) throws -> String {
        let directory = scratch.file(name)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let export = scratch.file("\(name).export")
        try Data(exportBytes(entries)).write(to: URL(fileURLWithPath: export))
        try Command.run(
            ["/lib/systemd/systemd-journal-remote", "--output=\(directory)/\(name).journal", "-"], stdin: export,
            timeout: 60)
        return directory
    }
}
