import CLinux

#if canImport(Glibc)
    import Glibc
#endif

/// Starts an OS thread of its own for blocking work (libcurl's poll loop, journal waits, child reaping), so that
/// blocking never happens on the Swift concurrency cooperative pool.
public enum DedicatedThread {
    private final class Box {
        let name: String?
        let body: () -> Void
        init(name: String?, body: @escaping () -> Void) {
            self.name = name
            self.body = body
        }
    }

    /// Runs `body` on a new detached thread.
    /// - Parameter name: the thread's name as `top -H`, `ps -L` and perf show it (at most 15 bytes are kept); without
    ///   one the thread inherits the name of the thread that started it.
    public static func start(name: String? = nil, _ body: @escaping () -> Void) {
        let box = Unmanaged.passRetained(Box(name: name, body: body)).toOpaque()
        var thread = pthread_t()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        pthread_attr_setstacksize(&attributes, 512 * 1024)
        let result = pthread_create(
            &thread, &attributes,
            { context in
                let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
                if let name = box.name { _ = CLinux_set_thread_name(name) }
                box.body()
                return nil
            }, box)
        pthread_attr_destroy(&attributes)
        precondition(result == 0, "pthread_create failed with \(result)")
    }

    /// Runs blocking work (disk I/O such as hashing, unpacking, fsync) on a new thread of its own and suspends the
    /// calling task until it is done, so the Swift concurrency cooperative pool never blocks on it.
    ///
    /// The work runs to completion even if the calling task is cancelled: it is not interruptible, and its result
    /// (a file written, a tree unpacked) must not be left half-observed. Check cancellation before or after.
    public static func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            start { continuation.resume(returning: Result { () throws(E) -> T in try body() }) }
        }
        return try result.get()
    }
}
