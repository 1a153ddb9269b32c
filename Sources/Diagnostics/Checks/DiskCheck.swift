import AgentConfig

#if canImport(Glibc)
    import Glibc
#endif

/// `disk`: free space and inodes where the agent writes (`state_dir`, `install_dir`): below 10 % or 1 GiB free,
/// or 10 % of inodes, is a warning; below 100 MiB or 1 % of inodes a failure.
struct DiskCheck {
    /// The check's name in the report.
    static let name = "disk"
    /// Less free space than this is a warning.
    static let warnBytes: UInt64 = 1 << 30
    /// Less free space than this is a failure.
    static let failBytes: UInt64 = 100 << 20
    /// Less than this share of space or inodes free is a warning.
    static let warnShare = 0.10
    /// Less than this share of inodes free is a failure.
    static let failInodeShare = 0.01

    /// The validated configuration.
    let configuration: Configuration
    /// `statvfs` of a path (simulated in tests).
    let stats: @Sendable (String) -> FileSystemStats?

    /// Runs the check.
    func run() -> CheckResult {
        var findings = Findings(name: Self.name)
        var seen: [UInt64: String] = [:]
        for (key, path) in [
            ("state_dir", configuration.stateDirectory), ("install_dir", configuration.app.installDirectory),
        ] {
            let existing = Self.existingAncestor(path)
            guard let info = stats(existing) else {
                findings.add(
                    .warn, "\(key) \(path): cannot read file-system statistics of \(existing)",
                    hint: "check that \(existing) exists")
                continue
            }
            if info.fileSystemID != 0, let other = seen[info.fileSystemID] {
                findings.ok("\(key) \(path): same file system as \(other)")
                continue
            }
            seen[info.fileSystemID] = key
            judge(key: key, path: path, info, &findings)
        }
        return findings.result
    }

    private func judge(key: String, path: String, _ info: FileSystemStats, _ findings: inout Findings) {
        let freeShare = info.totalBytes == 0 ? 1 : Double(info.availableBytes) / Double(info.totalBytes)
        var text = "\(key) \(path): \(Format.bytes(info.availableBytes)) free (\(Format.percent(freeShare)))"
        var inodeShare: Double?
        if info.totalInodes > 0 {
            let share = Double(info.availableInodes) / Double(info.totalInodes)
            inodeShare = share
            text += ", \(Format.percent(share)) of inodes free"
        }
        let hint =
            "free space on the file system of \(path): remove old releases in \(configuration.app.installDirectory)/releases, rotate or delete logs, or grow the volume"
        if info.availableBytes < Self.failBytes || (inodeShare.map { $0 < Self.failInodeShare } ?? false) {
            findings.add(.fail, text, hint: hint)
        } else if info.availableBytes < Self.warnBytes || freeShare < Self.warnShare
            || (inodeShare.map { $0 < Self.warnShare } ?? false)
        {
            findings.add(.warn, text, hint: hint)
        } else {
            findings.ok(text)
        }
    }

    /// The path itself if it exists, else its nearest existing parent (before the agent first ran).
    static func existingAncestor(_ path: String) -> String {
        var current = path
        while !current.isEmpty, current != "/" {
            if access(current, F_OK) == 0 { return current }
            guard let slash = current.lastIndex(of: "/") else { return "." }
            current = slash == current.startIndex ? "/" : String(current[..<slash])
        }
        return "/"
    }
}
