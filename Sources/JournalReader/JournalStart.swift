/// Where a `JournalReader` starts reading.
public enum JournalStart: Sendable, Equatable {
    /// After the entry with this cursor (a checkpoint): that entry itself was already shipped and is skipped. If
    /// the entry is gone (rotated or vacuumed away), reading starts at the first entry after where it was.
    case cursor(String)
    /// The first entry of the current boot (matches `_BOOT_ID` of `sd_id128_get_boot`).
    case bootStart
    /// Only entries written from now on.
    case tail
}
