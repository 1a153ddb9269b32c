import AWSCore
import CSystemd
import Synchronization

/// Talks to systemd's service manager through `sd_notify` (https://www.freedesktop.org/software/systemd/man/sd_notify.html).
///
/// Sending can block (the notify socket's queue is full while systemd is busy), so messages are handed to a
/// thread of its own and never sent from the caller's thread — in particular never from the Swift concurrency
/// pool, where a stuck send would stall the agent, its drain included. Pending messages are coalesced: a newer
/// `STATUS=` replaces an unsent one, `READY=1`, `STOPPING=1` and `WATCHDOG=1` are each sent once. Every call is
/// a no-op when `NOTIFY_SOCKET` is unset (not running under systemd as `Type=notify`).
public final class SystemdNotifier: Sendable {
    private struct Pending {
        var ready = false
        var stopping = false
        var watchdog = false
        var status: String?
        var raw: [String] = []
        var isEmpty: Bool { !ready && !stopping && !watchdog && status == nil && raw.isEmpty }
    }

    private let pending = Mutex(Pending())
    private let signal = WakeSignal()
    private let enabled: Bool

    /// Creates a notifier; its sending thread starts only under systemd.
    public init(environment: Environment = .process()) {
        enabled = environment["NOTIFY_SOCKET"] != nil
        if enabled { DedicatedThread.start(name: "sd-notify") { [self] in run() } }
    }

    /// Queues raw `KEY=VALUE` lines.
    public func send(_ state: String) {
        enqueue { $0.raw.append(state) }
    }

    /// `READY=1` plus a status line: the service is up (only sent once the app is healthy).
    public func ready(status: String) {
        enqueue {
            $0.ready = true
            $0.status = status
        }
    }

    /// `STATUS=…`: the one-line state `systemctl status` shows.
    public func status(_ text: String) { enqueue { $0.status = text } }

    /// `STOPPING=1` plus a status line: draining has begun.
    public func stopping(status: String) {
        enqueue {
            $0.stopping = true
            $0.status = status
        }
    }

    /// `WATCHDOG=1`: the loop that does the work is alive.
    public func watchdog() { enqueue { $0.watchdog = true } }

    /// The watchdog interval systemd expects pings within, or nil when `WatchdogSec=` is not set for this process
    /// (`sd_watchdog_enabled`, which checks `WATCHDOG_USEC` and `WATCHDOG_PID`).
    public var watchdogInterval: Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(microseconds))
    }

    private func enqueue(_ change: (inout Pending) -> Void) {
        guard enabled else { return }
        pending.withLock { change(&$0) }
        signal.notify()
    }

    private func run() {
        while true {
            signal.wait()
            let message: Pending = pending.withLock { state in
                let taken = state
                state = Pending()
                return taken
            }
            guard !message.isEmpty else { continue }
            var lines = message.raw
            if message.ready { lines.append("READY=1") }
            if message.stopping { lines.append("STOPPING=1") }
            if message.watchdog { lines.append("WATCHDOG=1") }
            if let status = message.status { lines.append("STATUS=\(status)") }
            _ = sd_notify(0, lines.joined(separator: "\n"))
        }
    }
}
