/// The PutLogEvents limits (PutLogEvents API reference; see also aws-apis.md §1.2 in the design notes).
public enum CloudWatchLimits {
    /// Σ (UTF-8 bytes of each message + 26) per batch.
    public static let maxBatchBytes = 1_048_576
    /// Bytes counted per event on top of its message.
    public static let perEventOverhead = 26
    /// Events per batch.
    public static let maxEvents = 10_000
    /// Largest message: the 1 MB event limit minus the per-event overhead.
    public static let maxMessageBytes = 1_048_576 - 26
    /// Events of one batch must lie within 24 hours.
    public static let maxSpanMilliseconds: Int64 = 24 * 3_600_000
}
