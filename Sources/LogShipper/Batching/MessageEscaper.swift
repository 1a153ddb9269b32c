/// Sanitises and JSON-escapes one log message straight into a request body, in one pass.
///
/// Invalid UTF-8 and NUL become U+FFFD (CloudWatch would replace invalid bytes itself, but the batch size must be
/// counted after the replacement); `"`, `\` and control characters are escaped. Plain ASCII is copied sixteen bytes
/// at a time: each block is stored before it is checked (the destination has slack for it), and when a block holds
/// a byte that needs work, the first such byte is found from the same bit mask, so a line with two quotes costs two
/// detours, not a byte-by-byte walk.
enum MessageEscaper {
    /// What one call wrote.
    struct Written: Equatable {
        /// JSON bytes written to the destination.
        var output: Int
        /// UTF-8 bytes of the sanitised message (what CloudWatch counts).
        var counted: Int
        /// Whether an invalid sequence or a NUL was replaced.
        var replaced: Bool
        /// Whether the whole input fit under the limit (false: cut at a character boundary).
        var complete: Bool
    }

    /// The most JSON bytes one input byte can become (`\u00XX`).
    static let maxExpansion = 6
    /// Bytes the escaper may store past the end of what it reports as written.
    static let overshoot = 16

    /// Writes the sanitised, escaped message to `destination`, stopping before the sanitised length would pass
    /// `limit` (at a character boundary).
    ///
    /// `destination` must have room for `maxExpansion × input.count + overshoot` bytes.
    static func write(_ input: UnsafeRawBufferPointer, limit: Int, to destination: UnsafeMutableRawPointer) -> Written {
        guard let source = input.baseAddress else {
            return Written(output: 0, counted: 0, replaced: false, complete: true)
        }
        let count = input.count
        var index = 0
        var output = 0
        var counted = 0
        var replaced = false
        while index < count {
            // Fast path: sixteen plain bytes, then eight.
            let left = count &- index
            let room = limit &- counted
            if left >= 16 && room >= 16 {
                let low = source.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                let high = source.loadUnaligned(fromByteOffset: index &+ 8, as: UInt64.self)
                destination.storeBytes(of: low, toByteOffset: output, as: UInt64.self)
                destination.storeBytes(of: high, toByteOffset: output &+ 8, as: UInt64.self)
                let lowMask = specialBytes(low)
                let highMask = specialBytes(high)
                if lowMask | highMask == 0 {
                    index &+= 16
                    output &+= 16
                    counted &+= 16
                    continue
                }
                let step = lowMask != 0 ? lowMask.trailingZeroBitCount &>> 3 : 8 &+ highMask.trailingZeroBitCount &>> 3
                index &+= step
                output &+= step
                counted &+= step
            } else if left >= 8 && room >= 8 {
                let word = source.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                destination.storeBytes(of: word, toByteOffset: output, as: UInt64.self)
                let mask = specialBytes(word)
                if mask == 0 {
                    index &+= 8
                    output &+= 8
                    counted &+= 8
                    continue
                }
                let step = mask.trailingZeroBitCount &>> 3
                index &+= step
                output &+= step
                counted &+= step
            }
            // One byte: plain (near the end or the limit), escaped, replaced, or a multi-byte character.
            let byte = source.load(fromByteOffset: index, as: UInt8.self)
            if byte &- 0x20 < 0x60 && byte != 0x22 && byte != 0x5C {
                guard counted < limit else { break }
                destination.storeBytes(of: byte, toByteOffset: output, as: UInt8.self)
                index &+= 1
                output &+= 1
                counted &+= 1
                continue
            }
            if byte < 0x80 {
                if byte == 0 {
                    guard counted &+ 3 <= limit else { break }
                    storeReplacement(destination, at: output)
                    output &+= 3
                    counted &+= 3
                    replaced = true
                } else {
                    guard counted < limit else { break }
                    output &+= storeEscape(byte, destination, at: output)
                    counted &+= 1
                }
                index &+= 1
                continue
            }
            let length = validSequenceLength(source, index, count)
            if length > 0 {
                guard counted &+ length <= limit else { break }
                for offset in 0..<length {
                    destination.storeBytes(
                        of: source.load(fromByteOffset: index &+ offset, as: UInt8.self),
                        toByteOffset: output &+ offset, as: UInt8.self)
                }
                index &+= length
                output &+= length
                counted &+= length
            } else {
                guard counted &+ 3 <= limit else { break }
                storeReplacement(destination, at: output)
                output &+= 3
                counted &+= 3
                replaced = true
                index &+= 1
            }
        }
        return Written(output: output, counted: counted, replaced: replaced, complete: index >= count)
    }

