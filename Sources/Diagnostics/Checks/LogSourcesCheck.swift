import AgentConfig
import AgentStatus
import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#endif

/// `logs`: every `file` source's path or glob matches something readable, the backlog per source, and dead
/// letters (events CloudWatch refused) in `state_dir/dead-letter/` — from the running agent when there is one,
/// else from the checkpoints on disk.
struct LogSourcesCheck {
    /// The check's name in the report.
    static let name = "logs"
    /// More unshipped data than this is a warning: shipping is behind.
    static let backlogWarning: UInt64 = 100 << 20

    /// The validated configuration.
    let configuration: Configuration

    /// Judges the sources, with what the running agent reports when it runs.
    func run(agent: AgentLookup) -> CheckResult {
        var findings = Findings(name: Self.name)
        let report = agent.report
        var parts: [String] = []
        for (index, source) in configuration.logs.sources.enumerated() {
            let live = report?.logs.first { $0.name == source.name }
            var text = source.name
            var files: [String] = []
            switch source.kind {
            case .app:
                files = [configuration.stateDirectory + "/app/output.log"].filter { access($0, F_OK) == 0 }
                text += " (app output)"
            case .file(let pattern, _):
                files = Self.matches(pattern)
                if files.isEmpty {
                    findings.add(
                        .warn, "\(source.name): nothing matches \(pattern) yet",
                        hint: "fine if the app hasn't written it yet; otherwise fix logs.sources[\(index)].path")
                }
                for file in files {
                    guard let problem = Self.readProblem(file) else { continue }
                    findings.add(
                        .fail, "\(source.name): cannot read \(file): \(problem)",
                        hint: "make \(file) a readable regular file (the agent reads it as root)")
                }
                text += " (\(pattern): \(files.count) file\(files.count == 1 ? "" : "s"))"
            case .journal(let units):
                text += " (journal: \(units.joined(separator: ", ")))"
            }
            if let live {
                text += ", backlog \(Format.bytes(UInt64(max(0, live.backlogBytes))))"
                if UInt64(max(0, live.backlogBytes)) > Self.backlogWarning {
                    findings.add(
                        .warn, "\(source.name): \(Format.bytes(UInt64(live.backlogBytes))) not shipped yet",
                        hint: "shipping is behind: see `clock-agent status` for the source's last error")
                }
                if let error = live.lastError {
                    if Self.isRecoveredMissingResource(error) {
                        text += ", created its missing log group or stream on the way"
                    } else {
                        findings.add(
                            .warn, "\(source.name): last error: \(error)",
                            hint: "see `clock-agent status` and journalctl -u clock-agent")
                    }
                }
                if live.lostBytes > 0 {
                    findings.add(
                        .warn,
                        "\(source.name): \(Format.bytes(UInt64(live.lostBytes))) lost (files removed before they were shipped)",
                        hint: "rotate less aggressively (keep rotated files until shipped)")
                }
            } else if !files.isEmpty {
                let backlog = Self.backlog(
                    files: files, checkpoint: configuration.stateDirectory + "/checkpoints/\(source.name).json")
                text += ", backlog \(Format.bytes(backlog)) (from checkpoints)"
            }
            parts.append(text)
        }
        switch agent {
        case .running: break
        case .notRunning: parts.append("agent not running: backlog from checkpoints on disk")
        case .failed(let why): parts.append("agent status unavailable (\(why)): backlog from checkpoints on disk")
        }
        findings.ok(parts.joined(separator: "; "))
        let deadLetters = Self.deadLetters(configuration.stateDirectory + "/dead-letter")
        if deadLetters.total > 0 {
            let list = deadLetters.perFile.map { "\($0.name) \($0.count)" }.joined(separator: ", ")
            findings.add(
                .warn,
                "\(deadLetters.total) event\(deadLetters.total == 1 ? "" : "s") in \(configuration.stateDirectory)/dead-letter (\(list))",
                hint:
                    "CloudWatch refused them (too old, too new or expired, reason in each line); they are not retried: inspect, then remove the files"
            )
        }
        return findings.result
    }

    /// Whether a source's last error is the `ResourceNotFoundException` that makes the agent create the log group
    /// or stream: by design the agent creates them only when CloudWatch says they are missing, so a fresh group
    /// starts with this answer. When creating them fails, the source's last error is that failure instead, and a
    /// later failure replaces it too — so this one, as the last error, means the batch went through.
    static func isRecoveredMissingResource(_ error: String) -> Bool {
        error.contains("ResourceNotFoundException")
    }

    /// The files a path or glob matches now.
    static func matches(_ pattern: String) -> [String] {
        guard pattern.contains(where: { $0 == "*" || $0 == "?" || $0 == "[" }) else {
            return access(pattern, F_OK) == 0 ? [pattern] : []
        }
        var result = glob_t()
        defer { globfree(&result) }
        guard glob(pattern, 0, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { result.gl_pathv[$0].map { String(cString: $0) } }
    }

    /// Why the path is not a regular file that opens for reading; nil when it is.
    static func readProblem(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return String(cString: strerror(errno)) }
        return info.st_mode & S_IFMT == S_IFREG ? nil : "not a regular file"
    }

    /// The part of the `checkpoints/<source>.json` of the agent that the doctor reads.
    private struct Checkpoint: Decodable {
        struct File: Decodable {
            var path: String
            var inode: UInt64
            var offset: Int64
        }
        var files: [File]
    }

    /// Bytes not yet acknowledged: each file's size minus its checkpointed offset (the whole file when the
    /// checkpoint doesn't know it, or knows another inode at that path).
    static func backlog(files: [String], checkpoint path: String) -> UInt64 {
        var known: [String: Checkpoint.File] = [:]
        if let bytes = readSmallFile(path), let decoded = try? JSONDecoder().decode(Checkpoint.self, from: Data(bytes))
        {
            for file in decoded.files { known[file.path] = file }
        }
        var total: UInt64 = 0
        for file in files {
            var info = stat()
            guard stat(file, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            let size = Int64(info.st_size)
            if let entry = known[file], entry.inode == UInt64(info.st_ino) {
                total += UInt64(max(0, size - entry.offset))
            } else {
                total += UInt64(max(0, size))
            }
        }
        return total
    }

    /// Lines in each `*.jsonl` of the dead-letter folder (one refused event per line).
    static func deadLetters(_ directory: String) -> (total: Int, perFile: [(name: String, count: Int)]) {
        guard let handle = opendir(directory) else { return (0, []) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasSuffix(".jsonl") { names.append(name) }
        }
        closedir(handle)
        var perFile: [(name: String, count: Int)] = []
        for name in names.sorted() {
            let count = countLines(directory + "/" + name)
            if count > 0 { perFile.append((name, count)) }
        }
        return (perFile.reduce(0) { $0 + $1.count }, perFile)
    }

    private static func countLines(_ path: String) -> Int {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var lines = 0
        var last: UInt8 = 0x0A
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            for byte in buffer[0..<count] where byte == 0x0A { lines += 1 }
            last = buffer[count - 1]
        }
        return last == 0x0A ? lines : lines + 1
    }

    private static func readSmallFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while bytes.count < 16 << 20 {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
        }
        return bytes
    }
}
