import Foundation
import TestSupport
import Testing

@testable import JournalReader

/// The production reader (unit matches, starts, fields) against journal files with known content.
@Suite(.timeLimit(.minutes(2)))
struct OfflineJournalTests {
    /// Reads everything there is, in batches of `batch`.
    static func drain(_ reader: JournalReader, batch: Int = 1_000) throws -> [JournalEntry] {
        var all: [JournalEntry] = []
        while true {
            let entries = try reader.next(limit: batch)
            if entries.isEmpty { return all }
            all += entries
        }
    }

    /// The messages as text, for comparisons.
    static func texts(_ entries: [JournalEntry]) -> [String] {
        entries.map { String(decoding: $0.message, as: UTF8.self) }
    }

    @Test("only the units' entries, in order, with their fields; systemd's own lines about the unit included")
    func unitFiltering() throws {
        let scratch = try TemporaryDirectory(prefix: "clock-journal-units")
        let directory = try ExportJournal.build(
            [
                ExportJournal.entry(0, unit: "a.service", "a zero", pid: 100, priority: 6),
                ExportJournal.entry(1, unit: "b.service", "b one"),
                ExportJournal.entry(2, unit: "c.service", "c two", pid: 200, priority: 3),
                ExportJournal.entry(
                    3, unit: "init.scope", "Started a.service.", pid: 1, priority: 6, extra: [("UNIT", "a.service")]),
                // Any process can send UNIT=: without _PID=1 it must not get into a.service's stream.
                ExportJournal.entry(4, unit: "b.service", "spoofed", pid: 4242, extra: [("UNIT", "a.service")]),
                ExportJournal.entry(
                    5, unit: "init.scope", "Started b.service.", pid: 1, extra: [("UNIT", "b.service")]),
                ExportJournal.entry(6, unit: "a.service", message: nil),
                ExportJournal.entry(7, unit: "a.service", "a seven", pid: 100, priority: nil),
                ExportJournal.entry(8, unit: "a.service.extra", "similar name"),
                ExportJournal.entry(9, unit: "c.service", "c nine", pid: 201, priority: 7),
                ExportJournal.entry(10, unit: "a.service", "other boot", boot: ExportJournal.oldBoot),
            ], in: scratch)

        let reader = try JournalReader(units: ["a", "c.service"], directory: directory, start: .bootStart)
        #expect(reader.units == ["a.service", "c.service"])
        #expect(reader.fellBackFromCursor == nil)
        let entries = try Self.drain(reader, batch: 2)

        #expect(Self.texts(entries) == ["a zero", "c two", "Started a.service.", "a seven", "c nine"])
        #expect(entries.map(\.unit) == ["a.service", "c.service", "a.service", "a.service", "c.service"])
        #expect(entries.map(\.priority) == [6, 3, 6, nil, 7])
        #expect(entries.map(\.pid) == [100, 200, 1, 100, 201])
        #expect(entries.map(\.realtimeMicroseconds) == [0, 2, 3, 7, 9].map(ExportJournal.realtime))
        #expect(Set(entries.map(\.cursor)).count == entries.count)
        #expect(try reader.next(limit: 10).isEmpty)
    }

