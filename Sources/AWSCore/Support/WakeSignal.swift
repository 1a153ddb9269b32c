#if canImport(Glibc)
    import Glibc
#endif

/// Wakes a dedicated thread from other threads: a condition variable with a sticky flag, so a `notify` that
/// comes before the `wait` is not lost.
///
/// The pthread objects live in memory this class allocates itself: their address must never change, which Swift
/// does not promise for a stored property passed with `&`.
public final class WakeSignal: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    /// Guarded by `mutex`.
    private var pending = false

    /// Creates a signal.
    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Wakes the waiter (or lets its next `wait` return at once).
    public func notify() {
        pthread_mutex_lock(mutex)
        pending = true
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Blocks until notified. Call it from a dedicated thread only, never from the Swift concurrency pool.
    public func wait() {
        pthread_mutex_lock(mutex)
        while !pending { pthread_cond_wait(condition, mutex) }
        pending = false
        pthread_mutex_unlock(mutex)
    }
}
