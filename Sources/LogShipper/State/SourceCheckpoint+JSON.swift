import AWSCore

extension SourceCheckpoint {
    /// The checkpoint as JSON, written by hand: it is saved after every accepted batch, and a fixed shape of a few
    /// integers and strings needs no encoder. Keys are sorted, as `JSONEncoder` with `.sortedKeys` writes them, and
    /// `JSONDecoder` reads it back (`CheckpointStore.load`).
    func encodedJSON() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + files.count * 200 + (journalCursor?.utf8.count ?? 0))
        out.append(contentsOf: #"{"files":["#.utf8)
        for (index, file) in files.enumerated() {
            if index > 0 { out.append(0x2C) }
            out.append(contentsOf: #"{"device":"#.utf8)
            out.append(contentsOf: String(file.device).utf8)
            out.append(contentsOf: #","fingerprint":"#.utf8)
            JSONText.appendQuoted(file.fingerprint, to: &out)
            out.append(contentsOf: #","fingerprintLength":"#.utf8)
            out.append(contentsOf: String(file.fingerprintLength).utf8)
            out.append(contentsOf: #","inode":"#.utf8)
            out.append(contentsOf: String(file.inode).utf8)
            out.append(contentsOf: #","offset":"#.utf8)
            out.append(contentsOf: String(file.offset).utf8)
            out.append(contentsOf: #","path":"#.utf8)
            JSONText.appendQuoted(file.path, to: &out)
            out.append(contentsOf: #","size":"#.utf8)
            out.append(contentsOf: String(file.size).utf8)
            out.append(0x7D)
        }
        out.append(0x5D)
        if let cursor = journalCursor {
            out.append(contentsOf: #","journalCursor":"#.utf8)
            JSONText.appendQuoted(cursor, to: &out)
        }
        out.append(0x7D)
        return out
    }
}
