import AWSCore
import Foundation

/// A helper server the tests start (a Python script from `Tests/`), stopped by its PID when the test ends.
public final class ServerProcess: @unchecked Sendable {
    /// The process.
    public let process: Process
    /// The first line the server printed after `READY `.
    public let readyLine: String

    /// The repository's `Tests/` folder.
    public static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Starts `python3 <script> <arguments>` and waits (bounded) for a `READY …` line on stdout.
    public init(
        script: String, arguments: [String] = [], environment: [String: String]? = nil, timeout: Double = 30
    ) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.testsDirectory.appendingPathComponent(script).path] + arguments
        if let environment { process.environment = environment }
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        self.process = process
        let handle = output.fileHandleForReading
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = Data()
        var line: String?
        while line == nil {
            guard Date() < deadline, process.isRunning else { break }
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            if let text = String(data: buffer, encoding: .utf8),
                let ready = text.split(separator: "\n").first(where: { $0.hasPrefix("READY ") })
            {
                line = String(ready.dropFirst(6))
            }
        }
        guard let line else {
            process.terminate()
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "\(script) did not become ready"])
        }
        readyLine = line
    }

    /// `init` on a thread of its own: the wait for the ready line doesn't hold a thread of the cooperative pool.
    public static func start(
        script: String, arguments: [String] = [], environment: [String: String]? = nil, timeout: Double = 30
    ) async throws -> ServerProcess {
        try await DedicatedThread.run { () throws(any Error) -> ServerProcess in
            try ServerProcess(script: script, arguments: arguments, environment: environment, timeout: timeout)
        }
    }

    /// The port when the ready line is a port number.
    public var port: Int { Int(readyLine) ?? 0 }

    /// Stops the server by its PID: SIGTERM, then SIGKILL if it is still there after five seconds.
    public func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }
}
