#if canImport(Glibc)
    import Glibc
#endif

/// Resource limits as the agent was started with them, which its children get back.
///
/// The log shipper raises the agent's soft limit on open descriptors when it tails many files; the app (and its
/// prepare steps) should start with the limit the service was given, not the agent's. Read once, on first use:
/// touch `openFiles` at start-up, before anything changes the limit.
public enum InheritedLimits {
    /// The soft `RLIMIT_NOFILE` at first use, or nil if it could not be read.
    public static let openFiles: rlim_t? = {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        return limit.rlim_cur
    }()
}
