import AgentConfig
import ArgumentParser
import AWSCore

/// `clock-agent config …`.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Work with the configuration file.", subcommands: [Check.self])

    /// `clock-agent config check`.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Parse and validate the configuration and print it with every default filled in.",
            discussion: "Exits 0 when the configuration is valid and 1 when it is not; the message names the key.")

        @OptionGroup var options: ConfigOptions

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
