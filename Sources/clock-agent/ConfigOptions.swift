import AgentConfig
import ArgumentParser
import AWSCore

/// The `--config` option every command that reads the configuration shares.
struct ConfigOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The configuration file.", discussion: "Default: $CLOCK_AGENT_CONFIG, else /etc/clock-agent/config.yaml.",
            valueName: "path"))
    var config: String?

    /// The path to read: the option, then `CLOCK_AGENT_CONFIG`, then the default.
    func path(environment: Environment) -> String {
        config ?? environment["CLOCK_AGENT_CONFIG"] ?? Configuration.defaultPath
    }
}
