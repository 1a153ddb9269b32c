#if canImport(Glibc)
    import Glibc
#endif

/// Wall-clock time as the AWS wire formats need it, in whole and fractional seconds since the Unix epoch.
///
/// Formatting and parsing go through `gmtime_r`/`timegm`, so no locale or calendar machinery is involved.
public struct UTCTime: Sendable, Comparable, Hashable, CustomStringConvertible {
    /// Seconds since 1970-01-01T00:00:00Z.
    public var secondsSinceEpoch: Double

    /// Creates a time from seconds since the epoch.
    public init(secondsSinceEpoch: Double) { self.secondsSinceEpoch = secondsSinceEpoch }

    /// The current time of the system clock.
    public static func now() -> UTCTime {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return UTCTime(secondsSinceEpoch: Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9)
    }

    /// Milliseconds since the epoch, as CloudWatch Logs timestamps are.
    public var milliseconds: Int64 { Int64((secondsSinceEpoch * 1000).rounded(.down)) }

    /// This time moved by `seconds`.
    public func adding(_ seconds: Double) -> UTCTime { UTCTime(secondsSinceEpoch: secondsSinceEpoch + seconds) }

    public static func < (lhs: UTCTime, rhs: UTCTime) -> Bool { lhs.secondsSinceEpoch < rhs.secondsSinceEpoch }

    private var parts: tm {
        var seconds = time_t(secondsSinceEpoch.rounded(.down))
        var result = tm()
        gmtime_r(&seconds, &result)
        return result
    }

    /// `YYYYMMDDTHHMMSSZ`, the `x-amz-date` format.
    public var amzDate: String {
        let t = parts
        return pad(Int(t.tm_year) + 1900, 4) + pad(Int(t.tm_mon) + 1, 2) + pad(Int(t.tm_mday), 2) + "T"
            + pad(Int(t.tm_hour), 2) + pad(Int(t.tm_min), 2) + pad(Int(t.tm_sec), 2) + "Z"
    }

    /// `YYYYMMDD`, the credential scope date.
    public var scopeDate: String { String(amzDate.prefix(8)) }

    /// `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, whole seconds).
    public var iso8601: String {
        let t = parts
        return pad(Int(t.tm_year) + 1900, 4) + "-" + pad(Int(t.tm_mon) + 1, 2) + "-" + pad(Int(t.tm_mday), 2) + "T"
            + pad(Int(t.tm_hour), 2) + ":" + pad(Int(t.tm_min), 2) + ":" + pad(Int(t.tm_sec), 2) + "Z"
    }

    public var description: String { iso8601 }

    private func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }

    /// Parses RFC 3339 / ISO 8601 UTC times such as `2026-11-25T18:04:11Z`, with optional fractional seconds and
    /// a `Z` or `±HH:MM` offset (the forms IMDS, STS and spot notices use).
    public init?(iso8601 text: String) {
        let bytes = Array(text.utf8)
        func number(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[start..<start + count] {
                guard byte >= 0x30 && byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        }
        guard bytes.count >= 20, let year = number(0, 4), bytes[4] == 0x2D, let month = number(5, 2),
            bytes[7] == 0x2D, let day = number(8, 2), bytes[10] == 0x54 || bytes[10] == 0x74 || bytes[10] == 0x20,
            let hour = number(11, 2), bytes[13] == 0x3A, let minute = number(14, 2), bytes[16] == 0x3A,
            let second = number(17, 2), (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60,
            second < 61
        else { return nil }
        var index = 19
        var fraction = 0.0
        if index < bytes.count, bytes[index] == 0x2E {
            index += 1
            var scale = 0.1
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                fraction += Double(bytes[index] - 0x30) * scale
                scale /= 10
                index += 1
            }
        }
        var offset = 0
        guard index < bytes.count else { return nil }
        switch bytes[index] {
        case 0x5A, 0x7A:
            guard index + 1 == bytes.count else { return nil }
        case 0x2B, 0x2D:
            guard index + 6 == bytes.count, let oh = number(index + 1, 2), bytes[index + 3] == 0x3A,
                let om = number(index + 4, 2)
            else { return nil }
            offset = (oh * 3600 + om * 60) * (bytes[index] == 0x2D ? -1 : 1)
        default:
            return nil
        }
        var t = tm()
        t.tm_year = Int32(year - 1900)
        t.tm_mon = Int32(month - 1)
        t.tm_mday = Int32(day)
        t.tm_hour = Int32(hour)
        t.tm_min = Int32(minute)
        t.tm_sec = Int32(second)
        let seconds = timegm(&t)
        self.init(secondsSinceEpoch: Double(seconds - time_t(offset)) + fraction)
    }

    /// Parses the HTTP `Date` header format of RFC 7231 (`Wed, 25 Nov 2026 08:04:42 GMT`).
    public init?(httpDate text: String) {
        let fields = text.split(separator: " ")
        guard fields.count == 6, fields[5] == "GMT", let day = Int(fields[1]), let year = Int(fields[3]) else {
            return nil
        }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard let month = months.firstIndex(of: String(fields[2])) else { return nil }
        let clock = fields[4].split(separator: ":")
        guard clock.count == 3, let hour = Int(clock[0]), let minute = Int(clock[1]), let second = Int(clock[2]) else {
            return nil
        }
        var t = tm()
        t.tm_year = Int32(year - 1900)
        t.tm_mon = Int32(month)
        t.tm_mday = Int32(day)
        t.tm_hour = Int32(hour)
        t.tm_min = Int32(minute)
        t.tm_sec = Int32(second)
        self.init(secondsSinceEpoch: Double(timegm(&t)))
    }
}
