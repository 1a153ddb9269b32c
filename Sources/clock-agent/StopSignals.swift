import AWSCore
import ServiceLifecycle
import Synchronization
import UnixSignals

/// SIGTERM and SIGINT from the first moment of `run`: before the services exist (the agent may still be waiting
/// for instance metadata at boot) a signal ends the start-up; once they run, it starts their graceful shutdown —
/// the drain. Without this, a signal in the window before the service group installs its own handlers would kill
/// the agent with the default action.
final class StopSignals: Sendable {
    private struct State {
        var requested: String?
        var group: ServiceGroup?
    }

    private let signals: UnixSignalsSequence
    private let state = Mutex(State())
    private let received = OneShotEvent()

    /// Traps SIGTERM and SIGINT (their default action, ending the process, no longer applies).
    init() async {
        signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
    }

    /// The signal that asked the agent to stop, if one did.
    var requested: String? { state.withLock { $0.requested } }

    /// Receives the signals until the calling task is cancelled.
    func run() async {
        for await signal in signals {
            let group = state.withLock { state -> ServiceGroup? in
                if state.requested == nil { state.requested = "\(signal)" }
                return state.group
            }
            received.fire()
            await group?.triggerGracefulShutdown()
        }
    }

    /// Returns once a signal asked the agent to stop (at once if one did already), or when the task is cancelled.
    func wait() async { await received.wait() }

    /// Hands later signals to `group`; a signal that came already shuts it down gracefully as soon as it runs.
    func attach(_ group: ServiceGroup) async {
        let already = state.withLock { state -> Bool in
            state.group = group
            return state.requested != nil
        }
        if already { await group.triggerGracefulShutdown() }
    }
}
