#if canImport(Glibc)
    import Glibc
#endif

/// A file being written: its descriptor is closed on every path, including a thrown error.
struct TarOutputFile: ~Copyable {
    /// The open descriptor.
    let fd: Int32

    /// Writes all of `bytes`, retrying short writes.
    func write(_ bytes: UnsafeRawBufferPointer, entry: String) throws(TarError) {
        guard var next = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let written = Glibc.write(fd, next, left)
            if written < 0 {
                if errno == EINTR { continue }
                throw TarError(entry: entry, message: "cannot write file data", errorNumber: errno)
            }
            next += written
            left -= written
        }
    }

    /// Sets the mode and times, then closes; a failure of any of them (`close` reports deferred write errors) throws.
    consuming func finish(mode: mode_t, time: TarTime, entry: String) throws(TarError) {
        let fd = self.fd
        discard self
        var times = [TarDirectory.timespec(time), TarDirectory.timespec(time)]
        var failure: TarError?
        if fchmod(fd, mode) != 0 {
            failure = TarError(entry: entry, message: "cannot set the file's mode", errorNumber: errno)
        }
        _ = futimens(fd, &times)
        if close(fd) != 0, failure == nil {
            failure = TarError(entry: entry, message: "cannot write file data", errorNumber: errno)
        }
        if let failure { throw failure }
    }

    deinit { close(fd) }
}
