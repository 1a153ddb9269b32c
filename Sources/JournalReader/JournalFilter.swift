#if canImport(Glibc)
    import Glibc
#endif

/// The match expression a reader installs with `sd_journal_add_match`
/// (https://www.freedesktop.org/software/systemd/man/sd_journal_add_match.html).
///
/// libsystemd evaluates matches as an AND (`sd_journal_add_conjunction`) of ORs (`sd_journal_add_disjunction`) of
/// terms; inside a term, matches on different fields are AND-ed and matches on the same field OR-ed. A filter is
/// the OR of `terms`; `.bootStart` AND-s one more match, `_BOOT_ID=…`, onto the whole of it.
struct JournalFilter: Sendable, Equatable {
    /// The OR-ed terms; each term is a list of `FIELD=value` matches.
    var terms: [[String]]
    /// The units the filter selects (normalized), so an entry's `unit` can be told from `UNIT` or `_SYSTEMD_UNIT`.
    var units: [String]

    /// The systemd unit types (`systemd.unit(5)`): a name ending in one of these already has its suffix.
    static let unitSuffixes = [
        "service", "socket", "device", "mount", "automount", "swap", "target", "path", "timer", "slice", "scope",
    ]

    /// The filter for the entries of some units, as `journalctl -u` selects them (minus coredumps):
    /// `_SYSTEMD_UNIT=<unit>` (the unit's own output; journald sets it from the sender's cgroup, so it cannot be
    /// forged), OR `_PID=1` AND `UNIT=<unit>` (systemd's own messages about the unit: started, stopped, exit
    /// status, restarts). `UNIT=` alone is not enough: any process may send that field, so without `_PID=1`
    /// another program could inject lines into the unit's stream.
    static func units(_ names: [String]) throws(JournalReaderError) -> JournalFilter {
        guard !names.isEmpty else {
            throw JournalReaderError(call: "JournalReader.init", errno: EINVAL, detail: "no units given")
        }
        var units: [String] = []
        for name in names {
            let unit = try normalizedUnit(name)
            if !units.contains(unit) { units.append(unit) }
        }
        return JournalFilter(
            terms: [
                units.map { "_SYSTEMD_UNIT=\($0)" },
                ["_PID=1"] + units.map { "UNIT=\($0)" },
            ],
            units: units
        )
    }

    /// A unit name with its type suffix: `clock-agent` → `clock-agent.service`; `foo.timer` stays.
    static func normalizedUnit(_ name: String) throws(JournalReaderError) -> String {
        let bad =
            name.isEmpty || name.utf8.count > 255
            || name.unicodeScalars.contains { $0 == "/" || $0 == "=" || $0.value <= 0x20 || $0.value == 0x7f }
        guard !bad else {
            throw JournalReaderError(call: "JournalReader.init", errno: EINVAL, detail: "unit name \"\(name)\"")
        }
        if let dot = name.lastIndex(of: "."), unitSuffixes.contains(String(name[name.index(after: dot)...])) {
            return name
        }
        return name + ".service"
    }
}
