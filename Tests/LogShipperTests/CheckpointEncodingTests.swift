import Foundation
import Testing

@testable import LogShipper

/// The hand-written checkpoint JSON reads back as the same checkpoint, whatever the path or cursor holds.
@Suite struct CheckpointEncodingTests {
    @Test(arguments: [
        SourceCheckpoint(),
        SourceCheckpoint(journalCursor: "s=0123;i=4;b=abc;m=ff;t=1;x=\"quoted\"\\"),
        SourceCheckpoint(files: [
            .init(
                path: "/var/log/clock/app.log", device: 2049, inode: UInt64.max,
                fingerprint: String(repeating: "ab", count: 32),
                fingerprintLength: 1024, offset: Int64.max, size: 0),
            .init(
                path: "/tmp/we\"ird\\ name\n\u{01}é😀.log", device: 0, inode: 1, fingerprint: "", fingerprintLength: 0,
                offset: 0, size: 12),
        ]),
    ])
    func roundTrip(_ checkpoint: SourceCheckpoint) throws {
        let json = checkpoint.encodedJSON()
        #expect(try JSONDecoder().decode(SourceCheckpoint.self, from: Data(json)) == checkpoint)
        #expect(String(decoding: json, as: UTF8.self).contains("journalCursor") == (checkpoint.journalCursor != nil))
    }
}
