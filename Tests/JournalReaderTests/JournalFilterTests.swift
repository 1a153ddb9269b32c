import Testing

@testable import JournalReader

/// Unit names, the match expression, and the small conversions, without a journal.
@Suite
struct JournalFilterTests {
    @Test(
        "unit names get .service unless they have a unit type suffix",
        arguments: [
            ("clock-agent", "clock-agent.service"),
            ("clock-agent.service", "clock-agent.service"),
            ("my.app", "my.app.service"),
            ("backup.timer", "backup.timer"),
            ("user@1000.service", "user@1000.service"),
            ("getty@tty1", "getty@tty1.service"),
            ("docker.socket", "docker.socket"),
            ("session-3.scope", "session-3.scope"),
        ])
    func normalizedUnit(name: String, expected: String) throws {
        #expect(try JournalFilter.normalizedUnit(name) == expected)
    }

    @Test("the filter: the units' own entries OR systemd's (PID 1) entries about them; duplicates dropped")
    func terms() throws {
        let filter = try JournalFilter.units(["a", "b.socket", "a.service"])
        #expect(filter.units == ["a.service", "b.socket"])
        #expect(
            filter.terms == [
                ["_SYSTEMD_UNIT=a.service", "_SYSTEMD_UNIT=b.socket"],
                ["_PID=1", "UNIT=a.service", "UNIT=b.socket"],
            ])
    }

    @Test(
        "wait timeouts in microseconds, never negative, never 'forever'",
        arguments: [
            (Duration.seconds(2), UInt64(2_000_000)),
            (.milliseconds(250), 250_000),
            (.microseconds(1), 1),
            (.nanoseconds(999), 0),
            (.zero, 0),
            (.seconds(-3), 0),
            (.milliseconds(-1), 0),
            (.seconds(Int64.max), UInt64(100 * 365 * 86_400) * 1_000_000),
        ])
    func microseconds(duration: Duration, expected: UInt64) {
        #expect(JournalReader.microseconds(duration) == expected)
    }

    @Test("errors read like log lines")
    func errorDescription() {
        let error = JournalReaderError(call: "sd_journal_seek_cursor", errno: 22, detail: "cursor \"x\"")
        #expect(error.description == "sd_journal_seek_cursor: Invalid argument (errno 22); cursor \"x\"")
        #expect(
            JournalReaderError(call: "sd_journal_wait", errno: 12).description
                == "sd_journal_wait: Cannot allocate memory (errno 12)")
    }
}
