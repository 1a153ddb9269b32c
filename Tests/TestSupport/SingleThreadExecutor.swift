import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A task executor with one thread of its own, so a test can measure the CPU time that tasks preferring it use
/// (blocking work done inline, or a busy-spinning wait, shows up as CPU time on this thread; work handed to a
/// dedicated thread does not).
public final class SingleThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let jobs = Mutex<(queue: [UnownedJob], stopped: Bool)>(([], false))
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var thread = pthread_t()

    /// Starts the thread.
    public init() {
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
        let context = Unmanaged.passRetained(self).toOpaque()
        let result = pthread_create(
            &thread, nil,
            { context in
                let executor = Unmanaged<SingleThreadExecutor>.fromOpaque(context!).takeRetainedValue()
                executor.loop()
                return nil
            }, context)
        precondition(result == 0, "pthread_create failed with \(result)")
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Runs `job` on the executor's thread, after the jobs queued before it.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        jobs.withLock { $0.queue.append(job) }
        wake()
    }

    /// CPU time the executor's thread has used so far.
    public var cpuTime: Duration {
        var clock = clockid_t()
        var time = timespec()
        guard pthread_getcpuclockid(thread, &clock) == 0, clock_gettime(clock, &time) == 0 else { return .zero }
        return .seconds(time.tv_sec) + .nanoseconds(time.tv_nsec)
    }

    /// Ends the thread once the jobs queued so far have run, and waits for it.
    public func shutdown() {
        jobs.withLock { $0.stopped = true }
        wake()
        pthread_join(thread, nil)
    }

    private func wake() {
        pthread_mutex_lock(mutex)
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    private func loop() {
        while true {
            let (batch, stopped) = jobs.withLock { state in
                defer { state.queue.removeAll() }
                return (state.queue, state.stopped)
            }
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
            if stopped && batch.isEmpty { return }
            pthread_mutex_lock(mutex)
            let idle = jobs.withLock { $0.queue.isEmpty && !$0.stopped }
            if idle {
                var deadline = timespec()
                clock_gettime(CLOCK_REALTIME, &deadline)
                deadline.tv_nsec += 50_000_000
                if deadline.tv_nsec >= 1_000_000_000 {
                    deadline.tv_sec += 1
                    deadline.tv_nsec -= 1_000_000_000
                }
                pthread_cond_timedwait(condition, mutex, &deadline)
            }
            pthread_mutex_unlock(mutex)
        }
    }
}
