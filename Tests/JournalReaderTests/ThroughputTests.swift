import Foundation
import TestSupport
import Testing

@testable import JournalReader

/// How fast entries come out of the reader: 100,000 entries shaped like journald's (≈ 20 fields each).
@Suite(.timeLimit(.minutes(2)))
struct ThroughputTests {
    @Test("100,000 entries are read completely, at well over 10,000 entries/s")
    func readRate() throws {
        let scratch = try TemporaryDirectory(prefix: "clock-journal-rate")
        let total = 100_000
        let entries = (0..<total).map { index in
            ExportJournal.entry(
                index, unit: index.isMultiple(of: 3) ? "other.service" : "app.service",
                "GET /api/v1/clock?zone=Europe/Berlin 200 bytes=1843 duration_ms=\(index % 97) request_id=\(index)",
                pid: 4321, priority: 6,
                extra: [
                    ("_TRANSPORT", "stdout"), ("_UID", "998"), ("_GID", "998"), ("_COMM", "clock-app"),
                    ("_EXE", "/opt/clock/bin/clock-app"), ("_CMDLINE", "/opt/clock/bin/clock-app --port 8080"),
                    ("_CAP_EFFECTIVE", "0"), ("_SELINUX_CONTEXT", "unconfined"),
                    ("_SYSTEMD_CGROUP", "/system.slice/app.service"), ("_SYSTEMD_SLICE", "system.slice"),
                    ("_SYSTEMD_INVOCATION_ID", "3f2a9c0d1e8b4f6a9d7c5b3a1f0e2d4c"), ("_HOSTNAME", "clock-node-1"),
                    ("_MACHINE_ID", "3d1219c7c4c5404aaa1f6d2a48adfda4"), ("SYSLOG_IDENTIFIER", "clock-app"),
                    ("SYSLOG_FACILITY", "3"), ("_STREAM_ID", "8c1b7e2f0a9d4c3b8e6f5a4d3c2b1a09"),
                ])
        }
        let directory = try ExportJournal.build(entries, in: scratch)
        let expected = (0..<total).filter { !$0.isMultiple(of: 3) }.count

        // Every unit's entries: the whole file.
        let all = try JournalReader(units: ["app", "other"], directory: directory, start: .bootStart)
        var count = 0
        let start = ContinuousClock.now
        while true {
            let batch = try all.next(limit: 1_000)
            if batch.isEmpty { break }
            count += batch.count
        }
        let elapsed = start.duration(to: .now)

        // One unit's entries: two thirds of the file, the rest skipped by the match.
        let app = try JournalReader(units: ["app"], directory: directory, start: .bootStart)
        var appCount = 0
        var last = -1
        var ordered = true
        let appStart = ContinuousClock.now
        while true {
            let batch = try app.next(limit: 1_000)
            if batch.isEmpty { break }
            appCount += batch.count
            for entry in batch {
                let index = Int(entry.realtimeMicroseconds - ExportJournal.baseRealtime) / 1_000
                ordered = ordered && index > last
                last = index
            }
        }
        let appElapsed = appStart.duration(to: .now)

        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let appSeconds = Double(appElapsed.components.seconds) + Double(appElapsed.components.attoseconds) / 1e18
        print(
            "JournalReader throughput: \(count) entries in \(seconds) s = \(Int(Double(count) / seconds)) entries/s; "
                + "one unit of two: \(appCount) in \(appSeconds) s = \(Int(Double(appCount) / appSeconds)) entries/s")
        #expect(count == total)
        #expect(appCount == expected)
        #expect(ordered)
        #expect(elapsed < .seconds(10))
    }
}
