/// Where the agent is in the life of the instance.
public enum AgentPhase: String, Sendable, Equatable {
    case starting
    case fetching
    case verifying
    case installing
    case preparing
    case startingApp = "starting app"
    case warm = "warm pool"
    case healthy
    case unhealthy
    case restartingApp = "restarting app"
    case launchFailed = "launch failed"
    case draining
    case stopped
}
