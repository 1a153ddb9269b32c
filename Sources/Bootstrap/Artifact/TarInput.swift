/// The decompressed tar stream, read through one bounded buffer.
///
/// Headers are copied out 512 bytes at a time; file data is handed out as slices of the buffer so it goes from
/// zlib's output to `write(2)` without another copy.
final class TarInput {
    /// How much decompressed data is held at a time.
    static let defaultBufferSize = 1 << 20

    private let gzip: GzipReader
    private let buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0

    /// Reads from `gzip`.
    init(gzip: GzipReader, bufferSize: Int = TarInput.defaultBufferSize) {
        self.gzip = gzip
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bufferSize, TarHeader.blockSize), alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// The bytes available now, refilling when none are; empty only at the end of the stream.
    /// Valid until the next call on this reader.
    func peek() throws(TarError) -> UnsafeRawBufferPointer {
        if start == end {
            start = 0
            end = try gzip.read(into: buffer)
        }
        return UnsafeRawBufferPointer(rebasing: buffer[start..<end])
    }

    /// Marks `count` bytes of the last `peek()` as used.
    func consume(_ count: Int) {
        start += min(count, end - start)
    }

    /// Copies up to `destination.count` bytes; returns how many (fewer only at the end of the stream).
    func read(into destination: UnsafeMutableRawBufferPointer) throws(TarError) -> Int {
        var copied = 0
        while copied < destination.count {
            let available = try peek()
            if available.isEmpty { break }
            let count = min(available.count, destination.count - copied)
            UnsafeMutableRawBufferPointer(rebasing: destination[copied..<(copied + count)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: available[0..<count]))
            consume(count)
            copied += count
        }
        return copied
    }

    /// Skips up to `count` bytes; returns how many (fewer only at the end of the stream).
    func skip(_ count: Int64) throws(TarError) -> Int64 {
        var skipped: Int64 = 0
        while skipped < count {
            let available = try peek()
            if available.isEmpty { break }
            let step = Int(min(Int64(available.count), count - skipped))
            consume(step)
            skipped += Int64(step)
        }
        return skipped
    }
}
