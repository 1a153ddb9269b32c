import Foundation
import Testing

@testable import JournalReader

/// The reader against a running journald (its own, in a private mount namespace: see `StandaloneJournald`).
///
/// Entries sent from a test process carry no `_SYSTEMD_UNIT` (journald derives it from the sender's cgroup, and
/// there is no systemd here), so these tests select entries by a per-test `SYSLOG_IDENTIFIER` through the
/// internal raw-filter initializer; the unit matches themselves are covered by `OfflineJournalTests`.
@Suite(.timeLimit(.minutes(2)), .enabled(if: getuid() == 0, "needs root for unshare -m and bind mounts"))
struct LiveJournalTests {
    /// A tag no other test (or earlier run) uses.
    static func tag() -> String { "clock-test-\(UInt32.random(in: 0...UInt32.max))" }

    /// A reader of the entries tagged `tag`.
    static func reader(_ journald: StandaloneJournald, tag: String, start: JournalStart) throws -> JournalReader {
        try JournalReader(
            filter: JournalFilter(terms: [["SYSLOG_IDENTIFIER=\(tag)"]], units: []),
            directory: journald.journalDirectory, start: start, bootID: nil)
    }

    /// The message of entry `sequence`: every 500th one has two lines.
    static func message(_ sequence: Int) -> String {
        sequence.isMultiple(of: 500) ? "entry \(sequence)\nsecond line of \(sequence)" : "entry \(sequence)"
    }

    /// Sends entries `range`.
    static func send(_ journald: StandaloneJournald, tag: String, _ range: Range<Int>) throws {
        for sequence in range {
            try journald.send([("MESSAGE", message(sequence)), ("SYSLOG_IDENTIFIER", tag), ("PRIORITY", "5")])
        }
    }

    /// Reads on the calling thread until `count` entries arrived or `seconds` passed: next(), and wait() whenever
    /// nothing is there, as the shipper does.
    static func collect(_ reader: JournalReader, count: Int, seconds: Int = 60) throws -> [JournalEntry] {
        var entries: [JournalEntry] = []
        let deadline = ContinuousClock.now + .seconds(seconds)
        while entries.count < count, ContinuousClock.now < deadline {
            let batch = try reader.next(limit: 256)
            if batch.isEmpty {
                _ = try reader.wait(timeout: .seconds(2))
            } else {
                entries += batch
            }
        }
        return entries
    }

    @Test(
        "a writer streams 3,000 entries through two rotations: every one arrives, in order, once; tail skips older ones"
    )
    func streaming() async throws {
        let journald = try await StandaloneJournald.start()
        defer { journald.stop() }
        let tag = Self.tag()
        try journald.send([("MESSAGE", "before the reader"), ("SYSLOG_IDENTIFIER", tag)])
        try journald.sync()

        let reader = try Self.reader(journald, tag: tag, start: .tail)
        let total = 3_000
        async let received = onThread { try Self.collect(reader, count: total) }
        for burst in 0..<30 {
            try Self.send(journald, tag: tag, burst * 100..<(burst + 1) * 100)
            if burst == 10 || burst == 20 { try journald.rotate() }
            try await Task.sleep(for: .milliseconds(20))
        }
        let entries = try await received

        #expect(entries.map { String(decoding: $0.message, as: UTF8.self) } == (0..<total).map(Self.message))
        #expect(Set(entries.map(\.cursor)).count == total)
        #expect(entries.allSatisfy { $0.pid == getpid() && $0.priority == 5 && $0.unit == nil })
        #expect(zip(entries, entries.dropFirst()).allSatisfy { $0.realtimeMicroseconds <= $1.realtimeMicroseconds })
        #expect(journald.archivedFiles.count >= 2)
        // Nothing more, and nothing twice.
        #expect(try reader.next(limit: 100).isEmpty)
    }

    @Test("wait returns as soon as an entry arrives, not at its timeout; times out when nothing comes")
    func waitIsPrompt() async throws {
        let journald = try await StandaloneJournald.start()
        defer { journald.stop() }
        let tag = Self.tag()
        let reader = try Self.reader(journald, tag: tag, start: .tail)
        // journald's own start-up writes also wake waiters (as late as its 250 ms change timer, later under
        // load): wait until a 300 ms wait times out, then check that it took its time and said "no change".
        let quiet = try await onThread { () -> Duration? in
            for _ in 0..<20 {
                let start = ContinuousClock.now
                if try reader.wait(timeout: .milliseconds(300)) == false { return ContinuousClock.now - start }
            }
            return nil
        }
        let timedOut = try #require(quiet, "wait(timeout:) never timed out on an idle journal")
        #expect(timedOut >= .milliseconds(250))
        #expect(try reader.next(limit: 10).isEmpty)

        // The shipper's loop on its thread: wait (30 s), then read. If wait only returned at its timeout, the
        // entry would show up 30 s after it was written.
        async let woke = onThread { () -> ([JournalEntry], ContinuousClock.Instant) in
            let deadline = ContinuousClock.now + .seconds(40)
            while ContinuousClock.now < deadline {
                _ = try reader.wait(timeout: .seconds(30))
                let entries = try reader.next(limit: 10)
                if !entries.isEmpty { return (entries, ContinuousClock.now) }
            }
            return ([], ContinuousClock.now)
        }
        try await Task.sleep(for: .milliseconds(300))
        let sentAt = ContinuousClock.now
        try journald.send([("MESSAGE", "wake up"), ("SYSLOG_IDENTIFIER", tag)])
        let (entries, readAt) = try await woke

        #expect(entries.map(\.message) == [Array("wake up".utf8)])
        let latency = readAt - sentAt
        print("JournalReader: entry read \(latency) after it was written (wait timeout 30 s)")
        #expect(latency < .seconds(3))
    }

    @Test("after rotation and vacuum removed the checkpoint's entry, resuming starts at the first entry still there")
    func cursorAfterVacuum() async throws {
        let journald = try await StandaloneJournald.start()
        defer { journald.stop() }
        let tag = Self.tag()
        try Self.send(journald, tag: tag, 0..<10)
        try journald.sync()
        let shipped = try Self.reader(journald, tag: tag, start: .bootStart).next(limit: 100)
        #expect(shipped.count == 10)
        let checkpoint = try #require(shipped.dropFirst(4).first).cursor

        try journald.rotate()
        try Self.send(journald, tag: tag, 10..<20)
        try journald.sync()
        let archived = journald.archivedFiles
        #expect(!archived.isEmpty)
        for file in archived { try FileManager.default.removeItem(atPath: file) }

        let resumed = try Self.reader(journald, tag: tag, start: .cursor(checkpoint))
        #expect(resumed.fellBackFromCursor == nil)
        let entries = try await onThread { try Self.collect(resumed, count: 10, seconds: 10) }
        #expect(entries.map { String(decoding: $0.message, as: UTF8.self) } == (10..<20).map(Self.message))
    }

    @Test("tail with no matching entry yet: every entry written afterwards is returned, not just the last")
    func tailOfNothing() async throws {
        let journald = try await StandaloneJournald.start()
        defer { journald.stop() }
        let tag = Self.tag()
        try journald.send([("MESSAGE", "someone else"), ("SYSLOG_IDENTIFIER", "other-\(tag)")])
        try journald.sync()
        let reader = try Self.reader(journald, tag: tag, start: .tail)

        try Self.send(journald, tag: tag, 1..<6)
        try journald.sync()

        let entries = try await onThread { try Self.collect(reader, count: 5, seconds: 5) }
        #expect(entries.map { String(decoding: $0.message, as: UTF8.self) } == (1..<6).map(Self.message))
    }
}
