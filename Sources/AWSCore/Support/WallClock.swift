import Synchronization

/// Reads the wall clock. The agent uses `SystemClock`; tests substitute a skewed or frozen one.
public protocol WallClock: Sendable {
    /// The current wall-clock time.
    func now() -> UTCTime
}

/// The system's real-time clock.
public struct SystemClock: WallClock {
    /// Creates the system clock.
    public init() {}

    public func now() -> UTCTime { UTCTime.now() }
}

/// The local clock corrected by the offset AWS's `Date` headers show, so requests sign with AWS's time even when
/// the instance clock is off (e.g. at boot, before chrony stepped it).
///
/// The AWS SDKs keep such an offset (`systemClockOffset` in the JavaScript SDK) and re-sign once on
/// `RequestTimeTooSkewed`, `InvalidSignatureException` and similar; see `AWSClient`.
public final class ClockCorrection: WallClock, Sendable {
    private let base: any WallClock
    private let offset = Mutex<Double>(0)
    /// Offsets smaller than this are ignored: the `Date` header has one-second resolution and a few seconds
    /// never break a signature (S3 allows 15 minutes, other services 5).
    public static let threshold: Double = 60

    /// Wraps a clock.
    public init(base: any WallClock = SystemClock()) { self.base = base }

    /// The corrected time.
    public func now() -> UTCTime { base.now().adding(offset.withLock { $0 }) }

    /// The current correction in seconds (server minus local).
    public var currentOffset: Double { offset.withLock { $0 } }

    /// Learns from a response's `Date` header. Returns true when the correction changed.
    @discardableResult
    public func observe(dateHeader: String?) -> Bool {
        guard let dateHeader, let server = UTCTime(httpDate: dateHeader) else { return false }
        let local = base.now().secondsSinceEpoch
        return offset.withLock { current in
            let skew = server.secondsSinceEpoch - (local + current)
            guard abs(skew) >= Self.threshold else { return false }
            current = server.secondsSinceEpoch - local
            return true
        }
    }
}
