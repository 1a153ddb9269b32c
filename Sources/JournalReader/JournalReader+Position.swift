import CSystemd

#if canImport(Glibc)
    import Glibc
#endif

extension JournalReader {
    /// Where `prepare` left a fresh handle.
    struct Position {
        /// The handle sits on an entry not yet returned.
        var currentUnread = false
        /// Why a `.cursor` start fell back to `.bootStart`, if it did.
        var fellBack: String?
    }

    /// Sets a fresh handle up: no size limit on fields, the inotify watch, the filter, the start position.
    static func prepare(
        _ journal: OpaquePointer, filter: JournalFilter, start: JournalStart, bootID: String?
    ) throws(JournalReaderError) -> Position {
        // 0 = no limit: without this, compressed fields are cut at 64 KiB.
        try journalCheck(sd_journal_set_data_threshold(journal, 0), "sd_journal_set_data_threshold")
        // Creating the inotify watch now (not at the first sd_journal_wait) means no change after this point is
        // missed, and the first wait() really waits.
        try journalCheck(sd_journal_get_fd(journal), "sd_journal_get_fd")
        // Decided before the filter goes in: finding the boot looks at the journal unfiltered.
        let boot: String
        if let bootID { boot = bootID } else { boot = try journalBootID(journal) }
        try addFilter(journal, filter)

        switch start {
        case .bootStart:
            try seekBootStart(journal, bootID: boot)
            return Position()
        case .tail:
            try seekTail(journal)
            return Position()
        case .cursor(let cursor):
            let sought = sd_journal_seek_cursor(journal, cursor)
            guard sought >= 0 else {
                let error = JournalReaderError(
                    call: "sd_journal_seek_cursor", errno: -sought, detail: "cursor \"\(cursor)\"")
                try seekBootStart(journal, bootID: boot)
                return Position(fellBack: "\(error); reading from the start of the current boot instead")
            }
            // libsystemd moves to the entry at the cursor if it still exists, else to the first one after where
            // it was (by sequence number in the same journal, else by boot and monotonic time, else wall time).
            guard try journalCheck(sd_journal_next(journal), "sd_journal_next") > 0 else { return Position() }
            let same = try journalCheck(
                sd_journal_test_cursor(journal, cursor), "sd_journal_test_cursor", "cursor \"\(cursor)\"")
            // The cursor's own entry was shipped: next() steps past it. Any other entry is the first unshipped one.
            return Position(currentUnread: same == 0)
        }
    }

    /// Installs the filter: terms OR-ed with `sd_journal_add_disjunction`.
    static func addFilter(_ journal: OpaquePointer, _ filter: JournalFilter) throws(JournalReaderError) {
        for (index, term) in filter.terms.enumerated() {
            if index > 0 { try journalCheck(sd_journal_add_disjunction(journal), "sd_journal_add_disjunction") }
            for match in term { try addMatch(journal, match) }
        }
    }

    /// Adds one `FIELD=value` match.
    static func addMatch(_ journal: OpaquePointer, _ match: String) throws(JournalReaderError) {
        var bytes = Array(match.utf8)
        let count = bytes.count
        let result = bytes.withUnsafeMutableBytes { sd_journal_add_match(journal, $0.baseAddress, count) }
        try journalCheck(result, "sd_journal_add_match", "match \"\(match)\"")
    }

    /// AND-s `_BOOT_ID=<boot>` onto the filter and moves before the first entry.
    static func seekBootStart(_ journal: OpaquePointer, bootID: String) throws(JournalReaderError) {
        try journalCheck(sd_journal_add_conjunction(journal), "sd_journal_add_conjunction")
        try addMatch(journal, "_BOOT_ID=\(bootID)")
        try journalCheck(sd_journal_seek_head(journal), "sd_journal_seek_head")
    }

    /// The boot whose entries "this boot" means: the kernel's boot ID when the journal has entries of it; else the
    /// boot of the journal's newest entry. The two differ only where the agent's view of `/proc` is not the
    /// journal's — a sandboxed service in a container, where `boot_id` can be the host's — and there the journal's
    /// own newest entry is the one that belongs to this system. Leaves the handle unfiltered, before the head.
    static func journalBootID(_ journal: OpaquePointer) throws(JournalReaderError) -> String {
        let kernel = try currentBootID()
        try addMatch(journal, "_BOOT_ID=\(kernel)")
        try journalCheck(sd_journal_seek_head(journal), "sd_journal_seek_head")
        let kernelHasEntries = try journalCheck(sd_journal_next(journal), "sd_journal_next") > 0
        sd_journal_flush_matches(journal)
        defer { _ = sd_journal_seek_head(journal) }
        guard !kernelHasEntries else { return kernel }
        try journalCheck(sd_journal_seek_tail(journal), "sd_journal_seek_tail")
        guard try journalCheck(sd_journal_previous(journal), "sd_journal_previous") > 0 else { return kernel }
        var monotonic: UInt64 = 0
        var boot = sd_id128_t()
        guard sd_journal_get_monotonic_usec(journal, &monotonic, &boot) >= 0 else { return kernel }
        return bootText(boot)
    }

    /// Moves onto the last matching entry, so `sd_journal_next` returns only later ones (the documented
    /// `sd_journal_seek_tail` + `sd_journal_previous`). With no matching entry at all, the handle would stay at
    /// "tail", from which libsystemd's next step jumps to the *last* entry of each file, skipping any written
    /// in between; the head is then the same place (nothing matches before now) without that jump.
    static func seekTail(_ journal: OpaquePointer) throws(JournalReaderError) {
        try journalCheck(sd_journal_seek_tail(journal), "sd_journal_seek_tail")
        if try journalCheck(sd_journal_previous(journal), "sd_journal_previous") == 0 {
            try journalCheck(sd_journal_seek_head(journal), "sd_journal_seek_head")
        }
    }

    /// This boot's ID as 32 lower-case hex digits (`sd_id128_get_boot`).
    static func currentBootID() throws(JournalReaderError) -> String {
        var id = sd_id128_t()
        try journalCheck(sd_id128_get_boot(&id), "sd_id128_get_boot")
        return bootText(id)
    }

    /// A boot ID as 32 lower-case hex digits.
    static func bootText(_ id: sd_id128_t) -> String {
        var text = [CChar](repeating: 0, count: Int(SD_ID128_STRING_MAX))
        _ = sd_id128_to_string(id, &text)
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
