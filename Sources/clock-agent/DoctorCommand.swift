import AWSCore
import ArgumentParser
import Diagnostics

/// `clock-agent doctor`.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check everything the agent needs and say what to fix.",
        discussion: """
            Checks, in order: config (valid, not world-writable, app.user exists), imds (reachable, IMDSv2 token, \
            hop-limit symptom), identity (instance, region, AZ, Auto Scaling group and how it was found), \
            credentials (source, expiry, sts:GetCallerIdentity), clock (skew against AWS's Date header), s3 \
            (artifact reachable, checksum matches the pin), cloudwatch (group, a writable stream: one labelled test \
            event in <instance-id>/doctor), autoscaling (instance state, hooks and their timeouts), iam (every \
            permission the agent needs, proven by its own harmless calls), app (health URL, process, restarts), logs \
            (sources match readable files, backlog, dead letters), systemd (unit active, Type=notify, watchdog, \
            journald), disk (space and inodes in state_dir and install_dir).
            Each check prints ok, warn, fail or skip (does not apply here, or a check it needs failed), one line of \
            detail and, for warn and fail, what to do. Every probe has a short time limit, so doctor finishes within \
            seconds even when endpoints hang. Exit status: 0 when no check failed, 1 otherwise.
            --json prints {"checks": [{"name", "status", "detail", "hint"}], "summary": {"ok", "warn", "fail", \
            "skip"}}: a stable format (fields and checks are added, never renamed).
            """)

    @OptionGroup var options: ConfigOptions

    @Flag(help: "Print the checks as JSON.")
    var json = false

    func run() async throws {
        let environment = Environment.process()
        let context = DoctorContext(
            configPath: options.path(environment: environment), environment: environment,
            transport: CurlTransport(caBundle: environment.caBundle, userAgent: BuildInfo.userAgent))
        let report = await Doctor(context: context).run()
        print(json ? report.json : report.text, terminator: "")
        if report.hasFailures { throw ExitCode(report.exitCode) }
    }
}
