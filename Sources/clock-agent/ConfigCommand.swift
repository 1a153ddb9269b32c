import AWSCore
import AgentConfig
import ArgumentParser

/// `clock-agent config …`.
struct ConfigCommand: ParsableCommand {
    /// Name, abstract and the subcommands.
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Work with the configuration file.", subcommands: [Check.self])

    /// `clock-agent config check`.
    struct Check: ParsableCommand {
        /// Name, abstract and help text.
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Parse and validate the configuration and print it with every default filled in.",
            discussion: """
                Reads the file as `run` would: every key is checked (an unknown key is an error, with a \
                suggestion when it looks like a typo), durations and names are validated, and the effective \
                configuration is printed as YAML. It contacts nothing; `clock-agent doctor` checks the rest.

                Exit status: 0 when the configuration is valid; 1 when it is not, with a message on stderr that \
                names the key path, e.g. "app.health.intervl: unknown key".
                """)

        /// `--config`.
        @OptionGroup var options: ConfigOptions

        /// Validates and prints the effective configuration, or the error naming the key.
        func run() throws {
            let path = options.path(environment: .process())
            do {
                let configuration = try Configuration.load(path: path)
                print("# \(path): valid")
                print(configuration.yaml, terminator: "")
            } catch let error as ConfigurationError {
                printError("invalid configuration: \(error)")
                throw ExitCode(1)
            }
        }
    }
}
