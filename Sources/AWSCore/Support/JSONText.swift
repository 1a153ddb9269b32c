/// Writes JSON text into byte buffers without an encoder: the agent's request bodies are small fixed shapes, and
/// PutLogEvents bodies are built on the hot path.
public enum JSONText {
    @usableFromInline
    static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `"<escaped>"` for valid UTF-8 bytes: `"` and `\` escaped, control characters as `\n`, `\t`, `\r`
    /// or `\u00XX`, everything else copied.
    @inlinable
    public static func appendQuoted(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        out.append(0x22)
        var start = 0
        var index = 0
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            if byte >= 0x20 && byte != 0x22 && byte != 0x5C {
                index += 1
                continue
            }
            if start < index { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<index])) }
            appendEscape(byte, to: &out)
            index += 1
            start = index
        }
        if start < count { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<count])) }
        out.append(0x22)
    }

    /// Appends the escape sequence of one byte that must be escaped.
    @inlinable
    public static func appendEscape(_ byte: UInt8, to out: inout [UInt8]) {
        switch byte {
        case 0x22: out.append(contentsOf: [0x5C, 0x22])
        case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
        case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
        case 0x0D: out.append(contentsOf: [0x5C, 0x72])
        case 0x09: out.append(contentsOf: [0x5C, 0x74])
        default:
            out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
        }
    }

    /// Appends a quoted, escaped string.
    public static func appendQuoted(_ text: String, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { appendQuoted(UnsafeRawBufferPointer($0), to: &out) }
    }

    /// A JSON object with string and integer members, in the given order.
    public static func object(_ members: [(String, JSONValue)]) -> [UInt8] {
        var out: [UInt8] = [0x7B]
        for (index, member) in members.enumerated() {
            if index > 0 { out.append(0x2C) }
            appendQuoted(member.0, to: &out)
            out.append(0x3A)
            switch member.1 {
            case .string(let value): appendQuoted(value, to: &out)
            case .int(let value): out.append(contentsOf: Array(String(value).utf8))
            case .raw(let bytes): out.append(contentsOf: bytes)
            }
        }
        out.append(0x7D)
        return out
    }
}

/// A member value for `JSONText.object`.
public enum JSONValue: Sendable {
    case string(String)
    case int(Int64)
    /// Pre-encoded JSON.
    case raw([UInt8])
}
