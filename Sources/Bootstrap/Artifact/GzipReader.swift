import CZlib

#if canImport(Glibc)
    import Glibc
#endif

/// Streams the decompressed bytes of a gzip file through a bounded input buffer.
///
/// Every member of a multi-member file is read (RFC 1952 §2.2, as `gzip -d` does), and zero bytes padding the file
/// after the last member are ignored. zlib checks each member's CRC-32 and length, so a corrupt or cut file throws
/// `TarError` carrying zlib's own message instead of yielding wrong bytes.
final class GzipReader {
    /// How much compressed input is read from the file at a time.
    static let defaultInputBufferSize = 256 * 1024

    private let fd: Int32
    /// zlib keeps a pointer back to the stream in its state, so the stream lives at one fixed address.
    private let stream: UnsafeMutablePointer<z_stream>
    private let input: UnsafeMutableRawBufferPointer
    private var inputEnded = false
    private var memberEnded = false
    private var finished = false
    /// An error met after some output was produced: returned output first, so the reader sees every good byte.
    private var pendingError: TarError?

    /// Opens `path` for reading. zlib's windowBits 15 + 32 accepts gzip (and zlib) headers.
    init(path: String, inputBufferSize: Int = GzipReader.defaultInputBufferSize) throws(TarError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw TarError(message: "cannot open archive file \(TarError.quoted(path))", errorNumber: errno)
        }
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = CZlib_inflateInit2(stream, 15 + 32)
        guard status == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            close(fd)
            throw TarError(message: "cannot start gzip decompression (zlib status \(status))")
        }
        self.fd = fd
        self.stream = stream
        self.input = UnsafeMutableRawBufferPointer.allocate(byteCount: max(inputBufferSize, 4096), alignment: 16)
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
        input.deallocate()
        close(fd)
    }

    /// Fills `buffer` with decompressed bytes and returns how many; 0 only after the last member ended cleanly.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TarError) -> Int {
        if let pendingError { throw pendingError }
        guard !finished, let base = buffer.baseAddress, !buffer.isEmpty else { return 0 }
        let capacity = min(buffer.count, Int(UInt32.max))
        stream.pointee.next_out = base.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = uInt(capacity)
        while stream.pointee.avail_out > 0 {
            do {
                try step()
            } catch {
                guard stream.pointee.avail_out < capacity else { throw error }
                pendingError = error
                break
            }
            if finished { break }
        }
        return capacity - Int(stream.pointee.avail_out)
    }

    /// Runs `inflate` once (refilling input, starting the next member, or marking the end first as needed).
    private func step() throws(TarError) {
        if memberEnded {
            guard try skipToNextMember() else {
                finished = true
                return
            }
            inflateReset(stream)
            memberEnded = false
        }
        if stream.pointee.avail_in == 0 && !inputEnded {
            try refill()
        }
        let status = inflate(stream, Z_NO_FLUSH)
        switch status {
        case Z_OK:
            break
        case Z_STREAM_END:
            memberEnded = true
        case Z_BUF_ERROR where stream.pointee.avail_in == 0 && inputEnded:
            throw TarError(message: "truncated archive: the gzip stream ends early (unexpected end of file)")
        default:
            throw TarError(message: "corrupt gzip stream: \(zlibMessage(status))")
        }
    }

    /// After a member's trailer: skips zero padding; true when another member starts, false at the end of the file.
    private func skipToNextMember() throws(TarError) -> Bool {
        while true {
            if stream.pointee.avail_in == 0 {
                if inputEnded { return false }
                try refill()
                continue
            }
            guard let next = stream.pointee.next_in else { return false }
            if next.pointee != 0 { return true }
            stream.pointee.next_in = next + 1
            stream.pointee.avail_in -= 1
        }
    }

    /// Reads the next chunk of compressed input; marks the end of the file when there is none.
    private func refill() throws(TarError) {
        guard let base = input.baseAddress else { return }
        while true {
            let count = Glibc.read(fd, base, input.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw TarError(message: "cannot read the archive file", errorNumber: errno)
            }
            if count == 0 { inputEnded = true }
            stream.pointee.next_in = base.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_in = uInt(count)
            return
        }
    }

    /// zlib's explanation of a failure (e.g. `incorrect data check`), or its status code when it gave none.
    private func zlibMessage(_ status: Int32) -> String {
        if let message = stream.pointee.msg { return String(cString: message) }
        return "zlib status \(status)"
    }
}
