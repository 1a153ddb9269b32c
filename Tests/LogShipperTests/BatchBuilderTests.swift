import AWSCore
import Foundation
import LogShipper
import Testing

/// Every CloudWatch limit the batcher enforces, and how messages are cleaned up.
@Suite struct BatchBuilderTests {
    struct Body: Decodable {
        struct Event: Decodable {
            var timestamp: Int64
            var message: String
        }
        var logGroupName: String
        var logStreamName: String
        var logEvents: [Event]
    }

    static func decode(_ builder: BatchBuilder) throws -> Body {
        try decodeBody(builder.requestBody)
    }

    static func decodeBody(_ body: [UInt8]) throws -> Body {
        try JSONDecoder().decode(Body.self, from: Data(body))
    }

    static func append(
        _ builder: inout BatchBuilder, _ text: String, at time: Int64 = 1_700_000_000_000, continued: Bool = false
    ) throws(BatchBuilder.Refusal) {
        var bytes = Array(text.utf8)
        try append(&builder, bytes: &bytes, at: time, continued: continued)
    }

    static func append(
        _ builder: inout BatchBuilder, bytes: inout [UInt8], at time: Int64 = 1_700_000_000_000, continued: Bool = false
    ) throws(BatchBuilder.Refusal) {
        let result: Result<Void, BatchBuilder.Refusal> = bytes.withUnsafeBytes { raw in
            do throws(BatchBuilder.Refusal) {
                try builder.append(timestamp: time, message: raw, continued: continued)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    @Test func bodyIsTheDocumentedJSON() throws {
        var builder = BatchBuilder(group: "/clock/app", stream: "i-1/app")
        try Self.append(&builder, "plain line", at: 5)
        try Self.append(&builder, "quote \" backslash \\ tab \t ctrl \u{01} del \u{7F} ሴ 😀", at: 6)
        let body = try Self.decode(builder)
        #expect(body.logGroupName == "/clock/app")
        #expect(body.logStreamName == "i-1/app")
        #expect(
            body.logEvents.map(\.message) == ["plain line", "quote \" backslash \\ tab \t ctrl \u{01} del \u{7F} ሴ 😀"])
        #expect(body.logEvents.map(\.timestamp) == [5, 6])
        #expect(builder.count == 2)
        #expect(
            builder.size == "plain line".utf8.count
                + "quote \" backslash \\ tab \t ctrl \u{01} del \u{7F} ሴ 😀".utf8.count + 52)
    }

    @Test(arguments: [
        ([0x61, 0xFF, 0x62] as [UInt8], "a\u{FFFD}b"),  // invalid byte
        ([0x61, 0x00, 0x62], "a\u{FFFD}b"),  // NUL
        ([0xC3, 0x28], "\u{FFFD}("),  // bad continuation
        ([0xE0, 0x80, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}"),  // overlong
        ([0xED, 0xA0, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}"),  // surrogate
        ([0xF4, 0x90, 0x80, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}"),  // above U+10FFFF
        ([0xF0, 0x9F, 0x98], "\u{FFFD}\u{FFFD}\u{FFFD}"),  // truncated sequence
    ])
    func invalidUTF8AndNULAreReplacedAndCountedAfterReplacement(input: [UInt8], expected: String) throws {
        var builder = BatchBuilder(group: "g", stream: "s")
        var bytes = input
        try Self.append(&builder, bytes: &bytes)
        #expect(try Self.decode(builder).logEvents.first?.message == expected)
        #expect(builder.size == expected.utf8.count + 26)
        #expect(builder.sanitisedEvents == 1)
    }

    @Test func emptyMessagesAreRefused() {
        var builder = BatchBuilder(group: "g", stream: "s")
        #expect(throws: BatchBuilder.Refusal.empty) { try Self.append(&builder, "") }
        #expect(builder.isEmpty)
    }

    @Test func batchBytesLimitCountsTwentySixPerEvent() throws {
        var builder = BatchBuilder(group: "g", stream: "s")
        let message = String(repeating: "x", count: 1000)
        var added = 0
        while true {
            do throws(BatchBuilder.Refusal) {
                try Self.append(&builder, message)
                added += 1
            } catch {
                #expect(error == .full)
                break
            }
        }
        #expect(added == CloudWatchLimits.maxBatchBytes / 1026)
        #expect(builder.size <= CloudWatchLimits.maxBatchBytes)
        #expect(builder.size + 1026 > CloudWatchLimits.maxBatchBytes)
        #expect(try Self.decode(builder).logEvents.count == added)
        // The refused event left no trace in the body.
        #expect(builder.requestBody.last == 0x7D)
    }

    @Test func tenThousandEventsAtMost() throws {
        var builder = BatchBuilder(group: "g", stream: "s")
        for _ in 0..<CloudWatchLimits.maxEvents { try Self.append(&builder, "e") }
        #expect(throws: BatchBuilder.Refusal.full) { try Self.append(&builder, "e") }
        #expect(try Self.decode(builder).logEvents.count == 10_000)
    }

    @Test func spanOfMoreThanADayStartsANewBatch() throws {
        var builder = BatchBuilder(group: "g", stream: "s")
        try Self.append(&builder, "first", at: 0)
        try Self.append(&builder, "a day later", at: CloudWatchLimits.maxSpanMilliseconds)
        #expect(throws: BatchBuilder.Refusal.full) {
            try Self.append(&builder, "too late", at: CloudWatchLimits.maxSpanMilliseconds + 1)
        }
    }

    @Test func oversizedMessagesAreTruncatedWithAMarker() throws {
        var builder = BatchBuilder(group: "g", stream: "s")
        // Two-byte characters: the cut must fall on a character boundary.
        try Self.append(&builder, String(repeating: "é", count: 600_000))
        let message = try #require(try Self.decode(builder).logEvents.first?.message)
        #expect(message.hasSuffix("[clock-agent: truncated at the 1 MB event limit]"))
        #expect(message.utf8.count <= CloudWatchLimits.maxMessageBytes)
        #expect(builder.truncatedEvents == 1)
        #expect(builder.size <= CloudWatchLimits.maxBatchBytes)
    }

    @Test func continuedPiecesCarryTheMarker() throws {
        var builder = BatchBuilder(group: "g", stream: "s")
        try Self.append(&builder, "first part", continued: true)
        #expect(
            try Self.decode(builder).logEvents.first?.message
                == "first part [clock-agent: line continues in the next event]")
    }

    @Test func resetKeepsTheHeader() throws {
        var builder = BatchBuilder(group: "g", stream: "s")
        try Self.append(&builder, "one")
        builder.reset()
        #expect(builder.isEmpty)
        try Self.append(&builder, "two")
        #expect(try Self.decode(builder).logEvents.map(\.message) == ["two"])
    }

    /// The eight-bytes-at-a-time path and the byte path agree on every byte value at every alignment.
    @Test func fastPathAgreesWithTheSlowPath() throws {
        for byte in UInt8(0)...UInt8(127) {
            for position in 0..<16 {
                var bytes = [UInt8](repeating: 0x61, count: 24)
                bytes[position] = byte
                var builder = BatchBuilder(group: "g", stream: "s")
                try Self.append(&builder, bytes: &bytes)
                let expected = bytes.map { $0 == 0 ? "\u{FFFD}" : String(UnicodeScalar($0)) }.joined()
                #expect(try Self.decode(builder).logEvents[0].message == expected, "byte \(byte) at \(position)")
            }
        }
    }
}

@Suite struct LineFramerTests {
    static func frame(_ chunks: [String], maxPiece: Int = 1000) -> [(String, Int64, Bool)] {
        var framer = LineFramer(maxPiece: maxPiece)
        var lines: [(String, Int64, Bool)] = []
        var offset: Int64 = 0
        for chunk in chunks {
            let bytes = Array(chunk.utf8)
            offset += Int64(bytes.count)
            bytes.withUnsafeBytes { raw in
                framer.feed(raw, endingAt: offset) { line, end, continued in
                    lines.append((String(decoding: line, as: UTF8.self), end, continued))
                }
            }
        }
        return lines
    }

    @Test func linesSplitAcrossChunksAndCRLF() {
        let lines = Self.frame(["one\r\ntw", "o\n\nthr", "ee\n", "partial"])
        #expect(lines.map(\.0) == ["one", "two", "", "three"])
        #expect(lines.map(\.1) == [5, 9, 10, 16])
        #expect(lines.allSatisfy { !$0.2 })
    }

    @Test func longLinesAreCutIntoPiecesAtCharacterBoundaries() {
        let line = String(repeating: "ab", count: 10) + "ሴ" + String(repeating: "c", count: 10)
        let lines = Self.frame([line + "\n"], maxPiece: 21)
        // 21 bytes would cut "ሴ" (bytes 20-22) in two: the first piece stops before it.
        #expect(lines.map(\.2) == [true, false])
        #expect(lines.map(\.0).joined() == line)
        #expect(lines[0].0 == String(repeating: "ab", count: 10))
        #expect(lines[1].0 == "ሴ" + String(repeating: "c", count: 10))
        // Each piece reports the offset just past it.
        #expect(lines[0].1 == 20)
        #expect(lines.last?.1 == Int64(line.utf8.count + 1))
    }

    @Test func heldLinesAreCutToo() {
        let lines = Self.frame(
            [String(repeating: "x", count: 25), String(repeating: "y", count: 25), "\n"], maxPiece: 20)
        #expect(lines.map(\.0).joined() == String(repeating: "x", count: 25) + String(repeating: "y", count: 25))
        #expect(lines.dropLast().allSatisfy { $0.2 })
        #expect(lines.last?.1 == 51)
    }

    @Test func flushHandsOutThePartialLine() {
        var framer = LineFramer()
        var lines: [String] = []
        Array("done\nlast words".utf8).withUnsafeBytes { raw in
            framer.feed(raw, endingAt: 15) { line, _, _ in lines.append(String(decoding: line, as: UTF8.self)) }
        }
        framer.flush(at: 15) { line, end, _ in
            lines.append(String(decoding: line, as: UTF8.self))
            #expect(end == 15)
        }
        #expect(lines == ["done", "last words"])
    }
}

@Suite struct AckTrackerTests {
    @Test func positionsCommitOnlyInOrder() {
        var tracker = AckTracker()
        let key = InputKey.file(device: 1, inode: 2)
        tracker.sent(1, positions: [key: .offset(100, generation: 0)])
        tracker.sent(2, positions: [key: .offset(200, generation: 0)])
        tracker.sent(3, positions: [key: .offset(300, generation: 0)])
        #expect(tracker.acknowledge(2).isEmpty)
        #expect(tracker.inFlight == 2)
        #expect(tracker.acknowledge(1).map { $0[key] } == [.offset(100, generation: 0), .offset(200, generation: 0)])
        #expect(tracker.acknowledge(3).map { $0[key] } == [.offset(300, generation: 0)])
        #expect(tracker.inFlight == 0)
        #expect(tracker.acknowledge(3).isEmpty)
    }
}

@Suite struct StreamNameTests {
    @Test func placeholdersAndForbiddenCharacters() {
        let values = StreamName.Values(
            instanceID: "i-1", hostname: "host:1", region: "us-east-1", availabilityZone: "us-east-1a")
        #expect(StreamName.render("{instance_id}/{source}", source: "app", values: values) == "i-1/app")
        #expect(
            StreamName.render("{hostname}-{az}-{region}*", source: "x", values: values)
                == "host_1-us-east-1a-us-east-1_")
    }
}
