import CZlib

/// gzip compression of request bodies (`Content-Encoding: gzip`), as CloudWatch Logs accepts.
public enum Gzip {
    /// Compresses bytes into a gzip member (RFC 1952) at the given zlib level (1 fastest … 9 smallest).
    public static func compress(_ input: [UInt8], level: Int32 = 1) throws -> [UInt8] {
        var stream = z_stream()
        // windowBits 15 + 16 asks zlib for a gzip header and trailer instead of a zlib one.
        var status = CZlib_deflateInit2(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY)
        guard status == Z_OK else { throw zlibError("deflateInit2", status) }
        defer { deflateEnd(&stream) }
        // Room for the worst case, never zero-filled: only the pages deflate writes to are touched.
        let bound = Int(deflateBound(&stream, uLong(input.count))) + 32
        let output = input.withUnsafeBytes { source in
            [UInt8](unsafeUninitializedCapacity: bound) { destination, initialized in
                stream.next_in = UnsafeMutablePointer(mutating: source.bindMemory(to: Bytef.self).baseAddress)
                stream.avail_in = uInt(source.count)
                stream.next_out = destination.baseAddress
                stream.avail_out = uInt(destination.count)
                status = deflate(&stream, Z_FINISH)
                initialized = status == Z_STREAM_END ? Int(stream.total_out) : 0
            }
        }
        guard status == Z_STREAM_END else { throw zlibError("deflate", status) }
        return output
    }

    /// Decompresses a gzip member (used by tests and fakes to read what was sent).
    public static func decompress(_ input: [UInt8]) throws -> [UInt8] {
        var stream = z_stream()
        var status = CZlib_inflateInit2(&stream, 15 + 32)
        guard status == Z_OK else { throw zlibError("inflateInit2", status) }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        try input.withUnsafeBytes { source in
            stream.next_in = UnsafeMutablePointer(mutating: source.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(source.count)
            repeat {
                let produced: Int = chunk.withUnsafeMutableBytes { destination in
                    stream.next_out = destination.bindMemory(to: Bytef.self).baseAddress
                    stream.avail_out = uInt(destination.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return destination.count - Int(stream.avail_out)
                }
                guard status == Z_OK || status == Z_STREAM_END else { throw zlibError("inflate", status) }
                output.append(contentsOf: chunk[0..<produced])
            } while status != Z_STREAM_END && (stream.avail_in > 0 || stream.avail_out == 0)
        }
        guard status == Z_STREAM_END else { throw zlibError("inflate (truncated input)", status) }
        return output
    }

    private static func zlibError(_ call: String, _ status: Int32) -> AWSError {
        AWSError(
            kind: .invalidInput, service: "gzip", operation: call, code: "zlib \(status)", message: "compression failed"
        )
    }
}
