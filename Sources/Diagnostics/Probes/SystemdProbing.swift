import Supervisor

#if canImport(Glibc)
    import Glibc
#endif

/// What the systemd check asks the system. `LiveSystemd` asks the real one; tests substitute answers.
public protocol SystemdProbing: Sendable {
    /// Whether the system was booted with systemd (`/run/systemd/system` exists, as `sd_booted(3)` checks).
    var isBooted: Bool { get }
    /// Whether journald's socket (`/run/systemd/journal/socket`) exists.
    var journalSocketExists: Bool { get }
    /// `systemctl show -p <properties> <unit>` as name → value, or a one-line error.
    func show(
        unit: String, properties: [String], timeoutSeconds: Int
    ) async -> Result<
        [String: String], SystemdProbeError
    >
}

/// Why `systemctl` gave no answer.
public struct SystemdProbeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What happened, on one line.
    public var message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// The real system: file checks and `systemctl` run without a shell, bounded in time.
public struct LiveSystemd: SystemdProbing {
    /// Creates the probe.
    public init() {}

    public var isBooted: Bool { Self.isDirectory("/run/systemd/system") }

    public var journalSocketExists: Bool { access("/run/systemd/journal/socket", F_OK) == 0 }

    public func show(
        unit: String, properties: [String], timeoutSeconds: Int
    ) async -> Result<
        [String: String], SystemdProbeError
    > {
        let arguments = ["systemctl", "show", "--no-pager", "-p", properties.joined(separator: ","), unit]
        let outcome = await BoundedCommand.run(arguments, timeoutSeconds: timeoutSeconds)
        switch outcome {
        case .failure(let error):
            return .failure(SystemdProbeError(error.message))
        case .success(let (status, output)):
            guard status.isSuccess else {
                let text = output.trimmingASCIIWhitespace()
                return .failure(
                    SystemdProbeError("systemctl show \(unit): \(status)\(text.isEmpty ? "" : ": \(text)")"))
            }
            return .success(Self.parse(output))
        }
    }

    /// `Name=value` lines into a dictionary.
    static func parse(_ output: String) -> [String: String] {
        var values: [String: String] = [:]
        for line in output.split(whereSeparator: { $0 == "\n" }) {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return values
    }

    /// Whether the path is a directory.
    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }
}

/// Runs a program without a shell, capturing stdout and stderr together, killed after a time limit.
enum BoundedCommand {
    /// The exit status and output, or why the program couldn't run or didn't finish in time.
    static func run(_ arguments: [String], timeoutSeconds: Int) async -> Result<(ExitStatus, String), SystemdProbeError>
    {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            return .failure(SystemdProbeError("cannot create a pipe: \(String(cString: strerror(errno)))"))
        }
        // pipe2(O_CLOEXEC) isn't visible from Swift's Glibc module; the short window before this doesn't matter
        // for the doctor, which starts no other processes concurrently.
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let child: ChildProcess
        do {
            child = try ChildProcess(
                .init(
                    arguments: arguments,
                    environment: [
                        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C",
                        "SYSTEMD_COLORS": "0",
                    ],
                    standardOutput: fds[1], standardError: fds[1]))
        } catch {
            close(fds[0])
            close(fds[1])
            return .failure(SystemdProbeError("\(error)"))
        }
        close(fds[1])
        defer { close(fds[0]) }
        guard let status = await child.waitForExit(timeout: .seconds(timeoutSeconds)) else {
            child.signalGroup(SIGKILL)
            _ = await child.waitForExit()
            return .failure(
                SystemdProbeError("\(arguments.joined(separator: " ")) did not finish within \(timeoutSeconds) s"))
        }
        // The child has ended, so the pipe holds all it wrote (small outputs only: a full pipe would have blocked it).
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if count <= 0 { break }
            output.append(contentsOf: buffer[0..<count])
        }
        return .success((status, String(decoding: output, as: UTF8.self)))
    }
}
