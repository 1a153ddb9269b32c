/// Numbers as the doctor prints them.
enum Format {
    /// `45 s`, `9 min`, `2 h 5 min`, `3 d 4 h`.
    static func duration(_ seconds: Double) -> String {
        let total = Int(abs(seconds).rounded())
        if total < 120 { return "\(total) s" }
        if total < 3600 { return "\(total / 60) min" }
        if total < 86_400 { return "\(total / 3600) h \(total % 3600 / 60) min" }
        return "\(total / 86_400) d \(total % 86_400 / 3600) h"
    }

    /// `512 B`, `3.2 KiB`, `1.5 GiB`.
    static func bytes(_ count: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(count) B" }
        return "\(oneDecimal(value)) \(units[unit])"
    }

    /// `12.3`, `7` (no trailing `.0`).
    static func oneDecimal(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return tenths % 10 == 0 ? "\(tenths / 10)" : "\(tenths / 10).\(tenths % 10)"
    }

    /// `42 %` of a fraction in 0…1.
    static func percent(_ fraction: Double) -> String { "\(oneDecimal(fraction * 100)) %" }
}
