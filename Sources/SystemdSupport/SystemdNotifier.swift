import CSystemd

/// Talks to systemd's service manager through `sd_notify` (https://www.freedesktop.org/software/systemd/man/sd_notify.html).
///
/// Every call is a silent no-op when `NOTIFY_SOCKET` is unset (not running under systemd as `Type=notify`).
public struct SystemdNotifier: Sendable {
    /// Creates a notifier.
    public init() {}

    /// Sends raw `KEY=VALUE` lines; returns false only when a socket exists and sending failed.
    @discardableResult
    public func send(_ state: String) -> Bool {
        sd_notify(0, state) >= 0
    }

    /// `READY=1` plus a status line: the service is up (only sent once the app is healthy).
    public func ready(status: String) { send("READY=1\nSTATUS=\(status)") }

    /// `STATUS=…`: the one-line state `systemctl status` shows.
    public func status(_ text: String) { send("STATUS=\(text)") }

    /// `STOPPING=1` plus a status line: draining has begun.
    public func stopping(status: String) { send("STOPPING=1\nSTATUS=\(status)") }

    /// `WATCHDOG=1`: the loop that does the work is alive.
    public func watchdog() { send("WATCHDOG=1") }

    /// The watchdog interval systemd expects pings within, or nil when `WatchdogSec=` is not set for this process
    /// (`sd_watchdog_enabled`, which checks `WATCHDOG_USEC` and `WATCHDOG_PID`).
    public var watchdogInterval: Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(microseconds))
    }
}
