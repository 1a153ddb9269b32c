import Testing

@testable import LogShipper

/// When a journal source's drain is complete: driven directly, entry by entry and acknowledgement by acknowledgement.
@Suite struct JournalDrainTests {
    static func cursor(_ seqnum: UInt64, id: String = "aa11", realtime: UInt64? = nil) -> String {
        "s=\(id);i=\(String(seqnum, radix: 16));b=bb22;m=\(String(seqnum, radix: 16));t=\(String(realtime ?? 1_000 + seqnum, radix: 16));x=cc33"
    }

    @Test func withoutADrainItIsDone() {
        #expect(JournalDrain().isDone)
    }

    @Test func theLastEntryReadAtTheEndMustBeAccepted() {
        var drain = JournalDrain()
        drain.begin(marker: nil)
        #expect(!drain.isDone)
        drain.reachedEnd(lastRead: Self.cursor(7), accepted: Self.cursor(3))
        #expect(drain.phase == .awaitingAcceptance(Self.cursor(7)))
        drain.accepted(Self.cursor(5))
        #expect(!drain.isDone)
        // A batch ending after the target (entries kept coming) completes it too.
        drain.accepted(Self.cursor(9))
        #expect(drain.isDone)
        drain.end()
        #expect(drain.phase == .idle)
    }

    @Test func nothingReadOrEverythingAcceptedIsDoneAtTheEnd() {
        var nothing = JournalDrain()
        nothing.begin(marker: nil)
        nothing.reachedEnd(lastRead: nil, accepted: nil)
        #expect(nothing.isDone)
        var caughtUp = JournalDrain()
        caughtUp.begin(marker: nil)
        caughtUp.reachedEnd(lastRead: Self.cursor(4), accepted: Self.cursor(4))
        #expect(caughtUp.isDone)
    }

    @Test func theMarkerMustBeReadBeforeTheEndCounts() {
        var drain = JournalDrain()
        let marker = Array("shipping every log line written before the drain (marker 1f)".utf8)
        drain.begin(marker: marker)
        // The journal's end before the marker arrived (journald had not written it yet) does not count.
        drain.reachedEnd(lastRead: Self.cursor(10), accepted: Self.cursor(10))
        #expect(!drain.isDone)
        drain.read(message: Array("an ordinary line".utf8))
        #expect(drain.phase == .awaitingMarker(marker))
        drain.read(message: marker)
        drain.reachedEnd(lastRead: Self.cursor(12), accepted: Self.cursor(10))
        #expect(drain.phase == .awaitingAcceptance(Self.cursor(12)))
        drain.accepted(Self.cursor(12))
        #expect(drain.isDone)
    }

    @Test(arguments: [
        // Same journald: by sequence number, whatever the clock says.
        (cursor(5, realtime: 1), cursor(4, realtime: 9), true),
        (cursor(4), cursor(5), false),
        (cursor(5), cursor(5), true),
        // Another journald instance: by wall-clock time.
        (cursor(1, id: "dd44", realtime: 2_000), cursor(900, realtime: 1_500), true),
        (cursor(1, id: "dd44", realtime: 1_000), cursor(900, realtime: 1_500), false),
        // Unparseable cursors are equal only to themselves.
        ("garbage", "garbage", true),
        ("garbage", cursor(1), false),
    ])
    func cursorOrder(cursor: String, target: String, atOrAfter: Bool) {
        #expect(JournalCursorOrder.isAtOrAfter(cursor, target) == atOrAfter)
    }
}
