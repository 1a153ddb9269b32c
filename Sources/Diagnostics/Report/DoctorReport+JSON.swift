import AWSCore

extension DoctorReport {
    /// The JSON form (documented on `DoctorReport`): one check per line inside `checks`, keys in a fixed order.
    public var json: String {
        var out: [UInt8] = Array("{\"checks\": [".utf8)
        for (index, check) in checks.enumerated() {
            out.append(contentsOf: Array((index == 0 ? "\n  " : ",\n  ").utf8))
            out.append(
                contentsOf: JSONText.object([
                    ("name", .string(check.name)), ("status", .string(check.status.rawValue)),
                    ("detail", .string(check.detail)), ("hint", .string(check.hint)),
                ]))
        }
        out.append(contentsOf: Array((checks.isEmpty ? "], " : "\n], ").utf8))
        out.append(contentsOf: Array("\"summary\": ".utf8))
        out.append(
            contentsOf: JSONText.object([
                ("ok", .int(Int64(count(.ok)))), ("warn", .int(Int64(count(.warn)))),
                ("fail", .int(Int64(count(.fail)))), ("skip", .int(Int64(count(.skip)))),
            ]))
        out.append(contentsOf: Array("}\n".utf8))
        return String(decoding: out, as: UTF8.self)
    }
}
