import ArgumentParser

#if canImport(Glibc)
    import Glibc
#endif

/// The process entry point: runs the command line on the Swift concurrency pool and parks the main thread.
///
/// An `async` `@main` would end the main thread in `dispatch_main()`, whose `pthread_exit` unwinds the main stack
/// with the unwinder: that reads ≈ 2 MiB of the binary's `.eh_frame` tables into memory once, and they stay resident
/// for the life of the daemon. Nothing in the agent uses the main queue or the main actor, so the main thread only
/// has to stay out of the way. Signals are still received: libdispatch's signal sources (swift-service-lifecycle's
/// `UnixSignalsSequence`) move any signal that reaches a thread with it unblocked on to their own thread.
@main
enum ClockAgentMain {
    static func main() {
        blockSignalsButInterrupts()
        Task.detached {
            await ClockAgent.main()  // exits with the command's status on errors (ArgumentParser's `exit(withError:)`)
            exit(0)
        }
        while true { pause() }
    }

    /// The main thread takes no asynchronous signal but SIGINT and SIGTERM, as libdispatch's threads take none: a
    /// stray SIGHUP or SIGUSR1 is left pending instead of ending the agent with its default action. (With the
    /// dispatch_main entry the main thread was gone; its exit had blocked them all.) SIGINT and SIGTERM stay
    /// deliverable here so that Ctrl-C ends `doctor` and `status`; `run` traps them from its first moment.
    private static func blockSignalsButInterrupts() {
        var mask = sigset_t()
        sigfillset(&mask)
        for deliverable in [SIGINT, SIGTERM, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT] {
            sigdelset(&mask, deliverable)
        }
        pthread_sigmask(SIG_BLOCK, &mask, nil)
    }
}

/// The `clock-agent` command line: `run` for systemd, `doctor`, `status`, `config check` and `version` for people.
struct ClockAgent: AsyncParsableCommand {
    /// The command name, what it is for, where to start when something is wrong, and the subcommands.
    static let configuration = CommandConfiguration(
        commandName: "clock-agent",
        abstract: "Makes an EC2 instance in an Auto Scaling group a trustworthy node of the web clock service.",
        discussion: """
            clock-agent fetches the app from S3, verifies and installs it, supervises it, ships its logs to \
            CloudWatch Logs and reports to the Auto Scaling group through lifecycle hooks. systemd runs \
            `clock-agent run`; the other commands are for the operator.

            Something wrong? Start with `clock-agent doctor` (what is broken and what to do about it), then \
            `clock-agent status` (the running agent's state) and `journalctl -u clock-agent` (its log).

            Configuration: --config PATH, else $CLOCK_AGENT_CONFIG, else /etc/clock-agent/config.yaml; \
            `clock-agent config check` prints it with every default.

            Environment (the AWS conventions): AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and \
            AWS_SESSION_TOKEN (used instead of the instance profile), AWS_ENDPOINT_URL and \
            AWS_ENDPOINT_URL_<S3|CLOUDWATCH_LOGS|AUTO_SCALING|STS>, AWS_EC2_METADATA_SERVICE_ENDPOINT, \
            AWS_EC2_METADATA_DISABLED, AWS_CA_BUNDLE, HTTPS_PROXY and NO_PROXY; CLOCK_AGENT_LOG_LEVEL for `run`.
            """,
        version: BuildInfo.version,
        subcommands: [RunCommand.self, DoctorCommand.self, StatusCommand.self, ConfigCommand.self, VersionCommand.self]
    )
}
