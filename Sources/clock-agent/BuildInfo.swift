import CBuildInfo

/// What the binary is: version, commit, build date, toolchain.
enum BuildInfo {
    /// The release version.
    static let version = "0.1.0"
    /// The git commit of the source.
    static var commit: String { String(cString: clock_agent_git_commit()) }
    /// When it was built.
    static var buildDate: String { String(cString: clock_agent_build_date()) }

    /// `clock-agent/0.1.0`, the HTTP User-Agent.
    static var userAgent: String { "clock-agent/\(version)" }
}
