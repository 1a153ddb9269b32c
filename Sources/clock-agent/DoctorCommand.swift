import AWSCore
import ArgumentParser
import Diagnostics

/// `clock-agent doctor`: every check, each with what to do about it.
struct DoctorCommand: AsyncParsableCommand {
    /// Name, abstract and help text (the check list matches `DoctorReport`'s order).
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check everything the agent needs and say what to fix.",
        discussion: """
            Prints one line per check: its status (ok, warn, fail, or skip when it does not apply here or a check \
            it needs failed), its name and what it found; under each warn and fail a "fix:" line says what to do.

            The checks, in order:
              config       the file is valid, not world-writable; app.user exists
              imds         IMDSv2 token and metadata (a token PUT timing out: hop limit)
              identity     instance id, region, zone, Auto Scaling group, how found
              credentials  source, role, expiry; sts:GetCallerIdentity accepts them
              clock        skew against AWS's Date (warn > 1 min, fail > 5 min)
              s3           the artifact answers HeadObject; its SHA-256 matches
              cloudwatch   the log group exists or can be made; a stream is writable
              autoscaling  in its group, lifecycle state, hooks and their timeouts
              iam          every permission the agent needs, by harmless calls
              app          health URL answers; process, restarts, last exit
              logs         source files readable, backlog, dead letters
              systemd      unit active, Type=notify readiness, watchdog, journald
              disk         free space and inodes in state_dir and install_dir

            Every probe has a short time limit (1 s for instance metadata, 2 s per AWS call), so doctor ends \
            within seconds even when endpoints hang. It changes nothing the agent relies on: it writes one event \
            labelled "clock-agent doctor: write test" to the stream <instance-id>/doctor (creating the log group, \
            as the agent would, when it is missing), and proves the lifecycle permissions with calls that cannot \
            decide a pending lifecycle action. Run it as root: the configuration, state_dir and the status socket \
            are not world-readable.

            Exit status: 0 when no check failed, 1 otherwise.

            --json prints {"checks": [{"name", "status", "detail", "hint"}, ...], "summary": {"ok", "warn", \
            "fail", "skip"}} (hint is "" when there is nothing to do; summary counts the checks per status); \
            fields and checks are added, never renamed.
            """)

    /// `--config`.
    @OptionGroup var options: ConfigOptions

    /// `--json`: the machine-readable form.
    @Flag(help: "Print the checks as JSON.")
    var json = false

    /// Runs every check, prints the report and exits 1 when a check failed.
    func run() async throws {
        ignoreBrokenPipes()
        let environment = Environment.process()
        let context = DoctorContext(
            configPath: options.path(environment: environment), environment: environment,
            transport: CurlTransport(caBundle: environment.caBundle, userAgent: BuildInfo.userAgent))
        let report = await Doctor(context: context).run()
        print(json ? report.json : report.text, terminator: "")
        if report.hasFailures { throw ExitCode(report.exitCode) }
    }
}
