#if canImport(Glibc)
    import Glibc
#endif

/// Cuts a byte stream into log lines.
///
/// A line ends at `\n`; a `\r` right before it is dropped (CRLF). Complete lines inside a chunk are handed out
/// without copying; a line that continues past the chunk is kept until its end arrives. A line longer than
/// `maxPiece` bytes is handed out in pieces at UTF-8 character boundaries (all but the last marked `continued`),
/// so memory stays bounded whatever the input. Positions are byte offsets in the file: each line comes with the
/// offset just past its newline, which is where reading resumes once it has been shipped.
public struct LineFramer: Sendable {
    /// The most bytes handed out as one piece.
    public let maxPiece: Int
    private var pending: [UInt8] = []

    /// Creates a framer.
    public init(maxPiece: Int = CloudWatchLimits.maxMessageBytes - BatchBuilder.continuationMarker.count) {
        self.maxPiece = maxPiece
    }

    /// Bytes of an unfinished line held back.
    public var pendingCount: Int { pending.count }

    /// Forgets a held-back partial line (after truncation of the file, say).
    public mutating func reset() { pending.removeAll(keepingCapacity: false) }

    /// Feeds `chunk`, which ends at file offset `endOffset`; calls `emit(line, offsetAfterLine, continued)`.
    public mutating func feed(
        _ chunk: UnsafeRawBufferPointer, endingAt endOffset: Int64,
        _ emit: (UnsafeRawBufferPointer, Int64, Bool) -> Void
    ) {
        guard let base = chunk.baseAddress, chunk.count > 0 else { return }
        let chunkStart = endOffset - Int64(chunk.count)
        var start = 0
        while start < chunk.count {
            let remaining = chunk.count - start
            guard let found = memchr(base + start, 0x0A, remaining) else {
                hold(UnsafeRawBufferPointer(start: base + start, count: remaining), endingAt: endOffset, emit)
                return
            }
            let newline = base.distance(to: UnsafeRawPointer(found))
            let lineEnd = chunkStart + Int64(newline + 1)
            if pending.isEmpty {
                emitLine(UnsafeRawBufferPointer(start: base + start, count: newline - start), at: lineEnd, emit)
            } else {
                hold(UnsafeRawBufferPointer(start: base + start, count: newline - start), endingAt: lineEnd - 1, emit)
                let line = pending
                pending.removeAll(keepingCapacity: true)
                line.withUnsafeBytes { emitLine($0, at: lineEnd, emit) }
            }
            start = newline + 1
        }
    }

    /// Hands out the held-back partial line (the file won't grow any more, or the agent is draining).
    public mutating func flush(at offset: Int64, _ emit: (UnsafeRawBufferPointer, Int64, Bool) -> Void) {
        guard !pending.isEmpty else { return }
        let line = pending
        pending.removeAll(keepingCapacity: false)
        line.withUnsafeBytes { emitLine($0, at: offset, emit) }
    }

    /// Appends to the held-back line, handing out full pieces when it grows past `maxPiece`.
    private mutating func hold(
        _ bytes: UnsafeRawBufferPointer, endingAt endOffset: Int64,
        _ emit: (UnsafeRawBufferPointer, Int64, Bool) -> Void
    ) {
        pending.append(contentsOf: bytes)
        while pending.count > maxPiece {
            let cut = Self.characterBoundary(pending, atMost: maxPiece)
            // The piece ends `pending.count - cut` bytes before the end of what has been read.
            let pieceEnd = endOffset - Int64(pending.count - cut)
            pending.withUnsafeBytes { emit(UnsafeRawBufferPointer(rebasing: $0[0..<cut]), pieceEnd, true) }
            pending.removeSubrange(0..<cut)
        }
    }

    private func emitLine(
        _ line: UnsafeRawBufferPointer, at endOffset: Int64, _ emit: (UnsafeRawBufferPointer, Int64, Bool) -> Void
    ) {
        var length = line.count
        if length > 0, line[length - 1] == 0x0D { length -= 1 }
        var start = 0
        while length - start > maxPiece {
            let cut =
                start + Self.characterBoundary(UnsafeRawBufferPointer(rebasing: line[start..<length]), atMost: maxPiece)
            emit(UnsafeRawBufferPointer(rebasing: line[start..<cut]), endOffset - Int64(line.count + 1 - cut), true)
            start = cut
        }
        emit(UnsafeRawBufferPointer(rebasing: line[start..<length]), endOffset, false)
    }

    /// The largest cut ≤ `limit` that doesn't split a UTF-8 sequence (falls back to `limit` for invalid data).
    static func characterBoundary<C: Collection>(_ bytes: C, atMost limit: Int) -> Int
    where C.Element == UInt8, C.Index == Int {
        var cut = bytes.startIndex + limit
        var steps = 0
        while cut > bytes.startIndex, steps < 4, bytes[cut] & 0xC0 == 0x80 {
            cut -= 1
            steps += 1
        }
        return (steps == 4 || cut == bytes.startIndex ? bytes.startIndex + limit : cut) - bytes.startIndex
    }
}