    @Test("messages come back byte for byte: newlines, NUL, invalid UTF-8, empty, 70 KB and 200 KB")
    func binaryMessages() throws {
        var generator = SystemRandomNumberGenerator()
        let random200k = (0..<200_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let messages: [[UInt8]] = [
            Array("first line\nsecond line\n".utf8),
            [0x6e, 0x75, 0x6c, 0x00, 0x69, 0x6e, 0x00, 0x00],
            [0xff, 0xfe, 0x80, 0x41, 0xc3, 0x28],
            [],
            Array("MESSAGE=looks like a field\r\n\t".utf8),
            Array(repeating: UInt8(ascii: "x"), count: 70_000),
            random200k,
        ]
        let scratch = try TemporaryDirectory(prefix: "clock-journal-binary")
        let directory = try ExportJournal.build(
            messages.enumerated().map { ExportJournal.entry($0.offset, unit: "bin.service", message: $0.element) },
            in: scratch)

        let entries = try Self.drain(JournalReader(units: ["bin"], directory: directory, start: .bootStart))

        #expect(entries.count == messages.count)
        for (entry, message) in zip(entries, messages) {
            #expect(entry.message.count == message.count)
            #expect(entry.message == message)
        }
    }

    /// Twelve entries of `a.service`, interleaved with another unit's.
    static func twelve(in scratch: TemporaryDirectory) throws -> String {
        try ExportJournal.build(
            (0..<24).map { index in
                index.isMultiple(of: 2)
                    ? ExportJournal.entry(index, unit: "a.service", "a \(index / 2)")
                    : ExportJournal.entry(index, unit: "noise.service", "noise \(index)")
            }, in: scratch)
    }

    @Test("resuming from the 5th entry's cursor returns the 6th onward, nothing twice")
    func cursorResume() throws {
        let scratch = try TemporaryDirectory(prefix: "clock-journal-cursor")
        let directory = try Self.twelve(in: scratch)

        let first = try JournalReader(units: ["a"], directory: directory, start: .bootStart)
        let shipped = try first.next(limit: 5)
        #expect(Self.texts(shipped) == (0..<5).map { "a \($0)" })
        let checkpoint = try #require(shipped.last).cursor

        let resumed = try JournalReader(units: ["a"], directory: directory, start: .cursor(checkpoint))
        #expect(resumed.fellBackFromCursor == nil)
        let rest = try Self.drain(resumed, batch: 3)
        #expect(Self.texts(rest) == (5..<12).map { "a \($0)" })
        #expect(Set((shipped + rest).map(\.cursor)).count == 12)
        // The first reader, continuing, sees exactly the same entries as the resumed one.
        #expect(try Self.drain(first) == rest)

        let atEnd = try JournalReader(
            units: ["a"], directory: directory, start: .cursor(try #require(rest.last).cursor))
        #expect(try atEnd.next(limit: 100).isEmpty)
    }

    @Test("a cursor whose entry is gone resumes at the next entry without skipping it")
    func cursorOfRemovedEntry() throws {
        let scratch = try TemporaryDirectory(prefix: "clock-journal-gone")
        let all = (0..<10).map { ExportJournal.entry($0, unit: "a.service", "a \($0)") }
        let before = try ExportJournal.build(all, in: scratch, name: "before")
        // The same journal after entry 4 went away (same boot, same timestamps; new files).
        let after = try ExportJournal.build(
            all.enumerated().filter { $0.offset != 4 }.map(\.element), in: scratch, name: "after")

        let shipped = try Self.drain(JournalReader(units: ["a"], directory: before, start: .bootStart))
        let checkpoint = shipped[4].cursor

        let resumed = try JournalReader(units: ["a"], directory: after, start: .cursor(checkpoint))
        #expect(resumed.fellBackFromCursor == nil)
        #expect(Self.texts(try Self.drain(resumed)) == (5..<10).map { "a \($0)" })
    }

    @Test("a cursor from another journal resumes at its wall-clock time")
    func foreignCursor() throws {
        let scratch = try TemporaryDirectory(prefix: "clock-journal-foreign")
        let directory = try ExportJournal.build(
            (0..<10).map { ExportJournal.entry($0, unit: "a.service", "a \($0)") }, in: scratch)
        // Well-formed, but another journal's sequence-number ID and another boot: only `t=` can place it.
        let cursor =
            "s=00112233445566778899aabbccddeeff;i=77;b=ffeeddccbbaa99887766554433221100;m=1;"
            + "t=\(String(ExportJournal.realtime(6), radix: 16));x=1234"

        let reader = try JournalReader(units: ["a"], directory: directory, start: .cursor(cursor))
        #expect(reader.fellBackFromCursor == nil)
        #expect(Self.texts(try Self.drain(reader)) == (6..<10).map { "a \($0)" })
    }

    @Test(
        "an unusable cursor falls back to the start of the current boot and says why",
        arguments: ["garbage", "", "s=nothex;i=zz"])
    func unusableCursor(cursor: String) throws {
        let scratch = try TemporaryDirectory(prefix: "clock-journal-badcursor")
        let directory = try ExportJournal.build(
            [
                ExportJournal.entry(0, unit: "a.service", "old boot", boot: ExportJournal.oldBoot),
                ExportJournal.entry(1, unit: "a.service", "this boot 1"),
                ExportJournal.entry(2, unit: "a.service", "this boot 2"),
            ], in: scratch)

        let reader = try JournalReader(units: ["a"], directory: directory, start: .cursor(cursor))

        let reason = try #require(reader.fellBackFromCursor)
        #expect(reason.hasPrefix("sd_journal_seek_cursor: Invalid argument (errno 22)"))
        #expect(reason.contains("start of the current boot"))
        #expect(Self.texts(try Self.drain(reader)) == ["this boot 1", "this boot 2"])
    }

    @Test("bootStart returns the given boot's entries only, systemd's lines included")
    func bootStart() throws {
        let scratch = try TemporaryDirectory(prefix: "clock-journal-boots")
        let a = ExportJournal.oldBoot
        let b = "fedcba9876543210fedcba9876543210"
        let directory = try ExportJournal.build(
            [
                ExportJournal.entry(0, unit: "a.service", "A 0", boot: a),
                ExportJournal.entry(
                    1, unit: "init.scope", "A stopped", boot: a, pid: 1, extra: [("UNIT", "a.service")]),
                ExportJournal.entry(2, unit: "other.service", "A other", boot: a),
                ExportJournal.entry(
                    3, unit: "init.scope", "B started", boot: b, pid: 1, extra: [("UNIT", "a.service")]),
                ExportJournal.entry(4, unit: "a.service", "B 0", boot: b),
                ExportJournal.entry(5, unit: "other.service", "B other", boot: b),
                ExportJournal.entry(6, unit: "a.service", "B 1", boot: b),
            ], in: scratch)
        let filter = try JournalFilter.units(["a"])

        let bootB = try JournalReader(filter: filter, directory: directory, start: .bootStart, bootID: b)
        #expect(Self.texts(try Self.drain(bootB)) == ["B started", "B 0", "B 1"])
        let bootA = try JournalReader(filter: filter, directory: directory, start: .bootStart, bootID: a)
        #expect(Self.texts(try Self.drain(bootA)) == ["A 0", "A stopped"])
        // No entry of the kernel's boot in this journal (as for a sandboxed service in a container, whose
        // boot_id can be the host's): "this boot" is the boot of the journal's newest entry.
        let current = try JournalReader(units: ["a"], directory: directory, start: .bootStart)
        #expect(Self.texts(try Self.drain(current)) == ["B started", "B 0", "B 1"])
    }

    @Test("tail skips everything already there")
    func tail() throws {
        let scratch = try TemporaryDirectory(prefix: "clock-journal-tail")
        let directory = try Self.twelve(in: scratch)

        #expect(try JournalReader(units: ["a"], directory: directory, start: .tail).next(limit: 100).isEmpty)
        #expect(try JournalReader(units: ["absent"], directory: directory, start: .tail).next(limit: 100).isEmpty)
    }

    @Test("refused arguments and failing calls throw errors naming the call")
    func errors() throws {
        let scratch = try TemporaryDirectory(prefix: "clock-journal-errors")
        let directory = try Self.twelve(in: scratch)
        for units in [[], [""], ["a/b"], ["a b"], ["UNIT=x"]] {
            let error = #expect(throws: JournalReaderError.self) {
                try JournalReader(units: units, directory: directory, start: .bootStart)
            }
            #expect(error?.call == "JournalReader.init")
            #expect(error?.description.hasPrefix("JournalReader.init: Invalid argument (errno 22); ") == true)
        }
        let missing = #expect(throws: JournalReaderError.self) {
            try JournalReader(units: ["a"], directory: scratch.file("missing"), start: .bootStart)
        }
        #expect(
            missing?.description.hasPrefix("sd_journal_open_directory: No such file or directory (errno 2)") == true)
        #expect(missing?.description.hasSuffix("; directory \(scratch.file("missing"))") == true)
        #expect(try JournalReader(units: ["a"], directory: directory, start: .bootStart).next(limit: 0).isEmpty)
    }
}
