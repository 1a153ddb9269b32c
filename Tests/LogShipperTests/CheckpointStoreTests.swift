import Foundation
import Testing

@testable import LogShipper

#if canImport(Glibc)
    import Glibc
#endif

/// The store writes the latest state of each source and `flush` returns once it is on disk.
@Suite(.timeLimit(.minutes(1)))
struct CheckpointStoreTests {
    @Test func flushReturnsWithTheLatestStateOnDisk() async throws {
        let directory = "/tmp/clock-agent-checkpoint-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { _ = try? FileManager.default.removeItem(atPath: directory) }
        let store = try CheckpointStore(directory: directory)
        defer { store.stop() }
        for offset in 1...200 {
            let file = SourceCheckpoint.File(
                path: "/var/log/a.log", device: 1, inode: 2, fingerprint: "ab", fingerprintLength: 2,
                offset: Int64(offset), size: 200)
            store.save(source: "files", SourceCheckpoint(files: [file]))
            if offset % 50 == 0 { await store.flush() }
        }
        store.save(source: "journal", SourceCheckpoint(journalCursor: "s=1"))
        await store.flush()
        #expect(try store.load(source: "files")?.files.first?.offset == 200)
        #expect(try store.load(source: "journal")?.journalCursor == "s=1")
        // Flushing with nothing queued returns at once.
        await store.flush()
        let mode =
            try FileManager.default.attributesOfItem(atPath: directory + "/files.json")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(store.writeErrors.isEmpty)
    }
}
