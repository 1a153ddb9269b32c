import AWSCore
import Foundation
import LogShipper
import Testing

/// Every PutLogEvents limit at its exact boundary, one row per case: what fits, and the first thing that doesn't.
@Suite struct BatchLimitTests {
    /// Fills a builder with `events` messages of `length` bytes at `timestamps(i)`, then tries one more.
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var events: Int
        var length: Int
        var lastLength: Int
        var span: Int64
        /// What the builder must answer for the extra event.
        var extra: BatchBuilder.Refusal?
        var testDescription: String { name }
    }

    static let perEvent = CloudWatchLimits.perEventOverhead

    static let cases: [Case] = [
        // 1,048,576 = 1,024 × 1,024: events of 998 bytes count exactly 1,024 each.
        Case(
            name: "bytes: exactly 1,048,576 fits", events: 1023, length: 1024 - perEvent, lastLength: 1024 - perEvent,
            span: 0, extra: .full),
        Case(
            name: "bytes: 27 bytes of room take a 1-byte event", events: 1023, length: 1024 - perEvent,
            lastLength: 1024 - perEvent - 27, span: 0, extra: nil),
        Case(
            name: "bytes: 26 bytes of room don't", events: 1023, length: 1024 - perEvent,
            lastLength: 1024 - perEvent - 26, span: 0, extra: .full),
        Case(
            name: "events: 10,000 fit, the 10,001st does not", events: 9999, length: 1, lastLength: 1, span: 0,
            extra: .full),
        Case(name: "events: 9,999 leave room", events: 9998, length: 1, lastLength: 1, span: 0, extra: nil),
        Case(
            name: "span: exactly 24 h fits", events: 1, length: 10, lastLength: 10,
            span: CloudWatchLimits.maxSpanMilliseconds, extra: nil),
        Case(
            name: "span: 24 h + 1 ms does not", events: 1, length: 10, lastLength: 10,
            span: CloudWatchLimits.maxSpanMilliseconds + 1, extra: .full),
        Case(
            name: "one event of the largest message fills a batch", events: 0, length: 0,
            lastLength: CloudWatchLimits.maxMessageBytes, span: 0, extra: .full),
    ]

    @Test(arguments: cases)
    func boundary(_ row: Case) throws {
        var builder = BatchBuilder(group: "g", stream: "s")
        let base: Int64 = 1_700_000_000_000
        for _ in 0..<row.events {
            try BatchBuilderTests.append(&builder, String(repeating: "a", count: row.length), at: base)
        }
        try BatchBuilderTests.append(&builder, String(repeating: "b", count: row.lastLength), at: base)
        let before = builder.requestBody
        let result: BatchBuilder.Refusal?
        do throws(BatchBuilder.Refusal) {
            try BatchBuilderTests.append(&builder, "c", at: base + row.span)
            result = nil
        } catch {
            result = error
        }
        #expect(result == row.extra)
        if result != nil {
            // A refused event leaves no trace.
            #expect(builder.requestBody == before)
        }
        #expect(builder.size <= CloudWatchLimits.maxBatchBytes)
        #expect(builder.count <= CloudWatchLimits.maxEvents)
        let decoded = try BatchBuilderTests.decode(builder)
        #expect(decoded.logEvents.count == builder.count)
        #expect(builder.size == decoded.logEvents.reduce(0) { $0 + $1.message.utf8.count + Self.perEvent })
    }

    /// Messages at and around the event limit, plain and continued: the message CloudWatch gets is never longer
    /// than the limit and carries the right marker.
    @Test(arguments: [
        (CloudWatchLimits.maxMessageBytes, false, nil as String?),
        (CloudWatchLimits.maxMessageBytes + 1, false, " [clock-agent: truncated at the 1 MB event limit]"),
        (
            CloudWatchLimits.maxMessageBytes - BatchBuilder.continuationMarker.count, true,
            " [clock-agent: line continues in the next event]"
        ),
        (
            CloudWatchLimits.maxMessageBytes - BatchBuilder.continuationMarker.count + 1, true,
            " [clock-agent: truncated at the 1 MB event limit]"
        ),
    ])
    func eventSizeLimit(length: Int, continued: Bool, marker: String?) throws {
        var builder = BatchBuilder(group: "g", stream: "s")
        try BatchBuilderTests.append(&builder, String(repeating: "z", count: length), continued: continued)
        let message = try #require(try BatchBuilderTests.decode(builder).logEvents.first?.message)
        #expect(message.utf8.count <= CloudWatchLimits.maxMessageBytes)
        #expect(builder.size == message.utf8.count + Self.perEvent)
        if let marker {
            #expect(message.hasSuffix(marker))
        } else {
            #expect(message.utf8.count == length)
        }
        #expect(builder.truncatedEvents == (marker?.contains("truncated") == true ? 1 : 0))
    }

    /// Escape-heavy messages grow the body past its standard capacity; everything still arrives intact.
    @Test func escapeHeavyMessagesGrowTheBody() throws {
        var builder = BatchBuilder(group: "g", stream: "s")
        let controls = String(repeating: "\u{01}", count: 300_000)
        try BatchBuilderTests.append(&builder, controls)
        try BatchBuilderTests.append(&builder, controls)
        #expect(builder.capacity > BatchBuilder.standardCapacity)
        #expect(try BatchBuilderTests.decode(builder).logEvents.map(\.message) == [controls, controls])
        #expect(builder.size == 2 * (300_000 + Self.perEvent))
    }

    /// `seal` closes the JSON in place and hands the storage out without a copy; the next batch is built in a
    /// body given back earlier.
    @Test func sealHandsTheStorageOutAndReusesTheNext() throws {
        var builder = BatchBuilder(group: "g", stream: "s", spareBodies: 1)
        try BatchBuilderTests.append(&builder, "first \"batch\"", at: 7)
        let expected = builder.requestBody
        var spare: [UInt8]? = [UInt8](repeating: 0, count: BatchBuilder.standardCapacity)
        let spareAddress = spare?.withUnsafeBytes { $0.baseAddress }
        builder.recycle(spare.take()!)
        let sealed = builder.seal()
        #expect(sealed == expected)
        #expect(builder.isEmpty)
        try BatchBuilderTests.append(&builder, "second", at: 8)
        #expect(try BatchBuilderTests.decode(builder).logEvents.map(\.message) == ["second"])
        // The second batch lives in the storage it was given (no copy was made of it).
        let second = builder.seal()
        #expect(second.withUnsafeBytes { $0.baseAddress } == spareAddress)
        #expect(try JSONSerialization.jsonObject(with: Data(second)) is [String: Any])
    }
}
