import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Keeps the soft limit on open descriptors ahead of the files being tailed.
///
/// Every tailed file holds a descriptor, and so does every rotated-away file until it has been read to its end and
/// accepted. systemd starts services with a soft limit of 1,024 (`DefaultLimitNOFILE=1024:524288`), which a
/// thousand log files rotating every few seconds exceed; then opens fail with EMFILE, new files are missed until
/// the next rescan and the agent's own sockets can't be created. The hard limit is the administrator's ceiling, so
/// once tracked files would use half of the soft limit, the soft limit is raised to the hard one (capped at 2²⁰,
/// the kernel's usual `fs.nr_open`). A small deployment never changes the limit its app inherits.
/// See getrlimit(2) and systemd.exec(5) `LimitNOFILE=`.
enum DescriptorLimit {
    private struct State {
        var tracked = 0
        var limit: rlimit?
        var raised = false
    }

    private static let state = Mutex(State())

    /// The agent's other descriptors (sockets, checkpoints, inotify, journal, the app's pipes) stay below this.
    static let reserve = 64

    /// A file was opened for tailing: raises the soft limit if tracked files would use half of it.
    static func opened(logger: Logger) {
        let change: (old: rlim_t, new: rlim_t, error: Int32?)? = state.withLock { state in
            state.tracked += 1
            if state.limit == nil {
                var limit = rlimit()
                guard getrlimit(resourceNoFile, &limit) == 0 else { return nil }
                state.limit = limit
            }
            guard var limit = state.limit, !state.raised, limit.rlim_cur < limit.rlim_max,
                rlim_t(state.tracked * 2 + reserve) > limit.rlim_cur
            else { return nil }
            state.raised = true
            let old = limit.rlim_cur
            limit.rlim_cur = min(limit.rlim_max, cap)
            guard setrlimit(resourceNoFile, &limit) == 0 else { return (old, limit.rlim_cur, errno) }
            state.limit = limit
            return (old, limit.rlim_cur, nil)
        }
        guard let change else { return }
        if let error = change.error {
            logger.warning(
                "cannot raise the open-file limit; tailing many files may fail with EMFILE",
                metadata: ["limit.soft": "\(change.old)", "error": "\(String(cString: strerror(error)))"])
        } else {
            logger.info(
                "raised the open-file limit for the files being tailed",
                metadata: ["limit.old": "\(change.old)", "limit.new": "\(change.new)"])
        }
    }

    /// A tracked file was released.
    static func closed() {
        state.withLock { $0.tracked = max(0, $0.tracked - 1) }
    }

    private static let cap: rlim_t = 1 << 20

    private static var resourceNoFile: __rlimit_resource_t { __rlimit_resource_t(RLIMIT_NOFILE.rawValue) }
}
