import CSystemd

#if canImport(Glibc)
    import Glibc
#endif

extension JournalReader {
    /// A descriptor to wait on with `poll` instead of calling `wait(timeout:)` (`sd_journal_get_fd`): when it is
    /// readable, or `pollTimeout` passed, call `process()`. Lets one thread wait on the journal and on other
    /// things at once; nil if libsystemd has none to offer.
    public var pollDescriptor: Int32? {
        let fd = withHandle { sd_journal_get_fd($0) }
        return fd >= 0 ? fd : nil
    }

    /// After the poll descriptor fired: lets libsystemd take in the changes (`sd_journal_process`); returns true
    /// if entries may have been added (APPEND or INVALIDATE).
    public func process() throws -> Bool {
        let result = withHandle { sd_journal_process($0) }
        if result == -EINTR { return false }
        try journalCheck(result, "sd_journal_process")
        return Int(result) != Int(SD_JOURNAL_NOP)
    }
}