    /// The high bit of each byte that is not plain: below 0x20, 0x80 or above, `"` or `\`.
    ///
    /// Borrows only run from a flagged byte upwards, so the lowest flagged byte is always exact (bytes above it may
    /// be flagged wrongly; callers only use the lowest).
    @inline(__always)
    static func specialBytes(_ word: UInt64) -> UInt64 {
        let highBits: UInt64 = 0x8080_8080_8080_8080
        let ones: UInt64 = 0x0101_0101_0101_0101
        let control = (word &- 0x2020_2020_2020_2020) & ~word
        let quote = word ^ 0x2222_2222_2222_2222
        let backslash = word ^ 0x5C5C_5C5C_5C5C_5C5C
        return (word | control | ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash)) & highBits
    }

    /// U+FFFD as UTF-8.
    @inline(__always)
    static func storeReplacement(_ destination: UnsafeMutableRawPointer, at offset: Int) {
        destination.storeBytes(of: 0xEF, toByteOffset: offset, as: UInt8.self)
        destination.storeBytes(of: 0xBF, toByteOffset: offset &+ 1, as: UInt8.self)
        destination.storeBytes(of: 0xBD, toByteOffset: offset &+ 2, as: UInt8.self)
    }

    /// Writes the JSON escape of an ASCII byte that needs one; returns its length (2 or 6).
    @inline(__always)
    static func storeEscape(_ byte: UInt8, _ destination: UnsafeMutableRawPointer, at offset: Int) -> Int {
        let short: UInt8
        switch byte {
        case 0x22: short = 0x22
        case 0x5C: short = 0x5C
        case 0x0A: short = 0x6E
        case 0x0D: short = 0x72
        case 0x09: short = 0x74
        default:
            let digits: StaticString = "0123456789abcdef"
            destination.storeBytes(of: 0x5C, toByteOffset: offset, as: UInt8.self)
            destination.storeBytes(of: 0x75, toByteOffset: offset &+ 1, as: UInt8.self)
            destination.storeBytes(of: 0x30, toByteOffset: offset &+ 2, as: UInt8.self)
            destination.storeBytes(of: 0x30, toByteOffset: offset &+ 3, as: UInt8.self)
            destination.storeBytes(of: digits.utf8Start[Int(byte &>> 4)], toByteOffset: offset &+ 4, as: UInt8.self)
            destination.storeBytes(of: digits.utf8Start[Int(byte & 0x0F)], toByteOffset: offset &+ 5, as: UInt8.self)
            return 6
        }
        destination.storeBytes(of: 0x5C, toByteOffset: offset, as: UInt8.self)
        destination.storeBytes(of: short, toByteOffset: offset &+ 1, as: UInt8.self)
        return 2
    }

    /// The length (2–4) of a well-formed UTF-8 sequence starting at `index`, or 0 if it is not one
    /// (overlong forms, surrogates and values above U+10FFFF are rejected, as Unicode requires).
    @inline(__always)
    static func validSequenceLength(_ base: UnsafeRawPointer, _ index: Int, _ count: Int) -> Int {
        let lead = base.load(fromByteOffset: index, as: UInt8.self)
        func continuation(_ offset: Int) -> UInt8? {
            guard index + offset < count else { return nil }
            let byte = base.load(fromByteOffset: index + offset, as: UInt8.self)
            return byte & 0xC0 == 0x80 ? byte : nil
        }
        switch lead {
        case 0xC2...0xDF:
            return continuation(1) != nil ? 2 : 0
        case 0xE0...0xEF:
            guard let second = continuation(1), continuation(2) != nil else { return 0 }
            if lead == 0xE0 && second < 0xA0 { return 0 }
            if lead == 0xED && second > 0x9F { return 0 }
            return 3
        case 0xF0...0xF4:
            guard let second = continuation(1), continuation(2) != nil, continuation(3) != nil else { return 0 }
            if lead == 0xF0 && second < 0x90 { return 0 }
            if lead == 0xF4 && second > 0x8F { return 0 }
            return 4
        default:
            return 0
        }
    }
}
