import AWSCore
import Foundation
import TestSupport

/// A journald of its own for one test (reference/test-environment.md §4): started under `unshare -m` with
/// private bind mounts of a scratch `/run`, `/var/log/journal` and `journald.conf`, so the host's journal is
/// never touched. Stopped by its PID.
///
/// The test process stays outside the namespace: journald's files and sockets are the scratch directory's, so
/// the reader opens `<scratch>/run/log/journal` and entries are sent as native-protocol datagrams to
/// `<scratch>/run/systemd/journal/socket` — the same socket journald listens on as `/run/systemd/journal/socket`.
final class StandaloneJournald: @unchecked Sendable {
    /// Where it all lives.
    let scratch: TemporaryDirectory
    /// journald itself: `unshare` execs `sh`, which execs journald, so this is journald's PID.
    let process: Process
    /// The socket entries are sent from; -1 once closed.
    private var socketFD: Int32

    /// The directory journald writes its files into (`/run/log/journal` inside the namespace).
    var journalDirectory: String { scratch.file("run/log/journal") }
    /// journald's native socket, seen from the host.
    var socketPath: String { scratch.file("run/systemd/journal/socket") }
    /// Archived (rotated) journal files so far.
    var archivedFiles: [String] {
        let machines = (try? FileManager.default.contentsOfDirectory(atPath: journalDirectory)) ?? []
        return machines.flatMap { machine in
            let directory = "\(journalDirectory)/\(machine)"
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            return names.filter { $0.hasPrefix("system@") }.map { "\(directory)/\($0)" }
        }
    }

    /// Starts journald and waits (bounded) until its socket and its runtime journal file exist.
    /// `init` on a thread of its own: journald's start-up wait doesn't hold a thread of the cooperative pool.
    static func start() async throws -> StandaloneJournald {
        try await DedicatedThread.run { () throws(any Error) -> StandaloneJournald in try StandaloneJournald() }
    }

    init() throws {
        scratch = try TemporaryDirectory(prefix: "clock-journald")
        for directory in ["run", "varjournal"] {
            try FileManager.default.createDirectory(atPath: scratch.file(directory), withIntermediateDirectories: true)
        }
        try "[Journal]\nStorage=volatile\nReadKMsg=no\nRateLimitBurst=0\n".write(
            toFile: scratch.file("journald.conf"), atomically: true, encoding: .utf8)
        let script = """
            set -e
            mount --bind "$1/run" /run
            mount --bind "$1/varjournal" /var/log/journal
            mount --bind "$1/journald.conf" /etc/systemd/journald.conf
            exec /lib/systemd/systemd-journald
            """
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        process.arguments = ["-m", "--propagation", "private", "/bin/sh", "-c", script, "sh", scratch.path]
        _ = FileManager.default.createFile(atPath: scratch.file("journald.log"), contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.file("journald.log")))
        process.standardOutput = log
        process.standardError = log
        try process.run()

        socketFD = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        let deadline = Date().addingTimeInterval(10)
        var ready = false
        while !ready, process.isRunning, Date() < deadline {
            ready =
                FileManager.default.fileExists(atPath: scratch.file("run/systemd/journal/socket"))
                && FileManager.default.enumerator(atPath: scratch.file("run/log/journal"))?.contains {
                    ($0 as? String)?.hasSuffix("system.journal") == true
                } == true
            if !ready { usleep(5_000) }
        }
        guard ready, socketFD >= 0 else {
            stop()
            let log = (try? String(contentsOfFile: scratch.file("journald.log"), encoding: .utf8)) ?? ""
            throw Command.Failure(description: "standalone journald did not come up: \(log)")
        }
    }

    deinit { stop() }

    /// Stops journald by its PID: SIGTERM, then SIGKILL after five seconds (its mount namespace goes with it), and
    /// closes the socket. Safe to call more than once.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning, Date() < deadline { usleep(10_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        if socketFD >= 0 {
            close(socketFD)
            socketFD = -1
        }
    }

    /// Sends one entry over journald's native protocol (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/): `NAME=value`
    /// lines, or for values with a newline `NAME`, newline, 64-bit little-endian length, bytes, newline.
    func send(_ fields: [(String, String)]) throws {
        var datagram: [UInt8] = []
        for (name, value) in fields {
            datagram.append(contentsOf: name.utf8)
            if value.utf8.contains(UInt8(ascii: "\n")) {
                datagram.append(UInt8(ascii: "\n"))
                withUnsafeBytes(of: UInt64(value.utf8.count).littleEndian) { datagram.append(contentsOf: $0) }
            } else {
                datagram.append(UInt8(ascii: "="))
            }
            datagram.append(contentsOf: value.utf8)
            datagram.append(UInt8(ascii: "\n"))
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw Command.Failure(description: "socket path too long: \(socketPath)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(socketFD, datagram, datagram.count, 0, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard sent == datagram.count else {
            throw Command.Failure(description: "sendto \(socketPath): \(String(cString: strerror(errno)))")
        }
    }

    /// Rotates the journal files as `journalctl --rotate` does (SIGUSR2 to journald), and waits (bounded) for
    /// journald's acknowledgement, the `rotated` stamp file it writes afterwards.
    func rotate() throws {
        try signalAndWait(SIGUSR2, stamp: "rotated")
    }

    /// Makes sure everything sent so far is in the files, as `journalctl --sync` does (SIGRTMIN+1, then the
    /// `synced` stamp file).
    func sync() throws {
        try signalAndWait(__libc_current_sigrtmin() + 1, stamp: "synced")
    }

    private func signalAndWait(_ signal: Int32, stamp: String) throws {
        let path = scratch.file("run/systemd/journal/\(stamp)")
        try? FileManager.default.removeItem(atPath: path)
        kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: path) {
            guard Date() < deadline, process.isRunning else {
                throw Command.Failure(description: "journald did not write \(stamp) after signal \(signal)")
            }
            usleep(2_000)
        }
    }
}
