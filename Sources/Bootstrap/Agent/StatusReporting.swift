/// Where the agent announces its phase: systemd (`sd_notify`) in production, a recorder in tests.
public protocol StatusReporting: Sendable {
    /// `STATUS=…`.
    func status(_ text: String)
    /// `READY=1` with a status: the app is healthy.
    func ready(_ text: String)
    /// `STOPPING=1` with a status: draining.
    func stopping(_ text: String)
    /// `WATCHDOG=1`: the loop doing the work is alive.
    func watchdog()
}
