import ArgumentParser

/// `clock-agent version`.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version", abstract: "Print the version, git commit and build date.")

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
