import ArgumentParser

/// The `clock-agent` command line.
@main
struct ClockAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clock-agent",
        abstract: "Makes an EC2 instance in an Auto Scaling group a trustworthy node of the web clock service.",
        discussion: """
            clock-agent fetches the app from S3, verifies and installs it, supervises it, ships its logs to \
            CloudWatch Logs and reports health to the Auto Scaling group through lifecycle hooks.

            Configuration: --config PATH, else $CLOCK_AGENT_CONFIG, else /etc/clock-agent/config.yaml.
            AWS settings follow the AWS conventions: AWS_REGION, AWS_ENDPOINT_URL[_<SERVICE>], \
            AWS_EC2_METADATA_SERVICE_ENDPOINT, AWS_CA_BUNDLE, HTTPS_PROXY/NO_PROXY.
            """,
        version: BuildInfo.version,
        subcommands: [RunCommand.self, DoctorCommand.self, StatusCommand.self, ConfigCommand.self, VersionCommand.self]
    )
}
