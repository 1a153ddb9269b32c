#if canImport(Glibc)
    import Glibc
#endif

/// Wakes a dedicated thread from other threads: a condition variable with a sticky flag, so a `notify` that
/// comes before the `wait` is not lost.
public final class WakeSignal: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var pending = false

    /// Creates a signal.
    public init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    /// Wakes the waiter (or lets its next `wait` return at once).
    public func notify() {
        pthread_mutex_lock(&mutex)
        pending = true
        pthread_cond_signal(&condition)
        pthread_mutex_unlock(&mutex)
    }

    /// Blocks until notified. Call it from a dedicated thread only, never from the Swift concurrency pool.
    public func wait() {
        pthread_mutex_lock(&mutex)
        while !pending { pthread_cond_wait(&condition, &mutex) }
        pending = false
        pthread_mutex_unlock(&mutex)
    }
}
