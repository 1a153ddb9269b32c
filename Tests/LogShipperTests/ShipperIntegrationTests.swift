import AWSCore
import AgentConfig
import Foundation
import LogShipper
import Testing
import TestSupport

/// The shipper against the harness's strict CloudWatch sink: journal entries with their own timestamps, events
/// CloudWatch rejects, dead letters, and cursor resume.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ShipperIntegrationTests {
    let harness: Harness
    let scratch: TemporaryDirectory

    init() async throws {
        harness = try await Harness.start(sink: true)
        scratch = try TemporaryDirectory()
    }

    func shipper(journal: String) throws -> LogShipper {
        var logs = LogsConfiguration()
        logs.sources = [LogSource(name: "agent", kind: .journal(units: ["clock-agent"]))]
        let client = AWSClient(
            transport: CurlTransport(), credentials: StaticCredentialsProvider(harness.userCredentials),
            clock: ClockCorrection(), endpoints: EndpointResolver(environment: harness.environment(useSink: true)),
            logger: LogCapture().logger())
        return try LogShipper(
            settings: .init(
                logs: logs, stateDirectory: scratch.file("state"), appOutputPath: scratch.file("state/app/output.log"),
                names: .init(
                    instanceID: "i-test", hostname: "h", region: harness.info.region, availabilityZone: harness.info.az),
                journalDirectory: journal, flushInterval: .milliseconds(200)),
            logs: CloudWatchLogsClient(client: client, region: harness.info.region), logger: LogCapture().logger())
    }

    func runUntilDrained(_ shipper: LogShipper) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await shipper.run() }
            group.addTask {
                try? await Task.sleep(for: .seconds(2))
                let outcome = await shipper.drain(deadline: .now.advanced(by: .seconds(60)))
                #expect(outcome.complete)
                shipper.stop()
            }
        }
    }

    @Test func journalEntriesShipWithTheirTimestampsAndRejectsAreDeadLettered() async throws {
        let now = UInt64(UTCTime.now().secondsSinceEpoch * 1_000_000)
        var entries: [ExportJournal.Entry] = (0..<3).map {
            ExportJournal.entry($0, unit: "clock-agent.service", "old \($0)")
        }
        entries += (3..<6).map {
            ExportJournal.entry(
                $0, unit: "clock-agent.service", "recent \($0)", realtime: now - UInt64(6 - $0) * 1_000_000)
        }
        entries.append(ExportJournal.entry(6, unit: "other.service", "not ours", realtime: now))
        let journal = try ExportJournal.build(entries, in: scratch)

        let first = try shipper(journal: journal)
        await runUntilDrained(first)
        let stats = try #require(first.stats.first)
        #expect(stats.rejectedTooOld == 3)
        #expect(stats.deadLettered == 3)
        #expect(stats.eventsShipped == 3)

        let events = try await harness.logEvents(group: "/clock/app", stream: "i-test/agent", fromSink: true)
        #expect(events.map(\.message) == ["recent 3", "recent 4", "recent 5"])
        #expect(events.map(\.timestamp) == (3..<6).map { Int64((now - UInt64(6 - $0) * 1_000_000) / 1000) })

        let deadLetters = try String(contentsOfFile: scratch.file("state/dead-letter/agent.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(deadLetters.map { $0["message"] as? String } == ["old 0", "old 1", "old 2"])
        #expect(deadLetters.allSatisfy { ($0["reason"] as? String)?.hasPrefix("too old") == true })
        let mode =
            try FileManager.default.attributesOfItem(atPath: scratch.file("state/dead-letter/agent.jsonl"))[
                .posixPermissions] as? Int
        #expect(mode == 0o600)

        // A second run resumes after the saved cursor: nothing is sent again.
        let checkpoint = try String(contentsOfFile: scratch.file("state/checkpoints/agent.json"), encoding: .utf8)
        #expect(checkpoint.contains("journalCursor"))
        let second = try shipper(journal: journal)
        await runUntilDrained(second)
        #expect(try await harness.logEvents(group: "/clock/app", stream: "i-test/agent", fromSink: true).count == 3)
        #expect(second.stats.first?.eventsShipped == 0)
    }
}
