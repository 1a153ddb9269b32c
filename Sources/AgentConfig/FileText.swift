#if canImport(Glibc)
    import Glibc
#endif

/// Reads small text files with plain POSIX calls.
enum FileText {
    struct ReadError: Error, CustomStringConvertible {
        let path: String
        let errno: Int32
        var description: String { "cannot read \(path): \(String(cString: strerror(errno)))" }
    }

    static func read(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReadError(path: path, errno: errno) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ReadError(path: path, errno: errno)
            }
            if count == 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
            if bytes.count > 4 << 20 { throw ReadError(path: path, errno: EFBIG) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
