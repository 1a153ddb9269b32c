import ArgumentParser

/// `clock-agent version`.
struct VersionCommand: ParsableCommand {
    /// Name and abstract.
    static let configuration = CommandConfiguration(
        commandName: "version", abstract: "Print the version, git commit, build date and Swift version.")

    /// Prints one `key: value` line each (the first is `clock-agent <version>`).
    func run() {
        print("clock-agent \(BuildInfo.version)")
        print("commit: \(BuildInfo.commit)")
        print("built: \(BuildInfo.buildDate)")
        #if swift(>=6.3)
            print("swift: 6.3 or later")
        #else
            print("swift: 6.2")
        #endif
    }
}
