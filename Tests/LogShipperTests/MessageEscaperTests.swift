import Foundation
import Testing

@testable import LogShipper

/// The one-pass escaper against a plain byte-by-byte reference, on random and adversarial input.
@Suite struct MessageEscaperTests {
    /// The reference: sanitise (invalid UTF-8 and NUL → U+FFFD, one per byte of an ill-formed sequence), then let
    /// JSON carry it. Returns the string CloudWatch must receive and its UTF-8 length.
    static func reference(_ bytes: [UInt8]) -> String {
        var scalars = String.UnicodeScalarView()
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte < 0x80 {
                scalars.append(byte == 0 ? "\u{FFFD}" : UnicodeScalar(byte))
                index += 1
                continue
            }
            let length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 0
            if length > 0, index + length <= bytes.count,
                let text = String(validating: bytes[index..<(index + length)], as: UTF8.self),
                text.unicodeScalars.count == 1
            {
                scalars.append(text.unicodeScalars.first!)
                index += length
            } else {
                scalars.append("\u{FFFD}")
                index += 1
            }
        }
        return String(scalars)
    }

    static func escape(_ bytes: [UInt8], limit: Int = .max) throws -> (String, MessageEscaper.Written) {
        var out = [UInt8](repeating: 0xAA, count: MessageEscaper.maxExpansion * bytes.count + MessageEscaper.overshoot)
        let written = out.withUnsafeMutableBytes { destination in
            bytes.withUnsafeBytes { MessageEscaper.write($0, limit: limit, to: destination.baseAddress!) }
        }
        let json = [0x22] + out[0..<written.output] + [0x22]
        let text = try JSONDecoder().decode(String.self, from: Data(json))
        return (text, written)
    }

    @Test func randomInputMatchesTheReference() throws {
        var generator = SystemRandomNumberGenerator()
        // Weighted towards what breaks fast paths: plain runs, quotes, backslashes, controls, NUL, UTF-8 fragments.
        let alphabet: [[UInt8]] = [
            Array("abcdefghijklmnop".utf8), [0x22], [0x5C], [0x00], [0x01], [0x09], [0x0A], [0x0D], [0x1F], [0x7F],
            [0xC3, 0xA9], [0xE2, 0x82, 0xAC], [0xF0, 0x9F, 0x98, 0x80], [0xFF], [0x80], [0xC3], [0xE0, 0x80],
            [0xED, 0xA0, 0x80],
            [0xF4, 0x90, 0x80, 0x80], Array(String(repeating: "x", count: 40).utf8),
        ]
        for _ in 0..<2_000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 0...24, using: &generator) {
                bytes += alphabet.randomElement(using: &generator)!
            }
            let expected = Self.reference(bytes)
            let (text, written) = try Self.escape(bytes)
            #expect(text == expected, "input \(bytes)")
            #expect(written.counted == expected.utf8.count)
            #expect(written.complete)
            // The alphabet holds no literal U+FFFD, so every one in the output is a replacement.
            #expect(written.replaced == expected.unicodeScalars.contains("\u{FFFD}"))
        }
    }

    /// Every byte value at every position of the sixteen- and eight-byte blocks and the tail.
    @Test func everyByteAtEveryPosition() throws {
        for byte in UInt8(0)...UInt8(0x7F) {
            for position in 0..<40 {
                var bytes = [UInt8](repeating: 0x61, count: 40)
                bytes[position] = byte
                let (text, written) = try Self.escape(bytes)
                #expect(text == Self.reference(bytes), "byte \(byte) at \(position)")
                #expect(written.counted == Self.reference(bytes).utf8.count)
            }
        }
    }

    /// A limit cuts at a character boundary, in the fast path as well as in the byte path.
    @Test(arguments: [1, 7, 8, 9, 15, 16, 17, 31, 33, 41, 42, 43, 45, 46, 48, 49, 52])
    func limitCutsAtACharacterBoundary(limit: Int) throws {
        let bytes = Array((String(repeating: "ab", count: 20) + "é€😀" + String(repeating: "c", count: 20)).utf8)
        let (text, written) = try Self.escape(bytes, limit: limit)
        #expect(written.counted <= limit)
        #expect(!written.complete)
        #expect(Self.reference(bytes).hasPrefix(text))
        #expect(text.utf8.count == written.counted)
        // Only a character that does not fit is left out.
        let next = Self.reference(bytes).dropFirst(text.count).first.map { String($0).utf8.count } ?? 0
        #expect(written.counted + next > limit)
    }
}
