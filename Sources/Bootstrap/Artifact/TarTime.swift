/// A point in time as tar stores it: whole seconds since the epoch and nanoseconds.
struct TarTime: Equatable {
    /// Seconds since 1970-01-01 UTC (may be negative).
    var seconds: Int64
    /// 0 ..< 1,000,000,000.
    var nanoseconds: Int
}
